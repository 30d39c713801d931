"""A SIGALRM time limit whose handler raises, as pytest-timeout, timeout-decorator
and job runners install one: a real signal, landing wherever the interpreter is."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["TimeLimit", "time_limit"]


class TimeLimit(Exception):
    """What the handler raises (a time-limit library's own exception)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeLimit wherever the code under the ``with`` is after ``seconds``.

    pytest-timeout's own SIGALRM handler and timer are put back afterwards.
    """

    def expire(signum: int, frame: Any) -> None:
        raise TimeLimit(f"time limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))
