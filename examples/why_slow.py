"""Why is this slow? Each response's timings say where its time went, per host.

Three hosts (three local test servers) answer one fan-out with ``per_host=2``:

* ``api`` answers each of its 16 requests in 0.1 s, so most of them queue
  for one of its 2 slots: ``blocked``;
* ``slow`` takes 0.6 s before it answers: ``wait``;
* ``bulk`` sends a 200 kB body over 0.6 s, as a slow link would
  (``/drip``): ``receive``.

The median of each phase, host by host, names the cause. A trace hook on
the Session sees the same live, event by event: the events of one request to
``slow`` are printed with their times. Then the command line runs the same
URLs, ``gfetch --per-host 2 --summary``, and its summary tells the same story.

docs/timings.md walks through this output.

Run: python examples/why_slow.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import gfetch
from gfetch.testing import TestServer

PER_HOST = 2
PHASES = ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")
WHY = {
    "blocked": f"waiting for one of its per_host={PER_HOST} slots",
    "dns": "resolving its name",
    "connect": "opening connections",
    "ssl": "TLS handshakes",
    "send": "sending the requests",
    "wait": "the server takes its time to answer",
    "receive": "the body arrives slowly",
}


def median_ms(values: list[float | None]) -> float | None:
    """The median of the phase in milliseconds, over the requests that had it."""
    present = [value for value in values if value is not None]
    return statistics.median(present) * 1000 if present else None


def print_phases(names: dict[str, str], urls: list[str], responses: list[Any]) -> None:
    """A line of median phases per host, then the phase that dominates each."""
    by_host: defaultdict[str, list[gfetch.Timings]] = defaultdict(list)
    for url, response in zip(urls, responses, strict=True):
        by_host[names[url]].append(response.timings)
    print(f"{'host':<6}{'requests':>9}" + "".join(f"{phase:>9}" for phase in PHASES) + "   (median ms)")
    verdicts = []
    for host, timings in by_host.items():
        medians = {phase: median_ms([getattr(t, phase) for t in timings]) for phase in PHASES}
        cells = ["-" if value is None else f"{value:.1f}" for value in medians.values()]
        print(f"{host:<6}{len(timings):>9}" + "".join(f"{cell:>9}" for cell in cells))
        worst = max(PHASES, key=lambda phase: medians[phase] or 0.0)
        verdicts.append(f"{host}: mostly {worst}: {WHY[worst]}")
    print("\n".join(verdicts))


def print_trace(events: list[tuple[str, dict[str, Any]]]) -> None:
    """One request's events, in milliseconds since the first."""
    start = events[0][1]["time"]
    for event, record in events:
        extra = " ".join(
            f"{key}={value * 1000:.1f}" if isinstance(value, float) else f"{key}={value}"
            for key, value in record.items()
            if key not in ("request", "method", "url", "time", "headers", "prepared", "response")
        )
        print(f"{(record['time'] - start) * 1000:9.1f}  {event:<20} {extra}".rstrip())


def main() -> None:
    events: defaultdict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)

    def hook(event: str, record: dict[str, Any]) -> None:  # runs in the request's greenlet: keep it quick
        events[record["request"]].append((event, record))

    with TestServer() as api, TestServer() as slow, TestServer() as bulk:
        names = {api.url(f"/delay/0.1?n={n}"): "api" for n in range(16)}
        names.update({slow.url(f"/delay/0.6?n={n}"): "slow" for n in range(2)})
        names.update({bulk.url(f"/drip/200000?duration=0.6&n={n}"): "bulk" for n in range(2)})
        urls = list(names)
        started = time.perf_counter()
        with gfetch.Session(trace=hook) as session:
            responses = gfetch.map(urls, size=len(urls), per_host=PER_HOST, session=session)
        print(f"{len(urls)} requests, per_host={PER_HOST}, in {time.perf_counter() - started:.2f} s\n")
        print_phases(names, urls, responses)

        traced = next(trace for trace in events.values() if names[trace[0][1]["url"]] == "slow")
        print("\nthe trace events of one request to slow (ms since it was queued):")
        print_trace(traced)

        print(
            f"\nthe same with: gfetch --per-host {PER_HOST} --summary URL... "
            f"(api is {api.base_url}, slow {slow.base_url}, bulk {bulk.base_url})"
        )
        argv = [sys.executable, "-m", "gfetch", "--per-host", str(PER_HOST), "--summary", *urls]
        cli = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        print(cli.stderr, end="")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
