"""``response.raw`` of gfetch's pool: urllib3's HTTPResponse, reading less when there is nothing to decode.

Layer 3. Imports urllib3.

requests reads every body through ``raw.stream(10240, decode_content=True)``,
and urllib3's ``read(amt)`` then runs each piece through its decoder and a
byte-queue buffer and reads once more to learn that the body has ended, even
when the body has no Content-Encoding. :meth:`GreenHTTPResponse.read` returns
the same bytes, raises the same exceptions at the same call and leaves the
response in the same state, without those steps; anything else (a decoder,
buffered decoded bytes, ``amt=None``) is urllib3's own ``read``.
"""

from __future__ import annotations

from typing import Any

from urllib3.response import HTTPResponse

__all__ = ["GreenHTTPResponse"]


class GreenHTTPResponse(HTTPResponse):
    """urllib3's HTTPResponse over a body of gfetch's pool (see the module docstring)."""

    def read(
        self, amt: int | None = None, decode_content: bool | None = None, cache_content: bool = False
    ) -> Any:
        if amt is None or amt <= 0 or self._decoded_buffer:
            return super().read(amt, decode_content, cache_content)
        self._init_decoder()
        if self._decoder is not None:
            return super().read(amt, decode_content, cache_content)
        data = self._raw_read(amt)
        if not data or len(data) >= amt:
            return data
        # urllib3 reads on until it has ``amt`` bytes or the body ends.
        original = self._original_response
        if original is not None and original.isclosed() and self.length_remaining in (0, None):
            original.close()  # the read urllib3 makes here finds the end and closes it
            return data
        more = self._raw_read(amt)
        if not more:
            return data
        self._decoded_buffer.put(data)
        self._decoded_buffer.put(more)
        while len(self._decoded_buffer) < amt and more:
            more = self._raw_read(amt)
            self._decoded_buffer.put(more)
        return self._decoded_buffer.get(amt)
