"""gfetch's own exceptions: hub-level only.

Everything below the transport raises stdlib types (``socket.timeout``,
``socket.gaierror``, ``ConnectionResetError``) and the transport raises
urllib3's, so requests maps them unchanged. These few are about scheduling::

    BaseException
     +-- Timeout                 (gfetch.core.greenlets; not an Exception, so
     |                            ``except Exception`` cannot swallow it)
     +-- GreenletExit            (re-exported from greenlet)
    Exception
     +-- LoopExit                nothing can ever wake the waiting greenlet
     +-- ConcurrentObjectUseError two greenlets wait on one fd direction
"""

from __future__ import annotations

from greenlet import GreenletExit

__all__ = ["ConcurrentObjectUseError", "GreenletExit", "LoopExit"]


class LoopExit(Exception):
    """Raised in the main greenlet when it waits for something no greenlet,
    timer, thread or I/O can ever deliver (a deadlock)."""


class ConcurrentObjectUseError(RuntimeError):
    """Two greenlets tried to wait on the same file descriptor for the same
    direction at once; give each greenlet its own socket."""
