"""gfetch.testing as users get it: docs/testing.md's examples run, through gfetch and plain requests.

Each ```python block of docs/testing.md after the first (the shared imports
and ``session``) runs as written, once with a ``gfetch.Session`` and once
with a ``requests.Session``: every documented fault does what the page says
to both clients, and the page cannot drift from the code. The tests below
cover what the examples do not show: the /flaky storm's parameters on both
servers that serve the routes, and RawServer's own promises.
"""

from __future__ import annotations

import ast
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from _stdlibserver import StdlibServer

import gfetch
from gfetch.testing import Peer, RawServer, TestServer, raw

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def _examples() -> tuple[str, dict[str, str]]:
    """The page's first python block, and the others by the first words of the sentence before each."""
    # The text before the first block, then each block with the text after it.
    pieces = DOC.read_text(encoding="utf-8").split("```python\n")
    blocks = [piece.split("```", 1) for piece in pieces[1:]]
    names = [re.findall(r"\w+", after.strip().rsplit("\n\n", 1)[-1])[:4] for _, after in blocks]
    named = zip(names, blocks[1:], strict=False)
    return blocks[0][0], {"-".join(name).lower(): code for name, (code, _) in named}


SETUP, EXAMPLES = _examples()


def test_the_page_has_an_example_of_each_fault() -> None:
    assert len(EXAMPLES) == DOC.read_text(encoding="utf-8").count("```python") - 1 == 8, sorted(EXAMPLES)


@pytest.mark.parametrize("client", ["gfetch", "requests"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docs_example_runs(name: str, client: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(SETUP, str(DOC), "exec"), namespace)
    if client == "requests":
        namespace["session"].close()
        namespace["session"] = requests.Session()
    with namespace["session"]:
        exec(compile(EXAMPLES[name], f"{DOC}: {name}", "exec"), namespace)


# -- /flaky storms ----------------------------------------------------------


@pytest.mark.parametrize("kind", [TestServer, StdlibServer], ids=["gfetch", "stdlib"])
def test_flaky_status_and_retry_after(kind: type) -> None:
    with kind() as srv, requests.Session() as plain:
        storm = [plain.get(srv.url("/flaky/2?key=s&status=429&retry_after=7"), timeout=5) for _ in range(3)]
        bare = plain.get(srv.url("/flaky/1?key=b&status=500&retry_after=none"), timeout=5)
        default = plain.get(srv.url("/flaky/1?key=d"), timeout=5)
        bad = plain.get(srv.url("/flaky/1?key=x&status=teapot"), timeout=5)
    assert [r.status_code for r in storm] == [429, 429, 200]
    assert [r.headers.get("Retry-After") for r in storm[:2]] == ["7", "7"]
    assert storm[2].json() == {"attempts": 3, "key": "s"}
    assert bare.status_code == 500 and "Retry-After" not in bare.headers
    assert (default.status_code, default.headers["Retry-After"]) == (503, "0")
    assert bad.status_code == 400


# -- RawServer ----------------------------------------------------------------


def test_raw_server_imports_only_the_standard_library() -> None:
    """It is not written on gfetch, which is why gfetch's own tests use it."""
    tree = ast.parse(Path(raw.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name.split(".")[0] for name in imported} - {"__future__"} <= sys.stdlib_module_names


def test_head_writes_the_standard_reason_phrase() -> None:
    assert raw.head(429, "Retry-After: 1") == b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\r\n"
    assert raw.head(599).startswith(b"HTTP/1.1 599 Unknown\r\n")


def test_pause_splits_a_reply_into_writes_the_client_reads_apart() -> None:
    steps = raw.script(raw.send(b"first"), raw.pause(0.3), raw.send(b"second"))
    with RawServer(steps, read_head=False) as srv, socket.create_connection((srv.host, srv.port), 5) as c:
        first = c.recv(100)
        started = time.monotonic()
        second = c.recv(100)
        waited = time.monotonic() - started
    assert (first, second) == (b"first", b"second")
    assert 0.15 <= waited < 5


def test_a_broken_behaviour_fails_at_stop() -> None:
    def broken(peer: Peer) -> None:
        raise ValueError("a bug in the script")

    server = RawServer(broken).start()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url(), timeout=5)
    with pytest.raises(ValueError, match="a bug in the script"):
        server.stop()


def test_route_and_keep_alive_answer_on_one_connection() -> None:
    def reply_for(peer: Peer, request: bytes) -> tuple[bytes, bool]:
        body = request.split(b" ", 2)[1]  # the path
        return raw.head(200, f"Content-Length: {len(body)}") + body, False

    with RawServer(raw.keep_alive(reply_for), read_head=False) as server, gfetch.Session() as session:
        texts = [session.get(server.url(f"/{i}")).text for i in range(3)]
    assert texts == ["/0", "/1", "/2"] and server.connections == 1
    behaviours = {"ok": raw.send(raw.head(200, "Content-Length: 2") + b"ok"), "reset": raw.reset}
    with RawServer(raw.route(behaviours)) as server, requests.Session() as session:
        assert session.get(server.url("/ok/x")).text == "ok"
        with pytest.raises(requests.exceptions.ConnectionError, match="reset by peer"):
            session.get(server.url("/reset"))
