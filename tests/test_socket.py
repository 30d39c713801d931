"""GreenSocket and create_connection: stdlib socket semantics, cooperatively.

Every socket here is a loopback socketpair or listener made by the test and
closed by it; every wait is bounded.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
import time

import pytest
from _backlog import full_backlog
from _ticker import Ticker

import gfetch
import gfetch.io.sockets
from gfetch.core.errors import ConcurrentObjectUseError
from gfetch.core.hub import Hub, get_hub
from gfetch.io.sockets import GreenSocket, create_connection


def green_pair() -> tuple[GreenSocket, GreenSocket]:
    a, b = socket.socketpair()
    return GreenSocket(fileno=a.detach()), GreenSocket(fileno=b.detach())


@pytest.fixture
def pair():
    a, b = green_pair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def listener():
    """A GreenSocket listening on 127.0.0.1 (connections queue in the backlog)."""
    sock = GreenSocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


@pytest.fixture
def refused_port():
    """A port on 127.0.0.1 that is bound but not listening: connects are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def send_later(sock: GreenSocket, data: bytes, delay: float) -> gfetch.Greenlet:
    def run() -> None:
        gfetch.sleep(delay)
        sock.sendall(data)

    return gfetch.spawn(run)


# -- timeouts -------------------------------------------------------------


def test_fd_is_nonblocking_whatever_the_timeout(pair):
    a, _ = pair
    for value in (None, 0.0, 5.0):
        a.settimeout(value)
        assert a.gettimeout() == value
        assert a.timeout == value
        assert not socket.socket.getblocking(a)  # the real fd flag
        assert a.getblocking() is (value != 0.0)


def test_settimeout_rejects_negative_and_setblocking_maps_to_timeouts(pair):
    a, _ = pair
    with pytest.raises(ValueError):
        a.settimeout(-1)
    a.setblocking(False)
    assert a.gettimeout() == 0.0
    a.setblocking(True)
    assert a.gettimeout() is None
    a.settimeout(3)
    assert isinstance(a.gettimeout(), float)


def test_default_timeout_none_waits_for_data(pair):
    a, b = pair
    assert a.gettimeout() is None
    writer = send_later(b, b"hello", 0.05)
    start = time.monotonic()
    assert a.recv(100) == b"hello"
    assert time.monotonic() - start >= 0.04
    writer.get(timeout=5)


def test_timeout_zero_raises_blockingioerror(pair):
    a, _ = pair
    a.settimeout(0.0)
    with pytest.raises(BlockingIOError):
        a.recv(10)
    with pytest.raises(BlockingIOError):
        a.recv_into(bytearray(10))
    # fill the send buffer: a non-blocking send must refuse rather than wait
    with pytest.raises(BlockingIOError):
        for _ in range(10_000):
            a.send(b"x" * 65536)
    assert not get_hub()._fds


def test_timeout_expiry_raises_socket_timeout(pair):
    a, _ = pair
    a.settimeout(0.1)
    start = time.monotonic()
    with pytest.raises(socket.timeout, match="timed out") as info:
        a.recv(10)
    elapsed = time.monotonic() - start
    assert isinstance(info.value, TimeoutError)
    assert 0.09 <= elapsed < 1.0
    assert not get_hub()._fds


def test_timeout_applies_per_operation(pair):
    a, b = pair
    a.settimeout(0.3)

    def trickle() -> None:
        for i in range(5):
            gfetch.sleep(0.1)
            b.sendall(bytes([65 + i]))

    writer = gfetch.spawn(trickle)
    start = time.monotonic()
    received = b"".join(a.recv(1) for _ in range(5))
    assert received == b"ABCDE"
    assert time.monotonic() - start > 0.3  # longer than one timeout in total
    writer.get(timeout=5)


def test_sendall_has_one_deadline_for_the_whole_buffer(pair):
    a, b = pair
    # The reader drains a little every 20 ms, so each single wait for
    # writability succeeds well within the timeout; only a deadline for the
    # whole buffer stops sendall.
    stop = []

    def slow_reader() -> None:
        for _ in range(500):
            if stop:
                return
            try:
                b.recv(4096)
            except OSError:
                return
            gfetch.sleep(0.02)

    reader = gfetch.spawn(slow_reader)
    a.settimeout(0.3)
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        a.sendall(b"x" * (64 * 1024 * 1024))
    elapsed = time.monotonic() - start
    stop.append(True)
    reader.get(timeout=5)
    assert 0.25 <= elapsed < 1.5
    assert not get_hub()._fds


def test_sendall_to_a_reader_that_never_reads_times_out(pair):
    a, _ = pair
    a.settimeout(0.2)
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        a.sendall(b"x" * (32 * 1024 * 1024))
    assert time.monotonic() - start < 1.0


def test_sendall_without_timeout_delivers_everything(pair):
    a, b = pair
    payload = bytes(range(256)) * 8192  # 2 MiB, more than the socket buffers
    got = bytearray()

    def reader() -> None:
        while len(got) < len(payload):
            chunk = b.recv(65536)
            if not chunk:
                return
            got.extend(chunk)

    glet = gfetch.spawn(reader)
    a.sendall(payload)
    glet.get(timeout=10)
    assert bytes(got) == payload


# -- reading ---------------------------------------------------------------


def test_recv_into_waits_instead_of_leaking_blockingioerror(pair, monkeypatch):
    a, b = pair
    real_wait = Hub.wait_fd
    spurious = [3]

    def flaky_wait(hub, fd, event, timeout=None, owned=False):
        # Spurious wake-ups: return before the fd is readable.
        if spurious[0]:
            spurious[0] -= 1
            return
        real_wait(hub, fd, event, timeout, owned)

    monkeypatch.setattr(Hub, "wait_fd", flaky_wait)
    for timeout in (None, 2.0):
        a.settimeout(timeout)
        spurious[0] = 3
        writer = send_later(b, b"data", 0.03)
        buf = bytearray(16)
        n = a.recv_into(buf)
        assert buf[:n] == b"data"
        writer.get(timeout=5)


def test_makefile_rb_reads_lines_and_blocks_cooperatively(pair):
    a, b = pair
    a.settimeout(2)
    writer = send_later(b, b"HTTP/1.1 200 OK\r\nX: y\r\n\r\nbody", 0.03)
    f = a.makefile("rb")
    try:
        assert f.readline() == b"HTTP/1.1 200 OK\r\n"
        assert f.readline() == b"X: y\r\n"
        assert f.readline() == b"\r\n"
        writer.get(timeout=5)
        b.shutdown(socket.SHUT_WR)
        assert f.read() == b"body"
        # close() while the file is open keeps the fd until the file closes
        a.close()
        assert a.fileno() >= 0
    finally:
        f.close()
    assert a.fileno() == -1


def test_makefile_readinto_timeout_is_socket_timeout(pair):
    a, _ = pair
    a.settimeout(0.05)
    with a.makefile("rb") as f, pytest.raises(socket.timeout):
        f.read1(10)


def test_close_from_another_greenlet_wakes_reader_with_ebadf(pair):
    a, _ = pair
    hub = get_hub()
    outcome = []

    def reader() -> None:
        try:
            a.recv(10)
        except OSError as exc:
            outcome.append(exc)

    glet = gfetch.spawn(reader)
    gfetch.sleep(0.02)
    assert a.fileno() in hub._fds  # parked in recv
    a.close()
    assert not hub._fds  # forgotten at once, before the fd number can be reused
    glet.get(timeout=5)
    assert len(outcome) == 1
    assert outcome[0].errno == errno.EBADF
    assert not hub._fds


def test_two_readers_on_one_socket_is_an_error(pair):
    a, b = pair
    first = gfetch.spawn(a.recv, 10)
    gfetch.sleep(0.01)
    with pytest.raises(ConcurrentObjectUseError):
        a.recv(10)
    b.sendall(b"x")
    assert first.get(timeout=5) == b"x"


def test_timeout_interrupting_recv_leaves_no_registration(pair):
    a, _ = pair
    with pytest.raises(gfetch.Timeout):
        with gfetch.Timeout(0.05):
            a.recv(10)
    assert not get_hub()._fds


def test_reset_is_not_turned_into_eof(pair):
    a, b = pair
    # SO_LINGER 0 makes close() send RST on a TCP socket; on a socketpair
    # closing with unread data gives ECONNRESET to the peer's recv.
    a.sendall(b"unread")
    b.close()
    a.settimeout(1)
    try:
        data = a.recv(10)
    except ConnectionResetError:
        return
    assert data == b""  # AF_UNIX reports a plain EOF: fine, but never invented


def test_ticking_greenlet_keeps_ticking_while_another_waits_in_recv(pair):
    a, b = pair
    ticker = Ticker(20)
    writer = send_later(b, b"late", 0.3)
    a.settimeout(5)
    assert a.recv(10) == b"late"
    ticker.join()
    writer.get(timeout=5)
    assert len(ticker.ticks) == 20
    assert ticker.ticks[-1] - ticker.ticks[0] < 0.6  # all ticks ran during the wait


def test_repr_names_green_socket(pair):
    assert "GreenSocket" in repr(pair[0])


# -- connecting ------------------------------------------------------------


def test_accept_and_connect(listener):
    port = listener.getsockname()[1]
    accepted = []

    def server() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)
        conn.sendall(b"hi")

    glet = gfetch.spawn(server)
    client = create_connection(("127.0.0.1", port), timeout=2)
    try:
        assert isinstance(client, GreenSocket)
        assert client.gettimeout() == 2
        assert client.recv(2) == b"hi"
        glet.get(timeout=5)
        assert isinstance(accepted[0], GreenSocket)
    finally:
        client.close()
        for conn in accepted:
            conn.close()


def test_connection_refused(refused_port):
    with pytest.raises(ConnectionRefusedError):
        create_connection(("127.0.0.1", refused_port), timeout=2)
    assert not get_hub()._fds


def test_connect_sets_socket_options_and_source_address(listener):
    port = listener.getsockname()[1]
    sock = create_connection(
        ("127.0.0.1", port),
        timeout=2,
        source_address=("127.0.0.1", 0),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockname()[0] == "127.0.0.1"
        conn, _ = listener.accept()
        conn.close()
    finally:
        sock.close()


def test_create_connection_tries_each_resolved_address(listener, refused_port, monkeypatch):
    live_port = listener.getsockname()[1]
    calls = []

    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0, *, timeout=None):
        calls.append((host, port, timeout))
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", refused_port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", live_port)),
        ]

    monkeypatch.setattr(gfetch.io.sockets, "getaddrinfo", fake_getaddrinfo)
    sock = create_connection(("example.test", 80), timeout=2)
    try:
        assert sock.getpeername() == ("127.0.0.1", live_port)
        assert calls == [("example.test", 80, 2)]
    finally:
        sock.close()
        conn, _ = listener.accept()
        conn.close()


def test_create_connection_falls_back_from_ipv6_to_ipv4(listener, monkeypatch):
    """'localhost' resolving to ::1 (refused) then 127.0.0.1 (listening)."""
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        pytest.skip("no IPv6")
    try:
        probe.bind(("::1", 0))
    except OSError:
        probe.close()
        pytest.skip("no ::1")
    dead6 = probe.getsockname()[1]
    live_port = listener.getsockname()[1]

    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0, *, timeout=None):
        assert host == "localhost"
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", dead6, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", live_port)),
        ]

    monkeypatch.setattr(gfetch.io.sockets, "getaddrinfo", fake_getaddrinfo)
    try:
        sock = create_connection(("localhost", live_port), timeout=2)
        try:
            assert sock.family == socket.AF_INET
        finally:
            sock.close()
            conn, _ = listener.accept()
            conn.close()
    finally:
        probe.close()


def test_create_connection_raises_last_error_when_all_fail(refused_port, monkeypatch):
    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0, *, timeout=None):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", refused_port))] * 3

    monkeypatch.setattr(gfetch.io.sockets, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ConnectionRefusedError):
        create_connection(("example.test", 80), timeout=2)


def test_create_connection_to_real_localhost(listener):
    port = listener.getsockname()[1]
    sock = create_connection(("localhost", port), timeout=5)
    try:
        assert sock.getpeername()[1] == port
    finally:
        sock.close()
        conn, _ = listener.accept()
        conn.close()


def test_create_connection_ipv6_literal_in_brackets():
    try:
        server = GreenSocket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        pytest.skip("no IPv6")
    try:
        try:
            server.bind(("::1", 0))
        except OSError:
            pytest.skip("no ::1")
        server.listen(1)
        port = server.getsockname()[1]
        sock = create_connection(("[::1]", port), timeout=2)
        sock.close()
        conn, _ = server.accept()
        conn.close()
    finally:
        server.close()


def test_connect_timeout_when_backlog_is_full():
    """A listener whose backlog is full drops SYNs: connect must time out."""
    with full_backlog() as port:
        start = time.monotonic()
        try:
            sock = create_connection(("127.0.0.1", port), timeout=0.3)
        except TimeoutError:
            elapsed = time.monotonic() - start
            assert 0.25 <= elapsed < 1.5
        else:
            sock.close()
            pytest.skip("this kernel accepts past the backlog; connect timeout not reproducible")


# -- input_ready: the check before an idle connection is reused ------------------------------


@pytest.fixture
def tcp_pair(listener):
    """A connected TCP GreenSocket and the listener's end of it."""
    client = create_connection(listener.getsockname(), timeout=5)
    server, _ = listener.accept()
    yield client, server
    client.close()
    server.close()


def called_c_functions(call) -> set[str]:
    """The names of the C functions ``call()`` calls (for what it must not call)."""
    names: set[str] = set()

    def profile(_frame, event, arg):
        if event == "c_call":
            names.add(arg.__name__)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return names


def _soon_input_ready(sock) -> bool:
    """Whether ``sock.input_ready()`` turns True within 5 s (what the peer did takes a moment)."""
    deadline = time.monotonic() + 5
    while not sock.input_ready() and time.monotonic() < deadline:
        gfetch.sleep(0.005)
    return sock.input_ready()


def test_input_ready_on_an_idle_connection_is_false_without_a_read(tcp_pair):
    """The normal answer, False, comes from a poll: no failed peek (a system call and a
    BlockingIOError per reused connection)."""
    client, _ = tcp_pair
    assert client.input_ready() is False
    assert not {"recv", "recv_into"} & called_c_functions(client.input_ready)


def test_input_ready_sees_bytes_without_taking_them(tcp_pair):
    client, server = tcp_pair
    server.sendall(b"late")
    assert _soon_input_ready(client)
    assert client.recv(10) == b"late"
    assert client.input_ready() is False


def test_input_ready_sees_the_end_of_the_stream(tcp_pair):
    client, server = tcp_pair
    server.shutdown(socket.SHUT_WR)
    assert _soon_input_ready(client)
    assert client.recv(1) == b""


def test_input_ready_sees_a_reset_and_a_closed_socket(listener):
    client = create_connection(listener.getsockname(), timeout=5)
    server, _ = listener.accept()
    with client:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()  # RST
        assert _soon_input_ready(client)
    assert client.input_ready()  # closed


def test_input_ready_answers_for_its_own_socket_only(tcp_pair, pair):
    """Another socket's bytes must not make an idle connection look used (and so never reused)."""
    client, _ = tcp_pair
    other, peer = pair
    peer.sendall(b"x")
    assert _soon_input_ready(other)
    assert client.input_ready() is False


def test_a_closed_socket_does_not_answer_for_the_fd_number_it_had(listener):
    """The poll object that holds a socket's fd goes with the fd: once the number is a new
    connection's, the closed socket still answers True (closed) and the new one for itself."""
    first = create_connection(listener.getsockname(), timeout=5)
    first_peer, _ = listener.accept()
    assert first.input_ready() is False  # its poll object holds the fd from here on
    number = first.fileno()
    first.close()
    second = create_connection(listener.getsockname(), timeout=5)
    second_peer, _ = listener.accept()
    try:
        if second.fileno() != number:
            pytest.skip("the kernel gave the new connection another fd number")
        assert first.input_ready() is True
        assert second.input_ready() is False
        second_peer.sendall(b"late")
        assert _soon_input_ready(second)
        assert first.input_ready() is True
    finally:
        second.close()
        second_peer.close()
        first_peer.close()
