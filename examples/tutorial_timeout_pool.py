"""Timeouts and pools: bound how long a block may run, and how much runs at once.

Part 1: ``with gfetch.Timeout(s):`` raises Timeout in the block after ``s``
seconds, wherever it is parked; ``Timeout(s, False)`` ends the block silently;
``Timeout(s, SomeError)`` raises that instead.
Part 2: ``Pool(3).imap`` runs at most three calls at once and yields results in
input order, although later (shorter) calls finish first.

Run: python examples/tutorial_timeout_pool.py
"""

from __future__ import annotations

import argparse
import time

import gfetch


def timeout_demo() -> None:
    try:
        with gfetch.Timeout(0.1):
            gfetch.sleep(2)
        print("not reached")
    except gfetch.Timeout as exc:
        print(f"Timeout raised after {exc}")

    with gfetch.Timeout(0.1, False):
        gfetch.sleep(2)
        print("not reached")
    print("Timeout(0.1, False) ended the block silently")

    try:
        with gfetch.Timeout(0.1, TimeoutError):
            gfetch.sleep(2)
    except TimeoutError as exc:
        print(f"Timeout(0.1, TimeoutError) raised TimeoutError({exc})")

    with gfetch.Timeout(1):
        gfetch.sleep(0.01)
    print("a block that finishes in time is not interrupted")


def pool_demo() -> None:
    pool = gfetch.Pool(3)
    running: list[int] = []
    peak = 0
    finished: list[int] = []

    def square(n: int) -> int:
        """Slower for small n, so later inputs tend to finish first."""
        nonlocal peak
        running.append(n)
        peak = max(peak, len(running))
        gfetch.sleep(0.05 * (10 - n))
        running.remove(n)
        finished.append(n)
        return n * n

    start = time.perf_counter()
    results = list(pool.imap(square, range(10)))
    elapsed = time.perf_counter() - start
    print(f"completion order: {finished}")
    print(f"Pool(3).imap results in input order: {results}")
    print(f"at most {peak} ran at once; took {elapsed:.2f} s (one at a time: {0.05 * 55:.2f} s)")


def main() -> None:
    print("== Timeout")
    timeout_demo()
    print("== Pool")
    pool_demo()


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
