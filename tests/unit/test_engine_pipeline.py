"""The sync engine against in-memory fakes: what is sent, what is recorded, what is retried."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from cio_desktop.config.profile import AttributeMapping, Profile, SegmentRef
from cio_desktop.customerio.track import BatchResult, OpResult, TrackClient
from cio_desktop.hull.source import (
    Attribute,
    EventName,
    HullEvent,
    HullUser,
    ReadReport,
    Segment,
    SourceError,
    Stream,
)
from cio_desktop.net.errors import AuthenticationError, RejectedError, ServerError
from cio_desktop.sync.engine import Problem, RunMode, RunSummary, SyncEngine
from cio_desktop.sync.ledger import Checkpoint, Ledger, RunStatus
from cio_desktop.sync.progress import Progress

SEG = "5a0000000000000000000001"
OTHER = "5a0000000000000000000002"


def hid(i: int) -> str:
    return f"{i:024x}"


def make_user(i: int, *, segments: Sequence[str] = (SEG,), plan: str = "free", updated: float = 1000.0) -> HullUser:
    return {
        "id": hid(i),
        "email": f"user{i}@example.com",
        "external_id": f"ext-{i}",
        "name": f"User {i}",
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": updated,
        "segment_ids": list(segments),
        "anonymous_ids": [f"anon-{i}"],
        "traits_plan": plan,
    }


class FakeSource:
    supports_write_back = False

    def __init__(self, users: list[HullUser], events: list[HullEvent] | None = None) -> None:
        self.users = users
        self.events = events or []
        self.fail_after: int | None = None
        self.lookups: list[str] = []

    def describe(self) -> str:
        return "fake"

    def check(self) -> str:
        return "ok"

    def segments(self) -> list[Segment]:
        return [Segment(SEG, "Customers"), Segment(OTHER, "Leads")]

    def attributes(self) -> list[Attribute]:
        return [Attribute("traits_plan", "string")]

    def event_names(self) -> list[EventName]:
        return []

    def iter_users(
        self, segment_ids: Sequence[str] | None, *, updated_since: float | None = None
    ) -> Iterator[HullUser]:
        for n, u in enumerate(sorted(self.users, key=lambda u: u["id"])):
            if self.fail_after is not None and n >= self.fail_after:
                raise SourceError("Hull went away")
            if segment_ids is not None and not set(segment_ids) & set(u["segment_ids"]):
                continue
            if updated_since is not None and u["updated_at"] <= updated_since:
                continue
            yield dict(u)

    def iter_events(self, names: Sequence[str], *, since: float | None = None) -> Iterator[HullEvent]:
        for e in sorted(self.events, key=lambda e: (e.created_at, e.event_id)):
            if e.name in names and (since is None or e.created_at > since):
                yield e

    def get_user(self, hull_id: str) -> HullUser | None:
        self.lookups.append(hull_id)
        return next((dict(u) for u in self.users if u["id"] == hull_id), None)

    def count_users(self, segment_ids: Sequence[str] | None) -> int | None:
        return None

    def read_report(self, stream: Stream) -> ReadReport:
        return ReadReport()


class FakeTrack:
    """Records batches; ``reject`` customer ids get a 207 error, ``poison`` ones make the whole batch 400."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.anonymous: list[dict[str, Any]] = []
        self.reject: set[str] = set()
        self.poison: set[str] = set()
        self.fail_status: int | None = None
        self.on_batch: Any = None
        self.lock = threading.Lock()

    def batch(
        self,
        ops: Sequence[Mapping[str, Any]],
        *,
        cancel: threading.Event | None = None,
        body: bytes | None = None,
    ) -> BatchResult:
        # A pre-encoded body must be exactly the operations it travels with.
        assert body is None or json.loads(body) == {"batch": list(ops)}
        if self.fail_status == 401:
            raise AuthenticationError(401, "Customer.io refused the Site ID / API Key (HTTP 401).")
        if self.fail_status == 500:
            raise ServerError(500, "Customer.io answered 500")
        ids = [_cid(op) for op in ops]
        if any(i in self.poison for i in ids):
            raise RejectedError(400, "rejected", ["attribute name cannot be longer than 150 bytes"])
        with self.lock:
            self.batches.append([dict(op) for op in ops])
        if self.on_batch:
            self.on_batch()
        results = tuple(
            OpResult(n, False, "invalid", "plan", "bad value") if i in self.reject else OpResult(n, True)
            for n, i in enumerate(ids)
        )
        return BatchResult(207 if any(not r.ok for r in results) else 200, results)

    def track_anonymous(self, anonymous_id: str, name: str, **kw: Any) -> None:
        with self.lock:
            self.anonymous.append({"anonymous_id": anonymous_id, "name": name, **kw})

    @property
    def ops(self) -> list[dict[str, Any]]:
        return [op for b in self.batches for op in b]


def _cid(op: Mapping[str, Any]) -> str:
    ident = op.get("identifiers") or op.get("primary") or {}
    return str(next(iter(ident.values()), ""))


def profile(**kw: Any) -> Profile:
    base = dict(
        name="t",
        segments=(SegmentRef(SEG, "Customers"),),
        mappings=(AttributeMapping("traits_plan", "plan"),),
        concurrency=2,
        write_back=False,
    )
    base.update(kw)
    return Profile(**base)  # type: ignore[arg-type]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def engine(p: Profile, source: FakeSource, ledger: Ledger, track: FakeTrack | None) -> SyncEngine:
    return SyncEngine(p, source, ledger, cast(TrackClient, track))


def test_full_sync_sends_every_member_once_and_a_resync_sends_nothing(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(1200)] + [make_user(5000 + i, segments=(OTHER,)) for i in range(10)]
    source, track = FakeSource(users), FakeTrack()
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert summary.status is RunStatus.COMPLETED
    assert summary.counts["identify (new)"] == 1200
    assert summary.people_sent == 1200
    assert sorted(_cid(op) for op in track.ops) == sorted(f"ext-{i}" for i in range(1200))
    first = track.ops[0]
    assert first["attributes"]["plan"] == "free"
    assert first["attributes"]["hull_segments"] == ["Customers"]
    assert ledger.people_count() == 1200

    track.batches.clear()
    again = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert again.requests == 0 and track.batches == []
    assert again.counts == {"skip: unchanged": 1200}


def test_changed_people_are_sent_again_and_only_they(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(50)]
    source, track = FakeSource(users), FakeTrack()
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    users[7].update(traits_plan="pro", updated_at=2000.0)  # Hull bumps updated_at on every change
    track.batches.clear()
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert [_cid(op) for op in track.ops] == ["ext-7"]
    assert summary.counts["identify (changed)"] == 1


def test_people_refused_in_a_207_are_recorded_and_retried_next_run(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(30)]), FakeTrack()
    track.reject = {"ext-3", "ext-9"}
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert summary.failed == 2
    assert summary.people_sent == 28
    errors = ledger.run_errors(summary.run_id or 0)
    assert sorted(e.customer_id for e in errors) == ["ext-3", "ext-9"]
    assert {e.field for e in errors} == {"plan"}
    track.reject.clear()
    track.batches.clear()
    retry = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert sorted(_cid(op) for op in track.ops) == ["ext-3", "ext-9"]
    assert retry.failed == 0


def test_a_400_on_a_whole_batch_is_split_until_the_bad_person_is_alone(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(40)]), FakeTrack()
    track.poison = {"ext-21"}
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert summary.people_sent == 39
    assert summary.failed == 1
    [error] = ledger.run_errors(summary.run_id or 0)
    assert error.customer_id == "ext-21" and "150 bytes" in error.message
    accepted = [_cid(op) for op in track.ops]
    assert len(accepted) == len(set(accepted)) == 39  # nothing accepted was sent twice


def test_refused_credentials_stop_the_run_as_a_credentials_problem(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(10)]), FakeTrack()
    track.fail_status = 401
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert summary.status is RunStatus.FAILED
    assert summary.problem is Problem.CREDENTIALS
    assert "Site ID" in summary.message
    assert ledger.people_count() == 0


def test_customer_io_down_after_retries_stops_the_run_and_records_people_as_failed(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(10)]), FakeTrack()
    track.fail_status = 500
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert summary.failed == 10
    assert ledger.checkpoint(Checkpoint.USERS_UPDATED) is None  # incremental must not skip them


def test_a_source_failure_mid_run_fails_the_run_and_deletes_nobody(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(20)]
    source, track = FakeSource(users), FakeTrack()
    p = profile(delete_on_leave=True)
    engine(p, source, ledger, track).run(RunMode.FULL)
    source.fail_after = 5
    track.batches.clear()
    summary = engine(p, source, ledger, track).run(RunMode.FULL)
    assert summary.status is RunStatus.FAILED and summary.problem is Problem.SOURCE
    assert not any(op["action"] == "delete" for op in track.ops)


def test_people_who_left_the_segments_are_deleted_only_when_enabled(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(10)]
    source, track = FakeSource(users), FakeTrack()
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    users[2]["segment_ids"] = [OTHER]
    track.batches.clear()
    off = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert track.ops == [] and off.counts == {"skip: unchanged": 9}
    on = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert [(op["action"], _cid(op)) for op in track.ops] == [("delete", "ext-2")]
    assert on.counts["delete (left the segments)"] == 1
    assert ledger.known_by_hull_id([hid(2)])[hid(2)].deleted_at is not None
    users[2]["segment_ids"] = [SEG]
    track.batches.clear()
    back = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert back.counts["identify (new)"] == 1


def test_incremental_run_reads_only_users_updated_since_the_last_run(ledger: Ledger) -> None:
    users = [make_user(i, updated=1000.0) for i in range(100)]
    source, track = FakeSource(users), FakeTrack()
    clock = [10_000.0]
    eng = SyncEngine(profile(), source, ledger, cast(TrackClient, track), clock=lambda: clock[0])
    eng.run(RunMode.FULL)
    clock[0] = 20_000.0
    track.batches.clear()
    nothing = eng.run(RunMode.INCREMENTAL)
    assert nothing.requests == 0 and sum(nothing.counts.values()) == 0
    users[4].update(traits_plan="pro", updated_at=25_000.0)
    clock[0] = 30_000.0
    changed = eng.run(RunMode.INCREMENTAL)
    assert [_cid(op) for op in track.ops] == ["ext-4"]
    assert changed.counts == {"identify (changed)": 1}


def test_incremental_without_an_earlier_run_covers_everyone(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(5)]), FakeTrack()
    logs: list[str] = []
    summary = engine(profile(), source, ledger, track).run(RunMode.INCREMENTAL, on_log=logs.append)
    assert summary.people_sent == 5
    assert any("covers everyone" in line for line in logs)


def test_dry_run_plans_but_sends_and_records_nothing(ledger: Ledger) -> None:
    source = FakeSource([make_user(i) for i in range(10)])
    summary = engine(profile(), source, ledger, None).run(RunMode.DRY_RUN)
    assert summary.status is RunStatus.COMPLETED
    assert summary.counts == {"identify (new)": 10}
    assert ledger.people_count() == 0
    assert ledger.runs()[0].mode == "dry_run"


def test_events_are_sent_once_after_their_users_and_the_checkpoint_moves(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(3)] + [make_user(9, segments=(OTHER,))]
    events = [
        HullEvent(f"ev{i}", "Signed Up" if i % 2 == 0 else "Ignored", 2000.0 + i, user_id=hid(i % 3)) for i in range(6)
    ] + [
        HullEvent("ev-out", "Signed Up", 2010.0, user_id=hid(9)),
        HullEvent("ev-page", "Signed Up", 2011.0, user_id=hid(0), event_type="page"),
    ]
    source, track = FakeSource(users, events), FakeTrack()
    p = profile(events=("Signed Up",))
    summary = engine(p, source, ledger, track).run(RunMode.FULL)
    sent = [op for op in track.ops if op["action"] != "identify"]
    assert sorted(op["name"] for op in sent) == ["Signed Up"] * 4
    assert {op["action"] for op in sent} == {"event", "page"}
    assert summary.counts["event (sent)"] == 4
    assert summary.counts["event skip: user not synced"] == 1
    assert ledger.checkpoint_float(Checkpoint.EVENTS) == 2011.0
    track.batches.clear()
    again = engine(p, source, ledger, track).run(RunMode.FULL)
    assert track.ops == [] and again.events_sent == 0


def test_events_of_a_user_who_failed_are_held_for_the_next_run(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(2)]
    events = [HullEvent("a", "Signed Up", 2000.0, user_id=hid(0)), HullEvent("b", "Signed Up", 2001.0, user_id=hid(1))]
    source, track = FakeSource(users, events), FakeTrack()
    track.reject = {"ext-0"}
    p = profile(events=("Signed Up",))
    first = engine(p, source, ledger, track).run(RunMode.FULL)
    assert first.counts["event held: user failed"] == 1
    assert ledger.sent_event_ids(["a", "b"]) == {"b"}
    assert (ledger.checkpoint_float(Checkpoint.EVENTS) or 0) < 2000.0
    track.reject.clear()
    track.batches.clear()
    engine(p, source, ledger, track).run(RunMode.FULL)
    assert [op.get("name", op["action"]) for op in track.ops] == ["identify", "Signed Up"]
    assert ledger.sent_event_ids(["a", "b"]) == {"a", "b"}


def test_anonymous_events_go_through_the_v1_endpoint(ledger: Ledger) -> None:
    users = [make_user(1)]
    # An anonymous visitor: the event names no Hull user, only an anonymous id.
    events = [HullEvent("x", "Viewed", 2000.0, anonymous_id="anon-77")]
    source, track = FakeSource(users, events), FakeTrack()
    summary = engine(profile(events=("Viewed",), anonymous_events=True), source, ledger, track).run(RunMode.FULL)
    assert summary.counts["event (anonymous)"] == 1
    assert track.anonymous[0]["anonymous_id"] == "anon-77"
    assert track.anonymous[0]["event_id"]
    assert ledger.sent_event_ids(["x"]) == {"x"}


def test_cancel_stops_between_batches_with_a_consistent_ledger(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(5000)]), FakeTrack()
    cancel = threading.Event()
    track.on_batch = cancel.set
    p = profile(concurrency=1)
    summary = engine(p, source, ledger, track).run(RunMode.FULL, cancel=cancel)
    assert summary.status is RunStatus.CANCELLED
    sent_first = len(track.ops)
    assert ledger.people_count() == summary.people_sent <= sent_first < 5000
    track.on_batch = None
    track.batches.clear()
    rest = engine(p, source, ledger, track).run(RunMode.FULL)
    assert rest.status is RunStatus.COMPLETED
    assert ledger.people_count() == 5000
    assert len(track.ops) == 5000 - summary.people_sent


def test_a_run_still_going_shows_its_counts_so_far_in_its_record(ledger: Ledger) -> None:
    # What the history shows of a run that is killed (or whose machine stops) before it finishes.
    source, track = FakeSource([make_user(i) for i in range(3000)]), FakeTrack()
    release = threading.Event()
    track.on_batch = lambda: release.wait(10)  # Customer.io holds the first request
    done: list[RunSummary] = []
    worker = threading.Thread(
        target=lambda: done.append(engine(profile(concurrency=1), source, ledger, track).run(RunMode.FULL))
    )
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (ledger.runs() and ledger.runs()[0].counts):
            time.sleep(0.01)
        going = ledger.runs()[0]
        assert going.status is RunStatus.RUNNING
        assert 500 <= going.counts["identify (new)"] <= 3000 and ledger.people_count() == 0
    finally:
        release.set()
        worker.join(10)
    assert done[0].status is RunStatus.COMPLETED
    assert dict(ledger.runs()[0].counts) == {"identify (new)": 3000}


def test_progress_is_reported_a_few_times_per_second_at_most(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(3000)]), FakeTrack()
    seen: list[Progress] = []
    engine(profile(), source, ledger, track).run(RunMode.FULL, on_progress=seen.append)
    assert seen[-1].phase == "done"
    assert seen[-1].counts["identify (new)"] == 3000
    users_reports = [p for p in seen if p.phase == "users"]
    assert 1 <= len(users_reports) <= 30


def test_preview_shows_decision_payload_and_changes(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(3)]
    source, track = FakeSource(users), FakeTrack()
    eng = engine(profile(), source, ledger, track)
    rows = eng.preview(2)
    assert [r.label for r in rows] == ["identify (new)", "identify (new)"]
    assert '"action":"identify"' in rows[0].payload and '"plan":"free"' in rows[0].payload
    assert "plan" in rows[0].changes.added
    eng.run(RunMode.FULL)
    users[0].update(traits_plan="pro", updated_at=2000.0)
    rows = eng.preview(10)
    assert rows[0].label == "identify (changed)" and rows[0].changes.changed == ("plan",)
    assert rows[1].label == "skip: unchanged" and rows[1].payload == ""
    assert "User 0" in rows[0].user


def test_single_send_sends_the_person_even_when_unchanged(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(5)]), FakeTrack()
    eng = engine(profile(), source, ledger, track)
    eng.run(RunMode.FULL)
    track.batches.clear()
    summary = eng.send_one(hid(3))
    assert [_cid(op) for op in track.ops] == ["ext-3"]
    assert summary.counts == {"identify (unchanged)": 1}
    missing = eng.send_one("f" * 24)
    assert missing.problem is Problem.NOT_FOUND
    assert source.lookups == [hid(3), "f" * 24], "looked up by id, not found by scanning every user"


def test_customer_id_change_merges_after_the_new_primary_was_accepted(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(3)]
    source, track = FakeSource(users), FakeTrack()
    eng = engine(profile(), source, ledger, track)
    eng.run(RunMode.FULL)
    users[1].update(external_id="ext-new", updated_at=2000.0)
    track.batches.clear()
    summary = eng.run(RunMode.FULL)
    assert summary.counts["merge (customerId changed)"] == 1
    # Two requests: the identify of the new primary, then (once accepted) the merge on its own.
    assert [[op["action"] for op in b] for b in track.batches] == [["identify"], ["merge"]]
    assert track.batches[1][0]["primary"] == {"id": "ext-new"} and track.batches[1][0]["secondary"] == {"id": "ext-1"}
    assert summary.requests == 2 and summary.people_sent == 1
    assert set(ledger.known_by_customer_id(["ext-1", "ext-new"])) == {"ext-new"}


def _count_planned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Hull ids of the people the users pass plans (maps) from now on, in order."""
    import cio_desktop.sync.decide as users_module  # where the users pass plans each person
    from cio_desktop.sync.planner import plan_user as real_plan

    planned: list[str] = []

    def counting(user: HullUser, *a: Any, **kw: Any) -> Any:
        planned.append(user["id"])
        return real_plan(user, *a, **kw)

    monkeypatch.setattr(users_module, "plan_user", counting)
    return planned


def test_unchanged_users_are_recognised_without_mapping_them_again(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [make_user(i) for i in range(20)]
    source, track = FakeSource(users), FakeTrack()
    eng = engine(profile(), source, ledger, track)
    eng.run(RunMode.FULL)
    planned = _count_planned(monkeypatch)
    again = eng.run(RunMode.FULL)
    assert again.counts == {"skip: unchanged": 20} and planned == []
    # A change Hull stamped just now is always mapped (two updates within one clock tick look alike).
    users[3].update(traits_plan="pro", updated_at=time.time())
    users[5]["segment_ids"] = [SEG, OTHER]
    third = eng.run(RunMode.FULL)
    assert sorted(planned) == [hid(3), hid(5)]
    assert third.counts["identify (changed)"] == 2
    # Other settings invalidate every fingerprint: all are mapped again (and found unchanged).
    planned.clear()
    other = engine(profile(send_nulls=True), source, ledger, track).run(RunMode.DRY_RUN)
    assert len(planned) == 20 and sum(other.counts.values()) == 20


def test_a_stored_fingerprint_is_recognised_without_reading_the_update_time_as_a_date(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fingerprint is stored only once its updated_at was settled; the same text is still settled,
    so the everyday run only compares (the date parse was a tenth of an unchanged plan)."""
    import cio_desktop.sync.digest as users_module  # where the fingerprint reads the update time

    users = [make_user(i) for i in range(10)]
    source, track = FakeSource(users), FakeTrack()
    eng = engine(profile(), source, ledger, track)
    eng.run(RunMode.FULL)
    parsed: list[object] = []
    real_parse = users_module.parse_date

    def counting(value: object) -> int | None:
        parsed.append(value)
        return real_parse(value)

    monkeypatch.setattr(users_module, "parse_date", counting)
    again = eng.run(RunMode.FULL)
    assert again.counts == {"skip: unchanged": 10} and parsed == []
    users[2].update(traits_plan="pro", updated_at=time.time() - 3600)  # changed an hour ago: settled
    third = eng.run(RunMode.FULL)
    assert third.counts["identify (changed)"] == 1 and len(parsed) == 1


def test_an_account_change_reaches_the_people_whose_attributes_come_from_it(ledger: Ledger) -> None:
    """Hull does not touch a user's updated_at when their account changes: the fingerprint holds the
    account values the mappings read, so a new account plan is sent, not skipped as unchanged."""
    users = [{**make_user(i), "account": {"domain": f"co{i}.com", "plan": "pro"}} for i in range(3)]
    source, track = FakeSource(users), FakeTrack()
    mappings = (AttributeMapping("traits_plan", "plan"), AttributeMapping("account.plan", "account_plan"))
    eng = engine(profile(mappings=mappings), source, ledger, track)
    eng.run(RunMode.FULL)
    assert eng.run(RunMode.FULL).counts == {"skip: unchanged": 3}
    users[1]["account"] = {"domain": "co1.com", "plan": "enterprise"}  # the user's updated_at stays
    track.batches.clear()
    third = eng.run(RunMode.FULL)
    assert third.counts == {"identify (changed)": 1, "skip: unchanged": 2}
    assert [op["attributes"]["account_plan"] for op in track.ops] == ["enterprise"]


@pytest.mark.parametrize("updated", ["2020-01-01", "2020-01-01T10:15Z", "2020-01-01 10:15", "1577873700.5"])
def test_an_update_time_without_seconds_never_lets_a_person_be_skipped_unmapped(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, updated: str
) -> None:
    """Two changes within the same day or minute would carry the same update time: such people are
    always mapped (and still found unchanged by their payload, without a request)."""
    users = [make_user(i) | {"updated_at": updated} for i in range(3)]
    source, track = FakeSource(users), FakeTrack()
    eng = engine(profile(), source, ledger, track)
    eng.run(RunMode.FULL)
    planned = _count_planned(monkeypatch)
    users[0]["traits_plan"] = "pro"  # changed within the same day/minute: same update time
    track.batches.clear()
    again = eng.run(RunMode.FULL)
    assert len(planned) == 3
    assert again.counts == {"identify (changed)": 1, "skip: unchanged": 2}
