"""Short, stable descriptions of failed requests, for the command line's records.

Imports requests, urllib3, the stdlib exception types and
gfetch.fanout.requesterrors (RequestCancelled).

requests' own messages nest urllib3's pool and connection reprs ("Max retries
exceeded ... Caused by NewConnectionError(...)"), which change with the
transport. A script wants the root cause and a kind it can switch on; so this
walks the exception chain down to the first cause and names the kind from
stdlib, urllib3 and requests exception classes and errno values only.
"""

from __future__ import annotations

import errno
import http.client
import re
import socket
import ssl

import requests
import urllib3.exceptions

from gfetch.fanout.requesterrors import RequestCancelled

__all__ = ["ERROR_KINDS", "describe_failure"]

ERROR_KINDS = {
    "refused": "the server refused the connection (nothing listens on that port)",
    "unreachable": "no route to the host or network",
    "dns": "the host name could not be resolved",
    "tls": "the TLS handshake or certificate check failed",
    "timeout": "connecting or waiting for the answer took longer than the timeout",
    "reset": "the connection was reset, or closed before any answer",
    "protocol": "the answer was not valid HTTP (bad status line, truncated or broken body)",
    "redirects": "too many redirects",
    "proxy": "the proxy could not be reached, or failed the request (error says why)",
    "cancelled": "the request was cancelled before it finished",
    "invalid_url": "the URL is malformed, or its scheme (or the proxy's) is not supported",
    "other": "anything else",
}

_ERRNO_KINDS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.ECONNABORTED: "reset",
    errno.EPIPE: "reset",
    errno.ETIMEDOUT: "timeout",
    errno.ENETUNREACH: "unreachable",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETDOWN: "unreachable",
    errno.EHOSTDOWN: "unreachable",
}
_INVALID_URL = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.URLRequired,
    urllib3.exceptions.LocationValueError,
)
_PROTOCOL = (
    http.client.HTTPException,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.DecodeError,
    urllib3.exceptions.HeaderParsingError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_TIMEOUTS = (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError)
# Modules whose OSErrors read well on their own: "[Errno 111] Connection refused".
_PLAIN_MODULES = {"builtins", "socket", "ssl", "http.client"}
_MAX_CHAIN = 16
_MAX_TEXT = 300


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """``(error, kind)`` for a request's exception.

    ``error`` is the exception's class and its root cause, e.g.
    ``"ConnectionError: [Errno 111] Connection refused"``; ``kind`` is one of
    :data:`ERROR_KINDS`.
    """
    chain = _chain(exc)
    root = chain[-1]
    text = _clean(str(exc)) if root is exc else _root_text(root)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__, _kind(chain)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first."""
    chain = [exc]
    seen = {id(exc)}
    while len(chain) < _MAX_CHAIN:
        cause = _cause(chain[-1])
        if cause is None or id(cause) in seen:
            break
        chain.append(cause)
        seen.add(id(cause))
    return chain


def _cause(exc: BaseException) -> BaseException | None:
    """The exception ``exc`` wraps: urllib3's ``reason``, an exception among its
    args (requests and urllib3 wrap that way), else the ``raise ... from`` cause
    or the implicit context, as a traceback would show it."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for arg in exc.args:
        if isinstance(arg, BaseException):
            return arg
    if exc.__cause__ is not None:
        return exc.__cause__
    if exc.__context__ is not None and not exc.__suppress_context__:
        return exc.__context__
    return None


def _kind(chain: list[BaseException]) -> str:
    top = chain[0]
    if isinstance(top, RequestCancelled):
        return "cancelled"
    if any(isinstance(exc, _INVALID_URL) for exc in chain):
        return "invalid_url"
    # Whatever its cause, a proxy's failure says nothing about the target.
    if any(isinstance(exc, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)) for exc in chain):
        return "proxy"
    for exc in reversed(chain):  # then the root cause decides
        kind = _root_kind(exc)
        if kind is not None:
            return kind
    if any(isinstance(exc, _TIMEOUTS) for exc in chain):
        return "timeout"
    if any(isinstance(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)) for exc in chain):
        return "tls"
    if isinstance(top, requests.exceptions.TooManyRedirects):
        return "redirects"
    if any(isinstance(exc, _PROTOCOL) for exc in chain):
        return "protocol"
    return "other"


def _root_kind(exc: BaseException) -> str | None:
    # Before errno: an SSLCertVerificationError carries errno 1.
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return "tls"
    if isinstance(exc, (socket.gaierror, urllib3.exceptions.NameResolutionError)):
        return "dns"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionResetError):  # also http.client's RemoteDisconnected
        return "reset"
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        return _ERRNO_KINDS.get(exc.errno)
    return None


def _root_text(root: BaseException) -> str:
    text = _clean(str(root))
    name = type(root).__name__
    if not text:
        return name
    if (isinstance(root, OSError) and type(root).__module__ in _PLAIN_MODULES) or text.startswith(name):
        return text
    return f"{name}: {text}"


def _clean(text: str) -> str:
    """One printable line: no OpenSSL source locations, no urllib3 pool reprs."""
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    text = re.sub(r"^\w+\(host=[^)]*\): ", "", text)
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."
