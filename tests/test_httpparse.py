"""gfetch.httpparse.FastHTTPResponse gives exactly http.client.HTTPResponse's answers.

Every test feeds the same raw bytes to both classes and compares everything
observable: the exception (type and args) or the response attributes, the
HTTPMessage's whole state (headers, defects, payload, rendering), debug prints
and the body read afterwards.
"""

from __future__ import annotations

import contextlib
import email.message
import http.client
import inspect
import io
import random
from typing import Any
from unittest import mock

import pytest

from gfetch import http1
from gfetch.httpparse import FastHTTPResponse

MAXLINE = http.client._MAXLINE


class FakeSocket:
    """Just enough socket for HTTPResponse: makefile() over fixed bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        assert mode == "rb"
        return io.BufferedReader(io.BytesIO(self.data))


def attempt(func: Any, *args: Any) -> tuple:
    try:
        return ("ok", func(*args))
    except Exception as exc:
        return ("raised", type(exc), exc.args)


def response_state(resp: http.client.HTTPResponse) -> dict:
    state = {k: v for k, v in vars(resp).items() if k not in ("fp", "headers", "msg")}
    state["fp is None"] = resp.fp is None
    state["headers is msg"] = resp.headers is resp.msg
    return state


def message_view(msg: email.message.Message) -> dict:
    """Everything a caller can see of a message, as comparable values."""
    view = dict(vars(msg))
    view["type"] = type(msg)
    view["defects"] = [(type(d), d.args) for d in msg.defects]
    payload = msg.get_payload()
    view["_payload"] = [message_view(p) for p in payload] if isinstance(payload, list) else payload
    view["items"] = msg.items()
    view["keys"] = msg.keys()
    view["get_all"] = {k: msg.get_all(k) for k in {k.lower() for k in msg.keys()}}
    view["get"] = {k: msg.get(k) for k in ("content-length", "transfer-encoding", "connection", "x-missing")}
    view["str"] = attempt(str, msg)
    view["as_string"] = attempt(msg.as_string)
    view["content_type"] = (msg.get_content_type(), msg.get_default_type(), msg.is_multipart())
    return view


def outcome(cls: type, raw: bytes, method: str | None = None, debuglevel: int = 0) -> dict:
    """Run ``begin()`` and then ``read()`` on *raw*; return all that is observable."""
    resp = cls(FakeSocket(raw), debuglevel=debuglevel, method=method)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            resp.begin()
        except Exception as exc:
            raised = (type(exc), exc.args)
            return {"raised": raised, "state": response_state(resp), "printed": printed.getvalue()}
        result = {"state": response_state(resp), "message": message_view(resp.msg)}
        resp.begin()  # a second call is a no-op
        result["again"] = response_state(resp)
        result["body"] = attempt(resp.read)
        result["after"] = response_state(resp)
    result["printed"] = printed.getvalue()
    return result


def assert_same(raw: bytes, method: str | None = None) -> None:
    for debuglevel in (0, 1):
        expected = outcome(http.client.HTTPResponse, raw, method, debuglevel)
        assert outcome(FastHTTPResponse, raw, method, debuglevel) == expected


NGINX_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: nginx/1.24.0\r\n"
    b"Date: Tue, 14 May 2024 10:12:31 GMT\r\n"
    b"Content-Type: text/html\r\n"
    b"Content-Length: 200\r\n"
    b"Last-Modified: Mon, 13 May 2024 08:00:00 GMT\r\n"
    b"Connection: keep-alive\r\n"
    b'ETag: "66420c80-c8"\r\n'
    b"Accept-Ranges: bytes\r\n"
    b"\r\n"
)
NGINX = NGINX_HEAD + b"<" * 200
OK = b"HTTP/1.1 200 OK\r\n"
HTTP10 = b"HTTP/1.0 200 OK\r\n"


def block(*lines: bytes, status: bytes = OK, body: bytes = b"hello") -> bytes:
    """A response with the given header lines (CRLF added where missing)."""
    head = b"".join(line if line.endswith(b"\n") else line + b"\r\n" for line in lines)
    return status + head + b"\r\n" + body


def many_headers(n: int) -> bytes:
    return block(*(b"X-H%d: v%d" % (i, i) for i in range(n)), body=b"")


CHUNKED_BODY = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"

# (test id, raw response[, request method])
CORPUS: list[tuple] = [
    ("nginx", NGINX),
    ("nginx HEAD", NGINX_HEAD, "HEAD"),
    (
        "apache",
        block(
            b"Date: Tue, 14 May 2024 10:12:31 GMT",
            b"Server: Apache/2.4.57 (Debian)",
            b"Last-Modified: Mon, 13 May 2024 08:00:00 GMT",
            b'ETag: "2aa6-5e1a3b7c"',
            b"Accept-Ranges: bytes",
            b"Content-Length: 5",
            b"Vary: Accept-Encoding",
            b"Keep-Alive: timeout=5, max=100",
            b"Connection: Keep-Alive",
            b"Content-Type: text/html; charset=UTF-8",
        ),
    ),
    (
        "gunicorn",
        block(
            b"Server: gunicorn",
            b"Date: Tue, 14 May 2024 10:12:31 GMT",
            b"Connection: close",
            b"Content-Type: application/json",
            b"Content-Length: 12",
            body=b'{"ok": true}',
        ),
    ),
    ("1.0 plain", block(b"Content-Length: 5", status=HTTP10)),
    ("1.0 no length", block(b"Server: x", status=HTTP10)),
    ("1.0 Connection keep-alive", block(b"Connection: Keep-Alive", b"Content-Length: 5", status=HTTP10)),
    ("1.0 Keep-Alive header", block(b"Keep-Alive: timeout=5", b"Content-Length: 5", status=HTTP10)),
    ("1.0 Proxy-Connection", block(b"Proxy-Connection: keep-alive", b"Content-Length: 5", status=HTTP10)),
    ("0.9 status", block(b"Content-Length: 5", status=b"HTTP/0.9 200 OK\r\n")),
    ("1.1 Connection close", block(b"Connection: close", b"Content-Length: 5")),
    ("1.1 Connection keep-alive, close", block(b"Connection: keep-alive, Close", b"Content-Length: 5")),
    ("1.1 no length", block(b"Server: x")),
    ("chunked", block(b"Transfer-Encoding: chunked", body=CHUNKED_BODY)),
    ("chunked HEAD", block(b"Transfer-Encoding: chunked", body=b""), "HEAD"),
    ("chunked upper case", block(b"TRANSFER-ENCODING: CHUNKED", body=CHUNKED_BODY)),
    ("chunked and length", block(b"Content-Length: 3", b"Transfer-Encoding: chunked", body=CHUNKED_BODY)),
    ("chunked bad size", block(b"Transfer-Encoding: chunked", body=b"zz\r\nhello\r\n0\r\n\r\n")),
    ("chunked truncated", block(b"Transfer-Encoding: chunked", body=b"a\r\nhel")),
    ("gzip, chunked", block(b"Transfer-Encoding: gzip, chunked", body=CHUNKED_BODY)),
    ("gzip with length", block(b"Transfer-Encoding: gzip", b"Content-Length: 5")),
    ("length missing 1.1 keep-alive", block(b"Connection: keep-alive")),
    ("length negative", block(b"Content-Length: -5")),
    ("length invalid", block(b"Content-Length: abc")),
    ("length list", block(b"Content-Length: 5, 5")),
    ("length padded", block(b"Content-Length:   3  \t")),
    ("length duplicated", block(b"Content-Length: 3", b"content-length: 5")),
    ("length empty", block(b"Content-Length:")),
    ("204", block(b"Content-Length: 5", status=b"HTTP/1.1 204 No Content\r\n", body=b"")),
    ("304", block(b'ETag: "x"', status=b"HTTP/1.1 304 Not Modified\r\n", body=b"")),
    ("HEAD 1.0", block(b"Content-Length: 1000", status=HTTP10, body=b""), "HEAD"),
    ("100 then 200", b"HTTP/1.1 100 Continue\r\n\r\n" + NGINX),
    ("100 with headers then 200", b"HTTP/1.1 100 Continue\r\nX-A: 1\r\nX-B: 2\r\n\r\n" + NGINX),
    ("100 twice then 200", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + NGINX),
    ("100 then EOF", b"HTTP/1.1 100 Continue\r\n\r\n"),
    ("100 with long line", b"HTTP/1.1 100 Continue\r\nX: " + b"a" * MAXLINE + b"\r\n\r\n" + NGINX),
    ("101", block(b"Upgrade: websocket", b"Connection: Upgrade", status=b"HTTP/1.1 101 Switching\r\n")),
    ("103", block(b"Link: </a.css>; rel=preload", status=b"HTTP/1.1 103 Early Hints\r\n") + NGINX),
    ("duplicate headers", block(b"Vary: Accept", b"Vary: Cookie", b"Content-Length: 5")),
    ("set-cookie x3", block(b"Set-Cookie: a=1; Path=/", b"Set-Cookie: b=2; HttpOnly", b"Set-Cookie: c=3")),
    ("empty values", block(b"X-Empty:", b"X-Space: ", b"X-Tab:\t", b"Content-Length: 5")),
    ("trailing space and tab", block(b"X-A: v \t ", b"X-B:\t\tv\t", b"Content-Length: 5 ")),
    ("space before colon", block(b"Name : v", b"Content-Length: 5")),
    ("folded", block(b"X-Folded: a", b" b", b"\tc", b"Content-Length: 5")),
    ("first line folded", block(b" leading: x", b"Content-Length: 5")),
    ("no colon", block(b"X-A: 1", b"NoColonHere", b"Content-Length: 5")),
    ("empty name", block(b":novalue", b"Content-Length: 5")),
    ("From first", block(b"From someone@example.com Tue May 14", b"Content-Length: 5")),
    ("From middle", block(b"X-A: 1", b"From someone", b"Content-Length: 5")),
    ("From last", block(b"Content-Length: 5", b"From someone")),
    ("From header", block(b"From: someone@example.com", b"Content-Length: 5")),
    ("latin-1 name", block(b"X-Caf\xe9: v", b"Content-Length: 5")),
    ("DEL in name", block(b"X-\x7f: v", b"Content-Length: 5")),
    ("control in name", block(b"X-\x01: v", b"Content-Length: 5")),
    ("latin-1 value", block(b"X-V: caf\xe9 \xff", b"Content-Length: 5")),
    ("utf-8 value", block("X-U: café €".encode(), b"Content-Length: 5")),
    ("odd controls in value", block(b"X-V: a\x85b\x0cc\x1cd\x00e\x0bf", b"Content-Length: 5")),
    ("bare LF", b"HTTP/1.1 200 OK\nServer: x\nContent-Length: 5\n\nhello"),
    ("mixed CRLF and LF", b"HTTP/1.1 200 OK\r\nServer: x\nContent-Length: 5\r\nX-A: 1\n\r\nhello"),
    ("LF block CRLF end", b"HTTP/1.1 200 OK\r\nServer: x\nContent-Length: 5\n\r\nhello"),
    ("CR inside value", block(b"X-A: a\rb", b"Content-Length: 5")),
    ("CR splits a header", block(b"X-A: a\rX-B: b", b"Content-Length: 5")),
    ("CR CR LF", block(b"X-A: a\r\r\n", b"Content-Length: 5")),
    ("CR blank inside", block(b"X-A: a", b"\r\r\n", b"Content-Length: 5")),
    ("empty header block", b"HTTP/1.1 200 OK\r\n\r\nhello"),
    ("empty header block LF", b"HTTP/1.1 200 OK\n\nhello"),
    ("headers end at EOF", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"),
    ("header without newline at EOF", b"HTTP/1.1 200 OK\r\nContent-Length: 0"),
    ("line at MAXLINE", block(b"X-Long: " + b"a" * (MAXLINE - 10) + b"\r\n", b"Content-Length: 5")),
    ("line over MAXLINE", block(b"X-Long: " + b"a" * (MAXLINE - 9) + b"\r\n", b"Content-Length: 5")),
    ("status at MAXLINE", b"HTTP/1.1 200 " + b"x" * (MAXLINE - 15) + b"\r\n\r\n"),
    ("status over MAXLINE", b"HTTP/1.1 200 " + b"x" * MAXLINE + b"\r\n\r\n"),
    ("99 headers", many_headers(99)),
    ("100 headers", many_headers(100)),
    ("101 headers", many_headers(101)),
    ("multipart with boundary", block(b"Content-Type: multipart/byteranges; boundary=XYZ")),
    ("multipart without boundary", block(b"Content-Type: Multipart/Mixed", b"Content-Length: 5")),
    ("message/rfc822", block(b"Content-Type: message/rfc822", b"Content-Length: 5")),
    ("message/delivery-status", block(b"Content-Type: message/delivery-status", b"Content-Length: 5")),
    ("message in a parameter", block(b'Content-Type: text/plain; name="message.txt"', b"Content-Length: 5")),
    ("second content-type multipart", block(b"Content-Type: text/plain", b"Content-Type: multipart/mixed")),
    ("status without reason", block(b"Content-Length: 5", status=b"HTTP/1.1 200\r\n")),
    ("reason with spaces", block(b"Content-Length: 5", status=b"HTTP/1.1  404   Not  Found  \r\n")),
    ("bad status: code not a number", b"HTTP/1.1 abc OK\r\n\r\n"),
    ("bad status: garbage", b"garbage\r\n\r\n"),
    ("bad status: code too small", b"HTTP/1.1 99 Low\r\n\r\n"),
    ("bad status: code too large", b"HTTP/1.1 1000 High\r\n\r\n"),
    ("bad status: ICY", b"ICY 200 OK\r\n\r\n"),
    ("bad status: version only", b"HTTP/1.1\r\n\r\n"),
    ("bad status: blank", b"\r\n\r\n"),
    ("empty reply", b""),
    ("unknown protocol", block(b"Content-Length: 5", status=b"HTTP/2.0 200 OK\r\n")),
    ("unknown protocol HTTP/1", block(b"Content-Length: 5", status=b"HTTP/1 200 OK\r\n")),
    ("HTTP/1.2", block(b"Content-Length: 5", status=b"HTTP/1.2 200 OK\r\n")),
]


@pytest.mark.parametrize("case", CORPUS, ids=[case[0] for case in CORPUS])
def test_same_as_http_client(case: tuple) -> None:
    assert_same(*case[1:])


def test_corpus_covers_both_outcomes() -> None:
    results = [outcome(http.client.HTTPResponse, *case[1:]) for case in CORPUS]
    raised = {r["raised"][0] for r in results if "raised" in r}
    assert raised >= {
        http.client.RemoteDisconnected,
        http.client.BadStatusLine,
        http.client.LineTooLong,
        http.client.HTTPException,
        http.client.UnknownProtocol,
    }
    assert any(r["message"]["defects"] for r in results if "message" in r)


def test_stock_begin_unchanged_in_shape() -> None:
    """FastHTTPResponse.begin() mirrors a begin() taking no arguments; flag a CPython that changes that."""
    assert list(inspect.signature(http.client.HTTPResponse.begin).parameters) == ["self"]


def test_fast_path_taken_for_typical_block() -> None:
    with mock.patch.object(http1, "Parser", side_effect=AssertionError("email parser used")):
        resp = FastHTTPResponse(FakeSocket(NGINX))
        resp.begin()
    assert type(resp.msg) is http.client.HTTPMessage
    assert resp.msg["ETag"] == '"66420c80-c8"'
    assert (resp.length, resp.will_close, resp.read()) == (200, False, b"<" * 200)


def test_fallback_for_folded_block() -> None:
    with mock.patch.object(http1, "Parser", wraps=http1.Parser) as parser:
        FastHTTPResponse(FakeSocket(block(b"X-Folded: a", b" b"))).begin()
    assert parser.call_count == 1


# Pieces for random header lines: valid-looking names and values, and the
# characters that change how the email parser reads a line.
NAME_PIECES = [b"X", b"a", b"-", b"From", b"Set-Cookie", b"Content-Length", b"Transfer-Encoding"]
ODD_PIECES = [b":", b" ", b"\t", b"\r", b"\xe9", b"\xff", b"\x7f", b"\x00", b"\x85", b"From ", b"a", b"5"]
VALUES = [b"chunked", b"close", b"keep-alive", b"5", b"-1", b"x", b"", b"multipart/mixed", b"text/html"]
EOLS = [b"\r\n"] * 6 + [b"\n"] * 3 + [b"\r\r\n", b"\r"]
STATUSES = [
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.0 200 OK\r\n",
    b"HTTP/1.1 304 Not Modified\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"HTTP/1.1 99 Low\r\n",
    b"HTTP/3 200 OK\r\n",
]
BODIES = [b"", b"hello", CHUNKED_BODY]


def random_line(rng: random.Random) -> bytes:
    if rng.random() < 0.7:
        name = b"".join(rng.choices(NAME_PIECES, k=rng.randint(1, 2)))
        value = b"".join(rng.choices(VALUES + ODD_PIECES[:3], k=rng.randint(0, 3)))
        line = name + b":" + rng.choice([b"", b" ", b"\t", b"  "]) + value
    else:
        line = b"".join(rng.choices(ODD_PIECES + NAME_PIECES, k=rng.randint(0, 6)))
    return line + rng.choice(EOLS)


def random_response(rng: random.Random) -> bytes:
    lines = b"".join(random_line(rng) for _ in range(rng.randint(0, 6)))
    end = rng.choice([b"\r\n", b"\r\n", b"\n", b""])
    return rng.choice(STATUSES) + lines + end + rng.choice(BODIES)


def test_fuzz_same_as_http_client() -> None:
    rng = random.Random(20240514)
    with mock.patch.object(http1, "Parser", wraps=http1.Parser) as parser:
        for _ in range(2000):
            raw = random_response(rng)
            method = "HEAD" if rng.random() < 0.1 else None
            expected = outcome(http.client.HTTPResponse, raw, method)
            assert outcome(FastHTTPResponse, raw, method) == expected, raw
    # Both paths were exercised, and the fast one often.
    assert 300 < parser.call_count < 1500
