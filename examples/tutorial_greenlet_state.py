"""Greenlet state: return values, exceptions, ``ready()``, ``successful()`` and ``get()``.

A greenlet keeps its outcome after it finishes: ``value`` on success,
``exception`` on failure. ``get()`` returns the value or re-raises the
exception in the caller. A killed greenlet counts as successful, with the
GreenletExit as its value, exactly as in gevent.

Run: python examples/tutorial_greenlet_state.py
"""

from __future__ import annotations

import argparse

import gfetch


def win() -> str:
    return "You win!"


def fail() -> str:
    raise ValueError("You fail.")


def forever() -> None:
    while True:
        gfetch.sleep(1)


def describe(name: str, glet: gfetch.Greenlet) -> None:
    print(
        f"{name:8} ready={glet.ready()!s:5} successful={glet.successful()!s:5} "
        f"value={glet.value!r} exception={glet.exception!r}"
    )


def main() -> None:
    winner = gfetch.spawn(win)
    loser = gfetch.spawn(fail)
    sleeper = gfetch.spawn(forever)

    # Spawned but not yet run: they start only once this greenlet blocks.
    print("before running:")
    describe("winner", winner)
    describe("loser", loser)

    gfetch.joinall([winner, loser], timeout=2)
    sleeper.kill()  # raises GreenletExit inside it and waits until it dies

    print("after joinall:")
    describe("winner", winner)
    describe("loser", loser)
    describe("sleeper", sleeper)

    print(f"winner.get() -> {winner.get()!r}")
    try:
        loser.get()
    except ValueError as exc:
        print(f"loser.get() raised {type(exc).__name__}: {exc}")
    print(f"sleeper.get() -> {type(sleeper.get()).__name__}")

    # get() on an unfinished greenlet with a timeout raises gfetch.Timeout.
    slow = gfetch.spawn(gfetch.sleep, 5)
    try:
        slow.get(timeout=0.05)
    except gfetch.Timeout as exc:
        print(f"slow.get(timeout=0.05) raised Timeout ({exc})")
    slow.kill()


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
