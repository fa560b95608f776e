"""The metadata scan of a users file: what it infers per user, and that the parallel scan of a JSON-lines
file gives exactly what the serial scan gives."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cio_desktop.hull import files_meta
from cio_desktop.hull.files_meta import UserTally
from cio_desktop.hull.files_normalize import normalize_user

_ISO_DATE_TEXT = [
    "2024-08-29T23:53:10Z",
    "2024-08-29T23:53:10.123+02:00",
    "2025-10-11 20:30:29 UTC",
    "2024-01-01",
    "2024-01-01\n",  # "$" matches before a final line break
    "2024-01-01Z\n",
    "2024-01-01Z\n\n",
    "\u0662\u0660\u0662\u0664-01-01",  # Arabic-Indic digits are digits to the pattern
    "2024-1-01",
    "2024-01-01 12:00 +0100",
    "\ud800-01-01",  # a lone surrogate, as the standard library's decoder can leave
    "tomorrow",
    "",
]


@pytest.mark.parametrize("text", _ISO_DATE_TEXT)
def test_the_remembered_date_verdict_of_a_text_shape_is_the_patterns_verdict(text: str) -> None:
    pattern = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$")
    expected = pattern.match(text) is not None
    same_shape = text.translate(str.maketrans("0123456789", "9876543210"))
    # The first call decides by the pattern, the later ones (any digits) by the remembered shape.
    assert [files_meta._is_date_text(t) for t in (text, text, same_shape)] == [expected] * 3


def _tally(rows: list[dict[str, Any]]) -> dict[str, str]:
    tally = UserTally()
    for row in rows:
        result = normalize_user(row)
        assert not isinstance(result, str)
        tally.add(*result, with_types=True)
    return dict(tally.attributes())


def test_attribute_types_of_top_level_and_account_keys_whatever_the_row_order() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "1", "seen_at": "2024-01-01T00:00:00Z", "plan": 3, "account": {"plan": 5, "since": "2024-02-02"}},
        {"id": "2", "seen_at": 1704067200, "plan": "pro", "account": {"plan": "gold", "since": "2024-03-03"}},
        {"id": "3", "seen_at": "2024-01-02", "plan": None, "account": {"plan": 6, "since": None, "ok": True}},
        {"id": "4", "note": "2024-01-01", "flag": True, "prefs": {"a": 1}, "tags": ["x"]},
        {"id": "5", "note": "later", "flag": False, "prefs": {"b": 2}, "tags": []},
    ]
    expected = {
        "id": "string",
        "seen_at": "date",  # a *_at attribute of dates and Unix times
        "plan": "string",
        "account.plan": "string",
        "account.since": "date",
        "account.ok": "boolean",
        "note": "string",
        "flag": "boolean",
        "prefs": "json",
        "tags": "string",
    }
    assert _tally([dict(r) for r in rows]) == expected
    assert _tally([dict(r) for r in reversed(rows)]) == expected
