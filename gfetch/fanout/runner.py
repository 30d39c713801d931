"""The fan-out engine behind map, imap, imap_enumerated and crawl.

Imports requests (a type), gfetch.fanout.asyncrequest (AsyncRequest), gfetch.fanout.limits,
gfetch.fanout.retry, gfetch.fanout.requesterrors, gfetch.fanout.progress, gfetch.integration.session
(the default timeout), gfetch.core.greenlets, gfetch.core.hub, gfetch.core.sync and
gfetch.core.timings.

One call = at most ``size`` worker greenlets in the pool, started as the
input proves long enough to need them. Each worker takes the next request
from the (possibly endless, possibly dynamic) input only when it is free,
so memory stays flat however long the input is; it applies the per-host and
rate limits, sends, retries when the policy says so, and reports
``(index, request)`` on a queue that the caller's iterator drains in
completion order. Reusing workers rather than spawning a greenlet per
request saves the greenlet, its pool slot and their wake-ups: a quarter of
gfetch's own CPU per request. ``gtimeout`` bounds the whole call: at the
deadline the workers are killed (their connections are closed by urllib3 on
the way out, never pooled half-read) and every request not finished is
reported with a :class:`RequestCancelled`.

The options, written once
-------------------------
:class:`FanOutOptions` is the one list of the options, a TypedDict: each
option's name, type and default (``Annotated[type, Default(value)]``) on a
line. grequests takes ``stream``, ``size`` and ``gtimeout`` by position, and a
``**`` TypedDict may not repeat a named parameter, so the list is cut in
three nested parts, each the options a function takes by keyword only:
:class:`MapOptions` (map), :class:`ImapOptions` (imap, imap_enumerated: and
``gtimeout``), :class:`FanOutOptions` (crawl: and ``stream``, ``size``). A
public function names grequests' parameters and its own, then takes
``**options: Unpack[...]`` (typing_extensions' ``Unpack``, for type checkers
only: Python 3.10 has none) and passes them on by name,
``FanOut(stream=stream, size=size, gtimeout=gtimeout, **options)``; a
:class:`FanOut` fills in the defaults and checks the values. So a type
checker checks the callers' keywords and types, and follows each option,
a key of the one TypedDict, from the API to its use here. At run time
:func:`takes_options` gives each function the signature that ``inspect``
and ``help()`` show, built from the same list, and rejects an unknown
keyword at the call. A new option is one line in the list: every function
that takes the part it is in takes it.

From ``timeout=`` to the socket
-------------------------------
* ``timeout`` (requests' form: seconds, ``(connect, read)`` or None) is the
  key ``"timeout"`` from the call to ``FanOut.options``; default
  :data:`DEFAULT_TIMEOUT`, a :class:`~gfetch.integration.session.DefaultTimeout`.
* :meth:`FanOut._attempts` passes it as ``timeout=`` to the request's send
  (``AsyncRequest.send_with``), unless the request has a ``timeout=`` of its
  own, which wins; the request itself is left as it was (it may be sent
  again, in another call with another timeout).
* ``Session.request`` (gfetch.integration.session) gives a request without one the
  session's ``timeout``, and turns a DefaultTimeout into None for an
  adapter with a ``send`` of its own (it applies its own default, as under
  requests).
* requests' ``HTTPAdapter.send`` makes it a urllib3 ``Timeout(connect=,
  read=)`` for ``urlopen``.
* gfetch.http11.pool (or urllib3's pool, via gfetch.integration.adapter) sets the socket's
  timeout: connect timeout to connect and send, read timeout for the wait
  for the response head and each read of the body. The cooperative socket
  (gfetch.io.sockets) parks the greenlet under it in ``Hub.park``.

``deadline`` takes another way: the key ``"deadline"``, or a request's own
``deadline``, becomes a :class:`~gfetch.fanout.asyncrequest.Deadline` around all of
one request's attempts in :meth:`FanOut.execute`: a timer in the hub that
starts when the request has its first limits slot and interrupts the
worker's park, whatever it waits for; a streamed body takes the rest along
(``BodyDeadline``). ``gtimeout`` bounds the caller's wait for the results
in :meth:`FanOut._finished`; then :meth:`FanOut._cancelled` kills the workers.

The parts of one call (:meth:`FanOut.run`): :class:`_Intake`, the input and
its credits (taken but not yet reported <= size); :class:`_Workers`, the
greenlets that send; :class:`_Results`, the channel back to the caller;
:meth:`FanOut._finished`, which drains it until the end or the gtimeout;
:meth:`FanOut._cancelled`, what the gtimeout reports; :func:`_stop`, the
cleanup on every way out.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextvars import Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypedDict, TypeVar, cast, get_type_hints

import requests
from greenlet import getcurrent
from urllib3.util.retry import Retry

from gfetch.core.greenlets import Greenlet, killall, sleep
from gfetch.core.hub import get_hub
from gfetch.core.sync import Empty, Pool, Queue, Semaphore
from gfetch.core.timings import CURRENT, RequestTrace, perf_counter
from gfetch.fanout.asyncrequest import AsyncRequest, Deadline, UnusableItem, coerce_request, require_deadline
from gfetch.fanout.limits import HostLimits
from gfetch.fanout.progress import make_progress
from gfetch.fanout.requesterrors import RequestCancelled, RequestDeadlineExceeded
from gfetch.fanout.retry import RetryPolicy, retry_policy
from gfetch.integration.session import DefaultTimeout

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's from Python 3.11

__all__ = [
    "DEFAULT_SIZE",
    "DEFAULT_TIMEOUT",
    "FanOut",
    "FanOutOptions",
    "ImapOptions",
    "MapOptions",
    "takes_options",
]

logger = logging.getLogger("gfetch")

DEFAULT_SIZE = 100
DEFAULT_TIMEOUT = DefaultTimeout((10.0, 30.0))  # an adapter's own default wins (see DefaultTimeout)

_END = object()

P = ParamSpec("P")
R = TypeVar("R")

TimeoutArg = float | tuple[float | None, float | None] | None  # requests' timeout=, not a gfetch.Timeout


@dataclass(frozen=True)
class Default:
    """An option's default, in its annotation: ``Annotated[type, Default(value)]``."""

    value: Any


class MapOptions(TypedDict, total=False):
    """The options every fan-out function takes by keyword only (map's after ``*``)."""

    deadline: Annotated[float | None, Default(None)]
    timeout: Annotated[TimeoutArg, Default(DEFAULT_TIMEOUT)]
    per_host: Annotated[int | None, Default(None)]
    rate: Annotated[float | None, Default(None)]
    per_host_rate: Annotated[float | None, Default(None)]
    retries: Annotated[int | RetryPolicy | Retry | None, Default(None)]
    session: Annotated[requests.Session | None, Default(None)]
    progress: Annotated[bool, Default(False)]
    pool: Annotated[Pool | None, Default(None)]


class ImapOptions(MapOptions, total=False):
    """imap's and imap_enumerated's: map's, and ``gtimeout`` (grequests' map takes it by position)."""

    gtimeout: Annotated[float | None, Default(None)]


class FanOutOptions(ImapOptions, total=False):
    """All the options (crawl's and :class:`FanOut`'s): imap's, and ``stream`` and ``size``
    (grequests' imap takes them by position)."""

    stream: Annotated[bool, Default(False)]
    size: Annotated[int | None, Default(None)]


def _parameters(options: type) -> list[inspect.Parameter]:
    """A TypedDict of options as keyword-only parameters: each key with its type and default."""
    return [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=hint.__metadata__[0].value,
            annotation=hint.__origin__,
        )
        for name, hint in get_type_hints(options, include_extras=True).items()
    ]


_DEFAULTS = cast(FanOutOptions, {option.name: option.default for option in _parameters(FanOutOptions)})


def takes_options(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, taking only the options its ``**options: Unpack[SomeOptions]`` names.

    Type checkers read the ``Unpack`` itself. At run time a keyword that is
    not one of ``SomeOptions``' keys raises TypeError at the call, as for
    any parameter (a generator's body would only see it when first
    iterated), and ``inspect``, ``help()`` and ``typing.get_type_hints``
    show the keys as keyword parameters, with their types and defaults.

    Raises:
        TypeError: ``function`` takes no ``**options: Unpack[...]`` of a TypedDict it can see.
    """
    signature = inspect.signature(function)
    *named, options = signature.parameters.values()
    match = re.fullmatch(r"Unpack\[(\w+)\]", str(options.annotation))
    if options.kind is not options.VAR_KEYWORD or match is None:
        raise TypeError(f"{function.__qualname__} takes no **options: Unpack[...]")
    expanded = _parameters(function.__globals__[match[1]])
    known = frozenset(parameter.name for parameter in (*named, *expanded))

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        unknown = kwargs.keys() - known
        if unknown:
            raise TypeError(f"{function.__name__}() got an unexpected keyword argument {min(unknown)!r}")
        return function(*args, **kwargs)

    checked.__signature__ = signature.replace(parameters=[*named, *expanded])  # type: ignore[attr-defined]
    annotations = {name: value for name, value in function.__annotations__.items() if name != options.name}
    checked.__annotations__ = {**annotations, **{option.name: option.annotation for option in expanded}}
    return checked


class FanOut:
    """One fan-out call with its options (those not given take their defaults); :meth:`run` does the work.

    Raises:
        ValueError: ``size`` or ``per_host`` below 1, or ``deadline`` or ``rate`` not above 0.
    """

    def __init__(self, **given: Unpack[FanOutOptions]) -> None:
        options: FanOutOptions = {**_DEFAULTS, **given}
        self.options = options
        size, deadline = options["size"], options["deadline"]
        if size is not None and size < 1:
            raise ValueError(f"size must be >= 1 or None (= {DEFAULT_SIZE}), got {size}")
        require_deadline(deadline)
        self.pool = options["pool"] if options["pool"] is not None else Pool(size or DEFAULT_SIZE)
        self.limits = HostLimits(options["per_host"], options["rate"], options["per_host_rate"])
        self.retry = retry_policy(options["retries"])
        # One attempt, nothing to wait for before it: no limits, no retries (the common case).
        unlimited = options["per_host"] is None and not options["rate"] and not options["per_host_rate"]
        self._single = unlimited and type(self.retry) is RetryPolicy and not self.retry.retries
        # What each request's send is given (send_with reads it, never changes it).
        self._overrides = {"stream": options["stream"], "timeout": options["timeout"]}
        self._overrides_own_timeout = {"stream": options["stream"]}

    # -- one request ----------------------------------------------------
    def execute(self, request: AsyncRequest) -> None:
        """Send ``request`` within the limits and its deadline, retrying per the policy.

        Never raises an ``Exception``: whatever goes wrong with this one item
        (its URL, the limits, the retry policy, a hook, decoding) becomes its
        failure, so no item can end a worker, and with it the call.
        """
        if isinstance(request, UnusableItem):
            return
        # The request's trace, if its Session has a hook: shared with the Session (gfetch.core.timings).
        session = request.session if request.session is not None else self.options["session"]
        hook = getattr(session, "trace", None)
        token = None if hook is None else _start_trace(hook, request)
        try:
            seconds = request.deadline if request.deadline is not None else self.options["deadline"]
            if seconds is None:
                self._attempts(request, None)
            else:
                with Deadline(request, seconds) as deadline:
                    self._attempts(request, deadline)
        except Exception as exc:
            request.fail(exc)
        finally:
            if token is not None:
                _end_trace(token, request)

    def _attempts(self, request: AsyncRequest, deadline: Deadline | None) -> None:
        options = self.options
        overrides = self._overrides if "timeout" not in request.kwargs else self._overrides_own_timeout
        if request.session is None and options["session"] is not None:
            request.session = options["session"]
        if self._single:
            if deadline is not None:
                deadline.start()
            request.send_with(overrides)
            return
        attempt = 0
        waited = 0.0  # for limits and backoff: the response's timings.blocked
        while True:
            waited -= perf_counter()
            with self.limits.slot(request.url):
                waited += perf_counter()
                if deadline is not None:
                    deadline.start()  # once: waits for a first slot do not count
                request.send_with(overrides)
            if not self.retry.should_retry(request.method, request.response, request.exception, attempt):
                error = self.retry.final_error(request.method, request.response)
                if error is not None:
                    raise error  # the request's failure (execute), its response closed
                _add_blocked(request.response, waited)
                return
            delay = self.retry.delay(request.response, attempt)
            if request.response is not None:
                request.response.close()
            logger.debug(
                "retrying %s %s in %.2f s (attempt %d)", request.method, request.url, delay, attempt + 1
            )
            _emit_retry(request, delay, attempt + 1)
            request.response = request.exception = request.traceback = None
            attempt += 1
            waited -= perf_counter()
            sleep(delay)
            waited += perf_counter()

    # -- the call -------------------------------------------------------
    def run(
        self, items: Iterable[Any], total: int | None = None, report_unsent: bool = False, paced: bool = True
    ) -> Iterator[tuple[int, AsyncRequest]]:
        """Yield ``(index, request)`` as each finishes (or is cancelled).

        With ``report_unsent`` the input left over after a gtimeout is still
        read and reported as cancelled (map needs a slot per input).
        ``paced``: the caller's pace holds the workers back (see
        :class:`_Intake`). map, whose input is a list and which keeps every
        result, passes False: a worker then takes its next request at once,
        without waiting for the caller to have received its last one (a
        park, a wake-up and a pass of the hub per request saved).
        """
        _finish_abandoned_cleanups()
        intake = _Intake(items, self.pool.size if paced else None)
        results = _Results()
        crew = _Workers(self.pool, self.execute, intake, results)
        progress = make_progress(total) if self.options["progress"] else None
        # A known length starts its workers at once (a burst of thousands is
        # then in flight together); an open-ended input grows them as it goes.
        for _ in range(max(1, min(total or 1, self.pool.free_count()))):
            crew.add()
        try:
            if not (yield from self._finished(intake, results, progress)):
                yield from self._cancelled(intake, results, crew, progress, report_unsent)
        finally:
            _stop(intake, crew, progress)

    def _finished(
        self, intake: _Intake, results: _Results, progress: Any
    ) -> Generator[tuple[int, AsyncRequest], None, bool]:
        """Yield the results as they come; True once all are in, False at the gtimeout.

        Raises:
            whatever reading the input raised, after the results before it.
        """
        gtimeout = self.options["gtimeout"]
        until = None if gtimeout is None else time.monotonic() + gtimeout
        credits = intake.credits
        while True:
            try:
                entries = results.take(until)
            except Empty:
                return False
            for entry in entries:
                if entry is _END:
                    intake.raise_error()
                    return True
                if credits is not None:
                    credits.release()  # the caller has received the result: its credit goes back
                request = entry[1]
                if progress is not None or request.exception is not None:  # else _report has nothing to do
                    self._report(request, progress)
                yield entry

    def _cancelled(
        self, intake: _Intake, results: _Results, crew: _Workers, progress: Any, report_unsent: bool
    ) -> Iterator[tuple[int, AsyncRequest]]:
        """At the gtimeout: kill the workers, then yield every unfinished request, cancelled, by index."""
        gtimeout = self.options["gtimeout"]
        intake.close()
        _raise_if_any(_finish_off(crew.alive, block=True))
        leftovers = results.drain()
        leftovers.extend(intake.in_flight.items())
        if report_unsent:
            leftovers.extend(intake.unsent())
        for index, request in sorted(leftovers, key=lambda entry: entry[0]):
            if request.response is None and request.exception is None:
                request.exception = RequestCancelled(
                    f"gtimeout={gtimeout} s expired before {request.method} {request.url} finished"
                )
            self._report(request, progress)
            yield index, request

    @staticmethod
    def _report(request: AsyncRequest, progress: Any) -> None:
        if progress is not None:
            progress.update(failed=request.response is None)
        if request.exception is not None:
            logger.debug("%s %s failed: %r", request.method, request.url, request.exception)


class _Intake:
    """The call's input, read one item at a time by whichever worker is free.

    Invariant: requests taken but not yet reported to the caller <= the
    pool's size. :meth:`take` spends a credit for each item it hands out;
    :meth:`FanOut._finished` gives it back as the caller receives the result. So a
    slow caller holds the workers back instead of piling up results, and an
    endless input is read no faster than it is consumed. A ``size`` of None
    spends no credits: the pool alone bounds what is in flight.
    """

    def __init__(self, items: Iterable[Any], size: int | None) -> None:
        self._source = iter(items)
        # A list's end is known without asking for one more item, so a worker
        # that finds the input used up exits at once instead of first waiting
        # for a credit.
        self._known_length = len(items) if isinstance(items, (list, tuple)) else None
        # A generator input may park: one reader at a time. A list's iterator never parks.
        self._reading = None if type(items) in (list, tuple) else Semaphore(1)
        self.credits = Semaphore(size) if size is not None else None
        self.taken = 0
        self.exhausted = False
        self.error: Exception | None = None
        self.in_flight: dict[int, AsyncRequest] = {}  # taken, not yet finished

    def take(self) -> tuple[int, AsyncRequest] | None:
        """The next ``(index, request)``, parking for a credit first; None at the end."""
        if self.exhausted:
            return None
        credits = self.credits
        if credits is not None:
            credits.acquire()  # the invariant: taken but not yet reported <= size
        if self._reading is None:
            entry = self._read()
        else:
            with self._reading:
                entry = self._read()
        if entry is None and credits is not None:
            credits.release()
        return entry

    def _read(self) -> tuple[int, AsyncRequest] | None:
        try:
            if not self.exhausted:
                request = _coerce(next(self._source))
                index = self.taken
                self.taken = index + 1
                self.exhausted = index + 1 == self._known_length
                self.in_flight[index] = request
                return index, request
        except StopIteration:
            self.exhausted = True
        except Exception as exc:  # the input's error: raised to the caller
            self.exhausted = True
            self.error = exc
        return None

    def close(self) -> None:
        """Take nothing more: the workers exit after their current request."""
        self.exhausted = True

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def unsent(self) -> Iterator[tuple[int, AsyncRequest]]:
        """The input never taken, read to its end."""
        return ((index, _coerce(item)) for index, item in enumerate(self._source, self.taken))


class _Results:
    """The channel from the workers to the caller: ``(index, request)`` as each
    finishes, then ``_END``."""

    def __init__(self) -> None:
        self._queue: Queue[Any] = Queue()
        self.put = self._queue.put  # (index, request): one call per request, no wrapper

    def end(self) -> None:
        self._queue.put(_END)

    def take(self, until: float | None) -> list[Any]:
        """The entries there, in order (``_END`` last, when the call is over), parking
        while there are none until ``until`` (a ``time.monotonic()``); with an ``until``,
        one entry, so that each is taken only while the call's time is not up.

        Discussion: taking all that came while the caller was busy costs a
        call for them all, not one per entry, and none waits longer for it.

        Raises:
            queue.Empty: ``until`` passed first (the call's gtimeout).
        """
        if until is not None:
            remaining = until - time.monotonic()
            if remaining <= 0:
                raise Empty
            return [self._queue.get(timeout=remaining)]
        entries = [self._queue.get()]
        waiting = self._queue.queue  # the rest, taken at once (the queue is unbounded: no putter waits)
        entries.extend(waiting)
        waiting.clear()
        return entries

    def drain(self) -> list[tuple[int, AsyncRequest]]:
        """The entries not yet taken, without ``_END``."""
        entries = []
        while not self._queue.empty():
            entry = self._queue.get(block=False)
            if entry is not _END:
                entries.append(entry)
        return entries


class _Workers:
    """The worker greenlets of one call, in its pool; the last to exit ends the results.

    Each takes the next request when it is free, sends it and reports it.
    A worker that finds more input starts up to two more, while the pool
    has room, so the crew doubles toward ``size`` each pass and a burst of
    thousands is in flight at once.
    """

    def __init__(
        self, pool: Pool, execute: Callable[[AsyncRequest], None], intake: _Intake, results: _Results
    ) -> None:
        self._pool = pool
        self._execute = execute
        self._intake = intake
        self._results = results
        self.alive: set[Greenlet] = set()

    def add(self) -> None:
        glet = Greenlet(self._work)
        glet.link(self._exited)
        self.alive.add(glet)
        self._pool.start(glet)

    def _work(self) -> None:
        intake, pool, execute, report = self._intake, self._pool, self._execute, self._results.put
        in_flight = intake.in_flight
        while (entry := intake.take()) is not None:
            for _ in range(2):
                if intake.exhausted or pool.free_count() <= 0:
                    break
                self.add()
            index, request = entry
            try:
                execute(request)
            finally:
                in_flight.pop(index, None)
                report(entry)

    def _exited(self, glet: Greenlet) -> None:
        self.alive.discard(glet)
        if not self.alive and self._intake.exhausted:
            self._results.end()


def _add_blocked(response: Any, waited: float) -> None:
    """Count a fan-out's waits (limits, backoff) in the ``blocked`` of the response's first hop."""
    if response is None or not waited:
        return
    first = response.history[0] if response.history else response
    timings = getattr(first, "timings", None)
    if timings is not None:
        timings.blocked = (timings.blocked or 0.0) + waited


def _start_trace(hook: Any, request: AsyncRequest) -> Token[RequestTrace | None]:
    """Make a trace of ``request`` for its Session's ``hook`` current; its first event."""
    trace = RequestTrace(hook, request.method, request.url)
    token = CURRENT.set(trace)
    trace.emit("request.queued")
    return token


def _emit_retry(request: AsyncRequest, delay: float, attempt: int) -> None:
    trace = CURRENT.get()
    if trace is not None:
        trace.emit(
            "retry.scheduled",
            wait=delay,
            attempt=attempt,
            error=request.exception,
            status=None if request.response is None else request.response.status_code,
        )


def _end_trace(token: Token[RequestTrace | None], request: AsyncRequest) -> None:
    """A request's last events: its response (``request.returned``); or its deadline, if that
    was the end of it, and its failure; then the trace is no longer current. A request whose
    worker was killed before it finished (a gtimeout, a call left early) fails as cancelled."""
    trace = CURRENT.get()
    if trace is not None:
        error = request.exception
        if error is None and request.response is None:
            error = RequestCancelled(f"cancelled before {request.method} {request.url} finished")
        if error is None:
            trace.emit("request.returned", response=request.response)
        else:
            if isinstance(error, RequestDeadlineExceeded):
                trace.emit("deadline.expired")
            trace.emit("request.failed", error=error)
    CURRENT.reset(token)


def _stop(intake: _Intake, crew: _Workers, progress: Any) -> None:
    """Cancel what still runs, at the end of a call or when its caller stops iterating early.

    A generator may be closed by the garbage collector while the hub runs,
    where blocking is not allowed: there the workers are only killed.
    """
    intake.close()
    closing = _closing_calls()
    closing.append(crew.alive)
    interrupted = _finish_off(crew.alive, block=getcurrent() is not get_hub())
    _forget(closing, crew.alive)
    if progress is not None:
        progress.close()
    _raise_if_any(interrupted)


# Per thread: the workers of the calls whose cleanup has begun and not ended.
_cleanups = threading.local()


def _closing_calls() -> list[set[Greenlet]]:
    try:
        return _cleanups.calls  # type: ignore[no-any-return]
    except AttributeError:
        calls = _cleanups.calls = []
        return calls


def _forget(closing: list[set[Greenlet]], workers: set[Greenlet]) -> None:
    closing[:] = [calls for calls in closing if calls is not workers]


def _finish_off(workers: set[Greenlet], block: bool) -> BaseException | None:
    """Kill ``workers`` and, with ``block``, wait until every one has died.

    Returns the first KeyboardInterrupt or SystemExit that arrived meanwhile,
    for the caller to raise once its cleanup is done.

    Discussion: a second Ctrl-C landing while the first one's cleanup waits
    for the workers used to end that wait, leaving requests running with
    their sockets open, out of reach of ``Session.close()``. So the wait
    goes on until the last worker has died, killing the survivors again
    each time (a kill a signal cut short is sent; one still pending is
    dropped by ``Hub.interrupt``), and the call raises the interrupt
    once. Where even the cleanup's own first steps
    were cut short, the thread's next fan-out finishes it
    (:func:`_finish_abandoned_cleanups`).
    """
    interrupted: BaseException | None = None
    while True:
        try:
            alive = [glet for glet in workers if not glet.dead]
            if not alive:
                break
            killall(alive, block=block)
            if not block:
                break
        except (KeyboardInterrupt, SystemExit) as exc:
            interrupted = interrupted or exc
    return interrupted


def _finish_abandoned_cleanups() -> None:
    """Finish what an interrupted cleanup of an earlier call on this thread left running."""
    closing = _closing_calls()
    for workers in list(closing):
        _raise_if_any(_finish_off(workers, block=True))
        _forget(closing, workers)


def _raise_if_any(exc: BaseException | None) -> None:
    if exc is not None:
        raise exc


def _coerce(item: Any) -> AsyncRequest:
    """The item as an AsyncRequest; an item that is none fails on its own."""
    try:
        return coerce_request(item)
    except Exception as exc:
        return UnusableItem(item, exc)
