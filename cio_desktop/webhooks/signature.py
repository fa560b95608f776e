"""Customer.io reporting-webhook signatures (``X-CIO-Timestamp`` / ``X-CIO-Signature``).

Customer.io signs ``"v0:" + timestamp + ":" + raw body`` with HMAC-SHA256 and the workspace's
webhook signing key, and sends the lowercase hex digest. We recompute it over the exact bytes we
received (never a re-serialised body) and compare in constant time. A timestamp more than five
minutes old (or ahead) is refused so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from enum import StrEnum

TIMESTAMP_HEADER = "X-CIO-Timestamp"
SIGNATURE_HEADER = "X-CIO-Signature"
MAX_AGE_SECONDS = 300
# Clocks drift; a request "from the future" beyond this is as suspicious as a stale one.
MAX_FUTURE_SECONDS = 300


class SignatureProblem(StrEnum):
    """Why a request's signature was refused (shown in the receiver's log and counters)."""

    MISSING = "missing X-CIO-Timestamp or X-CIO-Signature header"
    BAD_TIMESTAMP = "X-CIO-Timestamp is not a whole number of Unix seconds"
    STALE = "X-CIO-Timestamp is older than 5 minutes"
    FUTURE = "X-CIO-Timestamp is more than 5 minutes in the future"
    MISMATCH = "X-CIO-Signature does not match the body and signing key"


def sign(signing_key: str, timestamp: int | str, body: bytes) -> str:
    """The lowercase hex ``X-CIO-Signature`` Customer.io would send for ``body`` at ``timestamp``."""
    message = b"v0:" + str(timestamp).encode("ascii") + b":" + body
    return hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(signing_key: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers for a request signed like Customer.io's (used by "Send test event" and tests)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(signing_key, ts, body)}


def verify(
    signing_key: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
) -> SignatureProblem | None:
    """Check a request's signature headers; ``None`` means authentic and fresh."""
    if not timestamp or not signature:
        return SignatureProblem.MISSING
    ts_text = timestamp.strip()
    if not ts_text.isascii() or not ts_text.isdigit() or len(ts_text) > 12:
        return SignatureProblem.BAD_TIMESTAMP
    ts = int(ts_text)
    current = time.time() if now is None else now
    if current - ts > MAX_AGE_SECONDS:
        return SignatureProblem.STALE
    if ts - current > MAX_FUTURE_SECONDS:
        return SignatureProblem.FUTURE
    expected = sign(signing_key, ts_text, body)
    # compare_digest needs same-type ASCII operands; a non-ASCII header can never match anyway.
    given = signature.strip().lower()
    if not given.isascii() or not hmac.compare_digest(expected, given):
        return SignatureProblem.MISMATCH
    return None


__all__ = [
    "MAX_AGE_SECONDS",
    "MAX_FUTURE_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureProblem",
    "sign",
    "signed_headers",
    "verify",
]
