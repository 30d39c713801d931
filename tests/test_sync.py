"""Event, Semaphore, Queue and Pool."""

from __future__ import annotations

import queue
import random
import time
from typing import Any

import pytest

import gfetch
from gfetch import BoundedSemaphore, Event, Pool, Queue, Semaphore, Timeout


def test_event_wakes_all_waiters() -> None:
    event = Event()
    woken: list[int] = []

    def waiter(i: int) -> None:
        assert event.wait(5)
        woken.append(i)

    glets = [gfetch.spawn(waiter, i) for i in range(3)]
    gfetch.sleep(0)
    assert woken == []
    event.set()
    gfetch.joinall(glets)
    assert woken == [0, 1, 2]


def test_event_wait_timeout_returns_false() -> None:
    assert Event().wait(0.05) is False


def test_semaphore_fifo_and_timeout() -> None:
    sem = Semaphore(1)
    order: list[int] = []

    def worker(i: int) -> None:
        with sem:
            order.append(i)
            gfetch.sleep(0.01)

    gfetch.joinall([gfetch.spawn(worker, i) for i in range(5)])
    assert order == [0, 1, 2, 3, 4]
    sem.acquire()
    assert sem.acquire(timeout=0.05) is False
    assert sem.acquire(blocking=False) is False
    sem.release()


def test_bounded_semaphore_over_release() -> None:
    sem = BoundedSemaphore(1)
    with pytest.raises(ValueError):
        sem.release()


def test_queue_producer_consumer() -> None:
    q: Queue[int | None] = Queue(maxsize=2)
    got: list[int] = []

    def producer() -> None:
        for i in range(10):
            q.put(i)
        q.put(None)

    def consumer() -> None:
        while (item := q.get()) is not None:
            got.append(item)

    gfetch.joinall([gfetch.spawn(consumer), gfetch.spawn(producer)])
    assert got == list(range(10))


def test_queue_empty_full_are_stdlib_classes() -> None:
    q: Queue[int] = Queue(maxsize=1)
    with pytest.raises(queue.Empty):
        q.get(block=False)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.02)
    q.put(1)
    with pytest.raises(queue.Full):
        q.put(2, block=False)
    with pytest.raises(queue.Full):
        q.put(2, timeout=0.02)


def test_timeout_interrupts_blocked_queue_get() -> None:
    q: Queue[int] = Queue()
    started = time.monotonic()
    with pytest.raises(Timeout):
        with Timeout(0.1):
            q.get()
    assert time.monotonic() - started < 1
    q.put(1)  # the interrupted getter must not have stolen a slot
    assert q.get(block=False) == 1


def test_lifo_queue() -> None:
    q: gfetch.LifoQueue[int] = gfetch.LifoQueue()
    for i in range(3):
        q.put(i)
    assert [q.get(), q.get(), q.get()] == [2, 1, 0]


def test_queue_join_task_done() -> None:
    q: Queue[int] = Queue()
    for i in range(3):
        q.put(i)

    def worker() -> None:
        while not q.empty():
            q.get()
            gfetch.sleep(0.01)
            q.task_done()

    gfetch.spawn(worker)
    assert q.join(timeout=2)


def test_queue_join_waits_again_for_items_put_after_all_were_done() -> None:
    q: Queue[int] = Queue()
    assert q.join(timeout=0)  # nothing put: done
    for _round in range(2):
        q.put(1)
        q.put(2)
        assert not q.join(timeout=0.01)
        q.get()
        q.task_done()
        assert not q.join(timeout=0.01)  # one still unfinished
        q.get()
        q.task_done()
        assert q.join(timeout=0)


@pytest.mark.parametrize("end", [StopIteration, StopIteration()], ids=["class", "instance"])
def test_iterating_a_queue_stops_at_stop_iteration(end: Any) -> None:
    # gevent's producer/consumer idiom: the producer ends the consumer's for-loop.
    q: Queue[Any] = Queue()

    def producer() -> None:
        for i in range(3):
            q.put(i)
            gfetch.sleep(0)
        q.put(end)

    gfetch.spawn(producer)
    with Timeout(5):
        assert list(q) == [0, 1, 2]
    assert q.empty()


def test_pool_never_exceeds_size() -> None:
    pool = Pool(5)
    running = [0]
    peak = [0]

    def work(_: int) -> None:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        gfetch.sleep(0.01)
        running[0] -= 1

    for i in range(30):
        pool.spawn(work, i)
        assert len(pool) <= 5
    pool.join()
    assert peak[0] == 5
    assert pool.free_count() == 5


def test_pool_imap_keeps_order_under_random_delays() -> None:
    rnd = random.Random(7)

    def work(i: int) -> int:
        gfetch.sleep(rnd.random() / 50)
        return i * i

    pool = Pool(5)
    assert list(pool.imap(work, range(40))) == [i * i for i in range(40)]
    assert pool.map(work, range(5)) == [0, 1, 4, 9, 16]


def test_pool_imap_unordered_follows_completion() -> None:
    def work(delay: float) -> float:
        gfetch.sleep(delay)
        return delay

    assert list(Pool(3).imap_unordered(work, [0.15, 0.01, 0.08])) == [0.01, 0.08, 0.15]


def test_pool_imap_is_lazy() -> None:
    consumed = [0]

    def source():
        for i in range(1000):
            consumed[0] += 1
            yield i

    it = Pool(4).imap(lambda x: x, source())
    assert next(it) == 0
    assert consumed[0] <= 6  # at most size in flight, plus the one being fed
    it.close()


def test_pool_kill() -> None:
    pool = Pool(3)
    glets = [pool.spawn(gfetch.sleep, 10) for _ in range(3)]
    gfetch.sleep(0)
    pool.kill()
    assert all(g.dead for g in glets) and len(pool) == 0
