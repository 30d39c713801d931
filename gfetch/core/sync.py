"""Synchronisation for greenlets: Event, Semaphore, Queue, Pool.

Imports only gfetch.core.hub and gfetch.core.greenlets. Every wait is a
:meth:`~gfetch.core.hub.Hub.park`, so each of these honours :class:`Timeout` and
``kill()``, and a deadlock surfaces as LoopExit rather than a hang. A waker
takes the waiter off its deque; a timeout or interruption takes it off
through the park's abort hook. None of
them is thread-safe: they coordinate greenlets of one hub.
"""

from __future__ import annotations

import queue as _stdlib_queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from gfetch.core.greenlets import Greenlet, joinall
from gfetch.core.hub import TIMED_OUT, Waiter, get_hub

__all__ = ["BoundedSemaphore", "Event", "LifoQueue", "Pool", "Queue", "Semaphore"]

T = TypeVar("T")
R = TypeVar("R")

# Raised by Queue; the very stdlib classes, so ``except queue.Empty`` and
# urllib3's pool (which catches them by class) work unchanged.
Empty = _stdlib_queue.Empty
Full = _stdlib_queue.Full


class _Waiters(deque[Waiter]):
    """Parked waiters, FIFO; called with a waiter (the park's abort hook), it removes it.

    Discussion: the deque itself is the hook, so a wait allocates no bound
    method that would stay alive as long as it is parked.
    """

    __slots__ = ()
    __call__ = deque.remove


def _park(waiters: _Waiters, timeout: float | None) -> bool:
    """Queue a waiter on ``waiters`` and park; False when ``timeout`` expired."""
    hub = get_hub()
    waiter = Waiter(hub)
    waiters.append(waiter)
    return hub.park(waiter, timeout, waiters) is not TIMED_OUT


def _wake_first(waiters: _Waiters) -> bool:
    """Take waiters off ``waiters`` until one accepts a wake-up; False if none did."""
    while waiters:
        if waiters.popleft().switch(True):
            return True
    return False


class Event:
    """A flag greenlets can wait for; ``set()`` wakes all of them."""

    def __init__(self) -> None:
        self._flag = False
        self._waiters = _Waiters()

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set
    ready = is_set

    def set(self) -> None:
        self._flag = True
        waiters, self._waiters = self._waiters, _Waiters()
        for waiter in waiters:
            waiter.switch(True)

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set or ``timeout`` passes; True unless it timed out."""
        return self._flag or _park(self._waiters, timeout)


class Semaphore:
    """A counter of free slots; ``acquire`` parks while it is zero (FIFO)."""

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError(f"semaphore initial value must be >= 0, got {value}")
        self.counter = value
        self._waiters = _Waiters()

    def locked(self) -> bool:
        return self.counter <= 0

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a slot; False if none came within ``timeout`` (or at once)."""
        if self.counter > 0 and not self._waiters:
            self.counter -= 1
            return True
        if not blocking:
            return False
        # release() hands the slot over directly (switch(True)), keeping FIFO.
        return _park(self._waiters, timeout)

    def release(self) -> None:
        if not _wake_first(self._waiters):
            self.counter += 1

    def __enter__(self) -> Semaphore:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    """A Semaphore that raises ValueError when released more than acquired."""

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial = value

    def release(self) -> None:
        if self.counter >= self._initial and not self._waiters:
            raise ValueError("BoundedSemaphore released too many times")
        super().release()


class Queue(Generic[T]):
    """A FIFO queue for greenlets, ``queue.Queue``-compatible.

    ``maxsize`` None or <= 0 means unbounded. ``get``/``put`` park the caller
    and raise the stdlib ``queue.Empty``/``queue.Full`` on timeout or with
    ``block=False``. Iterating gets items until one is ``StopIteration``
    (the class or an instance), as in gevent, so a producer ends a
    consumer's ``for item in queue`` by putting it.
    """

    def __init__(self, maxsize: int | None = None) -> None:
        self.maxsize = maxsize if maxsize and maxsize > 0 else 0
        self.queue: Any = self._make_container()
        self._getters = _Waiters()
        self._putters = _Waiters()
        self._unfinished = 0
        self._all_done = Event()
        self._all_done.set()

    def _make_container(self) -> Any:
        return deque()

    def _push(self, item: T) -> None:
        self.queue.append(item)

    def _pop(self) -> T:
        return self.queue.popleft()  # type: ignore[no-any-return]

    def qsize(self) -> int:
        return len(self.queue)

    def __len__(self) -> int:
        return len(self.queue)

    def empty(self) -> bool:
        return not self.queue

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self.queue)

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        # The checks inline, as calls only where there is something to do: a fan-out
        # puts and gets once per request.
        while self.maxsize and self.full():
            if not block or not _park(self._putters, timeout):
                raise Full
        self._push(item)
        self._unfinished += 1
        if self._unfinished == 1:  # else it is clear already: set only when the count is 0
            self._all_done.clear()
        if self._getters:
            _wake_first(self._getters)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        while not self.queue:
            if not block or not _park(self._getters, timeout):
                raise Empty
        item = self._pop()
        if self._putters:
            _wake_first(self._putters)
        return item

    def put_nowait(self, item: T) -> None:
        self.put(item, block=False)

    def get_nowait(self) -> T:
        return self.get(block=False)

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0:
            self._all_done.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every item put has been marked ``task_done``."""
        return self._all_done.wait(timeout)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        item = self.get()
        if item is StopIteration or isinstance(item, StopIteration):
            raise StopIteration
        return item


class LifoQueue(Queue[T]):
    """A last-in first-out Queue. (urllib3's connection pools use gfetch.http11.poolqueue.GreenPoolQueue.)"""

    def _make_container(self) -> Any:
        return []

    def _pop(self) -> T:
        return self.queue.pop()  # type: ignore[no-any-return]


class Pool:
    """Run at most ``size`` greenlets at once.

    ``spawn`` parks the caller while the pool is full; ``map`` and ``imap``
    keep input order, ``imap_unordered`` yields in completion order. A
    ``size`` of None means unbounded.
    """

    def __init__(self, size: int | None = None) -> None:
        if size is not None and size < 1:
            raise ValueError(f"Pool size must be >= 1 or None, got {size}")
        self.size = size
        self.greenlets: set[Greenlet] = set()
        self._slots = Semaphore(size) if size is not None else None
        self._empty = Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self.greenlets)

    def __contains__(self, glet: object) -> bool:
        return glet in self.greenlets

    def free_count(self) -> int:
        if self._slots is None:
            return 1
        return max(0, self._slots.counter)

    def full(self) -> bool:
        return self.free_count() <= 0

    def wait_available(self, timeout: float | None = None) -> int:
        """Park until a slot is free; return the free count."""
        if self._slots is not None and self._slots.acquire(timeout=timeout):
            self._slots.release()
        return self.free_count()

    def spawn(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Greenlet:
        """Start ``func(*args, **kwargs)`` once a slot is free; return its Greenlet."""
        glet = Greenlet(func, *args, **kwargs)
        self.start(glet)
        return glet

    def start(self, glet: Greenlet) -> None:
        self.add(glet)
        glet.start()

    def add(self, glet: Greenlet) -> None:
        """Track ``glet`` in the pool, parking while the pool is full."""
        if self._slots is not None:
            self._slots.acquire()
        self.greenlets.add(glet)
        self._empty.clear()
        glet.link(self._discard)

    def _discard(self, glet: Greenlet) -> None:
        if glet in self.greenlets:
            self.greenlets.discard(glet)
            if self._slots is not None:
                self._slots.release()
            if not self.greenlets:
                self._empty.set()

    discard = _discard

    def join(self, timeout: float | None = None, raise_error: bool = False) -> bool:
        """Wait until the pool is empty; False if ``timeout`` passed first."""
        done = self._empty.wait(timeout)
        if raise_error:
            for glet in list(self.greenlets):
                if glet.ready() and glet.exception is not None:
                    glet._result()  # raises it, marked as re-raised
        return done

    def kill(self, block: bool = True, timeout: float | None = None) -> None:
        """Kill every greenlet in the pool."""
        glets = list(self.greenlets)
        for glet in glets:
            glet.kill(block=False)
        if block:
            joinall(glets, timeout=timeout)

    def apply(
        self, func: Callable[..., R], args: Iterable[Any] = (), kwds: dict[str, Any] | None = None
    ) -> R:
        """Run ``func`` in the pool and wait for its result."""
        return self.spawn(func, *args, **(kwds or {})).get()  # type: ignore[no-any-return]

    def map(self, func: Callable[[T], R], iterable: Iterable[T]) -> list[R]:
        return list(self.imap(func, iterable))

    def imap(self, func: Callable[[T], R], iterable: Iterable[T]) -> Iterator[R]:
        """Yield ``func(item)`` in input order, running up to ``size`` at once."""
        for glet in self._feed(func, iterable, ordered=True):
            yield glet.get()

    def imap_unordered(self, func: Callable[[T], R], iterable: Iterable[T]) -> Iterator[R]:
        """Yield ``func(item)`` as each finishes, running up to ``size`` at once."""
        for glet in self._feed(func, iterable, ordered=False):
            yield glet.get()

    def _feed(self, func: Callable[[T], R], iterable: Iterable[T], ordered: bool) -> Iterator[Greenlet]:
        """Spawn lazily from ``iterable``; yield finished greenlets.

        A feeder greenlet consumes the input (parking on the pool's slots), so
        results stream out while input is still being read, and at most
        ``size`` items are in flight.
        """
        done: Queue[Greenlet] = Queue()
        order: deque[Greenlet] = deque()
        spawned = [0]

        def feed() -> None:
            for item in iterable:
                glet = Greenlet(func, item)
                glet.link(done.put)
                if ordered:
                    order.append(glet)
                self.start(glet)
                spawned[0] += 1

        feeder = Greenlet.spawn(feed)
        feeder.link(done.put)
        received = 0
        fed_all = False
        finished: set[Greenlet] = set()
        try:
            while not fed_all or received < spawned[0]:
                glet = done.get()
                if glet is feeder:
                    fed_all = True
                    feeder.get()  # re-raise an error of the input iterable
                    continue
                received += 1
                if not ordered:
                    yield glet
                    continue
                finished.add(glet)
                while order and order[0] in finished:
                    finished.discard(order[0])
                    yield order.popleft()
        finally:
            feeder.kill(block=False)
