"""Cooperative TLS: an ``SSLObject`` over MemoryBIOs, driven on a GreenSocket.

Imports the stdlib only (the socket it wraps is duck-typed).

Why not ``SSLContext.wrap_socket``: it detaches the fd into a stdlib
``SSLSocket`` in real blocking mode and handshakes inside the call, freezing
the hub for every handshake and read. Instead, :class:`GreenSSLContext`
stands in for the real context for the duration of urllib3's ``connect()``:
attribute reads and writes go straight to the real context, and only
``wrap_socket`` differs, returning a :class:`TLSSocket`.

The want-read/want-write loop
-----------------------------
OpenSSL never touches the network here. Every operation (handshake, read,
write, unwrap) runs ``SSLObject.<op>``; whatever it produced is flushed from
the outgoing BIO to the socket; ``SSLWantReadError`` means "feed me": one
``recv`` from the socket (which parks only this greenlet, under the socket's
timeout) goes into the incoming BIO and the operation is retried. An empty
``recv`` is EOF: ``write_eof`` makes OpenSSL raise SSLEOFError or
SSLZeroReturnError rather than ask again.

Contexts
--------
Building a context and loading a CA bundle costs ~20 ms of CPU on the hub
thread, so the contexts gfetch creates are cached, one per TLS configuration
(:func:`owned_context`), and repeated identical ``load_verify_locations`` /
``load_cert_chain`` calls on them (urllib3 makes one per connection) are
skipped. A context the caller passed in is never cached and every call goes
through to it unchanged, exactly as urllib3 would make it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["GreenSSLContext", "TLSSocket", "owned_context"]

_RECV_SIZE = 65536
_RECORD_SIZE = 16384  # the most plaintext one TLS record holds, and one SSLObject.read returns


class TLSSocket:
    """A TLS connection with the socket surface urllib3 and http.client use."""

    def __init__(
        self,
        sock: Any,
        context: ssl.SSLContext,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> None:
        self._sock = sock
        self.context = context
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._sslobj = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=False,
            server_hostname=server_hostname,
            session=session,
        )
        self._engine = _engine_of(self._sslobj)  # for read, write and pending: the hot calls
        self._io_refs = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<TLSSocket over {self._sock!r}>"

    # -- the want-read/want-write loop ------------------------------------
    def _retry(self, operation: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                if self._incoming.eof:
                    eof = "EOF occurred in violation of protocol"
                    raise ssl.SSLEOFError(ssl.SSL_ERROR_EOF, eof) from None
                self._receive()
                continue
            except ssl.SSLWantWriteError:
                self._flush()
                continue
            except ssl.SSLError:
                self._flush_quietly()  # send the alert, if any, before failing
                raise
            if self._outgoing.pending:
                self._flush()
            return result

    def _receive(self) -> None:
        """One ``recv`` from the socket into the incoming BIO (its end, at EOF)."""
        data = self._sock.recv(_RECV_SIZE)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def _flush(self) -> None:
        if self._outgoing.pending:
            self._sock.sendall(self._outgoing.read())

    def _flush_quietly(self) -> None:
        try:
            self._flush()
        except OSError:
            pass

    def do_handshake(self) -> None:
        self._retry(self._sslobj.do_handshake)

    # -- data -----------------------------------------------------------
    def read(self, len: int = 1024, buffer: Any = None) -> Any:  # noqa: A002 - ssl's name
        """Up to ``len`` bytes of plaintext: at most one TLS record's (16 KiB), so no more
        is ever allocated for it; with nothing received yet, the socket is read first
        (the read would only fail to ask for it)."""
        if not (self._incoming.pending or self._incoming.eof or self._engine.pending()):
            if self._outgoing.pending:
                self._flush()
            self._receive()
        len = min(len, _RECORD_SIZE)  # noqa: A001
        try:
            if buffer is not None:
                return self._retry(self._engine.read, len, buffer)
            return self._retry(self._engine.read, len)
        except ssl.SSLZeroReturnError:
            return 0 if buffer is not None else b""
        except ssl.SSLEOFError:
            # suppress_ragged_eofs, as SSLSocket does by default; a short body
            # is still caught by http.client against Content-Length.
            return 0 if buffer is not None else b""

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv() on TLSSocket")
        return self.read(bufsize)  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to recv_into() on TLSSocket")
        if nbytes <= 0:
            nbytes = len(buffer)
        return self.read(nbytes, buffer)  # type: ignore[no-any-return]

    def write(self, data: Any) -> int:
        return self._retry(self._engine.write, data)  # type: ignore[no-any-return]

    def send(self, data: Any, flags: int = 0) -> int:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to send() on TLSSocket")
        return self.write(data)

    def sendall(self, data: Any, flags: int = 0) -> None:
        if flags:
            raise ValueError("non-zero flags not allowed in calls to sendall() on TLSSocket")
        if type(data) is bytes and len(data) <= _RECV_SIZE:  # a request head: one write
            self._retry(self._engine.write, data)
            return
        view = memoryview(data).cast("B")
        sent = 0
        while sent < len(view):
            sent += self.write(view[sent : sent + _RECV_SIZE])

    def makefile(self, mode: str = "r", buffering: int | None = None, **kwargs: Any) -> Any:
        # socket.socket.makefile only needs _io_refs, recv_into/send and
        # _decref_socketios, which this class provides.
        return socket.socket.makefile(self, mode, buffering, **kwargs)  # type: ignore[arg-type,call-overload]

    def pending(self) -> int:
        return self._sslobj.pending()

    def _buffered(self) -> bool:
        """Whether TLS holds received bytes (decrypted or not) or the end of the stream."""
        return bool(self._engine.pending() or self._incoming.pending or self._incoming.eof)

    def wait_for_data(self) -> None:
        """Park until the network has data, unless TLS has some buffered."""
        if not self._buffered():
            self._sock.wait_for_data()

    def input_ready(self) -> bool:
        """Whether a read would return at once: TLS holds received bytes, or the socket has
        some (any record, a close_notify alert included) or its end (see GreenSocket's)."""
        return self._buffered() or self._sock.input_ready()  # type: ignore[no-any-return]

    # -- timeouts and plumbing delegate to the socket underneath -----------
    def settimeout(self, value: float | None) -> None:
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()  # type: ignore[no-any-return]

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def fileno(self) -> int:
        return self._sock.fileno()  # type: ignore[no-any-return]

    # -- TLS introspection ------------------------------------------------
    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._sslobj.getpeercert(binary_form)

    def version(self) -> str | None:
        return self._sslobj.version()

    def cipher(self) -> tuple[str, str, int] | None:
        return self._sslobj.cipher()

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        return self._sslobj.shared_ciphers()

    def compression(self) -> str | None:
        return self._sslobj.compression()

    def selected_alpn_protocol(self) -> str | None:
        return self._sslobj.selected_alpn_protocol()

    @property
    def server_hostname(self) -> str | None:
        return self._sslobj.server_hostname

    @property
    def session(self) -> ssl.SSLSession | None:
        return self._sslobj.session

    @property
    def session_reused(self) -> bool:
        return self._sslobj.session_reused

    # -- closing --------------------------------------------------------
    def unwrap(self) -> Any:
        """Send close_notify, wait for the peer's, and return the raw socket."""
        self._retry(self._sslobj.unwrap)
        return self._sock

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    @property
    def closed(self) -> bool:
        return self._closed


def _forwarded(name: str) -> property:
    """The raw socket's attribute ``name``, read through the TLS socket."""
    return property(lambda tls: getattr(tls._sock, name), doc=f"The raw socket's ``{name}``.")


# The rest of the socket API (getpeername, getsockname, setsockopt, family, ...) is the raw
# socket's. Discussion: properties, not a ``__getattr__``, which would keep CPython from
# specialising every attribute read of a TLSSocket (a few dozen per request).
for _name in dir(socket.socket):
    if not _name.startswith("_") and not hasattr(TLSSocket, _name):
        setattr(TLSSocket, _name, _forwarded(_name))


def _engine_of(sslobj: ssl.SSLObject) -> Any:
    """What ``sslobj.read``, ``write`` and ``pending`` forward to: the ``_ssl`` object a
    stdlib ``SSLObject`` wraps, whose methods raise and return the same; ``sslobj``
    itself when it is of another class (a context's own ``sslobject_class``).

    Discussion: those three calls come a few times per request; the
    wrappers add a Python frame each and nothing else.
    """
    if type(sslobj) is ssl.SSLObject:
        return getattr(sslobj, "_sslobj", sslobj)
    return sslobj


class GreenSSLContext:
    """Delegating stand-in for an ``SSLContext``; only ``wrap_socket`` differs.

    ``loaded`` is the set of CA/cert loads already applied, for contexts
    gfetch owns (identical reloads are skipped); None for a caller's context.
    """

    __slots__ = ("_context", "_loaded")

    def __init__(self, context: ssl.SSLContext, loaded: set[tuple[Any, ...]] | None = None) -> None:
        object.__setattr__(self, "_context", context)
        object.__setattr__(self, "_loaded", loaded)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._context, name, value)

    def _load_once(self, key: tuple[Any, ...], load: Callable[[], Any]) -> None:
        if self._loaded is None:
            load()
        elif key not in self._loaded:
            load()
            self._loaded.add(key)

    def load_verify_locations(self, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
        self._load_once(
            ("verify", cafile, capath, cadata),
            lambda: self._context.load_verify_locations(cafile, capath, cadata),
        )

    def load_cert_chain(self, certfile: Any, keyfile: Any = None, password: Any = None) -> None:
        self._load_once(
            ("chain", certfile, keyfile, password),
            lambda: self._context.load_cert_chain(certfile, keyfile, password),
        )

    def wrap_socket(
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> TLSSocket:
        if server_side:
            raise ValueError("gfetch's TLS is client-side only")
        tls = TLSSocket(sock, self._context, server_hostname=server_hostname, session=session)
        if do_handshake_on_connect:
            tls.do_handshake()
        return tls


_cache: dict[tuple[Any, ...], GreenSSLContext] = {}
_cache_lock = threading.Lock()


def owned_context(key: tuple[Any, ...], build: Callable[[], ssl.SSLContext]) -> GreenSSLContext:
    """The cached gfetch-owned context for TLS configuration ``key``.

    ``build`` runs once per key (per process); the contexts are shared by
    every thread, and urllib3's per-connection settings on them are
    idempotent for a given key (verify_mode, ALPN, the CA loads).
    """
    context = _cache.get(key)
    if context is None:
        with _cache_lock:
            context = _cache.get(key)
            if context is None:
                context = _cache[key] = GreenSSLContext(build(), set())
    return context
