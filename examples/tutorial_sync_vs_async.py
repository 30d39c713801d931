"""Synchronous vs asynchronous: the same ten tasks, one after another and at once.

Each task sleeps about 0.2 s through ``gfetch.sleep``, which parks only the
calling greenlet. Called in a loop they take ~2 s and finish in call order;
spawned as greenlets and joined with ``joinall`` they overlap, take ~0.25 s and
finish in the order their timers fire. (gevent's tutorial picks the delays at
random; here they are a fixed shuffle averaging 0.2 s, so every run prints the same.)

Run: python examples/tutorial_sync_vs_async.py
"""

from __future__ import annotations

import argparse
import time

import gfetch

TASKS = 10
# 0.155 .. 0.245 s in a fixed scrambled order; they sum to exactly 2 s.
DELAYS = [0.2 + 0.01 * ((pid * 3) % 10 - 4.5) for pid in range(TASKS)]


def task(pid: int, done: list[int]) -> None:
    """Pretend to do some I/O; record when we finished."""
    gfetch.sleep(DELAYS[pid])
    done.append(pid)


def synchronous() -> tuple[float, list[int]]:
    done: list[int] = []
    start = time.perf_counter()
    for pid in range(TASKS):
        task(pid, done)
    return time.perf_counter() - start, done


def asynchronous() -> tuple[float, list[int]]:
    done: list[int] = []
    start = time.perf_counter()
    gfetch.joinall([gfetch.spawn(task, pid, done) for pid in range(TASKS)])
    return time.perf_counter() - start, done


def main() -> None:
    sync_time, sync_order = synchronous()
    print(f"synchronous:  {TASKS} tasks in {sync_time:.2f} s, order {sync_order}")
    async_time, async_order = asynchronous()
    print(f"asynchronous: {TASKS} tasks in {async_time:.2f} s, order {async_order}")
    print(f"speed-up: {sync_time / async_time:.1f}x")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
