"""Hand-run micro-benchmarks of gfetch's hub, optionally against gevent.

Not a test: speed targets live here, never in tests/. Measures

* spawn + join of an empty greenlet, one at a time (µs each);
* spawn N empty greenlets, then one joinall (µs each);
* a ``sleep(0)`` ping-pong between two greenlets (µs per switch);
* memory per greenlet parked on an Event (RSS delta, KB each).

Each library runs in its own fresh subprocess (``--worker NAME``), so gevent
is never imported into a process that imports gfetch, and RSS deltas start
from a clean heap. gevent is measured when the interpreter given by
``--peer-python`` (default: this one) can import it.

Usage::

    python benchmarks/bench_hub.py [--quick] [--json PATH] [--peer-python PYTHON]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

# (key, label, unit) for each figure, in table order.
METRICS = [
    ("spawn_join_us", "spawn + join, one at a time", "µs each"),
    ("spawn_joinall_us", "spawn N, then joinall", "µs each"),
    ("switch_us", "sleep(0) ping-pong", "µs/switch"),
    ("parked_kb", "greenlet parked on Event", "KB each"),
]


class Backend(NamedTuple):
    """The four calls the benchmarks need, from gfetch or gevent."""

    name: str
    version: str
    spawn: Callable[..., Any]
    joinall: Callable[..., Any]
    sleep: Callable[[float], None]
    event: Callable[[], Any]


def load_backend(name: str) -> Backend:
    if name == "gfetch":
        import gfetch

        return Backend(name, gfetch.__version__, gfetch.spawn, gfetch.joinall, gfetch.sleep, gfetch.Event)
    if name == "gevent":
        import gevent
        import gevent.event

        event = gevent.event.Event
        return Backend(name, gevent.__version__, gevent.spawn, gevent.joinall, gevent.sleep, event)
    raise ValueError(f"unknown backend {name!r}; use gfetch or gevent")


def _noop() -> None:
    pass


def rss_bytes() -> int:
    """Current resident set size; falls back to the peak on non-Linux systems."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def best_of(repeat: int, run: Callable[[], float]) -> float:
    """The fastest of ``repeat`` runs: the least disturbed by the rest of the machine."""
    return min(run() for _ in range(repeat))


def bench_spawn_join(lib: Backend, n: int) -> float:
    spawn = lib.spawn
    start = time.perf_counter()
    for _ in range(n):
        spawn(_noop).join()
    return (time.perf_counter() - start) / n * 1e6


def bench_spawn_joinall(lib: Backend, n: int) -> float:
    start = time.perf_counter()
    lib.joinall([lib.spawn(_noop) for _ in range(n)])
    return (time.perf_counter() - start) / n * 1e6


def bench_switch(lib: Backend, n: int) -> float:
    sleep = lib.sleep

    def ping() -> None:
        for _ in range(n):
            sleep(0)

    start = time.perf_counter()
    lib.joinall([lib.spawn(ping), lib.spawn(ping)])
    return (time.perf_counter() - start) / (2 * n) * 1e6


def bench_parked(lib: Backend, n: int) -> float:
    """KB of RSS per greenlet parked in ``Event.wait()``."""
    event = lib.event()
    gc.collect()
    before = rss_bytes()
    glets = [lib.spawn(event.wait) for _ in range(n)]
    lib.sleep(0)  # each runs once and parks
    lib.sleep(0)
    gc.collect()
    after = rss_bytes()
    event.set()
    lib.joinall(glets)
    return (after - before) / n / 1024


def run_worker(name: str, scale: float) -> dict[str, Any]:
    """Measure one backend in this process; return its figures."""
    lib = load_backend(name)
    n = max(1000, int(100_000 * scale))
    bench_spawn_join(lib, 1000)  # warm up the hub and the allocator paths
    # Memory first, from the cleanest heap this process will have.
    results: dict[str, Any] = {"parked_kb": bench_parked(lib, max(1000, int(50_000 * scale)))}
    results["spawn_join_us"] = best_of(3, lambda: bench_spawn_join(lib, n))
    results["spawn_joinall_us"] = best_of(3, lambda: bench_spawn_joinall(lib, n))
    results["switch_us"] = best_of(3, lambda: bench_switch(lib, n))
    results["version"] = lib.version
    return results


def spawn_worker(python: str, name: str, scale: float) -> dict[str, Any]:
    """Run ``--worker name`` under ``python``; return its JSON figures."""
    cmd = [python, os.path.abspath(__file__), "--worker", name, "--scale", str(scale)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def can_import(python: str, module: str) -> bool:
    check = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", check], capture_output=True).returncode == 0


def format_table(gfetch: dict[str, Any], gevent: dict[str, Any] | None) -> str:
    head = f"{'benchmark':30} {'unit':10} {'gfetch':>9}"
    if gevent:
        head += f" {'gevent':>9} {'gfetch/gevent':>14}"
    lines = [head, "-" * len(head)]
    for key, label, unit in METRICS:
        row = f"{label:30} {unit:10} {gfetch[key]:9.2f}"
        if gevent:
            row += f" {gevent[key]:9.2f} {gfetch[key] / gevent[key]:14.2f}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--quick", action="store_true", help="10x fewer iterations, for a smoke run")
    parser.add_argument("--peer-python", default=sys.executable, help="interpreter with gevent installed")
    parser.add_argument("--worker", choices=["gfetch", "gevent"], help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(run_worker(args.worker, args.scale)))
        return 0

    scale = 0.1 if args.quick else args.scale
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    gfetch = spawn_worker(sys.executable, "gfetch", scale)
    gevent = None
    if can_import(args.peer_python, "gevent"):
        gevent = spawn_worker(args.peer_python, "gevent", scale)
        print(f"gfetch {gfetch['version']} vs gevent {gevent['version']} (lower is better)")
    else:
        print("gevent not installed: pip install gevent to compare")
    print(format_table(gfetch, gevent))

    if args.json:
        ratios = {key: gfetch[key] / gevent[key] for key, _, _ in METRICS} if gevent else None
        report = {"python": platform.python_version(), "gfetch": gfetch, "gevent": gevent, "ratios": ratios}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
