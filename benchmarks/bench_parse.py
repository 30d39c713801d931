"""Hand-run micro-benchmark of response-head parsing: µs per head.

Not a test: speed targets live here, never in tests/. For each head it times

* ``pure``: ``gfetch.http11.parser.parse_response_head``;
* ``httptools``: ``gfetch.http11.parser_httptools.parse_response_head`` (when
  httptools is installed: ``pip install 'gfetch[speedups]'``);
* ``http.client``: ``HTTPResponse(sock).begin()`` over a fake socket whose
  ``makefile`` gives a buffered reader over the bytes (what the urllib3 path
  pays for a head, the reader included);

on a typical nginx head (the tests' ``NGINX_HEAD``), a head with 20 headers
and a chunked head. Each
figure is the best of ``--rounds`` rounds of ``--number`` calls, timed with
the thread's CPU clock, so that other processes on a busy machine inflate it
less than they would wall time.

Usage::

    python benchmarks/bench_parse.py [--rounds 30] [--number 2000]
"""

from __future__ import annotations

import argparse
import http.client
import io
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from gfetch.http11 import parser as http1

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_httpparse import NGINX_HEAD  # noqa: E402  (the head the tests call typical)

try:
    from gfetch.http11 import parser_httptools as http1_httptools
except ModuleNotFoundError:
    http1_httptools = None  # type: ignore[assignment]

HEADS = {
    "nginx (9 headers)": NGINX_HEAD,
    "20 headers": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-Header-%d: some value number %d\r\n" % (i, i) for i in range(19))
    + b"Content-Length: 0\r\n\r\n",
    "chunked (4 headers)": (
        b"HTTP/1.1 200 OK\r\n"
        b"Server: gunicorn\r\n"
        b"Date: Tue, 14 May 2024 10:12:31 GMT\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"\r\n"
    ),
}


class _FakeSocket:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.data))


def parsers(data: bytes) -> dict[str, Callable[[], object]]:
    found: dict[str, Callable[[], object]] = {"pure": lambda: http1.parse_response_head(data, "GET")}
    if http1_httptools is not None:
        found["httptools"] = lambda: http1_httptools.parse_response_head(data, "GET")

    def stdlib() -> None:
        http.client.HTTPResponse(_FakeSocket(data), method="GET").begin()  # type: ignore[arg-type]

    found["http.client"] = stdlib
    return found


def best_us(func: Callable[[], object], rounds: int, number: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=rounds, timer=time.thread_time)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    if http1_httptools is None:
        print("httptools is not installed: pip install 'gfetch[speedups]' to measure it")
    names = list(parsers(b"").keys())
    print(f"{'µs per head':<22}" + "".join(f"{name:>13}" for name in names))
    for label, data in HEADS.items():
        found = parsers(data)
        # Interleaved rounds, so that a busy spell of the machine hits every parser alike.
        figures = {name: float("inf") for name in found}
        for _ in range(3):
            for name, func in found.items():
                figures[name] = min(figures[name], best_us(func, args.rounds // 3 or 1, args.number))
        print(f"{label:<22}" + "".join(f"{figures[name]:>13.2f}" for name in names))


if __name__ == "__main__":
    main()
