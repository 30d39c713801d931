"""Where an HTTP/1.1 response body ends, told from the bytes its reader handed out. Sans-IO.

Imports the stdlib only.

http.client and urllib3 decode response bodies (Content-Length accounting,
chunked decoding, their errors); gfetch leaves that to them, byte for byte.
What gfetch's connection must know besides is whether the reader stopped
exactly at the end of the message: only then do the next bytes on the
connection begin the next response, and only then may it carry another
request. A framing object answers that on its own, from every byte the
reader hands out, whoever asks for them and however:

* :class:`Sized` (Content-Length, and the empty bodies of HEAD, 204 and
  304): done when exactly that many bytes were handed out;
* :class:`Chunked`: a parse of the chunked framing (size lines, data and
  its CRLF, trailer lines, the blank line), done at the blank line that ends
  the trailers;
* :class:`Unbounded` (a body that runs to the close, or what follows a
  101): never done.

A framing is stricter than the readers it watches, never looser: what it
cannot parse exactly (a size line with ``0x``, a sign or a bare-LF blank
line at the end, bytes handed out past the end) leaves it not done, and the
connection is closed instead of reused.
"""

from __future__ import annotations

import re

__all__ = ["Chunked", "Framing", "Sized", "Unbounded"]

_MAX_LINE = 65536  # as http.client's _MAXLINE: a longer size or trailer line breaks the framing
_size_line = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n").fullmatch

# Chunked parse states.
_SIZE, _DATA, _DATA_END, _TRAILER, _DONE, _BROKEN = range(6)


class Framing:
    """The end of one response body: ``feed`` it what the reader hands out
    (``data[start:end]``, so the reader need not copy it); ``done`` is true
    once the body has ended exactly at the last byte fed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def feed(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        raise NotImplementedError


class Sized(Framing):
    """A body of ``length`` bytes."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length
        self.done = length == 0

    def feed(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.remaining -= (len(data) if end is None else end) - start
        self.done = self.remaining == 0  # past the end (negative) is not done


class Unbounded(Framing):
    """A body without an end on this connection: it runs to the close."""

    __slots__ = ()

    def feed(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        pass


class Chunked(Framing):
    """A chunked body, parsed as it is handed out."""

    __slots__ = ("_state", "_left", "_line")

    def __init__(self) -> None:
        self.done = False
        self._state = _SIZE
        self._left = 0  # bytes of chunk data, or of the CRLF after it, still to come
        self._line = b""  # the part of a size or trailer line fed so far

    def feed(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        pos, end = start, len(data) if end is None else end
        while pos < end:
            state = self._state
            if state == _DATA:
                taken = min(self._left, end - pos)
                pos += taken
                self._left -= taken
                if not self._left:
                    self._state, self._left = _DATA_END, 2
            elif state == _DATA_END:
                expected = b"\r\n"[2 - self._left :]
                piece = data[pos : min(pos + len(expected), end)]
                if not expected.startswith(piece):
                    self._state = _BROKEN
                    return
                pos += len(piece)
                self._left -= len(piece)
                if not self._left:
                    self._state = _SIZE
            elif state in (_SIZE, _TRAILER):
                pos = self._feed_line(data, pos, end)
            else:  # _DONE: bytes past the end; _BROKEN: nothing more to learn
                self.done = False
                self._state = _BROKEN
                return

    def _feed_line(self, data: bytes, pos: int, end: int) -> int:
        newline = data.find(b"\n", pos, end)
        stop = end if newline < 0 else newline + 1
        line = self._line + data[pos:stop] if self._line else data[pos:stop]
        if len(line) > _MAX_LINE:
            self._state = _BROKEN
            return end
        if newline < 0:
            self._line = line
            return end
        self._line = b""
        if self._state == _TRAILER:
            if line == b"\r\n":
                self._state = _DONE
                self.done = True
            elif line == b"\n":
                self._state = _BROKEN  # http.client ends here, urllib3 reads on: no agreed end
            return stop
        match = _size_line(line)
        if match is None:
            self._state = _BROKEN
        else:
            size = int(match.group(1), 16)
            self._state, self._left = (_DATA, size) if size else (_TRAILER, 0)
        return stop
