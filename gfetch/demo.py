"""``python -m gfetch demo``: sequential vs threads vs gfetch, for real, offline.

Layer 5 (application). Starts gfetch's loopback test server in a child process, then fetches the
same slow URLs (each answers after ``--delay`` seconds) three ways and
prints a table: a sample sequentially with plain requests (extrapolated),
all of them with requests in a ThreadPoolExecutor, and all of them with
``gfetch.map``.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import requests

import gfetch
from gfetch.testserver import ServerProcess

__all__ = ["main"]


def _timed(fetch: Callable[[list[str]], list[int]], urls: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    statuses = fetch(urls)
    return time.perf_counter() - started, sum(status == 200 for status in statuses)


def _sequential(urls: list[str]) -> list[int]:
    with requests.Session() as session:
        return [session.get(url, timeout=30).status_code for url in urls]


def _threads(workers: int) -> Callable[[list[str]], list[int]]:
    def fetch(urls: list[str]) -> list[int]:
        with requests.Session() as session, ThreadPoolExecutor(workers) as pool:
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=workers))
            return list(pool.map(lambda url: session.get(url, timeout=30).status_code, urls))

    return fetch


def _gfetch(size: int, progress: bool) -> Callable[[list[str]], list[int]]:
    def fetch(urls: list[str]) -> list[int]:
        responses = gfetch.map(urls, size=size, progress=progress)
        return [r.status_code if r is not None else 0 for r in responses]

    return fetch


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gfetch demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="URLs to fetch (default 1000)")
    parser.add_argument("--delay", type=float, default=0.2, help="server delay per request in s (default 0.2)")
    parser.add_argument("--sample", type=int, default=10, help="requests for the sequential sample (default 10)")
    parser.add_argument("--threads", type=int, default=100, help="ThreadPoolExecutor workers (default 100)")
    parser.add_argument("--size", type=int, default=1000, help="gfetch concurrency (default 1000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    out = sys.stdout
    with ServerProcess() as server:
        urls = [server.url(f"/delay/{args.delay}?i={i}") for i in range(args.n)]
        out.write(f"Fetching {args.n} URLs from a local server that answers each after {args.delay * 1000:.0f} ms"
                  f" ({server.base_url}).\n\n")
        sample = urls[: max(1, min(args.sample, args.n))]
        rows = []
        seconds, ok = _timed(_sequential, sample)
        rows.append(("requests, one after another", len(sample), seconds, ok, seconds * args.n / len(sample)))
        seconds, ok = _timed(_threads(args.threads), urls)
        rows.append((f"requests + ThreadPoolExecutor({args.threads})", args.n, seconds, ok, seconds))
        seconds, ok = _timed(_gfetch(args.size, not args.no_progress), urls)
        rows.append((f"gfetch.map(urls, size={args.size})", args.n, seconds, ok, seconds))

    out.write(f"\n{'method':<40} {'fetched':>8} {'ok':>6} {'wall s':>8} {'req/s':>8} {'est. all':>10}\n")
    for name, count, seconds, ok, estimate in rows:
        out.write(f"{name:<40} {count:>8} {ok:>6} {seconds:>8.2f} {count / seconds:>8.0f} {estimate:>9.1f}s\n")
    fastest_other = min(row[4] for row in rows[:-1])
    out.write(f"\ngfetch finished all {args.n} in {rows[-1][4]:.2f} s: {fastest_other / rows[-1][4]:.1f}x faster than"
              " the best of the others, in one thread, with the requests API.\n")
    return 0 if all(row[3] == row[1] for row in rows) else 1
