"""The ``gfetch`` command: fetch many URLs concurrently, one JSON line each.

Imports the public API, gfetch.app.failures, gfetch.app.summary,
gfetch.core.timings (the phase names), gfetch.app.demo (for ``gfetch demo``, when run),
requests and urllib3 (its warning class).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from typing import IO, Any, NoReturn, cast
from urllib.parse import urlsplit

import requests
import urllib3

import gfetch
from gfetch.app.failures import ERROR_KINDS, describe_failure
from gfetch.app.summary import TOP_HOSTS, RunSummary
from gfetch.core.timings import PHASES

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as for any tool whose reader went away

DESCRIPTION = """\
Fetch URLs concurrently and print one JSON line per URL:
  {"url", "final_url", "status", "elapsed_ms", "attempts", "bytes", "content_type", "file", "error",
   "error_kind"}
in completion order (or input order with --ordered). The bodies are saved only if asked:
-o FILE for one URL ('-o -' writes it to stdout, and its record to stderr), --output-dir for many.
--timings adds where each request's time went, and a summary of the run on stderr.

examples:
  gfetch https://example.org/a https://example.org/b
  gfetch -o - https://example.org/a | less          # the body, as curl prints it
  gfetch -i urls.txt -c 200 --per-host 10 --retries 2 --progress > results.jsonl
  gfetch -i urls.txt -c 200 --per-host 10 --timings > results.jsonl   # which host is slow, and why
  cat urls.txt | gfetch -i - --ordered --output-dir bodies/
  gfetch -X POST -H 'Content-Type: application/json' --data '{"q": 1}' https://api.example.org/search
  gfetch demo            # threads vs gfetch, side by side, against a local server
"""

EPILOG = (
    "record fields:\n"
    "  final_url    the URL after redirects (null when there was no answer)\n"
    "  elapsed_ms   from the first attempt's start to the end of the last one, retries and\n"
    "               their waits included\n"
    "  attempts     how many times the request was sent (1 + retries used)\n"
    "  file         where the body was written (-o FILE, '-' for stdout, or a file in --output-dir);\n"
    "               null when none was\n"
    "  error        the exception and its root cause, e.g. 'ConnectionError: [Errno 111]\n"
    "               Connection refused' (null when an HTTP answer came, whatever its status)\n"
    "  error_kind   one of:\n"
    + "".join(f"    {kind:<12} {meaning}\n" for kind, meaning in ERROR_KINDS.items())
    + "  timings_ms   with --timings, where the answer's time went, in ms: "
    + ", ".join(PHASES[:3])
    + ",\n"
    "               " + ", ".join(PHASES[3:]) + " (null: did not happen; a redirect's hops\n"
    "               added up), and reused; null without an answer (see docs/timings.md)\n"
    + "\nexit status:\n"
    f"  {EXIT_OK:<4} every request got an HTTP answer (any status, unless --fail)\n"
    f"  {EXIT_FAILED:<4} a request got no HTTP answer (see error_kind), or with --fail answered\n"
    "       4xx/5xx; or a body or the output could not be written\n"
    f"  {EXIT_USAGE:<4} usage error: bad option, unreadable or non-UTF-8 input (files and URL\n"
    "       arguments alike), invalid header, -o with more than one URL\n"
    f"  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C): the unfinished requests are cancelled\n"
    f"  {EXIT_BROKEN_PIPE:<4} the output was closed (e.g. | head)\n"
)

# RFC 9110 token: the characters allowed in a method or a header field name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, no usage block: ``gfetch: error: ... (see gfetch --help)``."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: type, minimum: float, inclusive: bool = True) -> Any:
    """An argparse type: a finite ``kind`` at least (or above) ``minimum``."""
    relation = ">=" if inclusive else ">"
    expected = f"{'an integer' if kind is int else 'a number'} {relation} {minimum:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    name, value = name.strip(), value.strip()
    if not _TOKEN.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"invalid header name {name!r}: letters, digits and !#$%&'*+-.^_`|~ only"
        )
    if any(ch in value for ch in "\r\n\0"):
        raise argparse.ArgumentTypeError(f"invalid header value for {name}: no CR, LF or NUL")
    return name, value


def _method(text: str) -> str:
    if not _TOKEN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"invalid method {text!r}")
    return text.upper()


def _proxy(text: str) -> str:
    parts = urlsplit(text)
    if not parts.scheme or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected a proxy URL like http://host:port, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gfetch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_inputs(parser)
    _add_limits(parser)
    _add_request_options(parser)
    _add_outputs(parser)
    parser.add_argument("-V", "--version", action="version", version=f"gfetch {gfetch.__version__}")
    return parser


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    """Where the URLs come from."""
    parser.add_argument("urls", nargs="*", metavar="URL", help="URLs to fetch")
    parser.add_argument(
        "-i", "--input", metavar="FILE", help="read URLs from FILE (UTF-8), one per line ('-' = stdin)"
    )


def _add_limits(parser: argparse.ArgumentParser) -> None:
    """How many at once, how fast, how long, how often again."""
    parser.add_argument(
        "-c",
        "--concurrency",
        type=_number(int, 1),
        default=gfetch.DEFAULT_SIZE,
        help=f"requests in flight at once (default {gfetch.DEFAULT_SIZE})",
    )
    parser.add_argument("--per-host", type=_number(int, 1), metavar="N", help="at most N in flight per host")
    parser.add_argument(
        "--rate", type=_number(float, 0, inclusive=False), metavar="R", help="at most R requests per second"
    )
    parser.add_argument(
        "--timeout",
        type=_number(float, 0, inclusive=False),
        metavar="S",
        help=f"connect and read timeout in seconds (default {gfetch.DEFAULT_TIMEOUT[0]:g} "
        f"connect, {gfetch.DEFAULT_TIMEOUT[1]:g} read)",
    )
    parser.add_argument(
        "--deadline",
        type=_number(float, 0, inclusive=False),
        metavar="S",
        help="give up on a request after S seconds in all (connect, answer, body and "
        "retries); it fails with error_kind timeout",
    )
    parser.add_argument(
        "--retries",
        type=_number(int, 0),
        default=0,
        metavar="N",
        help="retry idempotent requests on errors/429/5xx up to N times",
    )


def _add_request_options(parser: argparse.ArgumentParser) -> None:
    """What each request sends, and how it reaches the server."""
    parser.add_argument("-X", "--method", type=_method, default="GET", help="HTTP method (default GET)")
    parser.add_argument(
        "-H",
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a request header (repeatable)",
    )
    parser.add_argument("--data", metavar="DATA", help="request body; @FILE reads it from FILE")
    parser.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="do not verify TLS certificates (wins over REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE)",
    )
    parser.add_argument(
        "--proxy",
        type=_proxy,
        metavar="URL",
        help="send every request through this proxy (http://, https://, socks5://...), "
        "whatever the *_proxy variables say",
    )


def _add_outputs(parser: argparse.ArgumentParser) -> None:
    """Where bodies and records go, and what a run reports at the end."""
    bodies = parser.add_mutually_exclusive_group()
    bodies.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the body of the one URL given to FILE ('-' = stdout: its record then goes to stderr)",
    )
    bodies.add_argument(
        "--output-dir", metavar="DIR", help="save each response body into a file of its own in DIR"
    )
    parser.add_argument("--ordered", action="store_true", help="print results in input order")
    parser.add_argument("--progress", action="store_true", help="show progress on stderr")
    parser.add_argument("--fail", action="store_true", help="also exit 1 if any request got 4xx/5xx")
    parser.add_argument(
        "--timings",
        action="store_true",
        help="add timings_ms to each record (where its time went: blocked, dns, connect, "
        "ssl, send, wait, receive) and print --summary",
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="at the end, print a summary on stderr: outcomes, percentiles of elapsed_ms "
        f"and of each phase, bytes, and the {TOP_HOSTS} hosts that took the most time "
        "with their phases",
    )


# -- inputs -------------------------------------------------------------------
def _utf8(parser: argparse.ArgumentParser, name: str, data: bytes) -> str:
    """``data`` as UTF-8 text; a usage error names the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        parser.error(f"{name} is not UTF-8 text: byte {data[exc.start]:#04x} at offset {exc.start}")


def _read_text(parser: argparse.ArgumentParser, name: str, source: IO[Any]) -> str:
    data = source.read()
    return data if isinstance(data, str) else _utf8(parser, name, data)


def _read_urls(parser: argparse.ArgumentParser, args: argparse.Namespace, stdin: IO[str]) -> list[str]:
    """The URLs of the command line, then of ``-i``; UTF-8 in both.

    Discussion: Python hands over a command line's bytes that are not UTF-8
    as lone surrogates (``\\udced``), which requests would send
    percent-encoded (``%ED%B3%AD``). ``os.fsencode`` gives the bytes back.
    """
    urls = [
        _utf8(parser, f"URL argument {number}", os.fsencode(url)) for number, url in enumerate(args.urls, 1)
    ]
    if args.input:
        if args.input == "-":
            text = _read_text(parser, "stdin", getattr(stdin, "buffer", stdin))
        else:
            with open(args.input, "rb") as handle:
                text = _read_text(parser, args.input, handle)
        lines = (line.strip() for line in text.splitlines())
        urls += [line for line in lines if line and not line.startswith("#")]
    return urls


def _body(data: str | None) -> bytes | None:
    """The request body: ``--data``'s bytes as given on the command line, or @FILE's."""
    if data is None:
        return None
    if data.startswith("@"):
        with open(data[1:], "rb") as handle:
            return handle.read()
    return os.fsencode(data)


def _prepare_output_dir(parser: argparse.ArgumentParser, path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        parser.error(f"cannot use --output-dir {path}: {exc.strerror}")
    if not os.access(path, os.W_OK | os.X_OK):
        parser.error(f"cannot use --output-dir {path}: not writable")


# -- requests and records ----------------------------------------------------
class _TimedRequest(gfetch.AsyncRequest):
    """An AsyncRequest that counts its attempts and times them, retries included.

    Discussion: the fan-out re-sends the same request object for each retry
    (through ``send_with``), so counting here sees every attempt, and the span
    from the first start to the last end includes the backoff between them.
    """

    started: float | None = None
    ended: float | None = None
    attempts = 0

    def send_with(self, overrides: dict[str, Any]) -> gfetch.AsyncRequest:
        now = time.perf_counter()
        if self.started is None:
            self.started = now
        self.attempts += 1
        try:
            return super().send_with(overrides)
        finally:
            self.ended = time.perf_counter()

    @property
    def elapsed_ms(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return round((self.ended - self.started) * 1000, 1)


class _Requests:
    """The requests to send, made as the fan-out asks for them.

    Sized, so the progress bar shows a total; each request is kept by index
    until its result is printed, for its attempts and timing.
    """

    def __init__(self, urls: list[str], kwargs: dict[str, Any]) -> None:
        self._urls = urls
        self._kwargs = kwargs
        self.pending: dict[int, _TimedRequest] = {}

    def __len__(self) -> int:
        return len(self._urls)

    def __iter__(self) -> Iterator[_TimedRequest]:
        for index, url in enumerate(self._urls):
            request = self.pending[index] = _TimedRequest(url=url, **self._kwargs)
            yield request


class _Bodies:
    """Where response bodies go: nowhere, the ``-o`` target, or a file each in ``--output-dir``."""

    def __init__(self, args: argparse.Namespace, stdout: IO[str]) -> None:
        self._output = args.output
        self._output_dir = args.output_dir
        self._stdout = stdout

    def save(self, index: int, url: str, content: bytes) -> str | None:
        """Write ``content``; return where (``-`` for stdout), or None when bodies are not kept."""
        if self._output == "-":
            self._stdout.flush()
            binary = self._stdout.buffer  # type: ignore[attr-defined]  # a real stdout's
            rest = memoryview(content)
            while rest:  # a pipe whose reader left takes part of a write; the next one raises EPIPE
                rest = rest[binary.write(rest) :]
            binary.flush()
            return "-"
        if self._output:
            path = self._output
        elif self._output_dir:
            path = os.path.join(self._output_dir, _safe_name(index, url))
        else:
            return None
        with open(path, "wb") as handle:
            handle.write(content)
        return path


def _safe_name(index: int, url: str) -> str:
    return f"{index:06d}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1])[:120]


def _record(index: int, request: _TimedRequest, outcome: Any, bodies: _Bodies) -> dict[str, Any]:
    record: dict[str, Any] = {
        "url": request.url,
        "final_url": None,
        "status": None,
        "elapsed_ms": request.elapsed_ms,
        "attempts": request.attempts,
        "bytes": None,
        "content_type": None,
        "file": None,
        "error": None,
        "error_kind": None,
    }
    if isinstance(outcome, requests.Response):
        content = outcome.content
        record.update(
            final_url=outcome.url,
            status=outcome.status_code,
            bytes=len(content),
            content_type=outcome.headers.get("Content-Type"),
            file=bodies.save(index, request.url, content),
        )
    else:
        record["error"], record["error_kind"] = describe_failure(outcome)
    return record


def _phases_ms(response: requests.Response) -> dict[str, Any] | None:
    """The phases of ``response`` in ms, each summed over its redirect hops (None where no
    hop had it), and ``reused``: no hop opened a connection. None for an answer without
    timings (not from gfetch's transport: a mock's)."""
    hops = [
        timings
        for hop in (*response.history, response)
        if (timings := getattr(hop, "timings", None)) is not None
    ]
    if not hops:
        return None
    phases: dict[str, Any] = {}
    for phase in PHASES:
        values = [value for timings in hops if (value := getattr(timings, phase)) is not None]
        phases[phase] = round(sum(values) * 1000, 1) if values else None
    phases["reused"] = all(timings.reused for timings in hops)
    return phases


def _in_order(pairs: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    waiting: dict[int, Any] = {}
    expected = 0
    for index, value in pairs:
        waiting[index] = value
        while expected in waiting:
            yield expected, waiting.pop(expected)
            expected += 1


# -- running ------------------------------------------------------------------
def _request_kwargs(args: argparse.Namespace, body: bytes | None) -> dict[str, Any]:
    """Per-request settings.

    Discussion: ``verify`` and ``proxies`` go on each request, not on the
    session: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a
    session's ``verify=False``, and -k must win as it does in curl.
    """
    kwargs: dict[str, Any] = {"method": args.method, "headers": dict(args.header), "data": body}
    if args.insecure:
        kwargs["verify"] = False
    if args.proxy:
        kwargs["proxies"] = {"http": args.proxy, "https": args.proxy}
    return kwargs


class _Run:
    """One run's counters, for the exit status and the interruption message, and its summary."""

    def __init__(self, total: int, summary: RunSummary | None) -> None:
        self.total = total
        self.printed = 0
        self.failed = 0
        self.summary = summary

    def write_summary(self) -> None:
        if self.summary is not None:
            sys.stderr.write("".join(line + "\n" for line in self.summary.lines(self.total)))


def _fetch(args: argparse.Namespace, urls: list[str], body: bytes | None, stdout: IO[str], run: _Run) -> None:
    to_send = _Requests(urls, _request_kwargs(args, body))
    bodies = _Bodies(args, stdout)
    records = sys.stderr if args.output == "-" else stdout  # stdout holds the body
    with gfetch.Session() as session, warnings.catch_warnings():
        if args.insecure:  # asked for on the command line: no warning per host
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        pairs = gfetch.imap_enumerated(
            to_send,
            size=args.concurrency,
            per_host=args.per_host,
            rate=args.rate,
            timeout=args.timeout if args.timeout else gfetch.DEFAULT_TIMEOUT,
            retries=args.retries,
            deadline=args.deadline,
            session=session,
            progress=args.progress,
            return_exceptions=True,
        )
        # Closing the generator cancels what is still in flight, now, in this
        # greenlet: also on Ctrl-C or a closed pipe.
        with contextlib.closing(cast(Generator[tuple[int, Any], None, None], pairs)):
            for index, outcome in _in_order(pairs) if args.ordered else pairs:
                record = _record(index, to_send.pending.pop(index), outcome, bodies)
                phases = _phases_ms(outcome) if isinstance(outcome, requests.Response) else None
                if args.timings:
                    record["timings_ms"] = phases
                if run.summary is not None:
                    run.summary.add(record, phases)
                status = record["status"]
                run.failed += status is None or (args.fail and status >= 400)
                run.printed += 1
                records.write(json.dumps(record) + "\n")
                records.flush()


def _silence_stdout(stdout: IO[str]) -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (tests pass a StringIO)


def main(
    argv: Sequence[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None
) -> int:
    """Run the command line; returns the exit status (see ``gfetch --help``)."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv), stdin or sys.stdin, stdout or sys.stdout)
    except KeyboardInterrupt:  # before the fetching started, or in the demo
        sys.stderr.write("gfetch: interrupted\n")
        return EXIT_INTERRUPTED


def _main(argv: list[str], stdin: IO[str], stdout: IO[str]) -> int:
    if argv[:1] == ["demo"]:
        from gfetch.app.demo import main as demo_main

        return demo_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        urls = _read_urls(parser, args, stdin)
        body = _body(args.data)
    except OSError as exc:
        parser.error(f"cannot read {exc.filename}: {exc.strerror}")
    if not urls:
        parser.error("no URLs given: pass URLs, or -i FILE (-i - reads them from stdin)")
    if args.output and len(urls) != 1:
        parser.error(f"-o takes one URL, got {len(urls)}: for many, use --output-dir DIR")
    if args.output_dir:
        _prepare_output_dir(parser, args.output_dir)
    run = _Run(len(urls), RunSummary() if args.summary or args.timings else None)
    try:
        _fetch(args, urls, body, stdout, run)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            stdout.flush()
        sys.stderr.write(
            f"gfetch: interrupted: {run.printed} of {run.total} results printed, the rest cancelled\n"
        )
        run.write_summary()  # of those printed: why it was slow is what one stops a run to ask
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout(stdout)
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a body or a line could not be written: stop, as curl does
        target = exc.filename or "the output"
        sys.stderr.write(f"gfetch: error: cannot write {target}: {exc.strerror or exc}\n")
        return EXIT_FAILED
    run.write_summary()
    return EXIT_FAILED if run.failed else EXIT_OK
