"""The sandbox's export of its seeded organization as Hull export files."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from cio_desktop.hull.files import FileSource
from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.export import export_organization


def test_export_writes_each_format_and_the_events_and_leaves_no_partial_files(tmp_path: Path) -> None:
    org = FakeOrg(40, seed=3)
    written = export_organization(org, tmp_path, gzip=True)
    assert sorted(written) == ["csv", "events", "json", "jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "events.jsonl.gz",
        "users.csv.gz",
        "users.json.gz",
        "users.jsonl.gz",
    ]
    lines = gzip.decompress(written["jsonl"].read_bytes()).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [org.id_of(i) for i in range(org.size)]
    assert len(json.loads(gzip.decompress(written["json"].read_bytes()))) == org.size
    events = [json.loads(line) for line in gzip.decompress(written["events"].read_bytes()).decode().splitlines()]
    assert [e["event_id"] for e in events] == [e["id"] for e in org.events()]


def test_export_is_byte_identical_for_the_same_organization(tmp_path: Path) -> None:
    first = export_organization(FakeOrg(25, seed=9), tmp_path / "a", formats=("csv",), gzip=True)
    second = export_organization(FakeOrg(25, seed=9), tmp_path / "b", formats=("csv",), gzip=True)
    assert first["csv"].read_bytes() == second["csv"].read_bytes()


def test_csv_export_declares_the_types_the_reader_needs(tmp_path: Path) -> None:
    written = export_organization(FakeOrg(30, seed=5), tmp_path, formats=("csv",), events=False)
    with written["csv"].open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["id", "email", "external_id"]
    assert "traits_mrr:number" in header
    assert "traits_newsletter:boolean" in header
    assert "traits_preferences:json" in header
    assert "traits_intercom/tags:json" in header
    assert "created_at" in header  # a date by its name: kept as written
    assert header[-2:] == ["segment_ids", "segments"]
    assert "events" not in written


def test_a_gzip_file_without_gz_extension_is_still_read(tmp_path: Path) -> None:
    written = export_organization(FakeOrg(10, seed=1), tmp_path, formats=("jsonl",), gzip=True, events=False)
    renamed = written["jsonl"].rename(tmp_path / "users.jsonl")
    assert sum(1 for _ in FileSource(renamed).iter_users(None)) == 10


def test_unknown_export_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xlsx"):
        export_organization(FakeOrg(1, seed=1), tmp_path, formats=("xlsx",))
