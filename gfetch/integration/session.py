"""gfetch.Session: a real requests.Session whose I/O runs on the hub.

Imports requests, urllib3 (Retry), gfetch.integration.urls, gfetch.integration.adapter,
gfetch.integration.patched, gfetch.core.timings, gfetch.integration.cookiejar,
gfetch.http11.rawresponse, gfetch.integration.environment and gfetch.integration.prepared. It
mounts adapters, applies an optional default timeout in ``request`` and reads the environment's
proxy, CA and netrc settings once (``refresh_environment``); it overrides neither ``send`` nor
``get_adapter``, which requests-mock and ``responses`` patch: ``request`` takes its shorter way to
the adapter only while requests' own ``send`` is in place (not wrapped by a tracer, whenever it
was wrapped: gfetch.integration.patched).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import timedelta
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

import requests
import requests.adapters
import requests.sessions
from requests.cookies import cookiejar_from_dict, extract_cookies_to_jar, merge_cookies
from requests.hooks import dispatch_hook
from requests.models import REDIRECT_STATI
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from gfetch.core.timings import CURRENT, RequestTrace, TraceHook
from gfetch.http11.rawresponse import GreenHTTPResponse
from gfetch.integration.adapter import HTTPAdapter, make_cooperative, sets_no_cookies
from gfetch.integration.cookiejar import empty_jar
from gfetch.integration.environment import EnvironmentSnapshot
from gfetch.integration.patched import adapter_send_is_own, own_function, requests_send_is_own
from gfetch.integration.prepared import new_prepared, prepare_body
from gfetch.integration.urls import is_canonical

if TYPE_CHECKING:
    from requests.sessions import _Settings  # the TypedDict of requests' stubs

__all__ = ["DefaultTimeout", "Session", "with_own_cookies"]


class DefaultTimeout(tuple):  # type: ignore[type-arg]
    """A ``(connect, read)`` timeout given by default, not asked for (the fan-out's).

    It applies like any tuple, except that an adapter with a ``send`` of its
    own (a ``TimeoutHTTPAdapter`` that sets a default when a request has
    none, a mock) is given None instead, as it would be under requests, and
    applies its own.
    """

    __slots__ = ()


class Session(requests.Session):
    """A ``requests.Session`` whose requests park only the calling greenlet.

    Use it exactly like requests' Session, from plain code or from many
    greenlets at once (each request then waits on the network concurrently).

    Args:
        pool_connections: host pools kept (LRU), default 100.
        pool_maxsize: keep-alive connections kept per host, default 100;
            size it to your per-host concurrency.
        max_retries: an int or ``urllib3.Retry``; backoff sleeps cooperatively.
        pool_block: when a host's pool is exhausted, wait (cooperatively) for
            a connection instead of opening an extra one.
        timeout: default for requests made without ``timeout=`` (None, as in
            requests, waits forever).
        transport: ``"auto"`` (default, or the ``GFETCH_TRANSPORT``
            environment variable): plain http(s) requests go through gfetch's
            own HTTP/1.1 pool, the rest through urllib3; ``"urllib3"``:
            everything through urllib3 (see :class:`gfetch.HTTPAdapter`).
        trace: ``hook(event, record)``, called as each request goes
            through its phases (docs/timings.md lists the events); also the
            ``trace`` attribute. An exception it raises is logged, never
            breaks the request. Every response has ``timings`` either way.

    With ``trust_env`` (the default), the environment's proxy variables,
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` and the netrc file are read at
    the session's first request (per host), not at every request as
    requests does; call ``refresh_environment()`` after changing them.
    """

    _environment: EnvironmentSnapshot | None = None
    trace: TraceHook | None = None
    _own_default_timeouts = False  # a mounted adapter may set a default timeout of its own (mount)
    # The session's headers last seen (their store's copy, or their items) and, unless one was None, prepared.
    _session_headers: tuple[Any, dict[str, tuple[str, Any]] | None] | None = None
    # Each request gets a cookie jar of its own, this session's staying empty (see with_own_cookies).
    _jar_per_request = False

    # Pickled and restored with the rest of the session's state.
    __attrs__ = [*requests.Session.__attrs__, "timeout"]

    def __init__(
        self,
        pool_connections: int = 100,
        pool_maxsize: int = 100,
        max_retries: int | Retry = 0,
        pool_block: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        transport: str | None = None,
        trace: TraceHook | None = None,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        self.trace = trace
        for prefix in ("https://", "http://"):
            self.mount(
                prefix,
                HTTPAdapter(
                    pool_connections=pool_connections,
                    pool_maxsize=pool_maxsize,
                    max_retries=max_retries,
                    pool_block=pool_block,
                    transport=transport,
                ),
            )

    def mount(self, prefix: str | bytes, adapter: requests.adapters.BaseAdapter) -> None:
        """requests' ``mount``; a requests ``HTTPAdapter`` of another kind than gfetch's is
        made to send cooperatively first (see :func:`gfetch.integration.adapter.make_cooperative`)."""
        make_cooperative(adapter)
        super().mount(prefix, adapter)
        self._own_default_timeouts = any(_sets_own_timeout(mounted) for mounted in self.adapters.values())

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: Any = None,
        hooks: Any = None,
        stream: bool | None = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        """requests' ``request``, with the session's ``timeout`` when none is given.

        The same steps as requests' (build a Request, ``prepare_request``,
        ``merge_environment_settings``, ``send``), with ``send`` called with
        its keywords spelled out; the Request is prepared by :meth:`_prepared`.

        Discussion: a ``**kwargs`` call nests a C-level interpreter frame,
        about 1 KiB of C stack that greenlet copies aside for as long as the
        request waits, and one Python frame less keeps a waiting request's
        frames within one 4 KiB page.
        """
        hook = self.trace
        if hook is not None and CURRENT.get() is None:
            return self._traced(
                hook,
                method,
                url,
                params,
                data,
                headers,
                cookies,
                files,
                auth,
                timeout,
                allow_redirects,
                proxies,
                hooks,
                stream,
                verify,
                cert,
                json,
            )
        if timeout is None:
            timeout = self.timeout
        prepared = self._prepared(method, url, params, data, headers, cookies, files, auth, hooks, json)
        if hook is not None:
            CURRENT.get().emit("request.started", headers=prepared.headers, prepared=prepared)  # type: ignore[union-attr]  # set here
        if type(timeout) is DefaultTimeout and self._own_default_timeouts:
            timeout = self._adapter_default(prepared, timeout)
        settings = self.merge_environment_settings(prepared.url, proxies or {}, stream, verify, cert)
        # Not when requests' send is wrapped by a tracer or replaced by a mock:
        if settings.keys() == _SEND_SETTINGS and requests_send_is_own(type(self).send):
            return self._send(
                prepared,
                timeout,
                allow_redirects,
                settings["proxies"],
                settings["stream"],
                settings["verify"],
                settings["cert"],
            )
        return self._send_through_send(prepared, timeout, allow_redirects, settings)

    def _send_through_send(
        self, prepared: requests.PreparedRequest, timeout: Any, allow_redirects: bool, settings: _Settings
    ) -> requests.Response:
        """:meth:`request`'s sending through ``send`` (a tracer's, a mock's), on the session
        that holds this request's cookies."""
        if settings.keys() != _SEND_SETTINGS:  # a subclass's merge added or dropped some
            return self._jar_holder().send(
                prepared, **{"timeout": timeout, "allow_redirects": allow_redirects, **settings}
            )
        return self._jar_holder().send(
            prepared,
            timeout=timeout,
            allow_redirects=allow_redirects,
            proxies=settings["proxies"],
            stream=settings["stream"],
            verify=settings["verify"],
            cert=settings["cert"],
        )

    def _prepared(
        self,
        method: str | bytes,
        url: str | bytes,
        params: Any,
        data: Any,
        headers: Any,
        cookies: Any,
        files: Any,
        auth: Any,
        hooks: Any,
        json: Any,
    ) -> requests.PreparedRequest:
        """The PreparedRequest requests' ``request`` would prepare. Without ``hooks`` and with
        gfetch's own ``prepare_request``, no Request is built: it is prepared from the
        attributes that Request would hold."""
        if isinstance(url, bytes):
            url = url.decode("utf-8")
        if hooks is None and type(self).prepare_request is _GFETCH_PREPARE_REQUEST:
            return self._prepare(
                method.upper(),
                url,
                {} if headers is None else headers,
                [] if files is None else files,
                data or {},
                json,
                params or {},
                auth,
                cookies,
                None,
            )
        return self.prepare_request(
            requests.Request(
                method=method.upper(),  # type: ignore[arg-type]  # requests takes bytes methods
                url=url,
                headers=headers,
                files=files,
                data=data or {},
                json=json,
                params=params or {},
                auth=auth,
                cookies=cookies,
                hooks=hooks,
            )
        )

    def _adapter_default(self, prepared: requests.PreparedRequest, timeout: DefaultTimeout) -> Any:
        """``timeout`` (a default of this Session's own making), or None where the adapter that
        sends ``prepared`` applies a default of its own, as it would under requests."""
        if _sets_own_timeout(self.get_adapter(prepared.url)):  # type: ignore[arg-type]  # prepared: a str
            return None
        return timeout

    def _traced(
        self, hook: TraceHook, method: str | bytes, url: str | bytes, *arguments: Any
    ) -> requests.Response:
        """:meth:`request`, as the current request of a trace for ``hook`` (not nested in a
        fan-out's, which has its own): its end is an event too, its response or its failure."""
        trace = RequestTrace(hook, _text(method).upper(), _text(url))
        token = CURRENT.set(trace)
        try:
            response = self.request(method, url, *arguments)
        except BaseException as e:  # a kill too: every traced request ends in one of the two events
            trace.emit("request.failed", error=e)
            raise
        else:
            trace.emit("request.returned", response=response)
            return response
        finally:
            CURRENT.reset(token)

    def _send(
        self,
        request: requests.PreparedRequest,
        timeout: Any,
        allow_redirects: bool,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> requests.Response:
        """requests' ``send``, its steps in its order, for less CPU.

        The adapter is called with its keywords spelled out (no C-level frame
        kept while the request waits, see :meth:`request`); a response hook
        that raises has its response closed (requests leaves its connection
        to the garbage collector); cookies are
        extracted only from a response that may set some (see
        :func:`gfetch.integration.adapter.sets_no_cookies`), and redirects resolved
        only for a response that redirects (or, with ``allow_redirects=False``,
        the next request only for it). ``request`` calls it only while
        ``send`` is requests' own: requests-mock replaces that, and a subclass
        may override it.
        """
        adapter = self.get_adapter(url=request.url)  # type: ignore[arg-type]  # as requests passes it
        start = time.perf_counter()
        response = adapter.send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )
        response.elapsed = timedelta(seconds=time.perf_counter() - start)
        if request.hooks.get("response"):
            try:
                response = dispatch_hook(
                    "response",
                    request.hooks,
                    response,
                    timeout=timeout,
                    proxies=proxies,
                    stream=stream,
                    verify=verify,
                    cert=cert,
                )
            except BaseException:
                response.close()  # the hook's exception propagates; its response lets its connection go
                raise
        response = self._cookies_and_redirects(
            request, response, timeout, allow_redirects, proxies, stream, verify, cert
        )
        if not stream:
            _read_content(response)
        return response

    def _cookies_and_redirects(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        timeout: Any,
        allow_redirects: bool,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> requests.Response:
        """:meth:`_send`'s step after the hooks: the response's cookies into the jar, and its
        redirects followed (or, with ``allow_redirects=False``, the next request found); the
        response that ends the chain."""
        sets_cookies = not sets_no_cookies(response.raw)
        redirects_on = not _cannot_redirect(self, response)
        session = self._jar_holder() if response.history or sets_cookies or redirects_on else self
        for earlier in response.history:  # hooks may make history: its cookies count too
            extract_cookies_to_jar(session.cookies, earlier.request, earlier.raw)
        if sets_cookies:
            extract_cookies_to_jar(session.cookies, request, response.raw)
        if redirects_on:
            redirects = session.resolve_redirects(
                response,
                request,
                stream=stream,
                timeout=timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
                yield_requests=not allow_redirects,
            )
            if not allow_redirects:  # the next request, for Response.next
                response._next = next(redirects, None)  # type: ignore[attr-defined]  # requests' private attribute, not in its stubs
            elif history := list(redirects):
                history.insert(0, response)
                response = history.pop()
                response.history = history
        return response

    def _jar_holder(self) -> Session:
        """The session whose cookie jar this request's cookies go to: this one, or for a
        session that gives each request a jar of its own, a view of it with a new empty jar."""
        return with_own_cookies(self) if self._jar_per_request else self

    def refresh_environment(self) -> None:
        """Re-read the environment's proxy and CA-bundle variables and netrc."""
        self._environment = None

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """requests' preparation: the same PreparedRequest, for less CPU.

        Netrc comes from the snapshot; dictionaries merge without requests'
        slow Protocol checks; the session's headers, when the request adds
        none, are validated once per change of them instead of per request;
        an empty cookie jar (told by its store, not by iterating it) adds no
        cookies and makes no Cookie header and absent auth (none given, none
        in the URL) sets none, so those steps are skipped.
        """
        return self._prepare(
            request.method,
            request.url,
            request.headers,
            request.files,  # type: ignore[arg-type]
            request.data,
            request.json,
            request.params,
            request.auth,
            request.cookies,
            request.hooks,
        )

    def _prepare(
        self,
        method: str | bytes,
        url: str,
        headers: Any,
        files: Any,
        data: Any,
        json: Any,
        params: Any,
        auth: Any,
        cookies: Any,
        hooks: dict[str, Any] | None,
    ) -> requests.PreparedRequest:
        """:meth:`prepare_request` of a Request with these attributes (``hooks``
        None: the Request's own, none registered)."""
        jar: CookieJar = empty_jar()
        if not _holds_no_cookies(self.cookies):
            jar = merge_cookies(jar, self.cookies)
        if cookies:  # merging no cookies changes nothing: skip the empty jar
            if not isinstance(cookies, CookieJar):
                cookies = cookiejar_from_dict(cookies)
            jar = merge_cookies(jar, cookies)
        if self.trust_env and not auth and not self.auth:
            auth = self._snapshot().netrc_auth(url)
        if not (self.hooks is None or self.hooks.get("response") == []):
            if hooks is None or hooks.get("response") == []:
                hooks = self.hooks
            else:
                hooks = merge_settings(hooks, self.hooks)
        session_headers = self._prepared_session_headers() if _adds_no_headers(headers) else None
        auth = merge_settings(auth, self.auth)
        # PreparedRequest.prepare's steps, in its order, minus those that
        # cannot change anything for this request (see the docstring).
        prepared: requests.PreparedRequest = new_prepared(method)
        session_params = self.params
        if (
            type(params) in _PLAIN_PARAMS
            and not params
            and type(session_params) in _PLAIN_PARAMS
            and not session_params
        ):
            params = ""  # two empty ones (the usual case) merge to none, whatever their types
        else:
            params = _query_params(merge_settings(params, session_params))
        if params == "" and is_canonical(url):
            prepared.url = url  # what prepare_url would make of it
        else:
            prepared.prepare_url(url, params)
        if session_headers is not None:
            prepared.headers = session_headers
        else:
            prepared.prepare_headers(merge_settings(headers, self.headers, CaseInsensitiveDict))
        if not _holds_no_cookies(jar):
            prepared.prepare_cookies(jar)
        else:
            prepared._cookies = jar  # type: ignore[attr-defined]  # requests' private jar, not in its stubs
        prepare_body(prepared, data, files, json)
        if auth is not None or "@" in prepared.url:  # type: ignore[operator]
            prepared.prepare_auth(auth, url)
        if not (hooks is None or hooks == _NO_HOOKS):  # PreparedRequest() has no hooks already
            prepared.prepare_hooks(hooks)
        return prepared

    def _prepared_session_headers(self) -> CaseInsensitiveDict[Any] | None:
        """A fresh copy of the session's headers as ``prepare_headers`` makes them;
        None when they are not a mapping or one is None (which requests' merge drops).

        Validated by requests' own ``prepare_headers`` whenever they differ
        from the last ones seen (compared by value, so changing them in place
        is noticed).
        """
        headers = self.headers
        if not _is_mapping(headers):
            return None
        store = getattr(headers, "_store", None) if type(headers) is CaseInsensitiveDict else None
        current = store if store is not None else list(headers.items())
        cached = self._session_headers
        if cached is None or cached[0] != current:
            prepared = None
            if None not in headers.values():
                probe = requests.PreparedRequest()
                probe.prepare_headers(headers)
                prepared = dict(probe.headers._store)  # type: ignore[attr-defined]  # requests' private store
            cached = self._session_headers = (OrderedDict(store) if store is not None else current, prepared)
        if cached[1] is None:
            return None
        copy = CaseInsensitiveDict.__new__(CaseInsensitiveDict)
        # The entries prepare_headers made, in a dict rather than its OrderedDict (nothing of
        # requests' tells them apart): a dict's copy is the cheaper, and once the garbage
        # collector has seen that it holds strings only, it stops visiting it.
        copy._store = cached[1].copy()  # type: ignore[attr-defined]  # requests' private store, not in its stubs
        return copy

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """requests' merge, with the environment read from the snapshot."""
        if self.trust_env:
            environment = self._snapshot()
            if proxies is not None:
                found = environment.proxies_for(_text(url or ""), proxies.get("no_proxy"))
                for scheme, proxy in found.items():
                    proxies.setdefault(scheme, proxy)
            if verify is True or verify is None:
                verify = environment.ca_bundle or verify
        return {
            "proxies": merge_settings(proxies, self.proxies),
            "stream": merge_settings(stream, self.stream),
            "verify": merge_settings(verify, self.verify),
            "cert": merge_settings(cert, self.cert),
        }

    def _snapshot(self) -> EnvironmentSnapshot:
        environment = self._environment
        if environment is None:
            environment = self._environment = EnvironmentSnapshot()
        return environment


def with_own_cookies(session: Session) -> Session:
    """A view of ``session`` with an empty cookie jar of its own, for one request.

    The view shares everything else with ``session`` by reference, the
    adapters and so their pooled connections above all. Session's
    per-session caches (the environment snapshot, the validated headers)
    are filled in ``session`` first, so that every view reads them instead
    of building its own for its one request.
    """
    session._snapshot()
    if session._session_headers is None:
        session._prepared_session_headers()
    view = type(session).__new__(type(session))
    view.__dict__ = session.__dict__.copy()  # what update() into its empty one makes, for half the cost
    view.cookies = empty_jar()
    view._jar_per_request = False  # its jar is this request's
    return view


_SEND_SETTINGS = {"proxies", "stream", "verify", "cert"}  # what merge_environment_settings returns
_GFETCH_PREPARE_REQUEST = Session.prepare_request
# requests' default_hooks(): what PreparedRequest() starts with
_NO_HOOKS: dict[str, list[Any]] = {"response": []}


def _read_content(response: requests.Response) -> None:
    """Read the body into ``content``, as requests' ``send`` does without ``stream``: a body
    gfetch's pool already holds is taken in one step, a sized one read in one piece."""
    raw = response.raw
    body = size = None
    if type(raw) is GreenHTTPResponse and response._content is False:
        body = raw.read_buffered()
        size = raw.rest_size() if body is None else None
    if body is not None:  # what ``content`` stores, read in one step
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]  # requests' private flag, not in its stubs
    elif size is not None:  # ``content``'s own code, but one read for the whole rest of a sized body
        response._content = b"".join(response.iter_content(size)) or b""
    else:
        response.content  # noqa: B018 - reading it stores the body, as requests does


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _holds_no_cookies(jar: Any) -> bool:
    """Whether ``jar`` is a CookieJar with nothing in its store, known without
    iterating it (as ``len`` and requests' merge do)."""
    return isinstance(jar, CookieJar) and not jar._cookies  # type: ignore[attr-defined]  # the jar's store


def _adds_no_headers(request_headers: Any) -> bool:
    """Whether requests' merge of the session's headers with these gives the session's."""
    return request_headers is None or (_is_mapping(request_headers) and not request_headers)


def _cannot_redirect(session: requests.Session, response: requests.Response) -> bool:
    """Whether requests' own ``resolve_redirects`` would yield nothing for ``response``.

    requests' ``get_redirect_target`` answers None for a plain Response
    whose status is not a redirect status (its ``is_redirect``), whatever
    its headers hold: told without reading them.
    """
    methods = type(session)
    if not _resolve_redirects_is_own(methods.resolve_redirects):
        return False  # a subclass's or a plugin's: it decides
    if (
        type(response) is requests.Response
        and response.status_code not in REDIRECT_STATI
        and _get_redirect_target_is_own(methods.get_redirect_target)
    ):
        return True
    return not session.get_redirect_target(response)


def _sets_own_timeout(adapter: requests.adapters.BaseAdapter) -> bool:
    """Whether ``adapter`` may set a default timeout of its own: its ``send`` is not requests'."""
    return not adapter_send_is_own(type(adapter).send)


_resolve_redirects_is_own = own_function(requests.sessions)
_get_redirect_target_is_own = own_function(requests.sessions)


_PLAIN_PARAMS = (dict, OrderedDict, list, tuple, type(None))  # told empty without side effects


def _query_params(params: Any) -> Any:
    """No parameters as "", which requests encodes to the same (nothing)
    without the two runtime Protocol checks an empty dict costs it."""
    if type(params) in _PLAIN_PARAMS and not params:
        return ""
    return params


_PLAIN_MAPPINGS = (dict, OrderedDict, CaseInsensitiveDict)
# Settings' usual values that are no mapping (``stream``, ``verify``, ``cert``): built-in
# types, never registered as one.
_PLAIN_SCALARS = (bool, str, tuple, type(None))


def _is_mapping(value: Any) -> bool:
    """isinstance(value, Mapping), answered without the ABC machinery for the usual types
    (its check costs as much as the rest of a merge)."""
    kind = type(value)
    if kind in _PLAIN_MAPPINGS:
        return True
    return kind not in _PLAIN_SCALARS and isinstance(value, Mapping)


def merge_settings(request_setting: Any, session_setting: Any, dict_class: type = OrderedDict) -> Any:
    """requests' ``merge_setting``: the request's value wins, dictionaries
    merge (a None value removes the key). Same results, without the
    runtime Protocol checks that cost requests ~10% of a request's CPU."""
    if session_setting is None:
        return request_setting
    if request_setting is None:
        return session_setting
    if not (_is_mapping(session_setting) and _is_mapping(request_setting)):
        return request_setting
    if not session_setting:
        if not request_setting:
            return dict_class()
    merged = dict_class(session_setting.items())
    merged.update(request_setting.items())
    for key in [key for key, value in merged.items() if value is None]:
        del merged[key]
    return merged
