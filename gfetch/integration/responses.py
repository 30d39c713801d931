"""The ``requests.Response`` gfetch's adapter fills in, built without ``Response.__init__``.

Imports requests, gfetch.http11.rawresponse (the check that two objects were built alike) and
gfetch.integration.cookiejar.

``new_response`` sets the attributes ``Response.__init__`` sets, in its order, while
``built_as_init()`` (checked once, at import) finds the result the same as ``Response()``; if a
requests release changes ``__init__``, ``Response()`` itself is used. ``encoding_of`` is
requests' ``get_encoding_from_headers``, remembered per Content-Type value.
"""

from __future__ import annotations

from datetime import timedelta

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from gfetch.http11.rawresponse import built_alike
from gfetch.integration.cookiejar import empty_jar

__all__ = ["built_as_init", "encoding_of", "new_response"]

_encodings: dict[str | None, str | None] = {}  # Content-Type value -> requests' encoding for it
_MAX_CONTENT_TYPES = 1000


def encoding_of(headers: CaseInsensitiveDict[str]) -> str | None:
    """requests' ``get_encoding_from_headers(headers)``, remembered per Content-Type value."""
    field = headers._store.get("content-type")  # type: ignore[attr-defined]  # requests' private store, not in its stubs
    content_type = None if field is None else field[1]
    try:
        return _encodings[content_type]
    except KeyError:
        pass
    encoding = get_encoding_from_headers(headers)
    if len(_encodings) >= _MAX_CONTENT_TYPES:
        _encodings.clear()
    _encodings[content_type] = encoding
    return encoding


def new_response(headers: CaseInsensitiveDict[str]) -> requests.Response:
    """``requests.Response()`` with ``headers``: :func:`_built_response` when it
    makes what ``Response()`` makes, else ``Response()`` itself."""
    if _BUILT_AS_INIT:
        return _built_response(headers)
    response = requests.Response()
    response.headers = headers
    return response


def _built_response(headers: CaseInsensitiveDict[str]) -> requests.Response:
    """What ``Response.__init__`` sets, set directly, with ``headers``.

    Discussion: ``__init__`` builds a header dict to be replaced and an
    empty jar through ``cookiejar_from_dict`` (which iterates it), two
    thirds of its time. The attributes are set in ``__init__``'s order, so
    CPython keeps them in the class's shared-key layout.
    """
    response = requests.Response.__new__(requests.Response)
    response._content = False  # type: ignore[assignment]  # requests' "not read yet"; its stubs say bytes | None
    response._content_consumed = False  # type: ignore[attr-defined]  # private, not in requests' stubs
    response._next = None  # type: ignore[attr-defined]  # private, not in requests' stubs
    response.status_code = None  # type: ignore[assignment]  # as __init__ sets it
    response.headers = headers
    response.raw = None
    response.url = None  # type: ignore[assignment]
    response.encoding = None
    response.history = []
    response.reason = None  # type: ignore[assignment]
    response.cookies = empty_jar()
    response.elapsed = _NO_TIME
    response.request = None  # type: ignore[assignment]
    return response


def built_as_init() -> bool:
    """Whether :func:`_built_response` makes what ``requests.Response()`` does (:func:`built_alike`)."""
    return built_alike(requests.Response(), _built_response(CaseInsensitiveDict()))


_NO_TIME = timedelta(0)
_BUILT_AS_INIT = built_as_init()
