"""What code watching requests, urllib3 and http.client sees of gfetch: the same as of requests.

Hook points wrapped or swapped (as tracers and recorders do; the real
plugins are in tests/plugins, ``bash scripts/dev plugins``), urllib3's log
records, the class names in error messages, adapters mounted from requests.
Each case compares plain requests with gfetch's transports.
"""

from __future__ import annotations

import functools
import http.client
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
import urllib3.connectionpool

import gfetch
from gfetch.http11.connection import HeadResponse
from gfetch.integration import patched
from gfetch.testing.raw import Peer, RawServer, head, keep_alive

pytestmark = pytest.mark.usefixtures("own_transport")  # gfetch's own pool unless a test says otherwise

TRANSPORTS = ["requests", "auto", "urllib3"]
ROOT = Path(__file__).resolve().parent.parent


def _session(transport: str) -> requests.Session:
    return requests.Session() if transport == "requests" else gfetch.Session(transport=transport)


def _lean(response: requests.Response) -> bool:
    return type(response.raw._original_response) is HeadResponse


def _recording(calls: list[str], name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A tracer's wrapper of ``original``: notes each call, then calls it."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return original(*args, **kwargs)

    return wrapper


HOOK_POINTS = {
    "http.client putrequest (Sentry)": (http.client.HTTPConnection, "putrequest"),
    "http.client getresponse (Sentry)": (http.client.HTTPConnection, "getresponse"),
    "urllib3 urlopen (OpenTelemetry)": (urllib3.connectionpool.HTTPConnectionPool, "urlopen"),
    "urllib3 _make_request (APM agents)": (urllib3.connectionpool.HTTPConnectionPool, "_make_request"),
}


@pytest.mark.parametrize("hook", HOOK_POINTS, ids=str)
def test_a_wrapped_hook_point_sees_gfetchs_requests(
    hook: str, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a tracer wraps what gfetch's own pool skips, requests go where it can see them
    (urllib3's path, cooperatively); once it unwraps, gfetch's pool again."""
    owner, name = HOOK_POINTS[hook]
    calls: list[str] = []
    with gfetch.Session() as session:
        assert _lean(session.get(server.url("/json"), timeout=5))
        monkeypatch.setattr(owner, name, _recording(calls, name, getattr(owner, name)))
        traced = gfetch.map([server.url(f"/json?n={n}") for n in range(3)], session=session)
        assert [r.status_code for r in traced] == [200] * 3 and not any(_lean(r) for r in traced)
        assert calls == [name] * 3
        monkeypatch.undo()
        assert _lean(session.get(server.url("/json"), timeout=5))
    assert calls == [name] * 3


def test_a_recorders_connection_class_is_used_by_gfetchs_pools(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As vcrpy does in a cassette: urllib3's ConnectionCls swapped for a class of its own."""
    made: list[object] = []
    own = urllib3.connectionpool.HTTPConnectionPool.ConnectionCls

    class Recording(own):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "ConnectionCls", Recording)
    with gfetch.Session() as session:
        response = session.get(server.url("/json"), timeout=5)
    assert response.status_code == 200 and not _lean(response)
    assert len(made) == 1 and type(made[0]) is Recording


def test_what_counts_as_the_librarys_own() -> None:
    """From the object itself: a functools.wraps wrapper carries the name, not the globals;
    a proxy that forwards __code__ and __eq__ (as wrapt's does) is no plain function."""
    putrequest = http.client.HTTPConnection.putrequest

    class Proxy:
        def __init__(self, wrapped: Any) -> None:
            self.__wrapped__ = wrapped

        def __getattr__(self, name: str) -> Any:
            return getattr(self.__wrapped__, name)

        def __eq__(self, other: object) -> bool:
            return bool(self.__wrapped__ == other)

        __hash__ = None  # type: ignore[assignment]

    assert patched.is_own(putrequest, http.client, "")
    assert not patched.is_own(_recording([], "x", putrequest), http.client, "")
    assert not patched.is_own(Proxy(putrequest), http.client, "")
    assert patched.is_own(http.client.HTTPConnection, http.client, "HTTPConnection")
    assert not patched.is_own(
        type("HTTPConnection", (http.client.HTTPConnection,), {}), http.client, "HTTPConnection"
    )


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_send_wrapped_before_or_after_import_sees_every_request(when: str, server: Any) -> None:
    """requests.Session.send wrapped (as OpenTelemetry's requests instrumentor assigns it)
    before gfetch is imported, or after: the wrapper sees gfetch.Session's requests and map's."""
    wrap = textwrap.dedent("""
        import functools, requests
        calls = []
        original = requests.Session.send
        @functools.wraps(original)
        def send(self, request, **kwargs):
            calls.append(request.url)
            return original(self, request, **kwargs)
        requests.Session.send = send
    """)
    code = "\n".join(
        [
            wrap if when == "before" else "",
            "import gfetch",
            "from gfetch.integration.session import Session",
            wrap if when == "after" else "",
            f"url = {server.url('/json')!r}",
            "with gfetch.Session() as s: assert s.get(url).status_code == 200",
            "assert [r.status_code for r in gfetch.map([url, url])] == [200, 200]",
            "assert calls == [url] * 3, calls",
        ]
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_gfetch_first_imported_under_a_recorder_derives_from_urllib3s_own_classes() -> None:
    """Imported while urllib3's connection classes are swapped (a cassette entered before
    the first ``import gfetch``), gfetch's classes still derive from urllib3's own."""
    result = _run("""
        import urllib3.connection as connection
        own = connection.HTTPConnection, connection.HTTPSConnection
        class Stub(own[0]): pass
        class StubS(own[1]): pass
        connection.HTTPConnection = connection.VerifiedHTTPSConnection = Stub
        connection.HTTPSConnection = StubS
        from gfetch.integration import urllib3_pools as transport
        connection.HTTPConnection, connection.HTTPSConnection = own
        connection.VerifiedHTTPSConnection = own[1]
        assert Stub not in transport.GreenHTTPConnection.__mro__, transport.GreenHTTPConnection.__mro__
        assert StubS not in transport.GreenHTTPSConnection.__mro__
        assert own[0] in transport.GreenHTTPConnection.__mro__
        assert own[1] in transport.GreenHTTPSConnection.__mro__
    """)
    assert result.returncode == 0, result.stderr


# -- what log watchers and error matchers see ------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_errors_name_urllib3s_classes(transport: str) -> None:
    with _session(transport) as session, pytest.raises(requests.ConnectionError) as caught:
        session.get("http://127.0.0.1:1/", timeout=5)
    message = str(caught.value)
    assert message.startswith("HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded")
    assert "NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=1): Failed to establish" in message


def _records(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_urllib3s_new_connection_records(
    transport: str, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="urllib3"), _session(transport) as session:
        for _ in range(2):
            session.get(server.url("/json"), timeout=5)
    port = server.url("/").split(":")[2].rstrip("/")
    assert _records(caplog, "urllib3.connectionpool", logging.DEBUG)[0] == (
        f"Starting new HTTP connection (1): 127.0.0.1:{port}"
    )
    assert sum("Starting new" in m for m in _records(caplog, "urllib3.connectionpool", logging.DEBUG)) == 1


@pytest.fixture
def broken_header_server() -> Iterator[RawServer]:
    """Answers with a head holding a line that is no header (no name, no colon)."""

    def reply(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        return head(200, "Content-Length: 2", "this line is no header", "X-After: 1") + b"ok", False

    with RawServer(keep_alive(reply), read_head=False) as server:
        yield server


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_urllib3s_warning_for_headers_it_cannot_parse(
    transport: str, broken_header_server: RawServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = broken_header_server.url("/path?q=1")
    with caplog.at_level(logging.WARNING, logger="urllib3"), _session(transport) as session:
        response = session.get(url, timeout=5)
    assert (response.status_code, response.content) == (200, b"ok")
    (warning,) = _records(caplog, "urllib3.connection", logging.WARNING)
    caplog.clear()  # the record's traceback holds urllib3's connection (and its socket) under requests
    assert warning.startswith(f"Failed to parse headers (url={url}): ")
    assert "MissingHeaderBodySeparatorDefect" in warning


# -- adapters mounted from requests ----------------------------------------------------


@pytest.mark.parametrize("transport", ["auto", "urllib3"])
def test_a_mounted_requests_adapter_sends_cooperatively(transport: str, server: Any) -> None:
    """requests' HTTPAdapter with a Retry, mounted as requests' docs show it: 20 requests of
    0.3 s each under map overlap (one at a time would take 6 s)."""
    with gfetch.Session(transport=transport) as session:
        retry = urllib3.util.Retry(total=2, backoff_factor=0.1, status_forcelist=[503])
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
        started = time.monotonic()
        responses = gfetch.map([server.url(f"/delay/0.3?n={n}") for n in range(20)], size=20, session=session)
        elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 20
    assert elapsed < 3.0, f"20 x 0.3 s took {elapsed:.1f} s: the adapter blocked the hub"


class _OddManager(urllib3.PoolManager):
    pass


class _OddAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
        self.poolmanager = _OddManager(num_pools=connections, maxsize=maxsize, block=block, **kwargs)


def test_an_adapter_gfetch_cannot_make_cooperative_is_named_once() -> None:
    with gfetch.Session() as session:
        with pytest.warns(
            RuntimeWarning,
            match=r"_OddAdapter mounted on a gfetch.Session uses a _OddManager.*"
            r"Derive the adapter from gfetch.HTTPAdapter",
        ):
            session.mount("http://", _OddAdapter())
        session.mount("https://", _OddAdapter())  # once per class: no second warning (filterwarnings=error)
