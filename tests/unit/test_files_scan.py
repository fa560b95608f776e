"""The metadata scan of a users file: what it infers per user, and that the parallel scan of a JSON-lines
file gives exactly what the serial scan gives."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.hull import files as files_module
from cio_desktop.hull import files_meta, files_scan
from cio_desktop.hull.files import FileSource, ScanCancelled, ScanProgress
from cio_desktop.hull.files_meta import UserTally
from cio_desktop.hull.files_normalize import normalize_user
from cio_desktop.hull.files_readers import detect_format
from cio_desktop.hull.files_scan import scan_users_in_ranges, split_ranges
from cio_desktop.hull.source import SourceError
from cio_desktop.parallel import WORKERS_ENV

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


def _tallied(rows: list[dict[str, Any]]) -> UserTally:
    tally = UserTally()
    for row in rows:
        result = normalize_user(dict(row))
        assert not isinstance(result, str)
        tally.add(*result, with_types=True)
    return tally


def _described(tally: UserTally) -> tuple[Any, ...]:
    return (tally.users, tally.segments(), tally.attributes(), tally.segment_combinations(), tally.connector_marked())


@pytest.mark.parametrize("most", [3, 100])
def test_merged_tallies_of_consecutive_rows_are_the_tally_of_all_of_them(
    monkeypatch: pytest.MonkeyPatch, most: int
) -> None:
    monkeypatch.setattr(files_meta, "MAX_SEGMENT_COMBINATIONS", most)
    mark = {"traits_customerio/created_at": "2024-01-01"}
    rows: list[dict[str, Any]] = [
        {"id": "1", "segments": [{"id": "a", "name": ""}], "seen_at": "2024-01-01", **mark},
        {"id": "2", "segments": [{"id": "a", "name": "Alpha"}, {"id": "b", "name": "b"}], "seen_at": 5},
        {"id": "3", "segments": [{"id": "a", "name": "Later"}, {"id": "c", "name": "Gamma"}], "n": 1, **mark},
        {"id": "4", "segment_ids": ["b", "c"], "seen_at": "soon", "n": 2.5},
        {"id": "5", "segments": [{"id": "b", "name": "Beta"}], "n": True, "account": {"x": 1}},
        {"id": "6", "segment_ids": ["d"], "account": {"x": "one"}, **mark},
    ]
    whole = _described(_tallied(rows))
    for cut in range(len(rows) + 1):
        for second in range(cut, len(rows) + 1):
            merged = _tallied(rows[:cut])
            merged.merge(_tallied(rows[cut:second]))
            merged.merge(_tallied(rows[second:]))
            assert _described(merged) == whole, (cut, second)


# --------------------------------------------------------------------------- parallel = serial

MAX_RECORD = 2048


def _user(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"user-{n}", "email": f"u{n}@example.com", **extra}


def _awkward_lines() -> list[bytes]:
    """Every kind of row a range boundary could get wrong, spread through the file."""
    lines = [b"\xef\xbb\xbf" + json.dumps(_user(0, segment_ids=["s1"])).encode()]  # a byte order mark
    for n in range(1, 500):
        row = _user(
            n,
            # Names come late, and change: the first one given is the segment's.
            segments=[{"id": f"s{n % 4}", "name": f"Segment {n % 4} from {n // 150}" if n > 120 else ""}],
            created_at=f"2024-01-{1 + n % 28:02d}T10:00:00Z" if n % 9 else "soon",
            score=n if n % 5 else float(n),
            account={"plan": "gold", "since": "2024-02-02"} if n % 3 else None,
            **({"traits_customerio/created_at": "2024-01-01"} if n % 7 == 0 else {}),
        )
        if n % 50 == 7:
            row["id"] = f"user-{n % 50}"  # the same person again, much later: the later row wins
        lines.append(json.dumps(row).encode())
        if n % 37 == 0:
            lines.append(b'{"id": "broken",')
        if n % 53 == 0:
            lines.append(b"")
        if n % 41 == 0:
            lines.append(b"[1, 2]")
        if n % 61 == 0:
            lines.append(b'{"name": "nobody"}')
        if n % 97 == 0:
            lines.append(json.dumps(_user(10_000 + n, blob="x" * (3 * MAX_RECORD))).encode())  # over the limit
        if n % 89 == 0:
            lines.append(b"\xef\xbb\xbf" + json.dumps(_user(20_000 + n)).encode())  # a mark mid-file is an error
        if n % 71 == 0:
            lines.append(b'{"id": "bytes \xff"}')
        if n % 83 == 0:
            lines.append(json.dumps(_user(30_000 + n, big=12345678901234567890123)).encode())
    return lines


def _serial(path: Path) -> dict[str, Any]:
    return FileSource(path, max_record_bytes=MAX_RECORD, workers=0)._scan_users(None).to_json()


def _parallel(path: Path, workers: int = 2, range_bytes: int = 4096) -> dict[str, Any]:
    shape = detect_format(path)
    meta = scan_users_in_ranges(path, shape, MAX_RECORD, workers, None, range_bytes=range_bytes)
    return meta.to_json()


@pytest.mark.parametrize("ending", [b"\n", b""], ids=["last line ends", "last line without newline"])
def test_the_parallel_scan_gives_exactly_the_serial_metadata_of_an_awkward_file(tmp_path: Path, ending: bytes) -> None:
    path = tmp_path / "users.jsonl"
    path.write_bytes(b"\n".join(_awkward_lines()) + ending)
    serial = _serial(path)
    # The file has what the comparison needs: more bad rows than the summary keeps, duplicates, ...
    assert serial["bad_rows"] > files_meta.SUMMARY_PROBLEMS and serial["duplicate_rows"] > 0
    assert len({p["reason"] for p in serial["problems"]}) >= 4
    for workers, range_bytes in ((2, 997), (2, 16_000), (2, 1 << 30), (0, 997)):
        assert _parallel(path, workers, range_bytes) == serial, (workers, range_bytes)


def test_a_file_smaller_than_the_number_of_workers_or_empty_scans_the_same(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_bytes(json.dumps(_user(1, segment_ids=["a"])).encode())
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert _parallel(one, workers=4, range_bytes=1) == _serial(one)
    assert _parallel(empty, workers=4) == _serial(empty)
    assert _parallel(empty, workers=0) == _serial(empty)


def test_ranges_start_at_line_starts_cover_the_file_and_keep_a_long_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    data = b"a\n" * 10 + b"b" * 500 + b"\n" + b"c\n" * 10 + b"tail"
    path.write_bytes(data)
    ranges = split_ranges(path, len(data), 16)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(ranges))
    assert all(start < end and data[start - 1 : start] in (b"", b"\n") for start, end in ranges)
    long_line = data.index(b"b")
    assert not any(long_line < start <= long_line + 500 for start, _ in ranges)  # never cut inside it
    assert len(ranges) <= 16


def test_a_last_line_longer_than_the_ranges_is_looked_through_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "users.jsonl"
    data = b"a\n" + b"x" * 200_000  # a last line without a line break, over most of the file
    path.write_bytes(data)
    looks: list[int] = []
    real = files_scan._line_start
    monkeypatch.setattr(files_scan, "_line_start", lambda *a: looks.append(1) or real(*a))
    assert split_ranges(path, len(data), 500) == [(0, len(data))]
    assert len(looks) == 1


def _big_file(tmp_path: Path, users: int = 3000) -> Path:
    path = tmp_path / "users.jsonl"
    rows = (json.dumps(_user(n, segment_ids=["a", f"s{n % 3}"], note="y" * 300)) for n in range(users))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_file_source_scans_in_workers_when_the_setting_asks_and_the_result_is_the_serial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _big_file(tmp_path)
    serial = FileSource(path, workers=0).scan()
    monkeypatch.setattr(files_scan, "RANGES_MIN_BYTES", 0)
    monkeypatch.setattr(files_scan, "RANGE_BYTES", 64 << 10)
    monkeypatch.setenv(WORKERS_ENV, "2")
    workers: list[int] = []
    real = files_module.scan_users_in_ranges
    monkeypatch.setattr(files_module, "scan_users_in_ranges", lambda *a: workers.append(a[3]) or real(*a))
    seen: list[ScanProgress] = []
    path.touch()  # a new modification time: the cache written above is not used
    assert FileSource(path).scan(on_progress=seen.append) == serial
    positions = [p.bytes_read for p in seen]
    assert positions == sorted(positions) and positions[-1] == seen[-1].bytes_total == path.stat().st_size
    assert seen[-1].records == 3000 and workers == [2]


@pytest.mark.parametrize("workers", [0, 2])
def test_cancel_stops_a_scan_in_ranges_promptly_and_leaves_no_worker_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    path = _big_file(tmp_path, users=20_000)
    monkeypatch.setattr(files_scan, "RANGES_MIN_BYTES", 0)
    monkeypatch.setattr(files_scan, "RANGE_BYTES", 64 << 10)
    cancel = threading.Event()
    seen: list[ScanProgress] = []

    def on_progress(progress: ScanProgress) -> None:
        seen.append(progress)
        if progress.bytes_read:
            cancel.set()  # once the first range is in

    started = time.monotonic()
    with pytest.raises(ScanCancelled):
        FileSource(path, workers=workers).scan(on_progress=on_progress, cancel=cancel)
    assert time.monotonic() - started < 10
    assert seen[-1].bytes_read < seen[-1].bytes_total  # stopped before the end
    assert len(seen) < 300  # about one per range at most: the parent waits for its workers, never spins
    assert multiprocessing.active_children() == []


def test_a_bad_worker_setting_is_a_clear_error_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _big_file(tmp_path, users=10)
    monkeypatch.setattr(files_scan, "RANGES_MIN_BYTES", 0)
    monkeypatch.setenv(WORKERS_ENV, "many")
    with pytest.raises(SourceError, match=rf"{WORKERS_ENV}='many' is not a number of worker processes"):
        FileSource(path).scan()
