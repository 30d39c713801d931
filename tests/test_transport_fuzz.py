"""gfetch's own HTTP/1.1 transport against urllib3's, on generated response scripts (issue 21).

A :class:`ScriptServer` answers each request with the script registered for
the id in its path (``/r/<id>``): a response (Content-Length, chunked with
extensions and trailers, close-delimited, HTTP/1.0, ``Connection: close``,
HEAD, 204, 304, 101 without Upgrade, interim 1xx first; or none, a truncated
one, a garbage status line, a bad or negative chunk size), what may follow
it on the wire (an unsolicited response, a stray CRLF, bytes past its
framing such as the body a HEAD, 204 or 304 must not have, a 408 on the
idle connection) and an end (the connection kept, closed or reset). The
bytes are cut at random points and the pieces sent in one segment, in
several, or late after a pause. The server counts the arrivals of every id.

The same seeded scripts go through gfetch's own transport
(``transport="auto"``, and again with httptools' head parser when httptools
is installed) and through ``Session(transport="urllib3")``, the reference:
one request after another on one session (so connections are reused), and
inside ``gfetch.map`` with healthy requests alongside. Every request must

* get a response that names it (``X-Id``) with its script's status and
  body (or the very response the urllib3 path got), or fail with the
  exception class the urllib3 path raised for it;
* reach the server no more often, and never less whole, than on the
  urllib3 path.

The same invariants hold plain requests to the reference without a finding
(``test_the_harness_finds_nothing_wrong_with_plain_requests``): what the
harness reports is the transport's doing, not its own.

A response hook waits until the server has played the request's script to
its end (late pieces and the close included, and acknowledged by the
client's kernel) before the body is read and the connection goes back to
the pool: bytes meant to arrive while a connection sits idle then do, on
both paths alike, and the reference's answers are the same on every run.

Size: ``scripts x variants x seeds`` scripted requests (``variants``: cuts
and pauses of each script), each through every transport, in sequence and
in a map. A failure names the seed, script and variant and prints the
script; ``GFETCH_FUZZ_SEED=<seed>`` replays a seed, ``play(...,
only=(script, variant))`` one script. ``KNOWN`` holds minimal reproductions
of what the fuzzing finds, as named cases.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import socket
import struct
import termios
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from _ticker import Ticker

import gfetch
from gfetch.http11 import connection
from gfetch.testing.raw import Peer, RawServer, head

try:
    from gfetch.http11 import parser_httptools as http1_httptools
except ModuleNotFoundError:
    http1_httptools = None  # type: ignore[assignment]

READ_TIMEOUT = 1.0  # what a script that stalls costs a client
TIMEOUT = (5.0, READ_TIMEOUT)
REQUEST_WAIT = 0.5  # the server waits this long for the rest of a request, then closes
IDLE_WAIT = 30.0  # ... and this long for the next request on a kept connection
SETTLE = 5.0  # the longest a response hook waits for the server to finish a script
APART = 0.002  # a pause that makes the next piece a segment of its own
RST_LANDS = 0.01  # time for a reset to reach the client (nothing acknowledges it)
PAUSES = (0.02, 0.05, 0.1, 0.15)  # "late": what a piece waits for
LATE = 0.1  # the pause of the named cases
MAP_SIZE = 3
REFERENCE = "urllib3"
TRANSPORTS = ["auto"] + (["auto+httptools"] if http1_httptools is not None else [])
PLAIN = "requests"  # a plain requests.Session: what the harness must find nothing wrong with

Step = bytes | float  # bytes to send, or seconds to pause
Outcome = tuple[Any, ...]  # ("response", status, X-Id, body) or ("raised", class name, message)


# -- scripts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Script:
    """What the server does for one request, and what the client must then see."""

    name: str
    method: str
    steps: tuple[Step, ...]
    ending: str  # "keep", "close" (FIN) or "reset" (RST)
    status: int | None  # the final status of the script's response; None: it has none
    body: bytes = b""
    chunked_request: bool = False  # sent with a Transfer-Encoding: chunked header and no body

    def describe(self, token: str) -> str:
        """The script, its id written as ``{id}``: enough to write it down as a test."""
        steps = ", ".join(
            f"pause {step * 1000:g} ms"
            if isinstance(step, float)
            else _short(step.replace(token.encode(), b"{id}"))
            for step in self.steps
        )
        chunked = " (Transfer-Encoding: chunked, no body)" if self.chunked_request else ""
        return f"{self.name}: {self.method}{chunked}; {steps}; then {self.ending}"


def _short(data: bytes) -> str:
    return repr(data) if len(data) <= 160 else f"{data[:100]!r}...({len(data)} bytes)...{data[-40:]!r}"


def response(
    status: int, token: str | None, *lines: str, body: bytes = b"", version: str = "HTTP/1.1"
) -> bytes:
    """A response with ``X-Id: token`` first (none if token is None)."""
    named = head(status, *([f"X-Id: {token}"] if token else []), *lines)
    return named.replace(b"HTTP/1.1", version.encode(), 1) + body


def sized(token: str | None, body: bytes, *lines: str, version: str = "HTTP/1.1") -> bytes:
    return response(200, token, *lines, f"Content-Length: {len(body)}", body=body, version=version)


def chunked(rng: random.Random, token: str, body: bytes) -> bytes:
    """A chunked response: ``body`` in 1-4 chunks, perhaps with chunk extensions and a trailer."""
    extension = rng.choice((b"", b";a=b", b';name="v v";flag'))
    cuts = sorted({0, len(body), *(rng.randint(0, len(body)) for _ in range(rng.randint(0, 3)))})
    pieces = [body[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    frames = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces)
    last = b"0" + extension + b"\r\n" + rng.choice((b"", b"X-Trailer: t\r\n")) + b"\r\n"
    return response(200, token, _CHUNKED) + frames + last


def interim(rng: random.Random, token: str) -> bytes:
    """One to three interim responses; a 102 or 103 is named (the urllib3 path takes it for the response)."""
    choices = (
        b"HTTP/1.1 100 Continue\r\n\r\n",
        response(102, token),
        response(103, token, "Link: </s>; rel=preload"),
    )
    return b"".join(rng.choice(choices) for _ in range(rng.randint(1, 3)))


Build = Callable[[random.Random, str, bytes], bytes]  # (rng, token, body) -> the response's bytes
KEEP_OR_NOT = ("keep",) * 5 + ("close", "reset")
CLOSED = ("close", "reset")
_CHUNKED = "Transfer-Encoding: chunked"


@dataclass(frozen=True)
class Framing:
    """A kind of response: its bytes, what a client must see of it, what may follow it."""

    build: Build
    weight: int = 1
    method: str | None = None  # the request method it answers; None: any
    status: int | None = 200  # the final status; None: no response can be read
    keeps: bool = True  # complete and keep-alive: a client may pool the connection after it
    endings: tuple[str, ...] = KEEP_OR_NOT
    tail: bytes | None = None  # bytes past its framing (None: b"EXTRA"; b"": its body's)
    has_body: bool = True


def _failing(build: Build, endings: tuple[str, ...] = KEEP_OR_NOT) -> Framing:
    return Framing(build, status=None, keeps=False, endings=endings)


FRAMINGS: dict[str, Framing] = {
    "length": Framing(lambda rng, t, b: sized(t, b), weight=4),
    "chunked": Framing(chunked, weight=4, tail=b"garbage after the last chunk\r\n"),
    "interim, then length": Framing(lambda rng, t, b: interim(rng, t) + sized(t, b), weight=2),
    "interim, then chunked": Framing(lambda rng, t, b: interim(rng, t) + chunked(rng, t, b)),
    "HTTP/1.0": Framing(lambda rng, t, b: sized(t, b, version="HTTP/1.0"), keeps=False),
    "Connection: close": Framing(lambda rng, t, b: sized(t, b, "Connection: close"), keeps=False),
    "close-delimited": Framing(lambda rng, t, b: response(200, t, body=b), keeps=False, endings=CLOSED),
    "HEAD": Framing(
        lambda rng, t, b: response(200, t, f"Content-Length: {len(b)}"),
        weight=3,
        method="HEAD",
        tail=b"",
        has_body=False,
    ),
    "HEAD chunked": Framing(
        lambda rng, t, b: response(200, t, _CHUNKED),
        method="HEAD",
        tail=b"5\r\nhello\r\n0\r\n\r\n",
        has_body=False,
    ),
    "204": Framing(
        lambda rng, t, b: response(204, t), weight=2, method="GET", status=204, tail=b"", has_body=False
    ),
    "304": Framing(
        lambda rng, t, b: response(304, t, 'ETag: "e"', f"Content-Length: {len(b)}"),
        weight=2,
        method="GET",
        status=304,
        tail=b"",
        has_body=False,
    ),
    "101 without Upgrade": Framing(
        lambda rng, t, b: response(101, t), method="GET", status=101, tail=b"\x81\x05hello", has_body=False
    ),
    "no response": _failing(lambda rng, t, b: b"", CLOSED),
    "truncated body": _failing(
        lambda rng, t, b: response(200, t, f"Content-Length: {len(b) + 50}", body=b), CLOSED
    ),
    "garbage status line": _failing(
        lambda rng, t, b: rng.choice((b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n"))
    ),
    "bad chunk size": _failing(lambda rng, t, b: response(200, t, _CHUNKED) + b"zz\r\nhello\r\n0\r\n\r\n"),
    "negative chunk size": _failing(
        lambda rng, t, b: response(200, t, _CHUNKED) + b"-5\r\nhello\r\n0\r\n\r\n"
    ),
}
_408 = response(408, None, "Connection: close", "Content-Length: 0")


def followers(token: str, framing: Framing, body: bytes) -> list[tuple[str, bytes, str | None]]:
    """What may follow a response that keeps the connection: (name, bytes, the ending it forces)."""
    tail = b"EXTRA" if framing.tail is None else framing.tail or body
    return [
        ("", b"", None),
        ("", b"", None),
        ("", b"", None),
        ("an unsolicited response", sized(f"smuggled-after-{token}", b"SMUGGLED"), None),
        ("a stray CRLF", b"\r\n", None),
        ("bytes past its framing", tail, None),
        ("a 408 on the idle connection", _408, "close"),
    ]


METHODS = ("GET",) * 6 + ("PUT", "DELETE", "POST")


def make_script(seed: int, number: int, variant: int, token: str, pauses: tuple[float, ...]) -> Script:
    """Script ``number`` of ``seed`` (kind, what follows, ending, request) cut as ``variant`` says.

    The same arguments, with a token of the same length, give the same script.
    """
    rng = random.Random(f"{seed}/{number}")
    name = rng.choices(list(FRAMINGS), weights=[f.weight for f in FRAMINGS.values()])[0]
    framing = FRAMINGS[name]
    # Up to a little over one 64 KiB receive; well under what loopback socket buffers hold, as the
    # script is played to its end before the client reads the body.
    body = f"[{token}]".encode() + b"." * rng.choice((0, 0, 0, 30, 3000, 70000))
    method = framing.method or rng.choice(METHODS)
    chunked_request = method in ("GET", "DELETE") and rng.random() < 0.05
    after, extra, forced = rng.choice(followers(token, framing, body)) if framing.keeps else ("", b"", None)
    ending = forced or rng.choice(framing.endings)
    data = framing.build(rng, token, body)
    stream = data + extra
    cut_rng = random.Random(f"{seed}/{number}/{variant}")
    count = cut_rng.choice((0, 1, 1, 2, 3)) if len(stream) > 1 else 0
    cuts = {cut_rng.randint(1, len(stream) - 1) for _ in range(count)}
    if extra and cut_rng.random() < 0.7:
        cuts.add(len(data))  # the end of the response: what follows it comes apart, or late
    steps: list[Step] = []
    start = 0
    for cut in sorted(cuts):
        steps += [stream[start:cut], APART if cut_rng.random() < 0.4 else cut_rng.choice(pauses)]
        start = cut
    steps.append(stream[start:])
    if ending != "keep" and cut_rng.random() < 0.3:
        steps.append(cut_rng.choice(pauses))
    return Script(
        name=f"{name}, then {after}" if after else name,
        method=method,
        steps=tuple(steps),
        ending=ending,
        status=framing.status,
        body=body if framing.has_body and method != "HEAD" else b"",
        chunked_request=chunked_request,
    )


def healthy(token: str) -> Script:
    """A plain keep-alive response."""
    body = f"[{token}]".encode()
    return Script("healthy", "GET", (sized(token, body),), "keep", 200, body)


# -- the server ------------------------------------------------------------------------
_TOKEN = re.compile(rb"^[A-Z]+ /r/([\w.-]+) ")
_TCP_FIN_WAIT1 = 4  # linux/tcp_states.h: a FIN sent and not yet acknowledged
_TCP_CLOSE = 7  # ... reset by the peer: nothing more will be acknowledged


class ScriptServer:
    """A loopback server playing each request's registered script; counts arrivals by id.

    A request arrives when its request line does; one whose body does not
    come within ``REQUEST_WAIT`` (a chunked request never ended) is counted,
    noted in ``incomplete`` and answered by a close.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.arrivals: Counter[str] = Counter()
        self.played: Counter[str] = Counter()
        self.incomplete: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._raw = RawServer(self._serve, read_head=False, keep_peers=False)

    def __enter__(self) -> ScriptServer:
        self._raw.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._raw.stop()

    def url(self, token: str) -> str:
        return self._raw.url(f"/r/{token}")

    def _serve(self, peer: Peer) -> None:
        for _ in range(1000):
            if not peer.unread and not _wait_for_request(peer):
                return
            peer.sock.settimeout(REQUEST_WAIT)
            try:
                request, complete = peer.read_request(), True
            except (TimeoutError, ConnectionAbortedError):
                request, complete = peer.unread, False
            if not request:
                return
            found = _TOKEN.match(request)
            assert found, f"a request the harness did not send: {request[:200]!r}"
            token = found.group(1).decode()
            with self._lock:
                self.arrivals[token] += 1
                self.incomplete[token] += not complete
            try:
                if not complete:
                    peer.sock.close()
                    return
                if not self._play(peer, self.scripts[token]):
                    return
            finally:
                with self._lock:
                    self.played[token] += 1

    def _play(self, peer: Peer, script: Script) -> bool:
        """Send the script; True if the connection stays open for another request.

        It returns once the client's kernel has what was sent: every byte
        and a FIN acknowledged, a RST given time to land.

        Discussion: a loopback send may return before the peer's socket
        holds the bytes (the kernel may finish delivering them in a softirq
        thread). A client checking its idle connection just then sees
        nothing yet: the urllib3 path reused such connections, and its
        answers varied from run to run, until this wait.
        """
        for step in script.steps:
            if isinstance(step, float):
                time.sleep(step)
            elif step:
                peer.send(step)
        _wait_acknowledged(peer.sock)
        if script.ending == "reset":
            peer.reset()
            time.sleep(RST_LANDS)
        elif script.ending == "close":
            peer.sock.shutdown(socket.SHUT_WR)
            _wait_acknowledged(peer.sock)
            peer.sock.close()
        return script.ending == "keep"

    def wait_played(self, response: requests.Response, **kwargs: Any) -> None:
        """A response hook: return once every arrival of the request has been answered in full."""
        token = response.request.url.rsplit("/", 1)[1]  # type: ignore[union-attr]
        deadline = time.monotonic() + SETTLE
        while self.played[token] < self.arrivals[token] and time.monotonic() < deadline:
            gfetch.sleep(0.002)


def _wait_acknowledged(sock: socket.socket) -> None:
    """Wait (at most SETTLE) until the peer acknowledged every byte sent, and the FIN if one was
    sent; or reset the connection."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        unacknowledged = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        if state == _TCP_CLOSE or (not unacknowledged and state != _TCP_FIN_WAIT1):
            return
        time.sleep(0.0005)


def _wait_for_request(peer: Peer) -> bool:
    """Wait (up to IDLE_WAIT, or the server's stop) for the next request's first byte."""
    peer.sock.settimeout(IDLE_WAIT)
    try:
        return bool(peer.sock.recv(1, socket.MSG_PEEK))
    except OSError:
        return False


# -- the clients -----------------------------------------------------------------------
@contextlib.contextmanager
def client(transport: str, server: ScriptServer) -> Iterator[requests.Session]:
    """A session of ``transport`` ("urllib3", "auto", "auto+httptools" or PLAIN) whose responses wait
    for the server (see :meth:`ScriptServer.wait_played`)."""
    with contextlib.ExitStack() as stack:
        if transport == "auto+httptools":
            patch = stack.enter_context(pytest.MonkeyPatch.context())
            patch.setattr(connection, "parse_response_head", http1_httptools.parse_response_head)
        session = stack.enter_context(
            requests.Session() if transport == PLAIN else gfetch.Session(transport=transport.split("+")[0])
        )
        session.hooks["response"].append(server.wait_played)
        yield session


def _options(script: Script) -> dict[str, Any]:
    return {
        "headers": {"Transfer-Encoding": "chunked"} if script.chunked_request else None,
        "data": b"request body" if script.method in ("PUT", "POST") else None,
    }


def outcome(result: Any) -> Outcome:
    if isinstance(result, BaseException):
        return ("raised", type(result).__name__, str(result)[:300])
    return ("response", result.status_code, result.headers.get("X-Id"), result.content)


def one_by_one(session: requests.Session, server: ScriptServer, tokens: list[str]) -> list[Outcome]:
    results = []
    for token in tokens:
        script = server.scripts[token]
        try:
            result: Any = session.request(
                script.method, server.url(token), timeout=TIMEOUT, **_options(script)
            )
        except Exception as exc:  # noqa: BLE001 - whatever its class, it is compared
            result = exc
        results.append(outcome(result))
    return results


def mapped(session: requests.Session, server: ScriptServer, tokens: list[str], size: int) -> list[Outcome]:
    items = [
        gfetch.request(server.scripts[t].method, server.url(t), **_options(server.scripts[t])) for t in tokens
    ]
    results = gfetch.map(items, size=size, session=session, timeout=TIMEOUT, return_exceptions=True)
    return [outcome(result) for result in results]


Batch = tuple[list[str], int]  # tokens, and the map size they are sent with (0: one by one)


def drive(server: ScriptServer, transport: str, batches: list[Batch]) -> dict[str, Outcome]:
    """Send the batches in turn through one session of ``transport``; the outcome of each token."""
    results: dict[str, Outcome] = {}
    with client(transport, server) as session:
        for tokens, size in batches:
            outcomes = mapped(session, server, tokens, size) if size else one_by_one(session, server, tokens)
            results.update(zip(tokens, outcomes, strict=True))
    return results


# -- the invariants --------------------------------------------------------------------
def problems(server: ScriptServer, token: str, got: Outcome, ref_token: str, reference: Outcome) -> list[str]:
    """What is wrong with ``got``, a transport's outcome for ``token``, given its script and the
    urllib3 path's outcome for the same script (sent as ``ref_token``)."""
    script = server.scripts[token]
    found = []
    if got[0] == "response":
        _, status, named, body = got
        if named != token:
            found.append(f"got another request's response: {status}, X-Id {named!r}, body {_short(body)}")
        elif (status, body) != (script.status, script.body) and got != _renamed(reference, ref_token, token):
            found.append(
                f"got {status} {_short(body)}; the script sent {script.status} "
                f"{_short(script.body)}, urllib3 got {reference[:2]}"
            )
    elif reference[0] != "raised":
        found.append(f"raised {got[1]}({got[2]}) where urllib3 delivered {reference[1]}")
    elif got[1] != reference[1]:
        found.append(f"raised {got[1]}({got[2]}), urllib3 raised {reference[1]}({reference[2]})")
    arrivals, ref_arrivals = server.arrivals[token], server.arrivals[ref_token]
    if arrivals > ref_arrivals:
        found.append(f"reached the server {arrivals} times, {ref_arrivals} on urllib3")
    if server.incomplete[token] > server.incomplete[ref_token]:
        found.append("arrived incomplete: the server waited for the rest of the request, then closed")
    return found


def _renamed(result: Outcome, old: str, new: str) -> Outcome:
    """A response outcome with the token ``old`` (in X-Id and body) replaced by ``new``."""
    if result[0] != "response":
        return result
    _, status, named, body = result
    return ("response", status, new if named == old else named, body.replace(old.encode(), new.encode()))


@dataclass
class Finding:
    transport: str
    mode: str
    where: str
    script: str
    problems: list[str]

    def __str__(self) -> str:
        lines = [f"[{self.transport}, {self.mode}] {self.where}: {self.script}", *self.problems]
        return "\n    ".join(lines)


Run = tuple[list[str], dict[str, Outcome]]  # the scripted tokens, in the plan's order; every outcome


def compare(server: ScriptServer, runs: dict[str, Run], mode: str, where: list[str]) -> list[Finding]:
    """The findings of each transport's run against the reference's, script by script."""
    ref_tokens, ref_outcomes = runs[REFERENCE]
    findings = []
    for transport, (tokens, outcomes) in runs.items():
        for i, token in enumerate(tokens):
            got = outcomes[token]
            if transport == REFERENCE:  # the harness's own check: the urllib3 path never mixes responses up
                mixed_up = got[0] == "response" and got[2] != token
                found = [f"got another request's response: {got}"] if mixed_up else []
            else:
                found = problems(server, token, got, ref_tokens[i], ref_outcomes[ref_tokens[i]])
            if found:
                script = server.scripts[token].describe(token)
                findings.append(Finding(transport, mode, where[i], script, found))
    return findings


def _code(transport: str, mode: str) -> str:
    """Two characters per (transport, mode): every run's tokens have the same length."""
    letter = "uahr"[[REFERENCE, "auto", "auto+httptools", PLAIN].index(transport)]
    return f"{letter}{('sequence', 'map', 'case').index(mode)}"


# -- fuzzing ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Size:
    scripts: int  # different scripts per seed
    variants: int  # cuts and pauses of each
    seeds: tuple[int, ...]

    @property
    def requests(self) -> int:
        """Scripted requests per transport and mode."""
        return self.scripts * self.variants * len(self.seeds)


def fuzz_run(
    server: ScriptServer,
    transport: str,
    mode: str,
    plan: list[tuple[int, int, int]],
    pauses: tuple[float, ...],
    findings: list[Finding],
) -> Run:
    """One transport's pass over ``plan`` in ``mode``.

    In a map, 0 to 2 healthy requests follow each scripted one; each must
    get its own response and reach the server once.
    """
    code = _code(transport, mode)
    tokens = [f"{code}-{i:05d}" for i in range(len(plan))]
    others = [f"{token}h{k}" for i, token in enumerate(tokens) for k in range(i % 3)] if mode == "map" else []
    for token, (seed, n, v) in zip(tokens, plan, strict=True):
        server.scripts[token] = make_script(seed, n, v, token, pauses)
    for other in others:
        server.scripts[other] = healthy(other)
    sent = sorted(tokens + others)  # each scripted request, then its healthy ones
    results = drive(server, transport, [(sent, MAP_SIZE if mode == "map" else 0)])
    for other in others:
        script = server.scripts[other]
        if results[other] != ("response", 200, other, script.body) or server.arrivals[other] != 1:
            found = f"got {results[other]}, reached the server {server.arrivals[other]} times"
            findings.append(
                Finding(transport, mode, "a healthy request alongside", script.describe(other), [found])
            )
    return tokens, results


def play(
    size: Size, transports: list[str], pauses: tuple[float, ...] = PAUSES, only: tuple[int, int] | None = None
) -> tuple[list[Finding], dict[str, float]]:
    """Run ``size`` through the reference and ``transports``: the findings, and the seconds of each run.

    ``only=(script, variant)`` plays just that one of each seed (a replay).
    """
    findings: list[Finding] = []
    seconds = {}
    plan = [
        (seed, n, v)
        for seed in size.seeds
        for n in range(size.scripts)
        for v in range(size.variants)
        if only is None or (n, v) == only
    ]
    for mode in ("sequence", "map"):
        runs = {}
        with ScriptServer() as server:
            for transport in [REFERENCE, *transports]:
                started = time.monotonic()
                runs[transport] = fuzz_run(server, transport, mode, plan, pauses, findings)
                seconds[f"{transport} {mode}"] = round(time.monotonic() - started, 2)
        names = [server.scripts[token].name for token in runs[REFERENCE][0]]
        where = [
            f"seed {seed} script {n} variant {v}"
            + (f" (after {names[i - 1]!r})" if mode == "sequence" and i else "")
            for i, (seed, n, v) in enumerate(plan)
        ]
        findings += compare(server, runs, mode, where)
    return findings, seconds


def _seeds(default: tuple[int, ...]) -> tuple[int, ...]:
    replay = os.environ.get("GFETCH_FUZZ_SEED")
    return (int(replay),) if replay else default


def fuzz(size: Size, transports: list[str], pauses: tuple[float, ...]) -> None:
    findings, seconds = play(size, transports, pauses)
    print(f"fuzz {size}: {size.requests} scripted requests per transport and mode; seconds {seconds}")
    if findings:
        kinds = Counter(f"{f.transport}, {f.mode}: {f.script.split(':')[0]}" for f in findings)
        summary = "\n".join(f"  {count} x {kind}" for kind, count in kinds.most_common())
        listed = "\n".join(str(f) for f in findings[:40])
        pytest.fail(
            f"{len(findings)} findings (replay a seed: GFETCH_FUZZ_SEED=<seed>)\n{summary}\n{listed}",
            pytrace=False,
        )


def test_fuzz_small() -> None:
    fuzz(Size(scripts=12, variants=2, seeds=_seeds((20270101,))), TRANSPORTS, PAUSES[:2])


def test_the_harness_finds_nothing_wrong_with_plain_requests() -> None:
    """No false alarms: plain requests (urllib3, blocking) against the reference, the same invariants."""
    fuzz(Size(scripts=8, variants=2, seeds=(20270103,)), [PLAIN], PAUSES[:2])


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fuzz_large() -> None:
    fuzz(Size(scripts=30, variants=3, seeds=_seeds(tuple(range(1, 5)))), TRANSPORTS, PAUSES)


# -- the minimal reproductions ---------------------------------------------------------
Builder = Callable[[str], Script]


def late(
    name: str,
    first: Callable[[str, bytes], bytes],
    then: bytes,
    *,
    method: str = "GET",
    status: int = 200,
    has_body: bool = True,
    ending: str = "keep",
) -> Builder:
    """A response at once, then ``then`` LATE seconds later (while the connection is idle)."""

    def build(token: str) -> Script:
        body = f"[{token}]".encode()
        steps = (first(token, body), LATE, then)
        return Script(name, method, steps, ending, status, body if has_body else b"")

    return build


def no_reply(method: str) -> Builder:
    return lambda token: Script("no reply, then close", method, (), "close", None)


def healthy_late(token: str) -> Script:
    """A healthy response LATE seconds late: requests sent at once each open a connection."""
    return Script("healthy, late", "GET", (LATE, *healthy(token).steps), "keep", 200, healthy(token).body)


def negative_chunk(token: str) -> Script:
    data = response(200, token, _CHUNKED) + b"-5\r\nhello\r\n0\r\n\r\n"
    return Script("negative chunk size, connection kept", "GET", (data,), "keep", None)


def chunked_request(token: str) -> Script:
    return Script(
        "request headers say chunked, no body",
        "GET",
        healthy(token).steps,
        "keep",
        200,
        healthy(token).body,
        chunked_request=True,
    )


_TEN = b"0123456789"  # as long as a body "[<token>]"

# name -> the requests, in order; a list is sent at once (gfetch.map).
KNOWN: dict[str, list[Builder | list[Builder]]] = {
    "unsolicited response, late": [
        late(
            "Content-Length, then an unsolicited response",
            lambda t, b: sized(t, b),
            sized("unsolicited", b"SMUGGLED"),
        ),
        healthy,
    ],
    "HEAD, then its body late": [
        late(
            "HEAD, then its body",
            lambda t, b: response(200, t, "Content-Length: 10"),
            _TEN,
            method="HEAD",
            has_body=False,
        ),
        healthy,
    ],
    "204, then a body late": [
        late("204, then a body", lambda t, b: response(204, t), _TEN, status=204, has_body=False),
        healthy,
    ],
    "304, then a body late": [
        late(
            "304, then a body",
            lambda t, b: response(304, t, "Content-Length: 10"),
            _TEN,
            status=304,
            has_body=False,
        ),
        healthy,
    ],
    "body past Content-Length, late": [
        late("Content-Length, then more bytes", lambda t, b: sized(t, b), b"EXTRA"),
        healthy,
    ],
    "101 without Upgrade, then data late": [
        late(
            "101 without Upgrade, then data",
            lambda t, b: response(101, t),
            b"\x81\x05hello",
            status=101,
            has_body=False,
        ),
        healthy,
    ],
    "408 on the idle connection": [
        late("Content-Length, then a 408 and close", lambda t, b: sized(t, b), _408, ending="close"),
        healthy,
    ],
    "garbage after the last chunk, late": [
        late("chunked, then garbage", lambda t, b: chunked(random.Random(0), t, b), b"garbage\r\n"),
        healthy,
    ],
    "stray CRLF, late": [late("Content-Length, then CRLF", lambda t, b: sized(t, b), b"\r\n"), healthy],
    "GET closed without reply on a reused connection": [healthy, no_reply("GET")],
    "PUT closed without reply on a reused connection": [healthy, no_reply("PUT")],
    "DELETE closed without reply on a reused connection": [healthy, no_reply("DELETE")],
    "GET closed without reply, 20 idle connections": [[healthy_late] * 20, no_reply("GET")],
    "negative chunk size, connection kept": [negative_chunk],
    "Transfer-Encoding: chunked header, no body": [chunked_request],
}


@pytest.mark.parametrize("name", KNOWN)
def test_known_case(name: str) -> None:
    runs: dict[str, Run] = {}
    with ScriptServer() as server:
        for transport in [REFERENCE, *TRANSPORTS]:
            batches: list[Batch] = []
            for step in KNOWN[name]:
                builders = step if isinstance(step, list) else [step]
                first = sum(len(tokens) for tokens, _ in batches)
                tokens = [f"{_code(transport, 'case')}-{first + k:05d}" for k in range(len(builders))]
                server.scripts.update((t, build(t)) for t, build in zip(tokens, builders, strict=True))
                batches.append((tokens, len(tokens) if isinstance(step, list) else 0))
            every = [t for tokens, _ in batches for t in tokens]
            runs[transport] = (every, drive(server, transport, batches))
    findings = compare(server, runs, "case", [f"request {i + 1}" for i in range(len(runs[REFERENCE][0]))])
    assert not findings, "\n".join(str(f) for f in findings)


INTERIMS = 100_000  # 2.8 MB of "102 Processing", in 1,000 pieces


def test_interim_flood_is_cooperative_and_bounded() -> None:
    """A server flooding 102s: the request ends soon (a response or a failure) and the hub keeps running."""
    flood = b"HTTP/1.1 102 Processing\r\n\r\n" * (INTERIMS // 1000)
    with ScriptServer() as server, client("auto", server) as session:
        server.scripts["flood"] = Script(
            "102 flood", "GET", (flood,) * 1000 + healthy("flood").steps, "keep", 200, healthy("flood").body
        )
        ticker = Ticker(10_000)
        started = time.monotonic()
        with contextlib.suppress(requests.RequestException):
            got = session.get(server.url("flood"), timeout=TIMEOUT)
            assert (got.status_code, got.headers["X-Id"]) == (200, "flood")
        elapsed = time.monotonic() - started
        ticker.stop()
        ticker.join()
    ticks = [started, *ticker.ticks, started + elapsed]
    assert max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) < 0.5, "the hub stalled on the interims"
    assert elapsed < 3.0
