"""The fan-out API: many requests at once, grequests-compatible and beyond.

Owns ``AsyncRequest`` and its errors (``asyncrequest``, ``requesterrors``),
retries, limits and rates (``retry``, ``limits``), progress bars
(``progress``), the run of one fan-out call (``runner``), the public
functions ``map``/``imap``/``imap_enumerated``/``get``... (``api``) and
``crawl`` (``crawler``). May import gfetch.core and gfetch.integration (the
floors between are the integration's business); ``gfetch/__init__.py``
exports its names.
"""
