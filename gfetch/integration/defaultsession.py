"""The Session that requests sent without ``session=`` share, one per thread.

Imports requests, gfetch.integration.patched, gfetch.integration.session and
gfetch.integration.adapter.
"""

from __future__ import annotations

import threading

import requests
import requests.sessions

from gfetch.integration.adapter import HTTPAdapter
from gfetch.integration.patched import original_class
from gfetch.integration.session import Session, with_own_cookies

__all__ = ["DEFAULT_POOL_MAXSIZE", "default_session", "with_own_cookies"]

_local = threading.local()
DEFAULT_POOL_MAXSIZE = 1000


def default_session() -> Session:
    """The Session shared by requests sent without ``session=`` on this thread.

    One per OS thread, so connections are reused across a whole fan-out
    (grequests opens a new Session, and TCP connection, per request). It
    keeps up to 1,000 idle connections per host, so a ``size=1000`` fan-out
    to one host reuses its connections instead of discarding them.
    Its cookie jar stays empty: each request sent on it gets a jar of its own
    (``_jar_per_request``: made only if a response sets a cookie or
    redirects; see :func:`with_own_cookies`).

    Discussion: grequests sends each request without ``session=`` on a
    fresh Session, so a cookie one response sets is never sent by another
    request; scripts rely on that (and on the cookie reaching the redirects
    of its own request).

    While a plugin has put a subclass of its own in place of
    ``requests.Session`` (requests-cache's ``install_cache()``), the default
    session is of that class too, on top of gfetch's, as ``requests.get``
    would use it; ``gfetch.Session()`` made by hand is not (requests-cache's
    ``CacheMixin`` recipe does that: docs/plugins.md).
    """
    installed = requests.Session
    try:
        session: Session = _local.session
    except AttributeError:
        pass
    else:
        if _local.installed is installed:
            return session
        session.close()  # its idle connections; those in use close as their responses release them
    session = _new_default_session(installed)
    session._jar_per_request = True
    _local.session, _local.installed = session, installed
    return session


def _new_default_session(installed: type) -> Session:
    if installed is _REQUESTS_SESSION or not issubclass(installed, _REQUESTS_SESSION):
        return Session(pool_maxsize=DEFAULT_POOL_MAXSIZE)
    kind = _combined.get(installed)
    if kind is None:
        kind = _combined[installed] = type(installed.__name__, (installed, Session), {})
    session: Session = kind()  # the plugin's class takes its own settings, as requests.Session() would
    for prefix in ("https://", "http://"):
        session.mount(prefix, HTTPAdapter(pool_maxsize=DEFAULT_POOL_MAXSIZE))
    return session


_REQUESTS_SESSION = original_class(requests.sessions, "Session", Session)  # also while it is rebound
_combined: dict[type, type] = {}  # a plugin's Session class -> that class on top of gfetch's
