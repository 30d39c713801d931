"""The ``requests.PreparedRequest`` gfetch.Session prepares, built without the steps that set nothing.

Imports requests and gfetch.http11.rawresponse (the check that two objects were built alike).

``new_prepared(method)`` is ``PreparedRequest()`` then ``prepare_method(method)``: for a ``str``
method it sets ``__init__``'s attributes directly (``__init__`` builds the hooks through
``default_hooks()``, ``prepare_method`` calls ``to_native_string``). ``prepare_body`` skips
requests' ``prepare_body`` for a GET or HEAD without a body, for which it sets ``body`` to the
None it already is (after two ABC checks of ``data``). Both hold while requests' class and its
methods are the ones shipped (checked per call, by identity) and ``built_as_init()`` (checked once,
at import) finds the result the same as requests' own; otherwise requests' own steps run.
"""

from __future__ import annotations

from typing import Any

import requests
import requests.models

from gfetch.http11.rawresponse import built_alike

__all__ = ["built_as_init", "new_prepared", "prepare_body"]

_CLASS = requests.models.PreparedRequest
_INIT, _PREPARE_METHOD, _PREPARE_BODY = _CLASS.__init__, _CLASS.prepare_method, _CLASS.prepare_body
_EMPTY_DATA_TYPES = (type(None), dict, list, tuple, str, bytes)  # no side effects when tested for emptiness
_EMPTY_FILES_TYPES = (type(None), dict, list, tuple)
_BODYLESS_METHODS = ("GET", "HEAD")  # prepare_content_length adds no Content-Length: 0 for these


def new_prepared(method: str | bytes) -> requests.PreparedRequest:
    """``requests.PreparedRequest()`` with ``prepare_method(method)`` done."""
    cls = requests.PreparedRequest
    if (
        _BUILT_AS_INIT
        and type(method) is str
        and cls is _CLASS
        and cls.__init__ is _INIT  # type: ignore[misc]  # read, to tell a replaced one
        and cls.prepare_method is _PREPARE_METHOD
    ):
        return _built_prepared(method.upper())
    prepared = cls()
    prepared.prepare_method(method)  # type: ignore[arg-type]  # requests takes bytes methods
    return prepared


def _built_prepared(method: str | None) -> requests.PreparedRequest:
    """What ``PreparedRequest.__init__`` sets, set directly in its order (so CPython keeps the
    class's shared-key layout), with ``method`` in place of None."""
    prepared: requests.PreparedRequest = _CLASS.__new__(_CLASS)
    prepared.method = method
    prepared.url = None
    prepared.headers = None  # type: ignore[assignment]  # as __init__ sets it
    prepared._cookies = None  # type: ignore[attr-defined]  # private, not in requests' stubs
    prepared.body = None
    prepared.hooks = {"response": []}
    prepared._body_position = None  # type: ignore[attr-defined]  # private, not in requests' stubs
    return prepared


def prepare_body(prepared: requests.PreparedRequest, data: Any, files: Any, json: Any) -> None:
    """``prepared.prepare_body(data, files, json)``, skipped where it would leave ``body`` None
    and add no header: no JSON, empty ``data`` and ``files`` of plain types, a GET or HEAD."""
    if (
        json is None
        and type(data) in _EMPTY_DATA_TYPES
        and not data
        and type(files) in _EMPTY_FILES_TYPES
        and not files
        and prepared.method in _BODYLESS_METHODS
        and type(prepared) is _CLASS
        and _CLASS.prepare_body is _PREPARE_BODY
        and prepared.body is None
    ):
        return
    prepared.prepare_body(data, files, json)


def built_as_init() -> bool:
    """Whether :func:`_built_prepared` makes what ``PreparedRequest()`` does (:func:`built_alike`)."""
    return built_alike(_CLASS(), _built_prepared(None))


_BUILT_AS_INIT = built_as_init()
