"""Slots for the response classes gfetch derives from io-based ones, and reading them back.

Imports nothing of gfetch's.

http.client's and urllib3's responses are io objects: CPython keeps their
attributes in a dict that its specialised attribute reads do not cover, so
every read of one takes the generic lookup. gfetch's subclasses
(``HeadResponse``, ``GreenHTTPResponse``) keep the attributes they and their
library set in slots instead, which those reads do cover; a name the
library's classes define themselves (a property, a default) is left to
them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["attributes_of", "unclaimed"]


def unclaimed(base: type, names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` but those ``base`` or one of its bases defines: slots for a subclass of ``base``."""
    return tuple(name for name in names if not any(name in vars(cls) for cls in base.__mro__))


def attributes_of(obj: object) -> dict[str, Any]:
    """``obj``'s attributes: those its class keeps in slots (the ones set), then its ``__dict__``'s."""
    found = {name: getattr(obj, name) for name in getattr(type(obj), "__slots__", ()) if hasattr(obj, name)}
    found.update(vars(obj))
    return found
