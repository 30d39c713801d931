"""The hub: one event loop greenlet per OS thread.

Imports only the stdlib, greenlet, gfetch.core.errors and
gfetch.core.resources.

General theory of operation
---------------------------
Every OS thread that blocks through gfetch gets one :class:`Hub`, created
lazily by :func:`get_hub`. The hub is a greenlet whose parent is the thread's
root greenlet, and every greenlet gfetch spawns has the hub as its parent, so
a finished greenlet falls back into the loop.

A greenlet that must wait creates a :class:`Waiter`, arranges for some event
source (fd readiness, another greenlet, another thread) to call
``waiter.switch(value)`` or ``waiter.throw(exc)``, and calls
:meth:`Hub.park` (with a timeout and an abort hook), which switches to the
hub; its docstring states the rules every wait follows. Sources never switch directly: they append the
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
:class:`~gfetch.core.errors.LoopExit` into the root greenlet instead of sleeping
forever. An exception raised in the loop's own frames (by a signal handler,
usually: Ctrl-C, a SIGALRM time limit) interrupts the root greenlet, and the
loop survives it. Every interruption (kill, Timeout, Ctrl-C) takes one path,
:meth:`Hub.interrupt`, which asks the park's abort hook whether the wait can
end now and otherwise keeps the exception pending for the next park.
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
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from greenlet import GreenletExit, getcurrent, greenlet

from gfetch.core.errors import ConcurrentObjectUseError, LoopExit
from gfetch.core.resources import open_fd

__all__ = [
    "CHECK_EVERY",
    "TIMED_OUT",
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
# (a read of up to 127 KiB each: about a millisecond of work); it lets the loop run
# once a timer is due, or once a pass has run _SLICE seconds while others
# wait (each other request waiting for its turn then waits about that long).
CHECK_EVERY = 16
_SLICE = 0.01


class Timer:
    """A call scheduled on the hub (:meth:`Hub.call_later`); :meth:`cancel` is idempotent.

    The hub fills in the slots (no ``__init__``: one frame less on top of
    every timed park, whose frames stay resident while it waits).
    """

    __slots__ = ("deadline", "callback", "arg", "active", "_hub")
    deadline: float
    callback: Callable[[Any], Any]
    arg: Any
    active: bool
    _hub: Hub

    def cancel(self) -> None:
        if self.active:
            self._hub.cancel_timer(self)


class _TimedOut:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TIMED_OUT"


TIMED_OUT: Any = _TimedOut()
"""What :meth:`Hub.park` returns when its timeout expired before any wake-up."""


def _always() -> bool:
    """An interruption's ``is_live`` by default: never withdrawn."""
    return True


class Waiter:
    """The wake-up slot of one :meth:`Hub.park`: wakers call ``switch``/``throw``.

    ``switch``/``throw`` may be called from any greenlet on the hub's thread
    (they only queue the wake-up); only the first call counts and returns
    True. See :meth:`Hub.park` for the rules.
    """

    __slots__ = ("hub", "greenlet", "fired", "abort")

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub if hub is not None else get_hub()
        self.greenlet: greenlet | None = None
        self.fired = False
        self.abort: Callable[[Waiter], Any] | None = None

    def switch(self, value: Any = None) -> bool:
        if self.fired:
            return False
        self.fired = True
        self.hub._ready.append((self._resume, value))
        return True

    def throw(self, exc: BaseException) -> bool:
        if self.fired:
            return False
        self.fired = True
        self.hub._ready.append((self._resume_throw, exc))
        return True

    def _resume(self, value: Any) -> None:
        glet = self.greenlet
        if glet is not None:
            glet.switch(value)

    def _resume_throw(self, exc: BaseException) -> None:
        glet = self.greenlet
        # A greenlet that died meanwhile (killed by the raw greenlet API) has nobody to
        # deliver it to: thrown, it would be raised in the hub instead.
        if glet is not None and not glet.dead:
            glet.throw(exc)


def _nobody() -> None:
    """The owner of an fd whose waiter does not own it (see Hub.wait_fd)."""
    return None


class _FdWaiters:
    """The reader and writer parked on one fd, and what the selector has of it."""

    __slots__ = ("hub", "fd", "owner", "reader", "writer", "registered", "queued")

    def __init__(self, hub: Hub, fd: int, owned: object | None) -> None:
        self.hub = hub
        self.fd = fd
        # A weak reference: a registration kept for a socket collected unclosed is not its own.
        self.owner: Callable[[], object | None] = _nobody if owned is None else weakref.ref(owned)
        self.reader: Waiter | None = None
        self.writer: Waiter | None = None
        self.registered = 0  # the event mask the selector holds for this entry
        self.queued = False  # in Hub._fd_changes

    def mask(self) -> int:
        return (_EVENT_READ if self.reader else 0) | (_EVENT_WRITE if self.writer else 0)

    def forget(self, waiter: Waiter) -> None:
        """End ``waiter``'s wait on this fd; the hub forgets the fd once nobody waits on it."""
        if self.reader is waiter:
            self.reader = None
        elif self.writer is waiter:
            self.writer = None
        self.hub.fd_wait_ended(self)

    # The entry itself is the park's abort hook: no bound method allocated per wait.
    __call__ = forget


class Hub(greenlet):
    """The event loop of one OS thread. Use :func:`get_hub`, don't construct.

    Discussion: the wake socketpair stays registered for the hub's lifetime,
    but it only counts as "something may still happen" while a thread job is
    outstanding (``_thread_jobs``). Otherwise a hub with a permanently
    registered wake fd could never detect a deadlock.

    Its state is in slots: a greenlet keeps other attributes in a dict the
    interpreter does not look up fast (the loop reads this state a few dozen
    times per request).
    """

    __slots__ = (
        "thread_ident",
        "selector",
        "_wake_r",
        "_wake_w",
        "_ready",
        "_timers",
        "_timer_sequence",
        "_active_timers",
        "_fds",
        "_kept",
        "_fd_changes",
        "_parked",
        "_interrupts",
        "_thread_jobs",
        "_from_threads",
        "_pass_started",
    )

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        root = getcurrent()
        while root.parent is not None:
            root = root.parent
        super().__init__(parent=root)
        self.thread_ident = threading.get_ident()
        # Three descriptors (selector, wake socketpair): at EMFILE raise the
        # soft limit, else fail with the advice a request gets (gfetch.core.resources).
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
        self._kept: dict[int, _FdWaiters] = {}  # owned fds nobody waits on, still registered
        self._fd_changes: deque[_FdWaiters] = deque()  # for the selector, at the next pass
        self._parked: dict[greenlet, Waiter] = {}
        self._interrupts: dict[greenlet, list[tuple[BaseException, Callable[[], bool]]]] = {}
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
        return self._schedule(_monotonic() + max(seconds, 0.0), callback, arg)

    def _schedule(self, deadline: float, callback: Callable[[Any], Any], arg: Any) -> Timer:
        timer = Timer.__new__(Timer)
        timer.deadline, timer.callback, timer.arg = deadline, callback, arg
        timer.active, timer._hub = True, self
        # The heap holds (deadline, sequence, timer): compared in C, and
        # equal deadlines fire in the order they were set.
        heapq.heappush(self._timers, (deadline, next(self._timer_sequence), timer))
        self._active_timers += 1
        return timer

    def cancel_timer(self, timer: Timer) -> None:
        """Cancel ``timer`` if it is still pending (what :meth:`Timer.cancel` calls)."""
        if timer.active:
            timer.active = False
            timer.callback = timer.arg = None  # type: ignore[assignment]  # drop references early
            self._active_timers -= 1
            # Discussion: cancelled timers stay in the heap until their
            # deadline (lazy deletion). A fan-out sets and cancels a 30 s read
            # timer per socket operation, so rebuild the heap when dead
            # entries dominate.
            if len(self._timers) > 256 and self._active_timers * 2 < len(self._timers):
                self._timers = [entry for entry in self._timers if entry[2].active]
                heapq.heapify(self._timers)

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

    # -- parking --------------------------------------------------------
    def park(
        self, waiter: Waiter, timeout: float | None = None, abort: Callable[[Waiter], Any] | None = None
    ) -> Any:
        """Park the current greenlet until ``waiter`` is woken; the one way to block.

        The caller first registers ``waiter`` where a waker will find it (an
        fd entry, a queue of waiters, a link, a thread job), then parks. The
        rules, which every wait in gfetch relies on:

        * **Wake exactly once.** Whoever fires ``waiter`` first owns the
          ending: a waker's ``waiter.switch(value)`` (the park returns
          ``value``) or ``waiter.throw(exc)`` (it raises ``exc``), the
          timeout, or an interruption. Every later wake-up is dropped
          (``switch``/``throw`` return False), so a stale event can never
          resume a greenlet in the wrong place. Wakers only queue the
          wake-up, never switch, so they may fire from hub callbacks, under
          a ``threading.Lock`` or from another thread via ``call_threadsafe``.
        * **Registration.** A waker that fires ``waiter`` removes the
          registration itself. Otherwise ``abort(waiter)`` removes it, exactly
          once and before the greenlet runs again: when the timeout or an
          interruption ends the wait (in the hub, ``waiter`` already fired),
          or in the greenlet when an exception is thrown straight into it
          (LoopExit to the root greenlet; GreenletExit at garbage
          collection) or when the park is refused. ``abort`` must not
          switch. It may refuse to end the wait now by returning False
          (the registration stays; the waker will fire ``waiter``): a
          timeout or interruption then does not end it (see below).
        * **Timeout.** After ``timeout`` seconds (None: never) the timer
          ends the wait through ``abort`` and resumes the greenlet
          directly, without a trip through the ready queue: the park
          returns :data:`TIMED_OUT`. If ``abort`` refuses, the wait goes on
          until its waker fires it.
        * **Interruption**: every exception the greenlet did not wait for
          (``kill``, :class:`~gfetch.core.greenlets.Timeout`, so a fan-out's
          gtimeout, deadline and cleanup; and in the root greenlet Ctrl-C,
          whether raised in another greenlet or in the loop itself, where
          a signal handler raises it) goes through :meth:`interrupt` only.
          An un-woken park whose ``abort`` agrees ends with the exception.
          Otherwise it is pending and raised by the greenlet's next park,
          which then ends at once (its ``abort`` runs): a wake-up already
          queued (a slot handed over) or a wait ``abort`` would not end is
          delivered first. A Ctrl-C for the root does not wait for a queued
          wake-up (which is dropped); the loop goes on (see run).

        Raises:
            RuntimeError: when called from the hub greenlet itself.
            LoopExit: when nothing can ever wake the (root) greenlet.
            whatever the waker throws or an interruption delivers, and in
            the root greenlet whatever was raised in the loop.
        """
        current = getcurrent()
        if current is self or self._interrupts:
            self._before_park(current, waiter, abort)
        waiter.greenlet = current
        waiter.abort = abort
        self._parked[current] = waiter
        timer = (
            None if timeout is None else self._schedule(_monotonic() + max(timeout, 0.0), _time_out, waiter)
        )
        try:
            return self.switch()
        except BaseException:
            if not waiter.fired:  # thrown straight in: nobody removed the registration
                waiter.fired = True
                if abort is not None:
                    abort(waiter)
            raise
        finally:
            waiter.greenlet = waiter.abort = None
            waiter.fired = True
            del self._parked[current]
            if timer is not None and timer.active:
                self.cancel_timer(timer)

    def _before_park(self, current: greenlet, waiter: Waiter, abort: Callable[[Waiter], Any] | None) -> None:
        """Refuse a park in the hub; raise an interruption pending for ``current``."""
        exc: BaseException | None
        if current is self:
            exc = RuntimeError(
                "cannot block inside the hub (called from a hub callback?); spawn a greenlet instead"
            )
        else:
            exc = self._take_interrupt(current)
        if exc is not None:
            waiter.fired = True
            if abort is not None:
                abort(waiter)
            raise exc

    def interrupt(
        self,
        target: greenlet,
        exc: BaseException,
        is_live: Callable[[], bool] = _always,
        urgent: bool = False,
    ) -> None:
        """Raise ``exc`` in ``target`` at its park: the one way an interruption gets in.

        Every exception a greenlet did not ask for comes here: ``kill`` (so
        a fan-out's gtimeout and its cleanup), :class:`~gfetch.core.greenlets.Timeout`
        (so a request's deadline), and, for the root greenlet, ``urgent``,
        Ctrl-C (a KeyboardInterrupt or SystemExit a greenlet died of, or
        anything raised in the loop's own frames). From any greenlet of the
        hub's thread; it never switches. ``is_live()`` false by the time
        the exception would be raised withdraws it (a cancelled Timeout).

        * ``target`` parked, its wake-up not yet fired: the park's abort
          hook is asked; unless it refuses (returns False) the waiter is
          fired and ``exc`` is thrown in (an urgent one ahead of every
          queued callback, so Ctrl-C gets through a busy fan-out at once).
        * Otherwise ``exc`` is **pending** (the only place one waits), and
          the target's next park raises it at once. A wake-up already
          queued is delivered first (a semaphore slot handed over is not
          lost); a wait whose hook refused ends when its waker fires it.
          Pending interruptions are raised one per park, in the order they
          came, urgent ones first. One that cannot be withdrawn (a kill, a
          Ctrl-C) of the same type as one already pending is dropped: a
          repeated kill, say a fan-out's cleanup killing its workers again,
          is raised once.
        * ``urgent`` for a target whose wake-up is queued: thrown in at
          once, the wake-up dropped (the root might never park again to
          see a Ctrl-C). If another exception gets into that park first,
          this one is raised by the next.

        Discussion: a queued wake-up can be lost (a KeyboardInterrupt landing
        in the loop between firing a waiter and resuming its greenlet); the
        target would never park again. So if it still sits on that fired
        waiter a pass later, what is pending for it is thrown there. Waiting
        instead, pass after pass, for the target to park un-woken could
        starve: a fan-out's feeder, parked on a Pool slot, is woken in nearly
        every pass (Ctrl-C took up to 13 s).
        """
        if target.dead or not is_live():
            return
        waiter = self._parked.get(target)
        if waiter is not None and ((urgent and waiter.fired) or self._abort(waiter)):
            delivery = (self._throw_in, (target, waiter, [exc], is_live, urgent))
            if urgent:
                self._ready.appendleft(delivery)
            else:
                self._ready.append(delivery)
            return
        pending = self._interrupts.setdefault(target, [])
        if is_live is _always and any(
            type(queued) is type(exc) and live is _always for queued, live in pending
        ):
            return
        pending.insert(0 if urgent else len(pending), (exc, is_live))
        if waiter is not None and waiter.fired:
            self._ready.append((self._throw_pending, (target, waiter)))

    def _abort(self, waiter: Waiter) -> bool:
        """End an un-fired ``waiter``'s wait through its park's abort hook; False when it refuses.

        The hook runs with ``waiter`` fired (a wake-up arriving meanwhile is
        dropped); a refusal leaves it un-fired, for its waker.
        """
        if waiter.fired:
            return False
        waiter.fired = True
        if waiter.abort is not None and waiter.abort(waiter) is False:
            waiter.fired = False
            return False
        return True

    def _throw_pending(self, lost: tuple[greenlet, Waiter]) -> None:
        """Throw what is pending for a greenlet still on a fired waiter: its wake-up was lost."""
        target, waiter = lost
        if self._parked.get(target) is waiter:
            exc = self._take_interrupt(target)
            if exc is not None:
                self._throw_in((target, waiter, [exc], _always, True))

    def _throw_in(
        self, delivery: tuple[greenlet, Waiter, list[BaseException], Callable[[], bool], bool]
    ) -> None:
        """Raise the exception in the box at ``target``'s park; interrupt it again if it has left
        that park meanwhile (another urgent interruption got there first).

        The root gets it from a helper greenlet (see _raise_in_root); any other
        greenlet, which soon parks or dies and so lets the hub go on, through
        ``throw`` (a GreenletExit a helper raised would reach it as a value).
        """
        target, waiter, box, is_live, urgent = delivery
        if self._parked.get(target) is not waiter:
            self.interrupt(target, box.pop(), is_live, urgent)
        elif target.parent is None:  # the root greenlet
            self._raise_in_root(box)
        else:
            target.throw(box.pop())

    def _take_interrupt(self, glet: greenlet) -> BaseException | None:
        pending = self._interrupts.get(glet)
        exc = None
        while pending and exc is None:
            queued, is_live = pending.pop(0)
            if is_live():
                exc = queued
        if not pending:
            self._interrupts.pop(glet, None)
        return exc

    def greenlet_finished(self, glet: greenlet) -> None:
        """Forget interruptions still pending for ``glet``, which will never park again."""
        if self._interrupts:
            self._interrupts.pop(glet, None)

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
                # Discussion: resumed by its timeout, not from the ready
                # queue, so the timers already due fire first in that pass:
                # a Timeout then finds this greenlet parked and raises here.
                self.park(Waiter(self), 0.0)

    # -- fd readiness ---------------------------------------------------
    def wait_fd(self, fd: int, event: int, timeout: float | None, owned: object | None = None) -> None:
        """Park the current greenlet until ``fd`` is ready for ``event``.

        ``owned``: the object that owns ``fd`` and calls :func:`notify_closing`
        before it closes it (gfetch's sockets pass themselves). Its
        registration outlives its waits and is taken back by its next one
        (see :meth:`fd_wait_ended`); any other wait's registration is its own.

        Raises:
            socket.timeout: after ``timeout`` seconds (None waits forever).
            OSError(EBADF): when another greenlet closes the fd meanwhile, or
                when ``fd`` is not open.
            ConcurrentObjectUseError: another greenlet already waits on it.
        """
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        fds = self._fds
        entry = fds.get(fd)
        if entry is None or not (
            entry.reader or entry.writer or (owned is not None and entry.owner() is owned)
        ):
            # An fd closed behind the hub's back may be open again as another: a new entry.
            entry = self._kept.pop(fd, None)
            if entry is None or owned is None or entry.owner() is not owned:
                entry = _FdWaiters(self, fd, owned)
            fds[fd] = entry
        reading = event == _EVENT_READ
        if (entry.reader if reading else entry.writer) is not None:
            raise ConcurrentObjectUseError(
                f"another greenlet is already waiting to {'read' if reading else 'write'} fd {fd}"
            )
        waiter = Waiter(self)
        if reading:
            entry.reader = waiter
        else:
            entry.writer = waiter
        self._fd_changed(entry)
        if self.park(waiter, timeout, entry) is TIMED_OUT:
            # Not chained to the exception the caller may be handling (an
            # SSLWantReadError): the timeout is the whole story.
            raise TimeoutError("timed out") from None

    def fd_wait_ended(self, entry: _FdWaiters, ready: bool = False) -> None:
        """Forget ``entry`` once nobody waits on its fd (for a wait that ended because the fd was
        ``ready``: at the next pass); tell the selector at the next pass.

        Discussion: a read wait that ended with its fd ready keeps its
        registration if the fd is owned (gfetch's sockets: see wait_fd):
        the owner's next wait, a keep-alive connection's next request,
        takes it back without a word to the selector (no unregister and
        register again: two system calls a request). The selector drops it
        when the owner closes the fd (notify_closing), or at the first event
        nobody waits for (a late byte or the end of an idle connection's
        stream: the next pass would report it again, and the next). Until the
        next pass any wait by the owner takes the entry back; any other
        wait gets a new entry, as its fd may have been closed and reused
        behind the hub's back.
        """
        if not (ready or entry.reader or entry.writer) and self._fds.get(entry.fd) is entry:
            del self._fds[entry.fd]
        self._fd_changed(entry)

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
        An entry whose waits all ended is unregistered and forgotten, or, if
        its read wait ended ready and its owner lives, kept registered (``_kept``);
        a later wait on the same fd number by anybody else gets a new entry,
        registered afresh after it, so an fd closed and reused meanwhile is
        never mistaken for the old one (see fd_wait_ended). An entry leaves
        the queue only once applied, and re-applying one is harmless, so a
        Ctrl-C landing in here loses nothing.
        """
        changes = self._fd_changes
        fds = self._fds
        kept = self._kept
        while changes:
            entry = changes[0]
            mask = entry.mask()
            fd = entry.fd
            if (
                not mask
                and entry.registered == _EVENT_READ  # a socket is nearly always writable
                and (fds.get(fd) is entry or kept.get(fd) is entry)
                and entry.owner() is not None
            ):
                kept[fd] = entry
            elif mask != entry.registered:
                try:
                    self._update_selector(entry, mask)
                except (OSError, ValueError) as exc:  # e.g. the fd is not open
                    self._fail_waits(entry, exc)
            if not mask and fds.get(fd) is entry:
                del fds[fd]
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
        if self._kept.get(entry.fd) is entry:
            del self._kept[entry.fd]
        if entry.registered:
            entry.registered = 0
            with contextlib.suppress(KeyError):  # a failed modify unregistered it already
                self.selector.unregister(entry.fd)
        for waiter in (entry.reader, entry.writer):
            if waiter is not None:
                waiter.throw(exc)
        entry.reader = entry.writer = None

    def notify_closing(self, fd: int) -> None:
        """Wake every greenlet waiting on ``fd`` with EBADF and forget the fd; called before it closes.

        Never switches, so it is safe to call while holding a lock.

        Discussion: the selector lets go of the fd here, while it is still
        open, not at the next pass: epoll drops a closed fd by itself only
        once no process holds its file any more (a forked child may), and
        would report its events ever after under a number nobody waits on.
        """
        entry = self._fds.pop(fd, None) or self._kept.pop(fd, None)
        if entry is None:
            return
        for waiter in (entry.reader, entry.writer):
            if waiter is not None:
                waiter.throw(OSError(9, "Bad file descriptor: socket closed by another greenlet"))
        entry.reader = entry.writer = None
        self._fd_changed(entry)  # if interrupted below: the next pass applies it
        if entry.registered:
            with contextlib.suppress(OSError, ValueError):
                self._update_selector(entry, 0)

    # -- the loop -------------------------------------------------------
    def _alive(self) -> bool:
        """Whether anything can still wake a greenlet; the selector is brought up to date with
        the fd waits first, so an fd nobody waits on any more (fd_wait_ended) does not count."""
        if self._fd_changes:
            self._apply_fd_changes()
        return bool(self._ready or self._active_timers or self._fds or self._thread_jobs)

    def run(self) -> None:
        interrupted: BaseException | None = None
        while True:
            try:
                # Discussion: the loop, and the hand-over of what interrupted
                # it, live inside the try. A `continue` out of a try block
                # jumps from outside it, and a signal landing on that jump, or
                # as the hub resumes after a hand-over, would end the hub
                # itself: every later wait in this thread would then fail.
                while True:
                    if interrupted is not None:
                        box, interrupted = [interrupted], None  # the hub keeps no reference
                        self.interrupt(self.parent, box.pop(), urgent=True)
                    elif self._alive():
                        self._run_once()
                    else:
                        self._raise_in_root(
                            [
                                LoopExit(
                                    "this operation would block forever: "
                                    "no greenlet, timer or I/O can wake it"
                                )
                            ]
                        )
            except GreenletExit:
                raise  # the hub itself is being collected
            except BaseException as exc:
                # Discussion: an exception in the hub's own frames did not come
                # from any greenlet's code. It is what a signal handler raised
                # (Ctrl-C, a SIGALRM time limit: a signal lands in whichever
                # greenlet runs, most often the hub sitting in select()), or a
                # raw callback failing. Python runs signal handlers in the main
                # thread, where the user's code is the root greenlet: it is
                # interrupted with it (see interrupt), ending that wait, and the
                # loop carries on at the root's next wait.
                interrupted = exc

    def _raise_in_root(self, box: list[BaseException]) -> None:
        """Raise the exception in ``box`` in the root greenlet, where it waits (or switched away).

        Discussion: not ``self.parent.throw(exc)``: the hub would stay
        suspended in that call, keeping the exception, and through its
        traceback every frame it then passes in the root, until the root's
        next wait, maybe never (sockets, sessions). A helper greenlet that
        dies raising it hands it to its parent, the root, and keeps nothing.
        """
        greenlet(_raise_popped, self.parent).switch(box)

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
        self._pass_started = _monotonic()  # the fd waits were applied just before (_alive)
        for key, mask in self.selector.select(self._poll_timeout()):
            entry = key.data
            if entry is None:
                self._drain_wake_socket()
                continue
            # The wake ends the wait's registration (see park); inline, as
            # this runs for every wake-up of every socket.
            reader, writer = entry.reader, entry.writer
            if mask & _EVENT_READ and reader is not None:
                entry.reader = None
                reader.switch()
            if mask & _EVENT_WRITE and writer is not None:
                entry.writer = None
                writer.switch()
            if entry.reader is not reader or entry.writer is not writer:
                self.fd_wait_ended(entry, ready=True)
            elif reader is None and writer is None:
                self._unheard(entry)
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
            callback(arg)  # raising, it ends the pass: the rest run next pass (see run)

    def _unheard(self, entry: _FdWaiters) -> None:
        """An event nobody waits for: a kept fd's late byte or end (see fd_wait_ended). The
        selector lets go of it at the next pass; it would report it again at every pass."""
        if self._kept.get(entry.fd) is entry:
            del self._kept[entry.fd]
        self._fd_changed(entry)

    def _drain_wake_socket(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Release the selector and wake socket (tests and thread exit)."""
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()


def _raise_popped(box: list[BaseException]) -> None:
    raise box.pop()


def _time_out(waiter: Waiter) -> None:
    """A park's timeout: end the wait through its abort hook and resume it at once (unless the
    hook refuses: then the wait goes on until its waker fires it)."""
    if waiter.fired:
        return
    glet = waiter.greenlet
    try:
        if not waiter.hub._abort(waiter):
            glet = None
    finally:
        if glet is not None:
            glet.switch(TIMED_OUT)


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
