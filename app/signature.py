"""Webhook signature check: `X-Hub-Signature-256` is an HMAC-SHA256 of the raw body.

https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub sends for `body`: `sha256=<hex>`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body`; constant-time comparison."""
    if not secret or not header:
        return False
    header = header.strip()
    # compare_digest raises on non-ASCII str, and a real signature is hex: refuse, don't crash.
    if not header.isascii():
        return False
    return hmac.compare_digest(sign(secret, body), header)
