"""The ground floor: the event loop and what every other folder stands on.

Owns gfetch's exceptions (``errors``), file-descriptor limits (``resources``),
per-phase timings and trace events (``timings``), the hub (one event loop per
OS thread, ``Hub.park`` the one blocking primitive), greenlets and their
primitives (``greenlets``, ``sync``) and calls run in worker threads
(``threads``). May import nothing of gfetch outside this folder; uses neither
requests nor urllib3.
"""
