"""Response integrity on a kept-alive connection: never another request's response, never a
request sent again behind the Retry's back, late and odd bytes never read as a reply.

Each case runs on plain requests (the reference), on gfetch's own transport
and on its urllib3 path, against a scripted loopback server that records on
which connection each request arrived. Servers here misbehave on purpose:
they send bytes late, unasked, past the framing, or close after reading.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import trustme
from _servers import server_context
from test_faults import BOUND
from urllib3.util.retry import Retry

import gfetch
from gfetch.http11.connection import MAX_INTERIM_RESPONSES
from gfetch.http11.pool import LeanPool
from gfetch.testing.raw import Peer, RawServer, head, keep_alive

pytestmark = pytest.mark.usefixtures("own_transport")  # gfetch's own pool unless a test says otherwise

TIMEOUT = 5.0
LATE = 0.1  # how long after its reply a misbehaving server sends its late bytes
TRANSPORTS = ["requests", "auto", "urllib3"]


def _session(transport: str) -> requests.Session:
    return requests.Session() if transport == "requests" else gfetch.Session(transport=transport)


def ok(body: bytes, *lines: str) -> bytes:
    return head(200, *lines, f"Content-Length: {len(body)}") + body


def _path(request: bytes) -> str:
    return request.split(b" ", 2)[1].decode()


class Origin:
    """A keep-alive server that answers ``/<name>`` with ``<name>`` and records
    ``(connection index, method, path)`` of every request it reads.

    The first request of connection 0 is answered by ``first(peer, request)``
    instead, which may send late bytes and returns whether to close.
    """

    def __init__(self, first: Callable[[Peer, bytes], bool], tls: trustme.LeafCert | None = None) -> None:
        self.arrivals: list[tuple[int, str, str]] = []
        self.late_sent = threading.Event()
        self._first = first
        self._lock = threading.Lock()
        context = server_context(tls) if tls is not None else None
        self.server = RawServer(keep_alive(self._reply), read_head=False, tls=context)

    def _reply(self, peer: Peer, request: bytes) -> tuple[bytes, bool]:
        with self._lock:
            self.arrivals.append((peer.index, request.split(b" ", 1)[0].decode(), _path(request)))
            first = len(self.arrivals) == 1
        if first:
            return b"", self._first(peer, request)
        return ok(_path(request).lstrip("/").encode()), False

    def url(self, path: str) -> str:
        return self.server.url(path)


def _late(reply: bytes, late: bytes, close: bool = False) -> Callable[[Peer, bytes], bool]:
    """Answer with ``reply``, then send ``late`` LATE seconds later (and close, if asked)."""

    def first(peer: Peer, request: bytes) -> bool:
        peer.send(reply)
        peer.hold(LATE)
        peer.send(late)
        return close

    return first


LATE_BYTES = {
    "an unsolicited second response": ("GET", ok(b"first"), ok(b"SMUGGLED")),
    "the body of a HEAD reply": ("HEAD", ok(b"first"), b"first"),
    "the body of a 204": ("GET", head(204), b"SMUGGLED"),
    "the body of a 304": ("GET", head(304, "Content-Length: 8"), b"SMUGGLED"),
    "a body longer than its Content-Length": ("GET", ok(b"first"), b"-and-more"),
    "data after a 101 without Upgrade": ("GET", head(101), ok(b"SMUGGLED")),
    "bytes after the last chunk": (
        "GET",
        head(200, "Transfer-Encoding: chunked") + b"5\r\nfirst\r\n0\r\n\r\n",
        b"hello",
    ),
}


def _first_status(transport: str, case: str) -> int | None:
    """The status the first request sees (a 101 is a response only where 1xx are not skipped)."""
    if case == "data after a 101 without Upgrade":
        return None  # requests/urllib3 return the 101; gfetch's pool returns it too (see http11/pool.py)
    return 204 if "204" in case else 304 if "304" in case else 200


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", LATE_BYTES, ids=str)
def test_bytes_arriving_on_an_idle_connection_never_answer_the_next_request(
    transport: str, case: str, no_fd_leak: None
) -> None:
    method, reply, late = LATE_BYTES[case]
    origin = Origin(_late(reply, late))
    with origin.server, _session(transport) as session:
        first = session.request(method, origin.url("/1"), timeout=TIMEOUT)
        expected = _first_status(transport, case)
        assert expected is None or first.status_code == expected
        time.sleep(LATE * 3)  # the late bytes arrive while the connection is idle
        second = session.get(origin.url("/2"), timeout=TIMEOUT)
        assert (second.status_code, second.content) == (200, b"2")
    assert origin.arrivals == [(0, method, "/1"), (1, "GET", "/2")], "the idle connection was reused"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_408_written_on_an_idle_connection_is_not_the_next_reply(
    transport: str, tls: bool, ca: trustme.CA, ca_file: str, no_fd_leak: None
) -> None:
    """Servers write 408 on an idle connection before closing it: the next request must
    still reach the server (on a new connection) and get its own answer."""
    timeout_reply = head(408, "Connection: close", "Content-Length: 0")
    origin = Origin(
        _late(ok(b"first"), timeout_reply, close=True), tls=ca.issue_cert("127.0.0.1") if tls else None
    )
    with origin.server, _session(transport) as session:
        session.verify = ca_file
        assert session.get(origin.url("/1"), timeout=TIMEOUT).content == b"first"
        time.sleep(LATE * 3)
        second = session.get(origin.url("/2"), timeout=TIMEOUT)
        assert (second.status_code, second.content) == (200, b"2")
    assert [path for _, _, path in origin.arrivals] == ["/1", "/2"]


class DroppingOrigin:
    """Answers ``/warm<i>`` (holding each until ``warm`` of them are in flight, so each has
    a connection of its own); reads any other request, then closes without a reply, as a
    server that acted on it and crashed. ``arrivals`` lists the paths read."""

    def __init__(self, warm: int) -> None:
        self.arrivals: list[str] = []
        self._warm = warm
        self._all_in = threading.Barrier(warm, timeout=BOUND)
        self.server = RawServer(keep_alive(self._reply), read_head=False)

    def _reply(self, peer: Peer, request: bytes) -> tuple[bytes, bool]:
        path = _path(request)
        self.arrivals.append(path)
        if path.startswith("/warm"):
            self._all_in.wait()
            return ok(b"warm"), False
        return b"", True

    def fill(self, session: requests.Session) -> None:
        """Leave ``warm`` idle connections in the session's pool (greenlets for gfetch,
        threads for plain requests)."""
        urls = [self.server.url(f"/warm{i}") for i in range(self._warm)]
        if isinstance(session, gfetch.Session):
            glets = [gfetch.spawn(session.get, url, timeout=TIMEOUT) for url in urls]
            statuses = [glet.get(timeout=BOUND).status_code for glet in glets]
        else:
            with ThreadPoolExecutor(self._warm) as threads:
                responses = threads.map(lambda url: session.get(url, timeout=TIMEOUT), urls)
                statuses = [r.status_code for r in responses]
        assert statuses == [200] * self._warm


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST"])
@pytest.mark.parametrize("retries", [None, Retry(0, read=False)], ids=["default", "Retry(0, read=False)"])
def test_a_request_the_server_read_is_never_sent_again(
    transport: str, method: str, retries: Retry | None, no_fd_leak: None
) -> None:
    """Read on a reused connection, then dropped without a reply: requests' ConnectionError,
    and the server saw the request once, however many idle connections there were."""
    origin = DroppingOrigin(warm=5)
    with origin.server, _session(transport) as session:
        if retries is not None:
            adapter = (
                requests.adapters.HTTPAdapter(max_retries=retries)
                if transport == "requests"
                else gfetch.HTTPAdapter(max_retries=retries, transport=transport)
            )
            session.mount("http://", adapter)
        origin.fill(session)
        with pytest.raises(requests.ConnectionError, match="Connection aborted"):
            session.request(method, origin.server.url("/transfer"), data=b"transfer $100", timeout=TIMEOUT)
    assert origin.arrivals.count("/transfer") == 1
    assert origin.server.connections == 5


def test_a_retry_after_the_request_was_written_goes_on_a_new_connection(no_fd_leak: None) -> None:
    """Where the Retry allows sending again (urllib3's contract of the pool), the request is
    sent once more, on a new connection, not on another idle one."""
    origin = DroppingOrigin(warm=3)
    with origin.server, gfetch.Session() as session:
        origin.fill(session)
        pool = session.get_adapter(origin.server.url("/")).lean_pool_for(
            requests.Request("GET", origin.server.url("/")).prepare(), True, {}, None
        )
        assert isinstance(pool, LeanPool)
        with pytest.raises(Exception, match="Max retries exceeded"):
            pool.urlopen(
                "PUT",
                "/transfer",
                body=b"transfer $100",
                retries=Retry(total=1, read=1),
                redirect=False,
                timeout=TIMEOUT,
            )
    assert origin.arrivals.count("/transfer") == 2  # once, then once as the Retry allows
    assert origin.server.connections == 4  # the second on a connection of its own


# -- interim responses, odd chunk sizes, chunked requests -----------------------------

PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


def _flood(peer: Peer) -> None:
    """Interim responses, as fast as the client takes them, until it leaves (or 30 s)."""
    peer.read_request()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        peer.send(PROCESSING * 1000)


def test_a_flood_of_interim_responses_fails_the_request_at_once(no_fd_leak: None) -> None:
    with RawServer(_flood, read_head=False) as server, gfetch.Session() as session:
        started = time.monotonic()
        with pytest.raises(requests.ConnectionError, match=f"got more than {MAX_INTERIM_RESPONSES} interim"):
            session.get(server.url("/"), timeout=TIMEOUT)
        assert time.monotonic() - started < 2.0  # not the read timeout, and no quadratic re-parse


def test_a_flood_of_interim_responses_holds_no_one_else_up(no_fd_leak: None) -> None:
    """Under map, the flooded item fails; 20 healthy ones alongside are served, on time."""
    healthy = Origin(lambda peer, request: (peer.send(ok(b"h")), False)[1])
    with RawServer(_flood, read_head=False) as flooding, healthy.server, gfetch.Session() as session:
        started = time.monotonic()
        results = gfetch.map(
            [flooding.url("/"), *(healthy.url(f"/{i}") for i in range(20))],
            size=21,
            gtimeout=2.0,
            return_exceptions=True,
            session=session,
        )
        elapsed = time.monotonic() - started
    assert isinstance(results[0], Exception)
    assert [r.status_code for r in results[1:]] == [200] * 20
    assert elapsed < 3.5


def test_interim_responses_under_the_cap_are_skipped(no_fd_leak: None) -> None:
    """The documented difference: every 1xx but 101 is skipped (http.client returns a 102)."""

    def some_interim(peer: Peer) -> None:
        peer.read_request()
        for _ in range(50):
            peer.send(PROCESSING)
        peer.send(ok(b"done"))

    with RawServer(some_interim, read_head=False) as server, gfetch.Session() as session:
        response = session.get(server.url("/"), timeout=TIMEOUT)
    assert (response.status_code, response.content) == (200, b"done")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_negative_chunk_size_fails_at_once(transport: str, no_fd_leak: None) -> None:
    """``-5`` as a chunk size, the connection kept open: requests' ValueError at once, not a
    wait for the read timeout (forever with timeout=None)."""

    def negative(peer: Peer) -> None:
        peer.read_request()
        peer.send(head(200, "Transfer-Encoding: chunked") + b"-5\r\nhello\r\n0\r\n\r\n")
        peer.closed_by_client(BOUND)

    with RawServer(negative, read_head=False) as server, _session(transport) as session:
        started = time.monotonic()
        with pytest.raises(ValueError, match="read length must be non-negative or -1"):
            session.get(server.url("/"), timeout=None)
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_chunked_request_without_a_body_is_finished(transport: str, no_fd_leak: None) -> None:
    """``Transfer-Encoding: chunked`` and no body: the last chunk is sent, as urllib3 always
    sends it, so a server that reads the body answers."""
    received: list[bytes] = []

    def reply(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        received.append(request)
        return ok(b"read"), False

    with RawServer(keep_alive(reply), read_head=False) as server, _session(transport) as session:
        response = session.get(server.url("/"), headers={"Transfer-Encoding": "chunked"}, timeout=TIMEOUT)
        assert response.content == b"read"
    assert len(received) == 1 and received[0].endswith(b"\r\n\r\n0\r\n\r\n")
