"""Accounts as Customer.io objects, end to end against the sandbox over loopback: objects created once
per account, unchanged objects and relationships cost no request, a changed account is identified
again, a person moving between accounts has their relationship moved, people deleted take their
relationships with them, and objects are deleted only under the deletion guard."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.profile import (
    AttributeMapping,
    FileSourceSettings,
    ObjectSettings,
    Profile,
    SegmentRef,
    SourceKind,
)
from cio_desktop.sandbox import Sandbox
from cio_desktop.sync import run_text
from cio_desktop.sync.engine import RunMode, RunSummary
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.ledger import RunStatus, ledger_path

pytestmark = pytest.mark.e2e

OLD = "2020-01-01T00:00:00Z"  # an update time long past: the fingerprint shortcut applies


def user(n: int, account: dict[str, Any] | None, *, segment: str = "s1") -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"h{n}",
        "external_id": f"c{n}",
        "email": f"p{n}@example.com",
        "name": f"Person {n}",
        "created_at": OLD,
        "updated_at": OLD,
        "segment_ids": [segment],
    }
    if account is not None:
        row["account"] = account
    return row


def account(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"a{n}", "domain": f"co{n}.com", "name": f"Company {n}", "plan": "pro", **extra}


class World:
    """A users file the test rewrites between runs, and a profile reading it."""

    def __init__(self, sandbox: Sandbox, folder: Path) -> None:
        self.sb = sandbox
        self.path = folder / "users.jsonl"
        base = sandbox.demo_profile("Objects")
        self.profile: Profile = base.replace(
            source=SourceKind.FILES,
            files=FileSourceSettings(str(self.path)),
            segments=(SegmentRef("s1", "Customers"),),
            events=(),
            mappings=(AttributeMapping("name", "name"),),
            write_back=False,
            delete_on_leave=True,
            objects=ObjectSettings(
                enabled=True,
                type_id="1",
                identifier="account.domain",
                mappings=(AttributeMapping("account.name", "name"), AttributeMapping("account.plan", "plan")),
                delete_objects=True,
            ),
        )

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def sync(self, mode: RunMode = RunMode.FULL, approval: DeletionApproval | None = None) -> RunSummary:
        before = self.sb.request_counts()["cio_track"]
        with demo_services(self.sb, profile=self.profile) as services:
            summary = services.engine().run(mode, allow_deletions=approval)
        self.requests = self.sb.request_counts()["cio_track"] - before
        return summary

    def objects(self) -> dict[str, dict[str, Any]]:
        return {o["object_id"]: o for o in self.sb.cio.objects_detail()}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with Sandbox(users=5, seed=3) as sb:
        yield World(sb, tmp_path)


def test_each_account_is_one_object_related_to_its_people_and_unchanged_costs_nothing(world: World) -> None:
    world.write([user(n, account(n % 3)) for n in range(9)] + [user(99, None)])
    first = world.sync()
    assert first.status is RunStatus.COMPLETED, first.message
    objects = world.objects()
    assert set(objects) == {"co0.com", "co1.com", "co2.com"}
    assert objects["co1.com"]["attributes"] == {"name": "Company 1", "plan": "pro"}
    assert objects["co1.com"]["people"] == ["c1", "c4", "c7"]
    assert all(o["identifies"] == 1 for o in objects.values()), "each account once per run"
    assert first.objects_sent == 3 and first.relationships_sent == 9
    assert first.to_dict()["objects_sent"] == 3 and first.to_dict()["relationships_sent"] == 9
    assert first.counts["relationship (added)"] == 9

    again = world.sync()
    assert again.status is RunStatus.COMPLETED
    assert world.requests == 0, "unchanged people, objects and relationships: no request at all"
    assert again.counts["object unchanged"] == 3 and again.counts["relationship unchanged"] == 9
    assert again.objects_sent == 0 and again.relationships_sent == 0


def test_a_changed_account_is_identified_again_and_a_moved_person_changes_relationship(world: World) -> None:
    world.write([user(n, account(n % 2)) for n in range(4)])
    world.sync()
    rows = [user(n, account(n % 2, plan="enterprise") if n % 2 == 0 else account(1)) for n in range(4)]
    rows[1] = {**user(1, account(0, plan="enterprise")), "updated_at": "2021-01-01T00:00:00Z"}  # c1 moves to co0
    world.write(rows)
    planned = world.sync(RunMode.DRY_RUN)
    summary = world.sync()
    assert summary.status is RunStatus.COMPLETED, summary.message
    objects = world.objects()
    assert objects["co0.com"]["attributes"]["plan"] == "enterprise"
    assert objects["co0.com"]["identifies"] == 2 and objects["co1.com"]["identifies"] == 1
    assert objects["co0.com"]["people"] == ["c0", "c1", "c2"] and objects["co1.com"]["people"] == ["c3"]
    assert summary.counts["relationship (moved to another account)"] == 1
    # One person's relationship moved (two operations: delete the old, add the new): the run counts it
    # once, as its dry run did, so History's numbers for the two are the same unit.
    assert summary.relationships_sent == 1
    assert run_text.totals(planned.counts, 0, None, 0)["relationships_planned"] == summary.relationships_sent


def test_a_person_who_loses_their_account_loses_the_relationship(world: World) -> None:
    world.write([user(0, account(0)), user(1, account(0))])
    world.sync()
    world.write([user(0, account(0)), {**user(1, None), "updated_at": "2021-01-01T00:00:00Z"}])
    summary = world.sync()
    assert summary.counts["relationship (removed: no account)"] == 1
    assert world.objects()["co0.com"]["people"] == ["c0"]


def test_deleted_people_take_their_relationships_and_emptied_objects_are_deleted(world: World) -> None:
    world.write([user(0, account(0)), user(1, account(0)), user(2, account(1))])
    world.sync()
    world.write([user(0, account(0))])  # c1 and c2 left the segments; nobody is in co1 any more
    summary = world.sync()
    assert summary.status is RunStatus.COMPLETED, summary.message
    assert set(world.sb.cio_people()) == {"c0"}
    assert set(world.objects()) == {"co0.com"}
    assert [d["object_id"] for d in world.sb.cio.object_deletions()] == ["co1.com"]
    assert summary.counts["object delete (no member left)"] == 1
    again = world.sync()
    assert world.requests == 0 and again.status is RunStatus.COMPLETED


def test_object_deletions_past_the_guard_are_withheld_until_approved(world: World) -> None:
    world.write([user(n, account(n)) for n in range(20)])
    world.sync()
    # Ten accounts lose their people to another segment: deleting 10 of 20 objects trips the guard.
    world.profile = world.profile.replace(delete_on_leave=True)
    world.write([user(n, account(n) if n < 10 else account(0), segment="s1") for n in range(20)])
    withheld = world.sync()
    assert withheld.status is RunStatus.DELETIONS_WITHHELD
    assert "Object deletions withheld" in withheld.message and "--allow-deletions 10" in withheld.message
    assert len(world.objects()) == 20 and world.sb.cio.object_deletions() == []
    assert withheld.counts["withheld: object delete (no member left)"] == 10
    assert withheld.objects_withheld == 10 and withheld.withheld == 0
    approved = world.sync(approval=DeletionApproval(10))
    assert approved.status is RunStatus.COMPLETED, approved.message
    assert len(world.objects()) == 10


def test_an_unreadable_row_deletes_no_object(world: World) -> None:
    world.write([user(0, account(0)), user(1, account(1))])
    world.sync()
    world.path.write_text(json.dumps(user(0, account(0))) + "\n" + '{"id": "h1", broken\n')
    summary = world.sync()
    assert summary.status is RunStatus.DELETIONS_WITHHELD
    assert set(world.objects()) == {"co0.com", "co1.com"}
    assert world.sb.cio.object_deletions() == []


def test_a_dry_run_counts_objects_and_relationships_and_sends_nothing(world: World) -> None:
    world.write([user(n, account(n % 2)) for n in range(4)])
    summary = world.sync(RunMode.DRY_RUN)
    assert world.requests == 0 and world.objects() == {}
    assert summary.counts["object identify (new)"] == 2
    assert summary.counts["relationship (added)"] == 4


def test_an_account_refused_by_customerio_keeps_its_people_waiting(world: World) -> None:
    world.profile = world.profile.replace(objects=world.profile.objects.__class__(enabled=True, type_id="7"))
    world.write([user(0, account(0))])
    summary = world.sync()
    assert summary.status is RunStatus.PARTIAL
    assert any("object type 7 does not exist" in line for line in summary.errors_sample)
    assert summary.counts["relationship waiting: account not in Customer.io"] == 1
    assert world.objects() == {} and set(world.sb.cio_people()) == {"c0"}


def test_records_lost_to_a_kill_are_sent_again_without_duplicates(world: World) -> None:
    world.write([user(n, account(n % 2)) for n in range(4)])
    world.sync()
    # As if the process died after Customer.io accepted the objects step but before the ledger recorded it.
    with sqlite3.connect(ledger_path(world.profile.name)) as db:
        db.execute("DELETE FROM cio_objects")
        db.execute("DELETE FROM cio_relationships")
    again = world.sync()
    assert again.status is RunStatus.COMPLETED and again.objects_sent == 2 and again.relationships_sent == 4
    objects = world.objects()
    assert set(objects) == {"co0.com", "co1.com"} and objects["co0.com"]["people"] == ["c0", "c2"]
    people = {p["key"]: p["relationships"] for p in world.sb.cio.people_detail()}
    assert all(len(rels) == 1 for rels in people.values()), "one relationship per person, never two"
    world.sync()
    assert world.requests == 0


def test_an_account_whose_only_members_are_skipped_is_kept(world: World) -> None:
    world.write([user(0, account(0)), user(1, account(1))])
    world.sync()
    # c1 is still in the segments but now skipped (no email): co1.com still has a member.
    world.write([user(0, account(0)), {**user(1, account(1)), "email": None, "updated_at": "2021-01-01T00:00:00Z"}])
    summary = world.sync()
    assert summary.counts["skip: no email"] == 1
    assert set(world.objects()) == {"co0.com", "co1.com"} and world.sb.cio.object_deletions() == []


def test_object_deletions_wait_while_the_peoples_deletions_are_withheld(world: World) -> None:
    # Twelve of twenty people leave: the guard withholds them. Their two accounts would be emptied,
    # two deletions the object guard alone would allow, but those people are still in Customer.io.
    world.write([user(n, account(0) if n < 8 else account(1 + n % 2)) for n in range(20)])
    world.sync()
    world.write([user(n, account(0)) for n in range(8)])
    summary = world.sync()
    assert summary.status is RunStatus.DELETIONS_WITHHELD
    assert summary.withheld == 12 and summary.objects_withheld == 2
    assert summary.to_dict()["object_deletions_withheld"] == 2
    assert "Object deletions withheld: 2 account objects would be deleted" in summary.message
    assert set(world.objects()) == {"co0.com", "co1.com", "co2.com"} and world.sb.cio.object_deletions() == []


def test_a_confirmed_plan_bounds_the_account_objects_deleted(world: World) -> None:
    """The plan showed no object deletion; the file was rewritten unseen (same size and time) so one
    account lost its last member: the planned run withholds that deletion instead of sending it."""
    import os

    from cio_desktop.sync.plan import PlanChanged, compute_plan, run_planned

    w, sandbox = world, world.sb
    rows = [user(n, account(n)) for n in range(3)]
    w.write(rows)
    w.sync()
    assert set(w.objects()) == {"co0.com", "co1.com", "co2.com"}
    with demo_services(sandbox, profile=w.profile) as services:
        plan = compute_plan(services.engine(), RunMode.FULL)
        assert not any(label.startswith("object delete") for label in plan.objects)
        stat = w.path.stat()
        rows[2] = {**user(2, account(0)), "updated_at": "2021-01-01T00:00:00Z"}  # co2.com loses its member
        w.write(rows)
        assert w.path.stat().st_size == stat.st_size
        os.utime(w.path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        outcome = run_planned(services.engine(), plan)
        assert not isinstance(outcome, PlanChanged), "the stamp cannot tell"
    assert sandbox.cio.object_deletions() == [], "the plan showed no object deletion"
    assert "more than the 0 in the plan you confirmed" in outcome.message
    assert set(w.objects()) == {"co0.com", "co1.com", "co2.com"}
