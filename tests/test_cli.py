"""The gfetch command line and the demo."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gfetch.cli import main
from gfetch.testserver import TestServer

REFUSED = "http://127.0.0.1:1/"


def run_cli(*argv: str, stdin: str = "") -> tuple[int, list[dict]]:
    out = io.StringIO()
    status = main(list(argv), stdin=io.StringIO(stdin), stdout=out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_line_per_url(server: TestServer) -> None:
    status, records = run_cli(server.url("/json"), server.url("/bytes/7"), REFUSED)
    assert status == 0
    by_url = {r["url"]: r for r in records}
    assert by_url[server.url("/json")]["status"] == 200
    assert by_url[server.url("/json")]["content_type"] == "application/json"
    assert by_url[server.url("/bytes/7")]["bytes"] == 7
    assert by_url[REFUSED]["status"] is None and "ConnectionError" in by_url[REFUSED]["error"]
    assert set(records[0]) == {"url", "status", "elapsed_ms", "bytes", "content_type", "error"}


def test_ordered_follows_input(server: TestServer) -> None:
    urls = [server.url(f"/delay/{d}") for d in (0.2, 0.0, 0.1)]
    _, unordered = run_cli(*urls, "-c", "3")
    assert [r["url"] for r in unordered] == [urls[1], urls[2], urls[0]]
    _, ordered = run_cli(*urls, "-c", "3", "--ordered")
    assert [r["url"] for r in ordered] == urls


def test_input_from_stdin_and_output_dir(server: TestServer, tmp_path: Path) -> None:
    stdin = f"{server.url('/bytes/3')}\n# a comment\n\n{server.url('/bytes/5')}\n"
    status, records = run_cli("-i", "-", "--output-dir", str(tmp_path), stdin=stdin)
    assert status == 0 and len(records) == 2
    assert sorted(p.stat().st_size for p in tmp_path.iterdir()) == [3, 5]


def test_method_headers_data(server: TestServer, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"q": 1}')
    out = tmp_path / "out"
    status, _ = run_cli("-X", "post", "-H", "X-Test: yes", "--data", f"@{body}", "--output-dir", str(out),
                        server.url("/echo"))
    echoed = json.loads(next(out.iterdir()).read_text())
    assert status == 0
    assert echoed["method"] == "POST" and echoed["headers"]["x-test"] == "yes" and echoed["body"] == '{"q": 1}'


def test_fail_flag(server: TestServer) -> None:
    assert run_cli(server.url("/json"), REFUSED)[0] == 0
    assert run_cli(server.url("/json"), REFUSED, "--fail")[0] == 1
    assert run_cli(server.url("/status/404"), "--fail")[0] == 1
    assert run_cli(server.url("/json"), "--fail")[0] == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--concurrency", "0"], "must be >= 1"),
        (["-H", "no-colon", "http://x"], "expected 'Name: value'"),
        ([], "no URLs given"),
        (["-i", "/nonexistent/urls.txt"], "cannot read"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_give_one_line(argv: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "gfetch", *argv], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_help_reads_like_curl() -> None:
    result = subprocess.run([sys.executable, "-m", "gfetch", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--concurrency", "--per-host", "--rate", "--timeout", "--retries", "--method", "--header",
                   "--data", "--output-dir", "--progress", "--fail", "--ordered", "examples:"):
        assert option in result.stdout


def test_demo_runs_offline() -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    result = subprocess.run(
        [sys.executable, "-m", "gfetch", "demo", "-n", "60", "--delay", "0.05", "--sample", "3", "--threads", "10",
         "--size", "60", "--no-progress"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "requests, one after another" in result.stdout
    assert "ThreadPoolExecutor(10)" in result.stdout
    assert "gfetch.map(urls, size=60)" in result.stdout
