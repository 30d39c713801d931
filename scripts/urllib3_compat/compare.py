"""Run urllib3's socket-level tests on plain urllib3 and against gfetch's LeanPool; report differences.

Usage (scripts/urllib3_compat/run calls it inside a loopback-only network namespace):
    python compare.py SDIST_DIR RESULTS_DIR

Runs pytest three times on TEST_FILES in SDIST_DIR (urllib3's own configuration):

* baseline: plain urllib3;
* gfetch: every HTTP(S)ConnectionPool the tests build is a LeanPool, built as
  gfetch's adapter builds it (leanpool_plugin.py), without the tests listed in
  not_applicable.txt (what requests never asks of a pool) and in
  expected_differences.txt;
* gfetch, expected differences: only the tests expected_differences.txt lists,
  with a short timeout (some hang), in a process of their own, so that a hung
  test's server thread cannot slow down or break the others.

deselect.txt (tests that need a non-loopback address) is left out of every run.
Exits 1 when a test that passes on plain urllib3 and is listed nowhere does not
pass through gfetch, when a listed expected difference passes (it was fixed:
take it off the list), when a test not in deselect.txt tried to reach a
non-loopback address, or when a run produced no results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPAT = HERE.parent / "compat"
sys.path.insert(0, str(COMPAT))  # first: "compare" is scripts/compat/compare.py, not this file

from compare import clean_environment, report_reached_out, run_pytest  # noqa: E402
from compat_plugin import is_listed, listed_tests  # noqa: E402

TEST_FILES = [
    "test/with_dummyserver/test_socketlevel.py",
    "test/with_dummyserver/test_chunked_transfer.py",
    "test/with_dummyserver/test_connectionpool.py",
]
LABEL = "urllib3-compat"
TIMEOUT = "60"  # seconds a test may take; urllib3's own take well under one
HANG_TIMEOUT = "5"  # for the expected differences, some of which hang until it


def main(sdist: Path, results: Path) -> int:
    lists = {name: HERE / f"{name}.txt" for name in ("deselect", "not_applicable", "expected_differences")}
    expected = listed_tests(str(lists["expected_differences"]))
    env = clean_environment(HERE, COMPAT)
    pools = results / "gfetch-pools.json"
    common = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        "pyproject.toml",
        "--rootdir",
        ".",
        "-q",
        "-rfE",
        "-p",
        "no:cacheprovider",
        "-p",
        "compat_plugin",
    ]
    shim = ["-p", "leanpool_plugin"]
    runs = {
        "baseline": [*TEST_FILES, "--timeout", TIMEOUT, f"--compat-deselect={lists['deselect']}"],
        "gfetch": [
            *TEST_FILES,
            "--timeout",
            TIMEOUT,
            *shim,
            f"--leanpool-record={pools}",
            *(f"--compat-deselect={path}" for path in lists.values()),
        ],
    }
    if expected:
        runs["gfetch, expected differences"] = [*expected, "--timeout", HANG_TIMEOUT, *shim]
    outcomes = {}
    for name, arguments in runs.items():
        path = results / (name.split(",")[0] + ("-expected" if "," in name else "") + ".json")
        run = run_pytest(name, [*common, f"--compat-results={path}", *arguments], sdist, env, path, LABEL)
        if run is None:
            return 1
        outcomes[name] = run
    built_a_pool = set(json.loads(pools.read_text()))
    return _report(outcomes, listed_tests(str(lists["not_applicable"])), expected, built_a_pool)


def _report(
    runs: dict[str, dict], not_applicable: dict[str, str], expected: dict[str, str], built_a_pool: set[str]
) -> int:
    baseline = runs["baseline"]["outcomes"]
    apart = runs.get("gfetch, expected differences", {"outcomes": {}, "reasons": {}})
    gfetch = {**runs["gfetch"]["outcomes"], **apart["outcomes"]}
    reasons = {**runs["gfetch"]["reasons"], **apart["reasons"]}
    passed = sorted(nodeid for nodeid, outcome in baseline.items() if outcome == "passed")
    excluded = [nodeid for nodeid in passed if is_listed(nodeid, not_applicable)]
    expected_ids = [nodeid for nodeid in passed if is_listed(nodeid, expected)]
    compared = [nodeid for nodeid in passed if nodeid not in excluded and nodeid not in expected_ids]
    differing = [nodeid for nodeid in compared if gfetch.get(nodeid) != "passed"]
    fixed = [nodeid for nodeid in expected_ids if gfetch.get(nodeid) == "passed"]
    passed_gfetch = [nodeid for nodeid in compared if gfetch.get(nodeid) == "passed"]
    print(
        f"{LABEL}: passed on plain urllib3: {len(passed)}; not applicable to a pool under requests: "
        f"{len(excluded)}; passed through gfetch: {len(passed_gfetch)} of {len(compared)} "
        f"({len(set(passed_gfetch) - built_a_pool)} of them build no pool); "
        f"expected differences: {len(expected_ids) - len(fixed)}"
    )
    if differing:
        print(f"{LABEL}: differences (pass on plain urllib3, not through gfetch):")
        for nodeid in differing:
            print(f"    {nodeid}: {reasons.get(nodeid, gfetch.get(nodeid, 'not run'))}")
    for nodeid in expected_ids:
        if nodeid not in fixed:
            print(f"    expected: {nodeid}: {reasons.get(nodeid, gfetch.get(nodeid, 'not run'))}")
    if fixed:
        print(f"{LABEL}: expected differences that pass now (take them off expected_differences.txt):")
        for nodeid in fixed:
            print(f"    {nodeid}")
    not_passing = [
        nodeid
        for nodeid in baseline
        if is_listed(nodeid, {**not_applicable, **expected}) and baseline[nodeid] != "passed"
    ]
    if not_passing:
        print(f"{LABEL}: note: listed tests that do not pass on plain urllib3 here either: {not_passing}")
    return int(bool(differing or fixed)) | report_reached_out(runs, LABEL, "deselect.txt")


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
