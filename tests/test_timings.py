"""Per-phase timings (``response.timings``) and trace events (``Session(trace=...)``).

Servers: http.server (tests/_stdlibserver.py) and a TLS server with a trustme
certificate for ``localhost``; scripted raw sockets for slow and trickling
replies. Bounds are generous: they tell phases apart, they do not time them.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import pytest
import requests
import trustme
from _servers import HTTPSServer

import gfetch
from gfetch.core.timings import PHASES, Timings
from gfetch.testing.raw import Peer, RawServer, head, keep_alive

pytestmark = pytest.mark.usefixtures("own_transport")  # gfetch's own pool unless a test says otherwise

CONNECT_PHASES = ("dns", "connect", "ssl")


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA):
    with HTTPSServer(ca.issue_cert("localhost", "127.0.0.1")) as srv:
        yield srv


def _timed_get(session: requests.Session, url: str, **kwargs: Any) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    response = session.get(url, timeout=10, **kwargs)
    return response, time.perf_counter() - started


def test_a_fresh_https_connection_to_localhost_has_every_phase(tls_server: Any, ca_file: str) -> None:
    url = tls_server.url("/json", host="localhost")
    with gfetch.Session() as session:
        session.verify = ca_file
        first, elapsed = _timed_get(session, url)
        again, _ = _timed_get(session, url)
    timings = first.timings
    assert isinstance(timings, Timings) and not timings.reused
    assert all(getattr(timings, phase) is not None and getattr(timings, phase) >= 0 for phase in PHASES)
    assert timings.total <= elapsed
    assert again.timings.reused
    assert [getattr(again.timings, phase) for phase in CONNECT_PHASES] == [None, None, None]
    assert again.timings.wait is not None and again.timings.receive is not None


def test_an_ip_address_needs_no_dns_and_plain_http_no_tls(server: Any) -> None:
    with gfetch.Session() as session:
        response = session.get(server.url("/json"), timeout=10)
    assert (response.timings.dns, response.timings.ssl) == (None, None)
    assert response.timings.connect is not None and response.timings.connect >= 0


def test_redirect_hops_keep_their_own_timings(server: Any) -> None:
    with gfetch.Session() as session:
        response = session.get(server.url("/redirect/2"), timeout=10)
    hops = [*response.history, response]
    assert len(hops) == 3 and len({id(hop.timings) for hop in hops}) == 3
    assert all(hop.timings.wait is not None for hop in hops)


def _slow_server(behaviour: Any) -> RawServer:
    return RawServer(keep_alive(behaviour), read_head=False)


def test_a_slow_server_shows_in_wait_and_a_trickle_in_receive() -> None:
    def reply(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        if b" /slow " in request:
            peer.hold(0.4)
            return head(200, "Content-Length: 2") + b"ok", False
        peer.send(head(200, "Content-Length: 4"))
        peer.trickle(b"abcd", 0.1)
        return b"", False

    with _slow_server(reply) as server, gfetch.Session() as session:
        slow = session.get(server.url("/slow"), timeout=10)
        trickled = session.get(server.url("/trickle"), timeout=10)
    assert slow.timings.wait >= 0.35 and slow.timings.receive < 0.2
    assert trickled.timings.receive >= 0.3 and trickled.timings.wait < 0.2


def test_receive_of_a_streamed_body_waits_for_the_body(server: Any) -> None:
    with gfetch.Session() as session:
        response = session.get(server.url("/bytes/100000"), stream=True, timeout=10)
        assert response.timings.receive is None  # not read yet
        assert len(response.content) == 100000
    assert response.timings.receive is not None


def test_blocked_grows_when_per_host_makes_requests_queue(server: Any) -> None:
    urls = [server.url(f"/delay/0.1?n={n}") for n in range(4)]
    with gfetch.Session() as session:
        responses = gfetch.map(urls, size=4, per_host=1, session=session)
    blocked = sorted(response.timings.blocked for response in responses)
    assert blocked[0] < 0.05
    assert all(later >= 0.08 * (rank) for rank, later in enumerate(blocked))


def test_the_urllib3_path_measures_what_it_can(server: Any) -> None:
    with gfetch.Session(transport="urllib3") as session:
        first = session.get(server.url("/json"), timeout=10)
        again = session.get(server.url("/json"), timeout=10)
    assert first.timings.connect is not None and first.timings.wait is not None and not first.timings.reused
    assert (first.timings.blocked, first.timings.send, first.timings.receive) == (None, None, None)
    assert again.timings.reused and again.timings.connect is None


# -- trace events ---------------------------------------------------------------------


LIFECYCLE = [
    "request.queued",
    "request.started",
    "connection.acquired",
    "request.sent",
    "response.headers",
    "response.complete",
    "request.returned",
]


def test_events_arrive_in_order_for_each_request_under_map(server: Any) -> None:
    events: defaultdict[int, list[str]] = defaultdict(list)
    records: list[dict[str, Any]] = []

    def hook(event: str, record: dict[str, Any]) -> None:
        events[record["request"]].append(event)
        records.append(record)

    urls = [server.url(f"/delay/0.2?n={n}") for n in range(100)]
    with gfetch.Session(trace=hook) as session:
        responses = gfetch.map(urls, size=100, session=session)
    assert [r.status_code for r in responses] == [200] * 100
    assert len(events) == 100
    for sequence in events.values():
        without_connect = [e for e in sequence if not e.startswith("connect.")]
        assert without_connect == LIFECYCLE, sequence
        assert sequence.count("connect.started") == sequence.count("connect.complete") <= 1
    by_request: dict[int, set[str]] = defaultdict(set)
    for record in records:
        by_request[record["request"]].add(record["url"])
    assert sorted(url for urls_seen in by_request.values() for url in urls_seen) == sorted(urls)


def test_dns_and_tls_events_on_a_new_https_connection(tls_server: Any, ca_file: str) -> None:
    seen: list[str] = []
    with gfetch.Session(trace=lambda event, record: seen.append(event)) as session:
        session.verify = ca_file
        session.get(tls_server.url("/json", host="localhost"), timeout=10)
    assert seen == [
        "request.started",
        "connection.acquired",
        "dns.started",
        "dns.complete",
        "connect.started",
        "connect.complete",
        "tls.started",
        "tls.complete",
        "request.sent",
        "response.headers",
        "response.complete",
        "request.returned",
    ]


def test_retries_failures_and_deadlines_are_events(server: Any) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with gfetch.Session(trace=lambda event, record: seen.append((event, record))) as session:
        gfetch.map([server.url("/flaky/1?key=timings-events")], retries=1, session=session)
        gfetch.map([server.url("/delay/2")], deadline=0.2, session=session)
    names = [event for event, _ in seen]
    (retry,) = [record for event, record in seen if event == "retry.scheduled"]
    assert retry["attempt"] == 1 and retry["wait"] >= 0 and retry["status"] == 503
    assert names[-2:] == ["deadline.expired", "request.failed"]
    assert isinstance(seen[-1][1]["error"], gfetch.RequestDeadlineExceeded)


def test_a_failed_request_outside_a_fan_out_is_an_event() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with gfetch.Session(trace=lambda event, record: seen.append((event, record))) as session:
        with pytest.raises(requests.ConnectionError):
            session.get("http://127.0.0.1:1/", timeout=5)
    assert seen[0][0] == "request.started" and seen[-1][0] == "request.failed"
    assert isinstance(seen[-1][1]["error"], requests.ConnectionError)


def test_the_last_event_carries_the_response_and_a_streamed_body_ends_after_it(server: Any) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    with gfetch.Session(trace=lambda event, record: seen.append((event, record))) as session:
        response = session.get(server.url("/json"), timeout=10, stream=True)
        assert seen[-1][0] == "request.returned" and seen[-1][1]["response"] is response
        (started,) = [record for event, record in seen if event == "request.started"]
        assert started["prepared"] is response.request and started["headers"] is response.request.headers
        response.content  # noqa: B018 - read the body now
        (mapped,) = gfetch.map([server.url("/json")], session=session)
    assert seen[-1] == ("request.returned", seen[-1][1]) and seen[-1][1]["response"] is mapped
    names = [event for event, _ in seen]
    assert names.count("request.returned") == 2
    assert names.index("request.returned") < names.index("response.complete")  # the streamed body's


def test_a_killed_request_ends_in_a_failure_event(server: Any) -> None:
    """Every traced request ends in request.returned or request.failed, a cancelled one too."""
    seen: list[tuple[str, dict[str, Any]]] = []
    with gfetch.Session(trace=lambda event, record: seen.append((event, record))) as session:
        job = gfetch.spawn(session.get, server.url("/delay/1"), timeout=10)
        gfetch.sleep(0.2)
        job.kill()
        results = gfetch.map([server.url("/delay/1")], gtimeout=0.2, session=session, return_exceptions=True)
    assert isinstance(results[0], gfetch.RequestCancelled)
    (killed, cancelled) = [record["error"] for event, record in seen if event == "request.failed"]
    assert isinstance(killed, gfetch.GreenletExit)  # what ended session.get
    assert isinstance(cancelled, gfetch.RequestCancelled)  # what the fan-out's caller gets
    assert len({record["request"] for _, record in seen}) == 2
    assert "request.returned" not in [event for event, _ in seen]


def test_a_raising_hook_breaks_nothing(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    def hook(event: str, record: dict[str, Any]) -> None:
        raise RuntimeError(f"hook bug on {event}")

    with caplog.at_level(logging.WARNING, logger="gfetch"), gfetch.Session(trace=hook) as session:
        response = session.get(server.url("/json"), timeout=10)
        mapped = gfetch.map([server.url("/json")] * 3, session=session)
    assert response.status_code == 200 and [r.status_code for r in mapped] == [200] * 3
    warnings = [r for r in caplog.records if r.name == "gfetch" and "trace hook" in r.getMessage()]
    assert warnings and all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in warnings)
    caplog.clear()


def test_the_started_event_may_add_headers(server: Any) -> None:
    """How a tracer injects its context (a traceparent) into each request."""

    def hook(event: str, record: dict[str, Any]) -> None:
        if event == "request.started":
            record["headers"]["X-Trace"] = f"t-{record['request']}"

    with gfetch.Session(trace=hook) as session:
        echoed = session.get(server.url("/echo"), timeout=10).json()
    assert echoed["headers"]["x-trace"].startswith("t-")
