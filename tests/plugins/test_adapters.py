"""Transport adapters users mount on their sessions, mounted on gfetch's.

requests' own HTTPAdapter and its subclasses (a Retry policy, toolbelt's
SourceAddressAdapter, a truststore SSLContext given through
``init_poolmanager``, a default timeout set in ``send``) build urllib3 pools
of blocking connections (SEAMS.md §S9). Mounted on a gfetch.Session they
must keep doing what they do, and still let requests run at once: under
``gfetch.map``, and from many greenlets sharing a gfetch.Session.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
import requests.adapters
from _clients import BASELINE, Client, plugin
from urllib3.util.retry import Retry

import gfetch

SOURCE_ADDRESS = "127.0.0.2"  # a loopback address other than the server's: Linux routes all of 127/8 to lo


class TimeoutHTTPAdapter(requests.adapters.HTTPAdapter):
    """The usual recipe for a default timeout: set in ``send`` when the request has none."""

    def __init__(self, *args: Any, timeout: float, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def truststore_adapter(base: type[requests.adapters.HTTPAdapter]) -> requests.adapters.HTTPAdapter:
    """truststore's recipe: an adapter whose pools verify with a truststore.SSLContext (the
    system's trust store; ``SSL_CERT_FILE`` names it on Linux)."""
    truststore = plugin("truststore", "truststore")

    class TruststoreAdapter(base):  # type: ignore[valid-type,misc]
        def init_poolmanager(
            self, connections: int, maxsize: int, block: bool = False, **kwargs: Any
        ) -> None:
            context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            super().init_poolmanager(connections, maxsize, block, ssl_context=context, **kwargs)

    return TruststoreAdapter()


def source_address_adapter() -> requests.adapters.HTTPAdapter:
    source = plugin("requests_toolbelt.adapters.source", "requests-toolbelt")
    return source.SourceAddressAdapter(SOURCE_ADDRESS)  # type: ignore[no-any-return]


def retry_adapter() -> requests.adapters.HTTPAdapter:
    return requests.adapters.HTTPAdapter(max_retries=Retry(total=3, status_forcelist=[503], backoff_factor=0))


def _mounted(client: Client, prefix: str, adapter: requests.adapters.HTTPAdapter) -> requests.Session:
    session = client.session()
    session.mount(prefix, adapter)
    return session


def test_retry_adapter_retries(via: Client, server: Any) -> None:
    """/flaky/2 answers 503 twice, then 200 with the number of attempts."""
    for client in (BASELINE, via):
        urls = [server.url(f"/flaky/2?key={uuid.uuid4()}") for _ in range(3)]
        with _mounted(client, "http://", retry_adapter()) as session:
            attempts = [r.json()["attempts"] for r in client.get_all(urls, session)]
        assert attempts == [3, 3, 3], client


def test_source_address_adapter_binds_the_source_address(via: Client, server: Any) -> None:
    for client in (BASELINE, via):
        before = len(server.peers)
        with _mounted(client, "http://", source_address_adapter()) as session:
            client.get_all([server.url(f"/json?n={n}") for n in range(3)], session)
        sources = {host for host, _ in server.peers[before:]}
        assert sources == {SOURCE_ADDRESS}, f"{client}: connections came from {sources}"


@pytest.mark.parametrize(
    "base", [requests.adapters.HTTPAdapter, gfetch.HTTPAdapter], ids=["requests-adapter", "gfetch-adapter"]
)
def test_truststore_adapter_verifies_with_its_context(
    base: type[requests.adapters.HTTPAdapter],
    via: Client,
    https_server: Any,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The test CA is trusted only through the truststore context (SSL_CERT_FILE): without
    the adapter, verification fails."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    url = https_server.url("/json")
    for client, adapter_base in ((BASELINE, requests.adapters.HTTPAdapter), (via, base)):
        with pytest.raises(requests.exceptions.SSLError):
            client.get(url)
        with _mounted(client, "https://", truststore_adapter(adapter_base)) as session:
            paths = [r.json()["path"] for r in client.get_all([url + f"?n={n}" for n in range(3)], session)]
        assert paths == [f"/json?n={n}" for n in range(3)], client


def test_timeout_adapter_default_is_kept(via: Client, server: Any) -> None:
    """A request without ``timeout=`` gets the adapter's (0.3 s), under map too: gfetch's own
    default timeout must not replace it."""
    url = server.url("/delay/1")
    for client in (BASELINE, via):
        with _mounted(client, "http://", TimeoutHTTPAdapter(timeout=0.3)) as session:
            start = time.monotonic()
            with pytest.raises(requests.exceptions.ReadTimeout):
                client.get(url, session)
            elapsed = time.monotonic() - start
        assert elapsed < 0.9, f"{client}: timed out after {elapsed:.2f} s"


def _at_once(client: Client, session: requests.Session, urls: list[str]) -> list[int]:
    """The status codes of all the requests sent at once: through gfetch.map, or from one
    greenlet each on the shared gfetch.Session."""
    if client.fan_out:
        return [r.status_code for r in client.get_all(urls, session)]
    greenlets = [gfetch.spawn(session.get, url) for url in urls]
    gfetch.joinall(greenlets, raise_error=True)
    return [g.value.status_code for g in greenlets]


ADAPTERS: dict[str, tuple[Callable[[], requests.adapters.HTTPAdapter], str, int]] = {
    # name: (adapter, scheme, requests of 0.3 s sent at once)
    "retry": (retry_adapter, "http", 20),
    "source-address": (source_address_adapter, "http", 6),
    "timeout": (lambda: TimeoutHTTPAdapter(timeout=5), "http", 6),
    "truststore": (lambda: truststore_adapter(requests.adapters.HTTPAdapter), "https", 6),
}


@pytest.mark.parametrize("name", ADAPTERS)
def test_mounted_adapters_send_concurrently(
    name: str, via: Client, server: Any, https_server: Any, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """n requests of 0.3 s each through a mounted adapter take well under n x 0.3 s (half of it)."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    make_adapter, scheme, n = ADAPTERS[name]
    origin = server if scheme == "http" else https_server
    with _mounted(BASELINE, f"{scheme}://", make_adapter()) as plain:
        assert BASELINE.get(origin.url("/delay/0.3"), plain).status_code == 200
    with _mounted(via, f"{scheme}://", make_adapter()) as session:
        start = time.monotonic()
        statuses = _at_once(via, session, [origin.url("/delay/0.3")] * n)
        elapsed = time.monotonic() - start
    assert statuses == [200] * n
    serial = n * 0.3
    assert elapsed < serial / 2, f"{n} requests of 0.3 s took {elapsed:.2f} s ({serial:.1f} s one by one)"
