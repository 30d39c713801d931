"""Response heads parsed by httptools (llhttp), with the pure parser's results exactly.

Imports the stdlib, httptools (the ``gfetch[httptools]``
extra) and gfetch.http11.parser. :func:`parse_response_head` has the contract of
:func:`gfetch.http11.parser.parse_response_head`, and gives the same answer for
every input, exceptions and "need more" included.

Discussion: how the answers stay identical. llhttp is stricter than
http.client and differs from it in places (it skips blank lines before a
status line, takes HTTP/0.9 and 2.0, maps a status of "099" to 99, rejects
what http.client reads with the email parser). So llhttp parses only heads
of the plain shape, on which both read the same bytes the same way, and
every other head goes to the pure parser, whole:

* the head is complete (its first CRLF CRLF is in the data): otherwise the
  pure parser decides between "need more", an error and, at EOF or after a
  bare-LF blank line, a head;
* it starts with ``HTTP/1.1`` or ``HTTP/1.0`` and a space; every line ends
  in CRLF (no bare LF, no other CR); it is no longer than
  ``http.client._MAXLINE`` and has no more than ``http.client._MAXHEADERS``
  header lines (both read at call time);
* llhttp accepts it without an error (an upgrade pause too goes to the pure
  parser), reports a status of at least 100, and hands over one field per
  header line (so no folded lines, empty names or dropped fields);
* no multipart or message Content-Type (the email parser reads those as
  MIME; :func:`gfetch.http11.parser.fields_and_first` decides, as for the pure parser).

What llhttp then reports is taken as it is: the reason (stripped as
http.client strips it) and the fields, names and values exactly as the
email parser stores them. Status line, version and framing
(:func:`gfetch.http11.parser.set_framing`) follow the pure parser's rules, and its
llhttp-only checks (Content-Length syntax and duplicates, Transfer-Encoding
with Content-Length) only ever send a head to the pure parser. Interim
responses are skipped as the pure parser skips them.

Speed: on typical heads this costs about what the pure parser costs (a
regular expression over the decoded block is hard to beat from Python
callbacks); see benchmarks/bench_parse.py.
"""

from __future__ import annotations

import http.client

try:
    from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser
except ModuleNotFoundError as e:
    raise ModuleNotFoundError(
        "gfetch.http11.parser_httptools needs httptools: pip install 'gfetch[httptools]'", name=e.name
    ) from e

from gfetch.http11 import parser as http1
from gfetch.http11.parser import ResponseHead, fields_and_first, set_framing

__all__ = ["parse_response_head"]

_SWITCHING_PROTOCOLS = 101
_VERSIONS = {b"HTTP/1.1 ": 11, b"HTTP/1.0 ": 10}


class _Collector:
    """The protocol object httptools calls back: the status reason and the fields, in order."""

    __slots__ = ("reason", "fields", "complete", "on_status")
    # Callbacks httptools looks up and this parse does not need.
    on_message_begin = on_body = on_message_complete = on_chunk_header = on_chunk_complete = None

    def __init__(self) -> None:
        self.reason: list[bytes] = []
        self.on_status = self.reason.append
        self.fields: list[bytes] = []  # name, value, name, value, ...
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields += (name, value)

    def on_headers_complete(self) -> None:
        self.complete = True


def parse_response_head(data: bytes, method: str, eof: bool = False) -> tuple[ResponseHead, int] | None:
    """Parse the response head at the start of ``data`` as gfetch.http11.parser's parser does.

    Returns ``(head, consumed)``, or None when more bytes are needed.

    Raises:
        The pure parser's exceptions (RemoteDisconnected, BadStatusLine,
        UnknownProtocol, LineTooLong, HTTPException) for the same bytes.
    """
    pos = 0
    while True:
        parsed = _parse_plain(data, pos)
        if parsed is None:
            return http1.parse_response_head(data, method, eof)
        head, pos = parsed
        if not 100 <= head.status < 200 or head.status == _SWITCHING_PROTOCOLS:
            return set_framing(head, method), pos
        # an interim response: skip it


def _parse_plain(data: bytes, pos: int) -> tuple[ResponseHead, int] | None:
    """The head at ``pos`` and its end, if it has the plain shape (module docstring); else None."""
    end = data.find(b"\r\n\r\n", pos) + 4
    if end < 4:
        return None
    lines = data.count(b"\n", pos, end)  # status line, header lines, blank line
    version = _VERSIONS.get(data[pos : pos + 9])
    if (
        version is None
        or end - pos > http.client._MAXLINE  # type: ignore[attr-defined]
        or lines - 1 > http.client._MAXHEADERS  # type: ignore[attr-defined]
        or data.count(b"\r\n", pos, end) != lines
        or data.count(b"\r", pos, end) != lines
    ):
        return None
    collector = _Collector()
    parser = HttpResponseParser(collector)
    try:
        parser.feed_data(memoryview(data)[pos:end])
    except (HttpParserError, HttpParserUpgrade):
        return None
    status = parser.get_status_code()
    raw = collector.fields
    if status < 100 or not collector.complete or len(raw) != 2 * (lines - 2):
        return None
    head = ResponseHead(version, status, str(b"".join(collector.reason), "iso-8859-1").strip())
    fields: tuple[tuple[str, str], ...] = ()
    if raw:
        # One decode for all names and values: none holds a CR or LF.
        texts = iter(str(b"\n".join(raw), "iso-8859-1").split("\n"))
        fields = tuple(zip(texts, texts, strict=False))
    plain = fields_and_first(fields, end - pos)
    if plain is None:
        return None
    head.fields, head.first = plain
    return head, end
