"""Customer.io Track API limits and how requests are measured against them.

Sizes are the bytes of compact JSON (no spaces, UTF-8, non-ASCII kept as is): exactly the bytes
:class:`~cio_desktop.customerio.track.TrackClient` sends, so a batch measured under the limit is sent
under the limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# "under 500 KB": 500,000 is below both 500 x 1000 and 500 x 1024.
MAX_BATCH_BYTES = 500_000
MAX_OP_BYTES = 32_000
MAX_IDENTIFIER_BYTES = 150
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
MAX_ATTRIBUTES_PER_CALL = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000

_ENVELOPE_BYTES = len(b'{"batch":[]}')


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. NaN and infinities are refused (they are not JSON)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (how Customer.io measures attribute values and event data)."""
    return len(dumps(value))


def op_size(op: Mapping[str, Any]) -> int:
    """Bytes one v2 batch operation takes in the request."""
    return json_size(op)


def batch_size(ops: Iterable[Mapping[str, Any]]) -> int:
    """Bytes of the whole ``{"batch": [...]}`` request body for ``ops``."""
    total = _ENVELOPE_BYTES
    count = 0
    for op in ops:
        total += op_size(op)
        count += 1
    return total + max(0, count - 1)  # commas between operations


def batch_size_with(current_size: int, current_count: int, op_bytes: int) -> int:
    """Size of a batch of ``current_count`` ops (``current_size`` bytes) after adding one of ``op_bytes``.

    Lets a batcher grow a batch without re-measuring it: start from ``batch_size([])``.
    """
    return current_size + op_bytes + (1 if current_count else 0)


__all__ = [
    "MAX_ATTRIBUTES_PER_CALL",
    "MAX_ATTRIBUTE_NAME_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_BATCH_BYTES",
    "MAX_EVENT_DATA_BYTES",
    "MAX_EVENT_NAME_BYTES",
    "MAX_IDENTIFIER_BYTES",
    "MAX_OP_BYTES",
    "batch_size",
    "batch_size_with",
    "dumps",
    "json_size",
    "op_size",
]
