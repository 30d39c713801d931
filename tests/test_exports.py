"""Public names and import hygiene: ``__all__`` is exact, importing changes nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import gfetch


def test_all_matches_public_names() -> None:
    public = {
        name
        for name in dir(gfetch)
        if not name.startswith("_") and not isinstance(getattr(gfetch, name), types.ModuleType)
    }
    exported = set(gfetch.__all__)
    assert len(exported) == len(gfetch.__all__), "duplicate names in gfetch.__all__"
    assert exported - {"__version__"} == public
    for name in gfetch.__all__:
        assert hasattr(gfetch, name), f"gfetch.__all__ names {name!r}, which gfetch lacks"


def test_request_timeouts_are_requests_timeouts() -> None:
    """Both gfetch-made failures are caught by ``except requests.Timeout``."""
    import requests

    for name in ("RequestCancelled", "RequestDeadlineExceeded"):
        assert name in gfetch.__all__
        assert issubclass(getattr(gfetch, name), requests.exceptions.Timeout)


# Runs in a fresh interpreter: record stdlib objects, import all of gfetch,
# report any that changed. Prints "ok" and exits 0 when nothing did.
_IMPORT_CHECK = textwrap.dedent(
    """
    import importlib, pkgutil, queue, select, selectors, socket, ssl, sys, threading, time

    NAMES = [
        (socket, "socket"), (socket, "create_connection"), (socket, "getaddrinfo"),
        (socket, "socketpair"), (ssl, "SSLContext"), (ssl, "SSLSocket"),
        (ssl, "create_default_context"), (time, "sleep"), (select, "select"), (select, "poll"),
        (select, "epoll"), (selectors, "DefaultSelector"), (threading, "Thread"),
        (threading, "Lock"), (threading, "RLock"), (threading, "local"), (queue, "Queue"),
        (queue, "LifoQueue"),
    ]
    before = {(m.__name__, n): getattr(m, n) for m, n in NAMES if hasattr(m, n)}
    assert not {"gevent", "eventlet"} & set(sys.modules), "imported before gfetch?"

    import gfetch

    imported = ["gfetch"]
    for info in pkgutil.walk_packages(gfetch.__path__, "gfetch."):
        if info.name == "gfetch.__main__":
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an optional extra (dask, tqdm) not installed
            if (exc.name or "").split(".")[0] == "gfetch":
                raise
            print(f"skipped {info.name}: {exc.name} not installed")
            continue
        imported.append(info.name)

    problems = [
        f"{mod}.{name} was replaced by {getattr(sys.modules[mod], name, None)!r}"
        for (mod, name), obj in before.items()
        if getattr(sys.modules[mod], name, None) is not obj
    ]
    problems += [f"{peer} was imported" for peer in ("gevent", "eventlet") if peer in sys.modules]
    print("imported", " ".join(imported))
    print("\\n".join(problems) or "ok")
    sys.exit(1 if problems else 0)
    """
)


def test_import_patches_nothing() -> None:
    result = subprocess.run([sys.executable, "-c", _IMPORT_CHECK], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("ok")
    assert "imported gfetch gfetch." in result.stdout  # the walk found submodules


_LAZY_CHECK = textwrap.dedent(
    """
    import sys
    import gfetch
    assert "requests" not in sys.modules, "import gfetch loaded requests"
    gfetch.spawn(lambda: None).join()  # the hub needs no HTTP layer
    assert "requests" not in sys.modules
    import gfetch.fanout.asyncrequest, gfetch.fanout.crawler  # submodules first must not shadow the API
    assert callable(gfetch.request) and gfetch.request.__module__ == "gfetch.fanout.api"
    assert gfetch.crawl.__module__ == "gfetch.fanout.crawler"
    assert gfetch.Session.__module__ == "gfetch.integration.session"
    print("ok")
    """
)


def test_http_layers_load_on_first_use() -> None:
    """``import gfetch`` stays light (no requests) until an HTTP name is used."""
    result = subprocess.run([sys.executable, "-c", _LAZY_CHECK], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        gfetch.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("gfetch.no_such_name did not raise AttributeError")
