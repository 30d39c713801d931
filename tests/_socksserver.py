"""A small SOCKS4/4a/5 proxy for the tests: stdlib only, loopback only, bounded.

It speaks just enough of RFC 1928/1929 and SOCKS4(a) to tunnel CONNECT
requests, records what each client asked for (to tell remote DNS from local
DNS), and can misbehave on purpose (``fault``) for the error tests.
"""

from __future__ import annotations

import select
import socket
import socketserver
import struct
import threading
import time
from typing import Any, NamedTuple

from _servers import _ServedOnThread

__all__ = ["SOCKSServer", "Seen"]

FAULTS = (None, "refuse", "garbage", "stall", "hangup")


class Seen(NamedTuple):
    """One CONNECT request: SOCKS version, address type (ip4, ip6, name), host, port, user."""

    version: int
    kind: str
    host: str
    port: int
    user: str | None


class _Handler(socketserver.BaseRequestHandler):
    server: _SOCKSTCPServer

    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            self._handle()
        except (OSError, ValueError, struct.error):
            pass

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                raise ValueError("client hung up")
            data += chunk
        return data

    def _read_until_nul(self) -> bytes:
        data = b""
        while not data.endswith(b"\0"):
            if len(data) > 512:
                raise ValueError("field too long")
            data += self._read(1)
        return data[:-1]

    def _misbehave(self) -> bool:
        """Act out the configured fault after the client's first message; True if one was."""
        fault = self.server.fault
        self.server.stopping.wait(self.server.delay)
        if fault == "garbage":
            self.request.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        elif fault == "stall":
            self.server.stopping.wait(10)
        elif fault == "hangup":
            pass  # return: the connection closes without a reply
        return fault in ("garbage", "stall", "hangup")

    def _handle(self) -> None:
        version = self._read(1)[0]
        if version == 5:
            self._socks5()
        elif version == 4:
            self._socks4()

    def _socks5(self) -> None:
        methods = self._read(self._read(1)[0])
        if self._misbehave():
            return
        server = self.server
        user = None
        if server.username is None:
            if 0 not in methods:
                self.request.sendall(b"\x05\xff")
                return
            self.request.sendall(b"\x05\x00")
        else:
            if 2 not in methods:
                self.request.sendall(b"\x05\xff")
                return
            self.request.sendall(b"\x05\x02")
            self._read(1)  # sub-negotiation version
            user = self._read(self._read(1)[0]).decode()
            password = self._read(self._read(1)[0]).decode()
            if (user, password) != (server.username, server.password):
                self.request.sendall(b"\x01\x01")
                return
            self.request.sendall(b"\x01\x00")
        _version, _command, _reserved, atyp = self._read(4)
        if atyp == 1:
            kind, host = "ip4", socket.inet_ntop(socket.AF_INET, self._read(4))
        elif atyp == 4:
            kind, host = "ip6", socket.inet_ntop(socket.AF_INET6, self._read(16))
        else:
            kind, host = "name", self._read(self._read(1)[0]).decode()
        port = struct.unpack(">H", self._read(2))[0]
        server.record(Seen(5, kind, host, port, user))
        if server.fault == "refuse":
            self.request.sendall(b"\x05\x05\x00\x01" + bytes(6))
            return
        upstream = self._connect(host, port)
        if upstream is None:
            self.request.sendall(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
            return
        self.request.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")
        self._relay(upstream)

    def _socks4(self) -> None:
        _command, port = struct.unpack(">BH", self._read(3))
        address = self._read(4)
        user = self._read_until_nul().decode()
        if address[:3] == b"\0\0\0" and address[3]:
            kind, host = "name", self._read_until_nul().decode()
        else:
            kind, host = "ip4", socket.inet_ntoa(address)
        if self._misbehave():
            return
        self.server.record(Seen(4, kind, host, port, user))
        upstream = None if self.server.fault == "refuse" else self._connect(host, port)
        if upstream is None:
            self.request.sendall(b"\x00\x5b" + bytes(6))
            return
        self.request.sendall(b"\x00\x5a" + bytes(6))
        self._relay(upstream)

    def _connect(self, host: str, port: int) -> socket.socket | None:
        try:
            return socket.create_connection((host, port), timeout=10)
        except OSError:
            return None

    def _relay(self, upstream: socket.socket) -> None:
        with self.server.lock:
            self.server.tunnels += 1
            self.server.peak_tunnels = max(self.server.peak_tunnels, self.server.tunnels)
        try:
            client = self.request
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                readable, _, _ = select.select([client, upstream], [], [], 0.2)
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    (upstream if src is client else client).sendall(data)
        finally:
            upstream.close()
            with self.server.lock:
                self.server.tunnels -= 1


class _SOCKSTCPServer(socketserver.ThreadingTCPServer):
    # Joined by server_close(), so stop() returns with every client socket
    # closed; each handler ends within 0.2 s of ``stopping`` (or its 10 s timeout).
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, username: str | None, password: str | None, fault: str | None, delay: float) -> None:
        self.username = username
        self.password = password
        self.fault = fault
        self.delay = delay
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.seen: list[Seen] = []
        self.tunnels = 0
        self.peak_tunnels = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    def record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class SOCKSServer(_ServedOnThread):
    """A threaded SOCKS4/4a/5 proxy on 127.0.0.1.

    ``username``/``password``: require RFC 1929 authentication (SOCKS5).
    ``fault``: ``"refuse"`` answers CONNECT with "connection refused"
    (SOCKS4: "rejected"); ``"garbage"`` answers the greeting with an HTTP
    error; ``"stall"`` never answers; ``"hangup"`` closes without answering.
    ``delay``: seconds to wait before answering the client's first message.
    """

    _server: _SOCKSTCPServer

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        fault: str | None = None,
        delay: float = 0.0,
    ) -> None:
        assert fault in FAULTS
        super().__init__(_SOCKSTCPServer(username, password, fault, delay))

    def stop(self) -> None:
        self._server.stopping.set()
        super().stop()

    @property
    def seen(self) -> list[Seen]:
        with self._server.lock:
            return list(self._server.seen)

    @property
    def peak_tunnels(self) -> int:
        return self._server.peak_tunnels

    def url(self, scheme: str = "socks5h", auth: str = "") -> str:
        return f"{scheme}://{auth + '@' if auth else ''}127.0.0.1:{self.port}"
