"""Run every ``examples/*.py`` in a subprocess; check the tutorial ones' output.

New examples are picked up automatically. An example whose leading comment
lines include ``# requires: <module>`` is skipped when that module is not
importable (e.g. dask). Examples may only talk to 127.0.0.1 servers they
start themselves.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

# Substrings each tutorial example must print (in any order).
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
}


def _requirements(path: Path) -> list[str]:
    """Modules named by ``# requires: a, b`` lines in the file's leading comments."""
    modules: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            match = re.match(r"#\s*requires:\s*(.+)", line)
            if match:
                modules += [name.strip() for name in match.group(1).split(",") if name.strip()]
    return modules


def _run(path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # already stripped of proxies by conftest's clean_env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(path.relative_to(ROOT))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tutorials_are_present() -> None:
    missing = set(EXPECTED) - {path.stem for path in EXAMPLES}
    assert not missing, f"tutorial examples missing from examples/: {sorted(missing)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs(path: Path) -> None:
    for module in _requirements(path):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"{path.name} requires {module}, which is not installed")
    result = _run(path)
    assert result.returncode == 0, f"{path.name} exited {result.returncode}:\n{result.stderr}"
    assert result.stdout.strip(), f"{path.name} printed nothing"
    for expected in EXPECTED.get(path.stem, []):
        assert expected in result.stdout, f"{expected!r} not in output of {path.name}:\n{result.stdout}"


def test_sync_vs_async_timings() -> None:
    result = _run(ROOT / "examples" / "tutorial_sync_vs_async.py")
    assert result.returncode == 0, result.stderr
    pattern = r"^(synchronous|asynchronous): +\d+ tasks in ([\d.]+) s"
    times = {kind: float(seconds) for kind, seconds in re.findall(pattern, result.stdout, re.M)}
    # Generous bounds: the point is overlap, not speed (see benchmarks/).
    assert times["synchronous"] >= 1.9
    assert times["asynchronous"] < 1.0
