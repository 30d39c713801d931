"""CPU instructions per request, counted by valgrind's callgrind: a figure that does not drift.

Wall and CPU times move with the machine (other jobs, frequency, the VM's
neighbours); an instruction count of the same code on the same inputs
does not. For each client and keep-alive scenario this runs compare.py's
worker (the same client code, warm-up and response checks) twice under
``valgrind --tool=callgrind``, for ``--small`` and for ``--large`` requests,
with ``PYTHONHASHSEED=0``, and reports the difference divided by the
difference in requests: start-up, imports and opening the connections (TLS
handshakes included) cancel out, what is left is the steady cost of one more
keep-alive request (the 200-byte file from nginx, the scenario's concurrency
in flight, bodies kept), with its ratios to aiohttp (×a) and pycurl (×c).

    python benchmarks/instructions.py                       # gfetch, aiohttp, pycurl; http and https
    python benchmarks/instructions.py --clients gfetch --scenarios https
    python benchmarks/instructions.py --python /path/to/other/python   # another checkout's venv

Needs valgrind, nginx, and the clients in ``--python`` (the peers' venv,
setup_peers.sh, has them all; trustme for https). Counts include the
interpreter's own work (allocation, the cyclic GC), as the CPU figures of
compare.py do. About 10 minutes for the defaults on a 2-core VM.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

from compare import CLIENTS, SCENARIOS, SHOWN, _names
from servers import nginx_binary, nginx_server

COMPARE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare.py")
# The scenarios whose requests share kept-alive connections: the ones a difference of two runs measures.
KEEPALIVE = {name: s for name, s in SCENARIOS.items() if s.concurrency and s.server in ("static", "https")}


def count(python: str, spec: dict[str, object]) -> int:
    """Instructions callgrind counted for compare.py's worker running ``spec`` (every response checked)."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            python,
            COMPARE,
            "--worker",
            json.dumps(spec),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    figures = json.loads(result.stdout.splitlines()[-1]) if result.stdout.strip() else {}
    if result.returncode != 0 or match is None or figures.get("ok") != spec["n"]:
        raise RuntimeError(f"{spec['client']} under callgrind failed: {figures or result.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients",
        type=lambda v: _names(v, CLIENTS),
        default=["gfetch", "aiohttp", "pycurl"],
        help=f"comma-separated, from: {', '.join(CLIENTS)}",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda v: _names(v, KEEPALIVE),
        default=["throughput", "https"],
        help=f"comma-separated, from: {', '.join(KEEPALIVE)}",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter whose packages are measured"
    )
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2500)
    parser.add_argument("--out", help="also write the counts as JSON to this path")
    args = parser.parse_args(argv)
    binary = nginx_binary()
    if binary is None:
        parser.error("nginx is not installed (bash benchmarks/setup_peers.sh --nginx)")
    counts: dict[str, dict[str, dict[str, float]]] = {}
    with nginx_server(binary) as urls:
        for name in args.scenarios:
            scenario = KEEPALIVE[name]
            if scenario.server not in urls:
                parser.error(f"{name} needs trustme in this interpreter (pip install trustme)")
            table = counts[name] = {}
            for client in args.clients:
                spec = {
                    "client": client,
                    "url": urls[scenario.server] + scenario.path,
                    "concurrency": scenario.concurrency,
                    "ca": urls["ca"] if scenario.server == "https" else None,
                }
                small, large = (count(args.python, {**spec, "n": n}) for n in (args.small, args.large))
                table[client] = {
                    "per_request": (large - small) / (args.large - args.small),
                    "small": small,
                    "large": large,
                }
                print(
                    f"{name:10} {client:16} {table[client]['per_request']:12,.0f} instructions per request "
                    f"({small:,} for {args.small}, {large:,} for {args.large})",
                    file=sys.stderr,
                )
    print(
        f"\ninstructions per request (callgrind, PYTHONHASHSEED=0): runs of {args.large:,} less runs of "
        f"{args.small:,}; ×a, ×c: ratio to aiohttp, to pycurl"
    )
    print(
        f"{'scenario':10} {'client':16} {'instr/req':>12}" + "".join(f" {mark:>6}" for mark in SHOWN.values())
    )
    for name, table in counts.items():
        for client, row in table.items():
            ratios = "".join(
                f" {row['per_request'] / table[peer]['per_request']:6.2f}" if peer in table else f" {'-':>6}"
                for peer in SHOWN
            )
            print(f"{name:10} {client:16} {row['per_request']:12,.0f}{ratios}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(
                {"python": args.python, "small": args.small, "large": args.large, "counts": counts},
                f,
                indent=2,
            )
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
