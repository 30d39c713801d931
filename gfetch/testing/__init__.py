"""Loopback servers for demos, examples and tests of code built on gfetch.

``TestServer`` serves the routes listed in :mod:`gfetch.testing.server` on
127.0.0.1 from its own thread; ``ServerProcess`` runs one in a child process.
``RawServer`` (:mod:`gfetch.testing.raw`, standard library only) runs a scripted
behaviour per connection, for faults: resets, stalls, trickles, bad framing;
its canned behaviours are ``gfetch.testing.raw.*``. docs/testing.md shows each.
May import ``gfetch.core`` and ``gfetch.io``; knows nothing of the client side.
"""

from gfetch.testing import raw
from gfetch.testing.raw import Behaviour, Peer, RawServer
from gfetch.testing.server import Request, Routes, ServerProcess, TestServer

__all__ = ["Behaviour", "Peer", "RawServer", "Request", "Routes", "ServerProcess", "TestServer", "raw"]
