"""Customer.io's Track API checks, as the sandbox applies them to people, events and objects.

Limits and error messages follow docs/api-contracts.md ("Customer.io Track API"): identifier,
attribute name 150 bytes; value 1000 bytes (arrays/objects measured as compact JSON); 300 attributes
per call; event name 100 bytes; event data 100,000 bytes; v2 operation 32 KB and request 500 KB.
A failed check raises :class:`Rejected`, which the API turns into a 400 (v1) or a 207 entry (v2).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# "500 KB" and "32 KB" read as decimal: the stricter reading, so a client that passes here also
# passes if Customer.io counts in powers of ten.
MAX_REQUEST_BYTES = 500_000
MAX_OPERATION_BYTES = 32_000
MAX_IDENTIFIER_BYTES = 150
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
MAX_ATTRIBUTES = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000
MAX_APP_LOOKUP_IDS = 100

_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")
_IDENTIFIER_KINDS = ("id", "email", "cio_id")


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # built once: per-call setup is slow


def compact_json(value: Any) -> str:
    return _ENCODE(value)


def compact_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how Customer.io measures objects and arrays)."""
    return len(compact_json(value).encode())


def _value_size(value: Any) -> int:
    """Bytes of an attribute value, exact when it could be near the limit (cheap bounds otherwise)."""
    kind = type(value)
    if kind is str:
        return len(value) if len(value) * 4 <= MAX_ATTRIBUTE_VALUE_BYTES or value.isascii() else len(value.encode())
    if kind is int or kind is bool or value is None:
        return 20  # never near the limit; exact size does not matter
    if kind is float:
        return len(repr(value))
    if kind is list and all(type(x) is str for x in value):
        bound = 2 + sum(6 * len(x) + 3 for x in value)  # worst case: every character escaped as \u00XX
        if bound <= MAX_ATTRIBUTE_VALUE_BYTES:
            return bound
    return compact_size(value)


class Reason(StrEnum):
    """``reason`` of a v2 per-operation error."""

    REQUIRED = "required"
    INVALID = "invalid"
    TOO_LONG = "too_long"
    TOO_LARGE = "too_large"
    TOO_MANY = "too_many"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Problem:
    reason: Reason
    field: str
    message: str


class Rejected(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _reject(reason: Reason, field_name: str, message: str) -> Rejected:
    return Rejected(Problem(reason, field_name, message))


# ---------------------------------------------------------------------- validation
def check_identifier(kind: str, value: Any, field_name: str = "identifiers") -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _reject(Reason.INVALID, field_name, f"identifier {kind} must be a string")
    text = str(value)
    if not text.strip():
        raise _reject(Reason.REQUIRED, field_name, f"identifier {kind} cannot be blank")
    if len(text.encode()) > MAX_IDENTIFIER_BYTES:
        raise _reject(Reason.TOO_LONG, field_name, f"identifier cannot be longer than {MAX_IDENTIFIER_BYTES} bytes")
    return text


def check_identifiers(raw: Any, field_name: str = "identifiers") -> tuple[str, str]:
    """Exactly one of id, email, cio_id -> (kind, value)."""
    if not isinstance(raw, dict) or not raw:
        raise _reject(Reason.REQUIRED, field_name, "identifiers must contain exactly one of id, email, cio_id")
    present = [(k, v) for k, v in raw.items() if k in _IDENTIFIER_KINDS]
    if len(raw) != 1 or len(present) != 1:
        raise _reject(Reason.INVALID, field_name, "identifiers must contain exactly one of id, email, cio_id")
    kind, value = present[0]
    return kind, check_identifier(kind, value, field_name)


def check_attributes(attrs: Any, field_name: str = "attributes") -> dict[str, Any]:
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise _reject(Reason.INVALID, field_name, "attributes must be an object")
    if len(attrs) - ("_update" in attrs) > MAX_ATTRIBUTES:
        raise _reject(
            Reason.TOO_MANY, field_name, f"cannot identify more than {MAX_ATTRIBUTES} attributes in one request"
        )
    for name, value in attrs.items():
        if not name:
            raise _reject(Reason.REQUIRED, field_name, "attribute name cannot be blank")
        if len(name) * 4 > MAX_ATTRIBUTE_NAME_BYTES and len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
            raise _reject(
                Reason.TOO_LONG, field_name, f"attribute name cannot be longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes"
            )
        if _value_size(value) > MAX_ATTRIBUTE_VALUE_BYTES:
            raise _reject(
                Reason.TOO_LONG,
                f"{field_name}.{name}",
                f"value for attribute '{name}' cannot be longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes",
            )
    return attrs


@dataclass(frozen=True)
class EventIn:
    name: str
    event_type: str
    event_id: str | None
    timestamp: int | None
    data: dict[str, Any]


def check_event(
    name: Any, event_type: Any, event_id: Any, timestamp: Any, data: Any, data_field: str = "data"
) -> EventIn:
    if not isinstance(name, str) or not name.strip():
        raise _reject(Reason.REQUIRED, "name", "event name is required")
    if len(name.encode()) > MAX_EVENT_NAME_BYTES:
        raise _reject(Reason.TOO_LONG, "name", f"event name cannot be longer than {MAX_EVENT_NAME_BYTES} bytes")
    if event_type is None:
        event_type = "event"
    if event_type not in ("event", "page", "screen"):
        raise _reject(Reason.INVALID, "type", "type must be one of event, page, screen")
    if event_id is not None and (not isinstance(event_id, str) or not _ULID_RE.match(event_id)):
        raise _reject(Reason.INVALID, "id", "event id must be a valid ULID")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0):
        raise _reject(Reason.INVALID, "timestamp", "timestamp must be a Unix timestamp in seconds (an integer)")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _reject(Reason.INVALID, data_field, "event data must be an object")
    if data and compact_size(data) > MAX_EVENT_DATA_BYTES:
        raise _reject(Reason.TOO_LARGE, data_field, f"event data cannot be larger than {MAX_EVENT_DATA_BYTES} bytes")
    return EventIn(name, event_type, event_id.upper() if event_id else None, timestamp, data)
