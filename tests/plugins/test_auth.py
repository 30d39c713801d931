"""Auth plugins sign gfetch's requests exactly as plain requests': requests-oauthlib (OAuth1
signatures, OAuth2 bearer tokens) and requests-aws4auth (SigV4), with their clocks pinned."""

from __future__ import annotations

from typing import Any

import pytest
from _clients import BASELINE, Client, Send, plugin


def _received(client: Client, sends: list[Send]) -> list[dict[str, Any]]:
    """The requests as the server received them (method, path, query, headers, body)."""
    return [r.json() for r in client.send_all(sends)]


def test_oauth1_signatures_are_identical(via: Client, server: Any) -> None:
    oauth = plugin("requests_oauthlib", "requests-oauthlib")

    def signed(url: str, **kwargs: Any) -> dict[str, Any]:
        return {
            "auth": oauth.OAuth1(
                "client-key",
                "client-secret",
                "owner-key",
                "owner-secret",
                nonce="fixed-nonce",
                timestamp="1767225600",
            ),
            **kwargs,
        }

    sends: list[Send] = [
        ("GET", server.url("/echo?q=1"), signed("/echo?q=1")),
        ("POST", server.url("/echo"), signed("/echo", data={"form": "value"})),
    ]
    baseline = _received(BASELINE, sends)
    signatures = [echo["headers"]["authorization"] for echo in baseline]
    assert all(signature.startswith('OAuth oauth_nonce="fixed-nonce"') for signature in signatures)
    assert baseline[1]["body"] == "form=value"
    assert _received(via, sends) == baseline


def test_oauth2_bearer_token(via: Client, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    oauth = plugin("requests_oauthlib", "requests-oauthlib")
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # oauthlib's switch for a plain-http test server
    auth = oauth.OAuth2(client_id="client", token={"access_token": "token-1", "token_type": "Bearer"})
    sends: list[Send] = [("GET", server.url(f"/echo?n={n}"), {"auth": auth}) for n in range(3)]
    baseline = _received(BASELINE, sends)
    assert [echo["headers"]["authorization"] for echo in baseline] == ["Bearer token-1"] * 3
    assert _received(via, sends) == baseline


def test_aws4auth_signatures_are_identical(via: Client, server: Any) -> None:
    aws4auth = plugin("requests_aws4auth", "requests-aws4auth")
    auth = aws4auth.AWS4Auth("AKIDEXAMPLE", "secret-key", "eu-west-1", "execute-api")
    pinned = {"x-amz-date": "20260101T000000Z"}  # else the signature covers the current time
    sends: list[Send] = [
        ("GET", server.url("/echo?a=1&b=2"), {"auth": auth, "headers": pinned}),
        ("POST", server.url("/echo"), {"auth": auth, "headers": pinned, "json": {"k": [1, 2]}}),
    ]
    baseline = _received(BASELINE, sends)
    scope = "AKIDEXAMPLE/20260101/eu-west-1/execute-api/aws4_request"
    signatures = [echo["headers"]["authorization"] for echo in baseline]
    assert all(signature.startswith(f"AWS4-HMAC-SHA256 Credential={scope}") for signature in signatures)
    assert _received(via, sends) == baseline
