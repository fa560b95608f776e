"""Customer.io Track API limits (docs/api-contracts.md, "Customer.io Track API") checked before anything is sent.

Every check returns :class:`Violation` values naming the attribute concerned; nothing is truncated or
fixed up silently: an invalid person or event is not sent and the violations are reported.

Limits and the wire encoding come from :mod:`cio_desktop.customerio.sizes` (compact UTF-8 JSON, what
the Track client sends), so what passes here is accepted by the client's own size checks. Text that is
not valid Unicode (lone surrogates, possible in JSON input) cannot be encoded and is a violation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cio_desktop.customerio.sizes import (
    MAX_ATTRIBUTE_NAME_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES_PER_CALL,
    MAX_BATCH_BYTES,
    MAX_EVENT_DATA_BYTES,
    MAX_EVENT_NAME_BYTES,
    MAX_IDENTIFIER_BYTES,
    MAX_OP_BYTES,
    dumps,
)
from cio_desktop.sync.model import Violation

# A UTF-8 character is at most 4 bytes, so strings this short can skip the encode() in hot loops.
_SAFE_NAME_CHARS = MAX_ATTRIBUTE_NAME_BYTES // 4
_SAFE_VALUE_CHARS = MAX_ATTRIBUTE_VALUE_BYTES // 4

# ASCII-escaped JSON is never shorter than the UTF-8 wire form and never fails to encode: hot paths
# measure with it first and only compute the exact size when the estimate comes near a limit.
_ascii_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


def json_text(value: Any) -> str:
    """Compact ASCII-escaped JSON; raises ValueError for NaN/infinity, TypeError for non-JSON values."""
    return _ascii_dumps(value)


def wire_size(value: Any) -> int:
    """Exact bytes of ``value`` on the wire (compact UTF-8 JSON).

    Raises ValueError (NaN/infinity), TypeError (not JSON) or UnicodeEncodeError (lone surrogates)."""
    return len(dumps(value))


def utf8_len(text: str) -> int | None:
    """Length in UTF-8 bytes, or None when the text holds lone surrogates (not valid Unicode)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def check_identifier(key: str, value: str) -> Violation | None:
    """A customerId (``id`` or ``email`` identifier) must be 1-150 bytes of valid Unicode."""
    n = utf8_len(value)
    if n is None:
        return Violation("(identifier)", f"{key} is not valid Unicode text")
    if n == 0:
        return Violation("(identifier)", f"{key} is empty")
    if n > MAX_IDENTIFIER_BYTES:
        return Violation("(identifier)", f"{key} cannot be longer than {MAX_IDENTIFIER_BYTES} bytes (it is {n} bytes)")
    return None


def check_attribute_name(name: str) -> Violation | None:
    if name and len(name) <= _SAFE_NAME_CHARS:
        return None
    n = utf8_len(name)
    if not name:
        return Violation("(attributes)", "attribute name cannot be empty")
    if n is None:
        return Violation(name, "attribute name is not valid Unicode text")
    if n > MAX_ATTRIBUTE_NAME_BYTES:
        return Violation(
            name, f"attribute name cannot be longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes (it is {n} bytes)"
        )
    return None


def check_attribute_value(name: str, value: Any) -> Violation | None:
    """Strings are measured in UTF-8 bytes, arrays and objects as compact JSON; other values are small."""
    if isinstance(value, str):
        if len(value) <= _SAFE_VALUE_CHARS:
            return None
        n = utf8_len(value)
        if n is None:
            return Violation(name, f"value for attribute '{name}' is not valid Unicode text")
    elif isinstance(value, list | dict):
        try:
            n = wire_size(value)
        except UnicodeEncodeError:
            return Violation(name, f"value for attribute '{name}' is not valid Unicode text")
        except (ValueError, TypeError):
            return Violation(name, f"value for attribute '{name}' holds NaN, infinity or a non-JSON value")
    else:
        return None
    if n > MAX_ATTRIBUTE_VALUE_BYTES:
        return Violation(
            name,
            f"value for attribute '{name}' cannot be longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes (it is {n} bytes)",
        )
    return None


def _short_text_list(value: list[Any]) -> bool:
    """True when a list of texts (like ``hull_segments``) is surely under the value limit, without encoding it.

    A character takes at most 6 bytes in JSON (an escape like ``\\u001f``) and each item at most 3 more
    (quotes and comma); lone surrogates are caught by the mapping's own Unicode check."""
    total = 2 + 3 * len(value)
    for item in value:
        if type(item) is not str:
            return False
        total += 6 * len(item)
    return total <= MAX_ATTRIBUTE_VALUE_BYTES


def check_attributes(attributes: Mapping[str, Any]) -> list[Violation]:
    """Names, values and count of one identify call's attributes."""
    out: list[Violation] = []
    if len(attributes) > MAX_ATTRIBUTES_PER_CALL:
        out.append(
            Violation(
                "(attributes)",
                f"cannot identify more than {MAX_ATTRIBUTES_PER_CALL} attributes in one request "
                f"(this person has {len(attributes)}); map fewer attributes",
            )
        )
    for name, value in attributes.items():
        # Fast path first: short names and short strings/numbers cannot break a limit.
        if not name or len(name) > _SAFE_NAME_CHARS:
            v = check_attribute_name(name)
            if v is not None:
                out.append(v)
        kind = type(value)
        if kind is str:
            if len(value) <= _SAFE_VALUE_CHARS:
                continue
        elif kind is list:
            if _short_text_list(value):
                continue
        elif kind is not dict:
            continue
        v = check_attribute_value(name, value)
        if v is not None:
            out.append(v)
    return out


def check_operation_size(nbytes: int, what: str = "operation") -> Violation | None:
    if nbytes > MAX_OP_BYTES:
        return Violation(
            "(operation)", f"the {what} is {nbytes} bytes; Customer.io accepts at most {MAX_OP_BYTES} bytes"
        )
    return None


def check_event(name: str, data_bytes: int) -> list[Violation]:
    """Event name 1-100 bytes, event data at most 100,000 bytes (compact JSON)."""
    out: list[Violation] = []
    n = utf8_len(name)
    if n is None:
        out.append(Violation("(event name)", "event name is not valid Unicode text"))
    elif n == 0 or not name.strip():
        out.append(Violation("(event name)", "event name is empty"))
    elif n > MAX_EVENT_NAME_BYTES:
        out.append(
            Violation(
                "(event name)", f"event name cannot be longer than {MAX_EVENT_NAME_BYTES} bytes (it is {n} bytes)"
            )
        )
    if data_bytes > MAX_EVENT_DATA_BYTES:
        out.append(
            Violation(
                "(event data)",
                f"event data cannot be longer than {MAX_EVENT_DATA_BYTES} bytes (it is {data_bytes} bytes)",
            )
        )
    return out


def describe(violations: tuple[Violation, ...] | list[Violation]) -> str:
    """One line listing every violation, for decisions and error reports."""
    return "; ".join(
        v.message if v.message.find(v.attribute) >= 0 else f"{v.attribute}: {v.message}" for v in violations
    )


__all__ = [
    "MAX_ATTRIBUTES_PER_CALL",
    "MAX_ATTRIBUTE_NAME_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_BATCH_BYTES",
    "MAX_EVENT_DATA_BYTES",
    "MAX_EVENT_NAME_BYTES",
    "MAX_IDENTIFIER_BYTES",
    "MAX_OP_BYTES",
    "check_attribute_name",
    "check_attribute_value",
    "check_attributes",
    "check_event",
    "check_identifier",
    "check_operation_size",
    "describe",
    "json_text",
    "utf8_len",
    "wire_size",
]
