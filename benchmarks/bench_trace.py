"""CPU per request of gfetch's transport without a trace hook, and with one that does nothing.

Hand-run, never part of the tests. Each run is a child process: 5,000 GETs of
gfetch's test server's /json (in a process of its own, so its CPU is not
counted), 50 in flight on one keep-alive Session, after a warm-up; CPU is the
child's user + sys time. Modes run interleaved, and each figure is the median::

    python benchmarks/bench_trace.py [--repeat 7] [--requests 5000] [--before DIR]

``--before DIR`` adds a mode that imports gfetch from DIR instead: a tree from
before a change, to measure what the change costs without a hook, e.g.
``mkdir /tmp/before && git archive <commit> gfetch | tar -x -C /tmp/before``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(mode: str, requests: int) -> None:
    """One run: print {"mode", "cpu_us", "wall_s"} as a JSON line."""
    import gfetch
    from gfetch.testing import ServerProcess

    hook = {"trace": lambda event, record: None} if mode == "hook" else {}
    with ServerProcess() as server, gfetch.Session(pool_maxsize=50, **hook) as session:
        url = server.url("/json")
        gfetch.map([url] * 50, size=50, session=session)  # warm-up: imports, connections
        cpu, wall = _cpu(), time.perf_counter()
        responses = gfetch.map([url] * requests, size=50, session=session)
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
    assert all(response.status_code == 200 for response in responses)
    print(json.dumps({"mode": mode, "cpu_us": cpu / requests * 1e6, "wall_s": wall}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs of each mode (default 7)")
    parser.add_argument("--requests", type=int, default=5000, help="requests per run (default 5000)")
    parser.add_argument("--before", metavar="DIR", help="also measure the gfetch package in DIR")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests)
        return
    modes = {"no hook": ("none", None), "no-op hook": ("hook", None)}
    if args.before:
        modes = {"before, no hook": ("none", args.before), **modes}
    runs: dict[str, list[float]] = {label: [] for label in modes}
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.requests} GETs a run, 50 in flight, "
        f"{args.repeat} runs of each mode, interleaved"
    )
    for _ in range(args.repeat):
        for label, (mode, tree) in modes.items():
            env = {**os.environ, "PYTHONPATH": tree} if tree else None
            argv = [sys.executable, __file__, "--child", mode, "--requests", str(args.requests)]
            out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env, timeout=300)
            runs[label].append(json.loads(out.stdout)["cpu_us"])
    for label, values in runs.items():
        print(
            f"{label:<16} CPU per request: median {statistics.median(values):6.1f} us "
            f"(runs: {', '.join(f'{value:.0f}' for value in sorted(values))})"
        )


if __name__ == "__main__":
    main()
