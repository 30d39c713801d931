"""CPU instructions per request, counted by valgrind's callgrind: a figure that does not drift.

Wall and CPU times move with the machine (other jobs, frequency, the VM's
neighbours); an instruction count of the same code on the same inputs
does not. This runs a client twice under ``valgrind --tool=callgrind``,
for ``--small`` and for ``--large`` requests, and reports the difference
divided by the difference in requests: start-up, imports and opening the
connections cancel out, what is left is the steady cost of one more
keep-alive request (the 200-byte file from nginx, ``--concurrency`` in
flight, bodies kept).

    python benchmarks/instructions.py                       # gfetch.map, http
    python benchmarks/instructions.py --client aiohttp      # needs the peers' venv (setup_peers.sh)
    python benchmarks/instructions.py --python /path/to/other/python   # another checkout's venv

Needs valgrind and nginx. Counts include the interpreter's own work
(allocation, the cyclic GC), as the CPU figures of compare.py do.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile

from servers import nginx_binary, nginx_server

CLIENTS = {
    "gfetch": """
import sys, gfetch
urls = [sys.argv[1]] * int(sys.argv[2])
responses = gfetch.map(urls, size=int(sys.argv[3]))
assert all(r is not None and r.status_code == 200 and len(r.content) == 200 for r in responses)
""",
    "aiohttp": """
import asyncio, sys, aiohttp
async def main(url, n, c):
    sem = asyncio.Semaphore(c)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as session:
        async def one():
            async with sem, session.get(url) as r:
                return r.status, await r.read()
        return await asyncio.gather(*(one() for _ in range(n)))
results = asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
assert all(status == 200 and len(body) == 200 for status, body in results)
""",
}


def count(python: str, client: str, url: str, requests: int, concurrency: int) -> int:
    """Instructions callgrind counted for the whole client process."""
    with tempfile.NamedTemporaryFile(suffix=".py", mode="w") as script:
        script.write(CLIENTS[client])
        script.flush()
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, script.name, url,
             str(requests), str(concurrency)],
            capture_output=True, text=True, check=False,
        )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"{client} under callgrind failed:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", choices=sorted(CLIENTS), default="gfetch")
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose packages are measured")
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2500)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args(argv)
    binary = nginx_binary()
    if binary is None:
        parser.error("nginx is not installed (bash benchmarks/setup_peers.sh --nginx)")
    with nginx_server(binary) as base:
        url = f"{base}/small.json"
        small, large = (count(args.python, args.client, url, n, args.concurrency) for n in (args.small, args.large))
    per_request = (large - small) / (args.large - args.small)
    print(f"{args.client}: {per_request:,.0f} instructions per request "
          f"({small:,} for {args.small}, {large:,} for {args.large} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
