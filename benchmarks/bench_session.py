"""gfetch.Session shared by 100 greenlets against requests in ThreadPoolExecutor(100).

Hand-run, never part of the tests. The same local servers (servers.py) and
per-run child processes as compare.py (imported from it): requests/s and CPU time per
request, on keep-alive small GETs (CPU-bound) and on GETs the server holds
300 ms (I/O-bound)::

    python benchmarks/bench_session.py [--quick] [--repeat N] [--concurrency 100] [--out PATH]

gfetch's and requests' own dependencies are all it needs (no peers); nginx is
used when installed. Ratios are to the threads in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import compare  # benchmarks/compare.py: this script's directory is sys.path[0]
from compare import Client, Scenario
from servers import server_label, servers


def run_gfetch_session(urls: list[str], concurrency: int, timeout: float, ca: str | None) -> list[Any]:
    """``concurrency`` greenlets sharing one gfetch.Session, each fetching in turn."""
    import gfetch

    session = gfetch.Session(pool_maxsize=concurrency)
    results: list[Any] = [None] * len(urls)
    pending = iter(range(len(urls)))

    def worker() -> None:
        for index in pending:
            results[index] = compare._safe(session.get, urls[index], timeout=timeout, verify=ca or True)

    gfetch.joinall([gfetch.spawn(worker) for _ in range(concurrency)])
    return results


CLIENTS = {
    "threads": compare.CLIENTS["threads"],
    "gfetch.Session": Client(
        "gfetch.Session", "gfetch", run_gfetch_session, "one gfetch.Session shared by `concurrency` greenlets"
    ),
    "gfetch.map": compare.CLIENTS["gfetch"],
}
BASELINE = "threads"


def scenarios(concurrency: int) -> list[Scenario]:
    return [
        Scenario(
            "keepalive",
            "static",
            "/small.json",
            5000,
            concurrency,
            500,
            0,
            "GETs of a 200-byte JSON file, keep-alive",
        ),
        Scenario(
            "delay300", "delay", "/delay/300", 2000, concurrency, 400, 0, "GETs each answered after 300 ms"
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10x fewer requests: a smoke run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each client x scenario; medians reported"
    )
    parser.add_argument("--concurrency", type=int, default=100, help="greenlets / threads (default 100)")
    parser.add_argument("--out", help="also write the figures as JSON to this path")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return compare.worker_main(args.worker, CLIENTS)

    info = compare.machine()
    print(
        f"{info['date']}: Python {info['python']}, {info['nproc']} x {info['cpu']}, "
        f"load {info['loadavg'][0]:.2f}, gfetch {info['gfetch_commit']}"
    )
    summary: dict[str, dict[str, Any]] = {}
    with servers() as urls:
        for scenario in scenarios(args.concurrency):
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS}
            for round_index in range(args.repeat):
                for name in compare.round_order(list(CLIENTS), round_index):
                    runs[name].append(
                        compare.run_one(os.path.abspath(__file__), name, scenario, urls, args.quick)
                    )
            table = summary[scenario.name] = {name: compare.summarize(r) for name, r in runs.items()}
            compare.add_ratios(table, runs, [BASELINE])
            print(
                compare.format_scenario(
                    scenario,
                    args.quick,
                    server_label(urls, scenario.server),
                    table,
                    {BASELINE: "x"},
                    "gfetch.Session",
                )
            )
    print(
        f"\nx: ratio to {BASELINE} (ThreadPoolExecutor({args.concurrency}) + one requests.Session) "
        f"in the same round; medians of {args.repeat}."
    )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"machine": info, "python_executable": sys.executable, "summary": summary}, f, indent=2)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
