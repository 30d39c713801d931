"""The closing summary of a ``gfetch`` run (``--summary``, ``--timings``): where the time went.

Imports the stdlib and gfetch.core.timings (the phase names).

The command line hands :meth:`RunSummary.add` each record it prints, with the
request's phases in milliseconds (None without an answer, or for an answer
without timings), and writes :meth:`RunSummary.lines` to stderr at the end.
Percentiles are nearest-rank: always a value some request had.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from gfetch.core.timings import PHASES

__all__ = ["PERCENTILES", "TOP_HOSTS", "RunSummary", "percentile"]

PERCENTILES = (50, 90, 99)
TOP_HOSTS = 10
_HOST_WIDTH = 40  # at most: longer host names are cut, keeping their end (the port)


def percentile(ordered: Sequence[float], p: int) -> float:
    """The nearest-rank ``p``-th percentile of the sorted, non-empty ``ordered``: the smallest
    value with at least ``p`` percent of the values at or below it."""
    return ordered[max(0, -(-p * len(ordered) // 100) - 1)]


class _Group:
    """The requests of a run, or of one host: their records' elapsed_ms and their phases."""

    __slots__ = ("requests", "failed", "elapsed", "phases")

    def __init__(self) -> None:
        self.requests = 0
        self.failed = 0
        self.elapsed: list[float] = []
        self.phases: dict[str, list[float]] = {phase: [] for phase in PHASES}

    def add(self, record: dict[str, Any], phases: dict[str, Any] | None) -> None:
        self.requests += 1
        self.failed += record["status"] is None
        if record["elapsed_ms"] is not None:
            self.elapsed.append(record["elapsed_ms"])
        for phase, values in self.phases.items():
            if phases is not None and phases[phase] is not None:
                values.append(phases[phase])


class RunSummary:
    """Counts, percentiles and per-host figures of the records of one run."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.all = _Group()
        self.hosts: dict[str, _Group] = {}
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.received = 0
        self.connections: Counter[bool] = Counter()  # reused or not, per answer with timings

    def add(self, record: dict[str, Any], phases: dict[str, Any] | None) -> None:
        """Count one printed record; ``phases`` as in its ``timings_ms``."""
        self.all.add(record, phases)
        self.hosts.setdefault(_host(record["url"]), _Group()).add(record, phases)
        if record["status"] is None:
            self.errors[record["error_kind"]] += 1
        else:
            self.statuses[record["status"]] += 1
            self.received += record["bytes"] or 0
        if phases is not None:
            self.connections[phases["reused"]] += 1

    def lines(self, total: int) -> list[str]:
        """The summary, of the records added out of ``total`` requests (fewer when interrupted)."""
        group = self.all
        done = f"{group.requests}" if group.requests == total else f"{group.requests} of {total}"
        outcome = f"{group.requests - group.failed} answered{_counts(self.statuses)}, {group.failed} failed"
        phases = [_percentiles(phase, group.phases[phase]) for phase in PHASES]
        phases[0] += f"   (phases of {sum(self.connections.values())} answers)"
        return [
            f"gfetch: {done} requests in {time.perf_counter() - self.started:.2f} s: "
            f"{outcome}{_counts(self.errors)}",
            f"  received {self.received:,} bytes of bodies; connections: {self.connections[False]} new, "
            f"{self.connections[True]} reused",
            "  ms        " + "".join(f"{f'p{p}':>9}" for p in PERCENTILES),
            _percentiles("total", group.elapsed) + f"   (elapsed_ms of {len(group.elapsed)} requests)",
            *phases,
            *self._hosts(),
        ]

    def _hosts(self) -> list[str]:
        """The hosts that took the most time, a line each: where time goes at a glance."""
        ranked = sorted(self.hosts.items(), key=lambda item: (-sum(item[1].elapsed), item[0]))
        shown = ranked[:TOP_HOSTS]
        width = min(_HOST_WIDTH, max(len(host) for host, _ in shown)) if shown else 0
        rows = [["host", "requests", "failed", "time", "total", *PHASES]]
        for host, hosted in shown:
            rows.append(
                [
                    host[-width:],
                    str(hosted.requests),
                    str(hosted.failed),
                    f"{sum(hosted.elapsed) / 1000:.2f}",
                    _median(hosted.elapsed),
                    *(_median(hosted.phases[phase]) for phase in PHASES),
                ]
            )
        return [
            f"  hosts by time in requests (s, the sum of their elapsed_ms), top {len(shown)} of "
            f"{len(ranked)}; p50 ms of the rest:",
            *(f"  {row[0]:<{width}} {row[1]:>8}" + "".join(f"{cell:>8}" for cell in row[2:]) for row in rows),
        ]


def _host(url: str) -> str:
    """The host and port a request went to, as the URL names them."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    return netloc.rpartition("@")[2].lower() or "(no host)"


def _counts(counter: Counter[Any]) -> str:
    """`` (200: 21, 404: 1)``, most frequent first; empty for no counts."""
    if not counter:
        return ""
    ranked = sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))
    return " (" + ", ".join(f"{key}: {count}" for key, count in ranked) + ")"


def _median(values: list[float]) -> str:
    return f"{percentile(sorted(values), 50):.1f}" if values else "-"


def _percentiles(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    cells = [f"{percentile(ordered, p):.1f}" if ordered else "-" for p in PERCENTILES]
    return f"  {name:<10}" + "".join(f"{cell:>9}" for cell in cells)
