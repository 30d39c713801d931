"""The requests integration: ``gfetch.Session``, a real ``requests.Session``, and its adapter.

Owns the adapter that picks gfetch's own pool or urllib3's (``adapter``) and
the ``requests.Response`` it fills in (``responses``), the urllib3 path's cooperative
connections and pools (``urllib3_pools``), SOCKS proxies (``socks``), the
Session and the environment it reads (``session``, ``environment``), the
per-thread default Session (``defaultsession``), and what keeps plugins
working: whether something patched requests or urllib3 (``patched``), an
empty cookie jar made cheaply (``cookiejar``), URLs left as requests leaves
them (``urls``). May import ``gfetch.core``, ``gfetch.io`` and
``gfetch.http11``; knows nothing of fan-out.
"""
