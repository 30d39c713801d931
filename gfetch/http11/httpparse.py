"""A faster ``http.client`` response head, exactly equivalent to the stock one.

``http.client.HTTPResponse.begin()`` hands each header block to the ``email``
package (``email.parser.Parser(_class=HTTPMessage).parsestr``), a general MIME
feed parser whose cost dwarfs the plain ``Name: value`` lines servers send,
then looks headers up with ``Message.get``, a case-folding linear scan.

Imports the stdlib and gfetch.http11.parser (the header-block
parser both transports share); gfetch.integration.adapter sets it as its urllib3
connections' ``response_class``.

``FastHTTPResponse`` overrides ``begin()`` only. For a header block of the
plainly safe shape it builds the ``HTTPMessage`` directly, with the very
(name, value) pairs the email parser's compat32 policy would store, and
answers begin()'s own lookups from a dict built in the same pass; anything
else goes to the email parser exactly as http.client does, so odd input gives
identical results by construction. Status line, 1xx skipping, limits,
exceptions and the framing rules are gfetch.http11.parser's, which the tests hold to http.client's.
"""

from __future__ import annotations

import http.client
from http.client import HTTPException, HTTPMessage, LineTooLong
from typing import IO

from gfetch.http11.parser import (
    ResponseHead,
    message_from_fields,
    parse_header_block,
    set_framing,
    version_number,
)

__all__ = ["FastHTTPResponse"]

_CONTINUE = 100
_BLOCK_ENDS = (b"\r\n", b"\n", b"")  # blank line or EOF


def _read_header_lines(fp: IO[bytes]) -> list[bytes]:
    """Read raw header lines up to and including the blank line (or EOF).

    Same limits, checked in the same order, as http.client's reader: the
    terminating line counts towards ``_MAXHEADERS``.
    """
    maxline = http.client._MAXLINE  # type: ignore[attr-defined]  # private: docs/internals.md
    maxheaders = http.client._MAXHEADERS  # type: ignore[attr-defined]  # private: docs/internals.md
    readline = fp.readline
    lines: list[bytes] = []
    while True:
        line = readline(maxline + 1)
        if len(line) > maxline:
            raise LineTooLong("header line")
        lines.append(line)
        if len(lines) > maxheaders:
            raise HTTPException(f"got more than {maxheaders} headers")
        if line in _BLOCK_ENDS:
            return lines


def _parse_header_block(lines: list[bytes]) -> tuple[HTTPMessage, dict[str, tuple[str, str]] | None]:
    """Parse raw header lines (terminator included) as http.client does.

    Returns the message and, when the fast path was taken, a map from
    lower-cased name to its first (name, value) pair (whose value
    ``msg.get(name)`` returns).
    """
    parsed = parse_header_block(b"".join(lines), len(lines))
    if isinstance(parsed, HTTPMessage):
        return parsed, None
    fields, first = parsed
    return message_from_fields(fields), first


class FastHTTPResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` whose ``begin()`` skips the email parser when it safely can."""

    def begin(self) -> None:
        """Read status line and headers; set status, version, headers, length, chunked, will_close."""
        if self.headers is not None:
            return  # already begun

        version, status, reason = self._read_status()
        while status == _CONTINUE:
            skipped = _read_header_lines(self.fp)
            if self.debuglevel > 0:
                print("headers:", skipped)
            version, status, reason = self._read_status()

        self.code = self.status = status
        self.reason = reason.strip()
        # version_number raises UnknownProtocol before the headers are read
        head = ResponseHead(version_number(version), status, self.reason)
        self.version = head.version

        msg, head.first = _parse_header_block(_read_header_lines(self.fp))
        self.headers = self.msg = head.message = msg
        if self.debuglevel > 0:
            for name, value in msg.items():
                print("header:", name + ":", value)
        set_framing(head, self._method)
        self.chunked = head.chunked  # type: ignore[assignment]
        if head.chunked:
            self.chunk_left = None
        self.length = head.length
        self.will_close = head.will_close  # type: ignore[assignment]
