"""The plan: what a run will do, from the ledger, without a request; confirming it bounds the run."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.ledger import Ledger, RunStatus
from cio_desktop.sync.model import Action, Decision, Reason
from cio_desktop.sync.plan import MERGE_LABEL, PlanChanged, compute_plan, run_planned, source_stamp, stamp_change
from cio_desktop.sync.run_people import Category, category_of
from tests.unit.test_engine_pipeline import OTHER, FakeSource, FakeTrack, _cid, engine, hid, make_user, profile


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def _synced(ledger: Ledger, n: int = 20) -> tuple[FakeSource, FakeTrack]:
    source, track = FakeSource([make_user(i) for i in range(n)]), FakeTrack()
    assert engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL).status is RunStatus.COMPLETED
    track.batches.clear()
    return source, track


def test_plan_counts_every_kind_of_decision_and_sends_nothing(ledger: Ledger) -> None:
    source, track = _synced(ledger)
    source.users[1]["traits_plan"] = "pro"
    source.users[1]["updated_at"] = 2000.0
    source.users[2]["segment_ids"] = [OTHER]  # left the segments
    source.users[3]["external_id"] = None  # no customerId any more: skipped
    for i in (2, 3):
        source.users[i]["updated_at"] = 2000.0
    source.users.append(make_user(100))
    plan = compute_plan(engine(profile(delete_on_leave=True, cio_site_id="site42"), source, ledger, None))
    assert track.batches == [], "a plan sends nothing"
    assert plan.count(Category.CREATE) == 1 and plan.count(Category.UPDATE) == 1
    assert plan.count(Category.UNCHANGED) == 17
    assert plan.count(Category.SKIP) == 1 and plan.skipped == {"skip: no customerId": 1}
    assert plan.deletions == 1
    assert plan.site_id == "site42" and plan.region == "region detected when sending"
    text = "\n".join(plan.lines())
    assert "workspace site42" in text and "1 person will be created" in text and "17 people unchanged" in text
    assert "not sent: this person has no customerId" in text


def test_each_number_of_the_plan_opens_the_people_behind_it(ledger: Ledger) -> None:
    source, _track = _synced(ledger, 30)
    source.users[7]["traits_plan"] = "pro"
    source.users[7]["updated_at"] = 2000.0
    plan = compute_plan(engine(profile(), source, ledger, None))
    updated = list(ledger.iter_run_people(plan.run_id, category=Category.UPDATE))
    assert [(p.customer_id, p.who) for p in updated] == [("ext-7", f"User 7 <user7@example.com> (Hull id {hid(7)})")]
    assert len(list(ledger.iter_run_people(plan.run_id, category=Category.UNCHANGED))) == 29
    found = list(ledger.iter_run_people(plan.run_id, search="user12@"))
    assert [p.customer_id for p in found] == ["ext-12"] and found[0].outcome(
        dry=True
    ) == "unchanged: same data as the last sync"


def test_a_confirmed_plan_deletes_at_most_the_people_it_showed(ledger: Ledger) -> None:
    source, track = _synced(ledger)
    source.users[0]["segment_ids"] = [OTHER]
    p = profile(delete_on_leave=True)
    plan = compute_plan(engine(p, source, ledger, None))
    assert plan.deletions == 1
    source.users[1]["segment_ids"] = [OTHER]  # one more left after the plan, yet the stamp still matches
    outcome = run_planned(engine(p, source, ledger, track), plan)
    assert not isinstance(outcome, PlanChanged)
    assert outcome.status is RunStatus.DELETIONS_WITHHELD
    assert [_cid(op) for op in track.ops if op["action"] == "delete"] == ["ext-0"], "the planned one only"
    assert outcome.withheld == 1
    assert "1 person who is not in the plan you confirmed" in outcome.message


def test_a_confirmed_plan_deletes_only_the_people_it_listed_not_others_of_the_same_number(ledger: Ledger) -> None:
    source, track = _synced(ledger)
    for i in (0, 1):
        source.users[i]["segment_ids"] = [OTHER]
    p = profile(delete_on_leave=True)
    plan = compute_plan(engine(p, source, ledger, None))
    assert plan.deletions == 2
    # After the plan, 1 is back and 2 left: still two deletions, but not the two the user saw.
    source.users[1]["segment_ids"] = source.users[5]["segment_ids"]
    source.users[2]["segment_ids"] = [OTHER]
    outcome = run_planned(engine(p, source, ledger, track), plan)
    assert not isinstance(outcome, PlanChanged) and outcome.run_id is not None
    assert [_cid(op) for op in track.ops if op["action"] == "delete"] == ["ext-0"]
    assert outcome.status is RunStatus.DELETIONS_WITHHELD and outcome.withheld == 1
    assert outcome.message.startswith(
        "Deletions withheld: this run would delete 1 person who is not in the plan you confirmed;"
    )
    record = ledger.run(outcome.run_id)
    assert record is not None and record.withheld_reason == "not_in_plan" and record.reviewable
    assert [w.customer_id for w in ledger.withheld_deletions(outcome.run_id)] == ["ext-2"]
    [waiting] = ledger.iter_run_people(outcome.run_id, category=Category.WITHHELD)
    assert waiting.customer_id == "ext-2"
    assert waiting.outcome(dry=False).startswith("not deleted: not in the plan you confirmed (")


def test_a_confirmed_plan_approves_the_deletions_the_guard_would_withhold(ledger: Ledger) -> None:
    source, track = _synced(ledger, 40)
    for i in range(10):  # 25% of the audience: the guard alone withholds them
        source.users[i]["segment_ids"] = [OTHER]
    p = profile(delete_on_leave=True)
    plan = compute_plan(engine(p, source, ledger, None))
    assert plan.deletions == 10 and "Confirming this plan approves exactly these deletions" in plan.guard_note
    outcome = run_planned(engine(p, source, ledger, track), plan)
    assert not isinstance(outcome, PlanChanged) and outcome.status is RunStatus.COMPLETED
    assert sorted(_cid(op) for op in track.ops if op["action"] == "delete") == sorted(f"ext-{i}" for i in range(10))


class CountingSource(FakeSource):
    def count_users(self, segment_ids: Sequence[str] | None) -> int | None:
        wanted = set(segment_ids or ())
        return sum(1 for u in self.users if wanted.intersection(u["segment_ids"]))


def test_a_plan_whose_source_changed_sends_nothing_and_says_why(ledger: Ledger) -> None:
    source, track = CountingSource([make_user(i) for i in range(20)]), FakeTrack()
    p = profile(delete_on_leave=True)
    plan = compute_plan(engine(p, source, ledger, None))
    source.users.append(make_user(500))  # the segments grew since the plan
    outcome = run_planned(engine(p, source, ledger, track), plan)
    assert isinstance(outcome, PlanChanged) and track.batches == []
    assert outcome.message == (
        "Nothing was sent: the chosen segments now hold 21 people, not 20 since the plan was made. Planning again."
    )


def test_stamp_changes_name_what_moved(ledger: Ledger) -> None:
    source, _track = _synced(ledger)
    e = engine(profile(), source, ledger, None)
    before = source_stamp(e)
    assert stamp_change(before, source_stamp(e)) == ""
    assert stamp_change(before, source_stamp(engine(profile(rate_limit=10.0), source, ledger, None))) == (
        "the profile's settings changed"
    )
    assert engine(profile(), source, ledger, FakeTrack()).run(RunMode.FULL).status is RunStatus.COMPLETED
    assert stamp_change(before, source_stamp(e)) == "another sync ran since"


def test_a_plan_of_sync_changes_reads_only_the_changed_people(ledger: Ledger) -> None:
    source, _track = _synced(ledger)
    source.users[4]["traits_plan"] = "pro"
    source.users[4]["updated_at"] = 4_000_000_000.0
    plan = compute_plan(engine(profile(), source, ledger, None), RunMode.INCREMENTAL)
    assert plan.mode is RunMode.INCREMENTAL
    assert plan.count(Category.UPDATE) == 1 and plan.count(Category.UNCHANGED) == 0
    record = ledger.run(plan.run_id)
    assert record is not None and record.mode == "dry_run", "a plan is recorded as the dry run it is"


def test_every_person_a_run_decided_about_is_listed_with_whether_it_went_out(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(5)]), FakeTrack()
    source.users[2]["email"] = None
    summary = engine(profile(customer_id_attribute="email"), source, ledger, track).run(RunMode.FULL)
    assert summary.run_id is not None
    people = {p.hull_id: p for p in ledger.iter_run_people(summary.run_id)}
    assert len(people) == 5
    assert people[hid(0)].category is Category.CREATE and people[hid(0)].sent
    assert people[hid(0)].outcome(dry=False) == "created"
    assert people[hid(2)].category is Category.SKIP and not people[hid(2)].sent
    record = ledger.run(summary.run_id)
    assert record is not None and record.people_sent == summary.people_sent == 4


def test_a_person_already_in_the_workspace_is_compared_attribute_by_attribute() -> None:
    from cio_desktop.sync.plan_sample import compare

    held = {"id": "c1", "email": "a@x.io", "plan": "free", "mrr": "10", "vip": "true", "legacy": "x"}
    sent = {"email": "a@x.io", "plan": "pro", "mrr": 10, "vip": True, "title": "CTO", "tags": ["a", "b"]}
    person = compare("c1", held, sent)
    assert [c.describe() for c in person.changes] == [
        "plan 'free' \u2192 'pro'",
        'tags added (\'["a","b"]\')',
        "title added ('CTO')",
    ]
    assert person.same == 2 and person.untouched == 1, "mrr and vip are the same as text; legacy is kept"
    assert person.describe().endswith("(2 the same, 1 not mapped and kept)")


def test_a_plan_is_named_by_the_mode_it_planned_and_a_plain_dry_run_stays_a_dry_run(ledger: Ledger) -> None:
    source, _track = _synced(ledger)
    full = compute_plan(engine(profile(), source, ledger, None))
    changes = compute_plan(engine(profile(), source, ledger, None), RunMode.INCREMENTAL)
    dry = engine(profile(), source, ledger, None).run(RunMode.DRY_RUN)
    stored = {r.id: r for r in ledger.runs()}
    assert (stored[full.run_id].mode, stored[full.run_id].plan_of) == ("dry_run", "full")
    assert (stored[changes.run_id].mode, stored[changes.run_id].plan_of) == ("dry_run", "incremental")
    assert dry.run_id is not None and stored[dry.run_id].plan_of is None
    assert full.to_dict()["label"] == "Plan (full sync)" and full.to_dict()["mode"] == "full"
    assert changes.to_dict()["label"] == "Plan (sync changes)"


def test_a_ledger_from_before_plans_were_named_gains_the_column_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with Ledger(path) as led:
        source, _track = _synced(led)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN plan_of")
        conn.commit()
    with Ledger(path) as led:
        assert [(r.mode, r.plan_of) for r in led.runs()] == [("full", None)]
        plan = compute_plan(engine(profile(), source, led, None))
        record = led.run(plan.run_id)
        assert record is not None and record.plan_of == "full"


def test_people_whose_customer_id_changed_are_counted_as_merged_not_updated(ledger: Ledger) -> None:
    source, track = _synced(ledger)
    for i in (4, 5):
        source.users[i].update(external_id=f"new-{i}", updated_at=2000.0)
    source.users[6].update(traits_plan="pro", updated_at=2000.0)
    plan = compute_plan(engine(profile(cio_site_id="site42"), source, ledger, None))
    assert track.batches == [], "a plan sends nothing"
    assert plan.merged == 2 and plan.count(Category.UPDATE) == 1 and plan.sends_anything
    text = "\n".join(plan.lines())
    assert "1 person will be updated" in text
    assert "2 people will be merged (their customerId changed: the old profile is folded into the new one)" in text
    people = plan.to_dict()["people"]
    assert people["merge"] == 2 and people["update"] == 1
    # The run's list keeps them with the updates, under the merge decision (what the dialog lists).
    listed = ledger.iter_run_people(plan.run_id, category=Category.UPDATE, search=MERGE_LABEL)
    assert sorted(p.customer_id for p in listed) == ["new-4", "new-5"]


def test_a_plan_without_merges_has_no_merge_line(ledger: Ledger) -> None:
    source, _track = _synced(ledger)
    source.users[6].update(traits_plan="pro", updated_at=2000.0)
    plan = compute_plan(engine(profile(), source, ledger, None))
    assert plan.merged == 0 and not any("merged" in line for line in plan.lines())
    assert plan.to_dict()["people"]["merge"] == 0


def test_the_merge_label_is_the_one_runs_decide_under() -> None:
    merge = Decision("h", "new", Action.MERGE, Reason.CUSTOMER_ID_CHANGED)
    assert merge.label == MERGE_LABEL and category_of(merge) is Category.UPDATE
