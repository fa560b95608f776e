"""A customerId change merges the old person into the new one only after the new one exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from cio_desktop.customerio.track import TrackClient
from cio_desktop.sync.engine import RunMode, SyncEngine
from cio_desktop.sync.ledger import Ledger
from tests.unit.test_engine_pipeline import FakeSource, FakeTrack, engine, make_user, profile


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def changed_ids(ledger: Ledger, n: int) -> tuple[FakeSource, FakeTrack]:
    users = [make_user(i) for i in range(n)]
    source, track = FakeSource(users), FakeTrack()
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    for u in users:
        u.update(external_id=f"new-{u['external_id']}", updated_at=2000.0)
    track.batches.clear()
    return source, track


def test_no_merge_is_sent_when_the_identify_of_the_new_primary_is_refused(ledger: Ledger) -> None:
    source, track = changed_ids(ledger, 2)
    track.reject = {"new-ext-0"}
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    merges = [op for op in track.ops if op["action"] == "merge"]
    assert [m["primary"] for m in merges] == [{"id": "new-ext-1"}]
    assert summary.failed == 1
    # The refused one is still known under its old id: the next run merges it.
    assert set(ledger.known_by_customer_id(["ext-0", "new-ext-0"])) == {"ext-0"}
    track.reject.clear()
    track.batches.clear()
    again = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert [[op["action"] for op in b] for b in track.batches] == [["identify"], ["merge"]]
    assert again.failed == 0 and set(ledger.known_by_customer_id(["ext-0", "new-ext-0"])) == {"new-ext-0"}


def test_a_refused_merge_is_recorded_and_retried_next_run(ledger: Ledger) -> None:
    source, track = changed_ids(ledger, 1)
    original = track.batch

    def refuse_merges(ops, **kw):  # type: ignore[no-untyped-def]
        if any(op["action"] == "merge" for op in ops):
            track.reject = {"new-ext-0"}
        try:
            return original(ops, **kw)
        finally:
            track.reject = set()

    track.batch = refuse_merges  # type: ignore[method-assign]
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert summary.failed == 1 and summary.people_sent == 0
    assert summary.run_id is not None
    assert [e.kind for e in ledger.run_errors(summary.run_id)] == ["rejected"]
    assert set(ledger.known_by_customer_id(["ext-0", "new-ext-0"])) == {"ext-0"}
    track.batch = original  # type: ignore[method-assign]
    track.batches.clear()
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert [op["action"] for op in track.ops] == ["identify", "merge"]
    assert set(ledger.known_by_customer_id(["ext-0", "new-ext-0"])) == {"new-ext-0"}


def test_merges_of_one_batch_follow_together_in_batches_within_the_limits(ledger: Ledger) -> None:
    source, track = changed_ids(ledger, 30)
    p = profile(concurrency=1)
    summary = engine(p, source, ledger, track).run(RunMode.FULL)
    assert summary.counts["merge (customerId changed)"] == 30 and summary.people_sent == 30
    kinds = [{op["action"] for op in b} for b in track.batches]
    assert kinds == [{"identify"}, {"merge"}]
    assert len(track.batches[1]) == 30


def test_many_merges_are_packed_within_the_batch_size(ledger: Ledger) -> None:
    source, track = changed_ids(ledger, 25)
    eng = SyncEngine(profile(concurrency=1), source, ledger, cast(TrackClient, track), batch_max_ops=10)
    summary = eng.run(RunMode.FULL)
    assert summary.people_sent == 25 and summary.failed == 0
    assert all(len(b) <= 10 for b in track.batches)
    merged = [op["secondary"]["id"] for op in track.ops if op["action"] == "merge"]
    assert sorted(merged) == sorted(f"ext-{i}" for i in range(25))
    # Each merge follows the accepted identify of its primary.
    order = [(op["action"], op.get("identifiers", op.get("primary"))["id"]) for op in track.ops]
    for i in range(25):
        assert order.index(("identify", f"new-ext-{i}")) < order.index(("merge", f"new-ext-{i}"))
