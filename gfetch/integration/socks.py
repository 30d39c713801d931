"""SOCKS4, SOCKS4a, SOCKS5 and SOCKS5h proxies, with a handshake that parks only the caller.

Beside gfetch.integration.urllib3_pools, whose connections and pools it extends:
their ``_new_conn`` connects a GreenSocket to the proxy and drives the SOCKS
handshake of the optional sans-IO package ``socksio`` (``gfetch[socks]``)
over it. Everything else (TLS to the target, keep-alive, pool queues) is
transport's.

Errors are raised as urllib3 raises them for PySocks, so requests maps them
alike: a handshake that outlives the connect timeout raises
ConnectTimeoutError (``requests.ConnectTimeout``); every other proxy fault
(refused, unreachable, a failure reply, failed authentication, garbage)
raises NewConnectionError (``requests.ConnectionError``).
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from typing import Any, NamedTuple

from requests.exceptions import InvalidProxyURL, InvalidSchema
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util.connection import allowed_gai_family
from urllib3.util.url import parse_url

from gfetch.integration.urllib3_pools import (
    GreenHTTPConnection,
    GreenHTTPConnectionPool,
    GreenHTTPSConnection,
    GreenHTTPSConnectionPool,
)
from gfetch.io.dns import getaddrinfo
from gfetch.io.sockets import GreenSocket, create_connection

try:
    import socksio
except ImportError:  # the pure path: a SOCKS proxy raises InvalidSchema naming the extra
    socksio = None  # type: ignore[assignment]

__all__ = [
    "GreenSOCKSHTTPConnection",
    "GreenSOCKSHTTPConnectionPool",
    "GreenSOCKSHTTPSConnection",
    "GreenSOCKSHTTPSConnectionPool",
    "GreenSOCKSProxyManager",
    "SOCKSProxy",
]

_VERSIONS = {"socks4": 4, "socks4a": 4, "socks5": 5, "socks5h": 5}
_REMOTE_DNS = {"socks4a", "socks5h"}

_SOCKS4_ERRORS = {
    0x5B: "Request rejected or failed",
    0x5C: "Request rejected because SOCKS server cannot connect to identd on the client",
    0x5D: "Request rejected because the client program and identd report different user-ids",
}
_SOCKS5_ERRORS = {
    0x01: "General SOCKS server failure",
    0x02: "Connection not allowed by ruleset",
    0x03: "Network unreachable",
    0x04: "Host unreachable",
    0x05: "Connection refused",
    0x06: "TTL expired",
    0x07: "Command not supported, or protocol error",
    0x08: "Address type not supported",
}
# Bytes after VER REP RSV ATYP in a SOCKS5 reply, by ATYP (a domain adds its length byte).
_SOCKS5_ADDRESS_SIZES = {1: 4, 4: 16}


def _hide_password(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***``, for messages."""
    parsed = parse_url(url)
    if parsed.auth:
        user = parsed.auth.split(":", 1)[0]
        return parsed._replace(auth=f"{user}:***").url
    return url


class SOCKSProxy(NamedTuple):
    """Where a SOCKS proxy is and how to speak to it; hashable, for urllib3's pool keys."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str, username: str | None = None, password: str | None = None) -> SOCKSProxy:
        """Parse ``socks4|socks4a|socks5|socks5h://[user[:password]@]host[:port]``.

        ``username``/``password`` override the URL's (percent-decoded) user info.
        The port defaults to 1080.

        Raises:
            InvalidSchema: another scheme.
            InvalidProxyURL: a username or password longer than SOCKS allows.
        """
        parsed = parse_url(url)
        scheme = (parsed.scheme or "").lower()
        if scheme not in _VERSIONS:
            raise InvalidSchema(
                f"Unknown SOCKS proxy scheme in {_hide_password(url)}: use socks4, socks4a, socks5 or socks5h"
            )
        if username is None and password is None:
            username, password = parsed.auth_decoded
        if any(len((part or "").encode()) > 255 for part in (username, password)):
            raise InvalidProxyURL(
                f"SOCKS username and password are at most 255 bytes each: {_hide_password(url)}"
            )
        host = (parsed.host or "").strip("[]")
        return cls(scheme, host, parsed.port or 1080, username or None, password)

    @property
    def label(self) -> str:
        """``SOCKS5 proxy host:port``, for messages."""
        return f"SOCKS{_VERSIONS[self.scheme]} proxy {self.host}:{self.port}"


class _ProxyFailure(Exception):
    """The proxy refused the request or answered with something else than SOCKS."""


class _Handshake:
    """Exact-size reads and whole writes on the proxy socket, all before one deadline."""

    def __init__(self, sock: GreenSocket, proxy: SOCKSProxy, deadline: float | None) -> None:
        self.sock = sock
        self.proxy = proxy
        self.deadline = deadline

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.remaining())
        self.sock.sendall(data)

    def receive(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            self.sock.settimeout(self.remaining())
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise _ProxyFailure(f"{self.proxy.label} closed the connection during the handshake")
            data += chunk
        return data

    def invalid(self) -> _ProxyFailure:
        return _ProxyFailure(
            f"{self.proxy.label} sent invalid data (not a SOCKS{_VERSIONS[self.proxy.scheme]} reply)"
        )

    def resolve(self, host: str, port: int, family: int) -> str:
        """The first address of ``host`` (local DNS, for socks4:// and socks5://)."""
        infos = getaddrinfo(host, port, family, socket.SOCK_STREAM, timeout=self.remaining())
        return str(infos[0][4][0])


def _is_ip(host: str, family: int) -> bool:
    try:
        socket.inet_pton(family, host)
    except OSError:
        return False
    return True


def _socks4_connect(shake: _Handshake, host: str, port: int) -> None:
    proxy = shake.proxy
    # Packed here: socksio's packer refuses an empty user id, which is what
    # clients without one send (PySocks, curl).
    user_id = (proxy.username or "").encode() + b"\0"
    if _is_ip(host, socket.AF_INET):
        address, name = socket.inet_aton(host), b""
    elif proxy.scheme in _REMOTE_DNS:
        address, name = b"\0\0\0\xff", host.encode() + b"\0"  # 0.0.0.x: the name follows (SOCKS4a)
    else:
        address, name = socket.inet_aton(shake.resolve(host, port, socket.AF_INET)), b""
    shake.send(struct.pack(">BBH", 4, 1, port) + address + user_id + name)
    try:
        reply = socksio.SOCKS4Reply.loads(shake.receive(8))
    except socksio.ProtocolError:
        raise shake.invalid() from None
    if reply.reply_code != socksio.SOCKS4ReplyCode.REQUEST_GRANTED:
        code = reply.reply_code[0]
        message = _SOCKS4_ERRORS.get(code, "Unknown error")
        raise _ProxyFailure(f"{proxy.label} could not connect to {host}:{port}: {code:#04x}: {message}")


def _socks5_authenticate(shake: _Handshake, connection: Any) -> None:
    proxy = shake.proxy
    methods = [socksio.SOCKS5AuthMethod.NO_AUTH_REQUIRED]
    if proxy.username:
        methods.append(socksio.SOCKS5AuthMethod.USERNAME_PASSWORD)
    connection.send(socksio.SOCKS5AuthMethodsRequest(methods))
    shake.send(connection.data_to_send())
    data = shake.receive(2)
    try:
        if data[0] != 5:
            raise socksio.ProtocolError("not SOCKS5")
        method = connection.receive_data(data).method
    except socksio.ProtocolError:
        raise shake.invalid() from None
    if method == socksio.SOCKS5AuthMethod.NO_ACCEPTABLE_METHODS:
        offered = "username/password or none" if proxy.username else "none (no username in the proxy URL)"
        raise _ProxyFailure(f"{proxy.label} rejected every authentication method offered: {offered}")
    if method not in methods:
        raise shake.invalid()
    if method == socksio.SOCKS5AuthMethod.USERNAME_PASSWORD:
        credentials = ((proxy.username or "").encode(), (proxy.password or "").encode())
        connection.send(socksio.SOCKS5UsernamePasswordRequest(*credentials))
        shake.send(connection.data_to_send())
        if not connection.receive_data(shake.receive(2)).success:
            raise _ProxyFailure(f"{proxy.label}: SOCKS5 authentication failed (username {proxy.username!r})")


def _socks5_connect(shake: _Handshake, host: str, port: int) -> None:
    proxy = shake.proxy
    connection = socksio.SOCKS5Connection()
    _socks5_authenticate(shake, connection)
    address = host
    if proxy.scheme not in _REMOTE_DNS and not (
        _is_ip(host, socket.AF_INET) or _is_ip(host, socket.AF_INET6)
    ):
        address = shake.resolve(host, port, socket.AF_UNSPEC)
    elif len(address) > 255:
        raise _ProxyFailure(
            f"host name too long for SOCKS5 ({len(address)} bytes, at most 255): {address[:40]}..."
        )
    connection.send(socksio.SOCKS5CommandRequest.from_address(socksio.SOCKS5Command.CONNECT, (address, port)))
    shake.send(connection.data_to_send())
    head = shake.receive(4)  # VER REP RSV ATYP
    if head[0] != 5:
        raise shake.invalid()
    if head[1] != 0:
        message = _SOCKS5_ERRORS.get(head[1], "Unknown error")
        raise _ProxyFailure(f"{proxy.label} could not connect to {host}:{port}: {head[1]:#04x}: {message}")
    if head[3] == 3:
        size = shake.receive(1)
        rest = size + shake.receive(size[0] + 2)
    elif head[3] in _SOCKS5_ADDRESS_SIZES:
        rest = shake.receive(_SOCKS5_ADDRESS_SIZES[head[3]] + 2)
    else:
        raise shake.invalid()
    try:
        connection.receive_data(head + rest)
    except socksio.ProtocolError:
        raise shake.invalid() from None


class _GreenSOCKSConnectionMixin:
    """``_new_conn``: connect to the proxy, then ask it for a tunnel to ``host:port``."""

    def __init__(self, *args: Any, _socks_options: dict[str, Any], **kwargs: Any) -> None:
        self._socks_proxy = SOCKSProxy(**_socks_options)
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        proxy = self._socks_proxy
        timeout = conn.timeout
        # Discussion: one deadline for the proxy's connect and the whole
        # handshake (which includes the proxy's own connect to the target).
        # PySocks gives each read the full timeout instead, so a proxy that
        # trickles its replies byte by byte can stretch it without bound.
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            sock = create_connection(
                (proxy.host, proxy.port),
                timeout,
                source_address=conn.source_address,
                family=allowed_gai_family(),
                socket_options=conn.socket_options,
            )
        except TimeoutError as e:
            raise ConnectTimeoutError(
                conn, f"Connection to {proxy.label} timed out. (connect timeout={timeout})"
            ) from e
        except OSError as e:
            raise NewConnectionError(
                conn, f"Failed to establish a new connection: Error connecting to {proxy.label}: {e}"
            ) from e
        try:
            shake = _Handshake(sock, proxy, deadline)
            connect = _socks5_connect if _VERSIONS[proxy.scheme] == 5 else _socks4_connect
            connect(shake, conn.host, conn.port)
        except BaseException as e:
            sock.close()
            if isinstance(e, TimeoutError):
                raise ConnectTimeoutError(
                    conn,
                    f"Connection to {conn.host} through {proxy.label} timed out. (connect timeout={timeout})",
                ) from e
            if isinstance(e, socket.gaierror):
                raise NameResolutionError(conn.host, conn, e) from e
            if isinstance(e, (_ProxyFailure, OSError)):
                raise NewConnectionError(conn, f"Failed to establish a new connection: {e}") from e
            raise
        sock.settimeout(timeout)
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock


# mypy flags the response_class of transport's mixins here as on transport's own classes.
class GreenSOCKSHTTPConnection(_GreenSOCKSConnectionMixin, GreenHTTPConnection):  # type: ignore[misc]
    """gfetch's HTTPConnection, tunnelled through a SOCKS proxy."""


class GreenSOCKSHTTPSConnection(_GreenSOCKSConnectionMixin, GreenHTTPSConnection):  # type: ignore[misc]
    """gfetch's HTTPSConnection: TLS to the target inside a SOCKS tunnel."""


# These connections also take _socks_options (from the pool's conn_kw), hence the ignores.
class GreenSOCKSHTTPConnectionPool(GreenHTTPConnectionPool):
    ConnectionCls = GreenSOCKSHTTPConnection  # type: ignore[assignment]


class GreenSOCKSHTTPSConnectionPool(GreenHTTPSConnectionPool):
    ConnectionCls = GreenSOCKSHTTPSConnection  # type: ignore[assignment]


class GreenSOCKSProxyManager(PoolManager):
    """A urllib3 PoolManager whose pools reach every host through one SOCKS proxy.

    The counterpart of ``urllib3.contrib.socks.SOCKSProxyManager`` (which
    needs the blocking PySocks): same arguments, cooperative connections.
    ``socks5h`` and ``socks4a`` let the proxy resolve host names;
    ``socks5`` and ``socks4`` resolve them here (gfetch's cooperative DNS).

    Raises:
        InvalidSchema: socksio is not installed (``pip install 'gfetch[socks]'``),
            or the URL's scheme is not a SOCKS one.
    """

    def __init__(
        self,
        proxy_url: str,
        username: str | None = None,
        password: str | None = None,
        num_pools: int = 10,
        headers: Any = None,
        **connection_pool_kw: Any,
    ) -> None:
        if socksio is None:
            raise InvalidSchema(
                f"SOCKS proxy {_hide_password(proxy_url)} needs the socksio package: "
                "pip install 'gfetch[socks]'"
            )
        self.proxy_url = proxy_url
        connection_pool_kw["_socks_options"] = SOCKSProxy.from_url(proxy_url, username, password)._asdict()
        super().__init__(num_pools, headers, **connection_pool_kw)
        # A new dict: never urllib3's module-level one.
        self.pool_classes_by_scheme = {
            "http": GreenSOCKSHTTPConnectionPool,
            "https": GreenSOCKSHTTPSConnectionPool,
        }
