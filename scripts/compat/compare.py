"""Run requests' tests/ on plain requests and through gfetch.Session; report regressions.

Usage (scripts/compat/run calls it inside a loopback-only network namespace):
    python compare.py SDIST_DIR RESULTS_DIR

Runs pytest three times in SDIST_DIR: plain requests; every requests.Session
replaced by gfetch.Session; the same with GFETCH_TRANSPORT=urllib3. Exits 1
when a test that passes on plain requests does not pass through gfetch, when
a test not in deselect.txt tried to reach a non-loopback address, or when a
run did not produce results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (name, extra pytest arguments, environment overrides)
RUNS: list[tuple[str, list[str], dict[str, str]]] = [
    ("plain", [], {}),
    ("gfetch", ["--gfetch-session"], {}),
    ("gfetch GFETCH_TRANSPORT=urllib3", ["--gfetch-session"], {"GFETCH_TRANSPORT": "urllib3"}),
]
# Variables that change what requests' tests see; the machine's are not the tests' business.
_CLEARED = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GFETCH_TRANSPORT")


def main(sdist: Path, results: Path) -> int:
    base_env = clean_environment(HERE)
    runs = {}
    for name, extra, overrides in RUNS:
        path = results / (name.split()[0] + ("-urllib3" if overrides else "") + ".json")
        command = [
            # requests' own configuration and rootdir, whatever paths the options name
            sys.executable,
            "-m",
            "pytest",
            "-c",
            "pyproject.toml",
            "--rootdir",
            ".",
            "tests",
            "-q",
            "-rfE",
            "-p",
            "no:cacheprovider",
            "--timeout",
            "120",
            "-p",
            "compat_plugin",
            f"--compat-results={path}",
            f"--compat-deselect={HERE / 'deselect.txt'}",
            *extra,
        ]
        run = run_pytest(name, command, sdist, {**base_env, **overrides}, path)
        if run is None:
            return 1
        runs[name] = run
    return _report(runs)


def clean_environment(*pythonpath: Path) -> dict[str, str]:
    """This environment without what changes what the tests see, with ``pythonpath`` as PYTHONPATH."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _CLEARED and not name.lower().endswith("_proxy")
    }
    env["PYTHONPATH"] = os.pathsep.join(map(str, pythonpath))
    return env


def run_pytest(
    name: str, command: list[str], cwd: Path, env: dict[str, str], path: Path, label: str = "compat"
) -> dict | None:
    """Run ``command`` (a pytest writing --compat-results to ``path``), its output to ``path``.log;
    the results, or None (said on stderr) when it wrote none. ``label`` starts each message."""
    log = path.with_suffix(".log")
    path.unlink(missing_ok=True)
    with open(log, "w") as out:
        subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if not path.exists():
        print(f"{label}: the {name} run produced no results; see {log}", file=sys.stderr)
        return None
    print(f"{label}: {name}: {_summary_line(log)}")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _summary_line(log: Path) -> str:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _report(runs: dict[str, dict]) -> int:
    status = 0
    plain = runs["plain"]["outcomes"]
    passed_plain = {nodeid for nodeid, outcome in plain.items() if outcome == "passed"}
    print(f"compat: passed on plain requests: {len(passed_plain)}")
    for name, run in runs.items():
        if name == "plain":
            continue
        outcomes = run["outcomes"]
        regressions = sorted(nodeid for nodeid in passed_plain if outcomes.get(nodeid) != "passed")
        passed = sum(outcome == "passed" for outcome in outcomes.values())
        print(f"compat: {name}: passed {passed}, regressions {len(regressions)}")
        for nodeid in regressions:
            reason = run.get("reasons", {}).get(nodeid, outcomes.get(nodeid, "not run"))
            print(f"    {nodeid}: {reason}")
        status |= bool(regressions)
    return status | report_reached_out(runs, "compat", "deselect.txt")


def report_reached_out(runs: dict[str, dict], label: str, listing: str) -> int:
    """1, after naming them, when tests tried to reach a non-loopback address; else 0."""
    reached_out = {nodeid for run in runs.values() for nodeid in run["reached_out"]}
    if not reached_out:
        return 0
    print(f"{label}: tests that tried to reach a non-loopback address (add them to {listing}):")
    for nodeid in sorted(reached_out):
        print(f"    {nodeid}")
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
