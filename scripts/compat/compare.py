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
    base_env = {
        name: value
        for name, value in os.environ.items()
        if name not in _CLEARED and not name.lower().endswith("_proxy")
    }
    base_env["PYTHONPATH"] = str(HERE)
    runs = {}
    for name, extra, overrides in RUNS:
        path = results / (name.split()[0] + ("-urllib3" if overrides else "") + ".json")
        log = path.with_suffix(".log")
        path.unlink(missing_ok=True)
        command = [
            # requests' own configuration and rootdir, whatever paths the options name
            sys.executable, "-m", "pytest", "-c", "pyproject.toml", "--rootdir", ".", "tests",
            "-q", "-rfE", "-p", "no:cacheprovider", "--timeout", "120", "-p", "compat_plugin",
            f"--compat-results={path}", f"--compat-deselect={HERE / 'deselect.txt'}", *extra,
        ]
        with open(log, "w") as out:
            subprocess.run(command, cwd=sdist, env={**base_env, **overrides}, stdout=out, stderr=subprocess.STDOUT)
        if not path.exists():
            print(f"compat: the {name} run produced no results; see {log}", file=sys.stderr)
            return 1
        runs[name] = json.loads(path.read_text())
        print(f"compat: {name}: {_summary_line(log)}")
    return _report(runs)


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
    reached_out = {nodeid for run in runs.values() for nodeid in run["reached_out"]}
    if reached_out:
        status = 1
        print("compat: tests that tried to reach a non-loopback address (add them to deselect.txt):")
        for nodeid in sorted(reached_out):
            print(f"    {nodeid}")
    return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
