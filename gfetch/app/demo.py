"""``gfetch demo``: requests one after another, in threads, and with gfetch, side by side, offline.

Starts gfetch's loopback test server in a child
process, then runs each method in a child process of its own, so that the
peak memory and CPU time it reports are that method's alone. Threads and
gfetch get the same URLs and the same concurrency; the sequential method
fetches a sample and its time for all the URLs is extrapolated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import requests

import gfetch
from gfetch.testing import ServerProcess

__all__ = ["main"]

_GFETCH_CALL = "gfetch.imap_enumerated"  # what the gfetch child calls: the help and the table name it

DESCRIPTION = f"""\
Fetch N slow URLs (each answered after --delay seconds by a local server) three ways:
with requests one after another (a sample, extrapolated), with requests in a
ThreadPoolExecutor, and with {_GFETCH_CALL}. Threads and gfetch get the same URLs and
the same concurrency. Each method runs in a child process of its own, and the table shows
its wall time, requests per second, peak memory (RSS) and CPU time per request, measured
now on this machine: they move with its load from run to run. Nothing leaves this machine.
"""


class _DemoError(Exception):
    """A child process failed; its own stderr has said why."""


class Measure(NamedTuple):
    """What one child process reports about its method."""

    fetched: int
    ok: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.fetched


# -- the methods (each runs in its own child process) -----------------------------------------
def _sequential(urls: list[str], concurrency: int) -> list[int]:
    with requests.Session() as session:
        session.trust_env = False  # a loopback server: no proxy applies
        return [session.get(url, timeout=30).status_code for url in urls]


def _threads(urls: list[str], concurrency: int) -> list[int]:
    with requests.Session() as session, ThreadPoolExecutor(concurrency) as pool:
        session.trust_env = False
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=concurrency))
        return list(pool.map(lambda url: session.get(url, timeout=30).status_code, urls))


def _gfetch(urls: list[str], concurrency: int, progress: bool = False) -> list[int]:
    with gfetch.Session(pool_maxsize=concurrency) as session:
        session.trust_env = False
        # Like the threads above, keep each status and let its response go.
        pairs = gfetch.imap_enumerated(
            urls, size=concurrency, session=session, progress=progress, return_exceptions=True
        )
        return [getattr(outcome, "status_code", 0) for _, outcome in pairs]


_METHODS: dict[str, Callable[..., list[int]]] = {
    "sequential": _sequential,
    "threads": _threads,
    "gfetch": _gfetch,
}


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(argv: Sequence[str]) -> int:
    """``python -m gfetch.app.demo METHOD BASE_URL COUNT DELAY CONCURRENCY [--progress]``: one JSON line."""
    method, base_url, count, delay, concurrency = argv[:5]
    urls = [f"{base_url}/delay/{delay}?i={i}" for i in range(int(count))]
    options = {"progress": True} if "--progress" in argv[5:] else {}
    # Every child loads the same modules before measuring, so the baselines match.
    gfetch.Session, gfetch.imap_enumerated  # noqa: B018 - loads gfetch's HTTP layers
    cpu, started = _cpu_seconds(), time.perf_counter()
    statuses = _METHODS[method](urls, int(concurrency), **options)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    ok = sum(status == 200 for status in statuses)
    print(json.dumps(Measure(len(urls), ok, seconds, cpu, _peak_rss_mb())._asdict()))
    return 0


def _measure(method: str, base: str, count: int, delay: float, concurrency: int, progress: bool) -> Measure:
    argv = [sys.executable, "-m", "gfetch.app.demo", method, base, str(count), str(delay), str(concurrency)]
    if progress:
        argv.append("--progress")
    bound = 60 + count * delay  # a backstop: even one at a time finishes well within it
    process: subprocess.Popen[str] | None = None
    try:
        with _sigint_held():  # nor can a Ctrl-C cut the spawn short and leave an orphan
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        output, _ = process.communicate(timeout=bound)
    except BaseException as exc:
        if process is not None:
            process.kill()
            process.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise _DemoError(f"the {method} run took more than {bound:.0f} s") from exc
        raise
    if process.returncode != 0:
        raise _DemoError(f"the {method} run failed (exit status {process.returncode})")
    return Measure(**json.loads(output))


# -- the report -------------------------------------------------------------------------------
def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"


def _summary(n: int, concurrency: int, threads: Measure, ours: Measure) -> str:
    """The closing line: what was compared, the figures and their ratios, no verdict words."""
    return (
        f"Same {n} URLs, at most {concurrency} in flight for both; gfetch vs threads (below 1.00x, gfetch "
        f"used less):\n"
        f"  wall time        {ours.seconds:8.2f} s  vs {threads.seconds:8.2f} s   "
        f"{_ratio(ours.seconds, threads.seconds)}\n"
        f"  peak memory      {ours.peak_rss_mb:8.1f} MB vs {threads.peak_rss_mb:8.1f} MB  "
        f"{_ratio(ours.peak_rss_mb, threads.peak_rss_mb)}\n"
        f"  CPU per request  {ours.cpu_ms_per_request:8.2f} ms vs {threads.cpu_ms_per_request:8.2f} ms  "
        f"{_ratio(ours.cpu_ms_per_request, threads.cpu_ms_per_request)}\n"
    )


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C back meanwhile, for the child processes started now.

    Discussion: a terminal's Ctrl-C reaches the whole process group. A child
    inherits the blocked SIGINT across exec and never sees it: the parent
    alone handles it and ends its children. One pressed meanwhile stays
    pending and is raised here, in the parent, as the block lifts.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gfetch demo", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=_positive(int), default=1000, help="URLs to fetch (default 1000)")
    parser.add_argument(
        "--delay",
        type=_positive(float),
        default=0.2,
        help="seconds the server takes to answer each URL (default 0.2)",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=_positive(int),
        default=1000,
        help="requests in flight at once, for threads and gfetch alike (default 1000)",
    )
    parser.add_argument(
        "--sample",
        type=_positive(int),
        default=10,
        help="URLs fetched one after another, to extrapolate from (default 10)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 if every request of every method got a 200."""
    args = build_parser().parse_args(argv)
    out = sys.stdout
    sample = min(args.sample, args.n)
    with contextlib.ExitStack() as stack:
        with _sigint_held():  # the server ends when its stdin closes
            server = stack.enter_context(ServerProcess())
        out.write(
            f"Fetching {args.n} URLs from a local server that answers each after "
            f"{args.delay * 1000:.0f} ms ({server.base_url}),\n"
            "each method in a child process of its own.\n\n"
        )
        out.flush()
        base = server.base_url
        try:
            sequential = _measure("sequential", base, sample, args.delay, 1, False)
            threads = _measure("threads", base, args.n, args.delay, args.concurrency, False)
            ours = _measure("gfetch", base, args.n, args.delay, args.concurrency, not args.no_progress)
        except _DemoError as exc:
            sys.stderr.write(f"gfetch demo: {exc}\n")
            return 1
    rows = [
        (
            f"requests, one after another ({sample} of {args.n})",
            sequential,
            f"est. {sequential.seconds * args.n / sample:.0f} s for all",
        ),
        (f"requests + ThreadPoolExecutor({args.concurrency})", threads, ""),
        (f"{_GFETCH_CALL}(urls, size={args.concurrency})", ours, ""),
    ]
    out.write(
        f"\n{'method':<44} {'fetched':>7} {'ok':>6} {'wall s':>7} {'req/s':>7} {'peak MB':>8} "
        f"{'CPU ms/req':>10}\n"
    )
    for name, m, note in rows:
        out.write(
            f"{name:<44} {m.fetched:>7} {m.ok:>6} {m.seconds:>7.2f} {m.fetched / m.seconds:>7.0f} "
            f"{m.peak_rss_mb:>8.1f} {m.cpu_ms_per_request:>10.2f}  {note}\n".rstrip()
            + "\n"
        )
    out.write("\n" + _summary(args.n, args.concurrency, threads, ours))
    return 0 if all(m.ok == m.fetched for _, m, _ in rows) else 1


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
