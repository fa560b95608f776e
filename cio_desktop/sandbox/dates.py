"""The sandbox's own date text: fast formatting for generated data, and parsing Hull's date forms.

Kept apart from the app's date parsing on purpose: the sandbox checks the app, not itself.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

DAY = 86_400
_DAY_TEXT: dict[int, str] = {}  # day number -> "YYYY-MM-DD" (a few thousand days at most)
_HOUR_MINUTE = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
_SECOND = [f":{x:02d}" for x in range(60)]


def fmt_seconds(t: int, sep: str, suffix: str) -> str:
    """Fast date formatting for whole seconds (the generator formats several dates per user)."""
    d, sod = divmod(t, DAY)
    day = _DAY_TEXT.get(d)
    if day is None:
        g = time.gmtime(d * DAY)
        day = _DAY_TEXT[d] = f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}"
    m, sec = divmod(sod, 60)
    return day + sep + _HOUR_MINUTE[m] + _SECOND[sec] + suffix


def iso_z(t: float) -> str:
    """``2026-01-01T00:00:00Z`` (milliseconds added when ``t`` has a fraction)."""
    whole = int(t)
    ms = round((t - whole) * 1000)
    if not ms:
        return fmt_seconds(whole, "T", "Z")
    return fmt_seconds(whole, "T", f".{min(ms, 999):03d}Z")


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_date(value: Any) -> float | None:
    """Unix seconds from any date form Hull emits (``Z``, ``+00:00``, ``... UTC``, date only), else None."""
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return None
    s = value.strip()
    if s.endswith(" UTC"):
        s = s[:-4] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
