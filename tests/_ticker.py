"""A greenlet that notes the time every 10 ms: proof that the hub kept running
while the test's own greenlet waited on something."""

from __future__ import annotations

import itertools
import time

import gfetch

__all__ = ["Ticker"]


class Ticker:
    """Spawns a greenlet that appends ``time.monotonic()`` to ``ticks`` up to
    ``count`` times, sleeping ``interval`` between them, or until stop()."""

    def __init__(self, count: int, interval: float = 0.01) -> None:
        self.ticks: list[float] = []
        self._count = count
        self._interval = interval
        self._stopped = False
        self._greenlet = gfetch.spawn(self._run)

    def _run(self) -> None:
        for _ in range(self._count):
            if self._stopped:
                return
            self.ticks.append(time.monotonic())
            gfetch.sleep(self._interval)

    def stop(self) -> None:
        """End the ticking early (before ``count`` ticks)."""
        self._stopped = True

    def join(self, timeout: float = 5) -> None:
        """Wait for the greenlet to end; raises if it does not within ``timeout``."""
        self._greenlet.get(timeout=timeout)

    def largest_gap(self, timeout: float = 5) -> float:
        """join(), then the longest time between two consecutive ticks."""
        self.join(timeout)
        return max(b - a for a, b in itertools.pairwise(self.ticks))
