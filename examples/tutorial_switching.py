"""Explicit context switches: two greenlets taking turns with ``sleep(0)``.

``gfetch.sleep(0)`` yields to the hub, which runs every other ready greenlet
once before coming back, so ``foo`` and ``bar`` interleave line by line. A
third pair shows that without a yield one greenlet runs to completion first.

Run: python examples/tutorial_switching.py
"""

from __future__ import annotations

import argparse

import gfetch


def foo() -> None:
    print("foo: running")
    gfetch.sleep(0)
    print("foo: back in foo again")


def bar() -> None:
    print("bar: explicit context switch to bar")
    gfetch.sleep(0)
    print("bar: implicit context switch back to bar")


def counter(name: str, n: int, yield_each: bool) -> None:
    for i in range(n):
        print(f"{name}: {i}")
        if yield_each:
            gfetch.sleep(0)


def main() -> None:
    gfetch.joinall([gfetch.spawn(foo), gfetch.spawn(bar)])
    print("-- cooperative: each counter yields after every step")
    gfetch.joinall([gfetch.spawn(counter, "a", 3, True), gfetch.spawn(counter, "b", 3, True)])
    print("-- no yields: the first counter runs to the end before the second starts")
    gfetch.joinall([gfetch.spawn(counter, "a", 3, False), gfetch.spawn(counter, "b", 3, False)])


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
