"""The fan-out engine behind map, imap, imap_enumerated and crawl.

Layer 4. Imports gfetch.asyncrequest (AsyncRequest), gfetch.limits, gfetch.progress
and the hub layers.

One call = one feeder greenlet plus at most ``size`` worker greenlets. The
feeder pulls requests from the (possibly endless, possibly dynamic) input
only when a worker slot is free, so memory stays flat however long the
input is. Each worker applies the per-host and rate limits, sends, retries
when the policy says so, and reports ``(index, request)`` on a queue that
the caller's iterator drains in completion order. ``gtimeout`` bounds the
whole call: at the deadline the feeder and the workers are killed (their
connections are closed by urllib3 on the way out, never pooled half-read)
and every request not finished is reported with a :class:`RequestCancelled`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Iterator

from greenlet import getcurrent

from gfetch.greenlets import Greenlet, killall, sleep
from gfetch.hub import get_hub
from gfetch.limits import HostLimits, RetryPolicy
from gfetch.progress import make_progress
from gfetch.asyncrequest import AsyncRequest, RequestCancelled, coerce_request
from gfetch.sync import Empty, Pool, Queue

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
        self.gtimeout = gtimeout
        self.limits = HostLimits(per_host, rate, per_host_rate)
        self.retry = retries if isinstance(retries, RetryPolicy) else RetryPolicy(retries or 0)
        self.session = session
        self.progress = progress

    # -- one request ----------------------------------------------------
    def execute(self, request: AsyncRequest) -> None:
        """Send ``request`` within the limits, retrying per the policy."""
        kwargs: dict[str, Any] = {"stream": self.stream}
        if "timeout" not in request.kwargs:
            kwargs["timeout"] = self.timeout
        if request.session is None and self.session is not None:
            request.session = self.session
        attempt = 0
        while True:
            with self.limits.slot(request.url):
                request.send(**kwargs)
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
        done: Queue[Any] = Queue()
        source = iter(items)
        feeding: dict[str, Any] = {"count": 0, "pending": None}
        running: dict[int, AsyncRequest] = {}
        workers: set[Greenlet] = set()
        progress = make_progress(total) if self.progress else None

        def worker(index: int, request: AsyncRequest) -> None:
            try:
                self.execute(request)
            finally:
                running.pop(index, None)
                done.put((index, request))

        def feed() -> None:
            try:
                for index, item in enumerate(source):
                    request = coerce_request(item)
                    feeding["pending"] = (index, request)
                    glet = Greenlet(worker, index, request)
                    glet.link(workers.discard)
                    self.pool.add(glet)  # parks while `size` requests are in flight
                    workers.add(glet)
                    running[index] = request
                    feeding["pending"] = None
                    feeding["count"] = index + 1
                    glet.start()
            finally:
                done.put(_END)

        deadline = None if self.gtimeout is None else time.monotonic() + self.gtimeout
        feeder = Greenlet.spawn(feed)
        received = 0
        fed_all = False
        try:
            while not fed_all or received < feeding["count"]:
                remaining = None if deadline is None else deadline - time.monotonic()
                try:
                    if remaining is not None and remaining <= 0:
                        raise Empty
                    entry = done.get(timeout=remaining)
                except Empty:
                    break  # gtimeout
                if entry is _END:
                    fed_all = True
                    feeder.get()  # re-raise an error from the input iterable
                    continue
                received += 1
                self._report(entry[1], progress)
                yield entry
            else:
                return
            # gtimeout expired: cancel everything still running or waiting.
            feeder.kill()
            killall(list(workers))
            leftovers = [e for e in _drain(done) if e is not _END]
            if feeding["pending"] is not None:
                leftovers.append(feeding["pending"])
            leftovers.extend(running.items())
            if report_unsent:
                start = feeding["count"] + (feeding["pending"] is not None)
                leftovers.extend((i, coerce_request(item)) for i, item in enumerate(source, start))
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
            can_block = getcurrent() is not get_hub()
            feeder.kill(block=can_block)
            killall(list(workers), block=can_block)
            if progress is not None:
                progress.close()

    @staticmethod
    def _report(request: AsyncRequest, progress: Any) -> None:
        if progress is not None:
            progress.update(failed=request.response is None)
        if request.exception is not None:
            logger.debug("%s %s failed: %r", request.method, request.url, request.exception)


def _drain(queue: Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get(block=False))
    return items
