"""``gfetch demo``: honest figures at equal concurrency, each method in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gfetch.app.demo import Measure, _summary

GFETCH = str(Path(sys.executable).with_name("gfetch"))


def test_demo_runs_offline_at_equal_concurrency() -> None:
    result = subprocess.run(
        [GFETCH, "demo", "-n", "40", "--delay", "0.05", "--sample", "3", "-c", "20", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "requests, one after another (3 of 40)" in out
    assert "requests + ThreadPoolExecutor(20)" in out and "gfetch.imap_enumerated(urls, size=20)" in out
    assert "Same 40 URLs, at most 20 in flight for both" in out
    for figure in ("wall time", "peak memory", "CPU per request"):
        assert figure in out
    assert "faster" not in out.lower()


def test_summary_makes_no_claim_the_figures_do_not_support() -> None:
    threads = Measure(fetched=100, ok=100, seconds=1.0, cpu_seconds=0.1, peak_rss_mb=40.0)
    slower = Measure(fetched=100, ok=100, seconds=1.5, cpu_seconds=0.05, peak_rss_mb=50.0)
    text = _summary(100, 10, threads, slower)
    assert "1.50x" in text and "1.25x" in text and "0.50x" in text
    assert "faster" not in text.lower() and "better" not in text.lower()


def test_demo_help_is_plain_text() -> None:
    result = subprocess.run([GFETCH, "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "``" not in result.stdout and ":func:" not in result.stdout
    assert "same concurrency" in result.stdout and "--concurrency" in result.stdout
    # The call the table's row names (see test_demo_runs_offline_at_equal_concurrency), not another.
    assert "with gfetch.imap_enumerated." in " ".join(result.stdout.split())
    assert "gfetch.map" not in result.stdout


def test_ctrl_c_stops_the_demo_and_its_children_quietly() -> None:
    # A terminal's Ctrl-C goes to the whole process group: the demo, its server, its method child.
    argv = [GFETCH, "demo", "-n", "50", "--delay", "5", "--no-progress"]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith(b"Fetching 50 URLs")
        os.killpg(proc.pid, signal.SIGINT)
        status = proc.wait(30)
        stderr = proc.stderr.read().decode()
    assert status == 130 and stderr == "gfetch: interrupted\n"
