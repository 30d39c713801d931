"""gfetch's own connection pool (gfetch.http11.pool.LeanPool), through the public API.

Keep-alive reuse and its limits, pool_maxsize and pool_block, stale and
half-read connections, what ends a connection, the documented fallbacks to
urllib3 and TLS trust. Connections are counted on the server side: a
scripted loopback ``RawServer`` (``keep_alive``) that records each request
and each connection. Behaviours every transport must share run on both
(``transport="auto"`` and ``"urllib3"``); which path served a request is read
from ``response.raw._original_response`` and ``response.raw._pool``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import trustme
from _servers import HTTPSServer, ProxyServer
from _ticker import Ticker
from test_faults import BOUND, _wait_for
from urllib3.exceptions import InsecureRequestWarning, ReadTimeoutError
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

import gfetch
from gfetch.http11.connection import HeadResponse
from gfetch.http11.httpparse import FastHTTPResponse
from gfetch.http11.pool import LeanPool
from gfetch.integration.urllib3_pools import GreenHTTPConnectionPool, GreenHTTPSConnectionPool
from gfetch.testing.raw import Peer, RawServer, head, keep_alive, stall

TIMEOUT = 5.0
DELAY = 0.2  # how long /slow holds its reply

TRANSPORTS = ["auto", "urllib3"]


# These tests are about which pool a default Session picks: a GFETCH_TRANSPORT in the
# caller's environment (CI sets one for other modules) must not decide it for them.
pytestmark = pytest.mark.usefixtures("own_transport")


def ok(body: bytes, *lines: str) -> bytes:
    return head(200, *lines, f"Content-Length: {len(body)}") + body


class Origin:
    """A keep-alive RawServer: ``/slow`` answers after DELAY, ``/<text>`` answers ``<text>``.

    ``received[i]`` lists the requests of connection ``i``; ``active`` and
    ``peak`` count requests being answered at once.
    """

    def __init__(self, reply_for: Callable[[Peer, bytes], tuple[bytes, bool]] | None = None) -> None:
        self.received: dict[int, list[bytes]] = {}
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._reply_for = reply_for or self._answer
        self.server = RawServer(keep_alive(self._record), read_head=False)

    def _record(self, peer: Peer, request: bytes) -> tuple[bytes, bool]:
        with self._lock:
            self.received.setdefault(peer.index, []).append(request)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            return self._reply_for(peer, request)
        finally:
            with self._lock:
                self.active -= 1

    @staticmethod
    def _answer(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        target = request.split(b" ", 2)[1]
        if target.startswith(b"/slow"):
            peer.hold(DELAY)
        return ok(target.lstrip(b"/")), False

    @property
    def connections(self) -> int:
        return self.server.connections

    def url(self, path: str = "/") -> str:
        return self.server.url(path)


@pytest.fixture
def origin(no_fd_leak: None) -> Iterator[Origin]:
    origin = Origin()
    with origin.server:
        yield origin


def _concurrently(session: requests.Session, urls: list[str]) -> list[bytes]:
    """GET ``urls`` at once, each in its own greenlet; their bodies in order."""
    glets = [gfetch.spawn(session.get, url, timeout=TIMEOUT) for url in urls]
    return [glet.get(timeout=BOUND).content for glet in glets]


def _session(transport: str) -> requests.Session:
    return requests.Session() if transport == "requests" else gfetch.Session(transport=transport)


def _lean(response: requests.Response) -> bool:
    """Whether gfetch's own pool served ``response`` (else urllib3's did)."""
    original = type(response.raw._original_response)
    assert original in (HeadResponse, FastHTTPResponse), original
    assert isinstance(response.raw._pool, LeanPool) is (original is HeadResponse)
    return original is HeadResponse


# -- keep-alive -----------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sequential_requests_share_one_connection(transport: str, origin: Origin) -> None:
    with gfetch.Session(transport=transport) as session:
        responses = [session.get(origin.url(f"/r{i}"), timeout=TIMEOUT) for i in range(10)]
    assert [r.content for r in responses] == [f"r{i}".encode() for i in range(10)]
    assert _lean(responses[0]) is (transport == "auto")
    assert origin.connections == 1
    assert len(origin.received[0]) == 10


def test_map_reuses_its_connections(origin: Origin) -> None:
    """gfetch.map with size=4: at most 4 connections, all of them reused by the next map."""
    urls = [origin.url(f"/slow{i}") for i in range(12)]
    with gfetch.Session() as session:
        first = gfetch.map(urls, size=4, session=session)
        opened = origin.connections
        second = gfetch.map(urls, size=4, session=session)
    assert [r.content for r in first + second] == [f"slow{i}".encode() for i in range(12)] * 2
    assert all(_lean(r) for r in first)
    assert 1 <= opened <= 4 and origin.peak <= 4
    assert origin.connections == opened


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pool_maxsize_connections_are_kept_idle(transport: str, origin: Origin) -> None:
    """Five at once open five connections and two stay idle: two at once reuse them, three need a new one."""
    with gfetch.Session(pool_maxsize=2, transport=transport) as session:
        _concurrently(session, [origin.url(f"/slow{i}") for i in range(5)])
        assert origin.connections == 5
        _concurrently(session, [origin.url(f"/slow{i}") for i in range(2)])
        assert origin.connections == 5  # both served by the idle ones
        _concurrently(session, [origin.url(f"/slow{i}") for i in range(3)])
        assert origin.connections == 6  # only two were kept


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pool_block_waits_cooperatively_for_a_connection(transport: str, origin: Origin) -> None:
    """pool_block=True: six requests share two connections, in three waves, and the hub keeps running."""
    with gfetch.Session(pool_maxsize=2, pool_block=True, transport=transport) as session:
        ticker = Ticker(count=int(DELAY * 3 / 0.01))
        started = time.monotonic()
        bodies = _concurrently(session, [origin.url(f"/slow{i}") for i in range(6)])
        elapsed = time.monotonic() - started
    assert bodies == [f"slow{i}".encode() for i in range(6)]
    assert origin.connections == 2 and origin.peak == 2
    assert 3 * DELAY * 0.9 < elapsed < 3 * DELAY + BOUND
    assert ticker.largest_gap() < DELAY, "the hub stalled while requests waited for a connection"


# -- connections that must not be reused -----------------------------------------------


def _closing_after_first_reply(closed: threading.Event) -> Callable[[Peer, bytes], tuple[bytes, bool]]:
    """Connection 0 answers once and closes without saying so (an idle timeout); others keep alive."""

    def reply_for(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        if peer.index == 0:
            peer.send(ok(b"first"))
            peer.sock.close()
            closed.set()
            return b"", True  # sending it fails: the behaviour ends
        return ok(b"again"), False

    return reply_for


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connection_closed_by_the_server_while_idle(transport: str, method: str, no_fd_leak: None) -> None:
    """The next request succeeds on a new connection, sent once: the idle connection is
    checked before it is reused (for every method, as urllib3 checks it)."""
    closed = threading.Event()
    origin = Origin(_closing_after_first_reply(closed))
    with origin.server, gfetch.Session(transport=transport) as session:
        assert session.get(origin.url("/"), timeout=TIMEOUT).content == b"first"
        assert _wait_for(closed.is_set)
        response = session.request(
            method, origin.url("/next"), data=b"body" if method == "POST" else None, timeout=TIMEOUT
        )
        assert response.content == b"again"
    assert origin.connections == 2
    assert [len(origin.received[i]) for i in (0, 1)] == [1, 1]
    assert origin.received[1][0].startswith(f"{method} /next ".encode())


def test_a_new_connection_closed_before_replying_fails_the_request(no_fd_leak: None) -> None:
    """The idle connection closed by the server is left for a new one; when that one closes
    without a reply too, the GET fails as requests reports it, sent no more than once."""

    def reply_for(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        if peer.index == 0:
            peer.send(ok(b"first"))
        return b"", True  # every connection closes: index 0 after its reply, the others at once

    origin = Origin(reply_for)
    with origin.server, gfetch.Session() as session:
        assert session.get(origin.url("/"), timeout=TIMEOUT).content == b"first"
        assert _wait_for(lambda: origin.server.peers[0].sock.fileno() == -1)
        with pytest.raises(requests.ConnectionError, match="RemoteDisconnected"):
            session.get(origin.url("/again"), timeout=TIMEOUT)
    assert origin.connections == 2  # the stale one and one new one, no more


def _half_read_origin(verdicts: list[bool]) -> Origin:
    """Connection 0 sends 1,000 bytes of a 100,000-byte body, then notes whether the client
    closed it (True) or sent another request on it (False); later connections answer "whole"."""

    def reply_for(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        if peer.index == 0:
            peer.send(head(200, "Content-Length: 100000") + b"x" * 1000)
            verdicts.append(peer.closed_by_client(BOUND))
            return b"", True
        return ok(b"whole"), False

    return Origin(reply_for)


def _read_part(session: requests.Session, origin: Origin) -> requests.Response:
    partial = session.get(origin.url("/"), stream=True, timeout=TIMEOUT)
    assert partial.raw.read(10) == b"x" * 10
    return partial


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("finish", ["close", "unread"])
def test_partly_read_response_never_returns_its_connection(
    transport: str, finish: str, no_fd_leak: None
) -> None:
    """A body read in part (then closed, or left unread while the next request runs) keeps
    its connection out of the pool; the next request gets a complete response on a new one."""
    verdicts: list[bool] = []
    origin = _half_read_origin(verdicts)
    with origin.server, gfetch.Session(transport=transport) as session:
        partial = _read_part(session, origin)
        if finish == "close":
            partial.close()
            assert _wait_for(lambda: bool(verdicts))
        response = session.get(origin.url("/"), timeout=TIMEOUT)
        assert (response.status_code, response.content) == (200, b"whole")
        partial.close()
        assert _wait_for(lambda: bool(verdicts))
    assert verdicts == [True], "the half-read connection was reused instead of closed"
    assert origin.connections == 2


@pytest.mark.parametrize("transport", [*TRANSPORTS, "requests"])
def test_release_conn_after_a_partial_read(transport: str, no_fd_leak: None) -> None:
    """A documented difference: ``raw.release_conn()`` mid-body puts the connection back into
    urllib3's pool (plain requests' too), and the next request is sent on it and fails;
    the lean pool closes it, and the next request succeeds on a new connection."""
    verdicts: list[bool] = []
    origin = _half_read_origin(verdicts)
    lean = transport == "auto"
    with origin.server, _session(transport) as session:
        _read_part(session, origin).raw.release_conn()
        if lean:
            assert session.get(origin.url("/"), timeout=TIMEOUT).content == b"whole"
        else:
            with pytest.raises(requests.ConnectionError):
                session.get(origin.url("/"), timeout=TIMEOUT)
        assert _wait_for(lambda: bool(verdicts))
    assert verdicts == [lean]
    assert origin.connections == (2 if lean else 1)


ENDINGS = {
    "Connection: close": ok(b"done", "Connection: close"),
    "HTTP/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\ndone",
    "leftover bytes after the body": ok(b"done") + b"EXTRA",
}


@pytest.mark.parametrize("ending", ENDINGS, ids=str)
def test_connection_is_not_reused_after(ending: str, no_fd_leak: None) -> None:
    """The lean pool closes the connection as soon as the response ends (the server kept it
    open), and the next request opens a new one."""
    verdicts: list[bool] = []

    def reply_for(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        if peer.index == 0:
            peer.send(ENDINGS[ending])
            verdicts.append(peer.closed_by_client(BOUND))  # False if a request arrived instead
            return b"", True
        return ok(b"next"), False

    origin = Origin(reply_for)
    with origin.server, gfetch.Session() as session:
        first = session.get(origin.url("/"), timeout=TIMEOUT)
        assert (first.content, _lean(first)) == (b"done", True)
        assert _wait_for(lambda: bool(verdicts))
        assert session.get(origin.url("/"), timeout=TIMEOUT).content == b"next"
    assert verdicts == [True]
    assert origin.connections == 2


def test_http10_keep_alive_is_reused(origin: Origin) -> None:
    """An HTTP/1.0 reply that asks for keep-alive keeps its connection (the control for the above)."""
    origin._reply_for = lambda peer, request: (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\ndone",
        False,
    )
    with gfetch.Session() as session:
        assert [session.get(origin.url("/"), timeout=TIMEOUT).content for _ in range(3)] == [b"done"] * 3
    assert origin.connections == 1


# -- which path: the documented fallbacks to urllib3 -----------------------------------------


def _custom_pool_options(session: gfetch.Session) -> None:
    session.get_adapter("http://").poolmanager.connection_pool_kw["socket_options"] = []


def _mount(**options: Any) -> Callable[[gfetch.Session], None]:
    return lambda session: session.mount("http://", gfetch.HTTPAdapter(**options))


# How a session is set up, and whether gfetch's own pool then serves a plain http request.
PATHS: dict[str, tuple[Callable[[gfetch.Session], Any], bool]] = {
    "default": (lambda session: None, True),
    "max_retries=0": (_mount(max_retries=0), True),
    "max_retries=Retry(0)": (_mount(max_retries=Retry(0)), True),
    "max_retries=Retry(2)": (_mount(max_retries=Retry(2)), False),
    "max_retries=2": (_mount(max_retries=2), False),
    "status_forcelist": (_mount(max_retries=Retry(0, status_forcelist=[503])), False),
    "customised connection_pool_kw": (_custom_pool_options, False),
    "transport=urllib3": (_mount(transport="urllib3"), False),
}


@pytest.mark.parametrize("configure", PATHS, ids=str)
def test_which_path_serves_a_request(configure: str, origin: Origin) -> None:
    setup, lean = PATHS[configure]
    with gfetch.Session() as session:
        setup(session)
        response = session.get(origin.url("/path"), timeout=TIMEOUT)
    assert response.content == b"path"
    assert _lean(response) is lean


@pytest.mark.parametrize(("value", "lean"), [("urllib3", False), ("auto", True)])
def test_gfetch_transport_environment_variable(
    value: str, lean: bool, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GFETCH_TRANSPORT", value)
    with gfetch.Session() as session:
        assert _lean(session.get(origin.url("/"), timeout=TIMEOUT)) is lean
    with gfetch.Session(transport="auto" if not lean else "urllib3") as session:  # the argument wins
        assert _lean(session.get(origin.url("/"), timeout=TIMEOUT)) is not lean


def test_unknown_transport_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="transport must be one of"):
        gfetch.Session(transport="h2")
    monkeypatch.setenv("GFETCH_TRANSPORT", "curl")
    with pytest.raises(ValueError, match="'curl'"):
        gfetch.Session()


def test_http_proxy_goes_through_urllib3(origin: Origin) -> None:
    with ProxyServer() as proxy, gfetch.Session() as session:
        response = session.get(origin.url("/proxied"), proxies={"http": proxy.url}, timeout=TIMEOUT)
        direct = session.get(origin.url("/direct"), timeout=TIMEOUT)
    assert response.content == b"proxied" and [seen[:2] for seen in proxy.seen] == [
        ("GET", origin.url("/proxied"))
    ]
    assert type(response.raw._pool) is GreenHTTPConnectionPool and not _lean(response)
    assert _lean(direct)


def test_client_certificate_goes_through_urllib3(ca: trustme.CA, ca_file: str, tmp_path: Any) -> None:
    cert_file = tmp_path / "client.pem"
    ca.issue_cert("client.example.test", common_name="client").private_key_and_cert_chain_pem.write_to_path(
        str(cert_file)
    )
    with HTTPSServer(ca.issue_cert("127.0.0.1"), client_ca=ca) as server, gfetch.Session() as session:
        response = session.get(server.url("/"), verify=ca_file, cert=str(cert_file), timeout=TIMEOUT)
    assert response.json()["client_cert"]["commonName"] == "client"
    assert type(response.raw._pool) is GreenHTTPSConnectionPool and not _lean(response)


# -- TLS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_verify_false_warns_insecure_request(transport: str, ca: trustme.CA) -> None:
    with HTTPSServer(ca.issue_cert("127.0.0.1")) as server, gfetch.Session(transport=transport) as session:
        with pytest.warns(
            InsecureRequestWarning, match="Unverified HTTPS request is being made to host '127.0.0.1'"
        ):
            response = session.get(server.url("/"), verify=False, timeout=TIMEOUT)
    assert response.json()["path"] == "/"
    assert _lean(response) is (transport == "auto")


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["rewritten", "size-and-mtime-kept"])
@pytest.mark.parametrize("transport", [*TRANSPORTS, "requests"])
def test_ca_bundle_replaced_in_place_takes_effect_for_new_sessions(
    transport: str, keep_mtime: bool, ca: trustme.CA, tmp_path: Any
) -> None:
    """A bundle rewritten at the same path (certificate rotation) is trusted by new sessions'
    connections as requests trusts it: from the CA that signed the server, to another, and back.
    ``keep_mtime``: each rewrite keeps the size and puts the modification time back (``cp -p``,
    ``touch -r``), so only the change time tells the contents apart."""
    other = trustme.CA()
    bundle = tmp_path / "bundle.pem"
    pems = [ca.cert_pem.bytes(), other.cert_pem.bytes()]
    # OpenSSL skips text around the PEM blocks: pad both to one size.
    signer, stranger = (pem.ljust(max(map(len, pems)), b"\n") for pem in pems)

    def fetch() -> Any:
        with _session(transport) as session:
            try:
                return session.get(server.url("/"), verify=str(bundle), timeout=TIMEOUT).status_code
            except requests.exceptions.SSLError as exc:
                assert "CERTIFICATE_VERIFY_FAILED" in str(exc)
                return "SSLError"

    bundle.write_bytes(b"" if not keep_mtime else bytes(len(signer)))
    before = bundle.stat()
    with HTTPSServer(ca.issue_cert("127.0.0.1")) as server:
        outcomes = []
        for source in (signer, stranger, signer):
            with open(bundle, "r+b") as rewritten:  # the same file (inode), new contents
                rewritten.truncate(0)
                rewritten.write(source)
            if keep_mtime:
                os.utime(bundle, ns=(before.st_atime_ns, before.st_mtime_ns))
                after = bundle.stat()
                assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
                    before.st_ino,
                    before.st_size,
                    before.st_mtime_ns,
                )
            outcomes.append(fetch())
    assert outcomes == [200, "SSLError", 200]


class _ScriptedSocket:
    """What Connection.read_head asks of its socket, recorded; replies from a script."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.calls: list[str] = []

    def wait_for_data(self) -> None:
        self.calls.append("wait")

    def recv(self, size: int) -> bytes:
        self.calls.append("recv")
        return self.replies.pop(0)


def test_reading_a_reply_waits_before_its_first_read() -> None:
    """With nothing buffered, the reply to a request just sent is awaited
    first: no read that would fail with EAGAIN; a head that arrives in
    pieces is read on without waiting again (recv waits by itself)."""
    from gfetch.http11.connection import Connection

    conn = Connection("example.test", 80, None)
    conn.sock = _ScriptedSocket([b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n\r\nok"])
    head = conn.read_head("GET")
    assert (head.status, head.length) == (200, 2)
    assert conn.sock.calls == ["wait", "recv", "recv"]
    conn.sock.calls.clear()
    conn._data, conn._pos = b"HTTP/1.1 204 No Content\r\n\r\n", 0  # already buffered: no wait
    assert conn.read_head("GET").status == 204
    assert conn.sock.calls == []


@pytest.mark.parametrize(
    ("timeout", "default"),
    [
        (Timeout(connect=TIMEOUT, read=0.2), None),  # what requests makes
        (Timeout(connect=TIMEOUT), 0.2),  # the socket's default read timeout
        (Timeout(), 0.2),  # the socket's default for both
        (Timeout(total=0.2), None),
        (Timeout(total=TIMEOUT, read=0.2), None),
    ],
    ids=["connect-read", "default-read", "defaults", "total", "total-read"],
)
def test_read_timeouts_are_urllib3s(timeout: Timeout, default: float | None, no_fd_leak: None) -> None:
    """Every shape of urllib3 Timeout times a stalled reply out after the read timeout
    urllib3's pool applies, with its error and message."""
    errors = []
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(default)
    try:
        with RawServer(stall) as server:
            for pool in (
                LeanPool("http", "127.0.0.1", server.port, None, 1, False, "ua"),
                GreenHTTPConnectionPool("127.0.0.1", server.port),
            ):
                started = time.monotonic()
                with pytest.raises(ReadTimeoutError) as caught:
                    pool.urlopen("GET", "/", retries=Retry(0, read=False), timeout=timeout)
                assert time.monotonic() - started < TIMEOUT / 2
                pool.close()
                errors.append(str(caught.value))
    finally:
        socket.setdefaulttimeout(previous)
    # With a total, the read timeout is what is left of it once connected: 0.2 less a moment.
    prefixes, figures = zip(*(error.rsplit("=", 1) for error in errors), strict=True)
    assert prefixes[0] == prefixes[1]
    assert prefixes[0].endswith("Read timed out. (read timeout")
    for figure in figures:
        assert 0.15 < float(figure.rstrip(")")) <= 0.2
