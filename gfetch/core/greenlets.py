"""Greenlets on the hub: spawn, join, kill, sleep and Timeout.

Imports only greenlet, contextvars and gfetch.core.hub. The names and semantics
follow gevent's, so its tutorials translate one to one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextvars import copy_context
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet

from gfetch.core.hub import Hub, Waiter, get_hub

__all__ = ["Greenlet", "Timeout", "joinall", "kill", "killall", "sleep", "spawn", "with_timeout"]

T = TypeVar("T")
_UNSET: Any = object()


class Greenlet(greenlet):
    """A unit of work run by the hub: ``Greenlet(func, *args, **kwargs)``.

    Create with :func:`spawn` (or construct and :meth:`start`). The greenlet
    runs only once the spawning greenlet blocks or yields. Its outcome is
    kept: ``value`` on success, ``exception`` on failure; ``get()`` returns
    or re-raises it. A GreenletExit (from :meth:`kill`) counts as success,
    with the GreenletExit instance as value, as in gevent.

    It runs in a copy of the creating greenlet's ``contextvars`` context, as
    an asyncio task does: what the caller set (a tracer's current span, a
    request id) is seen inside, and what the greenlet sets stays inside.
    """

    def __init__(self, run: Callable[..., Any] | None = None, *args: Any, **kwargs: Any) -> None:
        hub = get_hub()
        super().__init__(parent=hub)
        self.gr_context = copy_context()
        self._hub = hub
        self._func = run
        self.args = args
        self.kwargs = kwargs
        self.value: Any = None
        self._exception: BaseException | None = None
        self._started = False
        self._finished = False
        self._links: list[Callable[[Greenlet], Any]] = []

    def __repr__(self) -> str:
        name = getattr(self._func, "__name__", None) or repr(self._func)
        state = "dead" if self._finished else ("started" if self._started else "new")
        return f"<Greenlet {name} {state} at {id(self):#x}>"

    # -- lifecycle ------------------------------------------------------
    def start(self) -> None:
        """Schedule the greenlet to run on the hub's next pass."""
        if not self._started and not self._finished:
            self._started = True
            self._hub.call_soon(self._first_switch)

    def start_later(self, seconds: float) -> None:
        if not self._started and not self._finished:
            self._started = True
            self._hub.call_later(seconds, self._first_switch)

    def _first_switch(self, _: Any) -> None:
        if not self._finished:
            self.switch()

    def run(self) -> None:
        try:
            func = self._func
            if func is None:
                result = None
            elif self.args or self.kwargs:
                result = func(*self.args, **self.kwargs)
            else:
                result = func()  # a plain call: no C frame kept on a parked greenlet's stack
        except GreenletExit as exc:
            self._finish(exc, None)
        except BaseException as exc:
            self._finish(None, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                # Ctrl-C belongs to the main code: it is interrupted with it at once,
                # before it runs again (so before any get() here could re-raise it).
                self._hub.interrupt(self._hub.parent, exc, urgent=True)
        else:
            self._finish(result, None)

    def _finish(self, value: Any, exception: BaseException | None) -> None:
        self.value = value
        self._exception = exception
        self._finished = True
        self._func = self.args = self.kwargs = None  # type: ignore[assignment]
        self._hub.greenlet_finished(self)
        if self._links:
            self._hub.call_soon(self._notify_links)

    def _notify_links(self, _: Any) -> None:
        links, self._links = self._links, []
        for callback in links:
            callback(self)

    # -- state ----------------------------------------------------------
    @property
    def exception(self) -> BaseException | None:
        """The exception the greenlet died with, else None."""
        return self._exception

    def ready(self) -> bool:
        """True once the greenlet has finished (or was killed before starting)."""
        return self._finished

    def successful(self) -> bool:
        return self._finished and self._exception is None

    @property
    def started(self) -> bool:
        return self._started

    # ``dead`` is greenlet's own property: also true for a never-started one
    # killed before it ran, because we finish it without running it.
    @property
    def dead(self) -> bool:  # type: ignore[override]
        return self._finished or super().dead

    def link(self, callback: Callable[[Greenlet], Any]) -> None:
        """Call ``callback(self)`` in the hub once the greenlet finishes."""
        self._links.append(callback)
        if self._finished:
            self._hub.call_soon(self._notify_links)

    def unlink(self, callback: Callable[[Greenlet], Any]) -> None:
        try:
            self._links.remove(callback)
        except ValueError:
            pass

    # -- waiting --------------------------------------------------------
    def join(self, timeout: float | None = None) -> None:
        """Wait until the greenlet finishes, or ``timeout`` seconds pass.

        Raises:
            RuntimeError: if called from another OS thread than the one whose
                hub runs the greenlet (and it has not finished yet).
        """
        if self._finished:
            return
        _check_same_thread(self)
        waiter = Waiter(self._hub)
        self.link(waiter.switch)  # the link list is emptied when it is called
        self._hub.park(waiter, timeout, self._unlink_waiter)

    def _unlink_waiter(self, waiter: Waiter) -> None:
        self.unlink(waiter.switch)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Return the greenlet's value or re-raise its exception.

        Raises:
            Timeout: if it has not finished after ``timeout`` seconds, or at
                once with ``block=False``.
        """
        if not self._finished:
            if not block:
                raise Timeout(0)
            self.join(timeout)
            if not self._finished:
                raise Timeout(timeout)
        return self._result()

    def _result(self) -> Any:
        """The value of a finished greenlet, or raise its exception."""
        if self._exception is not None:
            raise self._exception
        return self.value

    def kill(
        self,
        exception: type[BaseException] | BaseException = GreenletExit,
        block: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Raise ``exception`` (default GreenletExit) in the greenlet.

        A greenlet that never started is finished at once without running.
        Otherwise it is raised through :meth:`Hub.interrupt` (see its rules: a
        wait that cannot end now raises it at the greenlet's next wait).
        With ``block=True`` wait (up to ``timeout``) until it has died.
        """
        if self._finished:
            return
        exc = exception() if isinstance(exception, type) else exception
        if not bool(self):  # not running yet: never run it
            if isinstance(exc, GreenletExit):
                self._finish(exc, None)
            else:
                self._finish(None, exc)
            return
        if getcurrent() is self:
            raise exc
        hub = self._hub
        hub.call_soon(lambda _: hub.interrupt(self, exc))
        if block:
            self.join(timeout)

    @classmethod
    def spawn(cls, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Greenlet:
        glet = cls(func, *args, **kwargs)
        glet.start()
        return glet


def _check_same_thread(glet: Greenlet) -> None:
    """Refuse to wait for ``glet`` from another OS thread than its hub's.

    Discussion: a greenlet can only be switched to from its own thread;
    greenlet's own error ("Cannot switch to a different thread") names
    neither the greenlet nor the way out.
    """
    owner = glet._hub.thread_ident
    if owner != threading.get_ident():
        raise RuntimeError(
            f"cannot wait for {glet!r} from another OS thread: it runs on the hub of thread {owner}. "
            "Wait for it in that thread, and hand the result over with a queue.Queue or a "
            "concurrent.futures.Future."
        )


def spawn(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Greenlet:
    """Create a Greenlet running ``func(*args, **kwargs)`` and schedule it.

    It does not run until the caller blocks or yields (``sleep(0)``).
    """
    return Greenlet.spawn(func, *args, **kwargs)


def sleep(seconds: float = 0) -> None:
    """Park the current greenlet for ``seconds``; ``sleep(0)`` just yields.

    ``sleep(0)`` puts the caller at the back of the ready queue, so two
    greenlets looping on it alternate strictly.
    """
    hub = get_hub()
    waiter = Waiter(hub)
    if seconds <= 0:
        waiter.switch()
        hub.park(waiter)
    else:
        hub.park(waiter, seconds)


def joinall(
    greenlets: Iterable[Greenlet],
    timeout: float | None = None,
    raise_error: bool = False,
    count: int | None = None,
) -> list[Greenlet]:
    """Wait for ``greenlets`` to finish; return those that did, in input order.

    Returns after ``timeout`` seconds with whatever finished by then. With
    ``raise_error`` re-raise the first failure as soon as it happens. With
    ``count`` return once that many have finished.

    Raises:
        RuntimeError: if an unfinished greenlet belongs to another OS thread.
    """
    glets = list(greenlets)
    want = len(glets) if count is None else min(count, len(glets))
    hub = get_hub()
    waiter = Waiter(hub)
    pending = [g for g in glets if not g.ready()]
    for g in pending:
        _check_same_thread(g)
    done = len(glets) - len(pending)

    def on_finish(glet: Greenlet) -> None:
        nonlocal done
        done += 1
        if ((raise_error and glet.exception is not None) or done >= want) and waiter.switch():
            unlink_all(waiter)

    def unlink_all(_: Waiter) -> None:
        for g in pending:
            g.unlink(on_finish)

    failed = raise_error and any(g.exception is not None for g in glets if g.ready())
    if done < want and not failed:
        for g in pending:
            g.link(on_finish)
        hub.park(waiter, timeout, unlink_all)
    if raise_error:
        for g in glets:
            if g.ready() and g.exception is not None:
                g._result()
    return [g for g in glets if g.ready()]


def kill(
    glet: Greenlet,
    exception: type[BaseException] | BaseException = GreenletExit,
    block: bool = True,
    timeout: float | None = None,
) -> None:
    """Kill one greenlet (see :meth:`Greenlet.kill`)."""
    glet.kill(exception, block=block, timeout=timeout)


def killall(
    greenlets: Iterable[Greenlet],
    exception: type[BaseException] | BaseException = GreenletExit,
    block: bool = True,
    timeout: float | None = None,
) -> None:
    """Kill every greenlet; with ``block`` wait (up to ``timeout``) for all of them."""
    glets = list(greenlets)
    for g in glets:
        g.kill(exception, block=False)
    if block:
        joinall(glets, timeout=timeout)


class Timeout(BaseException):
    """Raise an exception in the current greenlet after ``seconds``.

    Use as a context manager or with :meth:`start`/:meth:`cancel`, as in
    gevent. ``exception=None`` raises the Timeout itself (it is a
    BaseException so ``except Exception`` cannot swallow it);
    ``exception=False`` makes the ``with`` block end silently; any other
    exception class or instance is raised instead. ``seconds=None`` never
    fires.
    """

    def __init__(self, seconds: float | None = None, exception: Any = None) -> None:
        super().__init__(seconds)
        self.seconds = seconds
        self.exception = exception
        self._timer: Any = None
        self._target: greenlet | None = None

    def __str__(self) -> str:
        if self.seconds is None:
            return ""
        suffix = "s" if self.seconds != 1 else ""
        return f"{self.seconds} second{suffix}"

    def __repr__(self) -> str:
        return f"Timeout({self.seconds!r}, exception={self.exception!r})"

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def start(self) -> Timeout:
        """Arm the timer for the current greenlet."""
        if self._timer is not None:
            raise AssertionError(f"{self!r} is already started; cancel it first")
        if self.seconds is None:
            return self
        hub = get_hub()
        self._target = getcurrent()
        self._timer = hub.call_later(self.seconds, self._fire, hub)
        return self

    @classmethod
    def start_new(cls, seconds: float | None = None, exception: Any = None) -> Timeout:
        return cls(seconds, exception).start()

    def _fire(self, hub: Hub) -> None:
        target = self._target
        if target is None:
            return
        exc: BaseException
        if self.exception is None or self.exception is False:
            exc = self
        elif isinstance(self.exception, type):
            exc = self.exception(str(self))
        else:
            exc = self.exception
        hub.interrupt(target, exc, lambda: self._target is target)

    def cancel(self) -> None:
        """Disarm; safe to call more than once or after firing."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._target = None

    def close(self) -> None:
        self.cancel()

    def __enter__(self) -> Timeout:
        if self._timer is None:
            self.start()
        return self

    def __exit__(self, exc_type: Any, value: Any, tb: Any) -> bool:
        self.cancel()
        return value is self and self.exception is False


def with_timeout(seconds: float | None, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:  # type: ignore[return]  # Timeout(seconds) re-raises
    """Call ``function`` under a :class:`Timeout` of ``seconds``."""
    with Timeout(seconds):
        return function(*args, **kwargs)
