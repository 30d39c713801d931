"""The product: the ``gfetch`` command line and its demo.

Owns ``cli`` (the command), ``demo`` (the fetch demo against an embedded
server), ``summary`` (a run's closing summary) and ``failures`` (how a
record words its error). The top floor, which nothing imports. May import gfetch.core, gfetch.testing,
gfetch.fanout and the public API (``import gfetch``).
"""
