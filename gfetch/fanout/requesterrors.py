"""The failures gfetch itself gives a request: both are ``requests.Timeout``.

Imports requests.
"""

from __future__ import annotations

import requests

__all__ = ["RequestCancelled", "RequestDeadlineExceeded"]


class RequestCancelled(requests.exceptions.Timeout):
    """The request was cancelled because the call's ``gtimeout`` expired."""


class RequestDeadlineExceeded(requests.exceptions.Timeout):
    """The request did not finish within its ``deadline=`` (connect, send,
    response, body, retries and their waits, all together)."""
