"""Where a request's time went, and the trace events a hook receives as it goes.

Imports the stdlib only.

:class:`Timings` holds one request's phases (one hop of a redirect chain),
named as in the HAR format that browsers' devtools write. gfetch's own
pool measures every phase; the urllib3 path those it can see (see
:class:`Timings`). :class:`RequestTrace` is one request as a trace hook
sees it: the hook a Session was given, an id shared by all the events of
the request, and :meth:`RequestTrace.emit`. While a request is sent, its
trace is :data:`CURRENT` in the sending greenlet's context, where the
layers underneath (the pool, the connection) find it; without a hook there
is none, and nothing is emitted.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

__all__ = ["CURRENT", "PHASES", "ConnectClock", "RequestTrace", "Timings", "TraceHook", "is_ip_literal"]

logger = logging.getLogger("gfetch")
perf_counter = time.perf_counter

# hook(event, record): ``event`` one of the names in docs/timings.md, ``record`` a dict.
TraceHook = Callable[[str, dict[str, Any]], Any]
PHASES = ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")


class Timings:
    """One request's phases, in seconds; None for a phase that did not happen.

    * ``blocked``: waiting before the request could be sent: for a pool
      connection (``pool_block``), for ``per_host``/``rate`` limits and
      retry backoff in a fan-out;
    * ``dns``: resolving the host (None for an IP address);
    * ``connect``: the TCP connection (HAR counts the TLS handshake in it
      too; here it does not, so the phases add up);
    * ``ssl``: the TLS handshake;
    * ``send``: writing the request, head and body;
    * ``wait``: from the request written to the first byte of the reply;
    * ``receive``: from the first byte of the reply to the end of its body,
      once gfetch has read the body to its end (None until then: a
      ``stream=True`` body not yet read).

    ``dns``, ``connect`` and ``ssl`` are None on a reused connection
    (``reused``). On the urllib3 path (proxies, client certificates,
    retries, plugins) only ``dns``, ``connect``, ``ssl``, ``wait`` and
    ``reused`` are measured: the rest happens inside urllib3.
    """

    __slots__ = (*PHASES, "reused", "started", "sent", "head_at")

    def __init__(self, started: float, reused: bool = False) -> None:
        self.blocked: float | None = None
        self.dns: float | None = None
        self.connect: float | None = None
        self.ssl: float | None = None
        self.send: float | None = None
        self.wait: float | None = None
        self.receive: float | None = None
        self.reused = reused
        self.started = started  # time.perf_counter() when the request began waiting
        self.sent: float | None = None  # ... when it was written
        self.head_at: float | None = None  # ... and when its reply's first byte came

    @property
    def total(self) -> float:
        """The sum of the phases that happened."""
        return sum(getattr(self, phase) or 0.0 for phase in PHASES)

    def as_dict(self) -> dict[str, Any]:
        """The phases and ``reused``, for JSON."""
        return {**{phase: getattr(self, phase) for phase in PHASES}, "reused": self.reused}

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{phase}={value * 1000:.1f}ms" for phase in PHASES if (value := getattr(self, phase)) is not None
        )
        return f"<Timings {parts}{', reused' if self.reused else ''}>"


class RequestTrace:
    """A request as its trace hook sees it: ``emit`` calls the hook with a record holding
    ``request`` (an id, the same for all the request's events), ``method``, ``url``
    and ``time`` (``time.perf_counter()``), plus what the event adds.

    An exception raised by the hook is logged (a warning with its traceback on
    the "gfetch" logger) and never reaches the request.
    """

    __slots__ = ("hook", "id", "method", "url")
    _ids = itertools.count(1)

    def __init__(self, hook: TraceHook, method: str, url: str) -> None:
        self.hook = hook
        self.id = next(self._ids)
        self.method = method
        self.url = url

    def emit(self, event: str, **fields: Any) -> None:
        record = {"request": self.id, "method": self.method, "url": self.url, "time": perf_counter()}
        record.update(fields)
        try:
            self.hook(event, record)
        except Exception:
            logger.warning(
                "trace hook %r raised on %s for %s %s", self.hook, event, self.method, self.url, exc_info=True
            )


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (bracketed or not): nothing to resolve."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class ConnectClock:
    """The clock of one connect: ``dns``, ``connect`` and ``ssl`` into a request's
    timings, their start and end events to its trace (either may be None).
    Call :meth:`resolved`, :meth:`connected` and :meth:`handshaken` as each ends."""

    __slots__ = ("timings", "trace", "literal", "mark")

    def __init__(self, timings: Timings | None, trace: RequestTrace | None, literal: bool) -> None:
        self.timings = timings
        self.trace = trace
        self.literal = literal  # an IP address: no name to resolve
        self.mark = perf_counter()
        if trace is not None:
            trace.emit("connect.started" if literal else "dns.started")

    def _lap(self) -> float:
        now = perf_counter()
        lap, self.mark = now - self.mark, now
        return lap

    def resolved(self) -> None:
        lap = self._lap()
        if not self.literal:
            if self.timings is not None:
                self.timings.dns = lap
            if self.trace is not None:
                self.trace.emit("dns.complete", dns=lap)
                self.trace.emit("connect.started")

    def connected(self, tls: bool) -> None:
        lap = self._lap()
        if self.timings is not None:
            self.timings.connect = lap
        if self.trace is not None:
            self.trace.emit("connect.complete", connect=lap)
            if tls:
                self.trace.emit("tls.started")

    def handshaken(self) -> None:
        lap = self._lap()
        if self.timings is not None:
            self.timings.ssl = lap
        if self.trace is not None:
            self.trace.emit("tls.complete", ssl=lap)


# The trace of the request the current greenlet is sending, if its Session has a hook.
CURRENT: ContextVar[RequestTrace | None] = ContextVar("gfetch_request_trace", default=None)
