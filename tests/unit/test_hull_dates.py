"""One parser of Hull dates: every form Hull writes, nothing that is not a date, and no other parser."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cio_desktop
from cio_desktop.config.profile import AttributeMapping, Profile, SegmentRef
from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.sync.mapping import legacy_payload_hash, map_user, parse_date
from cio_desktop.sync.model import MappingContext

T = 1522420682.0  # 2018-03-30T14:38:02Z
DAY = 1522368000.0  # 2018-03-30T00:00:00Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # ISO 8601, every zone spelling Hull and its exports use
        ("2018-03-30T14:38:02Z", T),
        ("2018-03-30T14:38:02z", T),
        ("2018-03-30T14:38:02+00:00", T),
        ("2018-03-30T14:38:02+0000", T),
        ("2018-03-30T14:38:02+00", T),
        ("2018-03-30T16:38:02+02:00", T),
        ("2018-03-30T09:38:02-0500", T),
        ("2018-03-30 14:38:02", T),
        ("2018-03-30t14:38:02Z", T),
        ("2018-03-30T14:38:02", T),  # no zone: UTC, not the laptop's zone
        ("2018-03-30 14:38:02 UTC", T),
        ("2018-03-30 14:38:02 GMT", T),
        ("2018-03-30 14:38:02 utc", T),
        ("2018-03-30T14:38:02UTC", T),
        ("  2018-03-30T14:38:02Z\n", T),
        ("2018-03-30T14:38Z", T - 2),
        # fractional seconds, of any length
        ("2018-03-30T14:38:02.5Z", T + 0.5),
        ("2018-03-30T14:38:02.123Z", T + 0.123),
        ("2018-03-30T14:38:02.123456+00:00", T + 0.123456),
        ("2018-03-30T14:38:02.123456789Z", T + 0.123456),
        ("2018-03-30 14:38:02.250 UTC", T + 0.25),
        # date only: midnight UTC
        ("2018-03-30", DAY),
        ("2018-03-30Z", DAY),
        ("2018-03-30 UTC", DAY),
        # RFC 2822
        ("Fri, 30 Mar 2018 14:38:02 GMT", T),
        ("Fri, 30 Mar 2018 14:38:02 +0000", T),
        ("Fri, 30 Mar 2018 16:38:02 +0200", T),
        ("30 Mar 2018 14:38:02 -0000", T),
        # epoch numbers: the unit by magnitude (seconds < 1e11 <= milliseconds < 1e14 <= microseconds)
        (1522420682, T),
        (1522420682.5, T + 0.5),
        (1522420682000, T),
        (1522420682123, T + 0.123),
        (1522420682000.0, T),
        (1522420682000000, T),
        (1522420682123456, T + 0.123456),
        (0, 0.0),
        (-86400, -86400.0),
        (-1522420682000, -T),
        ("1522420682", T),
        ("1522420682.5", T + 0.5),
        ("1522420682000", T),
        ("1522420682000000", T),
        (" 1.522420682e9 ", T),
        ("20180330", 20180330.0),  # numeric text is an epoch, not an ISO basic date
        # where the unit changes
        (99_999_999_999, 99_999_999_999.0),
        (100_000_000_000, 100_000_000.0),
        (99_999_999_999_999, 99_999_999_999.999),
        (100_000_000_000_000, 100_000_000.0),
        # the edges of the range: the years 1 to 9999 UTC
        ("0001-01-01T00:00:00Z", -62135596800.0),
        ("9999-12-31T23:59:59Z", 253402300799.0),
        (-62135596800_000_000, -62135596800.0),
    ],
)
def test_every_form_hull_writes_becomes_unix_seconds(value: Any, expected: float) -> None:
    seconds = parse_hull_date(value)
    assert seconds is not None and math.isclose(seconds, expected, abs_tol=1e-6), seconds
    assert isinstance(seconds, float)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        "",
        "   ",
        "yesterday",
        "soon",
        "2018-13-45",
        "2018-02-30T00:00:00Z",
        "2018-03-30T24:00:00Z",
        "2018-03-30T14:38:02+25:00",
        "2018/03/30",
        "30/03/2018",
        "UTC",
        "Z",
        "nan",
        "inf",
        "1e400",
        "0x10",
        "1_000",
        # out of range: past the year 9999 or before the year 1, also once the offset is applied
        "10000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+01:00",
        -62135596801_000_000,
        1e20,  # microseconds of the year ~3 million
        "1522420682123456789",  # nanoseconds: not a unit Hull writes
        10**400,
        math.nan,
        math.inf,
        -math.inf,
        [1522420682],
        {"at": "2018-03-30T14:38:02Z"},
        {},
        b"2018-03-30",
        "x" * 100_000,
    ],
)
def test_what_is_not_a_date_is_none(value: Any) -> None:
    assert parse_hull_date(value) is None
    assert parse_date(value) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_no_json_value_makes_it_raise_and_every_result_is_in_range(value: Any) -> None:
    seconds = parse_hull_date(value)
    assert seconds is None or -62135596800 <= seconds < 253402300800


def test_mapping_sends_whole_seconds_rounded_down() -> None:
    assert parse_date("2018-03-30T14:38:02.999Z") == int(T)
    assert parse_date("1969-12-31T23:59:59.5Z") == -1
    assert parse_date(1522420682999) == int(T)


# ------------------------------------------------------------ mapping unchanged for what parsed before

_MAPPINGS = (
    ("traits_last_login_at", "last_login_at"),
    ("traits_trial_end_date", "trial_end_date"),
    ("traits_renewed_at", "renewed_at"),
    ("account.created_at", "account_created_at"),
)
# created_at, traits_last_login_at, traits_trial_end_date, traits_renewed_at (typed date), account.created_at
_USERS: list[tuple[Any, Any, Any, Any, Any]] = [
    (
        "2018-03-30T14:38:02Z",
        "2024-01-02T03:04:05.678Z",
        "2025-12-31",
        "2024-06-01T00:00:00+02:00",
        "2016-01-01T00:00:00Z",
    ),
    (1522420682000, "2024-01-02 03:04:05 UTC", "1767139200", 1717192800, 1451606400),
    (
        "2018-03-30T14:38:02+0000",
        "Tue, 02 Jan 2024 03:04:05 GMT",
        1767139200.75,
        "2024-06-01 00:00:00",
        "1451606400000",
    ),
    (1522420682123456, "2024-01-02T03:04:05.123456789+00:00", "not a date", "2024-06-01T00:00:00.5Z", "2016-01-01"),
    ("2018-03-30T16:38:02+02:00", "2024-01-02 03:04:05 GMT", "1767139200000", "1717192800.9", "2016-01-01T00:00"),
    ("  2018-03-30T14:38:02Z ", True, {"at": 1}, "2024-06-01 00:00:00 UTC", None),
]
# Computed by the mapping before the Hull date parsers became one: the change-detection hash must not
# move, or every person would be sent again after an upgrade.
_HASHES_BEFORE = [
    "d30f701bcff5bbdb",
    "48f443684bf56e52",
    "440f05069f267ae7",
    "dc256d39f854c979",
    "f2c3dc9c207ebdd9",
    "e5ab537db195c091",
]


def test_payload_hashes_of_dates_that_parsed_before_are_unchanged() -> None:
    profile = Profile(
        name="t",
        segments=(SegmentRef("s1", "Customers"),),
        mappings=tuple(AttributeMapping(h, c) for h, c in _MAPPINGS),
    )
    ctx = MappingContext(profile, {"s1": "Customers"}, {"traits_renewed_at": "date"})
    hashes = []
    for i, (created, login, trial, renewed, account_created) in enumerate(_USERS):
        user = {
            "id": f"{i:024x}",
            "email": f"u{i}@example.com",
            "external_id": f"u-{i}",
            "segment_ids": ["s1"],
            "created_at": created,
            "traits_last_login_at": login,
            "traits_trial_end_date": trial,
            "traits_renewed_at": renewed,
            "account": {"created_at": account_created},
        }
        person = map_user(user, ctx)
        assert person.valid, person.violations
        # The hashes ledgers hold from before (the hash kind changed since, the payload did not).
        hashes.append(legacy_payload_hash(person))
    assert hashes == _HASHES_BEFORE


# ------------------------------------------------------------ no other date parser

ROOT = Path(cio_desktop.__file__).parent
_PARSERS = ("fromisoformat", "strptime", "parsedate")
_PARSER_MODULES = ("dateutil", "_strptime", "iso8601", "ciso8601", "arrow", "pendulum")
# Where a date string may be parsed: the Hull date parser, HTTP's Retry-After, and the sandbox, which
# keeps its own parser as an independent check of the product's.
_ALLOWED = {
    "hull/dates.py": ("fromisoformat", "parsedate"),
    "net/retry.py": ("parsedate",),
}


def _date_parsing(source: str) -> set[str]:
    """Names of date-string parsers a module uses or imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.ImportFrom):
            names.extend([node.module or "", *(alias.name for alias in node.names)])
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        for name in names:
            found.update(p for p in _PARSERS if name.startswith(p))
            found.update(m for m in _PARSER_MODULES if name.split(".")[0] == m)
    return found


def test_only_the_hull_date_parser_parses_date_strings() -> None:
    offenders: dict[str, set[str]] = {}
    scanned = 0
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("sandbox/"):
            continue
        scanned += 1
        found = _date_parsing(path.read_text(encoding="utf-8")) - set(_ALLOWED.get(relative, ()))
        if found:
            offenders[relative] = found
    assert scanned > 50  # the walk really covered the package
    assert offenders == {}, f"parse dates with cio_desktop.hull.dates.parse_hull_date instead: {offenders}"


def test_the_rule_scan_sees_every_way_of_parsing_a_date() -> None:
    assert _date_parsing("from datetime import datetime\nx = datetime.fromisoformat(s)") == {"fromisoformat"}
    assert _date_parsing("import time\ntime.strptime(s, '%Y')") == {"strptime"}
    assert _date_parsing("from email.utils import parsedate_tz") == {"parsedate"}
    assert _date_parsing("from dateutil import parser") == {"dateutil"}
    assert _date_parsing("x = datetime.fromtimestamp(1.0)  # fromisoformat in a comment") == set()
