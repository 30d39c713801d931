"""gfetch against its peers, in one run, against local servers it starts itself.

Hand-run, never part of the tests. Set up the peers first (a separate venv;
they are never gfetch dependencies)::

    bash benchmarks/setup_peers.sh                        # /tmp/gfetch-bench
    /tmp/gfetch-bench/bin/python benchmarks/compare.py    # full run, a few minutes
    /tmp/gfetch-bench/bin/python benchmarks/compare.py --quick --clients gfetch,grequests
    /tmp/gfetch-bench/bin/python benchmarks/compare.py --clients gfetch --scenarios throughput --profile

Servers (servers.py): nginx (generated config, one worker, keep-alive) for the
static files when the binary exists, else a built-in asyncio keep-alive server;
the built-in server always answers ``/delay/<ms>``. The HTTPS scenarios need
nginx and trustme (a CA made for the run, which every client verifies the
server against). Each client x scenario runs in
a fresh subprocess (``--worker``), so gevent's monkey-patching cannot leak
into the others and peak RSS is that client's alone. The child times only the
fetching (imports and setup excluded, one warm-up request included in setup)
and reports wall time, CPU time (user + sys, all threads) and peak RSS
(VmHWM). Ratios are to aiohttp (×a), grequests (×g) and pycurl (×c): per
round, the ratio of the two runs in that round; over rounds, their median.
"""

from __future__ import annotations

# Discussion: a worker child imports this module before grequests runs
# gevent's patch_all(), so the top level imports nothing that pulls in ssl
# (asyncio does): gevent warns, and patches badly, when ssl came first.
import argparse
import contextlib
import datetime
import functools
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import published
from servers import listen_overflows, raise_fd_limit, server_label, servers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TIMEOUT = 60.0  # seconds, per request, for every client
# The clients every other is compared with, and the marks of their ratio columns:
# the JSON has all three, the printed tables the ratios to aiohttp and pycurl.
PEERS = {"aiohttp": "×a", "grequests": "×g", "pycurl": "×c"}
SHOWN = {peer: PEERS[peer] for peer in ("aiohttp", "pycurl")}
HIGHLIGHTED = "gfetch"  # the client whose per-round ratios are printed below each table


# -- scenarios and clients --------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """One workload: ``n`` GETs of ``path`` on the ``server``, ``concurrency`` in flight."""

    name: str
    server: str  # a key of servers.servers()' urls: "static", "delay", "https" or "https_cold"
    path: str
    n: int
    concurrency: int | None  # None: all in flight
    quick_n: int
    sample: int  # how many the sequential client really sends (0: skipped)
    description: str

    def sized(self, quick: bool) -> tuple[int, int]:
        """``(n, concurrency)`` for a full or a quick run."""
        n = self.quick_n if quick else self.n
        return n, min(n, self.concurrency or n)


SCENARIOS = {
    s.name: s
    for s in [
        Scenario(
            "throughput",
            "static",
            "/small.json",
            5000,
            50,
            500,
            500,
            "GETs of a 200-byte JSON file, keep-alive: CPU per request",
        ),
        Scenario(
            "fanout",
            "delay",
            "/delay/200",
            5000,
            None,
            500,
            10,
            "GETs each answered after 200 ms, all in flight: wall ~ 0.2 s + N x CPU",
        ),
        Scenario(
            "memory",
            "delay",
            "/delay/2000",
            5000,
            None,
            500,
            0,
            "GETs held 2 s by the server, all in flight, responses kept: peak RSS",
        ),
        Scenario(
            "large",
            "static",
            "/large.bin",
            500,
            20,
            100,
            100,
            "GETs of a 64 KiB file, keep-alive: body handling",
        ),
        Scenario(
            "https",
            "https",
            "/small.json",
            5000,
            50,
            500,
            500,
            "GETs of the 200-byte JSON file over HTTPS (TLS 1.3), keep-alive: CPU per request",
        ),
        Scenario(
            "https_cold",
            "https_cold",
            "/small.json",
            1000,
            None,
            100,
            100,
            "HTTPS GETs of the 200-byte JSON file, all in flight, the server closing each connection: "
            "a full TLS handshake per request",
        ),
    ]
}

# run(urls, concurrency, timeout, ca): ca is the CA file to verify an HTTPS server with (None over HTTP).
Runner = Callable[[list[str], int, float, "str | None"], list[Any]]


def _safe(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(...)``, or the exception it raised: a failure is a result, not an abort."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - counted as an error by tally()
        return exc


# Discussion: the requests-based clients take the CA as each request's ``verify=``:
# a Session's ``verify`` loses to REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE when those
# are set (requests' merge_environment_settings), a request's does not.
def _requests_session(concurrency: int) -> Any:
    """A requests.Session keeping ``concurrency`` connections to one host (HTTP or HTTPS)."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
    return session


def run_sequential(urls: list[str], concurrency: int, timeout: float, ca: str | None) -> list[Any]:
    session = _requests_session(1)
    return [_safe(session.get, url, timeout=timeout, verify=ca or True) for url in urls]


def run_threads(urls: list[str], concurrency: int, timeout: float, ca: str | None) -> list[Any]:
    from concurrent.futures import ThreadPoolExecutor

    session = _requests_session(concurrency)
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda url: _safe(session.get, url, timeout=timeout, verify=ca or True), urls))


def run_requests_futures(urls: list[str], concurrency: int, timeout: float, ca: str | None) -> list[Any]:
    from requests_futures.sessions import FuturesSession

    with FuturesSession(max_workers=concurrency) as session:
        futures = [session.get(url, timeout=timeout, verify=ca or True) for url in urls]
        return [_safe(future.result) for future in futures]


def run_grequests(
    urls: list[str], concurrency: int, timeout: float, ca: str | None, shared: bool = True
) -> list[Any]:
    import grequests  # runs gevent.monkey.patch_all()

    session = _requests_session(concurrency) if shared else None
    return grequests.map(
        [
            grequests.get(url, session=session, timeout=timeout, verify=ca or True)  # type: ignore[no-any-return]
            for url in urls
        ],
        size=concurrency,
    )


def run_gfetch(
    urls: list[str], concurrency: int, timeout: float, ca: str | None, transport: str | None = None
) -> list[Any]:
    import gfetch

    # The default Session, or one like it (1,000 keep-alive connections per host) on another transport.
    session = gfetch.Session(pool_maxsize=1000, transport=transport) if transport else None
    requests = [gfetch.get(url, verify=ca) for url in urls] if ca else urls
    return gfetch.map(requests, size=concurrency, timeout=timeout, session=session)


async def _bounded(urls: list[str], concurrency: int, fetch: Callable[[str], Any]) -> list[Any]:
    """``await fetch(url)`` for every url, ``concurrency`` coroutines at a time."""
    import asyncio

    results: list[Any] = [None] * len(urls)
    pending = iter(range(len(urls)))

    async def worker() -> None:
        for index in pending:
            try:
                results[index] = await fetch(urls[index])
            except Exception as exc:  # noqa: BLE001 - counted as an error by tally()
                results[index] = exc

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def _ssl_context(ca: str | None) -> Any:
    """An SSLContext trusting ``ca`` for the asyncio clients, or True (their default) over HTTP."""
    import ssl

    return ssl.create_default_context(cafile=ca) if ca else True


def run_httpx(urls: list[str], concurrency: int, timeout: float, ca: str | None) -> list[Any]:
    import asyncio

    import httpx

    async def main() -> list[Any]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=timeout, verify=_ssl_context(ca)) as client:
            return await _bounded(urls, concurrency, client.get)

    return asyncio.run(main())


def run_aiohttp(urls: list[str], concurrency: int, timeout: float, ca: str | None) -> list[Any]:
    import asyncio

    import aiohttp

    async def main() -> list[Any]:
        connector = aiohttp.TCPConnector(limit=concurrency, ssl=_ssl_context(ca))
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as session:

            async def fetch(url: str) -> tuple[Any, bytes]:
                async with session.get(url) as response:
                    return response, await response.read()

            return await _bounded(urls, concurrency, fetch)

    return asyncio.run(main())


class Fetched:
    """What the pycurl client keeps of a response: its status and body (libcurl parses the rest in C)."""

    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content


def run_pycurl(urls: list[str], concurrency: int, timeout: float, ca: str | None) -> list[Any]:
    """libcurl's multi interface, the C anchor: ``concurrency`` easy handles, each given the next URL when
    its transfer ends; libcurl does the I/O, HTTP and TLS, Python only waits (epoll, ``socket_action``)."""
    import select
    from io import BytesIO

    import pycurl

    results: list[Any] = [None] * len(urls)
    pending = iter(range(len(urls)))
    poller, registered = select.epoll(), set[int]()
    deadline: list[float | None] = [None]  # when libcurl's timer wants socket_action(SOCKET_TIMEOUT)
    interest = {
        pycurl.POLL_IN: select.EPOLLIN,
        pycurl.POLL_OUT: select.EPOLLOUT,
        pycurl.POLL_INOUT: select.EPOLLIN | select.EPOLLOUT,
    }

    def on_socket(what: int, fd: int, multi: Any, data: Any) -> None:
        if what == pycurl.POLL_REMOVE:
            if fd in registered:
                registered.remove(fd)
                poller.unregister(fd)
        elif fd in registered:
            poller.modify(fd, interest[what])
        else:
            registered.add(fd)
            poller.register(fd, interest[what])

    def on_timer(ms: int) -> None:
        deadline[0] = None if ms < 0 else time.monotonic() + ms / 1000

    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_SOCKETFUNCTION, on_socket)
    multi.setopt(pycurl.M_TIMERFUNCTION, on_timer)
    multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, concurrency)
    multi.setopt(pycurl.M_MAXCONNECTS, concurrency)

    def start(handle: Any) -> bool:
        """Give ``handle`` the next URL and a new body buffer; False when none is left."""
        index = next(pending, None)
        if index is None:
            return False
        handle.index, handle.body = index, BytesIO()
        handle.setopt(pycurl.URL, urls[index])
        handle.setopt(pycurl.WRITEDATA, handle.body)
        multi.add_handle(handle)
        return True

    handles = [pycurl.Curl() for _ in range(min(concurrency, len(urls)))]
    try:
        for handle in handles:
            handle.setopt(pycurl.NOSIGNAL, 1)
            handle.setopt(pycurl.TIMEOUT_MS, int(timeout * 1000))
            handle.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
            if ca:
                handle.setopt(pycurl.CAINFO, ca)
            start(handle)
        active = len(handles)
        while active:
            wait = 1.0 if deadline[0] is None else min(1.0, max(0.0, deadline[0] - time.monotonic()))
            for fd, events in poller.poll(wait):
                multi.socket_action(
                    fd,
                    (pycurl.CSELECT_IN if events & select.EPOLLIN else 0)
                    | (pycurl.CSELECT_OUT if events & select.EPOLLOUT else 0),
                )
            if deadline[0] is not None and time.monotonic() >= deadline[0]:
                deadline[0] = None
                multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
            while True:
                queued, done, failed = multi.info_read()
                for handle in done:
                    status = handle.getinfo(pycurl.RESPONSE_CODE)
                    results[handle.index] = Fetched(status, handle.body.getvalue())
                for handle, errno, message in failed:
                    results[handle.index] = pycurl.error(errno, message)
                for handle in [*done, *(f[0] for f in failed)]:
                    multi.remove_handle(handle)
                    active -= not start(handle)
                if not queued:
                    break
    finally:
        for handle in handles:
            handle.close()
        multi.close()
        poller.close()
    return results


@dataclass(frozen=True)
class Client:
    """A way to fetch URLs concurrently; ``module`` must be importable to run it."""

    name: str
    module: str
    run: Runner
    description: str


CLIENTS = {
    c.name: c
    for c in [
        Client("sequential", "requests", run_sequential, "requests.Session, one at a time (sampled)"),
        Client("threads", "requests", run_threads, "ThreadPoolExecutor(concurrency) + one requests.Session"),
        Client("grequests", "grequests", run_grequests, "grequests.map(size=concurrency), shared Session"),
        Client(
            "grequests-default",
            "grequests",
            functools.partial(run_grequests, shared=False),
            "grequests.map(size=concurrency), a new Session per request (its default)",
        ),
        Client(
            "requests-futures",
            "requests_futures",
            run_requests_futures,
            "FuturesSession(max_workers=concurrency)",
        ),
        Client("httpx", "httpx", run_httpx, "httpx.AsyncClient, asyncio"),
        Client("aiohttp", "aiohttp", run_aiohttp, "aiohttp.ClientSession, asyncio"),
        Client("pycurl", "pycurl", run_pycurl, "pycurl.CurlMulti (libcurl), one thread"),
        Client("gfetch", "gfetch", run_gfetch, "gfetch.map(size=concurrency)"),
        Client(
            "gfetch-urllib3",
            "gfetch",
            functools.partial(run_gfetch, transport="urllib3"),
            "gfetch.map(size=concurrency) on the urllib3 transport (Session(transport='urllib3'))",
        ),
    ]
}
DEFAULT_CLIENTS = [
    "sequential",
    "threads",
    "grequests",
    "grequests-default",
    "requests-futures",
    "httpx",
    "aiohttp",
    "pycurl",
    "gfetch-urllib3",
    "gfetch",
]


# -- the worker (child) side ---------------------------------------------------
def tally(results: Sequence[Any]) -> tuple[int, int, str | None]:
    """``(ok, body bytes, first error)`` over a runner's results."""
    ok = nbytes = 0
    error = None
    for item in results:
        if isinstance(item, tuple):  # aiohttp: (response, body)
            status, body = item[0].status, item[1]
        elif item is None or isinstance(item, BaseException):
            error = error or repr(item)
            continue
        else:
            status, body = item.status_code, item.content
        ok += status == 200
        nbytes += len(body)
    return ok, nbytes, error


def _proc_status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in KiB (``VmHWM``: peak RSS); ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


class GCTimer:
    """Seconds spent in the cyclic garbage collector, and full collections, while installed."""

    def __init__(self) -> None:
        self.seconds, self.full, self._start = 0.0, 0, 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.full += info["generation"] == 2

    def __enter__(self) -> GCTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        gc.callbacks.remove(self)


def measure(spec: dict[str, Any], clients: dict[str, Client]) -> dict[str, Any]:
    """Run one client on ``spec["n"]`` URLs in this process; return its figures."""
    import importlib.util

    client = clients[spec["client"]]
    if importlib.util.find_spec(client.module) is None:
        return {"skipped": f"{client.module} not installed (run benchmarks/setup_peers.sh)"}
    raise_fd_limit()
    base, n, concurrency, ca = spec["url"], spec["n"], spec["concurrency"], spec.get("ca")
    urls = [f"{base}?i={i}" for i in range(n)]
    client.run([base + "?warmup"], 1, TIMEOUT, ca)  # imports, lazy set-up, first connection
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    rss_before = _proc_status_kb("VmRSS")
    usage0, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if profiler:
        profiler.enable()
    with GCTimer() as gc_timer:
        results = client.run(urls, concurrency, TIMEOUT, ca)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    ok, nbytes, error = tally(results)
    if profiler:
        profiler.dump_stats(spec["profile"])
    return {
        "n": n,
        "concurrency": concurrency,
        "ok": ok,
        "errors": n - ok,
        "first_error": error,
        "bytes": nbytes,
        "wall_s": wall,
        "user_s": usage1.ru_utime - usage0.ru_utime,
        "sys_s": usage1.ru_stime - usage0.ru_stime,
        "rss_before_mb": rss_before / 1024,
        "peak_rss_mb": _proc_status_kb("VmHWM") / 1024,
        "gc_s": gc_timer.seconds,
        "gc_full_collections": gc_timer.full,
    }


def worker_main(spec_json: str, clients: dict[str, Client]) -> int:
    """``--worker SPEC``: measure, print one JSON line on stdout."""
    print(json.dumps(measure(json.loads(spec_json), clients)), flush=True)
    return 0


def spawn_worker(script: str, spec: dict[str, Any], python: str = sys.executable) -> dict[str, Any]:
    """Run ``script --worker SPEC`` in a fresh interpreter; return its figures."""
    proc = subprocess.run(
        [python, script, "--worker", json.dumps(spec)], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"failed": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the parent side -------------------------------------------------------------
def run_one(
    script: str,
    client: str,
    scenario: Scenario,
    urls: dict[str, str],
    quick: bool,
    profile: str | None = None,
) -> dict[str, Any]:
    """One client x scenario in a fresh child (``urls``: servers.servers()'); figures per request,
    sequential extrapolated."""
    n, concurrency = scenario.sized(quick)
    sent = n
    if client == "sequential":
        if not scenario.sample:
            return {"skipped": "cannot hold requests in flight"}
        sent, concurrency = min(n, scenario.sample if not quick else max(1, scenario.sample // 5)), 1
    base_url = urls.get(scenario.server)
    if base_url is None:
        result: dict[str, Any] = {"skipped": "needs nginx and trustme (benchmarks/setup_peers.sh)"}
    else:
        spec = {
            "client": client,
            "url": base_url + scenario.path,
            "n": sent,
            "concurrency": concurrency,
            "ca": urls["ca"] if base_url.startswith("https:") else None,
            "profile": profile,
        }
        overflows, load = listen_overflows(), os.getloadavg()[0]
        result = spawn_worker(script, spec)
        time.sleep(0.5)  # let the server close the child's connections before the next run
    if "wall_s" not in result:
        print(
            f"{scenario.name:10} {client:18} {result.get('skipped') or result.get('failed')}", file=sys.stderr
        )
        return result
    result["listen_overflows"] = listen_overflows() - overflows
    result["loadavg_before"] = load
    result["cpu_s"] = result["user_s"] + result["sys_s"]
    result["rps"] = sent / result["wall_s"]
    result["cpu_us_per_req"] = result["cpu_s"] / sent * 1e6
    if sent < n:  # the sequential client: scale its sample up
        result["extrapolated_from"] = sent
        result["wall_s"] *= n / sent
        result["cpu_s"] *= n / sent
    print(
        f"{scenario.name:10} {client:18} {result['rps']:7.0f} req/s {result['cpu_us_per_req']:6.0f} us/req "
        f"{result['peak_rss_mb']:6.1f} MB {result['errors']} errors",
        file=sys.stderr,
    )
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over repeated runs (the first run's other fields)."""
    good = [r for r in runs if "wall_s" in r]
    if not good:
        return runs[0]
    summary = dict(good[0])
    for key in ("wall_s", "cpu_s", "rps", "cpu_us_per_req", "peak_rss_mb", "rss_before_mb", "gc_s"):
        summary[key] = statistics.median(r[key] for r in good)
    summary["errors"] = max(r["errors"] for r in good)
    summary["listen_overflows"] = max(r["listen_overflows"] for r in good)
    return summary


def round_order(clients: list[str], round_index: int) -> list[str]:
    """The clients in the order round ``round_index`` runs them: as given, then reversed, and so on,
    so that the machine speeding up or slowing down during a round favours no client."""
    return clients if round_index % 2 == 0 else clients[::-1]


# The figures a ratio is taken of, and the ratio's name.
RATIOS = {"rps": "rps", "wall_s": "wall", "cpu_us_per_req": "cpu", "peak_rss_mb": "rss"}


def add_ratios(
    table: dict[str, dict[str, Any]], runs: dict[str, list[dict[str, Any]]], peers: Sequence[str]
) -> None:
    """Each client's ratios to each peer, in place: ``row["x_aiohttp"]`` maps rps, wall, cpu and rss to
    the median over rounds of the ratio between the two clients' runs in that round (rounds where both
    ran); ``row["x_aiohttp_rounds"]`` lists those per-round ratios. ``runs``: each client's runs, by round.
    """
    for client, row in table.items():
        for peer in (p for p in peers if p in runs):
            rounds = [
                {name: own[key] / theirs[key] for key, name in RATIOS.items()}
                for own, theirs in zip(runs[client], runs[peer], strict=True)
                if "wall_s" in own and "wall_s" in theirs
            ]
            if rounds:
                row[f"x_{peer}"] = {
                    name: statistics.median(r[name] for r in rounds) for name in RATIOS.values()
                }
                row[f"x_{peer}_rounds"] = rounds


def format_scenario(
    scenario: Scenario,
    quick: bool,
    server: str,
    table: dict[str, dict[str, Any]],
    peers: dict[str, str] = SHOWN,
    highlighted: str = HIGHLIGHTED,
) -> str:
    """The printed table of one scenario: each figure with its ratios to ``peers`` (name: column mark)."""
    n, concurrency = scenario.sized(quick)
    marks = "".join(f" {mark:>5}" for mark in peers.values())
    lines = [
        f"\n{scenario.name}: {n:,} {scenario.description}; {concurrency:,} in flight; server {server}",
        f"{'client':18} {'wall s':>7} {'req/s':>7}{marks} {'CPU us/req':>10}{marks} "
        f"{'peak RSS MB':>11}{marks} {'errors':>6}",
    ]
    lines.append("-" * len(lines[-1]))

    def ratios(row: dict[str, Any], figure: str) -> str:
        return "".join(
            f" {row[f'x_{peer}'][figure]:5.2f}" if f"x_{peer}" in row else "     -" for peer in peers
        )

    notes = []
    for name, row in table.items():
        if "wall_s" not in row:
            lines.append(f"{name:18} {row.get('skipped') or row.get('failed')}")
            continue
        mark = "*" if "extrapolated_from" in row else " "
        lines.append(
            f"{name + mark:18} {row['wall_s']:7.2f} {row['rps']:7.0f}{ratios(row, 'rps')} "
            f"{row['cpu_us_per_req']:10.0f}{ratios(row, 'cpu')} {row['peak_rss_mb']:11.1f}"
            f"{ratios(row, 'rss')} {row['errors']:6d}"
        )
        if name == highlighted:
            for peer in peers:
                rounds = row.get(f"x_{peer}_rounds", [])
                if len(rounds) > 1:
                    notes.append(
                        f"{name} / {peer}, per round: "
                        + ", ".join(
                            f"{figure} {min(r[figure] for r in rounds):.2f}-"
                            f"{max(r[figure] for r in rounds):.2f}"
                            for figure in ("wall", "cpu", "rss")
                        )
                    )
        if mark == "*":
            notes.append(
                f"* measured on {row['extrapolated_from']:,} requests one at a time, "
                f"wall time and CPU extrapolated to {n:,}"
            )
        if row["listen_overflows"]:
            notes.append(
                f"! {name}: {row['listen_overflows']} connections overflowed the server's accept queue"
            )
        if row["errors"]:
            notes.append(f"! {name}: {row['errors']} failed, e.g. {row['first_error']}")
    return "\n".join(lines + notes)


# What import_time() times: gfetch loads requests on first use of an HTTP name,
# so "gfetch + map" (import, then touch gfetch.map) is the figure comparable
# with grequests, which imports gevent and requests and runs patch_all().
IMPORTS = {
    "gfetch": "import gfetch",
    "gfetch + map": "import gfetch; gfetch.map",
    "grequests": "import grequests",
    "requests": "import requests",
    "httpx": "import httpx",
    "aiohttp": "import aiohttp",
}


def import_time(python: str, statement: str, repeat: int = 7) -> float | None:
    """Best-of-``repeat`` seconds for ``statement`` (imports) in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeat):
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            return None
        times.append(float(proc.stdout.split()[-1]))
    return min(times)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {}
    for name in [
        "gfetch",
        "requests",
        "urllib3",
        "greenlet",
        "gevent",
        "grequests",
        "requests-futures",
        "httpx",
        "aiohttp",
        "pycurl",
    ]:
        with contextlib.suppress(md.PackageNotFoundError):
            found[name] = md.version(name)
    with contextlib.suppress(ImportError):
        import pycurl

        curl = pycurl.version_info()
        found["libcurl"] = f"{curl[1]} ({curl[5]})"  # and the TLS library it was built with
    import ssl  # the parent never runs gevent: importing ssl here is harmless

    found["python-ssl"] = ssl.OPENSSL_VERSION
    return found


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU, Python, load, and the gfetch tree measured."""
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    git = functools.partial(subprocess.run, capture_output=True, text=True, cwd=REPO)
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
        "gfetch_commit": git(["git", "rev-parse", "--short", "HEAD"]).stdout.strip(),
        "gfetch_dirty": git(["git", "status", "--porcelain", "gfetch"]).stdout.split()[1::2],
    }


def print_profile(path: str, limit: int = 15) -> None:
    import pstats

    for order in ("cumulative", "tottime"):
        print(f"\n-- {path}: top {limit} by {order}")
        pstats.Stats(path, stream=sys.stdout).strip_dirs().sort_stats(order).print_stats(limit)


def _names(value: str, known: dict[str, Any]) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clients",
        type=lambda v: _names(v, CLIENTS),
        default=DEFAULT_CLIENTS,
        help=f"comma-separated, from: {', '.join(CLIENTS)}",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda v: _names(v, SCENARIOS),
        default=list(SCENARIOS),
        help=f"comma-separated, from: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--quick", action="store_true", help="10x fewer requests: a smoke run")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each client x scenario; medians reported"
    )
    parser.add_argument("--out", help="JSON path (default benchmarks/results/<date>[-quick].json)")
    parser.add_argument(
        "--no-nginx", action="store_true", help="use the built-in static server even if nginx exists"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile each run; write benchmarks/results/<client>-<scenario>.prof, print the top 15",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also write benchmarks/published.json, the figures README.md and CHANGELOG.md "
        "quote (tests/test_published_figures.py holds them to it): a full run of a "
        "committed gfetch",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, CLIENTS)

    info = machine()
    if args.publish and (args.quick or info["gfetch_dirty"]):
        parser.error(
            "--publish: published figures come from a full run (no --quick) of a committed gfetch "
            f"(uncommitted: {', '.join(info['gfetch_dirty']) or 'nothing'})"
        )
    results_dir = os.path.join(HERE, "results")
    os.makedirs(results_dir, exist_ok=True)
    print(
        f"{info['date']}: Python {info['python']}, {info['nproc']} x {info['cpu']}, "
        f"load {info['loadavg'][0]:.2f}, gfetch {info['gfetch_commit']}"
        + (f" + uncommitted {', '.join(info['gfetch_dirty'])}" if info["gfetch_dirty"] else "")
    )
    print(f"Python: {sys.executable}; {', '.join(f'{k} {v}' for k, v in versions().items())}")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {c: [] for c in args.clients} for s in args.scenarios
    }
    with servers(not args.no_nginx) as urls:
        for round_index in range(args.repeat):
            for scenario_name in args.scenarios:
                scenario = SCENARIOS[scenario_name]
                for client in round_order(args.clients, round_index):
                    profile = os.path.join(results_dir, f"{client}-{scenario_name}.prof")
                    runs[scenario_name][client].append(
                        run_one(
                            os.path.abspath(__file__),
                            client,
                            scenario,
                            urls,
                            args.quick,
                            profile if args.profile else None,
                        )
                    )
        summary = {}
        for scenario_name, by_client in runs.items():
            table = summary[scenario_name] = {c: summarize(r) for c, r in by_client.items()}
            add_ratios(table, by_client, list(PEERS))
            scenario = SCENARIOS[scenario_name]
            print(format_scenario(scenario, args.quick, server_label(urls, scenario.server), table))
    print(
        f"\n×a, ×c: ratio to aiohttp, to pycurl (libcurl); per round, then the median over {args.repeat} "
        "round(s). req/s: higher is better; CPU and RSS: lower is better."
    )

    imports = {name: import_time(sys.executable, statement) for name, statement in IMPORTS.items()}
    print(
        "\nimport time, fresh interpreter, best of 7: "
        + ", ".join(f"{name} {t * 1000:.0f} ms" for name, t in imports.items() if t is not None)
    )
    grequests_import = imports.get("grequests")
    for name in ("gfetch", "gfetch + map"):
        own = imports.get(name)
        if own and grequests_import:
            print(f"{name} / grequests: {own / grequests_import:.2f}")

    suffix = "-quick" if args.quick else ""
    out = args.out or os.path.join(results_dir, f"{datetime.date.today()}{suffix}.json")
    report = {
        "machine": info,
        "versions": versions(),
        "python_executable": sys.executable,
        "static_server": urls["static_kind"],
        "quick": args.quick,
        "repeat": args.repeat,
        "scenarios": {s: asdict(SCENARIOS[s]) for s in args.scenarios},
        "summary": summary,
        "runs": runs,
        "import_times_s": imports,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {out}")
    if args.publish:
        figures = published.from_report(report)
        published.write(figures)
        print(
            f"wrote {published.PATH}: update README.md's run line, table and quoted figures from it "
            "(tests/test_published_figures.py says which)\n"
        )
        print(published.provenance(figures) + "\n\n" + published.markdown_table(figures))
    if args.profile:
        for scenario_name in args.scenarios:
            for client in args.clients:
                path = os.path.join(results_dir, f"{client}-{scenario_name}.prof")
                if os.path.exists(path):
                    print_profile(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
