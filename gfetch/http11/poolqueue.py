"""The connection queue of both transports' pools; a blocking ``get`` parks the greenlet.

Imports the stdlib and gfetch.core.hub.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from functools import partial
from typing import Any

from gfetch.core.hub import Hub, Waiter, get_hub

__all__ = ["GreenPoolQueue"]

# A parked getter: its hub, its waiter, and whether it counts as a thread job.
_Getter = tuple[Hub, Waiter, bool]


class GreenPoolQueue(queue.LifoQueue):  # type: ignore[type-arg]
    """The pool's connection queue; a blocking ``get`` parks the greenlet.

    Discussion: urllib3 only blocks on ``get`` with ``pool_block=True``; the
    stdlib queue would then put the whole OS thread to sleep while the
    greenlet holding the connection can never run to return it. Parked
    getters may belong to other threads' hubs (a Session shared by threads),
    so ``put`` wakes them through their own hub. Once a second thread has
    used the pool, a parked getter counts as an outstanding thread job of its hub:
    the connection may come back from another thread, and a hub that saw
    nothing else to wait for would raise LoopExit. In a pool used by one
    thread only, a getter nothing can serve still raises LoopExit.
    """

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self._green_getters: deque[_Getter] = deque()
        self._getter_threads: set[int] = set()
        self._released = False
        self._placeholders = 0  # None entries in the queue

    def _put(self, item: Any) -> None:
        super()._put(item)
        self._placeholders += item is None

    def _get(self) -> Any:
        item = super()._get()
        self._placeholders -= item is None
        return item

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            # urllib3 puts a None placeholder back whenever getting a
            # connection fails (a timeout, a kill, LoopExit), even though the
            # getter took nothing; the connection returned later would then
            # find the pool full. A real connection takes a placeholder's slot.
            if item is not None and self._placeholders and self._qsize() >= self.maxsize > 0:
                self.queue.remove(None)
                self._placeholders -= 1
        super().put(item, block=False)
        with self.mutex:
            getter = self._green_getters.popleft() if self._green_getters else None
        if getter is not None:
            _wake(getter)

    def release_getters(self) -> None:
        """Wake every parked getter with None, so each opens a connection of its own.

        For a pool being closed: its queue gets no connection back any more,
        so nothing else would ever wake them.
        """
        with self.mutex:
            self._released = True
            getters = list(self._green_getters)
            self._green_getters.clear()
        for getter in getters:
            _wake(getter)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        self._getter_threads.add(threading.get_ident())
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return super().get(block=False)
            except queue.Empty:
                if not block:
                    raise
            if self._released:
                return None  # the pool is closed: urllib3 opens a connection for this request
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise queue.Empty
            hub = get_hub()
            with self.mutex:
                if self._qsize():
                    continue
                entry = (hub, Waiter(hub), len(self._getter_threads) > 1)
                self._green_getters.append(entry)
            if entry[2]:
                hub.thread_job_started()
            # On a timeout the loop above raises queue.Empty.
            hub.park(entry[1], remaining, partial(self._forget_getter, entry))

    def _forget_getter(self, entry: _Getter, _: Waiter) -> None:
        """The park's abort hook: unregister a getter nobody woke.

        A ``put`` in another thread may have taken it off the list already,
        its wake-up still on the way to this hub (it will be dropped).
        """
        with self.mutex:
            if entry in self._green_getters:
                self._green_getters.remove(entry)
        if entry[2]:
            entry[0].thread_job_finished()


def _wake(getter: _Getter) -> None:
    """Wake a getter already taken off the queue's list, through its own hub."""
    hub = getter[0]
    if hub.thread_ident == threading.get_ident():
        _wake_in_hub(getter)
    else:
        hub.call_threadsafe(_wake_in_hub, getter)


def _wake_in_hub(getter: _Getter) -> None:
    hub, waiter, shared = getter
    if waiter.switch() and shared:
        hub.thread_job_finished()
