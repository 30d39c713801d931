"""Progress reporting for fan-out calls: tqdm when installed, else stderr.

Imports the stdlib only (tqdm optional).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "make_progress"]

TQDM_HINT = "(install tqdm for a progress bar: pip install 'gfetch[progress]')"


class Progress:
    """Counts finished and failed requests; prints at most every ``interval`` s."""

    def __init__(self, total: int | None, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._started = time.monotonic()
        self._last = 0.0
        self._stream.write(
            f"gfetch: fetching {total if total is not None else 'an unknown number of'} URLs {TQDM_HINT}\n"
        )

    def update(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if now - self._last >= self._interval or self.done == self.total:
            self._last = now
            self._write(now)

    def _write(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        self._stream.write(
            f"\rgfetch: {self.done}{of} done, {self.failed} failed, {self.done / elapsed:.0f} req/s"
        )
        self._stream.flush()

    def close(self) -> None:
        self._write(time.monotonic())
        self._stream.write("\n")
        self._stream.flush()


class _TqdmProgress:
    def __init__(self, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="req", desc="gfetch")
        self.failed = 0

    def update(self, failed: bool = False) -> None:
        self.failed += failed
        if failed:
            self._bar.set_postfix(failed=self.failed, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def make_progress(total: int | None, use_tqdm: bool | None = None) -> Any:
    """A progress reporter: tqdm's bar if importable (or forced), else plain stderr."""
    if use_tqdm is not False:
        try:
            return _TqdmProgress(total)
        except ImportError:
            if use_tqdm:
                raise
    return Progress(total)
