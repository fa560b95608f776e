"""End to end: unreadable rows of an export file end up in the run's errors, summary and CSV export,
and every readable user still syncs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.profile import FileSourceSettings, SourceKind
from cio_desktop.hull.files import FileSource
from cio_desktop.sandbox import Sandbox
from cio_desktop.sandbox.export import export_organization
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.ledger import RunStatus

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    with Sandbox(users=200, seed=5) as sb:
        yield sb


def test_broken_lines_are_in_the_runs_errors_and_csv_while_the_rest_syncs(sandbox: Sandbox, tmp_path: Path) -> None:
    exported = export_organization(sandbox, tmp_path / "export", formats=("jsonl",))
    lines = exported["jsonl"].read_bytes().splitlines(keepends=True)
    lost = {json.loads(lines[1])["id"], json.loads(lines[4])["id"]}
    lines[1] = b'{"id": "broken", \n'
    lines[4] = b"not json at all\n"
    users = tmp_path / "users.jsonl"
    users.write_bytes(b"".join(lines))
    profile = sandbox.demo_profile("Broken").replace(
        source=SourceKind.FILES, files=FileSourceSettings(str(users), str(exported["events"])), write_back=False
    )
    with demo_services(sandbox, profile=profile) as services:
        all_members = {u["id"] for u in services.source.iter_users(profile.segment_ids)}
        summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.INCOMPLETE and summary.failed == 0
        assert summary.bad_rows == 2 and summary.to_dict()["bad_rows"] == 2
        assert "2 unreadable records were skipped" in summary.message
        assert summary.run_id is not None
        errors = services.ledger.run_errors(summary.run_id)
        assert [(e.kind, e.field) for e in errors] == [("bad_row", f"{users}:2"), ("bad_row", f"{users}:5")]
        assert "broken JSON" in errors[0].message and errors[0].message.startswith("users.jsonl line 2")
        out = tmp_path / "errors.csv"
        assert services.ledger.export_errors_csv(summary.run_id, out) == 2
        with out.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [(r["kind"], r["field"]) for r in rows] == [("bad_row", f"{users}:2"), ("bad_row", f"{users}:5")]
        assert summary.errors_sample[:2] == (errors[0].message, errors[1].message)

    synced = {attrs.get("hull_id") for attrs in sandbox.cio_people().values()}
    assert synced and not synced & lost
    assert summary.people_sent == len(synced) and synced <= all_members


def test_a_record_over_the_profiles_size_limit_is_an_unreadable_row_and_the_rest_syncs(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    exported = export_organization(sandbox, tmp_path / "export", formats=("jsonl",), events=False)
    lines = exported["jsonl"].read_bytes().splitlines(keepends=True)
    lost = json.loads(lines[2])["id"]
    lines[2] = b'{"id": "' + lost.encode() + b'", "traits_blob": "' + b"a" * (2 << 20) + b'"}\n'
    users = tmp_path / "users.jsonl"
    users.write_bytes(b"".join(lines))
    profile = sandbox.demo_profile("Long").replace(
        source=SourceKind.FILES, files=FileSourceSettings(str(users), max_record_mb=1), write_back=False
    )
    with demo_services(sandbox, profile=profile) as services:
        assert isinstance(services.source, FileSource) and services.source.max_record_bytes == 1 << 20
        summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.INCOMPLETE and summary.bad_rows == 1
        assert summary.run_id is not None
        errors = services.ledger.run_errors(summary.run_id)
        assert [(e.kind, e.field, e.message) for e in errors] == [
            ("bad_row", f"{users}:3", "users.jsonl line 3: record is longer than 1 MB (the limit); skipped")
        ]
    synced = {attrs.get("hull_id") for attrs in sandbox.cio_people().values()}
    assert synced and lost not in synced
