"""The ``gfetch`` command, run as a user runs it: the installed script, in a subprocess.

Every server is local and none runs on gfetch (tests/_stdlibserver.py, tests/_servers.py,
gfetch/testing/raw.py).
The subprocesses inherit conftest's cleaned environment (no proxy or CA-bundle
variables) unless a test sets them on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
import trustme
from _servers import HTTPSServer, ProxyServer
from _stdlibserver import StdlibServer

from gfetch.app.summary import percentile
from gfetch.core.timings import PHASES
from gfetch.testing.raw import Peer, RawServer, head, hold, reset, send, trickle

GFETCH = str(Path(sys.executable).with_name("gfetch"))
BOUND = 60  # seconds: a backstop, never reached when things work
RECORD_FIELDS = {
    "url",
    "final_url",
    "status",
    "elapsed_ms",
    "attempts",
    "bytes",
    "content_type",
    "file",
    "error",
    "error_kind",
}


class Result(NamedTuple):
    status: int
    records: list[dict[str, Any]]
    stderr: str

    def by_url(self) -> dict[str, dict[str, Any]]:
        return {record["url"]: record for record in self.records}


def gfetch(*argv: str | bytes, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Result:
    result = subprocess.run(
        [GFETCH, *argv],
        capture_output=True,
        timeout=BOUND,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert "Traceback" not in stderr, stderr
    return Result(result.returncode, [json.loads(line) for line in stdout.splitlines()], stderr)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REFUSED_URL = "http://127.0.0.1:1/"  # port 1: nothing listens there


@pytest.fixture(scope="module")
def https_server(ca: trustme.CA) -> Iterator[HTTPSServer]:
    with HTTPSServer(ca.issue_cert("127.0.0.1")) as srv:
        yield srv


@pytest.fixture(scope="module")
def untrusting_bundle(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CA bundle that does not trust the test CA."""
    path = tmp_path_factory.mktemp("other-ca") / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


# -- point 1: -k ----------------------------------------------------------------
def test_insecure_wins_over_ca_bundle_variables(https_server: HTTPSServer, untrusting_bundle: str) -> None:
    env = {**os.environ, "REQUESTS_CA_BUNDLE": untrusting_bundle, "CURL_CA_BUNDLE": untrusting_bundle}
    url = https_server.url("/")
    verified = gfetch(url, env=env)
    assert verified.status == 1 and verified.records[0]["error_kind"] == "tls"
    insecure = gfetch("-k", url, env=env)
    assert insecure.status == 0, insecure
    assert insecure.records[0]["status"] == 200
    assert "Warning" not in insecure.stderr  # asked for: no InsecureRequestWarning


# -- point 2: exit status -------------------------------------------------------
def test_exit_status(server: StdlibServer) -> None:
    ok, not_found = server.url("/json"), server.url("/status/404")
    refused = f"http://127.0.0.1:{closed_port()}/"
    assert gfetch(ok, not_found).status == 0
    assert gfetch(ok, not_found, "--fail").status == 1
    assert gfetch(ok, "--fail").status == 0
    assert gfetch(ok, refused).status == 1
    assert gfetch(refused).status == 1


def test_help_documents_exit_status_kinds_and_options() -> None:
    result = subprocess.run([GFETCH, "--help"], capture_output=True, text=True, timeout=BOUND)
    assert result.returncode == 0
    for text in (
        "--concurrency",
        "--per-host",
        "--rate",
        "--timeout",
        "--retries",
        "--method",
        "--header",
        "--data",
        "--output",
        "--output-dir",
        "--progress",
        "--fail",
        "--ordered",
        "--proxy",
        "--timings",
        "--summary",
        "examples:",
        "exit status:",
        "130",
        "141",
        "error_kind",
        "refused",
        "final_url",
        "attempts",
        "file",
        "timings_ms",
    ):
        assert text in result.stdout, text


# -- point 3: no tracebacks -----------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--concurrency", "0"], "expected an integer >= 1, got '0'"),
        (["-c", "abc", "http://x"], "expected an integer >= 1, got 'abc'"),
        (["--retries", "-1", "http://x"], "expected an integer >= 0, got '-1'"),
        (["--timeout", "nan", "http://x"], "expected a number > 0, got 'nan'"),
        (["-H", "no-colon", "http://x"], "expected 'Name: value'"),
        (["-H", "Bad Name: v", "http://x"], "invalid header name 'Bad Name'"),
        (["-X", "GET /", "http://x"], "invalid method"),
        (["--proxy", "nonsense", "http://x"], "expected a proxy URL"),
        ([], "no URLs given: pass URLs, or -i FILE (-i - reads them from stdin)"),
        (["-o", "x", "http://a/", "http://b/"], "-o takes one URL, got 2: for many, use --output-dir DIR"),
        (
            ["-o", "x", "--output-dir", "d", "http://a/"],
            "argument --output-dir: not allowed with argument -o",
        ),
        (["-i", "/nonexistent/urls.txt"], "cannot read /nonexistent/urls.txt"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_give_one_line(argv: list[str], message: str) -> None:
    result = gfetch(*argv)
    assert result.status == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "_positive" not in lines[0] and "_number" not in lines[0]


def test_input_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    bad = b"http://127.0.0.1:1/\n\xff\n"
    path = tmp_path / "urls.txt"
    path.write_bytes(bad)
    for result in (gfetch("-i", str(path)), gfetch("-i", "-", stdin=bad)):
        assert result.status == 2 and result.records == []
        assert "not UTF-8 text: byte 0xff at offset 20" in result.stderr


def test_url_arguments_that_are_not_utf8_are_a_usage_error_as_in_files(server: StdlibServer) -> None:
    """Not sent percent-encoded as a lone surrogate (%ED%B3%A9): refused as a file's would be."""
    url = server.url("/json")
    result = gfetch(url, url.encode() + b"?q=\xe9")
    assert result.status == 2 and result.records == []
    assert result.stderr == (
        f"gfetch: error: URL argument 2 is not UTF-8 text: byte 0xe9 at offset "
        f"{len(url) + 3} (see gfetch --help)\n"
    )
    assert gfetch(url + "?q=\u00e9").records[0]["status"] == 200  # UTF-8 is fine


def test_piped_urls_without_i_dash_are_told_about_it(server: StdlibServer) -> None:
    result = gfetch(stdin=server.url("/json").encode() + b"\n")
    assert result.status == 2 and "-i - reads them from stdin" in result.stderr


def test_unusable_output_dir_is_a_usage_error(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    for target in (a_file, a_file / "sub"):
        result = gfetch("--output-dir", str(target), "http://127.0.0.1:1/")
        assert result.status == 2 and f"cannot use --output-dir {target}" in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_closed_output_ends_quietly(server: StdlibServer, tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/bytes/{i}") + "\n" for i in range(300)))
    with subprocess.Popen(
        [GFETCH, "-i", str(urls), "-c", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert json.loads(proc.stdout.readline())["status"] == 200
        proc.stdout.close()  # as `| head -1` does
        stderr = proc.stderr.read().decode()
        assert proc.wait(BOUND) == 141
    assert stderr == ""


def test_closed_output_of_a_body_ends_quietly(server: StdlibServer) -> None:
    """-o - into `| head -c 10`: the body is larger than a pipe holds, so the write meets the closed end."""
    with subprocess.Popen(
        [GFETCH, "-o", "-", server.url("/bytes/2000000")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(10) == b"x" * 10
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(BOUND) == 141
    assert stderr == ""


# The server's ends of the cancelled /delay/30 requests stay open until their delay ends.
@pytest.mark.keeps_fds
def test_ctrl_c_cancels_flushes_and_exits_130(server: StdlibServer) -> None:
    slow = [server.url(f"/delay/30?i={i}") for i in range(5)]
    with subprocess.Popen(
        [GFETCH, server.url("/json"), *slow, "-c", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = json.loads(proc.stdout.readline())  # printed and flushed before the interrupt
        proc.send_signal(signal.SIGINT)
        status = proc.wait(10)  # far less than the 30 s the slow answers take
        rest, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    assert first["status"] == 200 and status == 130 and rest == ""
    assert stderr == "gfetch: interrupted: 1 of 6 results printed, the rest cancelled\n"


# -- point 4: error and error_kind ---------------------------------------------
def _slow_503_then_200(peer: Peer) -> None:
    if peer.index < 2:
        peer.hold(0.25)
        peer.send(head(503, "Retry-After: 0", "Content-Length: 0", "Connection: close"))
    else:
        peer.send(head(200, "Content-Length: 2", "Connection: close") + b"ok")


def test_error_text_and_kind(ca: trustme.CA, https_server: HTTPSServer) -> None:
    refused = f"http://127.0.0.1:{closed_port()}/"
    tls_untrusted = https_server.url("/")  # the test CA is not in certifi's bundle
    with (
        RawServer(hold) as stalled,
        RawServer(reset) as resetting,
        RawServer(send(b"garbage\r\n\r\n")) as garbage,
    ):
        expected = {
            refused: ("refused", "ConnectionError: [Errno 111] Connection refused"),
            "http://no-such-host.invalid/": ("dns", "ConnectionError: [Errno -2] Name or service not known"),
            "notaurl": ("invalid_url", "MissingSchema: Invalid URL 'notaurl'"),
            stalled.url("/"): ("timeout", "ReadTimeout: timed out"),
            resetting.url("/"): ("reset", "ConnectionError: [Errno 104] Connection reset by peer"),
            garbage.url("/"): ("protocol", "ConnectionError: BadStatusLine"),
            tls_untrusted: ("tls", "SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
        }
        result = gfetch("--timeout", "0.5", *expected)
    assert result.status == 1
    records = result.by_url()
    for url, (kind, text) in expected.items():
        assert records[url]["error_kind"] == kind, records[url]
        assert records[url]["error"].startswith(text), records[url]
        assert "Green" not in records[url]["error"] and "Max retries" not in records[url]["error"]
        assert "_ssl.c" not in records[url]["error"]
    assert records[refused]["error"] == "ConnectionError: [Errno 111] Connection refused"


def test_library_exceptions_keep_requests_classes() -> None:
    import gfetch as gf

    (failure,) = gf.map([f"http://127.0.0.1:{closed_port()}/"], return_exceptions=True)
    assert type(failure) is requests.ConnectionError


# -- point 5: records -----------------------------------------------------------
def test_record_has_final_url_attempts_and_total_elapsed(server: StdlibServer) -> None:
    redirect = server.url("/redirect/2")
    with RawServer(_slow_503_then_200) as flaky:
        result = gfetch("--retries", "2", redirect, flaky.url("/"))
    assert result.status == 0
    records = result.by_url()
    assert set(records[redirect]) == RECORD_FIELDS
    assert records[redirect]["final_url"] == server.url("/json") and records[redirect]["attempts"] == 1
    retried = records[flaky.url("/")]
    assert retried["status"] == 200 and retried["attempts"] == 3 and retried["bytes"] == 2
    assert retried["elapsed_ms"] >= 500  # two 250 ms answers before the last one, not just the last


def test_deadline_ends_a_trickling_answer_alone(server: StdlibServer) -> None:
    """--deadline bounds each request in all, where the read timeout never fires."""
    body = b"x" * 40
    reply = head(200, f"Content-Length: {len(body)}") + body
    with RawServer(trickle(reply, 0.1)) as slow:
        started = time.monotonic()
        result = gfetch("--deadline", "0.8", "--timeout", "5", slow.url("/"), server.url("/json"))
        took = time.monotonic() - started
    assert result.status == 1
    records = result.by_url()
    assert records[server.url("/json")]["status"] == 200
    late = records[slow.url("/")]
    assert late["error_kind"] == "timeout" and "deadline=0.8" in late["error"], late
    assert took < 3.5  # the trickle alone would take 7 s


# -- point 6: progress ------------------------------------------------------------
def test_progress_shows_the_total(server: StdlibServer) -> None:
    result = gfetch("--progress", server.url("/json"), server.url("/bytes/3"), server.url("/"))
    assert result.status == 0 and len(result.records) == 3
    assert "3/3" in result.stderr, result.stderr


# -- the rest of the options --------------------------------------------------------
def test_ordered_follows_input(server: StdlibServer) -> None:
    urls = [server.url(f"/delay/{d}") for d in (0.3, 0.0, 0.15)]
    assert [r["url"] for r in gfetch(*urls, "-c", "3").records] == [urls[1], urls[2], urls[0]]
    assert [r["url"] for r in gfetch(*urls, "-c", "3", "--ordered").records] == urls


def test_input_from_stdin_and_output_dir(server: StdlibServer, tmp_path: Path) -> None:
    stdin = f"{server.url('/bytes/3')}\n# a comment\n\n{server.url('/bytes/5')}\n{REFUSED_URL}\n".encode()
    result = gfetch("-i", "-", "--output-dir", str(tmp_path), stdin=stdin)
    assert result.status == 1 and len(result.records) == 3
    assert sorted(p.stat().st_size for p in tmp_path.iterdir()) == [3, 5]
    records = result.by_url()
    for size in (3, 5):  # each record names the file that holds its body
        saved = Path(records[server.url(f"/bytes/{size}")]["file"])
        assert saved.parent == tmp_path and saved.stat().st_size == size
    assert records[REFUSED_URL]["file"] is None


def test_output_writes_one_body_to_a_file_or_stdout(server: StdlibServer, tmp_path: Path) -> None:
    """-o FILE as in curl; -o - puts the body on stdout and the record on stderr."""
    url = server.url("/json?x=1")
    expected = requests.get(url, timeout=BOUND).content
    path = tmp_path / "body.json"
    to_file = gfetch("-o", str(path), url)
    assert to_file.status == 0 and path.read_bytes() == expected
    assert to_file.records[0]["file"] == str(path) and to_file.records[0]["bytes"] == len(expected)

    to_stdout = subprocess.run(
        [GFETCH, "-o", "-", url], capture_output=True, timeout=BOUND, stdin=subprocess.DEVNULL
    )
    assert to_stdout.returncode == 0 and to_stdout.stdout == expected
    (record,) = [json.loads(line) for line in to_stdout.stderr.decode().splitlines()]
    assert record["status"] == 200 and record["file"] == "-"

    failed = subprocess.run(
        [GFETCH, "-o", "-", REFUSED_URL], capture_output=True, timeout=BOUND, stdin=subprocess.DEVNULL
    )
    assert failed.returncode == 1 and failed.stdout == b""
    (record,) = [json.loads(line) for line in failed.stderr.decode().splitlines()]
    assert record["error_kind"] == "refused" and record["file"] is None


def test_method_headers_data(server: StdlibServer, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"q": 1}')
    out = tmp_path / "out"
    result = gfetch(
        "-X", "post", "-H", "X-Test: yes", "--data", f"@{body}", "--output-dir", str(out), server.url("/echo")
    )
    echoed = json.loads(next(out.iterdir()).read_text())
    assert result.status == 0
    assert echoed["method"] == "POST" and echoed["headers"]["x-test"] == "yes"
    assert echoed["body"] == '{"q": 1}'


def test_data_argument_is_sent_as_given_utf8_or_not(server: StdlibServer, tmp_path: Path) -> None:
    """The bytes of the command line, as @FILE sends a file's (Python decodes argv with surrogates)."""
    result = gfetch("-X", "POST", "--data", b"a\xffb", "--output-dir", str(tmp_path), server.url("/echo"))
    echoed = json.loads(next(tmp_path.iterdir()).read_text())
    assert result.status == 0
    assert echoed["headers"]["content-length"] == "3" and echoed["body"] == "a\ufffdb"


def test_proxy_option_wins_over_proxy_variables(server: StdlibServer, https_server: HTTPSServer) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead}
    with ProxyServer() as proxy:
        result = gfetch("--proxy", proxy.url, "-k", server.url("/json"), https_server.url("/"), env=env)
        seen = proxy.seen
    assert result.status == 0, result
    assert [r["status"] for r in result.records] == [200, 200]
    assert ("GET", server.url("/json")) in [(method, target) for method, target, _ in seen]
    assert ("CONNECT", f"127.0.0.1:{https_server.port}") in [(method, target) for method, target, _ in seen]
    through_dead = gfetch("--proxy", dead, server.url("/json"))
    assert through_dead.status == 1
    assert through_dead.records[0]["error_kind"] == "proxy"
    assert through_dead.records[0]["error"] == "ProxyError: [Errno 111] Connection refused"


# -- --timings and --summary ----------------------------------------------------------
def test_timings_add_the_phases_to_each_record(server: StdlibServer) -> None:
    first, slow = server.url("/json"), server.url("/delay/0.4")
    dripping = server.url("/drip/1000?duration=0.4")
    # gfetch's own pool, whatever GFETCH_TRANSPORT the suite runs under: only it measures receive
    own_pool = {name: value for name, value in os.environ.items() if name != "GFETCH_TRANSPORT"}
    result = gfetch("--timings", "-c", "1", "--ordered", first, slow, dripping, REFUSED_URL, env=own_pool)
    assert result.status == 1
    records = result.by_url()
    assert all(set(record) == RECORD_FIELDS | {"timings_ms"} for record in result.records)
    fresh = records[first]["timings_ms"]
    assert set(fresh) == {*PHASES, "reused"} and fresh["reused"] is False
    assert fresh["connect"] >= 0 and (fresh["dns"], fresh["ssl"]) == (None, None)  # an IP, plain http
    waited = records[slow]["timings_ms"]
    assert waited["reused"] is True and waited["connect"] is None  # -c 1: the same connection
    assert waited["wait"] >= 350 and waited["receive"] < 200
    trickled = records[dripping]["timings_ms"]
    assert trickled["receive"] >= 350 and trickled["wait"] < 200
    assert records[REFUSED_URL]["timings_ms"] is None  # no answer, no phases
    plain = gfetch(first)  # without the flags: the records and stderr as they always were
    assert set(plain.records[0]) == RECORD_FIELDS and plain.stderr == ""


def test_timings_of_a_redirected_request_add_up_its_hops(server: StdlibServer) -> None:
    """The wait for a --per-host slot is in the first hop's blocked: summing the hops keeps it."""
    redirected = server.url("/redirect-to?url=/json")
    result = gfetch("--timings", "--per-host", "1", "-c", "2", server.url("/delay/0.4"), redirected)
    timings = result.by_url()[redirected]["timings_ms"]
    assert timings["blocked"] >= 300 and timings["wait"] is not None


def summary_tables(stderr: str) -> tuple[dict[str, list[float | None]], dict[str, dict[str, Any]]]:
    """The percentile rows ({"total": [p50, p90, p99], "wait": ...}) and the host rows of a summary."""
    lines = stderr.splitlines()
    start, header = (
        lines.index("  ms              p50      p90      p99"),
        lines.index(next(line for line in lines if line.lstrip().startswith("host "))),
    )
    number = lambda cell: None if cell == "-" else float(cell)  # noqa: E731
    percentiles = {
        cells[0]: [number(cell) for cell in cells[1:4]]
        for cells in (line.split() for line in lines[start + 1 : start + 2 + len(PHASES)])
    }
    names = lines[header].split()
    hosts = {
        cells[0]: dict(zip(names[1:], map(number, cells[1:]), strict=True))
        for cells in (line.split() for line in lines[header + 1 :])
    }
    return percentiles, hosts


def test_summary_shows_which_host_is_slow_and_why(server: StdlibServer) -> None:
    with StdlibServer() as slow, StdlibServer() as queued:
        urls = (
            [server.url(f"/bytes/1000?n={n}") for n in range(4)]
            + [slow.url("/delay/0.8")] * 2
            + [queued.url(f"/delay/0.15?n={n}") for n in range(6)]
            + [REFUSED_URL]
        )
        result = gfetch("--summary", "--per-host", "2", "-c", "20", *urls)
    assert result.status == 1 and len(result.records) == 13
    assert result.stderr.startswith("gfetch: 13 requests in ")
    assert ": 12 answered (200: 12), 1 failed (refused: 1)\n" in result.stderr
    received = sum(record["bytes"] or 0 for record in result.records)
    assert f"  received {received:,} bytes of bodies; connections: " in result.stderr
    _, hosts = summary_tables(result.stderr)
    hostname = lambda srv: srv.base_url.removeprefix("http://")  # noqa: E731
    assert list(hosts)[:3] == [hostname(slow), hostname(queued), hostname(server)]  # by time in requests
    assert hosts[hostname(slow)]["wait"] >= 700 and hosts[hostname(slow)]["blocked"] < 100  # a slow server
    assert hosts[hostname(queued)]["blocked"] >= 120  # waits for its per-host slots ...
    assert 120 <= hosts[hostname(queued)]["wait"] < 400  # ... more than for its answers
    assert hosts[hostname(server)]["requests"] == 4 and hosts[hostname(server)]["failed"] == 0
    assert hosts["127.0.0.1:1"]["failed"] == 1 and hosts["127.0.0.1:1"]["wait"] is None


def test_summary_percentiles_on_a_known_distribution(server: StdlibServer) -> None:
    """17 fast answers, 2 in 0.5 s, 1 in 1 s: nearest-rank p50 is fast, p90 0.5 s, p99 1 s
    (interpolating, p99 would fall between 0.5 s and 1 s)."""
    delays = [0.0] * 17 + [0.5] * 2 + [1.0]
    result = gfetch("--summary", "-c", "20", *(server.url(f"/delay/{d}?n={n}") for n, d in enumerate(delays)))
    assert result.status == 0 and len(result.records) == 20
    percentiles, _ = summary_tables(result.stderr)
    for row in ("total", "wait"):
        p50, p90, p99 = percentiles[row]
        assert p50 is not None and p90 is not None and p99 is not None
        assert p50 < 300 and 450 <= p90 < 950 and p99 >= 950, (row, percentiles[row])


def test_percentile_is_nearest_rank() -> None:
    hundred = [float(n) for n in range(1, 101)]
    assert [percentile(hundred, p) for p in (50, 90, 99)] == [50.0, 90.0, 99.0]
    assert [percentile([1.0, 2.0, 3.0], p) for p in (50, 90, 99)] == [2.0, 3.0, 3.0]
    assert percentile([7.0], 50) == 7.0


@pytest.mark.keeps_fds  # as test_ctrl_c_cancels_flushes_and_exits_130
def test_ctrl_c_prints_the_summary_of_what_finished(server: StdlibServer) -> None:
    slow = [server.url(f"/delay/30?summary={i}") for i in range(2)]
    with subprocess.Popen(
        [GFETCH, "--summary", server.url("/json"), *slow, "-c", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        json.loads(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        status = proc.wait(10)
        stderr = proc.stderr.read().decode()
    assert status == 130
    assert stderr.startswith(
        "gfetch: interrupted: 1 of 3 results printed, the rest cancelled\ngfetch: 1 of 3 requests in "
    ), stderr
    assert ": 1 answered (200: 1), 0 failed\n" in stderr
