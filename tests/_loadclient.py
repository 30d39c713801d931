"""The client side of the load, soak, Ctrl-C and fd-limit tests, run in a child.

``python tests/_loadclient.py SCENARIO URL [ARGS...]`` runs one scenario
against a server the test started on 127.0.0.1 and prints its figures as
JSON lines. A fresh interpreter gives clean
numbers: VmHWM is the peak RSS of this one job, not of the whole test
session; the fd count starts from a known baseline; resource limits can be
lowered and SIGINT delivered without touching the pytest process.
"""

from __future__ import annotations

import gc
import json
import os
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import gfetch
from gfetch.core.hub import get_hub
from gfetch.integration.defaultsession import default_session


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def leftovers(hub: Any) -> dict[str, int]:
    """What a cancelled call may have left behind: open fds, parked greenlets, fd waits."""
    return {"fds": open_fds(), "parked": len(hub._parked), "fd_waits": len(hub._fds)}


def status_mb(field: str) -> float:
    """A memory figure of /proc/self/status (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


class FdSampler:
    """Counts this process's open fds every ``interval`` s, from a hub timer; keeps the peak.

    A hub timer rather than a thread: listing 10,000 fds takes ~8 ms, and a
    thread would take the GIL from the client that often.
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.peak = 0
        self._interval = interval
        self._timer: Any = None

    def _sample(self, _: Any = None) -> None:
        self.peak = max(self.peak, len(os.listdir("/proc/self/fd")))
        self._timer = get_hub().call_later(self._interval, self._sample)

    def __enter__(self) -> FdSampler:
        self._sample()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()


def outcomes(results: list[Any]) -> tuple[int, list[tuple[str, int]]]:
    """(number of 200 responses, the three commonest failures with counts)."""
    ok = sum(1 for r in results if getattr(r, "status_code", None) == 200)
    failures = Counter(
        re.sub(r"0x[0-9a-f]+", "0x...", f"{type(r).__name__}: {r}")[:600]  # object addresses differ
        for r in results
        if getattr(r, "status_code", None) != 200
    )
    return ok, failures.most_common(3)


def timed_map(url: str, n: int, size: int) -> dict[str, Any]:
    """map() ``n`` requests to ``url``: wall and CPU time, 200s, commonest failures."""
    start, cpu = time.monotonic(), time.process_time()
    results = gfetch.map([url] * n, size=size, return_exceptions=True)
    wall, cpu = time.monotonic() - start, time.process_time() - cpu
    ok, failures = outcomes(results)
    return {"wall": wall, "cpu": cpu, "ok": ok, "failures": failures}


def burst(url: str, count: str) -> None:
    """All ``count`` requests in flight at once (``size=count``)."""
    n = int(count)
    with FdSampler() as sampler:
        figures = timed_map(url, n, n)
    emit(**figures, peak_fds=sampler.peak, peak_rss_mb=status_mb("VmHWM"))


def limited(url: str, count: str, soft: str, hard: str) -> None:
    """All ``count`` requests at once under a soft/hard RLIMIT_NOFILE lowered
    first ("-" keeps the hard one), then 50 more once they are done."""
    hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1] if hard == "-" else int(hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(soft), hard_limit))
    figures = timed_map(url, int(count), int(count))
    second = timed_map(url, 50, 50)
    emit(**figures, soft_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0], second_ok=second["ok"])


def soak(url: str, count: str, size: str) -> None:
    """``count`` requests through imap(size=) on the default Session, from a
    generator; RSS (after a gc) and open fds at 10 checkpoints."""
    n, checkpoints = int(count), 10
    get_hub()
    baseline = open_fds()
    done = failed = 0
    marks: list[dict[str, float]] = []
    start = time.monotonic()
    for response in gfetch.imap((url for _ in range(n)), size=int(size), return_exceptions=True):
        done += 1
        failed += getattr(response, "status_code", None) != 200
        if done % (n // checkpoints) == 0:
            fds = open_fds()
            marks.append(
                {"done": done, "rss_mb": status_mb("VmRSS"), "fds": fds, "t": time.monotonic() - start}
            )
    wall = time.monotonic() - start
    default_session().close()
    emit(done=done, failed=failed, wall=wall, marks=marks, baseline=baseline, fds_closed=open_fds())


def interrupt(url: str, count: str, size: str, after_url: str) -> None:
    """``count`` requests through map(size=); prints ``ready`` once ``size`` are
    in flight, for the test to send SIGINT. Reports how the KeyboardInterrupt
    came out and what it left open, then maps again."""
    n, in_flight = int(count), int(size)
    hub = get_hub()
    session = gfetch.Session(pool_maxsize=in_flight)
    baseline = open_fds()
    give_up = time.monotonic() + 30

    def announce_when_in_flight(_: Any) -> None:
        opened = len(os.listdir("/proc/self/fd")) - baseline
        if opened >= in_flight or time.monotonic() > give_up:
            emit(ready=opened >= in_flight, in_flight=opened)
        else:
            hub.call_later(0.02, announce_when_in_flight)

    hub.call_later(0.02, announce_when_in_flight)
    try:
        gfetch.map([url] * n, size=in_flight, session=session)
        emit(interrupted=False)
        return
    except KeyboardInterrupt:
        caught = time.monotonic()  # CLOCK_MONOTONIC: comparable with the test's clock
    session.close()  # the idle keep-alive connections; those in use must be closed already
    emit(interrupted=True, caught_at=caught, baseline=baseline, **leftovers(hub))
    second = gfetch.map([after_url] * 20, size=20, return_exceptions=True)
    emit(second_ok=outcomes(second)[0])


def feeder_interrupt(url: str, count: str) -> None:
    """imap over a generator that raises KeyboardInterrupt after ``count`` URLs:
    it comes out of imap once, with every request cancelled and closed."""
    hub = get_hub()
    session = gfetch.Session()
    baseline = open_fds()

    raised_at = [0.0]

    def urls() -> Iterator[str]:
        yield from [url] * int(count)
        gfetch.sleep(0.3)  # let them connect
        raised_at[0] = time.monotonic()
        raise KeyboardInterrupt

    raised = 0
    try:
        for _ in gfetch.imap(urls(), size=int(count) + 1, session=session):
            pass
    except KeyboardInterrupt:
        raised += 1
    took = time.monotonic() - raised_at[0]
    try:
        gfetch.sleep(0.2)  # a second KeyboardInterrupt would land here
    except KeyboardInterrupt:
        raised += 1
    emit(raised=raised, took=took, baseline=baseline, **leftovers(hub))


SCENARIOS: dict[str, Callable[..., None]] = {
    "burst": burst,
    "limited": limited,
    "soak": soak,
    "interrupt": interrupt,
    "feeder_interrupt": feeder_interrupt,
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](*sys.argv[2:])
