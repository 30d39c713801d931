"""The SSL contexts gfetch builds, one per TLS configuration, built as urllib3 builds them.

Imports urllib3's ssl utilities and gfetch.io.tls. Both
transports (urllib3's connections and gfetch's own pool) take their contexts
here, so a configuration costs one context (~20 ms of CPU) per process.

Discussion: a CA bundle can be replaced in place (certificate rotation in
containers and CI). The cache key holds the identity of what the CA file and
directory hold (inode, size, modification and change time), read by one
``stat`` per new connection, so new connections trust a rotated bundle the
way requests does, without reading the file for every request. The change
time is what catches a rewrite that keeps the size and puts the old
modification time back (``cp -p``, ``touch -r``): nobody can set it. Connections already open
keep the trust they were made with, as in urllib3.
"""

from __future__ import annotations

import os
from typing import Any

from urllib3.util.ssl_ import create_urllib3_context, resolve_cert_reqs, resolve_ssl_version

from gfetch.io.tls import GreenSSLContext, owned_context

__all__ = ["TLSSettings", "green_context"]


class TLSSettings:
    """What decides a default context: urllib3's HTTPSConnection attributes of the same names."""

    __slots__ = (
        "cert_reqs",
        "ssl_version",
        "ssl_minimum_version",
        "ssl_maximum_version",
        "ca_certs",
        "ca_cert_dir",
        "ca_cert_data",
        "cert_file",
        "key_file",
        "key_password",
        "checks_hostname",
    )
    cert_reqs: Any
    ssl_version: Any
    ssl_minimum_version: Any
    ssl_maximum_version: Any
    ca_certs: Any
    ca_cert_dir: Any
    ca_cert_data: Any
    cert_file: Any
    key_file: Any
    key_password: Any
    checks_hostname: bool

    def __init__(self, source: Any = None, **values: Any) -> None:
        for name in self.__slots__:
            if name == "checks_hostname":
                continue
            setattr(self, name, values.get(name, getattr(source, name, None)))
        # urllib3 turns off OpenSSL's own hostname check when it checks itself.
        self.checks_hostname = values.get(
            "checks_hostname",
            source is not None and (source.assert_hostname is not None or bool(source.assert_fingerprint)),
        )

    def key(self) -> tuple[Any, ...]:
        return (
            resolve_cert_reqs(self.cert_reqs),
            self.ssl_version,
            self.ssl_minimum_version,
            self.ssl_maximum_version,
            self.ca_certs,
            _identity(self.ca_certs),
            self.ca_cert_dir,
            _identity(self.ca_cert_dir),
            self.ca_cert_data,
            self.cert_file,
            self.key_file,
            self.key_password,
            self.checks_hostname,
        )

    def build(self) -> Any:
        """A new context exactly as urllib3 builds its default: ``cert_reqs`` decides the
        order of verify_mode and check_hostname, which ``verify=False`` depends on."""
        context = create_urllib3_context(
            ssl_version=resolve_ssl_version(self.ssl_version),
            ssl_minimum_version=self.ssl_minimum_version,
            ssl_maximum_version=self.ssl_maximum_version,
            cert_reqs=resolve_cert_reqs(self.cert_reqs),
        )
        if self.ca_certs or self.ca_cert_dir or self.ca_cert_data:
            context.load_verify_locations(self.ca_certs, self.ca_cert_dir, self.ca_cert_data)
        else:
            context.load_default_certs()  # urllib3 does this for contexts it creates itself
        return context


def _identity(path: str | None) -> tuple[int, int, int, int] | None:
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None  # loading it fails with the error requests users know
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def green_context(settings: TLSSettings) -> GreenSSLContext:
    """The cached gfetch-owned context for ``settings``, built on first use."""
    return owned_context(settings.key(), settings.build)
