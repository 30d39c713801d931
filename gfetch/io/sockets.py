"""Cooperative sockets: the stdlib socket API, parking only the caller.

Imports the stdlib, gfetch.core.hub, gfetch.io.dns and gfetch.core.resources; knows nothing of HTTP.

Socket-timeout semantics
------------------------
The fd underneath is always non-blocking; the timeout lives in Python and is
applied the way the stdlib applies it: ``None`` waits forever, ``0.0`` is
non-blocking (``BlockingIOError`` escapes), any other value bounds each
blocking operation, and ``sendall`` has one deadline for the whole buffer.
Expiry raises ``socket.timeout("timed out")`` (``TimeoutError``). In
blocking mode ``BlockingIOError`` never escapes ``recv_into``: http.client's
``SocketIO`` would turn it into a ``None`` read and a bogus "bad status line".

Reads and sends that did not have to wait call ``Hub.checkpoint`` every
``CHECK_EVERY`` times, so a peer that always has data ready cannot keep
timers (a Timeout, a gtimeout) from firing or other requests from running
(see gfetch.core.hub). TLSSocket reads through ``recv`` here, so TLS is covered.

Closing a socket that another greenlet waits on wakes that greenlet with
EBADF before the fd number can be reused (``Hub.notify_closing``).

Opening a socket (``create_connection``, ``accept``) that fails with EMFILE
raises the soft RLIMIT_NOFILE and tries once more; past the hard limit it
raises an ``OSError(EMFILE)`` that says what to do (gfetch.core.resources).
"""

from __future__ import annotations

import _socket as _csocket
import errno
import functools
import os
import select
import selectors
import socket as _socket
import time
from collections.abc import Callable
from typing import Any

from gfetch.core.hub import CHECK_EVERY, get_hub, notify_closing
from gfetch.core.resources import open_fd
from gfetch.io.dns import getaddrinfo

__all__ = ["GreenSocket", "create_connection"]

_monotonic = time.monotonic
# Waits call ``get_hub().wait_fd`` themselves rather than wait_readable():
# one frame less on the stack of every parked request.
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_CONNECT_IN_PROGRESS = {errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK}
_PEEK = _socket.MSG_PEEK | _socket.MSG_DONTWAIT
_poll = getattr(select, "poll", None)  # None where there is no poll(2)
# poll(2) reports the end of the stream as POLLIN, a reset or a closed fd as POLLERR/POLLHUP/POLLNVAL.
_POLLIN = getattr(select, "POLLIN", 1)


class GreenSocket(_socket.socket):
    """A ``socket.socket`` whose blocking calls park only the current greenlet."""

    __slots__ = ("_green_timeout", "_poller", "_unchecked")

    def __init__(
        self,
        family: int = -1,
        type: int = -1,  # noqa: A002 - the stdlib's parameter name
        proto: int = -1,
        fileno: int | None = None,
    ) -> None:
        super().__init__(family, type, proto, fileno)
        self._green_timeout: float | None = _socket.getdefaulttimeout()
        self._unchecked = CHECK_EVERY  # operations left until the next Hub.checkpoint
        self._poller: Any = None  # made by the first input_ready, dropped when the fd goes
        super().setblocking(False)

    def __repr__(self) -> str:
        text = super().__repr__()
        return text.replace("<socket.socket", "<GreenSocket", 1).replace(
            "<gfetch.io.sockets.GreenSocket", "<GreenSocket", 1
        )

    # -- timeout state --------------------------------------------------
    def settimeout(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._green_timeout = value

    def gettimeout(self) -> float | None:
        return self._green_timeout

    @property
    def timeout(self) -> float | None:  # type: ignore[override]
        return self._green_timeout

    def setblocking(self, flag: bool) -> None:
        self._green_timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._green_timeout != 0.0

    def _deadline(self) -> float | None:
        timeout = self._green_timeout
        return None if timeout is None else _monotonic() + timeout

    @staticmethod
    def _remaining(deadline: float | None) -> float | None:
        if deadline is None:
            return None
        left = deadline - _monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    # -- I/O ------------------------------------------------------------
    def connect(self, address: Any) -> None:
        if self._green_timeout == 0.0:
            return super().connect(address)
        err = self.connect_ex(address)
        if err in _CONNECT_IN_PROGRESS:
            get_hub().wait_fd(self.fileno(), _WRITE, self._green_timeout, owned=self)
            err = self.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        return None

    def wait_for_data(self) -> None:
        """Park until the socket is readable, within its timeout, without reading.

        Waiting here, before a reader is built, keeps an idle waiting
        request small: no read buffer yet and a shallow greenlet stack. The
        callers have just sent a request, whose reply is rarely there yet:
        looking first would mostly be a failed read (a syscall and an
        exception), so it parks at once; data already there wakes it on the
        hub's next pass.
        """
        if self._green_timeout != 0.0:
            get_hub().wait_fd(self.fileno(), _READ, self._green_timeout, owned=self)

    def input_ready(self) -> bool:
        """Whether a read would return at once: bytes, the end of the stream or an error wait.

        Nothing is read: the check before an idle keep-alive connection
        carries another request (urllib3's ``is_connection_dropped``). A
        socket that was idle must answer False. One ``poll(2)`` with timeout
        0, on a poll object of the socket's own that holds its fd from the
        first check until it is closed or detached (a non-blocking peek
        where there is no poll, and once closed).

        Discussion: the answer is nearly always False, which a peek would
        report by raising BlockingIOError; and a poll object shared by the
        hub would take and drop the fd on every check.
        """
        poller = self._poller
        if poller is None:
            fd = self.fileno()
            if _poll is None or fd < 0:
                return self._peek_ready()
            poller = _poll()
            poller.register(fd, _POLLIN)
            self._poller = poller  # only once it holds the fd: a Ctrl-C must not leave it empty
        return bool(poller.poll(0))

    def _peek_ready(self) -> bool:
        try:
            _csocket.socket.recv(self, 1, _PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True  # a reset is waiting, or the socket is closed
        return True

    def _park_until_done(self, operation: Any, event: int, *args: Any) -> Any:
        """Run the non-blocking ``operation``; on EAGAIN park until the fd is
        ready for ``event`` and retry.

        The wait happens outside the ``except`` block, so a parked request
        does not keep the BlockingIOError and its traceback alive.
        """
        deadline = None
        while True:
            try:
                result = operation(self, *args)
            except BlockingIOError:
                if self._green_timeout == 0.0:
                    raise
            else:
                # Data may pour in without a single wait: let due timers fire.
                self._checkpoint()
                return result
            deadline = deadline or self._deadline()
            get_hub().wait_fd(self.fileno(), event, self._remaining(deadline), owned=self)

    def _checkpoint(self) -> None:
        """Count an operation that did not wait; every CHECK_EVERY let due timers fire."""
        self._unchecked -= 1
        if self._unchecked <= 0:
            self._unchecked = CHECK_EVERY
            get_hub().checkpoint()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self._park_until_done(_csocket.socket.recv, _READ, bufsize, flags)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self._park_until_done(_csocket.socket.recv_into, _READ, buffer, nbytes, flags)  # type: ignore[no-any-return]

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        return self._park_until_done(_csocket.socket.recvfrom, _READ, bufsize, flags)  # type: ignore[no-any-return]

    def send(self, data: Any, flags: int = 0) -> int:
        return self._park_until_done(_csocket.socket.send, _WRITE, data, flags)  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of ``data`` within one timeout for the whole buffer."""
        if self._green_timeout == 0.0:
            return super().sendall(data, flags)
        sent = 0
        if type(data) is bytes:  # a request, which the socket's buffer nearly always takes whole
            try:
                sent = _csocket.socket.send(self, data, flags)
            except BlockingIOError:
                pass
            else:
                self._checkpoint()
                if sent == len(data):
                    return None
        view = memoryview(data).cast("B")
        deadline = self._deadline()
        total = len(view)
        while sent < total:
            try:
                sent += super().send(view[sent:], flags)
            except BlockingIOError:
                pass
            else:
                self._checkpoint()
                continue
            get_hub().wait_fd(self.fileno(), _WRITE, self._remaining(deadline), owned=self)
        return None

    def accept(self) -> tuple[GreenSocket, Any]:
        deadline = None
        while True:
            try:
                fd, address = open_fd(self._accept)  # type: ignore[attr-defined]
                break
            except BlockingIOError:
                if self._green_timeout == 0.0:
                    raise
                deadline = deadline or self._deadline()
                get_hub().wait_fd(self.fileno(), _READ, self._remaining(deadline), owned=self)
        sock = GreenSocket(self.family, self.type, self.proto, fileno=fd)
        sock.settimeout(self._green_timeout)
        return sock, address

    # -- closing --------------------------------------------------------
    def _real_close(self, _ss: Any = _csocket.socket) -> None:
        self._letting_go_of_fd()
        super()._real_close(_ss)  # type: ignore[misc]

    def detach(self) -> int:
        self._letting_go_of_fd()
        return super().detach()

    def _letting_go_of_fd(self) -> None:
        """Before the fd is closed or handed over: wake whoever waits on it, and drop the
        poll object that holds it (its number may be another socket's next)."""
        fd = self.fileno()
        if fd >= 0:
            notify_closing(fd)
        self._poller = None


def create_connection(
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
    *,
    family: int = _socket.AF_UNSPEC,
    socket_options: list[tuple[int, int, int | bytes]] | None = None,
    resolved: Callable[[], Any] | None = None,
) -> GreenSocket:
    """Connect a GreenSocket to ``(host, port)``, trying each resolved address.

    Name resolution counts against ``timeout`` too (the stdlib's does not):
    a stuck resolver raises ``socket.timeout`` like a stuck connect.
    ``resolved`` is called once the name has resolved, before the first
    connect (the boundary between the two phases, for timings).

    Raises:
        socket.gaierror: the name does not resolve.
        socket.timeout: resolution or every connect attempt timed out.
        OSError: the last connect attempt's error (e.g. ConnectionRefusedError).
    """
    host, port = address
    if host.startswith("["):
        host = host.strip("[]")
    infos = getaddrinfo(host, port, family, _socket.SOCK_STREAM, timeout=timeout)
    if resolved is not None:
        resolved()
    last_error: OSError | None = None
    for af, socktype, proto, _canonname, sockaddr in infos:
        # At EMFILE: raise the soft fd limit, else fail with advice (gfetch.core.resources).
        sock = open_fd(functools.partial(GreenSocket, af, socktype, proto))
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last_error = exc
            sock.close()
        except BaseException:
            sock.close()
            raise
    if last_error is not None:
        raise last_error
    raise OSError(f"getaddrinfo returned no address for {host!r}")
