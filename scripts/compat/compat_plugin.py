"""pytest plugin for running requests' own test suite (scripts/compat/run), and urllib3's
(scripts/urllib3_compat/run).

Loaded with ``-p compat_plugin``. Always: writes each test's outcome to the
JSON file named by ``--compat-results`` and records every attempt to reach
a non-loopback address (the run is inside a loopback-only network
namespace, so such a test cannot pass there and belongs in deselect.txt).
Leaves out the tests the ``--compat-deselect`` files list.
With ``--gfetch-session``: every ``requests.Session`` is a ``gfetch.Session``.

How the replacement is complete: requests creates sessions in three ways,
all through module attributes looked up at call time or at the test
module's import, which happens after this plugin's ``pytest_configure``:
``requests.Session`` (tests' ``requests.Session()`` and ``from requests
import Session``), ``requests.sessions.Session`` (``requests.request()``
calls ``sessions.Session()``, ``requests.session()`` calls ``Session()``
in that module). Both names are rebound to gfetch.Session. As a check, the
original class refuses to be instantiated as itself during the run, so a
path the rebinding missed fails its test instead of passing unnoticed;
subclasses (gfetch.Session, a test's own subclass of what it sees as
requests.Session) are unaffected.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from collections.abc import Collection
from typing import Any

import pytest

_outcomes: dict[str, str] = {}
_reasons: dict[str, str] = {}
_reached_out: dict[str, list[str]] = {}
_current_test: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gfetch compat")
    group.addoption(
        "--gfetch-session", action="store_true", help="replace requests.Session by gfetch.Session"
    )
    group.addoption(
        "--compat-results", help="write {nodeid: outcome} and non-loopback attempts to this JSON file"
    )
    group.addoption(
        "--compat-deselect",
        action="append",
        default=[],
        help="deselect the tests this file names (and their parametrizations); may be repeated",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--gfetch-session"):
        _replace_session()
    sys.addaudithook(_audit)


def _replace_session() -> None:
    import requests
    import requests.sessions

    import gfetch

    original = requests.sessions.Session
    original_init = original.__init__

    def refuse_plain_session(self: Any, *args: Any, **kwargs: Any) -> None:
        if type(self) is original:
            raise AssertionError(
                "a plain requests.Session was created: the gfetch.Session replacement missed a path"
            )
        original_init(self, *args, **kwargs)

    original.__init__ = refuse_plain_session
    requests.Session = gfetch.Session
    requests.sessions.Session = gfetch.Session


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _current_test:
        return
    if event == "socket.connect":
        sock, address = args
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0]
    elif event == "socket.getaddrinfo":
        host = args[0]
    else:
        return
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is not None and not _is_loopback(host):
        _reached_out.setdefault(_current_test[0], []).append(f"{event[7:]} {host}")


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what the --compat-deselect files name, exactly: pytest's --deselect matches prefixes,
    and would drop test_proxy_error_on_bad_url along with test_proxy_error."""
    paths = config.getoption("--compat-deselect")
    if not paths:
        return
    names = {name for path in paths for name in listed_tests(path)}
    keep, drop = [], []
    for item in items:
        (drop if is_listed(item.nodeid, names) else keep).append(item)
    unknown = names - {item.nodeid for item in drop} - {item.nodeid.split("[")[0] for item in drop}
    if unknown:
        raise pytest.UsageError(f"{' and '.join(paths)} name tests that do not exist: {sorted(unknown)}")
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


def listed_tests(path: str) -> dict[str, str]:
    """{node id: reason} of a list file: one node id a line, then optionally "  # reason";
    lines starting with "#" are comments (a group's heading, say)."""
    tests = {}
    with open(path) as listing:
        for line in listing:
            if line.strip() and not line.startswith("#"):
                nodeid, _, reason = line.partition("  #")
                tests[nodeid.strip()] = reason.strip()
    return tests


def is_listed(nodeid: str, names: Collection[str]) -> bool:
    """Whether ``names`` has the test, or it without its [parameters] (all of them)."""
    return nodeid in names or nodeid.split("[")[0] in names


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Any:
    _current_test[:] = [item.nodeid]
    try:
        return (yield)
    finally:
        _current_test.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    previous = _outcomes.get(report.nodeid)
    if report.failed:
        _outcomes[report.nodeid] = "failed"
        crash = getattr(report.longrepr, "reprcrash", None)
        reason = crash.message.splitlines()[0] if crash else "failed"
        _reasons.setdefault(report.nodeid, f"{report.when}: {reason}")
    elif report.skipped:
        if previous != "failed":
            _outcomes[report.nodeid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    elif report.when == "call" and previous is None:
        _outcomes[report.nodeid] = "passed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--compat-results")
    if path:
        with open(path, "w") as out:
            results = {"outcomes": _outcomes, "reasons": _reasons, "reached_out": _reached_out}
            json.dump(results, out, indent=1, sort_keys=True)
