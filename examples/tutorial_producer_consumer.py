"""Events and queues: one greenlet wakes many, a boss feeds a pool of workers.

Part 1: three waiters park on an ``Event``; one ``set()`` wakes them all.
Part 2: a boss puts 12 tasks on a ``Queue(maxsize=3)``. ``put`` parks the boss
while the queue is full, so it never runs more than three tasks ahead of the
workers; each worker takes a task, "works" for a moment and takes the next,
until it finds the ``None`` sentinel the boss puts last, one per worker.

Run: python examples/tutorial_producer_consumer.py
"""

from __future__ import annotations

import argparse

import gfetch

WORKERS = ("steve", "john", "nancy")
TASKS = 12


def waiter(name: str, event: gfetch.Event) -> None:
    print(f"{name} waits for the event")
    event.wait()
    print(f"{name} woke up")


def setter(event: gfetch.Event) -> None:
    gfetch.sleep(0.1)
    print("setter: setting the event")
    event.set()


def event_demo() -> None:
    event = gfetch.Event()
    glets = [gfetch.spawn(waiter, name, event) for name in ("a", "b", "c")]
    glets.append(gfetch.spawn(setter, event))
    gfetch.joinall(glets)


def boss(tasks: gfetch.Queue[int | None]) -> None:
    for n in range(1, TASKS + 1):
        tasks.put(n)  # parks while three tasks are already waiting
        print(f"boss: put task {n} (queue size {tasks.qsize()})")
    for _ in WORKERS:
        tasks.put(None)  # one "quit" sentinel per worker
    print("boss: all tasks handed out")


def worker(name: str, tasks: gfetch.Queue[int | None], done: dict[str, list[int]]) -> None:
    for n in tasks:
        if n is None:
            break
        print(f"{name}: got task {n}")
        gfetch.sleep(0.02)
        done[name].append(n)
    print(f"{name}: quitting")


def queue_demo() -> dict[str, list[int]]:
    tasks: gfetch.Queue[int | None] = gfetch.Queue(maxsize=3)
    done: dict[str, list[int]] = {name: [] for name in WORKERS}
    glets = [gfetch.spawn(boss, tasks)]
    glets += [gfetch.spawn(worker, name, tasks, done) for name in WORKERS]
    gfetch.joinall(glets, raise_error=True)
    return done


def main() -> None:
    print("== Event")
    event_demo()
    print("== Queue(maxsize=3)")
    done = queue_demo()
    for name, numbers in done.items():
        print(f"{name} did tasks {numbers}")
    total = sorted(n for numbers in done.values() for n in numbers)
    print(f"all {len(total)} tasks done: {total == list(range(1, TASKS + 1))}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
