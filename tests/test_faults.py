"""Fault injection: whatever a server does, each request gets requests' own
exception, the other requests carry on, nothing hangs and nothing leaks.

Every fault in ``FAULTS`` runs through a ``gfetch.Session`` (the exception,
asserted by exact type and by its cause in the message) and through
``gfetch.map`` with 100 healthy requests to the module's test server
alongside (the faulty item is None, its exception reaches the
exception_handler, the 100 others succeed). The faulty servers are scripted
``gfetch.testing.RawServer`` instances on 127.0.0.1 that the ``lab`` fixture
stops at teardown, after which ``no_fd_leak`` checks the process holds no
more file descriptors than before. Time bounds are generous: they catch
hangs and serialised requests, not slowness.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
import trustme
from _servers import HTTPSServer, ProxyServer, server_context
from _stdlibserver import StdlibServer

import gfetch
import gfetch.io.dns
from gfetch.testing.raw import Behaviour, Peer, RawServer, head, hold, reset, script, send, trickle

HEALTHY = 100  # healthy requests alongside each faulty one
SHORT = 0.5  # the timeout the faults run under (connect or read)
BOUND = 5.0  # wall-clock bound of one faulty call: catches hangs, not slowness
OK = head(200, "Content-Length: 2", "Connection: close") + b"ok"


# -- the lab: faulty endpoints, stopped at teardown ------------------------------------


class Lab:
    """Starts the faulty endpoints of one test; the fixture stops them."""

    def __init__(self, stack: contextlib.ExitStack, ca: trustme.CA, ca_file: str) -> None:
        self._stack = stack
        self.ca = ca
        self.ca_file = ca_file
        self.servers: list[RawServer] = []

    def raw(self, behaviour: Behaviour, *, read_head: bool = True, cert: Any = None, scheme: str = "") -> str:
        """The URL of a new RawServer running ``behaviour`` (over TLS with ``cert``)."""
        tls = server_context(cert) if cert is not None else None
        server = self._stack.enter_context(RawServer(behaviour, tls=tls, read_head=read_head))
        self.servers.append(server)
        return server.url("/fault", scheme)

    def tls(self, cert: Any) -> str:
        """An HTTPS server presenting ``cert`` that answers 200 when the client gets that far."""
        return self.raw(send(OK), cert=cert)

    def refused(self) -> str:
        """A port on 127.0.0.1 that refuses connections (bound, never listening)."""
        sock = self._stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/fault"


def _wait_for(condition: Callable[[], bool], seconds: float = BOUND) -> bool:
    """Poll ``condition`` cooperatively until it holds or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        gfetch.sleep(0.01)
    return True


@pytest.fixture
def settled(no_fd_leak: None, server: StdlibServer) -> Iterator[None]:
    """``no_fd_leak``, once the test server has closed its side of the test's connections.

    It does so a moment after the client, on its own thread, and its sockets
    are this process's too.
    """
    yield
    assert _wait_for(lambda: server.open_connections == 0), "the test server kept connections open"


@pytest.fixture
def lab(settled: None, ca: trustme.CA, ca_file: str) -> Iterator[Lab]:
    with contextlib.ExitStack() as stack:
        yield Lab(stack, ca, ca_file)


# -- the faults ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Fault:
    """One misbehaving server and what the client must get from it.

    ``serve(lab)`` starts the server and returns the URL to fetch; ``error``
    is the exact exception type and ``match`` a regex on its message.
    ``stream``: the Session test reads the body with ``iter_content``.
    ``total``: only a deadline on the whole call ends this fault (a
    ``gfetch.Timeout`` around the Session call, ``gtimeout`` for map, which
    then fails the item with ``map_error``).
    """

    name: str
    serve: Callable[[Lab], str]
    error: type[BaseException]
    match: str
    timeout: float | tuple[float, float] = SHORT
    stream: bool = False
    total: float | None = None
    map_error: type[BaseException] | None = None


def _raw(behaviour: Behaviour, **kwargs: Any) -> Callable[[Lab], str]:
    return lambda lab: lab.raw(behaviour, **kwargs)


def _tls(behaviour: Behaviour) -> Callable[[Lab], str]:
    """Over TLS, with a valid certificate for 127.0.0.1."""
    return lambda lab: lab.raw(behaviour, cert=lab.ca.issue_cert("127.0.0.1"))


def _expired(ca: trustme.CA) -> Any:
    start = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    return ca.issue_cert("127.0.0.1", not_before=start, not_after=start + datetime.timedelta(days=90))


def _read_hello_then_answer_http(peer: Peer) -> None:
    peer.sock.recv(4096)  # the ClientHello
    peer.send(head(400, "Content-Length: 0", "Connection: close"))


ConnectionError_ = requests.exceptions.ConnectionError
Chunked = requests.exceptions.ChunkedEncodingError
ReadTimeout = requests.exceptions.ReadTimeout
SSLError = requests.exceptions.SSLError

TIMED_OUT = r"Read timed out\. \(read timeout=0\.5\)"
SHORT_BODY = send(head(200, "Content-Length: 100") + b"x" * 10)
INCOMPLETE = r"IncompleteRead\(10 bytes read, 90 more expected\)"
CHUNK = head(200, "Transfer-Encoding: chunked")
LOOP = head(302, "Location: /fault", "Content-Length: 0", "Connection: close")  # to itself

FAULTS = [
    Fault("connection refused", Lab.refused, ConnectionError_, "Connection refused"),
    Fault("reset during connect", _raw(reset, read_head=False), ConnectionError_, "reset by peer"),
    Fault(
        "reset during headers",
        _raw(script(send(b"HTTP/1.1 200 OK\r\nContent-Le"), reset)),
        ConnectionError_,
        "reset by peer",
    ),
    Fault(
        "reset mid-body",
        _raw(script(send(head(200, "Content-Length: 100000") + b"x" * 1000), reset)),
        Chunked,
        "reset by peer",
    ),
    Fault("closed before replying", _raw(script()), ConnectionError_, "RemoteDisconnected"),
    Fault(
        "garbage status line", _raw(send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")), ConnectionError_, "BadStatusLine"
    ),
    Fault(
        "header line over 64 KiB",
        _raw(send(head(200, "X-Big: " + "a" * 70_000, "Content-Length: 0"))),
        ConnectionError_,
        "LineTooLong",
    ),
    Fault(
        "10,000 headers",
        _raw(send(head(200, *[f"X-{i}: {i}" for i in range(10_000)]))),
        ConnectionError_,
        "more than 100 headers",
    ),
    Fault("invalid chunked encoding", _raw(send(CHUNK + b"zz\r\nhello\r\n")), Chunked, "InvalidChunkLength"),
    Fault("body shorter than Content-Length", _raw(SHORT_BODY), Chunked, INCOMPLETE),
    Fault(
        "body never ends (stream)",
        _raw(script(send(CHUNK + b"5\r\nhello\r\n"), hold)),
        ConnectionError_,
        "Read timed out",
        stream=True,
    ),
    Fault("never answers", _raw(hold), ReadTimeout, TIMED_OUT),
    # A byte every 0.1 s never trips a 0.5 s read timeout, which bounds each
    # socket read as in requests: only a deadline on the whole call ends it.
    Fault(
        "slowloris",
        _raw(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000, 0.1)),
        gfetch.Timeout,
        r"1\.5 s",
        total=1.5,
        map_error=gfetch.RequestCancelled,
    ),
    Fault("TLS body shorter than Content-Length (ragged EOF)", _tls(SHORT_BODY), Chunked, INCOMPLETE),
    Fault("TLS never answers", _tls(hold), ReadTimeout, TIMED_OUT),
    Fault(
        "TLS unknown CA",
        lambda lab: lab.tls(trustme.CA().issue_cert("127.0.0.1")),
        SSLError,
        "CERTIFICATE_VERIFY_FAILED.*unable to get local issuer",
    ),
    Fault(
        "TLS expired certificate", lambda lab: lab.tls(_expired(lab.ca)), SSLError, "certificate has expired"
    ),
    Fault(
        "TLS hostname mismatch",
        lambda lab: lab.tls(lab.ca.issue_cert("other.example")),
        SSLError,
        "CERTIFICATE_VERIFY_FAILED.*mismatch",
    ),
    Fault(
        "plain HTTP on the TLS port",
        _raw(_read_hello_then_answer_http, read_head=False, scheme="https"),
        SSLError,
        "(?i)wrong.version.number|record.layer|packet.length",
    ),
    # The handshake runs under the connect timeout (0.5 s here, not the 30 s
    # read timeout) and, as in requests, fails as a ReadTimeout.
    Fault(
        "TLS handshake stalls",
        _raw(hold, read_head=False, scheme="https"),
        ReadTimeout,
        "Read timed out",
        timeout=(SHORT, 30.0),
    ),
    Fault(
        "DNS failure",
        lambda lab: "http://gfetch-fault.invalid/",
        ConnectionError_,
        "Failed to resolve 'gfetch-fault.invalid'",
    ),
    Fault("redirect loop", _raw(send(LOOP)), requests.TooManyRedirects, "Exceeded 30 redirects"),
]


def _by_name(name: str) -> Fault:
    return next(fault for fault in FAULTS if fault.name == name)


def _check(exc: BaseException | None, error: type[BaseException], match: str) -> None:
    assert type(exc) is error, f"expected {error.__name__}, got {exc!r}"
    assert re.search(match, str(exc)), f"{str(exc)!r} does not match {match!r}"


def _healthy(server: StdlibServer) -> list[str]:
    return [server.url(f"/json?i={i}") for i in range(HEALTHY)]


def _check_healthy(responses: list[Any]) -> None:
    assert len(responses) == HEALTHY
    for i, response in enumerate(responses):
        assert isinstance(response, requests.Response), f"healthy request {i} failed: {response!r}"
        assert response.json()["query"] == {"i": str(i)}


def _alongside(
    bad: gfetch.AsyncRequest, server: StdlibServer, **options: Any
) -> tuple[Any, list[Any], float]:
    """map ``bad`` amid HEALTHY good requests; (bad's result, failures, seconds).

    The healthy requests must all succeed. ``failures`` lists what reached
    the exception_handler, as ``(request, exception)``.
    """
    items: list[Any] = _healthy(server)
    items.insert(HEALTHY // 2, bad)
    failures: list[tuple[Any, BaseException | None]] = []
    options.setdefault("gtimeout", BOUND)  # a hang shows as RequestCancelled
    with gfetch.Session() as session:
        session.trust_env = False  # the healthy requests never go through a proxy
        started = time.monotonic()
        results = gfetch.map(
            items,
            session=session,
            timeout=BOUND,
            exception_handler=lambda req, exc: failures.append((req, exc)),
            **options,
        )
        elapsed = time.monotonic() - started
    result = results.pop(HEALTHY // 2)
    _check_healthy(results)
    return result, failures, elapsed


# -- each fault through a Session and through map -----------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_session_gets_the_requests_exception(fault: Fault, lab: Lab) -> None:
    url = fault.serve(lab)
    with gfetch.Session() as session:
        started = time.monotonic()
        try:
            with gfetch.Timeout(fault.total or BOUND):
                response = session.get(url, timeout=fault.timeout, stream=fault.stream, verify=lab.ca_file)
                with response:
                    for _ in response.iter_content(1024):  # with stream=True: must raise, not hang
                        pass
        except (Exception, gfetch.Timeout) as exc:
            raised: BaseException | None = exc
        else:
            raised = None
        elapsed = time.monotonic() - started
    _check(raised, fault.error, fault.match)
    assert elapsed < BOUND


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_map_fails_only_the_faulty_item(fault: Fault, lab: Lab, server: StdlibServer) -> None:
    bad = gfetch.get(fault.serve(lab), timeout=fault.timeout, verify=lab.ca_file)
    result, failures, elapsed = _alongside(bad, server, gtimeout=fault.total or BOUND)
    assert result is None
    assert [request for request, _ in failures] == [bad]
    _check(failures[0][1], fault.map_error or fault.error, fault.match)
    assert failures[0][1] is bad.exception
    assert elapsed < BOUND


@pytest.mark.parametrize(
    ("name", "timeout", "gtimeout", "error", "match"),
    [
        # a 2 s read timeout: ample for the 100 healthy requests to finish first
        ("never answers", 2.0, None, ReadTimeout, r"read timeout=2\.0"),
        ("slowloris", SHORT, 1.5, gfetch.RequestCancelled, r"gtimeout=1\.5 s"),
    ],
)
def test_imap_streams_past_a_stalled_request(
    name: str,
    timeout: float,
    gtimeout: float | None,
    error: type[BaseException],
    match: str,
    lab: Lab,
    server: StdlibServer,
) -> None:
    """A stalled request holds one slot of ten; the 100 others stream past it."""
    bad = gfetch.get(_by_name(name).serve(lab), timeout=timeout)
    items: list[Any] = [bad, *_healthy(server)]
    with gfetch.Session() as session:
        started = time.monotonic()
        got = list(
            gfetch.imap_enumerated(
                items, size=10, session=session, timeout=BOUND, gtimeout=gtimeout, return_exceptions=True
            )
        )
        elapsed = time.monotonic() - started
    assert [index for index, _ in got][-1] == 0, "the stalled request finished before the healthy ones"
    assert sorted(index for index, _ in got) == list(range(HEALTHY + 1))
    _check_healthy([value for _, value in sorted(got[:-1], key=lambda entry: entry[0])])
    _check(got[-1][1], error, match)
    stall = gtimeout or timeout
    assert stall * 0.9 < elapsed < stall + BOUND


# -- DNS -----------------------------------------------------------------------------


def test_invalid_names_fail_without_asking_the_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 6761: ``.invalid`` never resolves, so it fails at once, even offline."""

    def no_resolver(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the system resolver was asked: {args!r}")

    monkeypatch.setattr(gfetch.io.dns, "run_in_thread", no_resolver)
    with gfetch.Session() as session:
        for host in ("gfetch-fault.invalid", "a.b.INVALID.", "invalid"):
            with pytest.raises(requests.exceptions.ConnectionError, match="Failed to resolve"):
                session.get(f"http://{host}/", timeout=SHORT)


# -- redirects and credentials -------------------------------------------------------


def _fetch(via: str, request: gfetch.AsyncRequest, server: StdlibServer) -> requests.Response:
    """``request``'s response, through a Session or through map amid healthy requests."""
    if via == "session":
        with gfetch.Session() as session:
            return session.request(request.method, request.url, **request.kwargs)
    result, failures, _ = _alongside(request, server)
    assert not failures
    return result  # type: ignore[no-any-return]


@pytest.mark.parametrize("via", ["session", "map"])
@pytest.mark.parametrize("other_host", [True, False], ids=["other-host", "same-host"])
def test_redirect_drops_authorization_for_another_host(
    via: str, other_host: bool, settled: None, server: StdlibServer, fresh_server: StdlibServer
) -> None:
    """127.0.0.1 and localhost are different hosts: Authorization stays behind."""
    target = f"http://localhost:{fresh_server.port}/echo" if other_host else fresh_server.url("/echo")
    first = fresh_server.url("/redirect-to?url=" + quote(target, safe=""))
    response = _fetch(via, gfetch.get(first, auth=("user", "secret")), server)
    assert response.url == target
    assert response.history[0].request.headers["Authorization"] == "Basic dXNlcjpzZWNyZXQ="
    received = response.json()["headers"]  # what the second server received
    assert ("authorization" in received) is not other_host


@pytest.mark.parametrize("via", ["session", "map"])
def test_proxy_credentials_never_reach_the_target_on_redirect(
    via: str,
    settled: None,
    server: StdlibServer,
    fresh_server: StdlibServer,
    ca: trustme.CA,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first hop goes through an authenticating proxy; the redirect to an
    https host no proxy serves goes direct, without Proxy-Authorization."""
    with ProxyServer() as proxy, HTTPSServer(ca.issue_cert("localhost")) as target_server:
        monkeypatch.setenv("http_proxy", proxy.url.replace("http://", "http://user:secret@"))
        target = target_server.url("/echo", host="localhost")
        first = fresh_server.url("/redirect-to?url=" + quote(target, safe=""))
        with gfetch.Session() as proxied:  # for map: it reads the environment, the healthy ones' does not
            response = _fetch(via, gfetch.get(first, session=proxied, verify=ca_file), server)
        assert response.url == target
        assert response.json()["path"] == "/echo"
        assert not {"proxy-authorization", "authorization"} & set(response.json()["headers"])
        ((method, proxied_url, headers),) = proxy.seen
        assert (method, proxied_url) == ("GET", first)
        assert headers["proxy-authorization"] == "Basic dXNlcjpzZWNyZXQ="


# -- user code that raises, and what outlives a Session --------------------------------


def _boom(response: requests.Response, **kwargs: Any) -> None:
    raise RuntimeError("callback bug")


def test_raising_callback_fails_its_own_request_only(lab: Lab, server: StdlibServer) -> None:
    """map: a raising callback fails its request only, and its connection is closed."""
    bad = gfetch.get(server.url("/bytes/200000"), callback=_boom)  # body unread when the hook runs
    result, failures, _ = _alongside(bad, server)
    assert result is None
    assert [request for request, _ in failures] == [bad]
    _check(bad.exception, RuntimeError, "callback bug")


def test_raising_session_hook_closes_its_response(lab: Lab, server: StdlibServer) -> None:
    """Session: the hook's exception propagates, as in requests, and its response is closed."""
    seen: list[requests.Response] = []

    def boom(response: requests.Response, **kwargs: Any) -> None:
        seen.append(response)
        _boom(response)

    with gfetch.Session() as session:
        with pytest.raises(RuntimeError, match="callback bug"):
            session.get(server.url("/bytes/200000"), hooks={"response": boom})
        try:
            assert seen[0].raw.closed, "the response of the raising hook holds its connection until GC"
        finally:
            seen[0].close()


def test_raising_exception_handler_propagates_and_cancels_the_rest(lab: Lab, server: StdlibServer) -> None:
    """map's contract: an exception_handler bug is the caller's exception.

    It propagates out of map at once (the other requests are not awaited but
    cancelled, their connections closed); the Session stays usable.
    """

    def handler(request: gfetch.AsyncRequest, exception: BaseException | None) -> None:
        raise RuntimeError("handler bug")

    items: list[Any] = [server.url(f"/delay/2?i={i}") for i in range(HEALTHY)]
    items.insert(HEALTHY // 2, lab.refused())
    with gfetch.Session() as session:
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="handler bug"):
            gfetch.map(items, session=session, exception_handler=handler)
        with pytest.raises(RuntimeError, match="handler bug"):
            for _ in gfetch.imap(items, size=HEALTHY + 1, session=session, exception_handler=handler):
                pass
        assert time.monotonic() - started < 1.5  # neither call waited for the 2 s requests
        _check_healthy(gfetch.map(_healthy(server), session=session))


def test_session_close_closes_idle_connections_while_responses_live(
    settled: None, server: StdlibServer
) -> None:
    """Responses kept after ``Session.close()`` do not keep its idle connections open."""
    with gfetch.Session() as session:
        responses = gfetch.map(_healthy(server), session=session)
    assert _wait_for(lambda: server.open_connections == 0)
    _check_healthy(responses)


def test_session_closed_while_requests_wait_for_a_connection(settled: None, server: StdlibServer) -> None:
    """pool_block: requests parked for the one pooled connection finish on their own connections."""
    session = gfetch.Session(pool_block=True, pool_maxsize=1)
    glets = [gfetch.spawn(session.get, server.url(f"/delay/0.2?i={i}"), timeout=BOUND) for i in range(3)]
    gfetch.sleep(0.05)  # one request holds the connection, two wait for it
    session.close()
    assert [glet.get(timeout=BOUND).json()["query"] for glet in glets] == [{"i": str(i)} for i in range(3)]


# -- a greenlet killed mid-read ----------------------------------------------------------


def _cancel_by_kill(session: gfetch.Session, url: str, server: StdlibServer, sent: threading.Event) -> None:
    glet = gfetch.spawn(session.get, url, timeout=BOUND)
    assert _wait_for(sent.is_set)
    gfetch.sleep(0.1)  # it reads the head and part of the body, then waits for more
    glet.kill()
    assert isinstance(glet.value, gfetch.GreenletExit)


def _cancel_by_gtimeout(
    session: gfetch.Session, url: str, server: StdlibServer, sent: threading.Event
) -> None:
    result, failures, _ = _alongside(gfetch.get(url, session=session, timeout=BOUND), server, gtimeout=1.0)
    assert result is None and sent.is_set()
    _check(failures[0][1], gfetch.RequestCancelled, "gtimeout=1.0 s")


Cancel = Callable[[gfetch.Session, str, StdlibServer, threading.Event], None]


@pytest.mark.parametrize("cancel", [_cancel_by_kill, _cancel_by_gtimeout], ids=["kill", "gtimeout"])
def test_connection_killed_mid_read_is_closed_not_pooled(
    cancel: Cancel, lab: Lab, server: StdlibServer
) -> None:
    """The next request on the same Session gets a complete response on a new connection."""
    verdicts: list[bool] = []
    sent = threading.Event()

    def behaviour(peer: Peer) -> None:
        if peer.index == 0:
            peer.send(head(200, "Content-Length: 100000") + b"x" * 1000)
            sent.set()
            verdicts.append(peer.closed_by_client(BOUND))  # False if a request arrived instead
        else:
            peer.send(head(200, "Content-Length: 5") + b"whole")
            peer.closed_by_client(BOUND)

    url = lab.raw(behaviour)
    with gfetch.Session() as session:
        cancel(session, url, server, sent)
        response = session.get(url, timeout=BOUND)
        assert (response.status_code, response.content) == (200, b"whole")
        assert _wait_for(lambda: bool(verdicts))
    assert verdicts == [True], "the half-read connection was reused instead of closed"
    assert lab.servers[0].connections == 2
