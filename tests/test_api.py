"""The fan-out API: the grequests contract, and what gfetch adds to it."""

from __future__ import annotations

import email.utils
import inspect
import logging
import random
import time
import typing
from typing import TYPE_CHECKING, Annotated, Any

import pytest
import requests
import responses
from _stdlibserver import StdlibServer
from urllib3.util.retry import Retry

import gfetch
import gfetch as grequests
from gfetch.fanout.retry import retry_policy
from gfetch.fanout.runner import Default, FanOutOptions, MapOptions, takes_options
from gfetch.testing.raw import RawServer
from gfetch.testing.raw import send as raw_send

if TYPE_CHECKING:
    from typing_extensions import Unpack

REFUSED = "http://127.0.0.1:1/"


# -- grequests' README, unchanged but for local URLs ----------------------
def test_grequests_readme_map(server: StdlibServer) -> None:
    urls = [server.url("/"), server.url("/json"), server.url("/bytes/10"), REFUSED, server.url("/status/204")]
    rs = (grequests.get(u) for u in urls)
    result = grequests.map(rs)
    assert [r.status_code if r is not None else None for r in result] == [200, 200, 200, None, 204]


def test_grequests_readme_exception_handler(server: StdlibServer, capsys: pytest.CaptureFixture[str]) -> None:
    def exception_handler(request, exception):
        print("Request failed")

    reqs = [
        grequests.get(server.url("/delay/1"), timeout=0.001),
        grequests.get(REFUSED),
        grequests.get(server.url("/status/500")),
    ]
    result = grequests.map(reqs, exception_handler=exception_handler)
    assert capsys.readouterr().out == "Request failed\nRequest failed\n"
    assert result[:2] == [None, None] and result[2].status_code == 500


def test_grequests_readme_imap(server: StdlibServer) -> None:
    reqs = [grequests.get(server.url(f"/json?i={i}")) for i in range(5)]
    seen = [resp.json()["query"]["i"] for resp in grequests.imap(reqs, size=10)]
    assert sorted(seen) == ["0", "1", "2", "3", "4"]


def test_grequests_readme_imap_enumerated(server: StdlibServer) -> None:
    rs = [grequests.get(server.url(f"/delay/{0.1 * (3 - i):.1f}")) for i in range(3)]
    pairs = list(grequests.imap_enumerated(rs, size=5))
    assert [index for index, _ in pairs] == [2, 1, 0]
    assert all(response.status_code == 200 for _, response in pairs)


def test_asyncrequest_send_sets_response_or_exception(server: StdlibServer) -> None:
    ok = grequests.AsyncRequest("GET", server.url("/json")).send()
    assert ok.response is not None and ok.response.json()["ok"] is True and ok.exception is None
    bad = grequests.request("GET", REFUSED).send()
    assert bad.response is None and isinstance(bad.exception, requests.ConnectionError)
    assert "ConnectionError" in (bad.traceback or "")


def test_callback_is_a_response_hook(server: StdlibServer) -> None:
    seen: list[int] = []
    grequests.map([grequests.get(server.url("/json"), callback=lambda r, **kw: seen.append(r.status_code))])
    assert seen == [200]


def test_send_returns_greenlet_and_accepts_pool(server: StdlibServer) -> None:
    pool = gfetch.Pool(2)
    glets = [grequests.send(grequests.get(server.url("/json")), pool) for _ in range(3)]
    glets.append(grequests.send(grequests.get(server.url("/json"))))
    gfetch.joinall(glets, timeout=10)
    assert all(isinstance(g, gfetch.Greenlet) and g.value.response.status_code == 200 for g in glets)


def test_all_verbs(server: StdlibServer) -> None:
    verbs = {
        "get": "GET",
        "options": "OPTIONS",
        "head": "HEAD",
        "post": "POST",
        "put": "PUT",
        "patch": "PATCH",
        "delete": "DELETE",
    }
    reqs = [getattr(grequests, name)(server.url("/echo")) for name in verbs]
    responses_ = grequests.map(reqs)
    for (name, method), response in zip(verbs.items(), responses_, strict=True):
        assert response.status_code == 200, name
        if method != "HEAD":
            assert response.json()["method"] == method


# -- ordering -------------------------------------------------------------
def test_map_keeps_input_order_under_random_delays(server: StdlibServer) -> None:
    rnd = random.Random(3)
    urls = [server.url(f"/delay/{rnd.random() / 5:.3f}?i={i}") for i in range(60)]
    result = gfetch.map(urls, size=20)
    assert [r.json()["query"]["i"] for r in result] == [str(i) for i in range(60)]


def test_imap_follows_completion_order(server: StdlibServer) -> None:
    delays = [0.3, 0.1, 0.2]
    urls = [server.url(f"/delay/{d}") for d in delays]
    assert [r.json()["delay"] for r in gfetch.imap(urls, size=3)] == [0.1, 0.2, 0.3]


def test_mixed_input_kinds(server: StdlibServer) -> None:
    items = [
        server.url("/json"),
        gfetch.post(server.url("/echo"), data=b"body"),
        requests.Request("PUT", server.url("/echo"), json={"k": 1}),
    ]
    first, second, third = gfetch.map(items)
    assert first.json()["ok"] is True
    assert second.json()["body"] == "body"
    assert third.json()["method"] == "PUT" and third.json()["body"] == '{"k": 1}'


def test_bad_item_type_is_a_clear_error_for_that_item() -> None:
    (failed,) = gfetch.map([42], return_exceptions=True)
    assert isinstance(failed, TypeError) and "URL strings" in str(failed)


# -- failures are never silently lost ---------------------------------------
def test_map_return_exceptions(server: StdlibServer) -> None:
    ok, failed = gfetch.map([server.url("/json"), REFUSED], return_exceptions=True)
    assert ok.status_code == 200
    assert isinstance(failed, requests.ConnectionError)


def test_exception_handler_value_is_used(server: StdlibServer) -> None:
    calls: list[tuple[object, BaseException | None]] = []

    def handler(request, exception):
        calls.append((request, exception))
        return "fallback"

    result = gfetch.map([REFUSED, server.url("/json")], exception_handler=handler)
    assert result[0] == "fallback" and result[1].status_code == 200
    assert calls[0][0].url == REFUSED and isinstance(calls[0][1], requests.ConnectionError)


@pytest.mark.keeps_fds  # the server's ends of the 20 cancelled /delay/5 requests close when their delay ends
def test_raising_exception_handler_cancels_the_rest_at_once(server: StdlibServer) -> None:
    """The handler's error ends map and cancels what is in flight then, even
    though the error's traceback (held by pytest here) keeps map's frame alive."""

    def handler(request, exception):
        raise RuntimeError("handler failed")

    slow = [server.url("/delay/5")] * 20
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="handler failed"):
        gfetch.map([REFUSED, *slow], size=21, exception_handler=handler)
    assert not gfetch.get_hub()._parked  # no request left waiting on the slow server
    assert time.monotonic() - start < 3


def test_map_sends_on_while_its_exception_handler_waits(fresh_server: StdlibServer) -> None:
    """map keeps every result: its workers go on sending while the caller's handler waits,
    rather than at most ``size`` ahead of it (as imap's, whose caller may be slow on purpose)."""
    served_meanwhile: list[int] = []

    def handler(request, exception):
        limit = time.monotonic() + 5
        while fresh_server.requests_served < 8 and time.monotonic() < limit:
            gfetch.sleep(0.01)
        served_meanwhile.append(fresh_server.requests_served)
        return "handled"

    result = gfetch.map([REFUSED, *[fresh_server.url("/json")] * 8], size=2, exception_handler=handler)
    assert served_meanwhile == [8]
    assert result[0] == "handled" and [r.status_code for r in result[1:]] == [200] * 8


def test_imap_over_a_list_is_held_back_by_its_caller(fresh_server: StdlibServer) -> None:
    """imap's caller paces it, whatever its input: at most ``size`` results wait for it."""
    results = gfetch.imap([fresh_server.url("/json")] * 8, size=2)
    next(results)
    gfetch.sleep(0.3)
    assert fresh_server.requests_served <= 1 + 2
    results.close()


def test_imap_failures_are_logged_or_returned(server: StdlibServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gfetch"):
        assert len(list(gfetch.imap([server.url("/json"), REFUSED]))) == 1
    assert REFUSED in caplog.text and "failed" in caplog.text
    got = list(gfetch.imap([REFUSED], return_exceptions=True))
    assert isinstance(got[0], requests.ConnectionError)
    assert list(gfetch.imap_enumerated([REFUSED])) == [(0, None)]


def test_map_logs_each_failure_it_reports_as_none(
    server: StdlibServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gfetch"):
        assert gfetch.map([server.url("/json"), REFUSED])[1] is None
    failures = [record for record in caplog.records if record.name == "gfetch"]
    assert len(failures) == 1
    message = failures[0].getMessage()  # the logger's name is the handler's to add, not repeated here
    assert message.startswith(f"GET {REFUSED} failed: ConnectionError("), message


@pytest.mark.parametrize("taken_by", ["exception_handler", "return_exceptions"])
def test_map_does_not_log_failures_the_caller_takes(taken_by: str, caplog: pytest.LogCaptureFixture) -> None:
    options: dict[str, Any] = (
        {"exception_handler": lambda request, exception: None}
        if taken_by == "exception_handler"
        else {"return_exceptions": True}
    )
    with caplog.at_level(logging.WARNING, logger="gfetch"):
        gfetch.map([REFUSED], **options)
    assert not [record for record in caplog.records if record.name == "gfetch"]


def test_session_and_cookies(server: StdlibServer) -> None:
    # grequests' own test: a request without session= never sees another one's cookies.
    def get(url: str, **kwargs: Any) -> Any:
        return grequests.map([grequests.get(url, **kwargs)])[0].json()

    set_and_show = server.url("/cookies/set/redirect")
    c1 = {"k1": "v1"}
    assert get(set_and_show, params=c1)["cookies"] == c1  # within one request's redirects
    s = gfetch.Session()
    assert get(set_and_show, session=s, params=c1)["cookies"] == c1
    assert dict(s.cookies) == c1
    c2 = {"k2": "v2"}
    assert get(set_and_show, params=c2)["cookies"] == c2
    assert get(server.url("/cookies"))["cookies"] == {}
    assert get(server.url("/cookies"), session=s)["cookies"] == c1  # a given session keeps its cookies
    assert get(server.url("/cookies"), cookies={"own": "1"})["cookies"] == {"own": "1"}


def test_requests_without_session_isolate_cookies_but_share_connections(fresh_server: StdlibServer) -> None:
    urls = [fresh_server.url(f"/cookies/set/redirect?n={i}") for i in range(60)]
    for _ in range(3):
        responses = gfetch.map(urls, size=5)
        assert [r.json()["cookies"] for r in responses] == [{"n": str(i)} for i in range(60)]
    assert fresh_server.requests_served == 360
    assert fresh_server.peak_connections <= 5  # the pooled connections served all three rounds


def _counting_views(monkeypatch) -> list[Any]:
    """Note each Session view made for one request's own cookie jar."""
    import gfetch.integration.session as session_module

    made: list[Any] = []
    original = session_module.with_own_cookies

    def counting(session: Any) -> Any:
        made.append(session)
        return original(session)

    monkeypatch.setattr(session_module, "with_own_cookies", counting)
    return made


def test_requests_without_session_make_a_jar_of_their_own_only_for_cookies_and_redirects(
    server: StdlibServer, monkeypatch
) -> None:
    """A request sent without ``session=`` runs on the shared default session and gets a
    view of it with a jar of its own only when its response sets a cookie or redirects;
    the shared session's jar stays empty, and no cookie reaches another request."""
    from gfetch.http11.rawresponse import GreenHTTPResponse

    made = _counting_views(monkeypatch)
    plain = gfetch.map([server.url("/json")] * 5, size=5)
    assert all(r.status_code == 200 for r in plain)
    # gfetch's pool knows a response sets no cookie; on urllib3's, the jar is asked (a view each).
    assert len(made) == (0 if all(type(r.raw) is GreenHTTPResponse for r in plain) else 5)
    made.clear()
    set_only = gfetch.map([server.url(f"/cookies/set?n={i}") for i in range(4)], size=4)
    assert [dict(r.cookies) for r in set_only] == [{"n": str(i)} for i in range(4)]
    assert len(made) == 4
    shared = made[0]
    assert all(session is shared for session in made) and len(shared.cookies) == 0
    assert [r.json()["cookies"] for r in gfetch.map([server.url("/cookies")] * 3)] == [{}] * 3


def test_requests_without_session_keep_their_cookies_to_themselves_under_a_tracer(
    server: StdlibServer, monkeypatch
) -> None:
    """With ``Session.send`` wrapped (as a tracer does), ``request`` sends through it: the
    request's cookies still go to a jar of its own, not to the shared session's."""
    original = requests.Session.send
    calls: list[Any] = []

    def traced_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gfetch.Session, "send", traced_send)
    urls = [server.url(f"/cookies/set/redirect?n={i}") for i in range(4)]
    assert [r.json()["cookies"] for r in gfetch.map(urls, size=4)] == [{"n": str(i)} for i in range(4)]
    assert calls and all(len(session.cookies) == 0 for session in calls if session._jar_per_request)
    assert [r.json()["cookies"] for r in gfetch.map([server.url("/cookies")] * 3)] == [{}] * 3


def test_failed_request_exception_is_reachable_from_its_request() -> None:
    req = gfetch.get(REFUSED)
    assert gfetch.map([req]) == [None]
    assert isinstance(req.exception, requests.ConnectionError)


def test_raising_exception_handler_propagates_but_cleans_up(server: StdlibServer) -> None:
    def handler(request, exception):
        raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError, match="handler bug"):
        gfetch.map([REFUSED, server.url("/delay/0.2")], exception_handler=handler)


# -- defaults and limits ----------------------------------------------------
def test_map_without_limits_or_retries_adds_no_wait_to_blocked(server: StdlibServer) -> None:
    """Only a limit's or a backoff's wait goes into ``timings.blocked``: without them a response
    keeps its transport's own (None on the urllib3 path, as for a Session's own request)."""
    with gfetch.Session(transport="urllib3") as session:
        responses = gfetch.map([server.url("/json")] * 3, session=session)
    assert [response.timings.blocked for response in responses] == [None] * 3


def test_default_timeout_applies_and_none_disables(server: StdlibServer, monkeypatch) -> None:
    seen: list[object] = []
    original = gfetch.Session.request

    def spy(self, method, url, *args, **kwargs):
        seen.append(kwargs.get("timeout", "unset"))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(gfetch.Session, "request", spy)
    gfetch.map([server.url("/json")])
    gfetch.map([server.url("/json")], timeout=None)
    gfetch.map([gfetch.get(server.url("/json"), timeout=3)])
    assert seen == [gfetch.DEFAULT_TIMEOUT, None, 3]


def test_size_bounds_open_connections(fresh_server: StdlibServer) -> None:
    urls = [fresh_server.url(f"/delay/0.05?i={i}") for i in range(60)]
    with gfetch.Session() as session:
        result = gfetch.map(urls, size=10, session=session)
    assert all(r.status_code == 200 for r in result)
    assert fresh_server.peak_connections <= 10


def test_per_host_limit_over_two_hosts() -> None:
    with StdlibServer() as a, StdlibServer() as b, gfetch.Session() as session:
        urls = [s.url(f"/delay/0.05?i={i}") for i in range(20) for s in (a, b)]
        result = gfetch.map(urls, size=50, per_host=2, session=session)
        assert all(r.status_code == 200 for r in result)
        assert a.peak_connections <= 2 and b.peak_connections <= 2
        assert a.requests_served == b.requests_served == 20


_FANOUTS = {
    "map": lambda **options: gfetch.map([], **options),
    "imap": lambda **options: list(gfetch.imap([], **options)),
    "imap_enumerated": lambda **options: list(gfetch.imap_enumerated([], **options)),
    "crawl": lambda **options: list(gfetch.crawl([], lambda response: None, **options)),
}


@pytest.mark.parametrize("name", list(_FANOUTS))
@pytest.mark.parametrize(("option", "value"), [("size", 0), ("deadline", 0), ("per_host", 0), ("rate", -1)])
def test_every_fanout_checks_the_options_it_is_given(name: str, option: str, value: float) -> None:
    """Each public fan-out hands its options on (one options object checks them)."""
    with pytest.raises(ValueError, match=option):
        _FANOUTS[name](**{option: value})


_OPTIONS = {
    name: hint.__metadata__[0].value
    for name, hint in typing.get_type_hints(FanOutOptions, include_extras=True).items()
}
# Where a function keeps grequests' own default rather than the list's.
_OWN_DEFAULTS = {"imap": {"size": 2}, "imap_enumerated": {"size": 2}}


@pytest.mark.parametrize("name", ["map", "imap", "imap_enumerated", "crawl"])
def test_every_fanout_takes_the_one_list_of_options(name: str) -> None:
    """The signatures' options are the list's keys with the list's defaults (but imap's size, 2)."""
    function = getattr(gfetch, name)
    parameters = inspect.signature(function).parameters
    assert {option: parameters[option].default for option in _OPTIONS} == {
        **_OPTIONS,
        **_OWN_DEFAULTS.get(name, {}),
    }
    hints = typing.get_type_hints(function)
    assert {option: hints[option] for option in _OPTIONS} == {
        option: hint.__origin__
        for option, hint in typing.get_type_hints(FanOutOptions, include_extras=True).items()
    }
    for option in set(parameters) - set(_OPTIONS):  # the rest: the function's own (items, results)
        assert option in {
            "requests",
            "exception_handler",
            "return_exceptions",
            "seeds",
            "follow",
            "max_requests",
            "key",
        }
    with pytest.raises(TypeError, match=r"^\w+\(\) got an unexpected keyword argument 'sise'$"):
        _FANOUTS[name](sise=3)


class _WithAnOption(MapOptions, total=False):
    brand_new: Annotated[int, Default(7)]


def test_an_option_added_to_the_list_is_taken_by_name_and_shown() -> None:
    @takes_options
    def fan_out(items: list[Any], *, own: bool = False, **options: Unpack[_WithAnOption]) -> dict[str, Any]:
        return dict(options)

    parameters = inspect.signature(fan_out).parameters
    assert list(parameters) == ["items", "own", *MapOptions.__annotations__, "brand_new"]
    assert parameters["brand_new"].default == 7
    assert parameters["brand_new"].kind is inspect.Parameter.KEYWORD_ONLY
    assert fan_out([], brand_new=3, deadline=1.0) == {"brand_new": 3, "deadline": 1.0}
    with pytest.raises(TypeError, match="unexpected keyword argument 'size'"):
        fan_out([], size=3)


def test_crawl_takes_stream_and_pool_as_map_does(server: StdlibServer) -> None:
    pool = gfetch.Pool(1)
    with gfetch.Session() as session:
        responses_ = list(
            gfetch.crawl(
                [server.url("/json"), server.url("/")],
                lambda response: None,
                stream=True,
                pool=pool,
                session=session,
            )
        )
        assert len(responses_) == 2
        assert all(not response._content_consumed for response in responses_)  # stream: bodies left unread
        for response in responses_:
            response.close()
    assert pool.size == 1 and pool.free_count() == 1


def test_imap_takes_exactly_what_imap_enumerated_takes() -> None:
    imap, enumerated = inspect.signature(gfetch.imap), inspect.signature(gfetch.imap_enumerated)
    assert list(imap.parameters.values()) == list(enumerated.parameters.values())
    assert list(imap.parameters)[:4] == ["requests", "stream", "size", "exception_handler"]  # grequests'
    assert imap.parameters["size"].default == 2
    with pytest.raises(TypeError, match="sise"):
        gfetch.imap([], sise=3)


def test_gtimeout_cancels_and_closes(fresh_server: StdlibServer, no_fd_leak: None) -> None:
    urls = [fresh_server.url("/delay/2") for _ in range(50)]
    with gfetch.Session() as session:
        started = time.monotonic()
        result = gfetch.map(urls, size=5, gtimeout=0.5, session=session, return_exceptions=True)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert len(result) == 50
    assert all(isinstance(r, gfetch.RequestCancelled) for r in result)
    deadline = time.monotonic() + 5
    while fresh_server.open_connections and time.monotonic() < deadline:
        gfetch.sleep(0.02)
    assert fresh_server.open_connections == 0


def test_two_thousand_urls_in_order(server: StdlibServer) -> None:
    urls = [server.url(f"/json?i={i}") for i in range(2000)]
    result = gfetch.map(urls, size=200)
    assert [r.json()["query"]["i"] for r in result] == [str(i) for i in range(2000)]


def test_rate_limit(server: StdlibServer) -> None:
    started = time.monotonic()
    result = gfetch.map([server.url("/json")] * 100, size=100, rate=50)
    elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in result)
    assert 1.8 < elapsed < 4.0  # 100 requests spaced 20 ms apart


@pytest.mark.parametrize("status", [503, 429])
def test_retries_recover_from_two_failures(fresh_server: StdlibServer, status: int) -> None:
    urls = [fresh_server.url(f"/flaky/2?key=r{i}&status={status}") for i in range(5)]
    result = gfetch.map(urls, retries=2)
    assert [r.json()["attempts"] for r in result] == [3] * 5
    without = gfetch.map([fresh_server.url(f"/flaky/2?key=none&status={status}")])
    assert without[0].status_code == status


def test_retries_skip_non_idempotent(fresh_server: StdlibServer) -> None:
    result = gfetch.map([gfetch.post(fresh_server.url("/flaky/1?key=p"))], retries=3)
    assert result[0].status_code == 503


def test_retries_accept_a_urllib3_retry(fresh_server: StdlibServer) -> None:
    def status_after(failures: int, retry: Retry, method: str = "GET") -> int | str:
        """The final status, or the name of the exception the item failed with."""
        url = fresh_server.url(f"/flaky/{failures}?key={random.random()}")
        result = gfetch.map([gfetch.request(method, url)], retries=retry, return_exceptions=True)[0]
        return result.status_code if isinstance(result, requests.Response) else type(result).__name__

    status = Retry(total=5, status=2, status_forcelist=[503])
    urls = [fresh_server.url(f"/flaky/2?key=u{i}") for i in range(3)]
    assert [r.json()["attempts"] for r in gfetch.map(urls, retries=status)] == [3] * 3
    retried = gfetch.imap(urls[:1], retries=Retry(5, status_forcelist=[503]))
    assert [r.json()["attempts"] for r in retried] == [4]
    assert status_after(3, status) == "RetryError"  # the status count is spent
    assert status_after(2, Retry(total=1, status_forcelist=[503])) == "RetryError"  # so is total
    # Without the forcelist, urllib3 still retries a 503 that carries Retry-After, unless told not to.
    assert status_after(1, Retry(total=1)) == 200
    assert status_after(1, Retry(total=1, respect_retry_after_header=False)) == 503
    assert status_after(1, Retry(3, status_forcelist=[503]), "POST") == 503  # not in allowed_methods
    assert status_after(1, Retry(3, status_forcelist=[503], allowed_methods=None), "POST") == 200


@pytest.mark.parametrize("raise_on_status", [True, False])
def test_a_urllib3_retry_that_runs_out_ends_as_in_requests(
    fresh_server: StdlibServer, raise_on_status: bool
) -> None:
    """Two 503s outlast Retry(total=1): plain requests with the Retry mounted raises RetryError
    (raise_on_status, urllib3's default) or returns the last 503; the fan-out ends alike, after
    as many sends."""
    retry = Retry(total=1, status_forcelist=[503], raise_on_status=raise_on_status)

    def sends(key: str) -> int:
        """How many times /flaky/2?key=<key> was sent: one more send answers 200 with the count."""
        answer = requests.get(fresh_server.url(f"/flaky/2?key={key}"), timeout=10)
        assert answer.status_code == 200
        return answer.json()["attempts"] - 1

    with requests.Session() as plain:
        plain.trust_env = False
        plain.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
        try:
            expected: Any = plain.get(fresh_server.url(f"/flaky/2?key=plain{raise_on_status}"), timeout=10)
        except requests.RequestException as exc:
            expected = exc
    got = gfetch.map(
        [fresh_server.url(f"/flaky/2?key=gfetch{raise_on_status}")], retries=retry, return_exceptions=True
    )[0]
    assert sends(f"plain{raise_on_status}") == sends(f"gfetch{raise_on_status}") == 2
    if raise_on_status:
        assert type(got) is type(expected) is requests.exceptions.RetryError
        # urllib3's message, naming the pool as urllib3 names it, on either transport.
        assert str(got).replace("gfetch", "plain") == str(expected)
        assert "(Caused by ResponseError('too many 503 error responses'))" in str(got)
    else:
        assert isinstance(expected, requests.Response) and expected.status_code == 503
        assert isinstance(got, requests.Response) and got.status_code == 503


@pytest.mark.parametrize(
    ("retry", "method", "sent"),
    [
        (Retry(total=5, read=2), "GET", 3),
        (Retry(total=1, read=2), "GET", 2),
        (Retry(total=5, read=0), "GET", 1),
        (Retry(total=5), "POST", 1),
    ],
)
def test_urllib3_retry_read_failures(retry: Retry, method: str, sent: int) -> None:
    with RawServer(raw_send(b"")) as dropping:  # closes without answering: a read error
        result = gfetch.map([gfetch.request(method, dropping.url())], retries=retry, return_exceptions=True)
        assert isinstance(result[0], requests.ConnectionError)
        assert dropping.connections == sent


def test_urllib3_retry_connect_failures_and_backoff() -> None:
    refused = gfetch.map([REFUSED], return_exceptions=True)[0]
    policy = retry_policy(Retry(total=5, connect=1, backoff_factor=0.5, backoff_max=3))
    assert policy.should_retry("POST", None, refused, 0)  # never sent: retried whatever the method
    assert not policy.should_retry("GET", None, refused, 1)
    assert [policy.delay(None, attempt) for attempt in range(4)] == [0.0, 1.0, 2.0, 3.0]  # urllib3's backoff
    assert not retry_policy(Retry(total=False)).should_retry("GET", None, refused, 0)
    assert retry_policy(3).retries == 3 and retry_policy(None).retries == 0


@pytest.mark.parametrize("value", ["7", " 7 ", "0", "Wed, 21 Oct 2015 07:28:00 GMT", "in 60 s"])
def test_both_retry_systems_read_retry_after_alike(value: str) -> None:
    """The fan-out's RetryPolicy and Session(max_retries=)'s GreenRetry wait the same for one header."""
    from gfetch.integration.urllib3_pools import GreenRetry

    response = requests.Response()
    if value == "in 60 s":
        value = email.utils.formatdate(time.time() + 60, usegmt=True)
    response.headers["Retry-After"] = value
    policy_wait = retry_policy(1).delay(response, 0)
    transport_wait = GreenRetry(1).get_retry_after(response)
    assert transport_wait is not None and abs(policy_wait - transport_wait) < 1.0


@pytest.mark.parametrize(
    "fan_out",
    [
        gfetch.map,
        lambda items: list(gfetch.imap(items)),
        lambda items: list(gfetch.imap_enumerated(items)),
        lambda items: list(gfetch.crawl(items, lambda response: None)),
    ],
    ids=["map", "imap", "imap_enumerated", "crawl"],
)
@pytest.mark.parametrize("one_url", [REFUSED, REFUSED.encode()], ids=["str", "bytes"])
def test_one_url_instead_of_a_list_is_a_type_error_saying_what_to_pass(
    fan_out: Any, one_url: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A str (or bytes) is an iterable too: each character would be fetched, and fail, as a URL."""
    with caplog.at_level(logging.WARNING, logger="gfetch"), pytest.raises(TypeError) as raised:
        fan_out(one_url)
    kind = type(one_url).__name__
    assert str(raised.value) == (
        f"expected an iterable of requests, got a single {kind} {one_url!r}: pass a list, e.g. [{one_url!r}]"
    )
    assert not caplog.records  # nothing was sent, nothing failed


def test_crawl_follow_returning_one_url_is_a_type_error(server: StdlibServer) -> None:
    with pytest.raises(
        TypeError,
        match=r"^follow\(response\) must return an iterable of requests or None, "
        r"got a single str 'http://.*/json': pass a list",
    ):
        list(gfetch.crawl([server.url("/")], lambda response: server.url("/json")))


def test_imap_consumes_input_lazily(server: StdlibServer) -> None:
    consumed = [0]

    def urls():
        for i in range(100_000):
            consumed[0] += 1
            yield server.url(f"/json?i={i}")

    it = gfetch.imap(urls(), size=10)
    for _ in range(30):
        next(it)
    assert consumed[0] <= 30 + 10 + 1
    it.close()


def test_progress_plain_stderr(server: StdlibServer, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    gfetch.map([server.url("/json")] * 5, progress=True)
    err = capsys.readouterr().err
    assert "5/5 done" in err and "pip install" in err


def test_crawl_visits_each_node_once() -> None:
    with StdlibServer() as srv:
        seed = srv.url("/tree/0?fanout=3&size=500")
        ids = [r.json()["id"] for r in gfetch.crawl([seed], lambda r: r.json()["children"] + [seed], size=50)]
        assert sorted(ids) == list(range(500))
        assert srv.requests_served == 500


def test_crawl_max_requests(server: StdlibServer) -> None:
    seed = server.url("/tree/0?fanout=3&size=500")
    got = list(gfetch.crawl([seed], lambda r: r.json()["children"], max_requests=40))
    assert len(got) == 40


@responses.activate
def test_works_under_responses_mock() -> None:
    responses.add(responses.GET, "http://mocked.example/a", json={"a": 1})
    responses.add(responses.GET, "http://mocked.example/b", status=404)
    a, b = gfetch.map(["http://mocked.example/a", "http://mocked.example/b"])
    assert a.json() == {"a": 1} and b.status_code == 404
