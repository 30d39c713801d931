"""A loopback HTTP/1.1 server for demos, examples and tests of code built on gfetch.

``TestServer`` serves the routes listed in :mod:`gfetch.testing.server` on
127.0.0.1 from its own thread; ``ServerProcess`` runs one in a child process.
May import ``gfetch.core`` and ``gfetch.io``; knows nothing of the client side.
"""

from gfetch.testing.server import Request, Routes, ServerProcess, TestServer

__all__ = ["Request", "Routes", "ServerProcess", "TestServer"]
