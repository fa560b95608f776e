"""Anonymous events only for users without a customerId (never for people left out of the sync)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.hull.source import HullEvent
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.events import plan_event
from cio_desktop.sync.ledger import SCHEMA_VERSION, Ledger, PersonWrite
from cio_desktop.sync.model import EventReason, MappingContext
from tests.unit.test_engine_pipeline import OTHER, FakeSource, FakeTrack, engine, hid, make_user, profile

EVENTS = ("Viewed",)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def anonymous_member(i: int, **kw: Any) -> dict[str, Any]:
    user = make_user(i, **kw)
    del user["external_id"]  # the profile's customerId attribute: this member has none
    return user


def viewed(event_id: str, user: int | None, t: float = 2000.0, **kw: Any) -> HullEvent:
    return HullEvent(event_id, "Viewed", t, user_id=hid(user) if user is not None else "", **kw)


def run(ledger: Ledger, source: FakeSource, track: FakeTrack, mode: RunMode = RunMode.FULL, **kw: Any) -> Any:
    p = profile(events=EVENTS, anonymous_events=True, **kw)
    return engine(p, source, ledger, track).run(mode)


def test_plan_event_never_sends_anonymously_when_the_engine_does_not_allow_it() -> None:
    ctx = MappingContext(profile(events=EVENTS, anonymous_events=True))
    event = HullEvent("e", "Viewed", 2000.0, user_id=hid(1), anonymous_id="anon-1")
    d = plan_event(event, ctx, customer_id=None, anonymous_allowed=False)
    assert (d.reason, d.operation) == (EventReason.USER_NOT_SYNCED, None)
    assert plan_event(event, ctx, customer_id=None).reason is EventReason.SEND_ANONYMOUS


def test_events_of_members_without_customer_id_go_out_with_their_first_anonymous_id(ledger: Ledger) -> None:
    member = anonymous_member(1)
    member["anonymous_ids"] = ["first-anon", "second-anon"]
    source, track = FakeSource([make_user(0), member], [viewed("a", 1, anonymous_id="event-own-anon")]), FakeTrack()
    summary = run(ledger, source, track)
    assert summary.counts["skip: no customerId"] == 1
    assert summary.counts["event (anonymous)"] == 1
    assert [(a["anonymous_id"], a["name"]) for a in track.anonymous] == [("first-anon", "Viewed")]
    assert ledger.anonymous_users([hid(1), hid(0)]) == {hid(1): "first-anon"}


def test_events_of_users_with_a_customer_id_outside_the_segments_never_go_out(ledger: Ledger) -> None:
    outside = make_user(2, segments=(OTHER,))  # has a customerId, but the marketer did not choose them
    outside_anonymous = anonymous_member(3, segments=(OTHER,))  # no customerId and outside the segments
    events = [
        viewed("out", 2, anonymous_id="anon-2"),
        viewed("out-anon", 3, anonymous_id="anon-3"),
        viewed("unknown", 99, anonymous_id="anon-99"),  # a Hull user the sync never saw
    ]
    source, track = FakeSource([make_user(0), outside, outside_anonymous], events), FakeTrack()
    summary = run(ledger, source, track)
    assert summary.counts["event skip: user not synced"] == 3
    assert track.anonymous == [] and [op["action"] for op in track.ops] == ["identify"]


def test_events_of_deleted_people_never_go_out_anonymously(ledger: Ledger) -> None:
    users = [make_user(0), make_user(1)]
    source, track = FakeSource(users), FakeTrack()
    run(ledger, source, track, delete_on_leave=True)
    users[1]["segment_ids"] = [OTHER]
    source.events = [viewed("late", 1, t=3000.0, anonymous_id="anon-1")]
    summary = run(ledger, source, track, delete_on_leave=True)
    assert summary.counts["delete (left the segments)"] == 1
    assert summary.counts["event skip: user not synced"] == 1
    assert track.anonymous == []


def test_anonymous_visitors_events_still_go_out_but_not_users_named_by_external_id(ledger: Ledger) -> None:
    events = [
        viewed("visitor", None, anonymous_id="visitor-1"),
        viewed("by-ext", None, anonymous_id="anon-x", external_id="ext-404"),  # an identified user not synced
    ]
    source, track = FakeSource([make_user(0)], events), FakeTrack()
    summary = run(ledger, source, track)
    assert [a["anonymous_id"] for a in track.anonymous] == ["visitor-1"]
    assert summary.counts["event skip: user not synced"] == 1


def test_a_member_who_gets_a_customer_id_or_leaves_is_no_longer_anonymous(ledger: Ledger) -> None:
    users = [anonymous_member(1), anonymous_member(2)]
    source, track = FakeSource(users), FakeTrack()
    run(ledger, source, track)
    assert set(ledger.anonymous_users([hid(1), hid(2)])) == {hid(1), hid(2)}
    users[0]["external_id"] = "ext-1"
    users[0]["updated_at"] = 2000.0
    users[1]["segment_ids"] = [OTHER]
    run(ledger, source, track)
    assert ledger.anonymous_users([hid(1), hid(2)]) == {}
    source.events = [viewed("after", 1, t=3000.0, anonymous_id="anon-1"), viewed("gone", 2, t=3001.0)]
    summary = run(ledger, source, track)
    assert summary.counts["event (sent)"] == 1 and summary.counts["event skip: user not synced"] == 1
    assert track.anonymous == []


def test_incremental_runs_forget_members_who_left_the_segments(ledger: Ledger) -> None:
    users = [anonymous_member(1)]
    source, track = FakeSource(users), FakeTrack()
    run(ledger, source, track)
    users[0].update(segment_ids=[OTHER], updated_at=5_000_000_000.0)
    run(ledger, source, track, RunMode.INCREMENTAL)
    assert ledger.anonymous_users([hid(1)]) == {}


def test_dry_runs_record_no_anonymous_users(ledger: Ledger) -> None:
    source, track = FakeSource([anonymous_member(1)]), FakeTrack()
    run(ledger, source, track, RunMode.DRY_RUN)
    assert ledger.anonymous_users_count() == 0


def test_a_v2_ledger_is_upgraded_in_place_with_an_empty_anonymous_users_table(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as led:
        led.record_sent(None, people=[PersonWrite("c1", "h1", payload_hash="aa")])
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE anonymous_users")
        conn.execute("PRAGMA user_version=2")
        conn.commit()
    with Ledger(path) as led:
        assert set(led.known_by_hull_id(["h1"])) == {"h1"}
        led.update_anonymous_users([("h2", "anon-2")])
        assert led.anonymous_users(["h2", "h1"]) == {"h2": "anon-2"}
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5


def test_anonymous_page_and_screen_events_keep_their_type(ledger: Ledger) -> None:
    events = [
        viewed("page", None, anonymous_id="v", event_type="page"),
        viewed("screen", None, t=2001.0, anonymous_id="v", event_type="screen"),
        viewed("track", None, t=2002.0, anonymous_id="v"),
    ]
    source, track = FakeSource([make_user(0)], events), FakeTrack()
    run(ledger, source, track)
    assert [a["type"] for a in track.anonymous] == ["page", "screen", "event"]
