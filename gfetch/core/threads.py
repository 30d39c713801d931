"""run_in_thread: a blocking call in a worker thread, parking only the calling greenlet.

Imports the stdlib and gfetch.core.hub.

A small pool of daemon threads (up to ``MAX_WORKERS``) runs the calls; a
worker hands the outcome back with ``Hub.call_threadsafe`` (a deque append
and one byte on the hub's wake socket) and never touches greenlets. An
outcome that arrives after the caller gave up (timeout, kill) is dropped.
gfetch.io.dns resolves names this way.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from gfetch.core.hub import TIMED_OUT, Hub, Waiter, get_hub

__all__ = ["run_in_thread"]

MAX_WORKERS = 10

_jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Any, Waiter]] = queue.SimpleQueue()
_workers_lock = threading.Lock()
_workers = 0
_idle = 0


def _worker() -> None:
    global _idle
    while True:
        with _workers_lock:
            _idle += 1
        func, args, hub, waiter = _jobs.get()
        with _workers_lock:
            _idle -= 1
        try:
            outcome: tuple[bool, Any] = (True, func(*args))
        except BaseException as exc:  # handed to the waiting greenlet
            outcome = (False, exc)
        hub.call_threadsafe(_deliver, (hub, waiter, outcome))
        del func, args, hub, waiter, outcome


def _abandon(waiter: Waiter) -> None:
    """The park's abort hook: the caller gave up, its thread job is over for the hub."""
    waiter.hub.thread_job_finished()


def _deliver(result: tuple[Hub, Waiter, tuple[bool, Any]]) -> None:
    """In the caller's hub: wake it with the outcome, ending its thread job (see Hub.park)."""
    hub, waiter, outcome = result
    if waiter.switch(outcome):
        hub.thread_job_finished()


def _ensure_worker() -> None:
    global _workers
    with _workers_lock:
        if _idle > _jobs.qsize() or _workers >= MAX_WORKERS:
            return
        _workers += 1
    threading.Thread(target=_worker, name="gfetch-resolver", daemon=True).start()


def run_in_thread(func: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
    """Run blocking ``func(*args)`` in a worker thread; park until it returns.

    Raises:
        socket.timeout: after ``timeout`` seconds (the thread's late result
            is discarded).
        whatever ``func`` raised.
    """
    hub = get_hub()
    waiter = Waiter(hub)
    _jobs.put((func, args, hub, waiter))
    try:
        _ensure_worker()
    except BaseException:
        waiter.fired = True  # never parked: a late result must not end a thread job
        raise
    hub.thread_job_started()  # the result is delivered in the hub, after this
    # A late result finds the waiter fired and is dropped; the thread job
    # is over for this hub either way.
    outcome = hub.park(waiter, timeout, _abandon)
    if outcome is TIMED_OUT:
        raise TimeoutError("timed out") from None
    ok, value = outcome
    if ok:
        return value
    raise value


def _reset_after_fork() -> None:
    global _jobs, _workers_lock, _workers, _idle
    _jobs = queue.SimpleQueue()
    _workers_lock = threading.Lock()
    _workers = _idle = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
