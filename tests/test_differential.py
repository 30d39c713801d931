"""The lean transport against urllib3's: the same requests, the same Responses.

Every case sends the same request through ``gfetch.Session(transport="auto")``
(gfetch's own pool), ``gfetch.Session(transport="urllib3")`` and, where no
cooperative-only feature is involved, a plain ``requests.Session``, to the
same scripted loopback server (``gfetch.testing.RawServer``), and compares what a
user can observe: the Response attribute by attribute (see :func:`observe`),
the body as each reading style yields it (chunk sizes included), the
connections the server saw, the exception by class, by its chain of causes
and by the shape of its message, and on the request side the bytes on the
wire.

Documented differences are asserted as differences (see
``test_interim_103_is_skipped_only_by_the_lean_path``); everything else must
be equal.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import trustme
import urllib3
from _servers import server_context
from _stdlibserver import StdlibServer
from test_faults import BOUND, FAULTS, Fault, Lab

import gfetch
from gfetch.testing.raw import Peer, RawServer, keep_alive

TRANSPORTS = ("auto", "urllib3", "requests")
GREEN = ("auto", "urllib3")  # the cooperative ones: faults and gfetch.Timeout need a hub-aware client
TIMEOUT = 5.0
STALL = 2.0  # how long /stall-mid-body holds (bounded: the server stops holding when it stops)

Reply = tuple[bytes, bool]  # the bytes to send, and whether the server closes after them
Route = Callable[[Peer, bytes], Reply]


def _session(transport: str) -> requests.Session:
    if transport == "requests":
        return requests.Session()
    return gfetch.Session(transport=transport)


# -- what is compared ------------------------------------------------------------------


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_GREEN = re.compile(r"\bGreen(?=HTTP)")


def normalise(text: str) -> str:
    """A message with object addresses and the Green class-name prefix taken out."""
    return _GREEN.sub("", _ADDRESS.sub("0x?", text))


def describe(exc: BaseException) -> tuple[list[str], str]:
    """An exception as compared: the classes of it and its causes, and its message's shape."""
    chain = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 20:
        chain.append(normalise(f"{type(cause).__module__}.{type(cause).__qualname__}"))
        cause = (
            cause.__cause__
            if cause.__cause__ is not None or cause.__suppress_context__
            else cause.__context__
        )
    return chain, normalise(str(exc))


def observe_head(response: requests.Response) -> dict[str, Any]:
    """What a Response shows before its body is read."""
    raw = response.raw
    original = raw._original_response
    return {
        "status_code": response.status_code,
        "reason": response.reason,
        "headers": list(response.headers.items()),
        "raw.headers": list(raw.headers.items()),
        "msg": original.msg.items() if original is not None else None,
        "cookies": sorted(
            (c.name, c.value, c.domain, c.path, c.secure, _expiry(c.expires)) for c in response.cookies
        ),
        "url": response.url,
        "history": [(r.status_code, r.url, r.headers.get("Location")) for r in response.history],
        "encoding": response.encoding,
        "raw.version": raw.version,
        "raw.status": raw.status,
        "raw.reason": raw.reason,
        "raw.length_remaining": raw.length_remaining,
        "raw.chunked": raw.chunked,
    }


def _expiry(expires: int | None) -> Any:
    """A cookie's expiry; one set by Max-Age only as "soon" (it counts from the second it arrived)."""
    if expires is not None and expires < time.time() + 86400:
        return "soon"
    return expires


def _content(r: requests.Response) -> Any:
    return r.content, r.text, r.encoding, r.apparent_encoding


def _chunks(chunks: Iterator[Any]) -> Any:
    """The pieces as yielded: their sizes matter, not just their sum."""
    return list(chunks)


def _raw_reads(n: int, decode: bool) -> Callable[[requests.Response], Any]:
    def read(r: requests.Response) -> Any:
        pieces = []
        for _ in range(100_000):
            piece = r.raw.read(n, decode_content=decode)
            pieces.append(piece)
            if not piece:
                break
        return pieces

    return read


def _read_part_then_close(r: requests.Response) -> Any:
    part = r.raw.read(3)
    r.close()
    return part, r.raw.closed


READS: dict[str, Callable[[requests.Response], Any]] = {
    "content": _content,
    "iter_content(1)": lambda r: _chunks(r.iter_content(1)),
    "iter_content(7)": lambda r: _chunks(r.iter_content(7)),
    "iter_content(10240)": lambda r: _chunks(r.iter_content(10240)),
    "iter_content(None)": lambda r: _chunks(r.iter_content(None)),
    "iter_content(5, unicode)": lambda r: _chunks(r.iter_content(5, decode_unicode=True)),
    "iter_lines": lambda r: _chunks(r.iter_lines()),
    "iter_lines(3, keepends)": lambda r: _chunks(r.iter_lines(3, delimiter=None)),
    "raw.read(4)": _raw_reads(4, False),
    "raw.read(4, decoded)": _raw_reads(4, True),
    "raw.read()": lambda r: r.raw.read(),
    "raw.stream(5)": lambda r: _chunks(r.raw.stream(5, decode_content=False)),
    "raw.stream(5, decoded)": lambda r: _chunks(r.raw.stream(5, decode_content=True)),
    "raw.read_chunked()": lambda r: _chunks(r.raw.read_chunked()) if r.raw.chunked else None,
    "read 3 bytes, close": _read_part_then_close,
}


def exchange(
    session: requests.Session, method: str, url: str, read: Callable[[requests.Response], Any], **kwargs: Any
) -> dict[str, Any]:
    """One request and what it shows: head, body as ``read`` sees it, state after; or the exception."""
    seen: dict[str, Any] = {}
    try:
        kwargs.setdefault("timeout", TIMEOUT)
        response = session.request(method, url, **kwargs)
        seen.update(observe_head(response))
        seen["body"] = read(response)
        seen["after"] = (response.raw.length_remaining, response.raw.tell(), response.raw.closed)
    except Exception as exc:
        seen["raised"] = describe(exc)
    return seen


def through_each(transports: tuple[str, ...], call: Callable[[requests.Session], Any]) -> dict[str, Any]:
    """``call(session)`` through a new session of each transport."""
    results = {}
    for transport in transports:
        with _session(transport) as session:
            results[transport] = call(session)
    return results


def assert_all_equal(results: dict[str, Any]) -> None:
    (first, expected), *others = results.items()
    for transport, got in others:
        if isinstance(expected, dict):  # name the differing attributes
            differing = {
                key: (expected.get(key), got.get(key))
                for key in expected.keys() | got.keys()
                if expected.get(key) != got.get(key)
            }
            assert not differing, f"{first} vs {transport}: {differing}"
        assert got == expected, f"{first} vs {transport}"


# -- the server corpus ----------------------------------------------------------------------


def reply(status_line: str, *lines: str, body: bytes = b"") -> bytes:
    return "\r\n".join([status_line, *lines, "", ""]).encode("latin-1") + body


def sized(body: bytes, *lines: str, status_line: str = "HTTP/1.1 200 OK") -> bytes:
    return reply(status_line, *lines, f"Content-Length: {len(body)}", body=body)


def chunked(
    *pieces: bytes, extensions: str = "", trailers: tuple[str, ...] = (), lines: tuple[str, ...] = ()
) -> bytes:
    frames = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extensions.encode(), p) for p in pieces)
    end = "".join(f"{t}\r\n" for t in trailers).encode()
    return reply(
        "HTTP/1.1 200 OK", *lines, "Transfer-Encoding: chunked", body=frames + b"0\r\n" + end + b"\r\n"
    )


TEXT = b"first line\nsecond line\r\nthird\n\nlast without newline"
BIG = bytes(range(256)) * 280  # 70 KiB: more than one receive buffer


def _brotli() -> Any:
    if urllib3.response.brotli is None:
        pytest.skip("no brotli package: urllib3 cannot decode br")
    return urllib3.response.brotli


def _zstd() -> Any:
    if not urllib3.response.HAS_ZSTD:
        pytest.skip("no compression.zstd (backports.zstd before Python 3.14): urllib3 cannot decode zstd")
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,no-redef]
    return zstd


def _deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)  # the same bytes on every call


ENCODED: dict[str, Callable[[bytes], bytes]] = {
    "gzip": _gzip,
    "deflate": zlib.compress,
    "deflate-raw": _deflate_raw,
    "br": lambda data: _brotli().compress(data),
    "zstd": lambda data: _zstd().compress(data),
}


def encoded_reply(name: str) -> bytes:
    body = ENCODED[name](TEXT * 50)
    coding = "deflate" if name.startswith("deflate") else name
    return sized(body, "Content-Type: text/plain", f"Content-Encoding: {coding}")


COOKIES = [
    "plain=1",
    "path=2; Path=/cookies",
    "root=3; Path=/",
    "expires=4; Expires=Wed, 21 Oct 2099 07:28:00 GMT",
    "maxage=5; Max-Age=3600",
    "secure=6; Secure",
    "httponly=7; HttpOnly; SameSite=Lax",
    'quoted="a b"',
    "empty=",
    "dup=first",
    "dup=second",
    "expired=8; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    *[f"many{i}=v{i}" for i in range(40)],
]

# path -> (reply, close); the reply closes the connection where the framing needs it to.
STATIC: dict[str, Reply] = {
    "/length": (sized(TEXT, "Content-Type: text/plain; charset=utf-8"), False),
    # The server leaves these open: closing them is the client's decision, seen in the connection counts.
    "/length-close": (sized(TEXT, "Connection: close"), False),
    "/empty": (sized(b""), False),
    "/big": (sized(BIG, "Content-Type: application/octet-stream"), False),
    "/chunked": (chunked(b"first line\nsec", b"ond line\r\nthird\n", b"\nlast without newline"), False),
    "/chunked-extensions": (chunked(b"hello", b" ", b"world", extensions=";name=value;flag"), False),
    "/chunked-trailers": (chunked(b"hello", b"world", trailers=("X-Trailer: t", "X-Other: o")), False),
    "/chunked-big": (chunked(*[BIG[i : i + 7001] for i in range(0, len(BIG), 7001)]), False),
    "/close-delimited": (reply("HTTP/1.1 200 OK", "Content-Type: text/plain", body=TEXT), True),
    "/http10": (sized(TEXT, status_line="HTTP/1.0 200 OK"), False),
    "/http10-keep-alive": (sized(TEXT, "Connection: keep-alive", status_line="HTTP/1.0 200 OK"), False),
    "/http10-close-delimited": (reply("HTTP/1.0 200 OK", body=TEXT), True),
    "/head": (reply("HTTP/1.1 200 OK", "Content-Type: text/html", "Content-Length: 1234"), False),
    "/head-chunked": (reply("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"), False),
    "/204": (reply("HTTP/1.1 204 No Content", "X-Why: nothing"), False),
    "/304": (reply("HTTP/1.1 304 Not Modified", 'ETag: "x"', "Content-Length: 99"), False),
    "/100-continue": (b"HTTP/1.1 100 Continue\r\n\r\n" + sized(TEXT), False),
    "/404": (sized(b"not here", "Content-Type: text/plain", status_line="HTTP/1.1 404 Not Found"), False),
    "/cookies": (
        reply("HTTP/1.1 200 OK", *[f"Set-Cookie: {c}" for c in COOKIES], "Content-Length: 0"),
        False,
    ),
    "/headers": (
        reply(
            "HTTP/1.1 200 OK",
            "X-Dup: 1",
            "x-dup: 2",
            "X-Folded: one",
            " two",
            "X-Empty:",
            "X-Padded:\t padded \t",
            "X-Latin: caf\xe9",
            "Content-Length: 2",
            body=b"ok",
        ),
        False,
    ),
    "/latin-1": (sized("café".encode("latin-1"), "Content-Type: text/plain; charset=latin-1"), False),
    "/no-charset": (sized("<p>café</p>".encode(), "Content-Type: text/html"), False),
    "/json": (sized(b'{"a": "\xc3\xa9"}', "Content-Type: application/json"), False),
    "/gzip-chunked": (
        chunked(_gzip(TEXT * 50)[:100], _gzip(TEXT * 50)[100:], lines=("Content-Encoding: gzip",)),
        False,
    ),
    "/short-body": (sized(b"x" * 100)[:-90], True),
    "/bad-chunk": (
        reply("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=b"5\r\nhello\r\nzz\r\n"),
        True,
    ),
    "/chunked-cut": (
        reply("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=b"5\r\nhello\r\n3\r\nab"),
        True,
    ),
    "/leftover": (sized(b"hello") + b"EXTRA", True),
    "/bad-gzip": (sized(b"not gzip at all", "Content-Encoding: gzip"), False),
    "/bad-length": (reply("HTTP/1.1 200 OK", "Content-Length: abc", body=TEXT), True),
    "/two-lengths": (
        reply("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 6", body=b"hello!"),
        True,
    ),
    "/chunked-and-length": (chunked(b"hello", lines=("Content-Length: 3",)), False),
    "/te-not-only-chunked": (reply("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked", body=TEXT), True),
    "/no-reason": (sized(TEXT, status_line="HTTP/1.1 200"), False),
    "/long-reason": (sized(TEXT, status_line="HTTP/1.1 299 Very  Odd\tReason "), False),
    "/http12": (sized(TEXT, status_line="HTTP/1.2 200 OK"), False),
    "/lf-only": (b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\nhello", False),
}


def _request_line(request: bytes) -> tuple[str, str]:
    method, target, _ = request.split(b" ", 2)
    return method.decode(), target.decode()


def _echo(peer: Peer, request: bytes) -> Reply:
    """What arrived after the redirects: method, target, body and its type."""
    method, target = _request_line(request)
    head, _, body = request.partition(b"\r\n\r\n")
    ctype = re.search(rb"(?im)^content-type: *(.*)\r$", head)
    seen = {
        "method": method,
        "target": target,
        "body": body.decode("latin-1"),
        "type": ctype.group(1).decode() if ctype else None,
    }
    return sized(json.dumps(seen).encode(), "Content-Type: application/json"), False


def _redirect(peer: Peer, request: bytes) -> Reply:
    """``/redirect/<code>/<relative|absolute|dot>`` -> /echo."""
    _, target = _request_line(request)
    _, _, code, kind = target.split("/")
    port = peer.sock.getsockname()[1]
    location = {
        "relative": "/echo?from=" + code,
        "absolute": f"http://127.0.0.1:{port}/echo?abs",
        "dot": "../../echo?dot",
    }[kind]
    return reply(f"HTTP/1.1 {code} Moved", f"Location: {location}", "Content-Length: 4", body=b"gone"), False


def _reset_mid_body(peer: Peer, request: bytes) -> Reply:
    peer.send(sized(b"x" * 100_000)[:1000])
    peer.reset()
    return b"", True


def _stall_mid_body(peer: Peer, request: bytes) -> Reply:
    peer.send(sized(b"x" * 1000)[:-990])
    peer.hold(STALL)
    return b"", True


def _late_body(peer: Peer, request: bytes) -> Reply:
    """The head and a little of a sized body at once, the rest later, in three sends."""
    whole = sized(BIG)
    start = len(whole) - len(BIG) + 100
    peer.send(whole[:start])
    for piece in (whole[start:30_000], whole[30_000:50_000], whole[50_000:]):
        peer.hold(0.02)
        peer.send(piece)
    return b"", False


def _close_mid_body(peer: Peer, request: bytes) -> Reply:
    """Part of a sized body, sent late, then the end of the stream."""
    whole = sized(BIG)
    peer.send(whole[:200])
    peer.hold(0.02)
    return whole[200:-5000], True


DYNAMIC: dict[str, Route] = {
    "/echo": _echo,
    "/redirect": _redirect,
    "/reset-mid-body": _reset_mid_body,
    "/stall-mid-body": _stall_mid_body,
    "/late-body": _late_body,
    "/close-mid-body": _close_mid_body,
}


def _route(peer: Peer, request: bytes) -> Reply:
    _, target = _request_line(request)
    path = target.split("?")[0]
    if path.startswith("/encoded/"):
        return encoded_reply(path.rsplit("/", 1)[1]), False
    if path in STATIC:
        return STATIC[path]
    return DYNAMIC["/" + path.split("/")[1]](peer, request)


@pytest.fixture(scope="module")
def corpus() -> Iterator[RawServer]:
    """One server answering every route of the corpus, keep-alive where the reply allows."""
    with RawServer(keep_alive(_route), read_head=False) as server:
        yield server


@pytest.fixture(scope="module")
def tls_corpus(ca: trustme.CA) -> Iterator[RawServer]:
    with RawServer(
        keep_alive(_route), read_head=False, tls=server_context(ca.issue_cert("127.0.0.1"))
    ) as server:
        yield server


# -- responses -----------------------------------------------------------------------------------

BODY_PATHS = [
    p for p in STATIC if p not in ("/head", "/head-chunked", "/204", "/304", "/cookies", "/leftover")
]
BODY_PATHS += [
    "/reset-mid-body",
    "/encoded/gzip",
    "/encoded/deflate",
    "/encoded/deflate-raw",
    "/encoded/br",
    "/encoded/zstd",
]


@pytest.mark.parametrize("path", BODY_PATHS, ids=str)
def test_bodies_read_every_way(path: str, corpus: RawServer) -> None:
    """Each reading style in turn on one session (so also after a body read partly and closed)."""
    if path.startswith("/encoded/"):
        ENCODED[path.rsplit("/", 1)[1]](b"")  # skips when the decoder's package is missing
    results = through_each(
        TRANSPORTS,
        lambda s: {
            name: exchange(s, "GET", corpus.url(path), read, stream=True) for name, read in READS.items()
        },
    )
    assert_all_equal(results)


@pytest.mark.parametrize("path", [*BODY_PATHS, "/late-body", "/close-mid-body", "/stall-mid-body"], ids=str)
def test_bodies_read_by_send_alike(path: str, corpus: RawServer) -> None:
    """``stream=False``: the body read before the response is returned, arriving whole, late or never."""
    if path.startswith("/encoded/"):
        ENCODED[path.rsplit("/", 1)[1]](b"")  # skips when the decoder's package is missing
    results = through_each(
        TRANSPORTS, lambda s: exchange(s, "GET", corpus.url(path), _content, stream=False, timeout=0.5)
    )
    assert_all_equal(results)


@pytest.mark.parametrize("read", ["content", "iter_content(7)", "raw.read(4)", "raw.stream(5, decoded)"])
def test_body_stalling_mid_way_times_out_alike(read: str, corpus: RawServer) -> None:
    results = through_each(
        TRANSPORTS,
        lambda s: exchange(s, "GET", corpus.url("/stall-mid-body"), READS[read], stream=True, timeout=0.3),
    )
    assert_all_equal(results)
    assert "Read timed out" in results["auto"]["raised"][1]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("HEAD", "/head"),
        ("HEAD", "/head-chunked"),
        ("GET", "/204"),
        ("GET", "/304"),
        ("GET", "/cookies"),
        ("GET", "/leftover"),
        ("HEAD", "/length"),
        ("GET", "/100-continue"),
        ("GET", "/headers"),
    ],
)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "preload"])
def test_heads_and_bodiless_responses(method: str, path: str, stream: bool, corpus: RawServer) -> None:
    results = through_each(
        TRANSPORTS, lambda s: exchange(s, method, corpus.url(path), _content, stream=stream)
    )
    assert_all_equal(results)
    assert "raised" not in results["auto"]


@pytest.mark.parametrize(
    "path", ["/length", "/chunked-trailers", "/close-delimited", "/encoded/gzip", "/cookies"]
)
def test_over_tls(path: str, tls_corpus: RawServer, ca_file: str) -> None:
    results = through_each(
        TRANSPORTS, lambda s: exchange(s, "GET", tls_corpus.url(path), _content, stream=True, verify=ca_file)
    )
    assert_all_equal(results)
    assert results["auto"]["status_code"] == 200


TEST_SERVER_CALLS = [
    ("GET", "/", {}),
    ("GET", "/json?a=1&b=%C3%BC", {}),
    ("GET", "/bytes/100000", {}),
    ("GET", "/redirect/3", {}),
    ("GET", "/status/204", {}),
    ("GET", "/status/404", {}),
    ("GET", "/cookies/set?k=v&other=w", {}),
    ("POST", "/echo", {"data": {"form": "value"}}),
    ("PUT", "/echo", {"json": {"a": 1}}),
    ("GET", "/status/503", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), TEST_SERVER_CALLS, ids=[c[1] for c in TEST_SERVER_CALLS]
)
def test_against_gfetchs_test_server(
    method: str, path: str, kwargs: dict[str, Any], server: StdlibServer
) -> None:
    results = through_each(TRANSPORTS, lambda s: exchange(s, method, server.url(path), _content, **kwargs))
    assert_all_equal(results)
    assert "raised" not in results["auto"]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", ["relative", "absolute", "dot"])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_redirects(code: int, kind: str, method: str, corpus: RawServer) -> None:
    results = through_each(
        TRANSPORTS,
        lambda s: exchange(
            s,
            method,
            corpus.url(f"/redirect/{code}/{kind}"),
            _content,
            data=b"payload" if method != "GET" else None,
        ),
    )
    assert_all_equal(results)
    echoed = json.loads(results["auto"]["body"][0])
    turns_to_get = code in (302, 303) or (code == 301 and method == "POST")  # requests' rebuild_method
    if turns_to_get or method == "GET":
        sent = ("GET", "")
    else:  # requests drops the body on redirects other than 307 and 308
        sent = (method, "payload" if code in (307, 308) else "")
    assert (echoed["method"], echoed["body"]) == sent


@pytest.mark.parametrize("path", ["/redirect/302/relative", "/redirect/307/absolute", "/echo"])
def test_redirects_not_followed_leave_the_next_request(path: str, corpus: RawServer) -> None:
    def call(session: requests.Session) -> Any:
        response = session.post(corpus.url(path), data=b"payload", allow_redirects=False, timeout=TIMEOUT)
        following = response.next
        return (
            response.status_code,
            response.is_redirect,
            [r.url for r in response.history],
            None if following is None else (following.method, following.url, following.body),
        )

    results = through_each(TRANSPORTS, call)
    assert_all_equal(results)
    assert (results["auto"][3] is None) == (path == "/echo")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_host_label_over_63_characters_fails_alike(scheme: str) -> None:
    # Refused before any name lookup, as urllib3 refuses it: nothing is sent.
    url = f"{scheme}://{'a' * 64}.test/"
    results = through_each(TRANSPORTS, lambda s: exchange(s, "GET", url, _content))
    assert_all_equal(results)
    assert "LocationParseError" in str(results["auto"]["raised"])


def test_cookies_set_along_redirects_are_sent_on(corpus: RawServer) -> None:
    def call(session: requests.Session) -> Any:
        session.get(corpus.url("/cookies"), timeout=TIMEOUT)
        echoed = session.get(corpus.url("/redirect/302/relative"), timeout=TIMEOUT)
        return sorted(c.name for c in session.cookies), echoed.json()["target"]

    results = through_each(TRANSPORTS, call)
    assert_all_equal(results)
    assert "plain" in results["auto"][0]


# Sequences on one session, and the connections the server saw for them.
SEQUENCES = {
    "keep-alive": ["/length", "/chunked", "/empty", "/length"],
    "Connection: close": ["/length-close", "/length-close"],
    "close-delimited": ["/close-delimited", "/length"],
    "HTTP/1.0": ["/http10", "/http10"],
    "HTTP/1.0 keep-alive": ["/http10-keep-alive", "/http10-keep-alive"],
    "HTTP/1.0 close-delimited": ["/http10-close-delimited", "/length"],
    "bodiless": ["/204", "/304", "/100-continue", "/length"],
    "error status": ["/404", "/404"],
}


@pytest.mark.parametrize("paths", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_connections_used(paths: list[str], corpus: RawServer) -> None:
    def call(session: requests.Session) -> Any:
        before = corpus.connections
        bodies = [session.get(corpus.url(path), timeout=TIMEOUT).content for path in paths]
        return bodies, corpus.connections - before

    assert_all_equal(through_each(TRANSPORTS, call))


def test_interim_103_is_skipped_only_by_the_lean_path() -> None:
    """The one documented difference: http.client hands a 103 over as the
    response (leaving the real one unread); the lean path skips every 1xx but 101."""
    early_hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"

    with RawServer(
        keep_alive(lambda peer, request: (early_hints + sized(TEXT), True)), read_head=False
    ) as server:
        results = through_each(
            TRANSPORTS, lambda s: exchange(s, "GET", server.url("/"), _content, stream=True)
        )
    assert results["urllib3"] == results["requests"]
    assert (results["requests"]["status_code"], results["requests"]["body"][0]) == (103, b"")
    assert (results["auto"]["status_code"], results["auto"]["body"][0]) == (200, TEXT)
    assert results["auto"]["headers"] == [("Content-Length", str(len(TEXT)))]


# -- faults ----------------------------------------------------------------------------------------


@pytest.fixture
def lab(ca: trustme.CA, ca_file: str) -> Iterator[Lab]:
    import contextlib

    with contextlib.ExitStack() as stack:
        yield Lab(stack, ca, ca_file)


def _fault_call(fault: Fault, url: str, ca_file: str) -> Callable[[requests.Session], Any]:
    def call(session: requests.Session) -> Any:
        try:
            with gfetch.Timeout(fault.total or BOUND):
                response = session.get(url, timeout=fault.timeout, stream=fault.stream, verify=ca_file)
                with response:
                    return observe_head(response), list(response.iter_content(1024))
        except (Exception, gfetch.Timeout) as exc:
            return describe(exc)

    return call


# The reset may reach the client while it connects, while it sends or just after: a race on
# either transport (plain requests has said "reset by peer" and "Connection aborted" alike), so
# only the requests exception is compared.
RACY = {"reset during connect"}


def _blocking_client_may_run(fault: Fault) -> bool:
    """Plain requests resolves with the system resolver and cannot be stopped by gfetch.Timeout."""
    return fault.total is None and not fault.name.startswith("DNS")


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_faults_fail_alike(fault: Fault, lab: Lab) -> None:
    """Every fault of test_faults.py, on one server, through each transport that can take it."""
    transports = TRANSPORTS if _blocking_client_may_run(fault) else GREEN
    results = through_each(transports, _fault_call(fault, fault.serve(lab), lab.ca_file))
    assert results["auto"][0][0].endswith(fault.error.__qualname__)
    if fault.name in RACY:
        results = {transport: chain[0] for transport, (chain, _message) in results.items()}
    assert_all_equal(results)


# -- the request side: bytes on the wire ------------------------------------------------------------


def _recorder(received: list[bytes]) -> Route:
    def record(peer: Peer, request: bytes) -> Reply:
        received.append(request)
        return sized(b"ok"), False

    return record


_BOUNDARY = re.compile(rb"boundary=([0-9a-f]{32})")


def _without_boundary(request: bytes) -> bytes:
    """A multipart request with its random boundary replaced by a fixed one of the same length."""
    found = _BOUNDARY.search(request)
    return request.replace(found.group(1), b"B" * 32) if found else request


def _generator() -> Iterator[Any]:
    yield b"first,"
    yield b""
    yield "second (str, \u00e9),"
    yield bytearray(b"third")


SHAPES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "GET": ("GET", "/", {}),
    "HEAD": ("HEAD", "/", {}),
    "OPTIONS": ("OPTIONS", "/", {}),
    "DELETE": ("DELETE", "/", {}),
    "DELETE with body": ("DELETE", "/", {"data": b"gone"}),
    "POST bytes": ("POST", "/", {"data": b"\x00\x01binary\xff"}),
    "POST str": ("POST", "/", {"data": "caf\u00e9 au lait"}),
    "POST json": ("POST", "/", {"json": {"a": [1, 2, {"b": None}], "u": "\u00fc"}}),
    "POST form dict": ("POST", "/", {"data": {"k": "v w", "u": "\u00fc&=?", "l": ["1", "2"]}}),
    "POST multipart": (
        "POST",
        "/",
        {
            "files": lambda: {"f": ("a.txt", b"file body\r\n"), "g": io.BytesIO(b"g")},
            "data": {"field": "value"},
        },
    ),
    "POST file object": ("POST", "/", {"data": "FILE"}),
    "POST generator (chunked)": ("POST", "/", {"data": "GENERATOR"}),
    "POST empty bytes": ("POST", "/", {"data": b""}),
    "POST nothing": ("POST", "/", {}),
    "PUT": ("PUT", "/", {"data": b"put body"}),
    "PATCH": ("PATCH", "/", {"json": [1, 2]}),
    "params unicode and reserved": (
        "GET",
        "/search",
        {"params": {"q": "\u00fc &=?/#+%", "l": ["a", "b"], "e": ""}},
    ),
    "params merged with a query": ("GET", "/p?x=1&y", {"params": {"z": "2"}}),
    "path needing percent-encoding": ("GET", '/a b/\u00fc/[x]/%7e/%2f/|{}^`"<>', {}),
    "headers set": ("GET", "/", {"headers": {"X-One": "1", "X-Bytes": b"raw\xe9", "Accept": "text/plain"}}),
    "headers removed": (
        "GET",
        "/",
        {"headers": {"Accept-Encoding": None, "User-Agent": None, "Accept": None, "Connection": None}},
    ),
    "Host header set": ("GET", "/", {"headers": {"Host": "example.test"}}),
    "Content-Length set": ("POST", "/", {"data": b"abc", "headers": {"Content-Length": "3"}}),
    "Transfer-Encoding set": (
        "POST",
        "/",
        {"data": "GENERATOR", "headers": {"Transfer-Encoding": "chunked"}},
    ),
    "auth": ("GET", "/", {"auth": ("user", "p\u00e4ss:word")}),
    "auth in URL": ("GET", "/", {"userinfo": "user:secret@"}),
    "cookies": ("GET", "/", {"cookies": {"a": "1", "b": "x y"}}),
}


def _send(session: requests.Session, base: str, shape: str, tmp_path: Any, **options: Any) -> None:
    method, path, kwargs = SHAPES[shape]
    kwargs = {name: value() if callable(value) else value for name, value in kwargs.items()} | options
    if kwargs.get("data") == "GENERATOR":
        kwargs["data"] = _generator()
    elif kwargs.get("data") == "FILE":
        file = tmp_path / "body.bin"
        file.write_bytes(b"from a file\n" * 3000)
        kwargs["data"] = file.open("rb")
    if "userinfo" in kwargs:
        base = base.replace("://", "://" + kwargs.pop("userinfo"))
    try:
        session.request(method, base + path, timeout=TIMEOUT, **kwargs).close()
    finally:
        if hasattr(kwargs.get("data"), "close"):
            kwargs["data"].close()


def _ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "where",
    ["ipv4", pytest.param("ipv6", marks=pytest.mark.skipif(not _ipv6(), reason="no IPv6 loopback")), "tls"],
)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_request_bytes_are_identical(
    shape: str, where: str, tmp_path: Any, ca: trustme.CA, ca_file: str
) -> None:
    received: list[bytes] = []
    tls = server_context(ca.issue_cert("127.0.0.1")) if where == "tls" else None
    host = "::1" if where == "ipv6" else "127.0.0.1"
    with RawServer(keep_alive(_recorder(received)), read_head=False, host=host, tls=tls) as server:
        for transport in TRANSPORTS:
            with _session(transport) as session:
                _send(session, server.url(""), shape, tmp_path, verify=ca_file)
    assert len(received) == len(TRANSPORTS)
    wire = dict(zip(TRANSPORTS, map(_without_boundary, received), strict=True))
    assert_all_equal(wire)


def test_session_headers_and_overrides_on_the_wire() -> None:
    """Session-level headers, a request override and a removal through None."""
    received: list[bytes] = []

    def call(session: requests.Session) -> None:
        session.headers.update({"X-Session": "s", "X-Override": "session", "X-Removed": "r"})
        session.get(server.url("/"), headers={"X-Override": "request", "X-Removed": None}, timeout=TIMEOUT)

    with RawServer(keep_alive(_recorder(received)), read_head=False) as server:
        through_each(TRANSPORTS, call)
    assert_all_equal(dict(zip(TRANSPORTS, received, strict=True)))
    assert b"X-Override: request\r\n" in received[0] and b"X-Removed" not in received[0]
