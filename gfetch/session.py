"""gfetch.Session: a real requests.Session whose I/O runs on the hub.

Layer 3. Imports requests and gfetch.transport. It only mounts adapters
(and applies an optional default timeout in ``request``): it overrides
neither ``send`` nor ``get_adapter``, which requests-mock and ``responses``
patch.
"""

from __future__ import annotations

from typing import Any

import requests
from urllib3.util.retry import Retry

from gfetch.transport import HTTPAdapter

__all__ = ["Session"]

# Position of ``timeout`` in requests.Session.request's arguments after
# method and url: params, data, headers, cookies, files, auth, timeout.
_TIMEOUT_ARG = 6


class Session(requests.Session):
    """A ``requests.Session`` whose requests park only the calling greenlet.

    Use it exactly like requests' Session, from plain code or from many
    greenlets at once (each request then waits on the network concurrently).

    Args:
        pool_connections: host pools kept (LRU), default 100.
        pool_maxsize: keep-alive connections kept per host, default 100;
            size it to your per-host concurrency.
        max_retries: an int or ``urllib3.Retry``; backoff sleeps cooperatively.
        pool_block: when a host's pool is exhausted, wait (cooperatively) for
            a connection instead of opening an extra one.
        timeout: default for requests made without ``timeout=`` (None, as in
            requests, waits forever).
    """

    # Pickled and restored with the rest of the session's state.
    __attrs__ = [*requests.Session.__attrs__, "timeout"]

    def __init__(
        self,
        pool_connections: int = 100,
        pool_maxsize: int = 100,
        max_retries: int | Retry = 0,
        pool_block: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        for prefix in ("https://", "http://"):
            self.mount(
                prefix,
                HTTPAdapter(
                    pool_connections=pool_connections,
                    pool_maxsize=pool_maxsize,
                    max_retries=max_retries,
                    pool_block=pool_block,
                ),
            )

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.timeout is not None:
            if len(args) > _TIMEOUT_ARG:  # timeout passed positionally
                if args[_TIMEOUT_ARG] is None:
                    args = (*args[:_TIMEOUT_ARG], self.timeout, *args[_TIMEOUT_ARG + 1 :])
            elif kwargs.get("timeout") is None:
                kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)
