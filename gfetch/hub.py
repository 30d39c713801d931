"""The hub: one event loop greenlet per OS thread.

Layer 1 (bottom). Imports only the stdlib, greenlet, gfetch.errors and
gfetch.resources.

General theory of operation
---------------------------
Every OS thread that blocks through gfetch gets one :class:`Hub`, created
lazily by :func:`get_hub`. The hub is a greenlet whose parent is the thread's
root greenlet, and every greenlet gfetch spawns has the hub as its parent, so
a finished greenlet falls back into the loop.

A greenlet that must wait creates a :class:`Waiter`, arranges for some event
source (a timer, fd readiness, another greenlet, another thread) to call
``waiter.switch(value)`` or ``waiter.throw(exc)``, and calls ``waiter.get()``,
which switches to the hub. Sources never switch directly: they append the
wake-up to the hub's ready queue, so a source may fire from inside a
callback, a ``close()`` that holds a ``threading.Lock`` (urllib3, cookiejar),
or the hub itself, without re-entering anything. Plain synchronous code is
just the root greenlet waiting like any other: its first blocking call starts
the hub, which runs until that call's waiter fires.

One pass of the loop (``_run_once``):

1. poll the selector with timeout 0 if callbacks are ready, else until the
   next timer deadline (or forever when there is no timer);
2. queue the wake-ups of ready fds and of expired timers;
3. run exactly the callbacks queued at this point, in FIFO order; callbacks
   they add wait for the next pass. So ``sleep(0)`` round-robins fairly and
   nothing starves I/O.

A greenlet that never has to wait (a socket that always has data) never
enters the loop by itself, so timers would not fire and nobody else would
run. Loops whose operations did not wait call :meth:`Hub.checkpoint` every
``CHECK_EVERY`` operations: it looks at the clock and yields to the loop
once when a timer is due, or when others wait and this pass has run
``_SLICE``.

When the ready queue, the timers, the fd waits and the pending thread jobs
are all empty, nothing can ever wake anybody: the hub throws
:class:`~gfetch.errors.LoopExit` into the root greenlet instead of sleeping
forever.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from greenlet import getcurrent, greenlet

from gfetch.errors import ConcurrentObjectUseError, LoopExit
from gfetch.resources import open_fd

__all__ = [
    "CHECK_EVERY",
    "Hub",
    "Timer",
    "Waiter",
    "get_hub",
    "notify_closing",
    "wait_readable",
    "wait_writable",
]

_EVENT_READ = selectors.EVENT_READ
_EVENT_WRITE = selectors.EVENT_WRITE
_monotonic = time.monotonic
# Loops that may never wait call checkpoint() every CHECK_EVERY operations
# (a 64 KiB read each: about a millisecond of work); it lets the loop run
# once a timer is due, or once a pass has run _SLICE seconds while others
# wait (each other request waiting for its turn then waits about that long).
CHECK_EVERY = 16
_SLICE = 0.01


class Timer:
    """A call scheduled on the hub at creation; :meth:`cancel` is idempotent."""

    __slots__ = ("deadline", "callback", "arg", "active", "_hub")

    def __init__(self, hub: Hub, deadline: float, callback: Callable[[Any], Any], arg: Any) -> None:
        self.deadline = deadline
        self.callback = callback
        self.arg = arg
        self.active = True
        self._hub = hub
        # The heap holds (deadline, sequence, timer): compared in C, and
        # equal deadlines fire in the order they were set.
        heapq.heappush(hub._timers, (deadline, next(hub._timer_sequence), self))
        hub._active_timers += 1

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self.callback = self.arg = None  # type: ignore[assignment]  # drop references early
            hub = self._hub
            hub._active_timers -= 1
            # Discussion: cancelled timers stay in the heap until their
            # deadline (lazy deletion). A fan-out sets and cancels a 30 s read
            # timer per socket operation, so rebuild the heap when dead
            # entries dominate.
            if len(hub._timers) > 256 and hub._active_timers * 2 < len(hub._timers):
                hub._timers = [entry for entry in hub._timers if entry[2].active]
                heapq.heapify(hub._timers)


class Waiter:
    """A one-shot slot through which the hub resumes one parked greenlet.

    ``switch``/``throw`` may be called from any greenlet on the hub's thread
    (they only queue the wake-up) and only the first call counts. ``get`` runs
    in the greenlet that waits, never in the hub. A wake-up that arrives after
    the wait ended (the greenlet was interrupted by something else) is
    dropped, so stale events can never resume a greenlet in the wrong place.
    """

    __slots__ = ("hub", "greenlet", "fired")

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub if hub is not None else get_hub()
        self.greenlet: greenlet | None = None
        self.fired = False

    def switch(self, value: Any = None) -> None:
        if not self.fired:
            self.fired = True
            self.hub._ready.append((self._resume, value))

    def throw(self, exc: BaseException) -> None:
        if not self.fired:
            self.fired = True
            self.hub._ready.append((self._resume_throw, exc))

    def switch_now(self, value: Any = None) -> None:
        """From the hub only (a timer callback): resume at once, skipping a
        trip through the ready queue."""
        if not self.fired:
            self.fired = True
            self._resume(value)

    def _resume(self, value: Any) -> None:
        glet = self.greenlet
        if glet is not None:
            glet.switch(value)

    def _resume_throw(self, exc: BaseException) -> None:
        glet = self.greenlet
        if glet is not None:
            glet.throw(exc)

    def get(self) -> Any:
        """Park the current greenlet until ``switch`` or ``throw`` is called.

        An exception queued for this greenlet by :meth:`Hub.throw_on_park`
        is raised at once instead.

        Raises:
            RuntimeError: when called from the hub greenlet itself.
            LoopExit: when nothing can ever wake the (root) greenlet.
        """
        hub = self.hub
        current = getcurrent()
        if current is hub:
            raise RuntimeError(
                "cannot block inside the hub (called from a hub callback?); spawn a greenlet instead"
            )
        if hub._pending_throws:
            exc = hub._take_pending_throw(current)
            if exc is not None:
                self.fired = True
                raise exc
        self.greenlet = current
        hub._parked[current] = self
        try:
            return hub.switch()
        finally:
            self.greenlet = None
            self.fired = True
            hub._parked.pop(current, None)


class _FdWaiters:
    """The reader and writer parked on one fd, and what the selector has of it."""

    __slots__ = ("fd", "reader", "writer", "registered", "queued")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.reader: Waiter | None = None
        self.writer: Waiter | None = None
        self.registered = 0  # the event mask the selector holds for this entry
        self.queued = False  # in Hub._fd_changes

    def mask(self) -> int:
        return (_EVENT_READ if self.reader else 0) | (_EVENT_WRITE if self.writer else 0)


class Hub(greenlet):
    """The event loop of one OS thread. Use :func:`get_hub`, don't construct.

    Discussion: the wake socketpair stays registered for the hub's lifetime,
    but it only counts as "something may still happen" while a thread job is
    outstanding (``_thread_jobs``). Otherwise a hub with a permanently
    registered wake fd could never detect a deadlock.
    """

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        root = getcurrent()
        while root.parent is not None:
            root = root.parent
        super().__init__(parent=root)
        self.thread_ident = threading.get_ident()
        # Three descriptors (selector, wake socketpair): at EMFILE raise the
        # soft limit, else fail with the advice a request gets (gfetch.resources).
        self.selector = selector if selector is not None else open_fd(selectors.DefaultSelector)
        try:
            self._wake_r, self._wake_w = open_fd(socket.socketpair)
        except BaseException:
            if selector is None:
                self.selector.close()
            raise
        self._ready: deque[tuple[Callable[[Any], Any], Any]] = deque()
        self._timers: list[tuple[float, int, Timer]] = []  # a heap
        self._timer_sequence = itertools.count()
        self._active_timers = 0
        self._fds: dict[int, _FdWaiters] = {}  # fds somebody waits on
        self._fd_changes: deque[_FdWaiters] = deque()  # for the selector, at the next pass
        self._parked: dict[greenlet, Waiter] = {}
        self._pending_throws: dict[greenlet, list[tuple[BaseException, Callable[[], bool]]]] = {}
        self._thread_jobs = 0
        self._from_threads: deque[tuple[Callable[[Any], Any], Any]] = deque()
        self._pass_started = 0.0
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r.fileno(), _EVENT_READ, None)

    def __repr__(self) -> str:
        return (
            f"<Hub thread={self.thread_ident} ready={len(self._ready)} "
            f"timers={self._active_timers} fds={len(self._fds)}>"
        )

    # -- scheduling -----------------------------------------------------
    def call_soon(self, callback: Callable[[Any], Any], arg: Any = None) -> None:
        """Run ``callback(arg)`` in the hub on its next pass (FIFO)."""
        self._ready.append((callback, arg))

    def call_later(self, seconds: float, callback: Callable[[Any], Any], arg: Any = None) -> Timer:
        """Run ``callback(arg)`` in the hub after ``seconds``; returns the Timer."""
        return Timer(self, _monotonic() + max(seconds, 0.0), callback, arg)

    def call_threadsafe(self, callback: Callable[[Any], Any], arg: Any = None) -> None:
        """From any OS thread: run ``callback(arg)`` in this hub soon.

        The only thing a foreign thread touches is a deque append (atomic) and
        one byte on the wake socket.
        """
        self._from_threads.append((callback, arg))
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a full buffer already guarantees a wake-up; a closed one a dead hub

    def throw_on_park(self, glet: greenlet, exc: BaseException, is_live: Callable[[], bool]) -> None:
        """Raise ``exc`` in ``glet`` at its next wait, if ``is_live()`` is still true then.

        For interrupting a greenlet whose wake-up is already queued (see
        ``gfetch.greenlets._interrupt``): the wake-up is delivered, then the
        exception lands where the greenlet parks next.
        """
        self._pending_throws.setdefault(glet, []).append((exc, is_live))

    def discard_pending_throw(self, glet: greenlet, exc: BaseException | None = None) -> bool:
        """Forget ``exc`` (or, with None, everything) queued for ``glet``; True if it was queued."""
        pending = self._pending_throws.get(glet)
        if pending is None:
            return False
        found = exc is None or any(queued is exc for queued, _ in pending)
        if exc is None:
            pending.clear()
        else:
            pending[:] = [entry for entry in pending if entry[0] is not exc]
        if not pending:
            del self._pending_throws[glet]
        return found

    def _take_pending_throw(self, glet: greenlet) -> BaseException | None:
        pending = self._pending_throws.get(glet)
        exc = None
        while pending and exc is None:
            queued, is_live = pending.pop(0)
            if is_live():
                exc = queued
        if not pending:
            self._pending_throws.pop(glet, None)
        return exc

    def thread_job_started(self) -> None:
        """Count an outstanding thread job, so the loop waits for it."""
        self._thread_jobs += 1

    def thread_job_finished(self) -> None:
        self._thread_jobs -= 1

    def checkpoint(self) -> None:
        """Let the loop run once if it is due; for loops that may never wait.

        Yields to the loop once if a timer is due (a Timeout, a read
        timeout, a gtimeout) or if others wait and the current pass has run
        ``_SLICE`` seconds; else returns at once. So a read loop over a
        socket that always has data still lets deadlines fire and other
        requests run. Callers count their operations and call it every
        ``CHECK_EVERY`` of them. Does nothing in the hub greenlet itself.
        """
        now = _monotonic()
        timers = self._timers
        if (timers and timers[0][0] <= now) or (
            now - self._pass_started >= _SLICE
            and (self._ready or self._fds or self._from_threads or self._thread_jobs)
        ):
            if getcurrent() is not self:
                self._yield_once(now)

    def _yield_once(self, now: float) -> None:
        # Discussion: resumed by a timer at ``now``, not from the ready
        # queue, so the timers already due fire first in that pass: a
        # Timeout then finds this greenlet parked and raises here at once.
        waiter = Waiter(self)
        timer = Timer(self, now, Waiter.switch_now, waiter)
        try:
            waiter.get()
        finally:
            timer.cancel()

    # -- fd readiness ---------------------------------------------------
    def wait_fd(self, fd: int, event: int, timeout: float | None) -> None:
        """Park the current greenlet until ``fd`` is ready for ``event``.

        Raises:
            socket.timeout: after ``timeout`` seconds (None waits forever).
            OSError(EBADF): when another greenlet closes the fd meanwhile, or
                when ``fd`` is not open.
            ConcurrentObjectUseError: another greenlet already waits on it.
        """
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        entry = self._fds.get(fd)
        if entry is None:
            entry = self._fds[fd] = _FdWaiters(fd)
        waiter = Waiter(self)
        reading = event == _EVENT_READ
        if (entry.reader if reading else entry.writer) is not None:
            raise ConcurrentObjectUseError(
                f"another greenlet is already waiting to {'read' if reading else 'write'} fd {fd}"
            )
        if reading:
            entry.reader = waiter
        else:
            entry.writer = waiter
        self._fd_changed(entry)
        # Not call_later: one frame less before the park.
        timer = None if timeout is None else Timer(self, _monotonic() + max(timeout, 0.0), _expire_io, waiter)
        try:
            waiter.get()
        finally:
            if reading and entry.reader is waiter:
                entry.reader = None
            elif not reading and entry.writer is waiter:
                entry.writer = None
            if not (entry.reader or entry.writer) and self._fds.get(fd) is entry:
                del self._fds[fd]
            self._fd_changed(entry)
            if timer is not None:
                timer.cancel()

    def _fd_changed(self, entry: _FdWaiters) -> None:
        if not entry.queued:
            entry.queued = True
            self._fd_changes.append(entry)

    def _apply_fd_changes(self) -> None:
        """Bring the selector up to date with the fd waits, in the order they changed.

        Discussion: waits tell the selector nothing themselves; the loop does
        it here, before it polls. A waiting greenlet's stack then ends at
        ``wait_fd``: the selector's own frames would touch another page of
        every waiting request's frame stack, 4 KiB each at 5,000 in flight.
        An entry whose waits all ended is unregistered; a later wait on the
        same fd number gets a new entry, registered afresh after it, so an
        fd closed and reused meanwhile is never mistaken for the old one.
        An entry leaves the queue only once applied, and re-applying one is
        harmless, so a Ctrl-C landing in here loses nothing.
        """
        changes = self._fd_changes
        while changes:
            entry = changes[0]
            mask = entry.mask()
            if mask != entry.registered:
                try:
                    self._update_selector(entry, mask)
                except (OSError, ValueError) as exc:  # e.g. the fd is not open
                    self._fail_waits(entry, exc)
            entry.queued = False
            changes.popleft()

    def _update_selector(self, entry: _FdWaiters, mask: int) -> None:
        selector = self.selector
        fd = entry.fd
        try:
            if not mask:
                selector.unregister(fd)
            elif entry.registered:
                selector.modify(fd, mask, entry)
            else:
                selector.register(fd, mask, entry)
        except KeyError:
            # An interrupted pass left the selector out of step with
            # ``registered`` (or with the previous entry of this fd): start over.
            with contextlib.suppress(KeyError):
                selector.unregister(fd)
            if mask:
                selector.register(fd, mask, entry)
        entry.registered = mask

    def _fail_waits(self, entry: _FdWaiters, exc: BaseException) -> None:
        if self._fds.get(entry.fd) is entry:
            del self._fds[entry.fd]
        if entry.registered:
            entry.registered = 0
            with contextlib.suppress(KeyError):  # a failed modify unregistered it already
                self.selector.unregister(entry.fd)
        for waiter in (entry.reader, entry.writer):
            if waiter is not None:
                waiter.throw(exc)
        entry.reader = entry.writer = None

    def notify_closing(self, fd: int) -> None:
        """Wake every greenlet waiting on ``fd`` with EBADF and forget the fd.

        Never switches, so it is safe to call while holding a lock.
        """
        entry = self._fds.pop(fd, None)
        if entry is None:
            return
        for waiter in (entry.reader, entry.writer):
            if waiter is not None:
                waiter.throw(OSError(9, "Bad file descriptor: socket closed by another greenlet"))
        entry.reader = entry.writer = None
        self._fd_changed(entry)

    # -- the loop -------------------------------------------------------
    def _alive(self) -> bool:
        return bool(self._ready or self._active_timers or self._fds or self._thread_jobs)

    def run(self) -> None:
        while True:
            try:
                # Discussion: the loop lives inside the try. A `continue` out
                # of a try block jumps from outside it, and a signal landing
                # on that jump would end the hub itself.
                while True:
                    if self._alive():
                        self._run_once()
                    else:
                        self.parent.throw(LoopExit(
                            "this operation would block forever: no greenlet, timer or I/O can wake it"
                        ))
            except (KeyboardInterrupt, SystemExit) as exc:
                # Discussion: a signal lands in whichever greenlet runs, most
                # often the hub sitting in select(). The user's code is in the
                # root greenlet, so deliver it there, promptly.
                self.parent.throw(exc)

    def _poll_timeout(self) -> float | None:
        if self._ready or self._from_threads:
            return 0.0
        timers = self._timers
        while timers and not timers[0][2].active:
            heapq.heappop(timers)
        if not timers:
            return None
        return max(0.0, timers[0][0] - _monotonic())

    def _run_once(self) -> None:
        ready = self._ready
        self._pass_started = _monotonic()
        if self._fd_changes:
            self._apply_fd_changes()
        for key, mask in self.selector.select(self._poll_timeout()):
            entry = key.data
            if entry is None:
                self._drain_wake_socket()
                continue
            if mask & _EVENT_READ and entry.reader is not None:
                entry.reader.switch()
            if mask & _EVENT_WRITE and entry.writer is not None:
                entry.writer.switch()
        from_threads = self._from_threads
        while from_threads:
            ready.append(from_threads.popleft())
        timers = self._timers
        if timers:
            now = _monotonic()
            while timers and timers[0][0] <= now:
                timer = heapq.heappop(timers)[2]
                if timer.active:
                    timer.active = False
                    self._active_timers -= 1
                    ready.append((timer.callback, timer.arg))
        for _ in range(len(ready)):
            callback, arg = ready.popleft()
            try:
                callback(arg)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:
                # A raw callback failing must not kill the loop for everyone.
                traceback.print_exc()

    def _drain_wake_socket(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def handle_system_error(
        self, exc: BaseException, still_pending: Callable[[], bool] | None = None
    ) -> None:
        """Re-raise KeyboardInterrupt/SystemExit from a greenlet in the root greenlet.

        It goes ahead of every queued callback, so Ctrl-C reaches the user's
        code within one callback even in a busy fan-out. ``still_pending()``
        false at that moment cancels it: the exception already reached the
        root greenlet another way (``Greenlet.get`` re-raised it there), and
        a second copy would land in the middle of the cleanup it started.
        """

        def deliver(_: Any) -> None:
            if still_pending is None or still_pending():
                self.parent.throw(exc)

        self._ready.appendleft((deliver, None))

    def close(self) -> None:
        """Release the selector and wake socket (tests and thread exit)."""
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()


def _expire_io(waiter: Waiter) -> None:
    if not waiter.fired:
        waiter.fired = True
        waiter._resume_throw(TimeoutError("timed out"))


_local = threading.local()


class _HubCloser:
    """Closes a hub's selector and wake socket once its thread's locals go.

    Discussion: when a thread ends, CPython clears its ``threading.local``
    values, but the hub cannot be garbage collected: it is a greenlet
    suspended in its loop, and greenlet cannot unwind a greenlet of a
    finished thread. Without this, every thread that ever used gfetch would
    keep three descriptors (epoll and the wake socketpair) until exit.
    """

    __slots__ = ("hub",)

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def __del__(self) -> None:
        try:
            self.hub.close()
        except Exception:  # interpreter shutdown: modules may be half gone
            pass


def get_hub() -> Hub:
    """Return this OS thread's hub, creating it on first use.

    The hub's descriptors are closed when the thread ends.
    """
    try:
        return _local.hub
    except AttributeError:
        hub = _local.hub = Hub()
        _local.closer = _HubCloser(hub)
        return hub


def wait_readable(fd: int, timeout: float | None = None) -> None:
    """Park the current greenlet until ``fd`` is readable (see Hub.wait_fd)."""
    get_hub().wait_fd(fd, _EVENT_READ, timeout)


def wait_writable(fd: int, timeout: float | None = None) -> None:
    """Park the current greenlet until ``fd`` is writable (see Hub.wait_fd)."""
    get_hub().wait_fd(fd, _EVENT_WRITE, timeout)


def notify_closing(fd: int) -> None:
    """Wake greenlets waiting on ``fd`` (of this thread's hub) before it closes."""
    hub = getattr(_local, "hub", None)
    if hub is not None:
        hub.notify_closing(fd)


if hasattr(os, "register_at_fork"):
    # A forked child (dask workers, multiprocessing) must not share the
    # parent's epoll fd and wake socket: start it with a fresh hub. Closing
    # the child's copies leaves the parent's hub untouched (no epoll_ctl).
    def _forget_hub_after_fork() -> None:
        _local.__dict__.pop("hub", None)
        _local.__dict__.pop("closer", None)

    os.register_at_fork(after_in_child=_forget_hub_after_fork)
