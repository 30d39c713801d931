"""Load and resources: 10,000 requests in flight, a soak, fd limits, Ctrl-C, threads.

The heavy scenarios run their client in a child interpreter
(``tests/_loadclient.py``, which prints its figures as JSON lines) against
a ``gfetch.testing.ServerProcess``: client and server then each have a
core and a GIL of their own, their file descriptors count against separate
limits, peak RSS is that of the job alone, and resource limits and SIGINT
touch no pytest process. The figures are printed to the terminal.

The ``slow`` tests run in CI too (about 30 s together). The soak defaults to
20,000 requests (~12 s); the full compressed hour, 200,000 requests (~90 s on
2 cores), is::

    GFETCH_SOAK_REQUESTS=200000 python -m pytest -m slow -k soak tests/test_load.py
"""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import gfetch
from gfetch.core.hub import get_hub
from gfetch.testing import ServerProcess

CLIENT = Path(__file__).resolve().parent / "_loadclient.py"
SOAK_REQUESTS = int(os.environ.get("GFETCH_SOAK_REQUESTS", "20000"))


class Child:
    """A ``_loadclient.py`` scenario in a child process; its JSON lines are read
    on a thread, so every read has a timeout."""

    def __init__(self, *args: object) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CLIENT), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self._lines.put(line)
        self._lines.put(None)

    def line(self, timeout: float) -> dict[str, Any]:
        """The next JSON line; fails the test on EOF or after ``timeout`` s."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"{CLIENT.name} printed nothing within {timeout} s")
        if line is None:  # the child has exited
            self.process.wait(10)
            stderr = self.process.stderr.read()  # type: ignore[union-attr]
            raise AssertionError(f"{CLIENT.name} exited {self.process.returncode}:\n{stderr[-3000:]}")
        return json.loads(line)  # type: ignore[no-any-return]

    def finish(self, timeout: float) -> None:
        """Wait for a clean exit (killing the child after ``timeout`` s), then close."""
        try:
            assert self.process.wait(timeout) == 0, self.process.stderr.read()[-3000:]  # type: ignore[union-attr]
        finally:
            self.close()

    def close(self) -> None:
        """Kill the child if it still runs; release its pipes and the reader."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        self.process.stdout.close()  # type: ignore[union-attr]
        self.process.stderr.close()  # type: ignore[union-attr]


def run_client(*args: object, timeout: float) -> dict[str, Any]:
    """Run a scenario to its end; return all its JSON lines merged into one dict."""
    child = Child(*args)
    child.finish(timeout)
    result: dict[str, Any] = {}
    while (line := child._lines.get_nowait()) is not None:
        result.update(json.loads(line))
    return result


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Show a measured figure in the test run's output, even when captured."""
    with capsys.disabled():
        print(f"\n[load] {text}")


@pytest.fixture(scope="module")
def server_process() -> Iterator[ServerProcess]:
    with ServerProcess() as server:
        yield server


# -- 10,000 in flight --------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_requests_in_flight_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    n = 10_000
    with ServerProcess() as server:
        result = run_client("burst", server.url("/delay/1"), n, timeout=120)
        stats = server.stats()
    report(
        capsys,
        f"{n:,} in flight against a 1 s server: {result['wall']:.1f} s (client CPU {result['cpu']:.1f} s), "
        f"peak RSS {result['peak_rss_mb']:.0f} MB, peak fds {result['peak_fds']:,}, "
        f"server peak connections {stats['peak_connections']:,}",
    )
    assert result["failures"] == []
    assert result["ok"] == n
    assert stats["peak_connections"] >= n  # all of them were open at the same time
    assert result["peak_fds"] >= n
    # ~7.5 s on an idle 2-core machine (issue 7 asks < 10 s; the figure is
    # reported by the benchmarks and the note): the client's CPU plus the
    # server's 1 s. The bound here only catches serialisation (10,000 s) or
    # a stall, not a busy CI machine; the CPU figure tells which when it fails.
    assert result["wall"] < 30.0, f"client CPU {result['cpu']:.1f} s, load average {os.getloadavg()}"
    assert result["peak_rss_mb"] < 1000  # ~300 MB measured: ~30 KB a request in flight


# -- file-descriptor limits ----------------------------------------------------


def test_soft_fd_limit_is_raised_when_a_fan_out_needs_more(server_process: ServerProcess) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2000:
        pytest.skip(f"the hard RLIMIT_NOFILE ({hard}) is too low to raise the soft one past 1,000")
    result = run_client("limited", server_process.url("/delay/0.5"), 1000, 256, "-", timeout=60)
    assert result["failures"] == []
    assert result["ok"] == 1000
    assert result["soft_limit"] == hard
    assert result["second_ok"] == 50


def test_running_out_of_fds_fails_clearly_and_fast(server_process: ServerProcess) -> None:
    result = run_client("limited", server_process.url("/delay/0.5"), 1000, 256, 256, timeout=60)
    assert 100 < result["ok"] < 256  # as many as the limit allows, the rest fail
    [(message, count)] = result["failures"]
    assert count == 1000 - result["ok"]
    assert message.startswith("ConnectionError: ")  # requests' own type, via NewConnectionError
    for advice in ("Too many open files", "may open at most 256", "size=", "ulimit -n"):
        assert advice in message
    assert result["wall"] < 5.0  # the failures are immediate: no hang, no timeout
    assert result["second_ok"] == 50  # everything was released


def test_raise_fd_limit_never_lowers_or_passes_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert gfetch.raise_fd_limit(8) == soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
    code = (
        "import resource, gfetch\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "raised = gfetch.raise_fd_limit(100), gfetch.raise_fd_limit()\n"
        "print(*raised, resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(min(100, hard)), str(hard), str(hard)]


# -- the soak ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120 + SOAK_REQUESTS / 200)
def test_soak_memory_and_fds_stay_flat(
    capsys: pytest.CaptureFixture[str], server_process: ServerProcess
) -> None:
    # The client runs in a child: the pytest process's RSS carries every
    # earlier test's heap and allocator fragmentation, which would hide a
    # slow leak or fake one; a fresh interpreter measures gfetch alone.
    n, size = SOAK_REQUESTS, 200
    result = run_client("soak", server_process.url("/"), n, size, timeout=60 + n / 200)
    marks = result["marks"]
    warm, end = marks[0], marks[-1]  # after the first tenth: pools, caches and arenas are warm
    report(
        capsys,
        f"soak of {n:,} requests through imap(size={size}): {result['wall']:.1f} s, "
        f"RSS {warm['rss_mb']:.1f} MB at {warm['done']:,} -> {end['rss_mb']:.1f} MB at the end, "
        f"fds {warm['fds']} -> {end['fds']}",
    )
    assert result["done"] == n
    assert result["failed"] == 0
    assert end["rss_mb"] - warm["rss_mb"] < 8
    assert max(mark["rss_mb"] for mark in marks) - warm["rss_mb"] < 16
    # At most one keep-alive connection per slot, at any time: how many of
    # them a fast server ever needs at once varies from run to run.
    assert max(mark["fds"] for mark in marks) <= result["baseline"] + size + 2
    assert result["fds_closed"] == result["baseline"]


# -- Ctrl-C ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "count", "size"),
    [("/delay/30", 200, 200), ("/", 50_000, 500)],
    ids=["waiting-on-a-slow-server", "busy-with-a-fast-server"],
)
def test_ctrl_c_stops_map_promptly(server_process: ServerProcess, path: str, count: int, size: int) -> None:
    child = Child("interrupt", server_process.url(path), count, size, server_process.url("/json"))
    try:
        assert child.line(timeout=30)["ready"]  # `size` connections are open
        sent = time.monotonic()
        os.kill(child.process.pid, signal.SIGINT)
        result = child.line(timeout=30)
        assert result["interrupted"]
        assert result["caught_at"] - sent < 2.0
        assert result["fds"] == result["baseline"]  # every connection closed
        assert (result["parked"], result["fd_waits"]) == (0, 0)  # every request cancelled
        assert child.line(timeout=30) == {"second_ok": 20}  # and gfetch works on
        child.finish(timeout=30)
    finally:
        child.close()


def test_ctrl_c_in_the_input_generator_is_raised_once(server_process: ServerProcess) -> None:
    # imap reads its input in a feeder greenlet: the KeyboardInterrupt is
    # raised there, and must come out of imap once, after the cleanup.
    result = run_client("feeder_interrupt", server_process.url("/delay/30"), 50, timeout=60)
    assert result["raised"] == 1
    assert result["took"] < 2.0
    assert result["fds"] == result["baseline"]
    assert (result["parked"], result["fd_waits"]) == (0, 0)


def test_kill_lands_although_the_target_is_woken_in_every_pass() -> None:
    # A Pool's feeder in a busy fan-out: a finishing worker hands it a slot
    # in nearly every pass, so it is rarely parked and un-woken.
    slots = gfetch.Semaphore(0)

    def taker() -> None:
        while True:
            slots.acquire()

    def giver() -> None:
        stop = time.monotonic() + 5  # outlasts the kills' timeouts
        for _ in range(10_000_000):
            slots.release()
            gfetch.sleep(0)
            if time.monotonic() > stop:
                return

    taking, giving = gfetch.spawn(taker), gfetch.spawn(giver)
    gfetch.sleep(0.01)
    taking.kill(timeout=2)
    giving.kill(timeout=2)
    assert taking.dead and giving.dead


def test_kill_lands_after_a_lost_wake_up() -> None:
    # A KeyboardInterrupt in the hub between firing a waiter and resuming its
    # greenlet loses the wake-up; a kill must still get through.
    event = gfetch.Event()
    waiting = gfetch.spawn(event.wait)
    gfetch.sleep(0)
    get_hub()._parked[waiting].fired = True  # fired, but its wake-up never queued
    waiting.kill(timeout=2)
    assert waiting.dead


# -- threads -----------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["session-per-thread", "one-shared-session"])
def test_four_threads_each_running_map(server_process: ServerProcess, no_fd_leak: None, shared: bool) -> None:
    threads, per_thread = 4, 250
    session = gfetch.Session(pool_maxsize=threads * 50) if shared else None
    hubs: dict[int, int] = {}
    spans: dict[int, tuple[float, float]] = {}
    answers: dict[int, list[Any]] = {}

    def work(t: int) -> None:
        hubs[t] = id(get_hub())
        urls = [server_process.url(f"/delay/0.05?t={t}&i={i}") for i in range(per_thread)]
        start = time.monotonic()
        responses = gfetch.map(urls, size=50, session=session, return_exceptions=True)
        spans[t] = (start, time.monotonic())
        answers[t] = [r.json()["query"] if isinstance(r, requests.Response) else repr(r) for r in responses]

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not any(worker.is_alive() for worker in workers)
    if session is not None:
        session.close()
    for t in range(threads):
        assert answers[t] == [{"t": str(t), "i": str(i)} for i in range(per_thread)]
    assert len(set(hubs.values()) | {id(get_hub())}) == threads + 1  # a hub each
    assert max(start for start, _ in spans.values()) < min(end for _, end in spans.values())  # overlapped
