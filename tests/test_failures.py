"""gfetch.app.failures: the CLI's error text and kind, for failures the command line cannot provoke."""

from __future__ import annotations

import pytest
from _stdlibserver import StdlibServer

import gfetch
from gfetch.app.failures import describe_failure


@pytest.mark.keeps_fds  # the server's end of the cancelled /delay/5 request stays open until its delay ends
def test_cancelled_and_redirect_loops(server: StdlibServer) -> None:
    cancelled, looping = gfetch.map(
        [server.url("/delay/5"), server.url("/redirect/40")], gtimeout=0.5, return_exceptions=True
    )
    assert describe_failure(cancelled) == (
        f"RequestCancelled: gtimeout=0.5 s expired before GET {server.url('/delay/5')} finished",
        "cancelled",
    )
    assert describe_failure(looping) == ("TooManyRedirects: Exceeded 30 redirects.", "redirects")
