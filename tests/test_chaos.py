"""The chaos run: a seeded random mix of misbehaving servers, fetched at once.

Every item of a fan-out gets one of ``BEHAVIOURS`` at random (seeded), all
served by one scripted raw server (``gfetch.testing.raw.route`` picks the behaviour
from the path). Three runs must each:

* report every index exactly once;
* fail each faulty item with the class plain requests raises for that fault
  (asked of requests itself, one fetch per behaviour), or with
  RequestDeadlineExceeded for the trickle, which only a deadline can end;
* deliver each healthy item its own response: the healthy behaviours name
  the request (``X-Id``) and start the body with it, and one of them keeps
  its connection open and serves the next request sent on it, whatever
  that one's behaviour, so connections are reused in the mix;
* return within a wall-time bound computed from the timeouts (below);
* leave no fd open after ``Session.close()`` and the server's stop;
* keep RSS flat: after the third run within ``RSS_GROWTH`` of the first.

The default suite runs three runs of 100 items (about 3 s each); the
``slow`` test three runs of 3,334 (10,002 items).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import gzip
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import open_fds

import gfetch
from gfetch.testing.raw import Behaviour, Peer, RawServer, head, reset, route, script, send, stall, trickle

READ_TIMEOUT = 0.5  # a stall ends with ReadTimeout after this
DEADLINE = 1.5  # a trickle (a byte every 0.1 s) ends with RequestDeadlineExceeded after this
TIMEOUT = (5.0, READ_TIMEOUT)
BIG = 10 * 1024 * 1024
RSS_GROWTH = 20 * 1024 * 1024  # RSS after the third run, over RSS after the first (~2 MiB measured)
SEED = 16
MAX_REDIRECTS = 10  # requests' 30 would only make the redirect loops slower (a connection each)

_BOMB = gzip.compress(b"\0" * BIG)  # ~10 KiB that decode to 10 MiB
CLOSE = "Connection: close"


def request_id(peer: Peer) -> bytes:
    """The id of the request being answered: its path, ``/<behaviour>/<index>``."""
    return peer.head.split(b" ", 2)[1]


def _named(peer: Peer, *lines: str) -> bytes:
    """A 200 response head naming the request it answers (X-Id), with ``lines``."""
    return head(200, f"X-Id: {request_id(peer).decode()}", *lines)


def _ok(peer: Peer) -> None:
    ident = request_id(peer)
    peer.send(_named(peer, f"Content-Length: {len(ident)}", CLOSE) + ident)


def _ok_keep_alive(peer: Peer) -> None:
    """Answer and keep the connection: the requests that come next on it are served by their own paths."""
    for _ in range(1000):
        ident = request_id(peer)
        if not ident.startswith(b"/ok-keep-alive/"):
            ROUTE(peer)
            return
        peer.send(_named(peer, f"Content-Length: {len(ident)}") + ident)
        peer.head = peer.read_head()
        if not peer.head:
            return


def _big_body(peer: Peer) -> None:
    ident = request_id(peer)
    peer.send(_named(peer, f"Content-Length: {len(ident) + BIG}", CLOSE) + ident)
    peer.pour(total=BIG)


def _gzip_bomb(peer: Peer) -> None:
    """~10 KiB that decode to the request's id and 10 MiB of zeros (two gzip members)."""
    body = gzip.compress(request_id(peer)) + _BOMB
    peer.send(_named(peer, "Content-Encoding: gzip", f"Content-Length: {len(body)}", CLOSE) + body)


# name -> (behaviour, what a success looks like: a body of the request's id and this many
# more bytes; None if it must fail)
BEHAVIOURS: dict[str, tuple[Behaviour, int | None]] = {
    "ok": (_ok, 0),
    "ok-keep-alive": (_ok_keep_alive, 0),
    "reset-before-reply": (reset, None),
    "reset-in-headers": (script(send(b"HTTP/1.1 200 OK\r\nContent-Le"), reset), None),
    "reset-mid-body": (script(send(head(200, "Content-Length: 100000") + b"x" * 1000), reset), None),
    "closed-before-reply": (script(), None),
    "garbage-status-line": (send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"), None),
    "truncated-body": (send(head(200, "Content-Length: 100", CLOSE) + b"x" * 10), None),
    "bad-chunking": (send(head(200, "Transfer-Encoding: chunked", CLOSE) + b"zz\r\nhello\r\n"), None),
    "stall": (stall, None),
    "trickle": (trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000, 0.1), None),
    "redirect-loop": (send(head(302, "Location: /redirect-loop/again", "Content-Length: 0", CLOSE)), None),
    "10MB-body": (_big_body, BIG),
    "gzip-bomb": (_gzip_bomb, BIG),
    "70KB-header-line": (send(head(200, "X-Big: " + "a" * 70_000, "Content-Length: 0", CLOSE)), None),
    "10000-headers": (send(head(200, *[f"X-{i}: {i}" for i in range(10_000)], CLOSE)), None),
}
ONLY_A_DEADLINE_ENDS = {"trickle"}  # plain requests would wait for it for 100 s
ROUTE = route({name: behaviour for name, (behaviour, _) in BEHAVIOURS.items()})


@pytest.fixture(scope="module")
def chaos_server() -> Iterator[RawServer]:
    with RawServer(ROUTE, keep_peers=False) as server:
        yield server


def _url(server: RawServer, name: str, index: int) -> str:
    return server.url(f"/{name}/{index}")


@pytest.fixture(scope="module")
def expected(chaos_server: RawServer) -> dict[str, type]:
    """What plain requests gives for each behaviour: the Response or the exception class."""
    classes: dict[str, type] = {}
    with requests.Session() as session:
        session.trust_env = False
        session.max_redirects = MAX_REDIRECTS
        for name in BEHAVIOURS:
            if name in ONLY_A_DEADLINE_ENDS:
                classes[name] = gfetch.RequestDeadlineExceeded
                continue
            try:
                session.get(_url(chaos_server, name, -1), timeout=TIMEOUT).close()
                classes[name] = requests.Response
            except requests.RequestException as exc:
                classes[name] = type(exc)
    return classes


def test_requests_own_answers_are_faults(expected: dict[str, type]) -> None:
    """The reference itself: only the healthy behaviours succeed under requests."""
    succeed = {name for name, (_, length) in BEHAVIOURS.items() if length is not None}
    assert {name for name, cls in expected.items() if cls is requests.Response} == succeed
    assert expected["stall"] is requests.exceptions.ReadTimeout
    assert expected["redirect-loop"] is requests.TooManyRedirects


def _mix(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = list(BEHAVIOURS)
    return [rng.choice(names) for _ in range(count)]


# Seconds of CPU one item may cost, client and (in-process) server together,
# on a busy 2-core machine (about twice what a quiet one needs): 10 MiB to
# send, receive or decode; ten connections for a redirect loop. Serialised
# stalls and trickles would still blow the bound several times over.
WORK = {"10MB-body": 0.2, "gzip-bomb": 0.2, "redirect-loop": 0.1}
WORK_DEFAULT = 0.02


def _wall_bound(mix: list[str], size: int) -> float:
    """Seconds a run may take: the waits the timeouts allow, spread over
    ``size`` in flight, plus the longest single wait, plus the CPU work
    (serial: one process), plus 5 s of slack."""
    counts = Counter(mix)
    waits = counts["stall"] * READ_TIMEOUT + counts["trickle"] * DEADLINE
    work = sum(WORK.get(name, WORK_DEFAULT) * count for name, count in counts.items())
    return waits / size + DEADLINE + work + 5.0


def _rss() -> int:
    """Resident memory now, once the run's garbage is collected and glibc has
    handed its free heap back (10 MiB bodies otherwise leave it fragmented)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def _check(name: str, index: int, value: Any, expected: dict[str, type]) -> None:
    """The item's outcome is what requests gives; a response is the item's own (its id, its body)."""
    want = expected[name]
    assert type(value) is want or (want is requests.Response and isinstance(value, requests.Response)), (
        f"{name}: expected {want.__name__}, got {value!r}"
    )
    length = BEHAVIOURS[name][1]
    if length is not None:
        ident = f"/{name}/{index}"
        body = value.content
        assert value.headers.get("X-Id") == ident, f"{ident} got the response to {value.headers.get('X-Id')}"
        assert (body[: len(ident)], len(body)) == (ident.encode(), len(ident) + length), (
            f"{ident}: a body of {len(body)} bytes starting {body[:40]!r}"
        )
        value.close()


def _run(api: str, mix: list[str], server: RawServer, size: int, expected: dict[str, type]) -> dict[str, Any]:
    """One chaos run; every result is checked as it arrives and dropped."""
    items = [
        gfetch.get(_url(server, name, i), deadline=DEADLINE if name in ONLY_A_DEADLINE_ENDS else None)
        for i, name in enumerate(mix)
    ]
    seen: Counter[int] = Counter()
    with gfetch.Session() as session:
        session.trust_env = False
        session.max_redirects = MAX_REDIRECTS
        options: dict[str, Any] = {
            "size": size,
            "session": session,
            "timeout": TIMEOUT,
            "return_exceptions": True,
        }
        started = time.monotonic()
        results: Iterator[tuple[int, Any]]
        if api == "map":
            results = enumerate(gfetch.map(items, **options))
        else:
            results = gfetch.imap_enumerated(items, **options)
        for index, value in results:
            seen[index] += 1
            _check(mix[index], index, value, expected)
        elapsed = time.monotonic() - started
    assert sorted(seen) == list(range(len(mix))), "an index is missing"
    assert set(seen.values()) == {1}, "an index was reported twice"
    bound = _wall_bound(mix, size)
    return {"api": api, "items": len(mix), "seconds": round(elapsed, 2), "bound": round(bound, 2)}


def _chaos(
    count: int,
    size: int,
    apis: list[str],
    server: RawServer,
    expected: dict[str, type],
    report: Callable[[str], None],
) -> None:
    baseline = open_fds()
    rss = []
    for run, api in enumerate(apis):
        mix = _mix(count, SEED + run)
        figures = _run(api, mix, server, size, expected)
        assert figures["seconds"] < figures["bound"], figures
        rss.append(_rss())
        report(f"chaos {figures}, RSS {rss[-1] / 2**20:.1f} MiB")
    assert rss[2] - rss[0] < RSS_GROWTH, f"RSS grew by {(rss[2] - rss[0]) / 2**20:.1f} MiB over three runs"
    deadline = time.monotonic() + 10  # the server's threads close their side as they notice
    while open_fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= baseline, "descriptors left open after Session.close()"


def test_chaos_small(chaos_server: RawServer, expected: dict[str, type]) -> None:
    _chaos(100, 50, ["map", "imap_enumerated", "map"], chaos_server, expected, print)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_chaos_10000(chaos_server: RawServer, expected: dict[str, type]) -> None:
    """10,002 items in three runs; imap_enumerated only, as map would keep
    every 10 MiB body (gigabytes) until it returns."""
    _chaos(3_334, 100, ["imap_enumerated"] * 3, chaos_server, expected, print)
