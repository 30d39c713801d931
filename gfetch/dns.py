"""Name resolution that never blocks the hub.

Layer 2. Imports the stdlib and gfetch.hub.

Numeric hosts resolve at once (``AI_NUMERICHOST``), and names under the
special-use ``.invalid`` domain fail at once: RFC 6761 section 6.4 asks
resolver libraries to answer them negatively without a query, so an
unreachable DNS server cannot stall them. Other names go to a small pool
of daemon threads running the system ``getaddrinfo``; a worker hands the
result back with ``Hub.call_threadsafe`` (a deque append and one byte on the
hub's wake socket) and never touches greenlets. A result that arrives after
the caller gave up (timeout, kill) is dropped.
"""

from __future__ import annotations

import _socket as _csocket
import os
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any

from gfetch.hub import Waiter, get_hub

__all__ = ["getaddrinfo", "run_in_thread"]

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
        hub.call_threadsafe(waiter.switch, outcome)
        del func, args, hub, waiter, outcome


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
    hub.thread_job_started()
    timer = None if timeout is None else hub.call_later(timeout, _expire, waiter)
    try:
        _jobs.put((func, args, hub, waiter))
        _ensure_worker()
        ok, value = waiter.get()
    finally:
        hub.thread_job_finished()
        if timer is not None:
            timer.cancel()
    if ok:
        return value
    raise value


def _is_invalid(host: str) -> bool:
    """Whether ``host`` is ``invalid`` or a name under it (RFC 6761)."""
    name = host.rstrip(".").lower()
    return name == "invalid" or name.endswith(".invalid")


def _expire(waiter: Waiter) -> None:
    waiter.throw(TimeoutError("timed out"))


def getaddrinfo(
    host: str,
    port: int | str | None,
    family: int = 0,
    type: int = 0,  # noqa: A002 - the stdlib's parameter name
    proto: int = 0,
    flags: int = 0,
    *,
    timeout: float | None = None,
) -> list[tuple[Any, ...]]:
    """``socket.getaddrinfo`` that parks only the calling greenlet.

    Raises:
        socket.gaierror: as the stdlib does for names that don't resolve
            (at once for names under ``.invalid``).
        socket.timeout: resolution took longer than ``timeout``.
    """
    try:
        infos = _csocket.getaddrinfo(host, port, family, type, proto, flags | _csocket.AI_NUMERICHOST)
    except socket.gaierror:
        pass  # not a numeric address: ask the resolver in a thread
    else:
        return [
            (_FAMILIES.get(af, af), _KINDS.get(kind, kind), protocol, canonname, address)
            for af, kind, protocol, canonname, address in infos
        ]
    if _is_invalid(host):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return run_in_thread(socket.getaddrinfo, host, port, family, type, proto, flags, timeout=timeout)  # type: ignore[no-any-return]


# The C getaddrinfo plus these maps give what socket.getaddrinfo gives
# (family and kind as enums) without its per-entry enum calls, which cost CPU
# on every new connection and are the deepest frames a request reaches
# before it waits (see transport).
_FAMILIES = {int(member): member for member in socket.AddressFamily}
_KINDS = {int(member): member for member in socket.SocketKind}


def _reset_after_fork() -> None:
    global _jobs, _workers_lock, _workers, _idle
    _jobs = queue.SimpleQueue()
    _workers_lock = threading.Lock()
    _workers = _idle = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
