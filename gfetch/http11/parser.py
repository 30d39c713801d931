"""HTTP/1.1 on the wire, sans-IO: request heads out, response heads in.

Imports the stdlib only. Nothing here touches a socket:
:func:`encode_request` turns what requests hands urllib3's ``urlopen`` into
bytes, and :func:`parse_response_head` turns received bytes into a
:class:`ResponseHead`, or says it needs more.

Equivalence is the contract. The request bytes are the ones urllib3 and
http.client send for the same call (header order, the Host, Accept-Encoding
and User-Agent defaults, Content-Length or chunked framing), and a response
head parses to what ``http.client.HTTPResponse.begin()`` makes of the same
bytes: status, reason, version, headers (order, case, duplicates), framing
(chunked, length, will_close), the same exceptions with the same messages,
and the same limits (``http.client._MAXLINE`` and ``_MAXHEADERS``, read at
call time because programs raise them). One deliberate difference: every
interim 1xx response but 101 is skipped, where http.client skips only 100
and hands a 103 over as the response, leaving the real one unread on a
connection that then goes back to the pool.
"""

from __future__ import annotations

import contextlib
import http.client
import re
from collections import OrderedDict
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from email.parser import Parser
from http.client import HTTPException, HTTPMessage, LineTooLong, RemoteDisconnected, UnknownProtocol
from operator import itemgetter
from typing import Any

__all__ = [
    "METHODS_WITHOUT_BODY",
    "IndexedMessage",
    "ResponseHead",
    "encode_request",
    "fields_and_first",
    "first_values",
    "interim_end",
    "message_from_fields",
    "parse_header_block",
    "parse_response_head",
    "set_framing",
    "version_number",
]

_CONTINUE = 100
_SWITCHING_PROTOCOLS = 101
_BLOCK_ENDS = (b"\r\n", b"\n")

# One header line of the plainly safe shape: ``name:value`` ended by CRLF or
# LF, the name made of the characters email.feedparser's headerRE accepts
# (printable, no space, no colon), no other CR. For such a line compat32
# stores (name, value.lstrip(" \t").rstrip("\r\n")): what the groups hold.
_fields = re.compile(r"(?m)^([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*)\r?\n").findall


# -- header blocks -------------------------------------------------------
def parse_header_block(
    block: bytes, nlines: int
) -> tuple[tuple[tuple[str, str], ...], dict[str, tuple[str, str]]] | HTTPMessage:
    """Parse a header block (``nlines`` lines, the blank line included) as http.client does.

    Returns ``(fields, first)`` when every line has the plain ``Name: value``
    shape: the (name, value) pairs the email parser would store (a tuple of
    strings only, which the garbage collector soon stops visiting), and a map
    from lower-cased name to its first pair (whose value ``msg.get`` answers).
    Anything else (folded lines, stray CRs, a multipart or message type,
    which makes the email parser parse the empty body as MIME) is handed to
    the email parser, exactly as http.client does, and its HTTPMessage is
    returned.
    """
    text = block.decode("iso-8859-1")
    fields = _fields(text)
    if len(fields) == nlines - 1 and (plain := fields_and_first(fields, len(block))) is not None:
        return plain
    return Parser(_class=HTTPMessage).parsestr(text)


def first_values(fields: Sequence[tuple[str, str]]) -> dict[str, tuple[str, str]] | None:
    """Lower-cased name -> its first (name, value) pair of plain ``fields``;
    None when the email parser must read them.

    None for a multipart or message Content-Type, with which the email
    parser parses the empty body as MIME. The pairs are the ``fields``'
    own tuples (the header dicts built from them share them).
    """
    # Reversed, so the first occurrence of a name is the one kept.
    return _unless_mime({field[0].lower(): field for field in reversed(fields)})


def _unless_mime(first: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]] | None:
    ctype = first.get("content-type")
    if ctype is None or ("multipart" not in (low := ctype[1].lower()) and "message" not in low):
        return first
    return None


class _RecentFields(dict):  # type: ignore[type-arg]
    """(name, value) -> (lower-cased name, (name, value)): the header fields seen lately,
    each kept as the one pair every head carrying it shares."""

    def __missing__(self, field: tuple[str, str]) -> tuple[str, tuple[str, str]]:
        named = self[field] = (field[0].lower(), field)
        return named


_recent_fields = _RecentFields()
_RECENT_FIELDS = 1024  # forgotten all at once past this many
_SHARED_BLOCK = 4096  # the fields of a larger block are not remembered
_pair_of = itemgetter(1)


def fields_and_first(
    fields: Sequence[tuple[str, str]], size: int
) -> tuple[tuple[tuple[str, str], ...], dict[str, tuple[str, str]]] | None:
    """Plain ``fields`` as a tuple, and :func:`first_values` of them (None when the
    email parser must read them); ``size``: the bytes of the block they came from.

    A pair seen lately is replaced by the pair kept then. Why: heads from
    one server repeat most of their fields (Server, Content-Type, Date
    within its second), and a kept response then holds one object fewer
    per repeated field. CPython collects garbage after a count of new
    container objects, tuples included, so a fan-out that keeps its
    responses is collected about a quarter less often, and its memory-bound
    passes cost more CPU than the lookups (their names come lower-cased
    already). The pairs are immutable: sharing them changes nothing but
    memory. What is remembered is bounded, in entries and by leaving out
    large blocks.
    """
    if size > _SHARED_BLOCK:
        shared = tuple(fields)
        first = first_values(shared)
    else:
        recent = _recent_fields
        if len(recent) >= _RECENT_FIELDS:
            recent.clear()
        named = list(map(recent.__getitem__, fields))
        shared = tuple(map(_pair_of, named))
        named.reverse()  # so the first occurrence of a name is the one kept
        first = _unless_mime(dict(named))
    return None if first is None else (shared, first)


def message_from_fields(fields: Iterable[tuple[str, str]]) -> HTTPMessage:
    """The HTTPMessage the email parser builds for plain ``fields``.

    compat32's ``header_store_parse`` stores a (name, value) pair as it is,
    so the list is the message's header list (``set_raw`` one by one makes
    the same).
    """
    msg = HTTPMessage()
    msg._headers = list(fields)  # type: ignore[attr-defined]
    msg.set_payload("")
    return msg


class IndexedMessage(HTTPMessage):
    """http.client's HTTPMessage that answers ``get_all`` for an absent name at once.

    Cookie extraction asks every response for Set-Cookie2 and Set-Cookie;
    the email package answers by lower-casing every header name twice. The
    names are known from the parse; any change to the header list (a new
    list, or a different length) makes the lookup fall back to the email
    package's own.
    """

    names: tuple[list[Any], int, Container[str]] | None = None

    @classmethod
    def from_head(cls, fields: Sequence[tuple[str, str]], names: Container[str]) -> IndexedMessage:
        """The message of a plain head: a list of ``fields`` (the pairs shared, not copied)
        and their lower-cased ``names``."""
        msg = cls()
        msg._headers = headers = list(fields)  # type: ignore[attr-defined]
        msg.set_payload("")
        msg.names = (headers, len(headers), names)
        return msg

    def get_all(self, name: str, failobj: Any = None) -> Any:
        names = self.names
        if names is not None and names[0] is self._headers and names[1] == len(names[0]):  # type: ignore[attr-defined]
            if name.lower() not in names[2]:
                return failobj
        return super().get_all(name, failobj)


# -- response heads ------------------------------------------------------
class HeadFields:
    """The header fields of a parsed head, and the questions asked of them.

    ``fields`` holds the (name, value) pairs; ``first`` maps lower-cased
    names to their first pair when the block had the plain shape; otherwise
    ``message`` holds the email parser's result and ``first`` is None. Shared
    by :class:`ResponseHead` and by the http.client response gfetch's pool
    makes from it, which keeps the fields instead of the head.
    """

    __slots__ = ()
    fields: Sequence[tuple[str, str]]
    first: dict[str, tuple[str, str]] | None
    message: HTTPMessage | None

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (lower case), as ``msg.get`` answers."""
        if self.first is not None:
            field = self.first.get(name)
            return None if field is None else field[1]
        assert self.message is not None
        return self.message.get(name)  # type: ignore[no-any-return]

    def unique_first(self) -> dict[str, tuple[str, str]] | None:
        """``first`` when the head is plain and no name repeats (its value of a name
        is then what urllib3's headers answer for it); otherwise None."""
        first = self.first
        return first if first is not None and len(first) == len(self.fields) else None

    def unique_fields(self) -> Iterator[tuple[str, tuple[str, str]]] | None:
        """``(lower-cased name, (name, value))`` in order when the head is plain
        and no name repeats (the shape of requests' and urllib3's header
        stores, ready for ``dict()``); otherwise None."""
        first = self.unique_first()
        return None if first is None else reversed(first.items())

    def to_message(self) -> HTTPMessage:
        """The head's headers as http.client's HTTPMessage (built once, on demand)."""
        if self.message is None:
            assert self.first is not None  # a head without ``first`` came with its message
            self.message = IndexedMessage.from_head(self.fields, self.first)  # type: ignore[misc]  # a slot of the subclasses
        return self.message


class ResponseHead(HeadFields):
    """A parsed response head: what ``HTTPResponse.begin()`` sets, and the header fields."""

    __slots__ = (
        "version",
        "status",
        "reason",
        "fields",
        "first",
        "message",
        "chunked",
        "length",
        "will_close",
    )

    def __init__(self, version: int, status: int, reason: str) -> None:
        self.version = version
        self.status = status
        self.reason = reason
        self.fields = ()
        self.first = None
        self.message = None
        self.chunked = False
        self.length: int | None = None
        self.will_close = False


def parse_response_head(data: bytes, method: str, eof: bool = False) -> tuple[ResponseHead, int] | None:
    """Parse the response head at the start of ``data``.

    Returns ``(head, consumed)``, or None when more bytes are needed. With
    ``eof`` the data is all there will be: the result is then what
    http.client makes of these bytes followed by the end of the stream.

    Raises:
        RemoteDisconnected: no byte before the end of the stream.
        BadStatusLine, UnknownProtocol: not an HTTP/1.x status line.
        LineTooLong: a status or header line over ``http.client._MAXLINE``.
        HTTPException: more than ``http.client._MAXHEADERS`` header lines.
    """
    pos = 0
    while True:
        found = _head_at(data, pos, eof)
        if found is None:
            return None
        number, status, reason, status_end, end, nlines = found
        if _is_final(status):
            head = ResponseHead(number, status, reason.strip())
            return _parse_headers(head, data[status_end:end], nlines, method), end
        pos = end  # an interim response: skip it


def interim_end(data: bytes) -> tuple[int, int]:
    """``(end, count)`` of the complete interim (1xx but 101) responses at the start of ``data``.

    What :func:`parse_response_head` skips before the head it returns: a
    reader that drops these bytes as they come, and parses on from ``end``,
    does work in proportion to what it receives however many arrive. Raises
    what :func:`parse_response_head` raises for the same bytes.
    """
    pos = count = 0
    while True:
        found = _head_at(data, pos, False)
        if found is None or _is_final(found[1]):
            return pos, count
        pos = found[4]
        count += 1


def _is_final(status: int) -> bool:
    return not 100 <= status < 200 or status == _SWITCHING_PROTOCOLS


def _head_at(data: bytes, pos: int, eof: bool) -> tuple[int, int, str, int, int, int] | None:
    """``(version, status, reason, status_end, end, nlines)`` of the head at ``pos``;
    None if it is not all there yet."""
    status_end = _line_end(data, pos, eof, "status line")
    if status_end is None:
        return None
    version, status, reason = _status_line(data[pos:status_end])
    # http.client checks the version of all it reads as a response (all
    # but 100), before its headers.
    number = version_number(version) if status != _CONTINUE else 0
    block = _block_end(data, status_end, eof)
    if block is None:
        return None
    return number, status, reason, status_end, *block


def _line_end(data: bytes, pos: int, eof: bool, what: str) -> int | None:
    """The end (after its LF) of the line at ``pos``; None if it is not all there yet."""
    maxline = http.client._MAXLINE  # type: ignore[attr-defined]
    newline = data.find(b"\n", pos)
    if newline < 0:
        if len(data) - pos > maxline:
            raise LineTooLong(what)
        return len(data) if eof else None
    if newline + 1 - pos > maxline:
        raise LineTooLong(what)
    return newline + 1


def _status_line(raw: bytes) -> tuple[str, int, str]:
    line = str(raw, "iso-8859-1")
    if not line:
        raise RemoteDisconnected("Remote end closed connection without response")
    parts = line.split(None, 2)
    if len(parts) == 2:
        parts.append("")
    version, status_text, reason = parts if len(parts) == 3 else ("", "", "")
    if not version.startswith("HTTP/"):
        raise http.client.BadStatusLine(line)
    try:
        status = int(status_text)
    except ValueError:
        raise http.client.BadStatusLine(line) from None
    if status < 100 or status > 999:
        raise http.client.BadStatusLine(line)
    return version, status, reason


def version_number(version: str) -> int:
    if version in ("HTTP/1.0", "HTTP/0.9"):
        return 10  # 0.9 is treated as 1.0, as http.client does
    if version.startswith("HTTP/1."):
        return 11
    raise UnknownProtocol(version)


def _block_end(data: bytes, start: int, eof: bool) -> tuple[int, int] | None:
    """``(end, nlines)`` of the header block from ``start`` (blank line included).

    The first line equal to CRLF or LF ends the block, as in http.client; so
    does the end of the stream. Limits are checked line by line in
    http.client's order only when the block could break one.
    """
    maxline = http.client._MAXLINE  # type: ignore[attr-defined]
    maxheaders = http.client._MAXHEADERS  # type: ignore[attr-defined]
    crlf = data.find(b"\n\r\n", start - 1)
    # An LF blank line counts only before that one: never scan the body beyond it.
    lf = data.find(b"\n\n", start - 1, crlf + 2 if crlf >= 0 else len(data))
    if crlf >= 0 and (lf < 0 or crlf < lf):
        end = crlf + 3
    elif lf >= 0:
        end = lf + 2
    else:
        end = -1
    if end >= 0 and end - start <= maxline and data.count(b"\n", start, end) <= maxheaders:
        return end, data.count(b"\n", start, end)
    return _block_end_by_lines(data, start, eof, maxheaders)


def _block_end_by_lines(data: bytes, start: int, eof: bool, maxheaders: int) -> tuple[int, int] | None:
    pos = start
    nlines = 0
    while True:
        end = _line_end(data, pos, eof, "header line")
        if end is None:
            return None
        nlines += 1
        if nlines > maxheaders:
            raise HTTPException(f"got more than {maxheaders} headers")
        if end == pos or data[pos:end] in _BLOCK_ENDS:
            return end, nlines
        pos = end


def _parse_headers(head: ResponseHead, block: bytes, nlines: int, method: str) -> ResponseHead:
    parsed = parse_header_block(block, nlines)
    if isinstance(parsed, HTTPMessage):
        head.message = parsed
        head.fields = parsed.items()
    else:
        head.fields, head.first = parsed
    return set_framing(head, method)


_ABSENT = (None, None)  # what ``first`` answers for a header the head does not have
_FRAMING_FIELDS = ("transfer-encoding", "connection", "content-length")


def set_framing(head: ResponseHead, method: str) -> ResponseHead:
    """Set ``chunked``, ``length`` and ``will_close`` from the head's headers, as ``begin()`` does."""
    first = head.first
    if first is not None:  # ResponseHead.get's answers, without the calls
        transfer_encoding = first.get("transfer-encoding", _ABSENT)[1]
        connection = first.get("connection", _ABSENT)[1]
        length = first.get("content-length", _ABSENT)[1]
    else:
        transfer_encoding, connection, length = map(head.get, _FRAMING_FIELDS)
    head.chunked = bool(transfer_encoding) and transfer_encoding.lower() == "chunked"  # type: ignore[union-attr]
    if head.version == 11:
        head.will_close = bool(connection) and "close" in connection.lower()  # type: ignore[operator,union-attr]
    else:
        head.will_close = _http10_will_close(connection, head.get)
    if length and not head.chunked:
        try:
            head.length = int(length)
        except ValueError:
            pass
        else:
            if head.length < 0:
                head.length = None  # nonsensical, ignored
    if head.status in (204, 304) or 100 <= head.status < 200 or method == "HEAD":
        head.length = 0
    if not head.will_close and not head.chunked and head.length is None:
        head.will_close = True  # neither chunked nor sized: the body runs to the close
    return head


def _http10_will_close(connection: str | None, get: Any) -> bool:
    """http.client's ``_check_close`` for HTTP/1.0, given the Connection header."""
    if get("keep-alive"):
        return False
    if connection and "keep-alive" in connection.lower():
        return False
    proxy_connection = get("proxy-connection")
    return not (proxy_connection and "keep-alive" in proxy_connection.lower())


# -- request heads -------------------------------------------------------
# urllib3's _METHODS_NOT_EXPECTING_BODY: without a body, they send no Content-Length: 0
METHODS_WITHOUT_BODY = frozenset({"GET", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT"})
# urllib3's check: token characters only
_CONTROL_IN_METHOD = re.compile(r"[^-!#$%&'*+.^_`|~0-9a-zA-Z]").search
_DISALLOWED_IN_TARGET = re.compile("[\x00-\x20\x7f]").search
_legal_header_name = re.compile(rb"[^:\s][^:\r\n]*").fullmatch
_illegal_header_value = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])").search
_SKIP_HEADER = "@@@SKIP_HEADER@@@"  # urllib3.util.SKIP_HEADER
_SKIPPABLE = frozenset({"accept-encoding", "host", "user-agent"})


def encode_request(
    method: str,
    target: str,
    headers: Mapping[str, Any],
    host_header: str,
    user_agent: str,
    body_length: int | None,
    has_body: bool,
    chunked: bool,
) -> tuple[bytes, bool]:
    """The request head urllib3 sends for ``urlopen(method, target, body, headers, chunked=...)``.

    ``body_length`` and ``has_body`` describe the body as urllib3's
    ``body_to_chunks`` does (a length for bytes and str, None for files and
    iterators). Returns the head and whether the body goes chunked.

    Raises:
        ValueError: a method with control characters, an invalid header
            name or value (http.client's messages).
        http.client.InvalidURL: control characters or spaces in the target.
        UnicodeEncodeError: a non-ASCII target or header name, a header
            value outside latin-1.
    """
    if match := _CONTROL_IN_METHOD(method):
        raise ValueError(
            f"Method cannot contain non-token characters {method!r} (found at least {match.group()!r})"
        )
    target = target or "/"
    if match := _DISALLOWED_IN_TARGET(target):
        raise http.client.InvalidURL(
            f"URL can't contain control characters. {target!r} (found at least {match.group()!r})"
        )
    keys, items = _header_view(headers)
    lines = [f"{method} {target} HTTP/1.1".encode("ascii")]
    if "host" not in keys:
        lines.append(b"Host: " + host_header.encode("ascii"))
    if "accept-encoding" not in keys:
        lines.append(b"Accept-Encoding: identity")
    if chunked:
        if "transfer-encoding" not in keys:
            lines.append(b"Transfer-Encoding: chunked")
    elif "content-length" in keys:
        pass
    elif "transfer-encoding" in keys:
        chunked = True
    elif body_length is None:
        if has_body:
            chunked = True
            lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(b"Content-Length: %d" % body_length)
    if "user-agent" not in keys:
        lines.append(b"User-Agent: " + user_agent.encode("latin-1"))
    cache = _header_lines
    for item in items:
        try:
            line = cache[item]
        except (KeyError, TypeError):  # new, or unhashable: validate and encode
            line = _header_line(*item)
            # Only str and bytes values: 1, 1.0 and True are equal keys, written differently.
            if type(item[1]) in _CACHED_VALUE_TYPES:
                if len(cache) >= _MAX_CACHED_LINES:
                    cache.clear()
                with contextlib.suppress(TypeError):
                    cache[item] = line
        if line is not None:
            lines.append(line)
    lines.append(b"\r\n")
    return b"\r\n".join(lines), chunked


def _header_view(headers: Mapping[Any, Any]) -> tuple[Any, Any]:
    """The lower-cased names and the (name, value) pairs of ``headers``.

    requests' CaseInsensitiveDict keeps both in its ``_store`` (lower-cased
    name -> (name, value)): read there, without a method call per header.
    """
    store = getattr(headers, "_store", None)
    if type(store) in (dict, OrderedDict):
        return store.keys(), store.values()  # type: ignore[union-attr]  # a dict when type() says so
    names = {name.lower() if isinstance(name, str) else name.decode().lower() for name in headers}
    return names, headers.items()


# Encoded header lines by (name, value): a fan-out sends the same few headers
# with every request, so each is validated and encoded once.
_header_lines: dict[tuple[Any, Any], bytes | None] = {}
_MAX_CACHED_LINES = 4096
_CACHED_VALUE_TYPES = (str, bytes)


def _header_line(name: Any, value: Any) -> bytes | None:
    """One header as http.client's ``putheader`` writes it (None: urllib3's SKIP_HEADER)."""
    if isinstance(value, str) and value == _SKIP_HEADER:
        lowered = name.lower() if isinstance(name, str) else name.decode("latin-1").lower()
        if lowered not in _SKIPPABLE:
            allowed = "', '".join(sorted(header.title() for header in _SKIPPABLE))
            raise ValueError(f"urllib3.util.SKIP_HEADER only supports '{allowed}'")
        return None
    raw_name = name.encode("ascii") if isinstance(name, str) else name
    if not _legal_header_name(raw_name):
        raise ValueError(f"Invalid header name {raw_name!r}")
    if isinstance(value, str):
        raw_value = value.encode("latin-1")
    elif isinstance(value, int):
        raw_value = str(value).encode("ascii")
    else:
        raw_value = value
    if _illegal_header_value(raw_value):
        raise ValueError(f"Invalid header value {raw_value!r}")
    return raw_name + b": " + raw_value
