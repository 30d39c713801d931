"""The fan-out engine behind map, imap, imap_enumerated and crawl.

Layer 4. Imports gfetch.asyncrequest (AsyncRequest), gfetch.limits, gfetch.progress,
gfetch.greenlets, gfetch.hub and gfetch.sync.

One call = at most ``size`` worker greenlets in the pool, started as the
input proves long enough to need them. Each worker takes the next request
from the (possibly endless, possibly dynamic) input only when it is free,
so memory stays flat however long the input is; it applies the per-host and
rate limits, sends, retries when the policy says so, and reports
``(index, request)`` on a queue that the caller's iterator drains in
completion order. Reusing workers rather than spawning a greenlet per
request saves the greenlet, its pool slot and their wake-ups: a quarter of
gfetch's own CPU per request. ``gtimeout`` bounds the whole call: at the
deadline the workers are killed (their connections are closed by urllib3 on
the way out, never pooled half-read) and every request not finished is
reported with a :class:`RequestCancelled`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from greenlet import getcurrent

from gfetch.asyncrequest import AsyncRequest, Deadline, RequestCancelled, UnusableItem, coerce_request
from gfetch.greenlets import Greenlet, killall, sleep
from gfetch.hub import get_hub
from gfetch.limits import HostLimits, RetryPolicy, retry_policy
from gfetch.progress import make_progress
from gfetch.sync import Empty, Pool, Queue, Semaphore

__all__ = ["DEFAULT_SIZE", "DEFAULT_TIMEOUT", "FanOut"]

logger = logging.getLogger("gfetch")

DEFAULT_SIZE = 100
DEFAULT_TIMEOUT = (10.0, 30.0)

_END = object()


class FanOut:
    """The options of one fan-out call; :meth:`run` does the work."""

    def __init__(
        self,
        *,
        size: int | None,
        stream: bool = False,
        timeout: Any = DEFAULT_TIMEOUT,
        gtimeout: float | None = None,
        deadline: float | None = None,
        per_host: int | None = None,
        rate: float | None = None,
        per_host_rate: float | None = None,
        retries: int | RetryPolicy | None = None,
        session: Any = None,
        progress: bool = False,
        pool: Pool | None = None,
    ) -> None:
        if size is not None and size < 1:
            raise ValueError(f"size must be >= 1 or None (= {DEFAULT_SIZE}), got {size}")
        self.pool = pool if pool is not None else Pool(size or DEFAULT_SIZE)
        self.stream = stream
        self.timeout = timeout
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be > 0 seconds or None, got {deadline}")
        self.gtimeout = gtimeout
        self.deadline = deadline
        self.limits = HostLimits(per_host, rate, per_host_rate)
        self.retry = retry_policy(retries)
        self.session = session
        self.progress = progress

    # -- one request ----------------------------------------------------
    def execute(self, request: AsyncRequest) -> None:
        """Send ``request`` within the limits and its deadline, retrying per the policy.

        Never raises an ``Exception``: whatever goes wrong with this one item
        (its URL, the limits, the retry policy, a hook, decoding) becomes its
        failure, so no item can end a worker, and with it the call.
        """
        if isinstance(request, UnusableItem):
            return
        try:
            seconds = request.deadline if request.deadline is not None else self.deadline
            if seconds is None:
                self._attempts(request, None)
            else:
                with Deadline(request, seconds) as deadline:
                    self._attempts(request, deadline)
        except Exception as exc:
            request.fail(exc)

    def _attempts(self, request: AsyncRequest, deadline: Deadline | None) -> None:
        overrides: dict[str, Any] = {"stream": self.stream}
        if "timeout" not in request.kwargs:
            overrides["timeout"] = self.timeout
        if request.session is None and self.session is not None:
            request.session = self.session
        attempt = 0
        while True:
            with self.limits.slot(request.url):
                if deadline is not None:
                    deadline.start()  # once: waits for a first slot do not count
                request.send_with(overrides)
            if not self.retry.should_retry(request.method, request.response, request.exception, attempt):
                return
            delay = self.retry.delay(request.response, attempt)
            if request.response is not None:
                request.response.close()
            logger.debug("retrying %s %s in %.2f s (attempt %d)", request.method, request.url, delay,
                         attempt + 1)
            request.response = request.exception = request.traceback = None
            attempt += 1
            sleep(delay)

    # -- the call -------------------------------------------------------
    def run(self, items: Iterable[Any], total: int | None = None,
            report_unsent: bool = False) -> Iterator[tuple[int, AsyncRequest]]:
        """Yield ``(index, request)`` as each finishes (or is cancelled).

        With ``report_unsent`` the input left over after a gtimeout is still
        read and reported as cancelled (map needs a slot per input).
        """
        _finish_abandoned_cleanups()
        done: Queue[Any] = Queue()
        source = iter(items)
        taking = Semaphore(1)  # a generator input may park; one reader at a time
        # Taken but not yet handed to the caller: at most `size`, so a slow
        # caller holds the workers back instead of piling up results.
        credits = Semaphore(self.pool.size) if self.pool.size is not None else None
        state: dict[str, Any] = {"taken": 0, "exhausted": False, "error": None}
        running: dict[int, AsyncRequest] = {}
        workers: set[Greenlet] = set()
        progress = make_progress(total) if self.progress else None

        # A list's end is known without asking for one more item, so a worker
        # that finds the input used up exits at once instead of first waiting
        # for a credit.
        known_length = len(items) if isinstance(items, (list, tuple)) else None

        def take() -> tuple[int, AsyncRequest] | None:
            if state["exhausted"]:
                return None
            if credits is not None:
                credits.acquire()
            with taking:
                try:
                    if not state["exhausted"]:
                        request = _coerce(next(source))
                        index = state["taken"]
                        state["taken"] = index + 1
                        state["exhausted"] = index + 1 == known_length
                        running[index] = request
                        return index, request
                except StopIteration:
                    state["exhausted"] = True
                except Exception as exc:  # the input's error: raised to the caller
                    state["exhausted"] = True
                    state["error"] = exc
            if credits is not None:
                credits.release()
            return None

        def add_worker() -> None:
            glet = Greenlet(worker)
            glet.link(on_worker_exit)
            workers.add(glet)
            self.pool.start(glet)

        def on_worker_exit(glet: Greenlet) -> None:
            workers.discard(glet)
            if not workers and state["exhausted"]:
                done.put(_END)

        def worker() -> None:
            while (entry := take()) is not None:
                # More input may follow: grow toward `size` workers, doubling
                # each pass so a burst of thousands is in flight at once.
                for _ in range(2):
                    if state["exhausted"] or self.pool.free_count() <= 0:
                        break
                    add_worker()
                index, request = entry
                try:
                    self.execute(request)
                finally:
                    running.pop(index, None)
                    done.put(entry)

        deadline = None if self.gtimeout is None else time.monotonic() + self.gtimeout
        # A known length starts its workers at once (a burst of thousands is
        # then in flight together); an open-ended input grows them as it goes.
        for _ in range(max(1, min(total or 1, self.pool.free_count()))):
            add_worker()
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                try:
                    if remaining is not None and remaining <= 0:
                        raise Empty
                    entry = done.get(timeout=remaining)
                except Empty:
                    break  # gtimeout
                if entry is _END:  # the last worker has exited, after its last result
                    if state["error"] is not None:
                        raise state["error"]
                    return
                if credits is not None:
                    credits.release()
                self._report(entry[1], progress)
                yield entry
            # gtimeout expired: cancel everything still running or waiting.
            state["exhausted"] = True
            _raise_if_any(_finish_off(workers, block=True))
            leftovers = [e for e in _drain(done) if e is not _END]
            leftovers.extend(running.items())
            if report_unsent:
                start = state["taken"]
                leftovers.extend((i, _coerce(item)) for i, item in enumerate(source, start))
            for index, request in sorted(leftovers, key=lambda e: e[0]):
                if request.response is None and request.exception is None:
                    request.exception = RequestCancelled(
                        f"gtimeout={self.gtimeout} s expired before {request.method} {request.url} finished"
                    )
                self._report(request, progress)
                yield index, request
        finally:
            # Also reached when the caller stops iterating early: cancel the
            # rest. A generator may be closed by the garbage collector while
            # the hub runs, where blocking is not allowed.
            state["exhausted"] = True
            closing = _closing_calls()
            closing.append(workers)
            interrupted = _finish_off(workers, block=getcurrent() is not get_hub())
            _forget(closing, workers)
            if progress is not None:
                progress.close()
            _raise_if_any(interrupted)

    @staticmethod
    def _report(request: AsyncRequest, progress: Any) -> None:
        if progress is not None:
            progress.update(failed=request.response is None)
        if request.exception is not None:
            logger.debug("%s %s failed: %r", request.method, request.url, request.exception)


# Per thread: the workers of the calls whose cleanup has begun and not ended.
_cleanups = threading.local()


def _closing_calls() -> list[set[Greenlet]]:
    try:
        return _cleanups.calls  # type: ignore[no-any-return]
    except AttributeError:
        calls = _cleanups.calls = []
        return calls


def _forget(closing: list[set[Greenlet]], workers: set[Greenlet]) -> None:
    closing[:] = [calls for calls in closing if calls is not workers]


def _finish_off(workers: set[Greenlet], block: bool) -> BaseException | None:
    """Kill ``workers`` and, with ``block``, wait until every one has died.

    Returns the first KeyboardInterrupt or SystemExit that arrived meanwhile,
    for the caller to raise once its cleanup is done.

    Discussion: a second Ctrl-C landing while the first one's cleanup waits
    for the workers used to end that wait, leaving requests running with
    their sockets open, out of reach of ``Session.close()``. So the wait
    goes on until the last worker has died, killing the survivors again
    each time (a kill whose wake-up the interrupt lost is re-sent), and the
    call raises the interrupt once. Where even the cleanup's own first steps
    were cut short, the thread's next fan-out finishes it
    (:func:`_finish_abandoned_cleanups`).
    """
    interrupted: BaseException | None = None
    while True:
        try:
            alive = [glet for glet in workers if not glet.dead]
            if not alive:
                break
            killall(alive, block=block)
            if not block:
                break
        except (KeyboardInterrupt, SystemExit) as exc:
            interrupted = interrupted or exc
    return interrupted


def _finish_abandoned_cleanups() -> None:
    """Finish what an interrupted cleanup of an earlier call on this thread left running."""
    closing = _closing_calls()
    for workers in list(closing):
        _raise_if_any(_finish_off(workers, block=True))
        _forget(closing, workers)


def _raise_if_any(exc: BaseException | None) -> None:
    if exc is not None:
        raise exc


def _coerce(item: Any) -> AsyncRequest:
    """The item as an AsyncRequest; an item that is none fails on its own."""
    try:
        return coerce_request(item)
    except Exception as exc:
        return UnusableItem(item, exc)


def _drain(queue: Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get(block=False))
    return items
