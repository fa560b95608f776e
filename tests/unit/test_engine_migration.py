"""Moving over from Hull's hosted connector: the people it created who are outside the segments are
deleted by its identifier in full runs with deletion on, never on doubt (the deletion guard decides)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.hull.source import HullUser, ReadReport, SourceProblem, Stream
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.guard import WithheldReason
from cio_desktop.sync.ledger import Ledger, RunStatus
from tests.unit.test_engine_pipeline import OTHER, FakeSource, FakeTrack, _cid, engine, hid, make_user, profile


def by_connector(i: int, cid: Any = None, **traits: Any) -> HullUser:
    """A user outside the segments whom the hosted connector created (as ``legacy-i`` by default)."""
    user = make_user(i, segments=(OTHER,))
    user["traits_customerio/created_at"] = "2018-03-13T15:21:17Z"
    user["traits_customerio/id"] = f"legacy-{i}" if cid is None else cid
    user.update(traits)
    return user


class ScanSource(FakeSource):
    """A source without the trait search (export files): the step reads every row. ``lose_rows``
    makes that second read lose a row while the members' read stays clean."""

    def __init__(self, users: list[HullUser]) -> None:
        super().__init__(users)
        self.lose_rows = False
        self.passes: list[str] = []

    def iter_users(
        self, segment_ids: Sequence[str] | None, *, updated_since: float | None = None
    ) -> Iterator[HullUser]:
        self.passes.append("all" if segment_ids is None else "members")
        return super().iter_users(segment_ids, updated_since=updated_since)

    def read_report(self, stream: Stream) -> ReadReport:
        if self.lose_rows and self.passes[-1:] == ["all"]:
            return ReadReport("/data/users.jsonl", 1, problems=(SourceProblem("/data/users.jsonl", 7, "broken JSON"),))
        return ReadReport()


class SearchSource(ScanSource):
    """A source with the trait search (the Hull API): no row outside it is read."""

    def __init__(self, users: list[HullUser]) -> None:
        super().__init__(users)
        self.searches: list[tuple[str, ...]] = []

    def iter_connector_created(self, segment_ids: Sequence[str]) -> Iterator[HullUser]:
        self.searches.append(tuple(segment_ids))
        return (dict(u) for u in self.users if "traits_customerio/created_at" in u)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def deleted(track: FakeTrack) -> list[str]:
    return sorted(_cid(op) for op in track.ops if op["action"] == "delete")


def test_the_connectors_people_outside_the_segments_are_deleted_by_its_identifier(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(20)]
    members_by_connector = [by_connector(100)]
    members_by_connector[0]["segment_ids"] = make_user(0)["segment_ids"]  # still a member: kept
    users += members_by_connector
    users += [by_connector(200), by_connector(201), by_connector(202, cid=42)]
    users += [by_connector(300, **{"traits_customerio/deleted_at": "2019-01-01T00:00:00Z"})]  # it deleted them
    users += [by_connector(301, **{"traits_customerio/created_at": "not a date"})]  # cannot say it created them
    users += [make_user(400, segments=(OTHER,))]  # never created in Customer.io
    users += [by_connector(500, cid=""), by_connector(501, cid=["x"])]  # under which id? never guessed
    source, track = ScanSource(users), FakeTrack()
    lines: list[str] = []
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL, on_log=lines.append)
    assert summary.status is RunStatus.COMPLETED, summary.message
    assert deleted(track) == ["42", "legacy-200", "legacy-201"]
    assert "2 people outside the chosen segments carry customerio/created_at but no usable" in "\n".join(lines)
    assert source.passes == ["members", "all"], "export files: the rows outside the segments are read once"

    track.batches.clear()
    again = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert again.status is RunStatus.COMPLETED and deleted(track) == [], "the ledger remembers whom it deleted"


def test_the_hull_api_searches_the_trait_instead_of_reading_everyone(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(5)] + [by_connector(200)]
    source, track = SearchSource(users), FakeTrack()
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert summary.status is RunStatus.COMPLETED and deleted(track) == ["legacy-200"]
    assert source.passes == ["members"] and source.searches == [tuple(profile().segment_ids)]


def test_with_deletion_off_nothing_outside_the_segments_is_read(ledger: Ledger) -> None:
    source, track = ScanSource([make_user(0), by_connector(200)]), FakeTrack()
    assert engine(profile(), source, ledger, track).run(RunMode.FULL).status is RunStatus.COMPLETED
    assert deleted(track) == [] and source.passes == ["members"]


def test_a_row_lost_while_looking_outside_the_segments_withholds_every_deletion(ledger: Ledger) -> None:
    source, track = ScanSource([make_user(i) for i in range(5)] + [by_connector(200)]), FakeTrack()
    source.lose_rows = True
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert summary.status is RunStatus.DELETIONS_WITHHELD and summary.withheld == 1
    assert summary.message.startswith("Deletions withheld: 1 row of users.jsonl could not be read")
    assert deleted(track) == []
    assert summary.run_id is not None
    record = ledger.run(summary.run_id)
    assert record is not None and record.withheld_reason == WithheldReason.INCOMPLETE_READ.value


def test_a_person_this_laptop_knows_is_left_to_its_own_record(ledger: Ledger) -> None:
    # Sent once by this laptop as a member (the ledger created them as ext-7), then out of the segments
    # carrying the connector's traits: deleted once, as the ledger knows them, not twice.
    source, track = ScanSource([make_user(7)]), FakeTrack()
    engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    moved = by_connector(7, cid="ext-7")
    source.users = [make_user(1), moved]
    track.batches.clear()
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL)
    assert summary.status is RunStatus.COMPLETED
    assert deleted(track) == ["ext-7"]
    assert ledger.known_by_hull_id([hid(7)])[hid(7)].deleted_at is not None


def test_a_cancel_while_looking_outside_the_segments_deletes_nobody(ledger: Ledger) -> None:
    cancel = threading.Event()

    class CancelledSource(ScanSource):
        def iter_users(
            self, segment_ids: Sequence[str] | None, *, updated_since: float | None = None
        ) -> Iterator[HullUser]:
            if segment_ids is None:
                cancel.set()  # the user cancels while the rows outside the segments are read
            return super().iter_users(segment_ids, updated_since=updated_since)

    source, track = CancelledSource([make_user(0), by_connector(200)]), FakeTrack()
    summary = engine(profile(delete_on_leave=True), source, ledger, track).run(RunMode.FULL, cancel=cancel)
    assert summary.status is RunStatus.CANCELLED and deleted(track) == []
