"""Run every ``examples/*.py`` in a subprocess; check what each one prints.

New examples are picked up automatically. An example whose leading comment
lines include ``# requires: <module> from gfetch[<extra>]`` is skipped when
that module is not installed, and fails when it is installed but broken.
Examples may only talk to 127.0.0.1 servers they start themselves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _extras import require

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

# Substrings each example must print (in any order), so that one which runs but
# silently does nothing fails. Timing- and load-dependent figures are left out. A
# figure that is not measured (a sum of the server's delays) says what it is.
EXPECTED: dict[str, list[str]] = {
    "tutorial_sync_vs_async": ["synchronous:", "asynchronous:", "speed-up:"],
    "tutorial_switching": [
        "foo: running\nbar: explicit context switch to bar\n"
        "foo: back in foo again\nbar: implicit context switch back to bar\n",
        "a: 0\nb: 0\na: 1\nb: 1\na: 2\nb: 2\n",
        "a: 0\na: 1\na: 2\nb: 0\nb: 1\nb: 2\n",
    ],
    "tutorial_greenlet_state": [
        "value='You win!'",
        "exception=ValueError('You fail.')",
        "winner.get() -> 'You win!'",
        "loser.get() raised ValueError: You fail.",
        "sleeper.get() -> GreenletExit",
        "raised Timeout (0.05 seconds)",
    ],
    "tutorial_producer_consumer": [
        "setter: setting the event\na woke up\nb woke up\nc woke up\n",
        "boss: all tasks handed out",
        "all 12 tasks done: True",
    ],
    "tutorial_timeout_pool": [
        "Timeout raised after 0.1 seconds",
        "ended the block silently",
        "raised TimeoutError(0.1 seconds)",
        "results in input order: [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]",
        "at most 3 ran at once",
    ],
    "fetch_list": [
        "HTTP 404",
        "Connection refused",
        "200 URLs: 194 ok, 4 HTTP errors, 2 failed",
        "saved 194 files",
    ],
    "aggregate_api": [
        "core: 150 requests (3 per item)",
        "one after another, the server's delays alone would add up to 11.25 s\n",
        "(per_host=20)",
        "cancelled by gtimeout=0.5 s",
        '"id": 10, "name": "item 10"',
        '"reviews": null}',
        "merged 50 records, 50 complete",
    ],
    "crawl_json": [
        "crawled 14 pages and 95 items",
        "(one after another, the server's delays alone would add up to 5.45 s)\n",
        "the pages held 190 item links; fetched 95, each item once: True",
        "items by category: books 32, games 32, tools 31",
    ],
    "scale_out_dask": [
        "fetched 2000 URLs in 8 partitions on",
        "(one after another, the server's delays alone would add up to 200 s)\n",
        "per_host=50 in each worker, 200 across the 4 workers",
        "status codes: 200: 2000\n",
    ],
    "why_slow": [
        "20 requests, per_host=2, in ",
        "api: mostly blocked: waiting for one of its per_host=2 slots\n",
        "slow: mostly wait: the server takes its time to answer\n",
        "bulk: mostly receive: the body arrives slowly\n",
        "      0.0  request.queued\n",
        "  connection.acquired  reused=False blocked=",
        "  response.headers     status=200 wait=",
        "  response.complete    receive=",
        "gfetch: 20 requests in ",
        ": 20 answered (200: 20), 0 failed\n",
        "hosts by time in requests",
    ],
}


def _requirements(path: Path) -> list[tuple[str, str]]:
    """(module, extra) pairs named by ``# requires: module from gfetch[extra], ...`` lines in the
    file's leading comments."""
    required: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            match = re.match(r"#\s*requires:\s*(.+)", line)
            if match:
                for item in match.group(1).split(","):
                    found = re.fullmatch(r"\s*([\w.]+) from gfetch\[(\w+)\]\s*", item)
                    assert found, f"{path.name}: write '# requires: module from gfetch[extra]', not {item!r}"
                    required.append((found.group(1), found.group(2)))
    return required


def _require_imports(path: Path) -> None:
    """Skip (not installed) or fail (broken) unless the modules the example requires import."""
    for module, extra in _requirements(path):
        require(module, extra)


# Examples that read phases only gfetch's own pool measures (receive): run on it, whatever
# GFETCH_TRANSPORT the suite runs under.
OWN_POOL = {"why_slow"}


def _run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # already stripped of proxies by conftest's clean_env
    if path.stem in OWN_POOL:
        env.pop("GFETCH_TRANSPORT", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(path.relative_to(ROOT)), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_examples_are_present() -> None:
    missing = set(EXPECTED) - {path.stem for path in EXAMPLES}
    assert not missing, f"examples missing from examples/: {sorted(missing)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs(path: Path) -> None:
    _require_imports(path)
    result = _run(path)
    assert result.returncode == 0, f"{path.name} exited {result.returncode}:\n{result.stderr}"
    assert result.stdout.strip(), f"{path.name} printed nothing"
    for expected in EXPECTED.get(path.stem, []):
        assert expected in result.stdout, f"{expected!r} not in output of {path.name}:\n{result.stdout}"
    assert "faster" not in result.stdout, "a speed-up against a figure the example did not measure"


def test_sync_vs_async_timings() -> None:
    result = _run(ROOT / "examples" / "tutorial_sync_vs_async.py")
    assert result.returncode == 0, result.stderr
    pattern = r"^(synchronous|asynchronous): +\d+ tasks in ([\d.]+) s"
    times = {kind: float(seconds) for kind, seconds in re.findall(pattern, result.stdout, re.M)}
    # Generous bounds: the point is overlap, not speed (see benchmarks/).
    assert times["synchronous"] >= 1.9
    assert times["asynchronous"] < 1.0


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_help(path: Path) -> None:
    _require_imports(path)
    result = _run(path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ") and "``" not in result.stdout


def test_why_slow_summary_names_the_same_causes() -> None:
    """The command line's summary in examples/why_slow.py, host by host: the phase that
    dominates is the one the timings named (docs/timings.md reads it that way)."""
    result = _run(ROOT / "examples" / "why_slow.py")
    assert result.returncode == 0, result.stderr
    servers = re.search(r"\(api is http://(\S+), slow http://(\S+), bulk http://(\S+)\)", result.stdout)
    assert servers, result.stdout
    lines = result.stdout.splitlines()
    header = next(line.split() for line in lines if line.startswith("  host "))
    rows = {
        line.split()[0]: dict(zip(header, line.split(), strict=True))
        for line in lines
        if line.startswith("  127.0.0.1:")
    }
    phases = header[header.index("blocked") :]
    dominant = {
        host: max(phases, key=lambda phase: float(row[phase]) if row[phase] != "-" else 0.0)
        for host, row in rows.items()
    }
    assert [dominant[host] for host in servers.groups()] == ["blocked", "wait", "receive"], result.stdout


def test_fetch_list_reports_a_missing_file_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-urls.txt"
    result = _run(ROOT / "examples" / "fetch_list.py", str(missing))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"fetch_list.py: error: cannot read {missing}: No such file or directory\n"
