"""FileSource: Hull export files (JSON lines, JSON arrays, CSV, gzip) read as a UserSource."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.hull import files as files_module
from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.hull.files import (
    FileSource,
    ScanCancelled,
    ScanProgress,
    derived_user_id,
    segment_id_for_name,
)
from cio_desktop.hull.files_events import sorted_by_time
from cio_desktop.hull.files_readers import OpenedFile, _ArrayReader
from cio_desktop.hull.source import HullEvent, SourceError, SourceProblem, UserSource
from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.export import export_organization


def _comparable(user: dict[str, Any]) -> dict[str, Any]:
    """A user without the values a CSV cannot carry (null, empty string, empty list)."""
    return {k: v for k, v in user.items() if k == "segment_ids" or v not in (None, "", [])}


def _write_lines(path: Path, lines: list[str | bytes]) -> Path:
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    path.write_bytes(data)
    return path


def _user(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"{n:024x}", "email": f"u{n}@example.com", "external_id": f"e{n}", **extra}


@pytest.fixture(scope="module")
def org() -> FakeOrg:
    return FakeOrg(300, seed=11)


@pytest.fixture(scope="module")
def exported(org: FakeOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("export")
    plain = export_organization(org, folder / "plain")
    packed = export_organization(org, folder / "gzip", gzip=True)
    return {**plain, **{f"{k}.gz": v for k, v in packed.items()}}


# --------------------------------------------------------------------------- same users as the API


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "jsonl.gz", "json.gz", "csv.gz"])
def test_every_export_format_reads_back_the_users_the_api_serves(
    org: FakeOrg, exported: dict[str, Path], fmt: str
) -> None:
    source = FileSource(exported[fmt], exported["events"])
    users = list(source.iter_users(None))
    assert source.problems() == []
    assert [_comparable(u) for u in users] == [_comparable(org.doc(i)) for i in range(org.size)]


def test_file_source_is_a_user_source_without_write_back(exported: dict[str, Path]) -> None:
    source = FileSource(exported["jsonl"])
    assert isinstance(source, UserSource)
    assert source.supports_write_back is False
    assert "users.jsonl" in source.describe()
    assert "users.jsonl" in source.check()


def test_metadata_matches_the_organization(org: FakeOrg, exported: dict[str, Path]) -> None:
    source = FileSource(exported["csv.gz"], exported["events.gz"])
    sizes = dict(zip((sid for sid, _ in org.segments), org.segment_counts(), strict=True))
    assert {(s.id, s.name, s.size) for s in source.segments()} == {
        (sid, name, sizes[sid]) for sid, name in org.segments
    }
    types = {a.key: a.type for a in source.attributes()}
    assert types["traits_mrr"] == "number"
    assert types["traits_newsletter"] == "boolean"
    assert types["traits_preferences"] == "json"
    assert types["created_at"] == "date"
    assert types["traits_last_login_date"] == "date"
    assert types["email"] == "string"
    assert types["account.domain"] == "string"
    assert "segment_ids" not in types
    counts = {e.name: e.count for e in source.event_names()}
    expected: dict[str, int] = {}
    for event in org.events():
        expected[event["event"]] = expected.get(event["event"], 0) + 1
    assert counts == expected


def test_events_come_back_oldest_first_like_the_api(org: FakeOrg, exported: dict[str, Path]) -> None:
    source = FileSource(exported["jsonl"], exported["events"])
    names = [e.name for e in source.event_names()]
    events = list(source.iter_events(names))
    assert [e.event_id for e in events] == [e["id"] for e in org.events()]
    assert all(a.created_at <= b.created_at for a, b in itertools.pairwise(events))
    first = org.events()[0]
    assert events[0].name == first["event"]
    assert events[0].user_id == (first["user_id"] or "")
    assert events[0].properties == first["properties"]


def test_count_users_is_exact_for_several_segments(org: FakeOrg, exported: dict[str, Path]) -> None:
    source = FileSource(exported["jsonl"])
    first, second = org.segments[3][0], org.segments[7][0]
    expected = sum(1 for i in range(org.size) if {first, second} & set(org.doc(i)["segment_ids"]))
    assert source.count_users([first, second]) == expected
    assert len(list(source.iter_users([first, second]))) == expected
    assert source.count_users(None) == org.size
    assert source.count_users([]) == 0


# --------------------------------------------------------------------------- filtering


def test_segment_and_updated_since_filters(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "users.jsonl",
        [
            json.dumps(_user(1, segment_ids=["a"], updated_at="2024-01-01T00:00:00Z")),
            json.dumps(_user(2, segment_ids=["b"], updated_at="2024-03-01 00:00:00 UTC")),
            json.dumps(_user(3, segment_ids=["a", "b"])),
        ],
    )
    source = FileSource(path)
    assert [u["external_id"] for u in source.iter_users(["a"])] == ["e1", "e3"]
    assert list(source.iter_users([])) == []
    since = parse_hull_date("2024-02-01T00:00:00Z")
    # A user without updated_at is kept: it may have changed.
    assert [u["external_id"] for u in source.iter_users(None, updated_since=since)] == ["e2", "e3"]


def test_segments_given_by_name_get_stable_ids_and_merge_with_segment_ids(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "users.ndjson",
        [
            json.dumps(_user(1, segments=["Trial"], segment_ids=["s1"])),
            json.dumps(_user(2, segments=[{"id": "s1", "name": "Paying"}, {"name": "Trial"}])),
        ],
    )
    source = FileSource(path)
    users = list(source.iter_users(None))
    trial = segment_id_for_name("Trial")
    assert users[0]["segment_ids"] == ["s1", trial]
    assert users[1]["segment_ids"] == ["s1", trial]
    assert "segments" not in users[0]
    assert {(s.id, s.name, s.size) for s in source.segments()} == {("s1", "Paying", 2), (trial, "Trial", 2)}
    assert segment_id_for_name("Trial") == trial and len(trial) == 24


def test_user_without_id_gets_one_derived_from_external_id_or_email(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "users.jsonl",
        [json.dumps({"external_id": "x1"}), json.dumps({"email": "a@b.c"}), json.dumps({"name": "nobody"})],
    )
    source = FileSource(path)
    users = list(source.iter_users(None))
    assert [u["id"] for u in users] == [derived_user_id("external_id", "x1"), derived_user_id("email", "a@b.c")]
    assert source.problems() == [
        SourceProblem(str(path.absolute()), 3, "the user has no id, external_id, email or anonymous id")
    ]


def test_a_user_listed_twice_is_yielded_once_with_the_later_row(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "users.jsonl",
        [
            json.dumps(_user(1, segment_ids=["old"])),
            json.dumps(_user(2)),
            json.dumps(_user(1, segment_ids=["new"])),
        ],
    )
    source = FileSource(path)
    users = list(source.iter_users(None))
    assert [(u["id"], u["segment_ids"]) for u in users] == [(_user(2)["id"], []), (_user(1)["id"], ["new"])]
    assert [p.line for p in source.problems()] == [1]
    summary = source.scan()
    assert summary.users == 2 and summary.duplicate_users == 1
    # Sizes describe what is synced: the old row's segment is gone.
    assert [(s.id, s.size) for s in source.segments()] == [("new", 1)]


# --------------------------------------------------------------------------- bad rows


def test_bad_json_lines_are_reported_with_their_line_and_the_rest_still_reads(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "users.jsonl",
        [
            json.dumps(_user(1)),
            '{"id": "broken",',
            b'{"id": "x", "email": "\xff\xfe@example.com"}',
            "",
            "[1, 2]",
            json.dumps(_user(6)),
        ],
    )
    source = FileSource(path)
    assert [u["external_id"] for u in source.iter_users(None)] == ["e1", "e6"]
    problems = source.problems()
    assert [p.line for p in problems] == [2, 3, 5]
    assert "broken JSON" in problems[0].reason
    assert "not UTF-8" in problems[1].reason
    assert "not a JSON object" in problems[2].reason
    assert source.scan().bad_rows == 3


def test_bad_elements_of_a_pretty_printed_json_array_are_skipped_with_their_line(tmp_path: Path) -> None:
    text = json.dumps([_user(1), _user(2), _user(3)], indent=2)
    text = text.replace('"e2"', '"e2" "oops"', 1)  # the second element is broken
    path = tmp_path / "users.json"
    path.write_text(text)
    source = FileSource(path)
    assert [u["external_id"] for u in source.iter_users(None)] == ["e1", "e3"]
    expected_line = text.splitlines().index("  {", 6) + 1  # the second element's opening brace
    assert [p.line for p in source.problems()] == [expected_line]


def test_bad_elements_of_a_one_line_json_array_are_skipped(tmp_path: Path) -> None:
    text = json.dumps([_user(1), _user(2), _user(3)]).replace('"e2"', "e2", 1)
    path = tmp_path / "users.json"
    path.write_text(text)
    source = FileSource(path)
    assert [u["external_id"] for u in source.iter_users(None)] == ["e1", "e3"]
    assert [(p.line, p.reason.startswith("broken JSON")) for p in source.problems()] == [(1, True)]


def test_undecodable_bytes_in_a_json_array_skip_only_that_element(tmp_path: Path) -> None:
    lines = [b"[", json.dumps(_user(1)).encode() + b",", b'{"id": "\xff"},', json.dumps(_user(3)).encode(), b"]"]
    path = tmp_path / "users.json"
    path.write_bytes(b"\n".join(lines))
    source = FileSource(path)
    assert [u["external_id"] for u in source.iter_users(None)] == ["e1", "e3"]
    assert [(p.line, p.reason) for p in source.problems()] == [(3, "undecodable bytes (not UTF-8)")]


def test_an_unterminated_json_array_reports_its_end(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text("[\n" + json.dumps(_user(1)) + ",\n" + json.dumps(_user(2)) + "\n")
    source = FileSource(path)
    assert [u["external_id"] for u in source.iter_users(None)] == ["e1", "e2"]
    assert [p.reason for p in source.problems()] == ["the JSON array is not closed with ']'"]


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_json_array_parser_gives_the_same_values_whatever_the_buffer_size(tmp_path: Path, chunk: int) -> None:
    values = [_user(n, traits_text="é" * n + '\\"}],{', traits_list=[{"a": [n]}], traits_n=n * 1.5) for n in range(40)]
    path = tmp_path / "users.json"
    path.write_text(json.dumps(values, indent=1, ensure_ascii=False))
    with OpenedFile(path, "users file") as opened:
        rows = list(_ArrayReader(opened, chunk=chunk))
    assert [r.value for r in rows] == values  # type: ignore[union-attr]
    text_lines = path.read_text().splitlines()
    assert all(text_lines[r.line - 1].strip() == "{" for r in rows)  # type: ignore[union-attr]


def test_csv_rows_with_the_wrong_field_count_or_bad_bytes_are_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes(
        b"id,email,traits_mrr:number,traits_note\n"
        b"a1,a@x.io,10,hello\n"
        b'a2,b@x.io,20,"two\nlines"\n'
        b"a3,c@x.io,30\n"
        b"a4,\xff@x.io,40,x\n"
        b"a5,e@x.io,lots,x\n"
        b"a6,f@x.io,60,x\n"
    )
    source = FileSource(path)
    users = list(source.iter_users(None))
    assert [u["id"] for u in users] == ["a1", "a2", "a5", "a6"]
    assert users[1]["traits_note"] == "two\nlines"
    assert "traits_mrr" not in users[2]  # the bad cell is left out, the row kept
    problems = source.problems()
    assert [p.line for p in problems] == [5, 6, 7]
    assert problems[0].reason == "wrong number of fields: the header has 4, this row has 3"
    assert problems[1].reason == "undecodable bytes (not UTF-8)"
    assert "'lots' is not a number" in problems[2].reason


def test_a_truncated_gzip_file_reports_where_it_stops(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(json.dumps(_user(n)).encode() + b"\n" for n in range(2000)))
    path = tmp_path / "users.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    source = FileSource(path)
    users = list(source.iter_users(None))
    assert 0 < len(users) < 2000
    problems = source.problems()
    assert len(problems) >= 1
    assert "truncated or corrupt" in problems[-1].reason
    assert problems[-1].line >= len(users)


# --------------------------------------------------------------------------- CSV convention


def test_csv_header_types_dates_accounts_and_paired_segments(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(
        "id,traits_mrr:number,traits_trial:boolean,traits_tags:json,created_at,traits_plan,"
        "account.domain,account.seats:number,segment_ids,segments,anonymous_ids\n"
        'u1,12.5,yes,"[""a""]",2024-01-02T03:04:05Z,007,acme.io,3,s1;s2,Paying;VIP,x;y\n'
        "u2,7,0,,1704164645,,,,,Trial,\n"
    )
    source = FileSource(path)
    first, second = list(source.iter_users(None))
    assert first == {
        "id": "u1",
        "traits_mrr": 12.5,
        "traits_trial": True,
        "traits_tags": ["a"],
        "created_at": "2024-01-02T03:04:05Z",
        "traits_plan": "007",
        "account": {"domain": "acme.io", "seats": 3},
        "segment_ids": ["s1", "s2"],
        "anonymous_ids": ["x", "y"],
    }
    assert second == {
        "id": "u2",
        "traits_mrr": 7,
        "traits_trial": False,
        "created_at": 1704164645,
        "segment_ids": [segment_id_for_name("Trial")],
    }
    assert {s.name for s in source.segments()} == {"Paying", "VIP", "Trial"}
    types = {a.key: a.type for a in source.attributes()}
    assert types["created_at"] == "date" and types["account.seats"] == "number"


@pytest.mark.parametrize("compress", [False, True])
def test_a_semicolon_separated_csv_from_european_excel_reads_like_a_comma_one(tmp_path: Path, compress: bool) -> None:
    header = "id,traits_mrr:number,traits_note,segments"
    rows = ['u1,12.5,"a, b",Paying;VIP', "u2,7,plain,Trial"]
    comma = tmp_path / "comma.csv"
    comma.write_text("\n".join([header, *rows]) + "\n")
    semi_rows = ["id;traits_mrr:number;traits_note;segments", 'u1;12.5;a, b;"Paying;VIP"', "u2;7;plain;Trial"]
    semi_text = "\n".join(semi_rows)
    semi = tmp_path / ("semi.csv.gz" if compress else "semi.csv")
    semi.write_bytes(gzip.compress(semi_text.encode()) if compress else semi_text.encode())
    assert list(FileSource(semi).iter_users(None)) == list(FileSource(comma).iter_users(None))
    source = FileSource(semi)
    assert [u["traits_note"] for u in source.iter_users(None)] == ["a, b", "plain"] and source.problems() == []


def test_a_semicolon_csv_row_with_the_wrong_field_count_is_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("id;email\nu1;a@x.io\nu2;b@x.io;extra\nu3;c@x.io\n")
    source = FileSource(path)
    assert [u["id"] for u in source.iter_users(None)] == ["u1", "u3"]
    assert [(p.line, p.reason) for p in source.problems()] == [
        (3, "wrong number of fields: the header has 2, this row has 3")
    ]


def test_a_csv_header_with_an_unknown_type_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("id,traits_mrr:money\nu1,3\n")
    with pytest.raises(SourceError, match=r"unknown type 'money'.*number"):
        FileSource(path).check()


# --------------------------------------------------------------------------- unusable files


def test_a_missing_file_is_a_source_error_naming_it(tmp_path: Path) -> None:
    source = FileSource(tmp_path / "nope.jsonl")
    with pytest.raises(SourceError, match=r"nope\.jsonl does not exist"):
        source.check()
    with pytest.raises(SourceError, match="does not exist"):
        list(source.iter_users(None))


def test_a_folder_or_an_unknown_format_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a folder"):
        FileSource(tmp_path).check()
    odd = tmp_path / "users.xlsx"
    odd.write_bytes(b"PK\x03\x04 binary")
    with pytest.raises(SourceError, match="unknown extension"):
        FileSource(odd).check()
    with pytest.raises(SourceError, match="No users file"):
        FileSource("")


def test_a_csv_events_file_is_refused(tmp_path: Path) -> None:
    users = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(1))])
    events = tmp_path / "events.csv"
    events.write_text("event,created_at\nA,2024-01-01\n")
    with pytest.raises(SourceError, match="events must be JSON lines"):
        FileSource(users, events).check()


# --------------------------------------------------------------------------- metadata cache and scan


def test_metadata_is_cached_and_rescanned_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(1, segment_ids=["a"]))])
    assert FileSource(path).count_users(None) == 1
    scans: list[int] = []
    original = FileSource._scan_users

    def counting(self: FileSource, progress: Any) -> Any:
        scans.append(1)
        return original(self, progress)

    monkeypatch.setattr(FileSource, "_scan_users", counting)
    assert FileSource(path).count_users(None) == 1
    assert scans == []  # a fresh source used the cache on disk
    with path.open("a") as out:
        out.write(json.dumps(_user(2, segment_ids=["a"])) + "\n")
    source = FileSource(path)
    assert source.count_users(None) == 2
    assert [(s.id, s.size) for s in source.segments()] == [("a", 2)]
    assert scans == [1]


def test_the_look_outside_the_segments_for_the_connectors_people_reads_nothing_when_none_are_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marked = {"traits_customerio/created_at": "2018-03-13T15:21:17Z"}
    rows = [_user(1, segment_ids=["a"], **marked), _user(2, segment_ids=["b"])]
    rows.append(_user(3, segment_ids=["a", "b"], **marked))
    path = _write_lines(tmp_path / "users.jsonl", [json.dumps(r) for r in rows])
    source = FileSource(path)
    source.count_users(None)  # the metadata scan, done when the file was picked
    reads: list[int] = []
    original = FileSource._read_user_rows
    monkeypatch.setattr(
        FileSource, "_read_user_rows", lambda self, *a, **k: (reads.append(1), original(self, *a, **k))[1]
    )
    assert list(source.iter_connector_created(["a"])) == [] and reads == []  # every marked user is in "a"
    # Someone marked is outside "b": every row is read (the caller keeps the marked ones outside).
    assert [u["id"] for u in source.iter_connector_created(["b"])] == [r["id"] for r in rows] and reads == [1]


def test_scan_reports_progress_and_can_be_cancelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files_module, "PROGRESS_EVERY", 10)
    path = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(n)) for n in range(100)])
    seen: list[ScanProgress] = []
    summary = FileSource(path).scan(on_progress=seen.append)
    assert summary.users == 100 and summary.users_format == "JSON lines"
    assert len(seen) == 10
    assert seen[-1].records == 100 and 0 < seen[0].bytes_read <= seen[-1].bytes_read <= seen[-1].bytes_total

    other = _write_lines(tmp_path / "other.jsonl", [json.dumps(_user(n)) for n in range(100)])
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ScanCancelled):
        FileSource(other).scan(cancel=cancel)


def test_summary_counts_bad_rows_of_both_files(tmp_path: Path) -> None:
    users = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(1)), "nope"])
    events = _write_lines(
        tmp_path / "events.jsonl",
        [
            json.dumps({"event": "A", "created_at": "2024-01-01T00:00:00Z", "user_id": "u"}),
            json.dumps({"event": "A", "created_at": "yesterday", "user_id": "u"}),
        ],
    )
    summary = FileSource(users, events).scan()
    assert summary.users == 1 and summary.events_total == 1 and summary.bad_rows == 2
    assert [(Path(p.file).name, p.line) for p in summary.problems] == [("users.jsonl", 2), ("events.jsonl", 2)]


# --------------------------------------------------------------------------- events


def _event(name: str, when: str, **extra: Any) -> str:
    return json.dumps({"event": name, "created_at": when, **extra})


def test_events_are_filtered_by_name_and_since_and_sorted_when_the_file_is_not(tmp_path: Path) -> None:
    users = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(1))])
    events = _write_lines(
        tmp_path / "events.jsonl",
        [
            _event("B", "2024-01-03T00:00:00Z", user_id="u1", event_id="b3"),
            _event("A", "2024-01-01T00:00:00Z", external_id="e1", event_id="a1"),
            _event("A", "2024-01-02 00:00:00 UTC", email="u1@example.com", event_id="a2", event_type="page"),
            _event("A", "2024-01-02T00:00:00+00:00", anonymous_id="anon", event_id="a2b"),
            "{bad",
            _event("A", "2024-01-04T00:00:00Z", event_id="nobody"),
        ],
    )
    source = FileSource(users, events)
    assert source.scan().events_in_order is False
    assert [e.event_id for e in source.iter_events(["A", "B"])] == ["a1", "a2", "a2b", "b3"]
    since = parse_hull_date("2024-01-02T00:00:00Z")
    assert [e.event_id for e in source.iter_events(["A"], since=since)] == []
    picked = list(source.iter_events(["A"], since=since - 1))
    assert [e.event_id for e in picked] == ["a2", "a2b"]
    assert picked[0].email == "u1@example.com" and picked[0].event_type == "page"
    assert [(p.line, p.reason) for p in source.problems()] == [
        (5, "broken JSON: Expecting property name enclosed in double quotes at column 2"),
        (6, "the event names no user (user_id, external_id, email or anonymous_id)"),
    ]
    assert list(source.iter_events([])) == []


def test_an_event_without_id_gets_the_same_derived_id_every_time(tmp_path: Path) -> None:
    users = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(1))])
    events = _write_lines(tmp_path / "events.jsonl", [_event("A", "2024-01-01T00:00:00Z", user_id="u1")])
    first = list(FileSource(users, events).iter_events(["A"]))
    second = list(FileSource(users, events).iter_events(["A"]))
    assert first[0].event_id and first[0].event_id == second[0].event_id


def test_unsorted_events_are_merged_from_sorted_runs_in_bounded_memory() -> None:
    times = [5, 1, 4, 1, 9, 2, 6, 5, 3, 5, 8, 0]
    events = [HullEvent(event_id=f"e{i}", name="A", created_at=float(t)) for i, t in enumerate(times)]
    merged = list(sorted_by_time(events, chunk=3))
    assert [e.created_at for e in merged] == sorted(float(t) for t in times)
    # Ties keep file order.
    assert [e.event_id for e in merged if e.created_at == 5.0] == ["e0", "e7", "e9"]


def test_no_events_file_means_no_events(tmp_path: Path) -> None:
    users = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(1))])
    source = FileSource(users)
    assert source.event_names() == []
    assert list(source.iter_events(["A"])) == []


def test_json_lines_read_exactly_what_the_standard_library_reads(tmp_path: Path) -> None:
    """The fast decoder gives way wherever it would differ: integers past 64 bits, NaN, a BOM, CRLF."""
    path = _write_lines(
        tmp_path / "users.jsonl",
        [
            b'\xef\xbb\xbf{"id": "a1", "traits_big": 123456789012345678901234567890}',
            '{"id": "a2", "traits_low": -9999999999999999999, "traits_score": NaN}\r',
            '{"id": "a3", "traits_ok": 18446744073709551615, "traits_f": 0.1}',
        ],
    )
    users = list(FileSource(path).iter_users(None))
    assert [u["id"] for u in users] == ["a1", "a2", "a3"]
    assert users[0]["traits_big"] == 123456789012345678901234567890
    assert users[1]["traits_low"] == -9999999999999999999 and users[1]["traits_score"] != users[1]["traits_score"]
    assert users[2]["traits_ok"] == 18446744073709551615 and users[2]["traits_f"] == 0.1


def test_a_long_line_across_read_blocks_is_skipped_and_the_lines_around_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cio_desktop.hull import files_readers

    monkeypatch.setattr(files_readers, "READ_BLOCK", 7)  # every line spans several blocks
    long_line = json.dumps({**_user(2), "traits_note": "x" * 500})
    path = _write_lines(tmp_path / "users.jsonl", [json.dumps(_user(1)), long_line, json.dumps(_user(3))])
    source = FileSource(path, max_record_bytes=400)
    assert [u["external_id"] for u in source.iter_users(None)] == ["e1", "e3"]
    assert [(p.line, "longer than" in p.reason) for p in source.problems()] == [(2, True)]
