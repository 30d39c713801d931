"""gfetch against its peers, in one run, against local servers it starts itself.

Hand-run, never part of the tests. Set up the peers first (a separate venv;
they are never gfetch dependencies)::

    bash benchmarks/setup_peers.sh                        # /tmp/gfetch-bench
    /tmp/gfetch-bench/bin/python benchmarks/compare.py    # full run, a few minutes
    /tmp/gfetch-bench/bin/python benchmarks/compare.py --quick --clients gfetch,grequests
    /tmp/gfetch-bench/bin/python benchmarks/compare.py --clients gfetch --scenarios throughput --profile

Servers (servers.py): nginx (generated config, one worker, keep-alive) for the
static files when the binary exists, else a built-in asyncio keep-alive server;
the built-in server always answers ``/delay/<ms>``. Each client x scenario runs in
a fresh subprocess (``--worker``), so gevent's monkey-patching cannot leak
into the others and peak RSS is that client's alone. The child times only the
fetching (imports and setup excluded, one warm-up request included in setup)
and reports wall time, CPU time (user + sys, all threads) and peak RSS
(VmHWM). Ratios are to grequests in the same run.
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
BASELINE = "grequests"
TIMEOUT = 60.0  # seconds, per request, for every client

# -- scenarios and clients --------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """One workload: ``n`` GETs of ``path`` on the ``server``, ``concurrency`` in flight."""

    name: str
    server: str  # "static" or "delay"
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


SCENARIOS = {s.name: s for s in [
    Scenario("throughput", "static", "/small.json", 5000, 50, 500, 500,
             "GETs of a 200-byte JSON file, keep-alive: CPU per request"),
    Scenario("fanout", "delay", "/delay/200", 5000, None, 500, 10,
             "GETs each answered after 200 ms, all in flight: wall ~ 0.2 s + N x CPU"),
    Scenario("memory", "delay", "/delay/2000", 5000, None, 500, 0,
             "GETs held 2 s by the server, all in flight, responses kept: peak RSS"),
    Scenario("large", "static", "/large.bin", 500, 20, 100, 100,
             "GETs of a 64 KiB file, keep-alive: body handling"),
]}

Runner = Callable[[list[str], int, float], list[Any]]


def _safe(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(...)``, or the exception it raised: a failure is a result, not an abort."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - counted as an error by tally()
        return exc


def _requests_session(concurrency: int) -> Any:
    """A requests.Session keeping ``concurrency`` connections to one host."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=concurrency))
    return session


def run_sequential(urls: list[str], concurrency: int, timeout: float) -> list[Any]:
    session = _requests_session(1)
    return [_safe(session.get, url, timeout=timeout) for url in urls]


def run_threads(urls: list[str], concurrency: int, timeout: float) -> list[Any]:
    from concurrent.futures import ThreadPoolExecutor

    session = _requests_session(concurrency)
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda url: _safe(session.get, url, timeout=timeout), urls))


def run_requests_futures(urls: list[str], concurrency: int, timeout: float) -> list[Any]:
    from requests_futures.sessions import FuturesSession

    with FuturesSession(max_workers=concurrency) as session:
        futures = [session.get(url, timeout=timeout) for url in urls]
        return [_safe(future.result) for future in futures]


def run_grequests(urls: list[str], concurrency: int, timeout: float, shared: bool = True) -> list[Any]:
    import grequests  # runs gevent.monkey.patch_all()

    session = _requests_session(concurrency) if shared else None
    return grequests.map([grequests.get(url, session=session, timeout=timeout) for url in urls],  # type: ignore[no-any-return]
                         size=concurrency)


def run_gfetch(urls: list[str], concurrency: int, timeout: float, transport: str | None = None) -> list[Any]:
    import gfetch

    # The default Session, or one like it (1,000 keep-alive connections per host) on another transport.
    session = gfetch.Session(pool_maxsize=1000, transport=transport) if transport else None
    return gfetch.map(urls, size=concurrency, timeout=timeout, session=session)


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


def run_httpx(urls: list[str], concurrency: int, timeout: float) -> list[Any]:
    import asyncio

    import httpx

    async def main() -> list[Any]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            return await _bounded(urls, concurrency, client.get)

    return asyncio.run(main())


def run_aiohttp(urls: list[str], concurrency: int, timeout: float) -> list[Any]:
    import asyncio

    import aiohttp

    async def main() -> list[Any]:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async def fetch(url: str) -> tuple[Any, bytes]:
                async with session.get(url) as response:
                    return response, await response.read()

            return await _bounded(urls, concurrency, fetch)

    return asyncio.run(main())


@dataclass(frozen=True)
class Client:
    """A way to fetch URLs concurrently; ``module`` must be importable to run it."""

    name: str
    module: str
    run: Runner
    description: str


CLIENTS = {c.name: c for c in [
    Client("sequential", "requests", run_sequential, "requests.Session, one at a time (sampled)"),
    Client("threads", "requests", run_threads, "ThreadPoolExecutor(concurrency) + one requests.Session"),
    Client("grequests", "grequests", run_grequests, "grequests.map(size=concurrency), shared Session"),
    Client("grequests-default", "grequests", functools.partial(run_grequests, shared=False),
           "grequests.map(size=concurrency), a new Session per request (its default)"),
    Client("requests-futures", "requests_futures", run_requests_futures,
           "FuturesSession(max_workers=concurrency)"),
    Client("httpx", "httpx", run_httpx, "httpx.AsyncClient, asyncio"),
    Client("aiohttp", "aiohttp", run_aiohttp, "aiohttp.ClientSession, asyncio"),
    Client("gfetch", "gfetch", run_gfetch, "gfetch.map(size=concurrency)"),
    Client("gfetch-urllib3", "gfetch", functools.partial(run_gfetch, transport="urllib3"),
           "gfetch.map(size=concurrency) on the urllib3 transport (Session(transport='urllib3'))"),
]}
DEFAULT_CLIENTS = ["sequential", "threads", "grequests", "grequests-default", "requests-futures", "httpx",
                   "aiohttp", "gfetch-urllib3", "gfetch"]


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
    base, n, concurrency = spec["url"], spec["n"], spec["concurrency"]
    urls = [f"{base}?i={i}" for i in range(n)]
    client.run([base + "?warmup"], 1, TIMEOUT)  # imports, lazy set-up, first connection
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    rss_before = _proc_status_kb("VmRSS")
    usage0, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if profiler:
        profiler.enable()
    with GCTimer() as gc_timer:
        results = client.run(urls, concurrency, TIMEOUT)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    ok, nbytes, error = tally(results)
    if profiler:
        profiler.dump_stats(spec["profile"])
    return {
        "n": n, "concurrency": concurrency, "ok": ok, "errors": n - ok, "first_error": error,
        "bytes": nbytes, "wall_s": wall,
        "user_s": usage1.ru_utime - usage0.ru_utime, "sys_s": usage1.ru_stime - usage0.ru_stime,
        "rss_before_mb": rss_before / 1024, "peak_rss_mb": _proc_status_kb("VmHWM") / 1024,
        "gc_s": gc_timer.seconds, "gc_full_collections": gc_timer.full,
    }


def worker_main(spec_json: str, clients: dict[str, Client]) -> int:
    """``--worker SPEC``: measure, print one JSON line on stdout."""
    print(json.dumps(measure(json.loads(spec_json), clients)), flush=True)
    return 0


def spawn_worker(script: str, spec: dict[str, Any], python: str = sys.executable) -> dict[str, Any]:
    """Run ``script --worker SPEC`` in a fresh interpreter; return its figures."""
    proc = subprocess.run([python, script, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"failed": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the parent side -------------------------------------------------------------
def run_one(script: str, client: str, scenario: Scenario, base_url: str, quick: bool,
            profile: str | None = None) -> dict[str, Any]:
    """One client x scenario in a fresh child; figures per request, sequential extrapolated."""
    n, concurrency = scenario.sized(quick)
    sent = n
    if client == "sequential":
        if not scenario.sample:
            return {"skipped": "cannot hold requests in flight"}
        sent, concurrency = min(n, scenario.sample if not quick else max(1, scenario.sample // 5)), 1
    spec = {"client": client, "url": base_url + scenario.path, "n": sent, "concurrency": concurrency,
            "profile": profile}
    overflows, load = listen_overflows(), os.getloadavg()[0]
    result = spawn_worker(script, spec)
    time.sleep(0.5)  # let the server close the child's connections before the next run
    if "wall_s" not in result:
        print(f"{scenario.name:10} {client:18} {result.get('skipped') or result.get('failed')}",
              file=sys.stderr)
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
    print(f"{scenario.name:10} {client:18} {result['rps']:7.0f} req/s {result['cpu_us_per_req']:6.0f} us/req "
          f"{result['peak_rss_mb']:6.1f} MB {result['errors']} errors", file=sys.stderr)
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


def add_ratios(table: dict[str, dict[str, Any]], baseline: str) -> None:
    """Each client's figures over the baseline's, in place (``x_rps``, ``x_cpu``, ...)."""
    base = table.get(baseline, {})
    if "wall_s" not in base:
        return
    for row in table.values():
        if "wall_s" in row:
            for key, name in [("rps", "x_rps"), ("wall_s", "x_wall"), ("cpu_us_per_req", "x_cpu"),
                              ("peak_rss_mb", "x_rss")]:
                row[name] = row[key] / base[key]


def format_scenario(scenario: Scenario, quick: bool, server: str, table: dict[str, dict[str, Any]],
                    baseline: str = BASELINE) -> str:
    n, concurrency = scenario.sized(quick)
    lines = [f"\n{scenario.name}: {n:,} {scenario.description}; {concurrency:,} in flight; server {server}",
             f"{'client':18} {'wall s':>7} {'req/s':>7} {'x':>5} {'CPU us/req':>10} {'x':>5} "
             f"{'peak RSS MB':>11} {'x':>5} {'errors':>6}"]
    lines.append("-" * len(lines[-1]))
    notes = []
    for name, row in table.items():
        if "wall_s" not in row:
            lines.append(f"{name:18} {row.get('skipped') or row.get('failed')}")
            continue
        mark = "*" if "extrapolated_from" in row else " "
        ratio = {k: f"{row[k]:5.2f}" if k in row else "    -" for k in ("x_rps", "x_cpu", "x_rss")}
        lines.append(f"{name + mark:18} {row['wall_s']:7.2f} {row['rps']:7.0f} {ratio['x_rps']} "
                     f"{row['cpu_us_per_req']:10.0f} {ratio['x_cpu']} {row['peak_rss_mb']:11.1f} "
                     f"{ratio['x_rss']} {row['errors']:6d}")
        if mark == "*":
            notes.append(f"* measured on {row['extrapolated_from']:,} requests one at a time, "
                         f"wall time and CPU extrapolated to {n:,}")
        if row["listen_overflows"]:
            notes.append(f"! {name}: {row['listen_overflows']} connections overflowed the server's "
                         "accept queue")
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
    for name in ["gfetch", "requests", "urllib3", "greenlet", "gevent", "grequests", "requests-futures",
                 "httpx", "aiohttp"]:
        with contextlib.suppress(md.PackageNotFoundError):
            found[name] = md.version(name)
    return found


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU, Python, load, and the gfetch tree measured."""
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    git = functools.partial(subprocess.run, capture_output=True, text=True, cwd=REPO)
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "nproc": os.cpu_count(), "cpu": cpu,
        "python": platform.python_version(), "platform": platform.platform(), "loadavg": os.getloadavg(),
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
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=lambda v: _names(v, CLIENTS), default=DEFAULT_CLIENTS,
                        help=f"comma-separated, from: {', '.join(CLIENTS)}")
    parser.add_argument("--scenarios", type=lambda v: _names(v, SCENARIOS), default=list(SCENARIOS),
                        help=f"comma-separated, from: {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="10x fewer requests: a smoke run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each client x scenario; medians reported")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/<date>[-quick].json)")
    parser.add_argument("--no-nginx", action="store_true",
                        help="use the built-in static server even if nginx exists")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile each run; write benchmarks/results/<client>-<scenario>.prof, "
                             "print the top 15")
    parser.add_argument("--publish", action="store_true",
                        help="also write benchmarks/published.json, the figures README.md and CHANGELOG.md "
                             "quote (tests/test_published_figures.py holds them to it): a full run of a "
                             "committed gfetch")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, CLIENTS)

    info = machine()
    if args.publish and (args.quick or info["gfetch_dirty"]):
        parser.error("--publish: published figures come from a full run (no --quick) of a committed gfetch "
                     f"(uncommitted: {', '.join(info['gfetch_dirty']) or 'nothing'})")
    results_dir = os.path.join(HERE, "results")
    os.makedirs(results_dir, exist_ok=True)
    print(f"{info['date']}: Python {info['python']}, {info['nproc']} x {info['cpu']}, "
          f"load {info['loadavg'][0]:.2f}, gfetch {info['gfetch_commit']}"
          + (f" + uncommitted {', '.join(info['gfetch_dirty'])}" if info["gfetch_dirty"] else ""))
    print(f"Python: {sys.executable}; {', '.join(f'{k} {v}' for k, v in versions().items())}")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {c: [] for c in args.clients} for s in args.scenarios}
    with servers(not args.no_nginx) as urls:
        for _ in range(args.repeat):
            for scenario_name in args.scenarios:
                scenario = SCENARIOS[scenario_name]
                for client in args.clients:
                    profile = os.path.join(results_dir, f"{client}-{scenario_name}.prof")
                    runs[scenario_name][client].append(run_one(
                        os.path.abspath(__file__), client, scenario, urls[scenario.server], args.quick,
                        profile if args.profile else None))
        summary = {}
        for scenario_name, by_client in runs.items():
            table = summary[scenario_name] = {c: summarize(r) for c, r in by_client.items()}
            add_ratios(table, BASELINE)
            scenario = SCENARIOS[scenario_name]
            print(format_scenario(scenario, args.quick, server_label(urls, scenario.server), table))
    print("\nx: ratio to grequests in this run. req/s: higher is better; CPU and RSS: lower is better.")

    imports = {name: import_time(sys.executable, statement) for name, statement in IMPORTS.items()}
    print("\nimport time, fresh interpreter, best of 7: " + ", ".join(
        f"{name} {t * 1000:.0f} ms" for name, t in imports.items() if t is not None))
    grequests_import = imports.get("grequests")
    for name in ("gfetch", "gfetch + map"):
        own = imports.get(name)
        if own and grequests_import:
            print(f"{name} / grequests: {own / grequests_import:.2f}")

    suffix = "-quick" if args.quick else ""
    out = args.out or os.path.join(results_dir, f"{datetime.date.today()}{suffix}.json")
    report = {"machine": info, "versions": versions(), "python_executable": sys.executable,
              "static_server": urls["static_kind"], "quick": args.quick, "repeat": args.repeat,
              "scenarios": {s: asdict(SCENARIOS[s]) for s in args.scenarios},
              "summary": summary, "runs": runs, "import_times_s": imports}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {out}")
    if args.publish:
        figures = published.from_report(report)
        published.write(figures)
        print(f"wrote {published.PATH}: update README.md's run line, table and quoted figures from it "
              "(tests/test_published_figures.py says which)\n")
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
