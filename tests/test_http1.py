"""gfetch.http11.parser against http.client and urllib3, and httptools' parser against the pure one.

Response heads are compared three ways on the same bytes: the pure parser
(``gfetch.http11.parser.parse_response_head``), httptools' (``gfetch.http11.parser_httptools``,
skipped when httptools is not installed; CI runs both ways) and
``http.client.HTTPResponse.begin()`` over an in-memory socket, with every
interim response but 101 skipped, as gfetch skips them. Compared: status,
reason, version, headers (``msg.items()``, ``msg.get``), defects, framing
(chunked, length, will_close), bytes consumed, exception class and text. Each
parser must also give the same answer when the bytes arrive in pieces.

Request heads: ``encode_request`` (and the body framing the pool sends) against
what urllib3's ``HTTPConnection.request`` writes to a socket.
"""

from __future__ import annotations

import http.client
import importlib
import io
import random
import sys
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from _extras import optional
from test_httpparse import CORPUS as HTTPPARSE_CORPUS
from test_httpparse import HTTP10, block, many_headers
from test_httpparse import NGINX_HEAD as NGINX
from urllib3.connection import HTTPConnection, HTTPSConnection, _get_default_user_agent
from urllib3.util import SKIP_HEADER
from urllib3.util.request import body_to_chunks

from gfetch.http11 import connection
from gfetch.http11 import parser as http1
from gfetch.http11.pool import LeanPool, _send_body

http1_httptools = optional(
    "gfetch.http11.parser_httptools"
)  # None without httptools (test_extras.py: broken)

MAXLINE = http.client._MAXLINE  # type: ignore[attr-defined]
GET_NAMES = ("content-length", "transfer-encoding", "connection", "content-type", "x-missing")
needs_httptools = pytest.mark.skipif(http1_httptools is None, reason="httptools not installed")


# -- the three parsers ----------------------------------------------------
class _ReaderSocket:
    """makefile() hands out one shared reader: each response reads on from where the last stopped."""

    def __init__(self, reader: io.BufferedReader) -> None:
        self.reader = reader

    def makefile(self, mode: str) -> io.BufferedReader:
        return self.reader


def by_http_client(raw: bytes, method: str) -> tuple:
    """What http.client makes of ``raw`` and then EOF, skipping interim responses as gfetch does."""
    reader = io.BufferedReader(io.BytesIO(raw))
    while True:
        resp = http.client.HTTPResponse(_ReaderSocket(reader), method=method)  # type: ignore[arg-type]
        try:
            resp.begin()
        except Exception as exc:
            return ("raised", type(exc), str(exc))
        if not 100 <= resp.status < 200 or resp.status == 101:
            break
        resp.fp = None  # so that dropping it does not close the reader
    return view(resp, resp.msg, reader.tell())


def by_gfetch(parse: Callable[..., Any], raw: bytes, method: str, eof: bool = True) -> tuple:
    try:
        parsed = parse(raw, method, eof)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    if parsed is None:
        return ("more",)
    head, consumed = parsed
    msg = head.to_message()
    assert list(head.fields) == msg.items()
    assert {name: head.get(name) for name in GET_NAMES} == {name: msg.get(name) for name in GET_NAMES}
    return view(head, msg, consumed)


def view(head: Any, msg: http.client.HTTPMessage, consumed: int) -> tuple:
    """What is compared of a parsed head: an http.client response's or a ResponseHead's."""
    return (
        "ok",
        {
            "version": head.version,
            "status": head.status,
            "reason": head.reason,
            "items": msg.items(),
            "get": {name: msg.get(name) for name in GET_NAMES},
            "defects": [type(d) for d in msg.defects],
            "multipart": msg.is_multipart(),
            "chunked": head.chunked,
            "length": head.length,
            "will_close": head.will_close,
            "consumed": consumed,
        },
    )


PARSERS: list[Callable[..., Any]] = [http1.parse_response_head]
if http1_httptools is not None:
    PARSERS.append(http1_httptools.parse_response_head)


def in_pieces(parse: Callable[..., Any], raw: bytes, method: str, cuts: list[int]) -> tuple:
    """The first answer as ``raw`` arrives cut at ``cuts`` (eof=False), then whole with eof=True."""
    for cut in sorted(set(cuts)):
        if 0 < cut < len(raw):
            result = by_gfetch(parse, raw[:cut], method, eof=False)
            if result != ("more",):
                return result
    return by_gfetch(parse, raw, method)


def assert_equivalent(raw: bytes, method: str = "GET", cuts: list[int] | None = None) -> tuple:
    expected = by_http_client(raw, method)
    for parse in PARSERS:
        assert by_gfetch(parse, raw, method) == expected, parse.__module__
        if cuts is not None:
            assert in_pieces(parse, raw, method, cuts) == expected, (parse.__module__, cuts)
    return expected


# -- the corpus -----------------------------------------------------------
CHUNKED_BODY = b"5\r\nhello\r\n0\r\n\r\n"


def status(line: bytes) -> bytes:
    return block(b"Content-Length: 5", status=line + b"\r\n")


# FastHTTPResponse's corpus, and more.
CORPUS: list[tuple] = [(f"httpparse {case[0]}", *case[1:]) for case in HTTPPARSE_CORPUS] + [
    ("20 headers", many_headers(20)),
    ("only CRLF", b"\r\n"),
    ("truncated status line", b"HTTP/1.1 200"),
    ("truncated headers", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServ"),
    ("half a CRLF at EOF", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r"),
    # status lines
    ("no reason, space", status(b"HTTP/1.1 200 ")),
    ("tabs in status line", status(b"HTTP/1.1\t200\tOK")),
    ("leading space", status(b" HTTP/1.1 200 OK")),
    ("blank line first", b"\r\n" + NGINX),
    ("reason latin-1 and controls", status(b"HTTP/1.1 200 \x85caf\xe9\x00 \xa0")),
    ("reason NEL separator", status(b"HTTP/1.1 200\x85OK")),
    ("status 099", status(b"HTTP/1.1 099 Low")),
    ("status 99", status(b"HTTP/1.1 99 Low")),
    ("status 000", status(b"HTTP/1.1 000 Zero")),
    ("status 999", status(b"HTTP/1.1 999 High")),
    ("status 1000", status(b"HTTP/1.1 1000 High")),
    ("status +200", status(b"HTTP/1.1 +200 OK")),
    ("status 2_00", status(b"HTTP/1.1 2_00 OK")),
    ("status abc", status(b"HTTP/1.1 abc OK")),
    ("version only", status(b"HTTP/1.1")),
    ("ICY", status(b"ICY 200 OK")),
    ("HTTP/1.10", status(b"HTTP/1.10 200 OK")),
    ("HTTP/2", status(b"HTTP/2 200 OK")),
    ("http/1.1 lower case", status(b"http/1.1 200 OK")),
    ("HTTP/2.0, long header line", block(b"X: " + b"a" * MAXLINE, status=b"HTTP/2.0 200 OK\r\n")),
    ("HTTP/2.0, 101 headers", many_headers(101).replace(b"HTTP/1.1", b"HTTP/2.0", 1)),
    ("HTTP/2.0, headers cut short", b"HTTP/2.0 200 OK\r\nContent-Length: 5\r\n"),
    # keep-alive rules
    ("1.0 empty Keep-Alive", block(b"Keep-Alive:", b"Content-Length: 5", status=HTTP10)),
    ("1.0 Connection close", block(b"Connection: close", b"Content-Length: 5", status=HTTP10)),
    ("1.1 Connection CLOSE, list", block(b"Connection: keep-alive, CLOSE", b"Content-Length: 5")),
    (
        "1.1 second Connection close",
        block(b"Connection: keep-alive", b"Connection: close", b"Content-Length: 5"),
    ),
    ("1.1 Proxy-Connection close", block(b"Proxy-Connection: close", b"Content-Length: 5")),
    (
        "1.1 chunked, Connection close",
        block(b"Transfer-Encoding: chunked", b"Connection: close", body=CHUNKED_BODY),
    ),
    # Content-Length
    ("length 0", block(b"Content-Length: 0", body=b"")),
    ("length +5", block(b"Content-Length: +5")),
    ("length 1_0", block(b"Content-Length: 1_0")),
    ("length padded", block(b"Content-Length:  5 ")),
    ("length tab", block(b"Content-Length:\t5\t")),
    ("length huge", block(b"Content-Length: 99999999999999999999999999")),
    ("length hex", block(b"Content-Length: 0x5")),
    ("length twice equal", block(b"Content-Length: 5", b"Content-Length: 5")),
    ("length unicode digits", block("Content-Length: \u0665".encode("latin-1", "replace"))),
    # Transfer-Encoding
    ("chunked", block(b"Transfer-Encoding: chunked", body=CHUNKED_BODY)),
    ("Chunked", block(b"Transfer-Encoding: Chunked", body=CHUNKED_BODY)),
    ("CHUNKED name and value", block(b"TRANSFER-ENCODING: CHUNKED", body=CHUNKED_BODY)),
    ("gzip, chunked", block(b"Transfer-Encoding: gzip, chunked", body=CHUNKED_BODY)),
    ("chunked, gzip", block(b"Transfer-Encoding: chunked, gzip", body=CHUNKED_BODY)),
    ("chunked padded", block(b"Transfer-Encoding:  chunked ", body=CHUNKED_BODY)),
    ("two TE headers", block(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked", body=CHUNKED_BODY)),
    (
        "two TE chunked",
        block(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=CHUNKED_BODY),
    ),
    ("chunked and length", block(b"Content-Length: 3", b"Transfer-Encoding: chunked", body=CHUNKED_BODY)),
    ("identity TE with length", block(b"Transfer-Encoding: identity", b"Content-Length: 5")),
    # interim responses, bodiless responses
    ("100 then 200", b"HTTP/1.1 100 Continue\r\n\r\n" + NGINX),
    ("100 with headers", b"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\n" + NGINX),
    ("100 twice", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + NGINX),
    ("100 then garbage", b"HTTP/1.1 100 Continue\r\n\r\ngarbage\r\n\r\n"),
    ("100 folded then 200", b"HTTP/1.1 100 Continue\r\nX: a\r\n b\r\n\r\n" + NGINX),
    ("100 LF then 200", b"HTTP/1.1 100 Continue\n\n" + NGINX),
    ("100 long line", b"HTTP/1.1 100 Continue\r\nX: " + b"a" * MAXLINE + b"\r\n\r\n" + NGINX),
    (
        "103 then 200",
        block(b"Link: </a.css>; rel=preload", status=b"HTTP/1.1 103 Early Hints\r\n", body=NGINX),
    ),
    ("103 then 100 then 200", b"HTTP/1.1 103 Hints\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + NGINX),
    ("102 then 204", b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
    ("102 of HTTP/2.0 then 204", b"HTTP/2.0 102 Processing\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
    ("100 of HTTP/2.0 then 200", b"HTTP/2.0 100 Continue\r\n\r\n" + NGINX),
    ("199 then 200", b"HTTP/1.1 199 Odd\r\nContent-Length: 5\r\n\r\n" + NGINX),
    ("101 without Upgrade", block(status=b"HTTP/1.1 101 Switching\r\n")),
    ("304", block(b'ETag: "x"', b"Content-Length: 100", status=b"HTTP/1.1 304 Not Modified\r\n", body=b"")),
    ("HEAD without length", block(b"Server: x", body=b""), "HEAD"),
    # header lines
    ("duplicates", block(b"Vary: Accept", b"Vary: Cookie", b"vary: x", b"Content-Length: 5")),
    ("set-cookie x3", block(b"Set-Cookie: a=1", b"Set-Cookie: b=2; HttpOnly", b"Set-Cookie: c=3")),
    ("empty value last", block(b"Content-Length: 5", b"X-Empty:")),
    ("no space after colon", block(b"X-A:v", b"Content-Length:5")),
    ("folded Content-Length", block(b"Content-Length:", b" 5")),
    ("token punctuation in name", block(b"X-!#$%&'*+.^_`|~: v", b"Content-Length: 5")),
    ("separators in name", block(b"X-(a)/<b>@{c}?=: v", b"Content-Length: 5")),
    ("quote in name", block(b'X-"q": v', b"Content-Length: 5")),
    ("controls in value", block(b"X-V: a\x85b\x0cc\x1cd\x00e\x0bf\x7f", b"Content-Length: 5")),
    ("NUL in value", block(b"X-V: a\x00b", b"Content-Length: 5")),
    ("colon in value", block(b"X-V: a: b:: c", b"Content-Length: 5")),
    # line ends
    ("LF blank before CRLF blank", b"HTTP/1.1 200 OK\r\nA: 1\n\nB: 2\r\n\r\nhello"),
    ("CR at status end", b"HTTP/1.1 200 OK\r\r\nContent-Length: 5\r\n\r\nhello"),
    ("LF status, CRLF block", b"HTTP/1.1 200 OK\nContent-Length: 5\r\n\r\nhello"),
    # content types the email parser reads as MIME
    ("multipart", block(b"Content-Type: multipart/byteranges; boundary=XYZ", b"Content-Length: 5")),
    # limits
    ("head over MAXLINE in short lines", block(*(b"X-%d: %s" % (i, b"b" * 700) for i in range(95)))),
    ("status line of MAXLINE + 1", b"HTTP/1.1 200 " + b"x" * (MAXLINE - 14) + b"\r\n\r\n"),
    ("unterminated status over MAXLINE", b"HTTP/1.1 200 " + b"x" * MAXLINE),
    ("unterminated header over MAXLINE", b"HTTP/1.1 200 OK\r\nX: " + b"x" * MAXLINE),
]


def cuts_for(raw: bytes, rng: random.Random) -> list[int]:
    """Every cut for a short input; line ends, their neighbours and random points for a long one."""
    if len(raw) <= 400:
        return list(range(1, len(raw)))
    newlines = [i for i in range(len(raw)) if raw[i : i + 1] == b"\n"][:100]
    return sorted({n + d for n in newlines for d in (-1, 0, 1, 2)} | set(rng.sample(range(1, len(raw)), 20)))


@pytest.mark.parametrize("case", CORPUS, ids=[case[0] for case in CORPUS])
def test_corpus_same_three_ways(case: tuple) -> None:
    raw = case[1]
    method = case[2] if len(case) > 2 else "GET"
    cuts = cuts_for(raw, random.Random(len(raw)))
    assert_equivalent(raw, method, cuts)
    for cut in cuts:  # cut short by the end of the stream: a case of its own
        assert_equivalent(raw[:cut], method)


@pytest.mark.parametrize("case", CORPUS, ids=[case[0] for case in CORPUS])
def test_interim_responses_dropped_as_they_arrive_change_nothing(case: tuple) -> None:
    """What a connection does with a head that is not all there: drop the interim responses
    complete so far (``interim_end``) and parse on from there. The answer is the whole
    parse's, at every cut, for both parsers."""
    raw = case[1]
    method = case[2] if len(case) > 2 else "GET"
    for cut in cuts_for(raw, random.Random(len(raw))):
        try:
            skipped, count = http1.interim_end(raw[:cut])
        except Exception as exc:  # the parse raises the same, for the same bytes
            assert by_gfetch(http1.parse_response_head, raw[:cut], method, eof=False) == (
                "raised",
                type(exc),
                str(exc),
            )
            continue
        assert (skipped == 0) == (count == 0)
        for parse in PARSERS:
            whole = by_gfetch(parse, raw, method)
            rest = by_gfetch(parse, raw[skipped:], method)
            if whole[0] == "ok":
                whole[1]["consumed"] -= skipped
            assert rest == whole, (parse.__module__, cut, skipped)


def test_corpus_covers_every_outcome() -> None:
    results = [by_http_client(case[1], case[2] if len(case) > 2 else "GET") for case in CORPUS]
    raised = {r[1] for r in results if r[0] == "raised"}
    assert raised == {
        http.client.RemoteDisconnected,
        http.client.BadStatusLine,
        http.client.LineTooLong,
        http.client.HTTPException,
        http.client.UnknownProtocol,
    }
    heads = [r[1] for r in results if r[0] == "ok"]
    assert any(h["defects"] for h in heads) and any(h["multipart"] for h in heads)
    assert {(h["chunked"], h["will_close"]) for h in heads} == {
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    }
    assert {h["length"] for h in heads} >= {None, 0, 5, 200}


# -- which path httptools' parser takes ------------------------------------
@needs_httptools
@pytest.mark.parametrize(
    "raw",
    [
        NGINX,
        many_headers(20),
        block(b"Transfer-Encoding: chunked"),
        b"HTTP/1.1 100 Continue\r\n\r\n" + NGINX,
        block(b"X-Empty:"),
        block(b"Set-Cookie: a=1", b"Set-Cookie: b=2", b"set-cookie: c=3"),
    ],
)
def test_httptools_parses_plain_heads_itself(raw: bytes) -> None:
    with mock.patch.object(http1, "parse_response_head", side_effect=AssertionError("pure parser used")):
        head_, consumed = http1_httptools.parse_response_head(raw, "GET")
    assert (head_.status, consumed) == (200, raw.index(b"\r\n\r\n", raw.index(b"HTTP/1.1 200")) + 4)


@needs_httptools
@pytest.mark.parametrize(
    "name",
    [
        "httpparse folded",
        "httpparse bare LF",
        "httpparse length list",
        "httpparse 101",
        "multipart",
        "httpparse 0.9 status",
        "status 099",
        "blank line first",
        "httpparse 100 headers",
        "truncated headers",
        "chunked and length",
        "httpparse latin-1 name",
    ],
)
def test_httptools_hands_odd_heads_to_the_pure_parser(name: str) -> None:
    raw = dict((case[0], case[1]) for case in CORPUS)[name]
    with mock.patch.object(http1, "parse_response_head", wraps=http1.parse_response_head) as pure:
        by_gfetch(http1_httptools.parse_response_head, raw, "GET")
    assert pure.call_count == 1


# -- fields shared between heads ----------------------------------------------
@pytest.mark.parametrize("parse", PARSERS, ids=lambda parse: parse.__module__)
def test_heads_share_the_fields_they_repeat(parse: Callable[..., Any]) -> None:
    """A kept response holds no pair of its own for a field a recent head had (fewer
    objects for the garbage collector to count); what the head answers is unchanged."""
    one, _ = parse(block(b"Server: nginx", b"Date: Mon, 07 Dec 2026 03:20:28 GMT", b"X-Id: 1"), "GET")
    two, _ = parse(block(b"Server: nginx", b"Date: Mon, 07 Dec 2026 03:20:28 GMT", b"X-Id: 2"), "GET")
    assert [a is b for a, b in zip(one.fields, two.fields, strict=True)] == [True, True, False]
    assert two.fields[2] == ("X-Id", "2")
    assert sorted(map(id, two.first.values())) == sorted(map(id, two.fields))  # the same pairs
    assert_equivalent(block(b"Server: nginx", b"X-Id: 2", b"x-id: 3"))


@pytest.mark.parametrize("parse", PARSERS, ids=lambda parse: parse.__module__)
def test_the_fields_remembered_are_bounded(parse: Callable[..., Any]) -> None:
    for i in range(3 * http1._RECENT_FIELDS):
        head_, _ = parse(block(b"X-Id: %d" % i), "GET")
        assert head_.fields[0] == ("X-Id", str(i))
        assert len(http1._recent_fields) <= http1._RECENT_FIELDS + 2


@pytest.mark.parametrize("parse", PARSERS, ids=lambda parse: parse.__module__)
def test_a_large_blocks_fields_are_not_remembered(parse: Callable[..., Any]) -> None:
    """A field of a block over 4 KiB (a long cookie or policy) is not kept past its head."""
    raw = block(b"X-Policy: " + b"p" * http1._SHARED_BLOCK, b"X-Small: 1")
    head_, _ = parse(raw, "GET")
    assert head_.fields[:2] == (("X-Policy", "p" * http1._SHARED_BLOCK), ("X-Small", "1"))
    assert not {head_.fields[0], head_.fields[1]} & http1._recent_fields.keys()
    assert_equivalent(raw)


def test_limits_are_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http.client, "_MAXHEADERS", 5)
    assert_equivalent(many_headers(4))
    assert assert_equivalent(many_headers(5))[1] is http.client.HTTPException
    monkeypatch.setattr(http.client, "_MAXLINE", 30)
    assert assert_equivalent(NGINX)[1] is http.client.LineTooLong


# -- seeded fuzzing -------------------------------------------------------
INSERTS = [
    b"\r",
    b"\n",
    b"\r\n",
    b" ",
    b"\t",
    b":",
    b"\x00",
    b"\xe9",
    b"\x7f",
    b"a",
    b"5",
    b",",
    b"-",
    b"\r\n ",
    b"\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.0 ",
    b"chunked",
    b"close",
]
FRAMING = [
    b"Content-Length: 5",
    b"Content-Length: 0",
    b"Content-Length: 5, 5",
    b"Content-Length: -1",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Keep-Alive: 5",
    b"Content-Type: multipart/mixed",
    b"Set-Cookie: a=1",
    b"X-Empty:",
    b"X-Fold: a\r\n b",
]
SEEDS = [case[1] for case in CORPUS if len(case[1]) < 4096] + [NGINX, block(b"Content-Length: 5")] * 10


def mutate(rng: random.Random, raw: bytes) -> bytes:
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        pos = rng.randint(0, len(raw))
        op = rng.randrange(7)
        if op == 0:
            raw = raw[:pos] + rng.choice(INSERTS) + raw[pos:]
        elif op == 1:
            raw = raw[:pos] + raw[pos + rng.randint(1, 6) :]
        elif op == 2:  # a CRLF becomes LF, or LF becomes CRLF
            crlf = raw.find(b"\r\n", pos)
            raw = raw[:crlf] + raw[crlf + 1 :] if crlf >= 0 else raw.replace(b"\n", b"\r\n", 1)
        elif op == 3:  # a framing header after the status line
            line_end = raw.find(b"\n") + 1
            raw = (
                raw[:line_end] + rng.choice(FRAMING) + rng.choice([b"\r\n", b"\r\n", b"\n"]) + raw[line_end:]
            )
        elif op == 4:  # splice with another head
            other = rng.choice(SEEDS)
            raw = raw[:pos] + other[rng.randint(0, len(other)) :]
        elif op == 5:  # a line repeated
            start = raw.rfind(b"\n", 0, pos) + 1
            end = raw.find(b"\n", pos) + 1 or len(raw)
            raw = raw[:end] + raw[start:end] + raw[end:]
        else:
            raw = raw[:pos]
    return raw


def fuzz(seed: int, count: int) -> None:
    rng = random.Random(seed)
    plain = 0  # heads httptools' parser parsed without the pure one
    for _ in range(count):
        raw = mutate(rng, rng.choice(SEEDS))
        method = "HEAD" if rng.random() < 0.1 else "GET"
        cuts = [rng.randint(1, max(1, len(raw) - 1)) for _ in range(rng.randint(1, 3))]
        assert_equivalent(raw, method, cuts)
        if http1_httptools is not None:
            with mock.patch.object(http1, "parse_response_head", wraps=http1.parse_response_head) as pure:
                by_gfetch(http1_httptools.parse_response_head, raw, method)
            plain += not pure.called
    if http1_httptools is not None:  # both of its paths were taken, and often
        assert count // 10 < plain < count - count // 10, plain


def test_fuzz() -> None:
    fuzz(20261126, 3000)


@pytest.mark.slow
def test_fuzz_long() -> None:
    fuzz(1, 30000)


# -- choosing the parser --------------------------------------------------
def test_parser_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GFETCH_PARSER", "python")
    assert connection.preferred_head_parser() is http1.parse_response_head
    monkeypatch.setenv("GFETCH_PARSER", "fast")
    with pytest.raises(ValueError, match="GFETCH_PARSER='fast'"):
        connection.preferred_head_parser()
    monkeypatch.delenv("GFETCH_PARSER")
    assert connection.preferred_head_parser() is http1.parse_response_head  # the faster one, by default
    if http1_httptools is not None:
        monkeypatch.setenv("GFETCH_PARSER", "httptools")
        assert connection.preferred_head_parser() is http1_httptools.parse_response_head


def test_connections_use_the_chosen_parser() -> None:
    assert connection.parse_response_head is connection.preferred_head_parser()


def test_parser_choice_without_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httptools", None)  # import httptools now fails
    monkeypatch.delitem(sys.modules, "gfetch.http11.parser_httptools", raising=False)
    monkeypatch.delenv("GFETCH_PARSER", raising=False)
    assert connection.preferred_head_parser() is http1.parse_response_head
    monkeypatch.setenv("GFETCH_PARSER", "httptools")
    with pytest.raises(ModuleNotFoundError, match=r"gfetch\[httptools\]"):
        connection.preferred_head_parser()
    with pytest.raises(ModuleNotFoundError, match=r"gfetch\[httptools\]"):
        importlib.import_module("gfetch.http11.parser_httptools")


# -- request heads --------------------------------------------------------
class _CaptureSocket:
    def __init__(self) -> None:
        self.sent = bytearray()

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def settimeout(self, timeout: Any) -> None:
        pass


class _CaptureConnection:
    """What the pool's body loop needs of a Connection."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def send(self, data: bytes) -> None:
        self.sent += data


def urllib3_writes(
    scheme: str, host: str, port: int, method: str, url: str, body: Any, headers: Any, chunked: bool
) -> bytes:
    conn = (HTTPSConnection if scheme == "https" else HTTPConnection)(host, port)
    conn.sock = sock = _CaptureSocket()  # type: ignore[assignment]
    conn.request(method, url, body=body, headers=headers, chunked=chunked)
    return bytes(sock.sent)


def gfetch_writes(
    scheme: str, host: str, port: int, method: str, url: str, body: Any, headers: Any, chunked: bool
) -> bytes:
    pool = LeanPool(scheme, host, port, None, 1, False, _get_default_user_agent())
    chunks = body_to_chunks(body, method=method, blocksize=16384)
    request_head, chunked = http1.encode_request(
        method,
        url,
        headers if headers is not None else {},
        pool._host_header,
        _get_default_user_agent(),
        chunks.content_length,
        chunks.chunks is not None,
        chunked,
    )
    conn = _CaptureConnection()
    if chunks.chunks is not None:
        _send_body(conn, chunks.chunks, chunked)  # type: ignore[arg-type]
    return request_head + bytes(conn.sent)


def outcome(write: Callable[..., bytes], *args: Any) -> tuple:
    try:
        return ("ok", write(*args))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def gen_body() -> Any:
    yield b"ab"
    yield ""
    yield "cé"


# (id, body factory, headers, extra: method/url/host/port/scheme/chunked)
REQUESTS: list[tuple] = [
    ("plain GET", None, None, {}),
    (
        "session-like headers",
        None,
        {
            "User-Agent": "python-requests/2.32",
            "Accept-Encoding": "gzip, deflate",
            "Accept": "*/*",
            "Connection": "keep-alive",
        },
        {},
    ),
    ("empty target", None, None, {"url": ""}),
    ("query", None, None, {"url": "/a/b?x=1&y=%20"}),
    ("IPv6 host", None, None, {"host": "::1", "port": 8080}),
    ("IPv6 default port", None, None, {"host": "::1", "port": 80}),
    ("default port", None, None, {"host": "example.com", "port": 80}),
    ("https default port", None, None, {"scheme": "https", "host": "example.com", "port": 443}),
    ("https port 80", None, None, {"scheme": "https", "host": "example.com", "port": 80}),
    ("trailing dot host", None, None, {"host": "localhost.", "port": 8000}),
    ("own Host", None, {"Host": "other:1"}, {}),
    ("own host lower case", None, {"host": "other"}, {}),
    ("bytes header names", None, {b"X-Bytes": b"v", b"Accept-Encoding": b"br"}, {}),
    ("int value", None, {"X-Int": 5}, {}),
    ("latin-1 value", None, {"X-V": "caf\xe9"}, {}),
    ("continuation value", None, {"X-V": "a\r\n b"}, {}),
    ("bytes body", lambda: b"hello", None, {"method": "POST"}),
    ("empty bytes body", lambda: b"", None, {"method": "POST"}),
    ("str body", lambda: "héllo", None, {"method": "POST"}),
    ("file body", lambda: io.BytesIO(b"file data"), None, {"method": "PUT"}),
    ("iterator body", gen_body, None, {"method": "POST"}),
    ("list body", lambda: [b"a", b"bc"], None, {"method": "POST"}),
    ("GET without body", None, None, {"method": "GET"}),
    ("POST without body", None, None, {"method": "POST"}),
    ("PUT without body", None, None, {"method": "PUT"}),
    ("explicit chunked", lambda: b"hello", None, {"method": "POST", "chunked": True}),
    (
        "explicit chunked with TE",
        lambda: b"hello",
        {"Transfer-Encoding": "chunked"},
        {"method": "POST", "chunked": True},
    ),
    ("own Content-Length", gen_body, {"Content-Length": "5"}, {"method": "POST"}),
    ("own Transfer-Encoding", lambda: b"hello", {"Transfer-Encoding": "chunked"}, {"method": "POST"}),
    ("SKIP_HEADER user-agent", None, {"User-Agent": SKIP_HEADER}, {}),
    ("SKIP_HEADER accept-encoding and host", None, {"Accept-Encoding": SKIP_HEADER, "Host": SKIP_HEADER}, {}),
    ("SKIP_HEADER elsewhere", None, {"X-A": SKIP_HEADER}, {}),
    ("invalid name colon", None, {"X:A": "v"}, {}),
    ("invalid name space", None, {" X": "v"}, {}),
    ("invalid name empty", None, {"": "v"}, {}),
    ("invalid name CRLF", None, {"X\r\nY": "v"}, {}),
    ("invalid value LF", None, {"X-A": "a\nb"}, {}),
    ("invalid value CR", None, {"X-A": "a\rb"}, {}),
    ("invalid value trailing CRLF", None, {"X-A": "a\r\n"}, {}),
    ("non-ASCII name", None, {"X-\xe9": "v"}, {}),
    ("value outside latin-1", None, {"X-A": "\u20ac"}, {}),
    ("method with space", None, None, {"method": "GET X"}),
    ("method with CR", None, None, {"method": "GET\r"}),
    ("target with space", None, None, {"url": "/a b"}),
    ("target with control", None, None, {"url": "/a\x00"}),
    ("non-ASCII target", None, None, {"url": "/caf\xe9"}),
]


@pytest.mark.parametrize("case", REQUESTS, ids=[case[0] for case in REQUESTS])
def test_request_head_as_urllib3_writes_it(case: tuple) -> None:
    _, body, headers, extra = case
    args = {
        "scheme": "http",
        "host": "127.0.0.1",
        "port": 8080,
        "method": "GET",
        "url": "/path",
        "chunked": False,
        **extra,
    }

    def call(write: Callable[..., bytes]) -> tuple:
        return outcome(
            write,
            args["scheme"],
            args["host"],
            args["port"],
            args["method"],
            args["url"],
            body() if body is not None else None,
            headers,
            args["chunked"],
        )

    expected = call(urllib3_writes)
    assert call(gfetch_writes) == expected
    if expected[0] == "ok":
        assert b"\r\n\r\n" in expected[1]


def test_request_corpus_covers_both_outcomes() -> None:
    results = {
        case[0]: outcome(urllib3_writes, "http", "::1", 80, "POST", "/", None, case[2], False)
        for case in REQUESTS
        if case[2] is not None
    }
    assert results["SKIP_HEADER user-agent"][1].startswith(b"POST / HTTP/1.1\r\nHost: [::1]\r\n")
    assert {r[1] for r in results.values() if r[0] == "raised"} == {ValueError, UnicodeEncodeError}


@pytest.mark.parametrize("value", [True, 1.0])
def test_request_header_value_equal_to_an_earlier_one(value: Any) -> None:
    """A value equal to an earlier one but of another type (1, True, 1.0) is written as urllib3 writes it."""
    for headers in ({"X-One": 1}, {"X-One": value}):
        args = ("http", "127.0.0.1", 8080, "GET", "/", None, headers, False)
        assert outcome(gfetch_writes, *args) == outcome(urllib3_writes, *args)
