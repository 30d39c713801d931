"""``response.raw`` of gfetch's pool: urllib3's HTTPResponse, built and read with fewer steps.

Imports urllib3.

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
from typing import Any

from urllib3 import HTTPHeaderDict
from urllib3.response import BytesQueueBuffer, HTTPResponse
from urllib3.util.retry import Retry

__all__ = ["GreenHTTPResponse", "built_alike", "built_as_init", "new_raw_response"]


class _BufferOnFirstUse:
    """urllib3's ``_decoded_buffer``, made when first looked for (found in the class only
    while the instance has none): most bodies are read in one piece without it."""

    def __get__(self, response: Any, owner: type | None = None) -> Any:
        if response is None:
            return self
        buffer = response.__dict__["_decoded_buffer"] = BytesQueueBuffer()
        return buffer


class GreenHTTPResponse(HTTPResponse):
    """urllib3's HTTPResponse over a body of gfetch's pool (see the module docstring)."""

    _decoded_buffer = _BufferOnFirstUse()

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
        if (
            self.chunked
            or self.length_remaining is None
            or self._holds_decoded()
            or not getattr(original, "holds_body", _no)()
        ):
            return None
        self._init_decoder()
        if self._decoder is not None:
            return None
        data: bytes = original.read()  # type: ignore[union-attr]  # held, so http.client reads it and closes
        self._fp_bytes_read += len(data)
        self.length_remaining -= len(data)
        self.release_conn()
        return data


def _no() -> bool:
    return False


def new_raw_response(
    body: Any,
    headers: HTTPHeaderDict,
    status: int,
    version: int,
    reason: str,
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
    """``GreenHTTPResponse(...)`` with these arguments, ``version_string="HTTP/1.1"``
    and urllib3's other defaults.

    Discussion: urllib3's ``__init__`` passes eighteen keywords through two
    ``__init__`` layers and a generator. When requests asks (no preloading)
    and :func:`built_as_init` finds that setting the attributes directly,
    in ``__init__``'s order, makes the same response, that is done instead;
    otherwise ``__init__`` runs. ``_init_length`` is urllib3's own, but for a
    plain Content-Length.
    """
    if preload_content or not _BUILT_AS_INIT:
        return GreenHTTPResponse(
            body=body,
            headers=headers,
            status=status,
            version=version,
            version_string="HTTP/1.1",
            reason=reason,
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
        headers,
        status,
        version,
        reason,
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
    headers: HTTPHeaderDict,
    status: int,
    version: int,
    reason: str,
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
    response.headers = headers
    response.status = status
    response.version = version
    response.version_string = "HTTP/1.1"
    response.reason = reason
    response.decode_content = decode_content
    response._has_decoded_content = False
    response._request_url = request_url
    response.retries = retries
    transfer_encoding = headers.get("transfer-encoding", "")
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
    response.length_remaining = _length_remaining(response, headers, status, request_method)
    return response  # its ``_decoded_buffer`` is made on first use, last, as __init__ makes it


def _length_remaining(
    response: GreenHTTPResponse, headers: HTTPHeaderDict, status: int, request_method: str
) -> int | None:
    """urllib3's ``_init_length(request_method)``, answered at once for the usual
    Content-Length of ASCII digits alone (urllib3 parses it as a set of
    comma-separated values); any other value is urllib3's to judge."""
    length = headers.get("content-length")
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
    each of a set of sample heads, both ways build alike (:func:`built_alike`)."""
    for status, method, fields in _SAMPLE_HEADS:
        arguments: dict[str, Any] = dict(
            body=io.BytesIO(),
            headers=HTTPHeaderDict(fields),
            status=status,
            version=11,
            reason="R",
            decode_content=False,
            original_response=object(),
            pool=object(),
            connection=None,
            retries=Retry(0),
            request_method=method,
            request_url="/",
            sock_shutdown=object(),
        )
        ours = _built_raw_response(**arguments)
        ours._decoded_buffer  # noqa: B018 - made on first use
        # Both alive until compared: a collected response closes itself, changing its attributes.
        if not built_alike(
            GreenHTTPResponse(
                version_string="HTTP/1.1", preload_content=False, enforce_content_length=True, **arguments
            ),
            ours,
        ):
            return False
    return True


def built_alike(theirs: object, ours: object) -> bool:
    """Whether ``ours``, built without ``__init__``, holds what ``theirs`` does:
    the same attribute names in the same order, each the same object, or one
    of the same type (or a subclass: gfetch's cookie jar) that is equal or,
    like it, empty (cookie jars and byte buffers compare by identity)."""
    mine, other = vars(theirs), vars(ours)
    return list(mine) == list(other) and all(
        value is other[name]
        or (isinstance(other[name], type(value)) and (value == other[name] or not (value or other[name])))
        for name, value in mine.items()
    )


_BUILT_AS_INIT = built_as_init()
