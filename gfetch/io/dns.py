"""Name resolution that never blocks the hub.

Imports the stdlib and gfetch.core.threads.

Numeric hosts resolve at once (``AI_NUMERICHOST``), and names under the
special-use ``.invalid`` domain fail at once: RFC 6761 section 6.4 asks
resolver libraries to answer them negatively without a query, so an
unreachable DNS server cannot stall them. Other names go to the system
``getaddrinfo`` in a worker thread (:func:`gfetch.core.threads.run_in_thread`).
"""

from __future__ import annotations

import _socket as _csocket
import socket
from typing import Any

from gfetch.core.threads import run_in_thread

__all__ = ["getaddrinfo"]


def _is_invalid(host: str) -> bool:
    """Whether ``host`` is ``invalid`` or a name under it (RFC 6761)."""
    name = host.rstrip(".").lower()
    return name == "invalid" or name.endswith(".invalid")


def getaddrinfo(
    host: str,
    port: int | str | None,
    family: int = 0,
    type: int = 0,  # noqa: A002 - the stdlib's parameter name
    proto: int = 0,
    flags: int = 0,
    *,
    timeout: float | None = None,
) -> list[tuple[Any, ...]]:
    """``socket.getaddrinfo`` that parks only the calling greenlet.

    Raises:
        socket.gaierror: as the stdlib does for names that don't resolve
            (at once for names under ``.invalid``).
        socket.timeout: resolution took longer than ``timeout``.
    """
    try:
        infos = _csocket.getaddrinfo(host, port, family, type, proto, flags | _csocket.AI_NUMERICHOST)
    except socket.gaierror:
        pass  # not a numeric address: ask the resolver in a thread
    else:
        return [
            (_FAMILIES.get(af, af), _KINDS.get(kind, kind), protocol, canonname, address)
            for af, kind, protocol, canonname, address in infos
        ]
    if _is_invalid(host):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return run_in_thread(socket.getaddrinfo, host, port, family, type, proto, flags, timeout=timeout)  # type: ignore[no-any-return]


# The C getaddrinfo plus these maps give what socket.getaddrinfo gives
# (family and kind as enums) without its per-entry enum calls, which cost CPU
# on every new connection and are the deepest frames a request reaches
# before it waits (see transport).
_FAMILIES = {int(member): member for member in socket.AddressFamily}
_KINDS = {int(member): member for member in socket.SocketKind}
