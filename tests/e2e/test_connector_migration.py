"""Moving over from Hull's hosted connector, end to end against the sandbox over loopback: people it
created (``customerio/created_at``, no ``customerio/deleted_at``) who are outside the chosen segments
are deleted as ``customerio/id`` when deletion is on (Hull API and export files), within the deletion
guard: an unreadable row or too many deletions withhold them all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.profile import FileSourceSettings, SourceKind
from cio_desktop.sandbox import Sandbox
from cio_desktop.sandbox.export import export_organization
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import Services, demo_services
from cio_desktop.sync.guard import DeletionApproval, WithheldReason
from cio_desktop.sync.ledger import RunStatus

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(users=400, seed=19) as sb:
        yield sb


def open_demo(sb: Sandbox, **changes: Any) -> Services:
    changes.setdefault("write_back", False)
    changes.setdefault("events", ())
    return demo_services(sb, profile=sb.demo_profile().replace(**changes))


def outsiders(sb: Sandbox, n: int) -> list[str]:
    """Hull ids of ``n`` users outside the demo profile's segments whom the connector never touched (the
    sandbox's own connector traits on outsiders say it deleted them: those must stay alone)."""
    chosen = set(sb.demo_profile().segment_ids)
    out = []
    for i in range(sb.org.size):
        doc = sb.org.doc(i)
        if chosen.isdisjoint(doc["segment_ids"]) and not any(k.startswith("traits_customerio/") for k in doc):
            out.append(doc["id"])
        if len(out) == n:
            return out
    raise AssertionError("not enough users outside the segments")


def mark_created_by_connector(sb: Sandbox, hull_ids: list[str], **extra: Any) -> dict[str, str]:
    """What the hosted connector left: its traits in Hull, the person in Customer.io. Its customerId
    differs from today's on purpose: deletion must address the connector's own identifier."""
    legacy = {}
    for k, hid in enumerate(hull_ids):
        cid = f"legacy-{k:03d}"
        sb.update_user(
            hid,
            {
                "traits_customerio/created_at": "2018-03-13T15:21:17Z",
                "traits_customerio/id": cid,
                "traits_customerio/hash": f"{k:040x}",
                **extra,
            },
        )
        sb.cio.identify("id", cid, {"email": f"legacy{k}@example.com"})
        legacy[hid] = cid
    return legacy


def deleted_ids(sb: Sandbox) -> list[str]:
    return sorted(str(d.get("id")) for d in sb.cio_deletions())


def test_the_connectors_people_who_left_are_deleted_by_its_identifier_over_the_hull_api(sandbox: Sandbox) -> None:
    legacy = mark_created_by_connector(sandbox, outsiders(sandbox, 4))
    already_gone = outsiders(sandbox, 1)
    mark_created_by_connector(sandbox, already_gone, **{"traits_customerio/deleted_at": "2019-01-01T00:00:00Z"})
    with open_demo(sandbox, delete_on_leave=True) as services:
        summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.COMPLETED, summary.message
        assert deleted_ids(sandbox) == sorted(legacy.values())
        assert summary.counts.get("delete (left the segments)") == 4
        assert not set(legacy.values()) & set(sandbox.cio_people())

        again = services.engine().run(RunMode.FULL)  # the ledger remembers: nobody is deleted twice
        assert again.status is RunStatus.COMPLETED and len(sandbox.cio_deletions()) == 4


def test_with_deletion_off_the_connectors_people_stay(sandbox: Sandbox) -> None:
    mark_created_by_connector(sandbox, outsiders(sandbox, 3))
    with open_demo(sandbox, delete_on_leave=False) as services:
        assert services.engine().run(RunMode.FULL).status is RunStatus.COMPLETED
    assert sandbox.cio_deletions() == []


def test_too_many_of_the_connectors_people_are_withheld_until_approved(sandbox: Sandbox) -> None:
    legacy = mark_created_by_connector(sandbox, outsiders(sandbox, 12))
    with open_demo(sandbox, delete_on_leave=True, deletion_guard_max=10) as services:
        summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.DELETIONS_WITHHELD and summary.withheld == 12
        assert summary.message.startswith("Deletions withheld: this run would delete 12 people")
        assert sandbox.cio_deletions() == [] and set(legacy.values()) <= set(sandbox.cio_people())
        assert summary.run_id is not None
        record = services.ledger.run(summary.run_id)
        assert record is not None and record.withheld_reason == WithheldReason.TOO_MANY.value
        listed = services.ledger.withheld_deletions(summary.run_id)
        assert sorted(w.customer_id for w in listed) == sorted(legacy.values()), "the plan lists them by name"

        # Approved by name, as History's review does: exactly the people on the withheld list go.
        approval = DeletionApproval(len(listed), from_run=summary.run_id)
        approved = services.engine().run(RunMode.FULL, allow_deletions=approval)
        assert approved.status is RunStatus.COMPLETED, approved.message
        assert deleted_ids(sandbox) == sorted(legacy.values())


def export_with_connector_traits(sandbox: Sandbox, tmp_path: Path, n: int) -> tuple[Path, dict[str, str]]:
    legacy = mark_created_by_connector(sandbox, outsiders(sandbox, n))
    return export_organization(sandbox, tmp_path / "export", formats=("jsonl",), events=False)["jsonl"], legacy


def test_export_rows_outside_the_segments_are_deleted_by_the_connectors_identifier(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    users, legacy = export_with_connector_traits(sandbox, tmp_path, 3)
    files = FileSourceSettings(str(users))
    with open_demo(sandbox, source=SourceKind.FILES, files=files, delete_on_leave=True) as services:
        summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.COMPLETED, summary.message
    assert deleted_ids(sandbox) == sorted(legacy.values())


def test_an_unreadable_row_withholds_the_connectors_deletions(sandbox: Sandbox, tmp_path: Path) -> None:
    users, legacy = export_with_connector_traits(sandbox, tmp_path, 3)
    lines = users.read_bytes().splitlines(keepends=True)
    keep = {hid for hid in legacy}
    broken = next(i for i, line in enumerate(lines) if json.loads(line)["id"] not in keep)
    lines[broken] = b'{"id": "broken", \n'
    users.write_bytes(b"".join(lines))
    files = FileSourceSettings(str(users))
    with open_demo(sandbox, source=SourceKind.FILES, files=files, delete_on_leave=True) as services:
        summary = services.engine().run(RunMode.FULL)
    assert summary.status is RunStatus.DELETIONS_WITHHELD and summary.withheld == 3
    assert "1 row of users.jsonl could not be read" in summary.message
    assert sandbox.cio_deletions() == [] and set(legacy.values()) <= set(sandbox.cio_people())
