"""The HTTP/1.1 engine: parsing, framing, connections and gfetch's own pool.

Owns the sans-IO head parsers (``parser``, and ``parser_httptools`` for the
``gfetch[httptools]`` extra), where a body ends (``framing``), the faster
``http.client`` head of the urllib3 path (``httpparse``), urllib3 responses
built without their ``__init__`` (``rawresponse``), the slots of both
response classes (``slots``), and the lean pool:
``connection`` (one keep-alive connection and its states), ``poolqueue`` and
``pool``. May import gfetch.core and gfetch.io, urllib3 (its response and
exception types) and, for its header dict, requests.
"""
