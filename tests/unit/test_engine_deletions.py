"""Nothing destructive on doubt: the engine deletes only after a complete, clean read, within the
deletion guard, and withheld deletions are recorded with the run for review and approval."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from cio_desktop.customerio.track import TrackClient
from cio_desktop.hull.source import HullEvent, ProblemKind, ReadReport, SourceProblem, Stream
from cio_desktop.net.errors import ServerError
from cio_desktop.sync.engine import Problem, RunMode, SyncEngine
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.ledger import Ledger, RunStatus
from tests.unit.test_engine_pipeline import OTHER, SEG, FakeSource, FakeTrack, _cid, engine, hid, make_user, profile


class BrokenRowsSource(FakeSource):
    """Users it "could not read" are hidden from iter_users and reported as unreadable rows."""

    def __init__(self, users: list[dict[str, Any]], **kw: Any) -> None:
        super().__init__(users, **kw)
        self.hidden: set[str] = set()
        self.truncated = False

    def iter_users(self, segment_ids: Any, *, updated_since: float | None = None) -> Iterator[dict[str, Any]]:
        for u in super().iter_users(segment_ids, updated_since=updated_since):
            if u["id"] not in self.hidden:
                yield u

    def read_report(self, stream: Stream) -> ReadReport:
        if stream is Stream.EVENTS or not (self.hidden or self.truncated):
            return ReadReport()
        kind = ProblemKind.TRUNCATED if self.truncated else ProblemKind.UNREADABLE
        problems = tuple(SourceProblem("/data/users.jsonl", n, "broken JSON", kind) for n in range(len(self.hidden)))
        return ReadReport("/data/users.jsonl", len(self.hidden), self.truncated, problems=problems)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def deletes(track: FakeTrack) -> list[str]:
    return sorted(_cid(op) for op in track.ops if op["action"] == "delete")


def synced(n: int, ledger: Ledger, *, source_cls: type[FakeSource] = BrokenRowsSource) -> tuple[Any, FakeTrack]:
    source, track = source_cls([make_user(i) for i in range(n)]), FakeTrack()
    first = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert first.status is RunStatus.COMPLETED
    track.batches.clear()
    return source, track


def test_unreadable_rows_withhold_every_deletion_and_everything_else_still_goes_out(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    source.hidden = {hid(i) for i in range(11)}  # 11 rows of the export are broken now
    source.users[50]["traits_plan"] = "pro"
    source.users[50]["updated_at"] = 2000.0
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert deletes(track) == []
    assert [_cid(op) for op in track.ops] == ["ext-50"], "the changed person still went out"
    assert summary.status is RunStatus.DELETIONS_WITHHELD and summary.withheld == 11
    assert summary.message.startswith(
        "Deletions withheld: 11 rows of users.jsonl could not be read; fix the file or run again"
    )
    assert summary.counts["withheld: delete (left the segments)"] == 11
    assert summary.to_dict()["status"] == "deletions_withheld" and summary.to_dict()["deletions_withheld"] == 11
    assert summary.run_id is not None
    record = ledger.run(summary.run_id)
    assert record is not None and record.status is RunStatus.DELETIONS_WITHHELD
    assert record.withheld == 11 and record.unreadable == 11 and record.message == summary.message
    assert record.audience is None, "an incomplete read is no baseline for the audience"
    assert record.withheld_reason == "incomplete_read" and not record.reviewable
    assert ledger.withheld_deletions(summary.run_id) == [], "no approval overrides it: nothing to list"
    assert summary.errors_sample[0].startswith("users.jsonl line"), "what to fix comes first"
    assert all(ledger.known_by_hull_id([hid(i)])[hid(i)].deleted_at is None for i in range(11))


def test_a_truncated_file_deletes_nobody_even_with_an_approval(ledger: Ledger) -> None:
    source, track = synced(20, ledger)
    source.hidden = {hid(i) for i in range(10, 20)}
    source.truncated = True
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(
        RunMode.FULL, allow_deletions=DeletionApproval(1000)
    )
    assert deletes(track) == [] and summary.status is RunStatus.DELETIONS_WITHHELD
    assert "users.jsonl is cut short or corrupt" in summary.message


def test_an_incomplete_read_without_anyone_to_delete_is_its_own_status(ledger: Ledger) -> None:
    source, track = synced(10, ledger)
    source.hidden = {hid(3)}
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)  # deletion is off
    assert summary.status is RunStatus.INCOMPLETE and summary.withheld == 0 and summary.bad_rows == 1


def test_a_few_leavers_on_a_clean_read_are_deleted(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(5):
        source.users[i]["segment_ids"] = [OTHER]
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert deletes(track) == sorted(f"ext-{i}" for i in range(5))
    assert summary.status is RunStatus.COMPLETED and summary.withheld == 0


def test_the_guard_withholds_a_mass_deletion_until_the_cli_flag_allows_it(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(30):
        source.users[i]["segment_ids"] = [OTHER]
    p = profile(delete_on_leave=True)
    held = engine(p, source, ledger, track).run(RunMode.FULL)
    assert deletes(track) == [] and held.status is RunStatus.DELETIONS_WITHHELD and held.withheld == 30
    assert "30% of the 100 created" in held.message and "--allow-deletions 30" in held.message
    too_few = engine(p, source, ledger, track).run(RunMode.FULL, allow_deletions=DeletionApproval(29))
    assert deletes(track) == [] and too_few.status is RunStatus.DELETIONS_WITHHELD
    allowed = engine(p, source, ledger, track).run(RunMode.FULL, allow_deletions=DeletionApproval(30))
    assert len(deletes(track)) == 30 and allowed.status is RunStatus.COMPLETED


def test_the_profile_sets_the_guards_limits(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(30):
        source.users[i]["segment_ids"] = [OTHER]
    summary = engine(profile(delete_on_leave=True, deletion_guard_percent=50.0), source, ledger, track).run(
        RunMode.FULL
    )
    assert len(deletes(track)) == 30 and summary.status is RunStatus.COMPLETED


def test_approving_a_withheld_list_deletes_those_people_and_guards_the_rest(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(20):
        source.users[i]["segment_ids"] = [OTHER]
    p = profile(delete_on_leave=True)
    held = engine(p, source, ledger, track).run(RunMode.FULL)
    assert held.run_id is not None
    assert ledger.withheld_counts(held.run_id) == (20, 20)
    source.users[0]["segment_ids"] = [SEG]  # back in the segments since the review
    source.users[0]["updated_at"] = 2000.0
    for i in range(20, 60):  # and 40 more left
        source.users[i]["segment_ids"] = [OTHER]
    summary = engine(p, source, ledger, track).run(
        RunMode.FULL, allow_deletions=DeletionApproval(20, from_run=held.run_id)
    )
    assert deletes(track) == sorted(f"ext-{i}" for i in range(1, 20))
    assert summary.status is RunStatus.DELETIONS_WITHHELD and summary.withheld == 40


def test_an_audience_that_shrank_withholds_deletions_since_the_last_clean_run(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(100)] + [make_user(1000 + i, plan="x") for i in range(100)]
    for u in users[100:]:
        u.pop("external_id")  # members without a customerId: counted in the audience, never created
    source, track = BrokenRowsSource(users), FakeTrack()
    p = profile(delete_on_leave=True, deletion_guard_percent=25.0)
    assert engine(p, source, ledger, track).run(RunMode.FULL).status is RunStatus.COMPLETED
    for u in users[100:160]:
        u["segment_ids"] = [OTHER]  # 60 of 200 members left: 30% fewer...
    for i in range(10):
        users[i]["segment_ids"] = [OTHER]  # ...though only 10 of the 100 created would be deleted
    track.batches.clear()
    summary = engine(p, source, ledger, track).run(RunMode.FULL)
    assert deletes(track) == [] and summary.status is RunStatus.DELETIONS_WITHHELD
    assert "130 people, 35% fewer than the 200 of the last clean run" in summary.message
    again = engine(p, source, ledger, track).run(RunMode.FULL)
    assert deletes(track) == [] and again.status is RunStatus.DELETIONS_WITHHELD, "running again is no approval"


def test_incremental_runs_defer_deletions_to_the_guard_too(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(40):
        source.users[i].update(segment_ids=[OTHER], updated_at=5_000_000_000.0)
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.INCREMENTAL)
    assert deletes(track) == [] and summary.status is RunStatus.DELETIONS_WITHHELD and summary.withheld == 40


def test_incremental_deletions_within_the_guard_go_out_after_the_users_pass(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    source.users[7].update(segment_ids=[OTHER], updated_at=5_000_000_000.0)
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.INCREMENTAL)
    assert deletes(track) == ["ext-7"] and summary.counts["delete (left the segments)"] == 1
    assert summary.status is RunStatus.COMPLETED


def test_a_dry_run_shows_the_withheld_deletions_and_sends_nothing(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(30):
        source.users[i]["segment_ids"] = [OTHER]
    summary = engine(profile(delete_on_leave=True), source, ledger, None).run(RunMode.DRY_RUN)
    assert track.ops == [] and summary.status is RunStatus.DELETIONS_WITHHELD and summary.withheld == 30


def test_a_cancelled_run_deletes_nobody(ledger: Ledger) -> None:
    source, track = synced(2000, ledger)
    for i in range(3):
        source.users[i]["segment_ids"] = [OTHER]
    cancel = threading.Event()
    track.on_batch = cancel.set
    for u in source.users[3:]:
        u.update(traits_plan="changed", updated_at=2000.0)
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL, cancel=cancel)
    assert summary.status is RunStatus.CANCELLED and deletes(track) == []


def test_customer_io_failing_on_anonymous_events_alone_stops_the_run(ledger: Ledger) -> None:
    class Down(FakeTrack):
        def track_anonymous(self, anonymous_id: str, name: str, **kw: Any) -> None:
            with self.lock:
                self.anonymous.append({})
            raise ServerError(503, "Customer.io answered 503")

    events = [HullEvent(f"e{i}", "Viewed", 2000.0 + i, anonymous_id=f"anon-{i}") for i in range(50)]
    source, track = FakeSource([], events), Down()
    p = profile(events=("Viewed",), anonymous_events=True, concurrency=1)
    summary = SyncEngine(p, source, ledger, cast(TrackClient, track)).run(RunMode.FULL)
    assert summary.status is RunStatus.FAILED and summary.problem is Problem.SERVICE
    assert "Customer.io kept failing" in summary.message
    assert len(track.anonymous) < 10, "the run stopped instead of trying every event"


def test_a_guard_withheld_list_can_be_reviewed_person_by_person(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(30):
        source.users[i]["segment_ids"] = [OTHER]
    held = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert held.run_id is not None
    record = ledger.run(held.run_id)
    assert record is not None and record.reviewable and record.withheld_reason == "too_large_share"
    listed = ledger.withheld_deletions(held.run_id)
    assert [w.customer_id for w in listed] == sorted(f"ext-{i}" for i in range(30))
    assert all(w.still_active for w in listed)


def test_an_approval_never_holds_back_what_the_guard_lets_through(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(3):
        source.users[i]["segment_ids"] = [OTHER]
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(
        RunMode.FULL, allow_deletions=DeletionApproval(2)
    )
    assert deletes(track) == ["ext-0", "ext-1", "ext-2"] and summary.status is RunStatus.COMPLETED


def test_a_member_under_a_new_hull_id_is_never_deleted_even_when_customer_io_refuses_them(ledger: Ledger) -> None:
    source, track = synced(10, ledger)
    source.users[5]["id"] = hid(500)  # Hull merged the user: same customerId, new Hull id
    track.reject.add("ext-5")  # and their update is refused this run
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert deletes(track) == [] and summary.failed == 1 and summary.status is RunStatus.PARTIAL


def test_a_test_send_never_deletes(ledger: Ledger) -> None:
    source, track = synced(10, ledger)
    source.users[3]["segment_ids"] = [OTHER]
    summary = engine(profile(delete_on_leave=True), source, ledger, track).send_one(hid(3))
    assert deletes(track) == [] and summary.counts == {"skip: not in segments": 1}


def test_an_incremental_run_that_withheld_deletions_finds_them_again_next_time(ledger: Ledger) -> None:
    source, track = synced(100, ledger)
    for i in range(40):
        source.users[i].update(segment_ids=[OTHER], updated_at=5_000_000_000.0)
    p = profile(delete_on_leave=True)
    first = engine(p, source, ledger, track).run(RunMode.INCREMENTAL)
    assert first.status is RunStatus.DELETIONS_WITHHELD and first.run_id is not None
    again = engine(p, source, ledger, track).run(
        RunMode.INCREMENTAL, allow_deletions=DeletionApproval(40, from_run=first.run_id)
    )
    assert len(deletes(track)) == 40 and again.status is RunStatus.COMPLETED
