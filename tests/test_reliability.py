"""Reliability of the fan-out: no item can end a call, deadlines hold.

* Every stage of handling one item (taking it from the input, splitting its
  URL for the host limits, the limits, sending, hooks, the retry policy, the
  deadline) is made to raise in turn, for the first items of a call with
  fewer workers than bad items: each bad item fails alone, every index comes
  back exactly once, and the healthy items are all fetched.
* Odd inputs the issue found (an unsplittable URL under per_host, a
  Retry-After of "²", a 64-character DNS label) fail as requests says.
* ``deadline=`` bounds a whole request, retries included.

Servers are local (gfetch.testing and the raw fault server); bounds are
generous and only catch hangs or serialised requests.
"""

from __future__ import annotations

import errno
import gc
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from _alarm import TimeLimit, time_limit
from _servers import server_context
from _stdlibserver import StdlibServer
from conftest import open_fds

import gfetch
import gfetch.fanout.limits
import gfetch.fanout.runner
from gfetch.fanout.asyncrequest import Deadline
from gfetch.fanout.limits import HostLimits
from gfetch.fanout.retry import RetryPolicy
from gfetch.testing import ServerProcess
from gfetch.testing.raw import RawServer, head, hold, pour, route, script, send, trickle

BAD = 8  # bad items first, more than the workers (SIZE): each would have ended one
SIZE = 4
HEALTHY = 40


class Injected(RuntimeError):
    """The failure a fake stage raises for a bad item."""


def _raising_for_bad(original: Callable[..., Any], text_of: Callable[..., str]) -> Callable[..., Any]:
    """``original``, raising Injected when ``text_of(*args)`` names a bad item."""

    def fake(*args: Any, **kwargs: Any) -> Any:
        if "bad" in text_of(*args, **kwargs):
            raise Injected(f"injected into {original.__qualname__}")
        return original(*args, **kwargs)

    return fake


def _url_of_response_or_error(policy: Any, method: str, response: Any, exception: Any, attempt: int) -> str:
    return response.url if response is not None else ""


# stage name -> (patch the stage, options for the call, path of the bad items)
Stage = Callable[[pytest.MonkeyPatch], dict[str, Any]]


def _patch(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, text_of: Callable[..., str]) -> None:
    monkeypatch.setattr(owner, name, _raising_for_bad(getattr(owner, name), text_of))


STAGES: dict[str, Stage] = {
    "taking the item": lambda mp: (
        _patch(mp, gfetch.fanout.runner, "coerce_request", lambda item: str(item)) or {}
    ),
    "splitting the URL for per_host": lambda mp: (
        _patch(mp, gfetch.fanout.limits, "host_key", lambda url: url) or {"per_host": 2}
    ),
    "the host limits": lambda mp: (
        _patch(mp, HostLimits, "slot", lambda self, url: url) or {"per_host_rate": 10_000}
    ),
    "sending": lambda mp: (
        _patch(mp, gfetch.AsyncRequest, "send_with", lambda self, overrides: self.url) or {}
    ),
    "the retry decision": lambda mp: (
        _patch(mp, RetryPolicy, "should_retry", _url_of_response_or_error) or {"retries": 1}
    ),
    "the retry delay": lambda mp: (
        _patch(mp, RetryPolicy, "delay", lambda self, response, attempt: response.url)
        or {"retries": 1, "bad_path": "/flaky/5?key=bad{i}"}
    ),
    "the deadline": lambda mp: (
        _patch(mp, Deadline, "start", lambda self: self.request.url) or {"deadline": 10.0}
    ),
}


def _bad_items(server: StdlibServer, path: str) -> list[str]:
    return [server.url(path.format(i=i)) for i in range(BAD)]


def _run(api: str, items: list[Any], **options: Any) -> list[Any]:
    """The results in input order, checking that each index came back once."""
    if api == "map":
        return gfetch.map(items, size=SIZE, return_exceptions=True, **options)
    got = list(gfetch.imap_enumerated(items, size=SIZE, return_exceptions=True, **options))
    indices = sorted(index for index, _ in got)
    assert indices == list(range(len(items))), "an index is missing or came back twice"
    return [value for _, value in sorted(got, key=lambda entry: entry[0])]


def _check_healthy(results: list[Any]) -> None:
    for i, response in enumerate(results):
        assert isinstance(response, requests.Response), f"healthy item {i} failed: {response!r}"
        assert response.json()["query"] == {"i": str(i)}


@pytest.mark.parametrize("api", ["map", "imap_enumerated"])
@pytest.mark.parametrize("stage", list(STAGES))
def test_a_raising_stage_fails_only_its_item(
    stage: str, api: str, server: StdlibServer, session: gfetch.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = STAGES[stage](monkeypatch)
    bad = _bad_items(server, options.pop("bad_path", "/json?bad={i}"))
    healthy = [server.url(f"/json?i={i}") for i in range(HEALTHY)]
    started = time.monotonic()
    results = _run(api, [*bad, *healthy], session=session, **options)
    assert time.monotonic() - started < 10
    for result in results[:BAD]:
        assert isinstance(result, Injected), f"{stage}: a bad item gave {result!r}"
    _check_healthy(results[BAD:])


# -- the odd inputs the issue found ---------------------------------------------------


@pytest.mark.parametrize("api", ["map", "imap_enumerated"])
@pytest.mark.parametrize("limits", [{}, {"per_host": 2}, {"per_host_rate": 10_000}, {"rate": 10_000}])
@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/x", "http://[::1/x", f"http://{'a' * 64}.test/"])
def test_unusable_urls_fail_as_invalid_url(
    url: str, limits: dict[str, Any], api: str, server: StdlibServer, session: gfetch.Session
) -> None:
    """Under any limits, as without them: InvalidURL for each (a 64-character
    DNS label too, which plain requests lets through as urllib3's
    LocationParseError), and the healthy URLs behind them are fetched."""
    healthy = [server.url(f"/json?i={i}") for i in range(HEALTHY)]
    results = _run(api, [url] * BAD + healthy, session=session, **limits)
    for result in results[:BAD]:
        assert type(result) is requests.exceptions.InvalidURL, repr(result)
        assert url in str(result) or "Failed to parse" in str(result)  # requests' own message
    _check_healthy(results[BAD:])


def test_items_that_are_no_requests_fail_alone(server: StdlibServer, session: gfetch.Session) -> None:
    healthy = [server.url(f"/json?i={i}") for i in range(HEALTHY)]
    results = _run("map", [42, None, object()] * 3 + healthy, session=session)
    for result in results[: 3 * 3]:
        assert isinstance(result, TypeError) and "pass URL strings" in str(result)
    _check_healthy(results[9:])


@pytest.mark.parametrize("value", ["²", "¹0", "1e309", "Wed, 99 Foo 2015 07:28:00 GMT", "-5"])
def test_a_retry_after_nobody_can_read_falls_back_to_backoff(
    value: str, server: StdlibServer, session: gfetch.Session
) -> None:
    """A 503 whose Retry-After is no number nor date is retried after the
    backoff; 50 of them ahead of 350 healthy URLs, at size=50, end no worker."""
    answer = head(503, f"Retry-After: {value}", "Content-Length: 0", "Connection: close")
    with RawServer(send(answer)) as raw:
        healthy = [server.url(f"/json?i={i}") for i in range(350)]
        started = time.monotonic()
        results = gfetch.map(
            [raw.url(f"/r{i}") for i in range(50)] + healthy,
            size=50,
            session=session,
            retries=RetryPolicy(1, backoff=0.01),
            return_exceptions=True,
        )
        assert time.monotonic() - started < 10
        assert raw.connections == 100  # each of the 50 sent twice
    assert [getattr(r, "status_code", r) for r in results[:50]] == [503] * 50
    _check_healthy(results[50:])


# -- deadline= -----------------------------------------------------------------------

TRICKLE = trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000, 0.3)  # each byte well within the read timeout
DEADLINE = 1.0
DEADLINE_MESSAGE = r"deadline=1\.0 s expired before GET http://127\.0\.0\.1:\d+/slow finished"


def _check_deadline(result: Any, elapsed: float) -> None:
    assert type(result) is gfetch.RequestDeadlineExceeded, repr(result)
    assert isinstance(result, requests.Timeout)
    assert re.search(DEADLINE_MESSAGE, str(result)), str(result)
    assert DEADLINE * 0.9 < elapsed < DEADLINE + 3


@pytest.mark.parametrize("api", ["map", "imap_enumerated"])
def test_deadline_ends_a_trickle_the_read_timeout_never_ends(
    api: str, server: StdlibServer, session: gfetch.Session
) -> None:
    with RawServer(TRICKLE) as raw:
        healthy = [server.url(f"/json?i={i}") for i in range(HEALTHY)]
        started = time.monotonic()
        results = _run(api, [raw.url("/slow"), *healthy], session=session, timeout=(2, 2), deadline=DEADLINE)
        elapsed = time.monotonic() - started
        _check_deadline(results[0], elapsed)
        _check_healthy(results[1:])
        assert _closed_by_client(raw), "the connection of the request past its deadline stayed open"


def _closed_by_client(raw: RawServer, path: str = "/") -> bool:
    """Whether the client closes, within 5 s, the first connection that asked for a path
    starting with ``path``. A behaviour that sends until the client leaves (pour) closes
    its own end then: finding that end closed says the same."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        peers = [peer for peer in raw.peers if peer.head.startswith(f"GET {path}".encode())]
        if not peers:
            time.sleep(0.01)
            continue
        try:
            if peers[0].closed_by_client(0.1):
                return True
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
            return True
    return False


def test_deadline_of_an_item_overrides_the_calls(server: StdlibServer, session: gfetch.Session) -> None:
    with RawServer(TRICKLE) as raw:
        started = time.monotonic()
        slow, ok = gfetch.map(
            [gfetch.get(raw.url("/slow"), deadline=DEADLINE), server.url("/json?i=0")],
            session=session,
            timeout=(2, 2),
            deadline=60,
            return_exceptions=True,
        )
        _check_deadline(slow, time.monotonic() - started)
    assert ok.status_code == 200


def test_deadline_counts_from_the_first_send_not_the_wait_for_a_slot(
    server: StdlibServer, session: gfetch.Session
) -> None:
    """per_host=1: the third request waits 1.2 s for its turn, then takes 0.6 s of its 1.0 s."""
    results = gfetch.map(
        [server.url(f"/delay/0.6?i={i}") for i in range(3)],
        per_host=1,
        deadline=DEADLINE,
        session=session,
        return_exceptions=True,
    )
    assert [getattr(r, "status_code", r) for r in results] == [200] * 3


def test_deadline_covers_retries_and_their_waits(session: gfetch.Session) -> None:
    """Retry-After: 5 would wait past the deadline: it fails at the deadline."""
    answer = head(503, "Retry-After: 5", "Content-Length: 0", "Connection: close")
    with RawServer(send(answer)) as raw:
        started = time.monotonic()
        (result,) = gfetch.map(
            [raw.url("/slow")], session=session, retries=3, deadline=DEADLINE, return_exceptions=True
        )
        _check_deadline(result, time.monotonic() - started)
        assert raw.connections == 1


def test_deadline_in_crawl(server: StdlibServer, session: gfetch.Session) -> None:
    with RawServer(TRICKLE) as raw:
        started = time.monotonic()
        got = list(
            gfetch.crawl(
                [raw.url("/slow"), server.url("/json")],
                lambda response: None,
                session=session,
                timeout=(2, 2),
                deadline=DEADLINE,
                return_exceptions=True,
            )
        )
        elapsed = time.monotonic() - started
    failed = [item for item in got if not isinstance(item, requests.Response)]
    assert len(got) == 2 and len(failed) == 1
    _check_deadline(failed[0], elapsed)


def test_deadline_of_a_sent_async_request(session: gfetch.Session) -> None:
    with RawServer(TRICKLE) as raw:
        request = gfetch.get(raw.url("/slow"), session=session, timeout=(2, 2), deadline=DEADLINE)
        started = time.monotonic()
        assert request.send() is request
        _check_deadline(request.exception, time.monotonic() - started)
        assert request.response is None and "Timeout" in (request.traceback or "")


@pytest.mark.parametrize("deadline", [0, -1.0])
def test_deadline_must_be_positive(deadline: float) -> None:
    with pytest.raises(ValueError, match="deadline must be > 0"):
        gfetch.map([], deadline=deadline)
    with pytest.raises(ValueError, match="deadline must be > 0"):
        gfetch.get("http://127.0.0.1/", deadline=deadline)


# deadline= and streamed bodies: the body is read after the call returned, in the caller's greenlet.

BODY_DEADLINE = 0.5
BACKSTOP = 5.0  # a read the deadline does not end is stopped here (the slow bodies last far longer)
OK_REPLY = send(head(200, "Content-Length: 2") + b"ok")
SLOW_BODIES = {  # a byte every 50 ms: each read gets data long before any read timeout
    "content-length": script(send(head(200, "Content-Length: 1000")), trickle(b"x" * 1000, 0.05)),
    "chunked": script(send(head(200, "Transfer-Encoding: chunked")), trickle(b"1\r\nx\r\n" * 1000, 0.05)),
    "pouring": pour(head(200, "Content-Length: 100000000000")),
}
BODY_READS: dict[str, Callable[[requests.Response], Any]] = {
    "iter_content": lambda response: [None for _ in response.iter_content(10240)],
    "content": lambda response: response.content,
    "raw.read": lambda response: response.raw.read(),
}
TRANSPORTS = ["auto", "urllib3"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("body", "read"),
    [(body, read) for body in ["content-length", "chunked"] for read in BODY_READS]
    + [("pouring", "iter_content")],
)
def test_deadline_covers_reading_a_streamed_body(body: str, read: str, transport: str) -> None:
    """stream=True: map returns at once; reading the body past the deadline
    fails with RequestDeadlineExceeded within about 0.2 s of it, while bytes
    keep coming, and so does every later read; that connection is closed.
    A body read in time stays readable, and the session keeps working."""
    with (
        RawServer(route({"slow": SLOW_BODIES[body], "ok": OK_REPLY})) as raw,
        gfetch.Session(transport=transport) as session,
    ):
        started = time.monotonic()
        slow, ok = gfetch.map(
            [raw.url("/slow"), raw.url("/ok")], session=session, stream=True, deadline=BODY_DEADLINE
        )
        assert ok.content == b"ok"
        with (
            gfetch.Timeout(BACKSTOP),
            pytest.raises(gfetch.RequestDeadlineExceeded, match=r"deadline=0\.5 s expired before GET "),
        ):
            BODY_READS[read](slow)
        elapsed = time.monotonic() - started
        assert BODY_DEADLINE * 0.9 < elapsed < BODY_DEADLINE + OVERSHOOT, f"failed after {elapsed:.2f} s"
        with pytest.raises(gfetch.RequestDeadlineExceeded):
            slow.raw.read(1)
        assert _closed_by_client(raw, "/slow"), "the connection of the body past its deadline stayed open"
        assert ok.raw.read() == b"" and ok.content == b"ok"
        assert session.get(raw.url("/ok"), timeout=5).content == b"ok"


def test_deadline_covers_the_streamed_body_of_a_sent_async_request(session: gfetch.Session) -> None:
    with RawServer(SLOW_BODIES["content-length"]) as raw:
        request = gfetch.get(raw.url("/slow"), session=session, stream=True, deadline=BODY_DEADLINE).send()
        assert request.response is not None
        started = time.monotonic()
        with gfetch.Timeout(BACKSTOP), pytest.raises(gfetch.RequestDeadlineExceeded):
            request.response.content  # noqa: B018 - reading it is what the deadline bounds
        assert time.monotonic() - started < BODY_DEADLINE + OVERSHOOT
        assert _closed_by_client(raw)


# -- out of descriptors at the first use in a thread ----------------------------------

_FIRST_USE_WITHOUT_FDS = textwrap.dedent(
    """
    import errno, os, resource, threading
    import gfetch

    def fill(limit):
        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
        return held

    def first_use(outcome):
        try:
            gfetch.map(["http://127.0.0.1:9/"], return_exceptions=True)
            outcome.append("ok")
        except BaseException as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    def in_new_thread():
        outcome = []
        thread = threading.Thread(target=first_use, args=(outcome,))
        thread.start()
        thread.join(30)
        return outcome[0]

    first_use([])  # imports everything in the main thread, while descriptors remain
    # soft limit reached, hard one higher: gfetch raises the soft limit and goes on
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 512))
    held = fill(256)
    print("soft:", in_new_thread())
    for fd in held:
        os.close(fd)
    # hard limit reached: the advice error, not a bare OSError(24)
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))
    held = fill(512)
    print("hard:", in_new_thread())
    """
)


def test_no_descriptors_for_a_threads_hub_gives_the_advice_error() -> None:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper() and "CA_BUNDLE" not in k}
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_USE_WITHOUT_FDS], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert lines["soft"] == "ok"
    assert lines["hard"].startswith("OSError: [Errno 24] Too many open files: gfetch needs one")
    assert "ulimit -n" in lines["hard"]


# -- deadlines while data pours in ------------------------------------------------------

ENDLESS = pour(head(200, "Content-Length: 100000000000"))  # as fast as the client reads, until it leaves
OVERSHOOT = 0.4  # the bound is 0.2 s plus one read's processing; doubled for a busy shared machine


def _discard_body(response: requests.Response, **kwargs: Any) -> None:
    """A response hook reading the body away, so memory stays flat however much pours in."""
    for _ in response.iter_content(10240):  # as requests reads .content
        pass


@pytest.mark.parametrize("api", ["map", "imap_enumerated"])
def test_gtimeout_holds_while_bodies_pour_in(api: str, session: gfetch.Session) -> None:
    """Reads that never wait still let the gtimeout fire (it took 1.6 to 22 s)."""
    with RawServer(ENDLESS) as raw:
        items = [gfetch.get(raw.url(f"/{i}"), callback=_discard_body) for i in range(4)]
        started = time.monotonic()
        results = _run(api, items, session=session, gtimeout=0.5)
        elapsed = time.monotonic() - started
    assert all(type(result) is gfetch.RequestCancelled for result in results), results
    assert elapsed < 0.5 + OVERSHOOT, f"gtimeout=0.5 returned after {elapsed:.2f} s"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_timeout_fires_while_a_body_pours_in(
    tls: bool, ca: Any, ca_file: str, session: gfetch.Session
) -> None:
    context = server_context(ca.issue_cert("127.0.0.1")) if tls else None
    with RawServer(ENDLESS, tls=context) as raw:
        read = 0
        started = time.monotonic()
        with pytest.raises(gfetch.Timeout):
            with gfetch.Timeout(0.5):
                with session.get(raw.url("/"), stream=True, verify=ca_file) as response:
                    for chunk in response.iter_content(10240):
                        read += len(chunk)
        elapsed = time.monotonic() - started
    assert read > 1 << 20, "the body did not pour in: nothing was tested"
    assert elapsed < 0.5 + OVERSHOOT, f"Timeout(0.5) fired after {elapsed:.2f} s"


def test_a_pouring_body_lets_other_requests_run(server: StdlibServer, session: gfetch.Session) -> None:
    """One endless body in flight; 20 small requests behind it still finish in time."""
    with RawServer(ENDLESS) as raw:
        items: list[Any] = [gfetch.get(raw.url("/"), callback=_discard_body, deadline=2.0)]
        items += [server.url(f"/json?i={i}") for i in range(20)]
        started = time.monotonic()
        got = list(gfetch.imap_enumerated(items, size=2, session=session, return_exceptions=True))
        elapsed = time.monotonic() - started
    assert [index for index, _ in got][-1] == 0
    _check_healthy([value for _, value in sorted(got[:-1], key=lambda entry: entry[0])])
    assert type(got[-1][1]) is gfetch.RequestDeadlineExceeded
    assert elapsed < 2.0 + OVERSHOOT


# -- Ctrl-C, twice ------------------------------------------------------------------------

IN_FLIGHT = 300


@pytest.fixture(scope="module")
def process_server() -> Any:
    """A test server in a child process: its sockets are not this process's fds."""
    with ServerProcess() as srv:
        yield srv


def _live_greenlets() -> list[gfetch.Greenlet]:
    gc.collect()
    hub = gfetch.get_hub()
    return [g for g in gc.get_objects() if isinstance(g, gfetch.Greenlet) and not g.dead and g._hub is hub]


def _interrupt_twice(first_after: float, second: Callable[[], None]) -> None:
    """Ctrl-C into the main greenlet after ``first_after`` s, and again through ``second()``."""

    def press() -> None:
        gfetch.sleep(first_after)
        gfetch.spawn(second)
        raise KeyboardInterrupt

    gfetch.spawn(press)


def _second_press_during_cleanup() -> None:
    gfetch.sleep(0)  # the first press's cleanup has begun: it waits for the workers
    raise KeyboardInterrupt


@pytest.mark.parametrize("api", ["map", "imap_enumerated"])
def test_a_second_ctrl_c_during_cleanup_leaves_nothing_running(api: str, process_server: Any) -> None:
    baseline = open_fds()
    session = gfetch.Session()
    urls = [process_server.url(f"/delay/2?i={i}") for i in range(IN_FLIGHT)]
    _interrupt_twice(0.5, _second_press_during_cleanup)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        if api == "map":
            gfetch.map(urls, size=IN_FLIGHT, session=session)
        else:
            list(gfetch.imap_enumerated(urls, size=IN_FLIGHT, session=session))
    elapsed = time.monotonic() - started
    assert _live_greenlets() == [], "requests left running after the call raised"
    session.close()
    assert open_fds() <= baseline, "sockets left open after Session.close()"
    assert elapsed < 3, f"Ctrl-C took {elapsed:.2f} s to come out of the call"
    assert gfetch.map([process_server.url("/json")])[0].status_code == 200  # gfetch keeps working


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="SIGINT is not Python's default KeyboardInterrupt handler here",
)
# A signal landing in a finalizer (urllib3's pool finalizer, say) is a
# KeyboardInterrupt Python can only report as "unraisable" and drop.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("gap", [0.0, 0.02, 0.1])
def test_two_real_sigints_leave_nothing_running(gap: float, process_server: Any) -> None:
    """Real signals land wherever the interpreter is: in a worker, in the
    hub's loop, in the cleanup. Whatever they hit, nothing is left running."""
    baseline = open_fds()
    session = gfetch.Session()

    def press_twice() -> None:
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(gap)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_twice)
    interrupts = 0
    try:
        presser.start()
        try:
            gfetch.map(
                [process_server.url(f"/delay/2?i={i}") for i in range(IN_FLIGHT)],
                size=IN_FLIGHT,
                session=session,
            )
        except KeyboardInterrupt:
            interrupts += 1
        while presser.is_alive():  # a press may land after the call has returned
            try:
                presser.join(0.01)
            except KeyboardInterrupt:
                interrupts += 1
        time.sleep(0.05)
    except KeyboardInterrupt:
        interrupts += 1
    assert interrupts <= 2  # one per press at most: the call raises once even for two
    assert _live_greenlets() == [], "requests left running after the call raised"
    session.close()
    assert open_fds() <= baseline, "sockets left open after Session.close()"


# -- a signal handler that raises (SIGALRM time limits) -------------------------------------------


def _stalling_server() -> RawServer:
    """``/hold/...`` never answers (until the server stops); ``/ok`` answers at once."""
    return RawServer(route({"hold": hold, "ok": OK_REPLY}))


def _check_gfetch_still_works(raw: RawServer, session: gfetch.Session, transport: str) -> None:
    """Requests in this thread work: the same Session and a new one, an IP literal and a name to resolve."""
    with gfetch.Session(transport=transport) as fresh:
        for sess in (session, fresh):
            for url in (raw.url("/ok"), raw.url("/ok").replace("127.0.0.1", "localhost")):
                assert sess.get(url, timeout=5).content == b"ok"
        assert [r.content for r in gfetch.map([raw.url("/ok")] * 3, session=fresh)] == [b"ok"] * 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_time_limit_raised_by_a_signal_handler_ends_that_request_only(transport: str) -> None:
    """SIGALRM's handler raises while Session.get waits: the exception comes out of
    that call, its connection is closed (not pooled), and gfetch keeps working."""
    with _stalling_server() as raw, gfetch.Session(transport=transport) as session:
        started = time.monotonic()
        with pytest.raises(TimeLimit), time_limit(0.3):
            session.get(raw.url("/hold"), timeout=10)
        assert time.monotonic() - started < 5
        assert _closed_by_client(raw), "the interrupted request's connection stayed open"
        _check_gfetch_still_works(raw, session, transport)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_time_limit_raised_by_a_signal_handler_ends_a_fan_out(transport: str) -> None:
    """The same under map with several requests in flight: map raises it,
    after cancelling every request and closing its connection."""
    with _stalling_server() as raw, gfetch.Session(transport=transport) as session:
        started = time.monotonic()
        with pytest.raises(TimeLimit), time_limit(0.3):
            gfetch.map([raw.url(f"/hold/{i}") for i in range(5)], size=5, session=session, timeout=10)
        assert time.monotonic() - started < 5
        assert _live_greenlets() == [], "requests left running after the call raised"
        assert all(peer.closed_by_client(5) for peer in raw.peers)
        _check_gfetch_still_works(raw, session, transport)
