"""The same seeded organization, read from the Hull API or from its export files, ends up as the same
Customer.io state: the engine cannot tell the sources apart. Real sockets, against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.profile import FileSourceSettings, Profile, SourceKind
from cio_desktop.hull.files import FileSource
from cio_desktop.hull.source import Stream
from cio_desktop.sandbox import Sandbox
from cio_desktop.sandbox.export import export_organization
from cio_desktop.sync.engine import RunMode, RunSummary
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.ledger import RunStatus

pytestmark = pytest.mark.e2e

USERS = 400


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # Module-scoped fixtures run before the per-test isolated home: give them their own.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(tmp_path_factory.mktemp("files-sync-home")))
        with Sandbox(users=USERS, seed=42) as sb:
            yield sb


@pytest.fixture(scope="module")
def exported(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # Exported before any sync: an API run writes traits back into the org, files never change.
    folder = tmp_path_factory.mktemp("export")
    plain = export_organization(sandbox, folder / "plain")
    packed = export_organization(sandbox, folder / "gzip", formats=("csv",), gzip=True)
    return {**plain, "csv.gz": packed["csv"], "events.gz": packed["events"]}


def _state(sandbox: Sandbox) -> dict[str, Any]:
    """What the Customer.io workspace holds, without what depends on timing (cio ids, receipt times)."""
    events = sorted(
        json.dumps({k: v for k, v in e.items() if k not in ("received_at", "cio_id")}, sort_keys=True)
        for e in sandbox.cio_events()
    )
    deletions = sorted(json.dumps(d, sort_keys=True, default=str) for d in sandbox.cio_deletions())
    return {"people": sandbox.cio_people(), "events": events, "deletions": deletions}


def _sync(sandbox: Sandbox, profile: Profile, expect: RunStatus = RunStatus.COMPLETED) -> tuple[RunSummary, list[Any]]:
    sandbox.cio.reset()
    with demo_services(sandbox, profile=profile) as services:
        summary = services.engine().run(RunMode.FULL)
        problems = [*services.source.read_report(Stream.USERS).problems]
    assert summary.status is expect, summary.message
    return summary, problems


def _file_profile(api: Profile, name: str, users: Path, events: Path) -> Profile:
    return api.replace(name=name, source=SourceKind.FILES, files=FileSourceSettings(str(users), str(events)))


@pytest.fixture(scope="module")
def api_state(sandbox: Sandbox, exported: dict[str, Path]) -> dict[str, Any]:
    summary, _ = _sync(sandbox, sandbox.demo_profile("Api"))
    assert summary.people_sent > 0 and summary.events_sent > 0
    return _state(sandbox)


@pytest.mark.parametrize(
    ("fmt", "events"), [("jsonl", "events"), ("json", "events"), ("csv", "events"), ("csv.gz", "events.gz")]
)
def test_export_files_sync_to_the_same_customerio_state_as_the_api(
    sandbox: Sandbox, exported: dict[str, Path], api_state: dict[str, Any], fmt: str, events: str
) -> None:
    profile = _file_profile(
        sandbox.demo_profile("Api"), f"Files-{fmt.replace('.', '-')}", exported[fmt], exported[events]
    )
    summary, problems = _sync(sandbox, profile)
    assert problems == []
    assert summary.people_sent == len(api_state["people"])
    assert _state(sandbox) == api_state


def test_bad_rows_are_reported_and_the_rest_syncs(
    sandbox: Sandbox, exported: dict[str, Path], api_state: dict[str, Any], tmp_path: Path
) -> None:
    lines = exported["jsonl"].read_bytes().splitlines(keepends=True)
    broken = tmp_path / "users.jsonl"
    # Line 3 becomes broken JSON and line 6 an undecodable byte: the other users still sync.
    lost = {json.loads(lines[2])["id"], json.loads(lines[5])["id"]}
    lines[2] = b'{"id": "broken", \n'
    lines[5] = b'{"id": "\xff"}\n'
    broken.write_bytes(b"".join(lines))
    profile = _file_profile(sandbox.demo_profile("Api"), "Files-broken", broken, exported["events"])
    _, problems = _sync(sandbox, profile, RunStatus.INCOMPLETE)
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [
        (3, "broken JSON"),
        (6, "undecodable bytes (not UTF-8) at column 9"),
    ]
    expected = {key: attrs for key, attrs in api_state["people"].items() if attrs.get("hull_id") not in lost}
    assert _state(sandbox)["people"] == expected


def test_file_summary_matches_the_api_metadata(sandbox: Sandbox, exported: dict[str, Path]) -> None:
    summary = FileSource(exported["csv.gz"], exported["events.gz"]).scan()
    assert summary.users == USERS and summary.bad_rows == 0
    assert {(s.id, s.name) for s in summary.segments} == set(sandbox.org.segments)
    assert summary.events_total == len(sandbox.org.events())
