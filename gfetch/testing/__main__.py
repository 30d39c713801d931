"""``python -m gfetch.testing``: a TestServer until stdin closes (see gfetch.testing.server.main)."""

from gfetch.testing.server import main

main()
