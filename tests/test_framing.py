"""gfetch.http11.framing: where a response body ends, from the bytes its reader hands out.

Each framing must be done exactly at the end of the body, however the bytes
are cut, never before it, never after bytes past it; what it cannot parse
exactly leaves it not done (the connection is then closed, not reused).
"""

from __future__ import annotations

import random

import pytest

from gfetch.http11.framing import Chunked, Framing, Sized, Unbounded

CHUNKED_BODIES = [
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"A \r\n0123456789\r\n0\r\nTrailer: yes\r\nOther: 1\r\n\r\n",
    b"5\nhello\r\n0\n\r\n",  # bare-LF size lines: urllib3 and http.client read them
    b"1" * 1 + b"0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
]
NOT_DONE = {
    "a negative size": b"-5\r\nhello\r\n0\r\n\r\n",
    "a 0x prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "a size that is no number": b"zz\r\nhello\r\n0\r\n\r\n",
    "no CRLF after the data": b"5\r\nhelloXY0\r\n\r\n",
    "a bare-LF end of the trailers": b"5\r\nhello\r\n0\r\n\n",
    "a size line over 64 KiB": b"5;" + b"e" * 70000 + b"\r\nhello\r\n0\r\n\r\n",
}


def _cuts(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    points = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 8))))
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _done_after(framing: Framing, pieces: list[bytes]) -> list[bool]:
    states = []
    for piece in pieces:
        framing.feed(piece)
        states.append(framing.done)
    return states


@pytest.mark.parametrize("body", CHUNKED_BODIES)
def test_a_chunked_body_is_done_exactly_at_its_end_however_it_is_cut(body: bytes) -> None:
    for seed in range(50):
        pieces = _cuts(body, seed)
        assert _done_after(Chunked(), pieces) == [False] * (len(pieces) - 1) + [True], pieces
    assert _done_after(Chunked(), [bytes([b]) for b in body]) == [False] * (len(body) - 1) + [True]


@pytest.mark.parametrize("body", [*CHUNKED_BODIES, *NOT_DONE.values()])
def test_a_range_of_a_buffer_is_fed_as_its_slice_would_be(body: bytes) -> None:
    """``feed(data, start, end)`` reads nothing outside the range: the reader hands out
    parts of its receive buffer without copying them."""
    buffer = b"\r\n0\r\n\r\n" + body + b"\r\n0\r\n\r\n"  # what a peek past either end would misread
    offset = len(buffer) - len(body) - 7
    for seed in range(50):
        pieces = _cuts(body, seed)
        by_range, start = Chunked(), offset
        states = []
        for piece in pieces:
            by_range.feed(buffer, start, start + len(piece))
            start += len(piece)
            states.append(by_range.done)
        assert states == _done_after(Chunked(), pieces), pieces
    sized = Sized(len(body))
    sized.feed(buffer, offset, offset + len(body))
    assert sized.done


@pytest.mark.parametrize("case", NOT_DONE, ids=str)
def test_a_chunked_body_it_cannot_parse_exactly_is_never_done(case: str) -> None:
    body = NOT_DONE[case]
    for seed in range(20):
        assert not any(_done_after(Chunked(), _cuts(body, seed)))


@pytest.mark.parametrize("framing", [lambda: Chunked(), lambda: Sized(5)], ids=["chunked", "sized"])
def test_bytes_past_the_end_undo_done(framing) -> None:
    whole = b"5\r\nhello\r\n0\r\n\r\n" if isinstance(framing(), Chunked) else b"hello"
    f = framing()
    f.feed(whole)
    assert f.done
    f.feed(b"H")
    assert not f.done
    f.feed(b"TTP/1.1 200 OK\r\n\r\n")
    assert not f.done  # never done again


def test_sized() -> None:
    assert Sized(0).done  # HEAD, 204, 304
    f = Sized(5)
    assert _done_after(f, [b"he", b"ll", b"o"]) == [False, False, True]
    over = Sized(3)
    over.feed(b"abcd")  # one read past the end
    assert not over.done


def test_unbounded_is_never_done() -> None:
    f = Unbounded()
    f.feed(b"anything")
    f.feed(b"")
    assert not f.done
