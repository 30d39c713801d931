"""The ``gfetch`` command: fetch many URLs concurrently, one JSON line each.

Layer 5 (application). Imports the public API only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import IO, Any, Iterator, Sequence

import requests

import gfetch
from gfetch.fanout import DEFAULT_TIMEOUT

__all__ = ["main"]

DESCRIPTION = """\
Fetch URLs concurrently and print one JSON line per URL:
  {"url", "status", "elapsed_ms", "bytes", "content_type", "error"}
in completion order (or input order with --ordered).

examples:
  gfetch https://example.org/a https://example.org/b
  gfetch -i urls.txt -c 200 --per-host 10 --retries 2 --progress > results.jsonl
  cat urls.txt | gfetch -i - --ordered --output-dir bodies/
  gfetch -X POST -H 'Content-Type: application/json' --data '{"q": 1}' https://api.example.org/search
  gfetch demo            # the side-by-side demo against a local server
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        """One line, no usage block: ``gfetch: error: ... (see gfetch --help)``."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gfetch",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="URLs to fetch")
    parser.add_argument("-i", "--input", metavar="FILE", help="read URLs from FILE, one per line ('-' = stdin)")
    parser.add_argument("-c", "--concurrency", type=_positive_int, default=gfetch.DEFAULT_SIZE,
                        help=f"requests in flight at once (default {gfetch.DEFAULT_SIZE})")
    parser.add_argument("--per-host", type=_positive_int, metavar="N", help="at most N in flight per host")
    parser.add_argument("--rate", type=_positive_float, metavar="R", help="at most R requests per second")
    parser.add_argument("--timeout", type=_positive_float, metavar="S",
                        help=f"connect and read timeout in seconds (default {DEFAULT_TIMEOUT[0]:g} connect, "
                             f"{DEFAULT_TIMEOUT[1]:g} read)")
    parser.add_argument("--retries", type=int, default=0, metavar="N",
                        help="retry idempotent requests on errors/429/5xx up to N times")
    parser.add_argument("-X", "--method", default="GET", help="HTTP method (default GET)")
    parser.add_argument("-H", "--header", type=_header, action="append", default=[], metavar="'NAME: VALUE'",
                        help="add a request header (repeatable)")
    parser.add_argument("--data", metavar="DATA", help="request body; @FILE reads it from FILE")
    parser.add_argument("-k", "--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--output-dir", metavar="DIR", help="save each response body into DIR")
    parser.add_argument("--ordered", action="store_true", help="print results in input order")
    parser.add_argument("--progress", action="store_true", help="show progress on stderr")
    parser.add_argument("--fail", action="store_true", help="exit 1 if any request failed or got 4xx/5xx")
    parser.add_argument("-V", "--version", action="version", version=f"gfetch {gfetch.__version__}")
    return parser


def _read_urls(args: argparse.Namespace, stdin: IO[str]) -> list[str]:
    urls = list(args.urls)
    if args.input:
        if args.input == "-":
            lines = stdin.read().splitlines()
        else:
            with open(args.input, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        urls += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return urls


def _body(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data.startswith("@"):
        with open(data[1:], "rb") as handle:
            return handle.read()
    return data.encode()


def _safe_name(index: int, url: str) -> str:
    return f"{index:06d}-" + re.sub(r"[^A-Za-z0-9._-]+", "_", url.split("://", 1)[-1])[:120]


def _record(index: int, url: str, outcome: Any, output_dir: str | None) -> dict[str, Any]:
    if isinstance(outcome, requests.Response):
        content = outcome.content
        if output_dir:
            with open(os.path.join(output_dir, _safe_name(index, url)), "wb") as handle:
                handle.write(content)
        return {
            "url": url,
            "status": outcome.status_code,
            "elapsed_ms": round(outcome.elapsed.total_seconds() * 1000, 1),
            "bytes": len(content),
            "content_type": outcome.headers.get("Content-Type"),
            "error": None,
        }
    return {"url": url, "status": None, "elapsed_ms": None, "bytes": None, "content_type": None,
            "error": f"{type(outcome).__name__}: {outcome}"}


def _in_order(pairs: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    waiting: dict[int, Any] = {}
    expected = 0
    for index, value in pairs:
        waiting[index] = value
        while expected in waiting:
            yield expected, waiting.pop(expected)
            expected += 1


def main(argv: Sequence[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout = stdout or sys.stdout
    if argv[:1] == ["demo"]:
        from gfetch.demo import main as demo_main

        return demo_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        urls = _read_urls(args, stdin or sys.stdin)
        body = _body(args.data)
    except OSError as exc:
        parser.error(f"cannot read {exc.filename}: {exc.strerror}")
    if not urls:
        parser.error("no URLs given: pass URLs or -i FILE")
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    headers = dict(args.header)
    with gfetch.Session() as session:
        session.verify = not args.insecure
        requests_ = (gfetch.request(args.method.upper(), url, headers=headers, data=body) for url in urls)
        pairs = gfetch.imap_enumerated(
            requests_,
            size=args.concurrency,
            per_host=args.per_host,
            rate=args.rate,
            timeout=args.timeout if args.timeout else DEFAULT_TIMEOUT,
            retries=args.retries,
            session=session,
            progress=args.progress,
            return_exceptions=True,
        )
        if args.ordered:
            pairs = _in_order(pairs)
        failed = 0
        for index, outcome in pairs:
            record = _record(index, urls[index], outcome, args.output_dir)
            failed += record["error"] is not None or record["status"] >= 400
            stdout.write(json.dumps(record) + "\n")
            stdout.flush()
    return 1 if args.fail and failed else 0
