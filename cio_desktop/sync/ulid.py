"""Deterministic ULIDs for Customer.io event de-duplication.

Customer.io drops an event whose ``id`` (a ULID) it has already seen. Deriving the ULID from the Hull
event makes a re-sent event (after a crash, a retry, or from a second laptop) a no-op instead of a
duplicate: 48 bits of millisecond timestamp from the event time + 80 bits of a BLAKE2b hash of the
Hull event id, in Crockford base32 (26 characters, the standard ULID text form).
"""

from __future__ import annotations

import hashlib
import math

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MAX_MS = (1 << 48) - 1


def event_ulid(event_id: str, created_at: float) -> str:
    """The ULID of a Hull event: same inputs, same ULID. Times outside the ULID range are clamped."""
    if not math.isfinite(created_at) or created_at <= 0:
        ms = 0
    else:
        ms = min(int(min(created_at, _MAX_MS / 1000) * 1000), _MAX_MS)
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=10).digest()
    n = (ms << 80) | int.from_bytes(digest, "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(chars))


def ulid_timestamp_ms(ulid: str) -> int:
    """Milliseconds since the epoch encoded in the first 10 characters of a ULID."""
    n = 0
    for ch in ulid[:10].upper():
        n = (n << 5) | _CROCKFORD.index(ch)
    return n


__all__ = ["event_ulid", "ulid_timestamp_ms"]
