"""The Session that requests sent without ``session=`` share, one per thread.

Layer 4. Imports requests (the cookie jar) and gfetch.session.
"""

from __future__ import annotations

import threading

from requests.cookies import RequestsCookieJar

from gfetch.session import Session

__all__ = ["DEFAULT_POOL_MAXSIZE", "default_session", "with_own_cookies"]

_local = threading.local()
DEFAULT_POOL_MAXSIZE = 1000


def default_session() -> Session:
    """The Session shared by requests sent without ``session=`` on this thread.

    One per OS thread, so connections are reused across a whole fan-out
    (grequests opens a new Session, and TCP connection, per request). It
    keeps up to 1,000 idle connections per host, so a ``size=1000`` fan-out
    to one host reuses its connections instead of discarding them.
    Its cookie jar is not used by them: each is sent with a jar of its own
    (see :func:`with_own_cookies`).
    """
    try:
        return _local.session  # type: ignore[no-any-return]
    except AttributeError:
        session = _local.session = Session(pool_maxsize=DEFAULT_POOL_MAXSIZE)
        return session


def with_own_cookies(session: Session) -> Session:
    """A view of ``session`` with an empty cookie jar of its own, for one request.

    Discussion: grequests sends each request without ``session=`` on a
    fresh Session, so a cookie one response sets is never sent by another
    request; scripts rely on that (and on the cookie reaching the redirects
    of its own request). The view shares everything else with ``session``
    by reference, the adapters and so their pooled connections above all.
    Session's per-session caches (the environment snapshot, the validated
    headers) are filled in ``session`` first, so that every view reads
    them instead of building its own for its one request.
    """
    session._snapshot()
    if session._session_headers is None:
        session._prepared_session_headers()
    view = Session.__new__(Session)
    view.__dict__.update(session.__dict__)
    view.cookies = RequestsCookieJar()
    return view
