"""``response.raw`` of gfetch's pool: urllib3's HTTPResponse, built and read with fewer steps.

Imports urllib3, gfetch.http11.parser (the parsed head it is made from) and
gfetch.http11.slots (its attributes' layout).

requests reads every body through ``raw.stream(10240, decode_content=True)``,
and urllib3's ``read(amt)`` then runs each piece through its decoder and a
byte-queue buffer and reads once more to learn that the body has ended, even
when the body has no Content-Encoding. :meth:`GreenHTTPResponse.read` returns
the same bytes, raises the same exceptions at the same call and leaves the
response in the same state, without those steps; anything else (a decoder,
buffered decoded bytes, ``amt=None``) is urllib3's own ``read``.

:func:`new_raw_response` builds one as urllib3's ``__init__`` would, with
its attributes set directly (see :func:`built_as_init`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from urllib3 import HTTPHeaderDict
from urllib3 import connection as urllib3_connection
from urllib3.response import BytesQueueBuffer, HTTPResponse
from urllib3.util.retry import Retry

from gfetch.http11.parser import HeadFields, ResponseHead, parse_response_head
from gfetch.http11.slots import attributes_of, unclaimed

__all__ = ["GreenHTTPResponse", "built_alike", "built_as_init", "new_raw_response"]


class _MadeOnFirstUse:
    """An attribute of urllib3's that a raw response of gfetch's pool makes, with ``make``,
    when first looked for (found in the class only while the instance has none)."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        self._make = make

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, response: Any, owner: type | None = None) -> Any:
        if response is None:
            return self
        value = response.__dict__[self._name] = self._make(response)
        return value


class GreenHTTPResponse(HTTPResponse):
    """urllib3's HTTPResponse over a body of gfetch's pool (see the module docstring)."""

    # What urllib3's ``__init__`` sets, in its order (gfetch.http11.slots).
    __slots__ = unclaimed(
        HTTPResponse,
        (
            "status",
            "version",
            "version_string",
            "reason",
            "decode_content",
            "_has_decoded_content",
            "_request_url",
            "_retries",
            "chunked",
            "_decoder",
            "_decoder_initialized",
            "enforce_content_length",
            "auto_close",
            "_body",
            "_uncached_read_occurred",
            "_fp",
            "_original_response",
            "_fp_bytes_read",
            "msg",
            "_pool",
            "_connection",
            "_sock_shutdown",
            "chunk_left",
            "length_remaining",
        ),
    )

    # Most bodies are read in one piece, without a buffer of decoded bytes.
    _decoded_buffer = _MadeOnFirstUse(lambda response: BytesQueueBuffer())
    # requests reads its own copy of the headers, and framing and decoding are told from the
    # parsed fields (``_original_response``, a HeadFields), which the headers are made from.
    headers = _MadeOnFirstUse(lambda response: headers_of(response._original_response))

    def _init_decoder(self) -> None:
        if not self._decoder_initialized and "headers" not in self.__dict__:
            # Made by gfetch's pool over its HeadResponse: the parsed head is there.
            head: HeadFields = self._original_response  # type: ignore[assignment]
            first = head.unique_first()
            if first is not None and "content-encoding" not in first:
                self._decoder_initialized = True  # urllib3's conclusion: no Content-Encoding, no decoder
                return
        super()._init_decoder()

    def _holds_decoded(self) -> bool:
        """Whether decoded bytes wait in the buffer (told without making one)."""
        return bool(self.__dict__.get("_decoded_buffer"))

    def read(
        self, amt: int | None = None, decode_content: bool | None = None, cache_content: bool = False
    ) -> Any:
        if amt is None or amt <= 0 or self._holds_decoded():
            return super().read(amt, decode_content, cache_content)
        self._init_decoder()
        if self._decoder is not None:
            return super().read(amt, decode_content, cache_content)
        data = self._raw_read(amt)
        if not data or len(data) >= amt:
            return data
        # urllib3 reads on until it has ``amt`` bytes or the body ends.
        original = self._original_response
        if original is not None and original.isclosed() and self.length_remaining in (0, None):
            original.close()  # the read urllib3 makes here finds the end and closes it
            return data
        more = self._raw_read(amt)
        if not more:
            return data
        self._decoded_buffer.put(data)
        self._decoded_buffer.put(more)
        while len(self._decoded_buffer) < amt and more:
            more = self._raw_read(amt)
            self._decoded_buffer.put(more)
        return self._decoded_buffer.get(amt)

    def read_buffered(self) -> bytes | None:
        """The whole body, when it is all received already and needs no decoding; else None
        (read it as urllib3 does).

        What requests' ``content`` gets through ``stream()``, in one step: the
        response is left as reading it that way leaves it (closed, its length
        counted, its connection released). Nothing can fail here: no byte is
        received, and none decoded.
        """
        original = self._original_response
        rest = self._undecoded_rest() if getattr(original, "holds_body", _no)() else None
        if rest is None:
            return None
        data: bytes = original.read_held()  # type: ignore[union-attr]  # a HeadResponse: it holds a body
        if not data:
            original.close()  # type: ignore[union-attr]  # as urllib3 does when a read returns nothing
        self._fp_bytes_read += len(data)
        self.length_remaining = rest - len(data)
        self.release_conn()
        return data

    def rest_size(self) -> int | None:
        """The ``amt`` that reads the rest of the body in one ``read``: its remaining
        length, when it is sized, not chunked and needs no decoding; else None.

        requests' ``content`` reads ``iter_content(10240)``: seven passes through
        urllib3's and http.client's read layers, and a copy of each piece, for a
        64 KiB body. ``iter_content(rest_size())`` reads the same bytes, through
        the same code (hence with the same exceptions), in one.
        """
        return self._undecoded_rest() or None

    def _undecoded_rest(self) -> int | None:
        """The rest of a sized body that is not chunked and needs no decoding (no
        decoder, no decoded bytes waiting): its length; else None."""
        if self.chunked or self.length_remaining is None or self._holds_decoded():
            return None
        self._init_decoder()
        return None if self._decoder is not None else self.length_remaining


# What a raw response of gfetch's pool makes when first looked for.
MADE_ON_FIRST_USE = tuple(
    name for name, value in vars(GreenHTTPResponse).items() if isinstance(value, _MadeOnFirstUse)
)


def _no() -> bool:
    return False


class ResponseHeaders(HTTPHeaderDict):
    """urllib3's HTTPHeaderDict that may hold the parsed (name, value) tuples
    as its entries, and whose ``get`` reads the store in one step.

    Discussion: urllib3 stores a ``[name, value, ...]`` list per name. A
    head with no repeated name stores the parser's own tuples instead: no
    copy, and no list per header that the cyclic garbage collector would
    visit for as long as the response is kept. ``add`` turns a tuple into a
    list before appending to it, and ``getlist`` answers lists, so nothing
    observable changes. urllib3's ``get`` is the Mapping ABC's (``try:
    self[key]``), and urllib3 asks a response's headers for its framing and
    encoding at every read; the answers are the same.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        if type(key) is not str:
            return super().get(key, default)
        values = self._container.get(key.lower())
        if values is None:
            return default
        return values[1] if len(values) == 2 else ", ".join(values[1:])

    def add(self, key: str, val: str, *, combine: bool = False) -> None:
        container = self._container
        lowered = key.lower()
        values = container.get(lowered)
        if type(values) is tuple:
            container[lowered] = list(values)
        super().add(key, val, combine=combine)

    def getlist(self, key: str, *default: Any) -> Any:
        values = self._container.get(key.lower()) if isinstance(key, str) else None
        if type(values) is tuple:
            return list(values[1:])
        return super().getlist(key, *default)


def headers_of(head: HeadFields) -> HTTPHeaderDict:
    """urllib3's headers of the response: what it builds from http.client's message."""
    if head.message is None:
        unique = head.unique_fields()
        if unique is not None and _CONTAINER_ONLY:  # what __init__ would make, made without it
            headers = ResponseHeaders.__new__(ResponseHeaders)
            headers._container = dict(unique)  # type: ignore[arg-type]  # tuples: see ResponseHeaders
            return headers
        headers = ResponseHeaders()
        if unique is not None:
            headers._container = dict(unique)  # type: ignore[arg-type]
        else:
            headers.extend(head.fields)
        return headers
    # urllib3 2.7 unfolds obsolete line folding (in the message too); older ones do not.
    normalize = getattr(urllib3_connection, "_normalize_header_values", None)
    return ResponseHeaders(normalize(head.message) if normalize is not None else head.message.items())


# urllib3's HTTPHeaderDict() holds its container and nothing else (checked here, once).
_CONTAINER_ONLY = list(vars(HTTPHeaderDict())) == ["_container"]


def new_raw_response(
    body: Any,
    head: ResponseHead,
    preload_content: bool,
    decode_content: bool,
    original_response: Any,
    pool: Any,
    connection: Any,
    retries: Any,
    request_method: str,
    request_url: str,
    sock_shutdown: Any,
) -> GreenHTTPResponse:
    """``GreenHTTPResponse(...)`` with these arguments, the status line and headers of
    ``head``, ``version_string="HTTP/1.1"`` and urllib3's other defaults.

    Discussion: urllib3's ``__init__`` passes eighteen keywords through two
    ``__init__`` layers and a generator. When requests asks (no preloading)
    and :func:`built_as_init` finds that setting the attributes directly,
    in ``__init__``'s order, makes the same response, that is done instead;
    otherwise ``__init__`` runs. ``_init_length`` is urllib3's own, but for a
    plain Content-Length. The headers and the decoded-bytes buffer are made
    when first looked for (see :data:`MADE_ON_FIRST_USE`).
    """
    if preload_content or not _BUILT_AS_INIT:
        return GreenHTTPResponse(
            body=body,
            headers=headers_of(head),
            status=head.status,
            version=head.version,
            version_string="HTTP/1.1",
            reason=head.reason,
            preload_content=preload_content,
            decode_content=decode_content,
            original_response=original_response,
            pool=pool,
            connection=connection,
            retries=retries,
            enforce_content_length=True,
            request_method=request_method,
            request_url=request_url,
            sock_shutdown=sock_shutdown,
        )
    return _built_raw_response(
        body,
        head,
        decode_content,
        original_response,
        pool,
        connection,
        retries,
        request_method,
        request_url,
        sock_shutdown,
    )


def _built_raw_response(
    body: Any,
    head: ResponseHead,
    decode_content: bool,
    original_response: Any,
    pool: Any,
    connection: Any,
    retries: Any,
    request_method: str,
    request_url: str,
    sock_shutdown: Any,
) -> GreenHTTPResponse:
    response = GreenHTTPResponse.__new__(GreenHTTPResponse)
    response.status = status = head.status
    response.version = head.version
    response.version_string = "HTTP/1.1"
    response.reason = head.reason
    response.decode_content = decode_content
    response._has_decoded_content = False
    response._request_url = request_url
    response.retries = retries
    # The headers themselves are made when asked for.
    get = head.get if head.unique_first() is not None else headers_of(head).get
    transfer_encoding = get("transfer-encoding") or ""
    # urllib3's test, which is False at once for the usual "" (its split gives [""]).
    response.chunked = bool(transfer_encoding) and "chunked" in [
        coding.strip() for coding in transfer_encoding.lower().split(",")
    ]
    response._decoder = None
    response._decoder_initialized = False
    response.enforce_content_length = True
    response.auto_close = True
    response._body = None
    response._uncached_read_occurred = False
    response._fp = None
    response._original_response = original_response
    response._fp_bytes_read = 0
    response.msg = None
    response._pool = pool
    response._connection = connection
    response._fp = body
    response._sock_shutdown = sock_shutdown
    response.chunk_left = None
    response.length_remaining = _length_remaining(response, get, status, request_method)
    return response  # its ``_decoded_buffer`` is made on first use, last, as __init__ makes it


def _length_remaining(
    response: GreenHTTPResponse, get: Callable[[str], str | None], status: int, request_method: str
) -> int | None:
    """urllib3's ``_init_length(request_method)``, answered at once for the usual
    Content-Length of ASCII digits alone (urllib3 parses it as a set of
    comma-separated values); any other value is urllib3's to judge."""
    length = get("content-length")
    if length is None or response.chunked or not (length.isascii() and length.isdigit()):
        return response._init_length(request_method)
    if status in (204, 304) or 100 <= status < 200 or request_method == "HEAD":
        return 0
    return int(length)


_SAMPLE_HEADS = [
    (200, "GET", {}),
    (200, "GET", {"Content-Length": "12"}),
    (200, "HEAD", {"Content-Length": "12"}),
    (204, "GET", {}),
    (200, "GET", {"Transfer-Encoding": "chunked"}),
    (200, "GET", {"Transfer-Encoding": "gzip, Chunked "}),
    (200, "GET", {"Transfer-Encoding": "chunkedx"}),
    (304, "GET", {"Content-Length": "5, 5"}),
    (101, "GET", {"Content-Length": "7"}),
    (200, "GET", {"Content-Length": "7", "Transfer-Encoding": "chunked"}),
]


def built_as_init() -> bool:
    """Whether :func:`new_raw_response` may skip urllib3's ``__init__``: for
    each of a set of sample heads, both ways build alike (:func:`built_alike`,
    once ``ours`` has made what it makes on first use)."""
    for status, method, fields in _SAMPLE_HEADS:
        block = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        parsed = parse_response_head(f"HTTP/1.1 {status} R\r\n{block}\r\n".encode(), method)
        assert parsed is not None  # a whole head
        head = parsed[0]
        arguments: dict[str, Any] = dict(
            body=io.BytesIO(),
            decode_content=False,
            original_response=head,
            pool=object(),
            connection=None,
            retries=Retry(0),
            request_method=method,
            request_url="/",
            sock_shutdown=object(),
        )
        ours = _built_raw_response(head=head, **arguments)
        for name in MADE_ON_FIRST_USE:
            getattr(ours, name)
        theirs = GreenHTTPResponse(
            headers=headers_of(head),
            status=head.status,
            version=head.version,
            reason=head.reason,
            version_string="HTTP/1.1",
            preload_content=False,
            enforce_content_length=True,
            **arguments,
        )
        # Both alive until compared: a collected response closes itself, changing its attributes.
        if not built_alike(theirs, ours, MADE_ON_FIRST_USE):
            return False
    return True


def built_alike(theirs: object, ours: object, made_later: tuple[str, ...] = ()) -> bool:
    """Whether ``ours``, built without ``__init__``, holds what ``theirs`` does:
    the same attribute names in the same order (but ``made_later``, which
    come where they were first asked for), each the same object, or one of
    the same type (or a subclass: gfetch's cookie jar) that is equal or, like
    it, empty (cookie jars and byte buffers compare by identity)."""
    mine, other = attributes_of(theirs), attributes_of(ours)
    return _in_order(mine, made_later) == _in_order(other, made_later) and all(
        value is other[name]
        or (isinstance(other[name], type(value)) and (value == other[name] or not (value or other[name])))
        for name, value in mine.items()
    )


def _in_order(attributes: dict[str, Any], made_later: tuple[str, ...]) -> list[str]:
    return [name for name in attributes if name not in made_later] + sorted(
        name for name in attributes if name in made_later
    )


_BUILT_AS_INIT = built_as_init()
