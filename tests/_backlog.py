"""A loopback listener whose accept queue is full, for connect timeouts."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

__all__ = ["full_backlog"]


@contextlib.contextmanager
def full_backlog(fillers: int = 8) -> Iterator[int]:
    """A 127.0.0.1 listener (``listen(0)``) whose accept queue is filled with
    ``fillers`` connections nobody accepts, so that on most kernels a further
    connect gets no SYN-ACK; yields its port, then closes every socket."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    clients: list[socket.socket] = []
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        for _ in range(fillers):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            clients.append(s)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
        time.sleep(0.05)
        yield port
    finally:
        for s in clients:
            s.close()
        server.close()
