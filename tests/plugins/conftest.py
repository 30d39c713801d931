"""Fixtures of the plugin compatibility suite (issue 22): the client under test and the servers.

The suite runs only when asked for (``bash scripts/dev plugins``, or
``pytest tests/plugins``): pyproject's ``norecursedirs`` keeps it out of
the default run, whose environment lacks the plugins. tests/conftest.py's
guards (fd leaks, a clean hub, no proxy or CA variables) apply here too.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("_clients", "_recording")  # their asserts explain failures as tests' do
from _clients import VIAS, Client  # noqa: E402
from _servers import HTTPSServer  # noqa: E402
from _stdlibserver import StdlibServer  # noqa: E402


@pytest.fixture(params=VIAS, ids=str)
def via(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Client:
    """The gfetch client a case compares with plain requests, its transport set in the environment."""
    client: Client = request.param
    if client.transport is None:
        monkeypatch.delenv("GFETCH_TRANSPORT", raising=False)
    else:
        monkeypatch.setenv("GFETCH_TRANSPORT", client.transport)
    return client


@pytest.fixture(scope="module")
def server():
    """http.server with gfetch.testing.server's routes (/echo, /delay/<s>, /flaky/<n>...), per module:
    a server that shares nothing with the client under test."""
    with StdlibServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def https_server(ca):
    """A TLS server on 127.0.0.1 with a certificate of the test CA (``ca``), per module;
    GET answers JSON with the path and the request's headers."""
    with HTTPSServer(ca.issue_cert("127.0.0.1", "localhost")) as srv:
        yield srv
