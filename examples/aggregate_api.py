"""Fan-out API aggregation: several JSON endpoints per item, merged into one record.

For each of 50 users the example needs three answers from an API that is
slow on purpose (50-100 ms each): ``/users/<id>``, ``/users/<id>/orders``
and ``/users/<id>/prefs``. One ``gfetch.map`` call sends all 150 requests,
never more than ``per_host=20`` at once to the API (be kind to other
people's servers), and returns the responses in input order, so merging is a
plain loop. The latencies add up to about 11 s; overlapped they take well
under a second.

A second, optional call asks a recommendations service that sometimes
stalls. ``gtimeout=0.5`` bounds that whole call: whatever has not answered
by then is cancelled (``RequestCancelled``, returned in its place thanks to
``return_exceptions=True``), and those records simply go without.

The two services are tiny stdlib ``ThreadingHTTPServer``\\ s on 127.0.0.1,
started by the example.

Run: python examples/aggregate_api.py
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import gfetch

USERS = 50
PER_HOST = 20
OPTIONAL_GTIMEOUT = 0.5
SLOW_RECOMMENDATIONS = 3.0  # for every 10th user: far beyond the gtimeout


# -- the services (stand-ins for real APIs) ---------------------------------
def api_routes(path: str) -> tuple[float, Any]:
    """(latency, JSON answer) of the user API."""
    match = re.fullmatch(r"/users/(\d+)(/orders|/prefs)?", path)
    if match is None:
        raise KeyError(path)
    uid = int(match.group(1))
    if match.group(2) == "/orders":
        return 0.1, [{"order": uid * 100 + n, "total": round(9.5 * (n + 1), 2)} for n in range(uid % 3)]
    if match.group(2) == "/prefs":
        return 0.075, {"theme": "dark" if uid % 2 else "light", "newsletter": uid % 5 == 0}
    return 0.05, {"id": uid, "name": f"user{uid:02d}", "email": f"user{uid:02d}@example.test"}


def recommendation_routes(path: str) -> tuple[float, Any]:
    """(latency, JSON answer) of the recommendations service: stalls for every 10th user."""
    match = re.fullmatch(r"/recommendations/(\d+)", path)
    if match is None:
        raise KeyError(path)
    uid = int(match.group(1))
    return (SLOW_RECOMMENDATIONS if uid % 10 == 0 else 0.05), [f"item-{(uid * 7 + k) % 97}" for k in range(3)]


class JSONService(ThreadingHTTPServer):
    """A JSON API on 127.0.0.1 with simulated latency; records its peak concurrency."""

    daemon_threads = True  # a stalled handler must not hold up the exit
    request_queue_size = 128  # listen() backlog; the default 5 drops SYNs under fan-out (1 s retry)

    def __init__(self, routes: Callable[[str], tuple[float, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.lock = threading.Lock()
        self.in_flight = self.peak = 0
        self.total_latency = 0.0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: JSONService
    protocol_version = "HTTP/1.1"  # keep-alive, so gfetch reuses connections
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on loopback

    def do_GET(self) -> None:
        service = self.server
        with service.lock:
            service.in_flight += 1
            service.peak = max(service.peak, service.in_flight)
        try:
            latency, data = service.routes(self.path)
            status, body = 200, json.dumps(data).encode()
            time.sleep(latency)
            with service.lock:
                service.total_latency += latency
        except KeyError:
            status, body = 404, b'{"error": "not found"}'
        finally:
            with service.lock:
                service.in_flight -= 1
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on us (gtimeout): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the example's output readable


@contextmanager
def running(service: JSONService) -> Iterator[JSONService]:
    thread = threading.Thread(target=service.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.shutdown()
        service.server_close()


# -- the client ---------------------------------------------------------------
def fetch_core(api: JSONService, session: gfetch.Session) -> dict[int, dict[str, Any]]:
    """Profile, orders and prefs of every user, merged per user."""
    parts = ("", "/orders", "/prefs")
    wanted = [(uid, part) for uid in range(USERS) for part in parts]
    start = time.perf_counter()
    responses = gfetch.map(
        [api.url(f"/users/{uid}{part}") for uid, part in wanted],
        size=100,  # in flight in all...
        per_host=PER_HOST,  # ...but at most this many to any one host
        gtimeout=10,  # a safety net for the whole call
        return_exceptions=True,
        session=session,
    )
    elapsed = time.perf_counter() - start
    records: dict[int, dict[str, Any]] = {uid: {} for uid in range(USERS)}
    for (uid, part), response in zip(wanted, responses, strict=True):
        record = records[uid]
        if isinstance(response, Exception):
            record.setdefault("errors", []).append(f"{part or 'profile'}: {response!r}")
        elif part == "":
            record.update(response.json())
        else:
            record[part.strip("/")] = response.json()
    print(
        f"core: {len(wanted)} requests ({len(parts)} per user) in {elapsed:.2f} s; "
        f"their latencies add up to {api.total_latency:.2f} s ({api.total_latency / elapsed:.0f}x overlap)"
    )
    print(f"peak requests in flight at the API: {api.peak} (per_host={PER_HOST})")
    return records


def add_recommendations(
    records: dict[int, dict[str, Any]], recs: JSONService, session: gfetch.Session
) -> None:
    """Best effort: whatever answers within the gtimeout."""
    start = time.perf_counter()
    results = gfetch.map(
        [recs.url(f"/recommendations/{uid}") for uid in records],
        per_host=PER_HOST,
        gtimeout=OPTIONAL_GTIMEOUT,
        return_exceptions=True,
        session=session,
    )
    elapsed = time.perf_counter() - start
    cancelled = []
    for uid, result in zip(records, results, strict=True):
        if isinstance(result, gfetch.RequestCancelled):
            cancelled.append(uid)
            records[uid]["recommendations"] = None
        elif isinstance(result, Exception):
            records[uid]["recommendations"] = None
            records[uid].setdefault("errors", []).append(f"recommendations: {result!r}")
        else:
            records[uid]["recommendations"] = result.json()
    print(
        f"optional: {len(records) - len(cancelled)} recommendations in time, {len(cancelled)} cancelled "
        f"by gtimeout={OPTIONAL_GTIMEOUT} s (users {', '.join(map(str, cancelled))}); took {elapsed:.2f} s"
    )


def main() -> None:
    with running(JSONService(api_routes)) as api, running(JSONService(recommendation_routes)) as recs:
        with gfetch.Session() as session:
            records = fetch_core(api, session)
            add_recommendations(records, recs, session)
    complete = sum(1 for r in records.values() if "errors" not in r and {"orders", "prefs"} <= r.keys())
    print(f"merged {len(records)} records, {complete} complete; e.g.:")
    for uid in (7, 10):
        print("  " + json.dumps(records[uid]))


if __name__ == "__main__":
    main()
