"""Cooperative I/O: sockets, name resolution and TLS that park on the hub instead of blocking.

Owns ``sockets`` (GreenSocket, connect), ``dns`` (getaddrinfo in the thread
pool), ``tls`` (TLS over a GreenSocket) and ``tlscontext`` (the SSL contexts
requests' ``verify``/``cert`` ask for). May import ``gfetch.core`` only;
nothing here knows HTTP, requests or urllib3.
"""
