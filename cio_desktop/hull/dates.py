"""The one parser of Hull dates: every layer that reads a date Hull wrote uses :func:`parse_hull_date`.

Hull writes dates in several forms, depending on the API, the export and the age of the data:

========================================  =========================================================
``2018-03-30T14:38:02Z``                  ISO 8601; ``Z``, ``z``, ``+00:00``, ``+0000``, ``+00`` or any
                                          offset; a space or ``t`` instead of ``T``; fractional seconds
                                          of any length (beyond microseconds ignored); minutes only
``2018-03-30 14:38:02 UTC``               a trailing ``UTC`` or ``GMT`` word (any case, space optional)
``2018-03-30T14:38:02``                   no zone: UTC (Hull stores UTC; never the laptop's zone)
``2018-03-30``                            date only: midnight UTC
``Fri, 30 Mar 2018 14:38:02 GMT``         RFC 2822 (HTTP and e-mail style), any offset
``1522420682`` / ``1522420682.5``         Unix seconds: int, float or numeric text
``1522420682123``                         milliseconds since the epoch
``1522420682123456``                      microseconds since the epoch
========================================  =========================================================

Epoch numbers carry no unit, so the unit is decided by magnitude: below 1e11 they are seconds (1e11 s
is the year 5138), from 1e11 milliseconds (1e11 ms is 1973), from 1e14 microseconds (1e14 µs is 1973).
So every date from 1973 to 5138 reads right in all three units; a millisecond date before 1973 would be
read as seconds. Numeric text is an epoch even when it could be an ISO basic date (``20180330``).

Anything else is not a date and gives None, never an exception: garbage text, booleans (JSON ``true``
is not a date), lists, objects, NaN and infinity, and times outside the years 1 to 9999 UTC (an epoch
that large is an error, and Customer.io and Python cannot represent it).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

MIN_SECONDS = -62135596800.0  # 0001-01-01T00:00:00Z
END_SECONDS = 253402300800.0  # 10000-01-01T00:00:00Z, the first second past the range
MILLISECONDS_FROM = 1e11
MICROSECONDS_FROM = 1e14

_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ZONE_WORDS = ("UTC", "GMT")


def parse_hull_date(value: Any) -> float | None:
    """Unix seconds (UTC) for any date form Hull emits (see the module docstring), else None."""
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return _from_epoch(float(value))
        except OverflowError:  # an int beyond float's range
            return None
    return None


def _from_epoch(number: float) -> float | None:
    if not math.isfinite(number):
        return None
    magnitude = abs(number)
    if magnitude >= MICROSECONDS_FROM:
        number /= 1_000_000
    elif magnitude >= MILLISECONDS_FROM:
        number /= 1000
    return number if MIN_SECONDS <= number < END_SECONDS else None


def _from_text(value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    # "2024-01-31...": the usual form skips the number check (a number never has "-" after 4 digits).
    if not (text[4:5] == "-" and text[:4].isdigit()) and _NUMERIC.fullmatch(text):
        return _from_epoch(float(text))
    iso = text
    last = text[-1]
    if last in "Zz":  # also a lower-case z, and after a date alone
        iso = text[:-1] + "+00:00"
    elif last in "CTct" and text[-3:].upper() in _ZONE_WORDS:
        iso = text[:-3].rstrip() + "+00:00"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError, OSError):
        return None
    return seconds if MIN_SECONDS <= seconds < END_SECONDS else None


__all__ = ["parse_hull_date"]
