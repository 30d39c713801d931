"""Fetch a list of URLs from a file and save each body under a safe file name.

``gfetch.imap_enumerated`` yields ``(index, response)`` as each request
finishes, so bodies are written as they arrive while at most ``size``
requests are in flight, and the input is read lazily (a file of millions of
URLs runs in flat memory). ``retries`` re-sends the 503s and refused
connections with backoff; ``return_exceptions=True`` hands back the
exception in a failed item's place, so every URL is accounted for.

Without arguments it starts a local test server, writes a ``urls.txt`` of
200 URLs into a temporary directory (a few of them 404, flaky or pointing at
a closed port, to show the failure paths) and saves into that directory.

Run: python examples/fetch_list.py [urls.txt [outdir]]
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import requests

import gfetch
from gfetch.testing import TestServer

SIZE = 50  # requests in flight at once
RETRIES = gfetch.RetryPolicy(2, backoff=0.05)  # 2 retries, 0.05 s then 0.1 s apart
TIMEOUT = (2.0, 5.0)  # 2 s to connect, 5 s between bytes of the answer


def read_urls(path: Path) -> Iterator[str]:
    """The URLs in ``path``, one a line; blank lines and ``#`` comments skipped."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            url = line.strip()
            if url and not url.startswith("#"):
                yield url


def safe_name(index: int, url: str, limit: int = 80) -> str:
    """A file name for ``url``: its line number, then host/path/query with only [A-Za-z0-9._-].

    The index prefix keeps names unique (two URLs can differ only in
    characters replaced here) and sorts files in input order.
    """
    parts = urlsplit(url)
    slug = parts.netloc + parts.path + ("_" + parts.query if parts.query else "")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", slug).strip("._") or "index"
    return f"{index:05d}-{slug[:limit]}"


def describe(exc: BaseException) -> str:
    """``ConnectionError ([Errno 111] Connection refused)`` rather than urllib3's whole chain."""
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return f"{type(exc).__name__} ({errno.group(0)})" if errno else f"{type(exc).__name__}: {exc}"


def closed_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_demo_list(server: TestServer, path: Path) -> None:
    """200 URLs: bodies of various sizes, slow answers, JSON, and some failures."""
    urls = []
    for i in range(200):
        if i % 50 == 7:
            urls.append(server.url(f"/status/404?i={i}"))  # an HTTP error: not saved
        elif i % 50 == 13:
            urls.append(server.url(f"/flaky/1?key=item{i}"))  # 503 once, then 200: retried
        elif i % 100 == 42:
            urls.append(f"http://127.0.0.1:{closed_port()}/gone")  # refused, even after retries
        elif i % 3 == 0:
            urls.append(server.url(f"/delay/0.05?i={i}"))
        elif i % 3 == 1:
            urls.append(server.url(f"/bytes/{1000 * (i % 17 + 1)}"))
        else:
            urls.append(server.url(f"/json?page={i}"))
    path.write_text("# written by examples/fetch_list.py\n" + "\n".join(urls) + "\n", encoding="utf-8")


def fetch_all(urls: Iterator[str], outdir: Path) -> dict[str, int]:
    counts = {"ok": 0, "http_error": 0, "failed": 0, "bytes": 0}
    with gfetch.Session() as session:
        results = gfetch.imap_enumerated(
            urls, size=SIZE, timeout=TIMEOUT, retries=RETRIES, return_exceptions=True, session=session
        )
        for index, result in results:
            if isinstance(result, requests.Response):
                if result.ok:
                    (outdir / safe_name(index, result.url)).write_bytes(result.content)
                    counts["ok"] += 1
                    counts["bytes"] += len(result.content)
                else:
                    counts["http_error"] += 1
                    print(f"  url #{index}: HTTP {result.status_code} {result.url}")
            else:
                counts["failed"] += 1
                print(f"  url #{index}: {describe(result)}")
    return counts


def run(urls_file: Path, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    print(f"fetching the URLs in {urls_file.name}, {SIZE} at a time")
    start = time.perf_counter()
    counts = fetch_all(read_urls(urls_file), outdir)
    elapsed = time.perf_counter() - start
    total = counts["ok"] + counts["http_error"] + counts["failed"]
    print(f"{total} URLs: {counts['ok']} ok, {counts['http_error']} HTTP errors, {counts['failed']} failed")
    print(f"saved {counts['ok']} files, {counts['bytes']:,} bytes, into {outdir}")
    names = sorted(path.name for path in outdir.iterdir())
    if names:
        print("first files:", ", ".join(names[:3]))
    print(f"elapsed {elapsed:.2f} s, {total / elapsed:.0f} requests/s")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fetch_list.py",
        description="Fetch the URLs listed in a file (one a line, # comments) and save each body. "
        "Without arguments: a demo list against a local test server.",
    )
    parser.add_argument("urls_file", nargs="?", type=Path, help="the file of URLs (UTF-8)")
    parser.add_argument(
        "outdir",
        nargs="?",
        type=Path,
        help="where to save the bodies (default: a temporary directory, removed at the end)",
    )
    args = parser.parse_args(argv)
    if args.urls_file is not None:
        try:
            args.urls_file.open("rb").close()
        except OSError as exc:
            parser.exit(2, f"{parser.prog}: error: cannot read {args.urls_file}: {exc.strerror}\n")
    return args


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.outdir is not None:
        run(args.urls_file, args.outdir)
        return
    with tempfile.TemporaryDirectory(prefix="gfetch-fetch-list-") as tmp:
        if args.urls_file is not None:
            run(args.urls_file, Path(tmp))
        else:
            with TestServer() as server:
                urls_file = Path(tmp) / "urls.txt"
                write_demo_list(server, urls_file)
                run(urls_file, Path(tmp) / "out")
        print("(the temporary directory is removed on exit; pass an outdir to keep the files)")


if __name__ == "__main__":
    main(sys.argv[1:])
