"""The response head parsers under h11's rule, on mutated heads (issue 21).

Whatever the bytes, ``gfetch.http11.parser.parse_response_head`` (and httptools'
one, when installed) either returns a head or raises one of its documented
errors, all subclasses of ``http.client.HTTPException`` (RemoteDisconnected,
BadStatusLine, UnknownProtocol, LineTooLong, HTTPException); never anything
else. And the bytes arriving one at a time give what they give all at once:
``None`` ("need more") until the head is complete, then the same head, with
exactly the bytes seen so far consumed; or the same error.

tests/test_http1.py compares these parsers with http.client on the same
kind of input; this file holds them to their own contract, which also
covers bytes on which http.client itself would fail in some other way.
"""

from __future__ import annotations

import http.client
import random
from collections.abc import Callable
from typing import Any

import pytest
from test_http1 import CORPUS, PARSERS, by_http_client, mutate

MAXLINE = http.client._MAXLINE  # type: ignore[attr-defined]
# Valid heads (each parses under http.client), the mutations' starting points.
VALID = [case[1] for case in CORPUS if len(case[1]) < 4096 and by_http_client(case[1], "GET")[0] == "ok"]
NUMBERS = [b"0", b"-1", b"+1", b"00200", b"1_0", b"9" * 20, b"\xd9\xa5", b"\xb2", b"0x10", b" 5"]


def poke(rng: random.Random, raw: bytes) -> bytes:
    """Byte-level damage on top of test_http1's line-level ``mutate``."""
    raw = mutate(rng, raw)
    for _ in range(rng.choice((0, 1, 1, 2))):
        pos = rng.randrange(len(raw) + 1)
        op = rng.randrange(4)
        if op == 0 and raw:  # one byte replaced by any byte
            raw = raw[:pos] + bytes([rng.randrange(256)]) + raw[pos + 1 :]
        elif op == 1:  # a number replaced: status codes, lengths, chunk sizes
            digits = [i for i in range(len(raw)) if raw[i : i + 1].isdigit()]
            if digits:
                start = end = rng.choice(digits)
                while end < len(raw) and raw[end : end + 1].isdigit():
                    end += 1
                raw = raw[:start] + rng.choice(NUMBERS) + raw[end:]
        elif op == 2:  # a run of non-ASCII or control bytes
            raw = raw[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + raw[pos:]
        else:  # a header line repeated until near (or over) http.client's limit of 100
            start = raw.find(b"\n") + 1
            end = raw.find(b"\n", start) + 1
            if 0 < start < end:
                raw = raw[:end] + raw[start:end] * rng.choice((50, 98, 99, 100)) + raw[end:]
    return raw


def parse(parser: Callable[..., Any], data: bytes, method: str, eof: bool) -> tuple | None:
    """The parser's answer, compared across feeds; errors outside the documented ones propagate."""
    try:
        parsed = parser(data, method, eof)
    except http.client.HTTPException as exc:
        return ("raised", type(exc), str(exc))
    if parsed is None:
        return None
    head, consumed = parsed
    fields = head.fields
    assert isinstance(consumed, int) and 0 < consumed <= len(data), consumed
    assert 100 <= head.status <= 999 and head.version in (10, 11), (head.status, head.version)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in fields)
    framing = (head.chunked, head.length, head.will_close)
    return ("head", (head.version, head.status, head.reason, fields, framing), consumed)


def feeds(size: int) -> list[int]:
    """The prefix lengths fed: every one of a short input, every 7th (and the last 8) of a long one."""
    if size <= 1200:
        return list(range(1, size + 1))
    return sorted(set(range(1, size + 1, 7)) | set(range(max(1, size - 8), size + 1)))


def check(parser: Callable[..., Any], raw: bytes, method: str) -> tuple | None:
    """h11's rule for one input; returns the all-at-once answer."""
    whole = parse(parser, raw, method, eof=False)
    at_eof = parse(parser, raw, method, eof=True)
    assert at_eof is not None, "no answer at the end of the stream"
    for size in feeds(len(raw)):
        got = parse(parser, raw[:size], method, eof=False)
        if got is None:
            continue
        assert got == whole, f"after {size} of {len(raw)} bytes: {got}; all at once: {whole}"
        if got[0] == "head" and len(raw) <= 1200:  # fed every byte: it stopped at the first complete head
            assert got[2] == size, f"consumed {got[2]} of the first {size} bytes that make a head"
        break
    else:
        assert whole is None, f"None for every prefix, {whole} all at once"
    if whole is not None and whole[0] == "head":
        assert at_eof == whole, f"{at_eof} at the end of the stream, {whole} before it"
    return whole


def run(seed: int, count: int) -> None:
    rng = random.Random(seed)
    outcomes: set[Any] = set()
    for i in range(count):
        raw = poke(rng, rng.choice(VALID))
        method = "HEAD" if rng.random() < 0.1 else "GET"
        for parser in PARSERS:
            try:
                whole = check(parser, raw, method)
            except Exception as exc:
                raise AssertionError(
                    f"seed {seed}, input {i}, {parser.__module__}, {method} {raw!r}: {exc!r}"
                ) from exc
            outcomes.add(None if whole is None else whole[0] if whole[0] == "head" else whole[1])
    # The mutations reach every documented error, complete heads, and incomplete ones.
    assert outcomes >= {
        "head",
        None,
        http.client.BadStatusLine,
        http.client.UnknownProtocol,
        http.client.HTTPException,
    }, outcomes


def test_valid_heads_byte_by_byte() -> None:
    for raw in VALID:
        for parser in PARSERS:
            check(parser, raw, "GET")
            assert parse(parser, raw, "GET", eof=True)[0] == "head"  # type: ignore[index]


def test_fuzz() -> None:
    run(20270102, 600)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_fuzz_long() -> None:
    run(2, 20000)
