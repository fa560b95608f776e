"""The scheduler core: slots, next runs and missed slots, with the clock injected (nothing sleeps)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cio_desktop.config.profile import Profile, ProfileError, ScheduleKind, ScheduleSettings
from cio_desktop.sync.schedule import Scheduler, latest_slot, next_slot

HOURLY = ScheduleSettings(ScheduleKind.EVERY, every_hours=1)
EVERY_6 = ScheduleSettings(ScheduleKind.EVERY, every_hours=6, full=True)
DAILY_0730 = ScheduleSettings(ScheduleKind.DAILY, daily_at="07:30")


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def jump(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_every_n_hours_counts_from_local_midnight() -> None:
    assert next_slot(EVERY_6, at("2026-03-01 05:59")) == at("2026-03-01 06:00")
    assert next_slot(EVERY_6, at("2026-03-01 06:00")) == at("2026-03-01 12:00")
    assert next_slot(EVERY_6, at("2026-03-01 19:00")) == at("2026-03-02 00:00")
    assert latest_slot(EVERY_6, at("2026-03-01 05:59")) == at("2026-03-01 00:00")
    assert next_slot(HOURLY, at("2026-03-01 23:10")) == at("2026-03-02 00:00")


def test_daily_runs_at_the_local_time_today_or_tomorrow() -> None:
    assert next_slot(DAILY_0730, at("2026-03-01 07:00")) == at("2026-03-01 07:30")
    assert next_slot(DAILY_0730, at("2026-03-01 07:30")) == at("2026-03-02 07:30")
    assert latest_slot(DAILY_0730, at("2026-03-01 07:00")) == at("2026-02-28 07:30")
    assert next_slot(DAILY_0730, at("2026-12-31 08:00")) == at("2027-01-01 07:30")


def test_an_off_schedule_has_no_slots() -> None:
    assert next_slot(ScheduleSettings(), at("2026-03-01 07:00")) is None
    scheduler = Scheduler(FakeClock(at("2026-03-01 07:00")))
    scheduler.set("Acme", ScheduleSettings())
    assert scheduler.profiles() == [] and scheduler.next_wake() is None


def test_turning_a_schedule_on_waits_for_the_next_slot() -> None:
    clock = FakeClock(at("2026-03-01 10:20"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", HOURLY)
    assert scheduler.due() == []
    assert scheduler.next_run("Acme") == at("2026-03-01 11:00")
    assert scheduler.seconds_until_wake(cap_s=10_000) == 40 * 60
    clock.jump(minutes=40)
    [due] = scheduler.due()
    assert (due.profile, due.slot, due.full) == ("Acme", at("2026-03-01 11:00"), False)
    assert scheduler.due() == []  # once per slot
    assert scheduler.next_run("Acme") == at("2026-03-01 12:00")


def test_missed_slots_run_once_on_wake_not_once_per_slot() -> None:
    clock = FakeClock(at("2026-03-01 10:20"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", HOURLY)
    clock.jump(hours=7, minutes=5)  # asleep from 10:20 to 17:25: seven hourly slots missed
    due = scheduler.due()
    assert [(d.profile, d.slot) for d in due] == [("Acme", at("2026-03-01 17:00"))]
    assert scheduler.due() == []
    assert scheduler.next_run("Acme") == at("2026-03-01 18:00")


def test_a_slot_missed_while_the_app_was_closed_runs_at_start() -> None:
    clock = FakeClock(at("2026-03-02 09:00"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", DAILY_0730, last_run=at("2026-03-01 07:30"))  # History: yesterday's run
    assert [d.slot for d in scheduler.due()] == [at("2026-03-02 07:30")]
    scheduler.set("Beta", DAILY_0730, last_run=at("2026-03-02 07:31"))  # today's already ran (e.g. by the OS)
    assert scheduler.due() == []


def test_a_run_started_by_hand_counts_for_the_slot_before_it() -> None:
    clock = FakeClock(at("2026-03-01 05:00"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", EVERY_6)
    clock.jump(hours=1, minutes=10)
    scheduler.ran("Acme", clock())  # 06:10: a manual sync before the timer woke up
    assert scheduler.due() == []
    assert scheduler.next_run("Acme") == at("2026-03-01 12:00")


def test_a_clock_set_back_does_not_repeat_or_lose_slots() -> None:
    clock = FakeClock(at("2026-03-01 12:30"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", HOURLY)
    clock.jump(hours=-3)  # the user fixed the time zone
    assert scheduler.due() == []
    clock.jump(hours=4, minutes=35)  # 14:05
    assert [d.slot for d in scheduler.due()] == [at("2026-03-01 14:00")]


def test_several_profiles_come_due_independently_and_the_earliest_wakes_the_timer() -> None:
    clock = FakeClock(at("2026-03-01 07:10"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", DAILY_0730)
    scheduler.set("Beta", EVERY_6)
    assert scheduler.next_wake() == at("2026-03-01 07:30")
    clock.jump(minutes=25)
    assert [d.profile for d in scheduler.due()] == ["Acme"]
    assert scheduler.next_wake() == at("2026-03-01 12:00")
    clock.jump(hours=5)
    assert [(d.profile, d.full) for d in scheduler.due()] == [("Beta", True)]


def test_changing_a_schedule_keeps_what_already_ran() -> None:
    clock = FakeClock(at("2026-03-01 07:10"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", HOURLY)
    clock.jump(minutes=55)
    assert len(scheduler.due()) == 1  # 08:00 ran
    scheduler.set("Acme", EVERY_6)
    assert scheduler.due() == []
    assert scheduler.next_run("Acme") == at("2026-03-01 12:00")
    scheduler.set("Acme", ScheduleSettings())
    assert scheduler.next_run("Acme") is None


def test_the_timer_wait_is_capped_so_sleep_and_clock_changes_are_noticed() -> None:
    clock = FakeClock(at("2026-03-01 07:40"))
    scheduler = Scheduler(clock)
    scheduler.set("Acme", DAILY_0730)
    assert scheduler.seconds_until_wake(cap_s=300) == 300
    assert Scheduler(clock).seconds_until_wake(cap_s=60) == 60


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        ({"kind": "weekly"}, "schedule.kind", "must be one of off, every, daily"),
        ({"kind": "every", "every_hours": 5}, "schedule.every_hours", "1, 2, 3, 4, 6, 8 or 12 hours"),
        ({"kind": "every", "every_hours": "2"}, "schedule.every_hours", "whole number"),
        ({"kind": "every", "every_hours": True}, "schedule.every_hours", "not true/false"),
        ({"kind": "daily", "daily_at": "7:30"}, "schedule.daily_at", "HH:MM"),
        ({"kind": "daily", "daily_at": "24:00"}, "schedule.daily_at", "HH:MM"),
        ({"kind": "daily", "full": "yes"}, "schedule.full", "true or false"),
        ({"when": "daily"}, "schedule.when", "not a known setting"),
    ],
)
def test_bad_schedule_settings_name_the_field_and_say_what_is_allowed(
    document: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        Profile.from_dict({"name": "Acme", "schedule": document})
    assert caught.value.field == field
    assert words in caught.value.problem


def test_schedule_settings_round_trip_through_the_profile_document() -> None:
    profile = Profile("Acme", schedule=ScheduleSettings(ScheduleKind.DAILY, daily_at="23:59", full=True))
    document = profile.to_dict()
    assert document["schedule"] == {"kind": "daily", "every_hours": 1, "daily_at": "23:59", "full": True}
    assert Profile.from_dict(document) == profile
    assert Profile.from_dict({"name": "Old"}).schedule == ScheduleSettings()  # profiles written before schedules
    assert profile.schedule.describe() == "daily at 23:59, full sync"
    assert ScheduleSettings(ScheduleKind.EVERY, every_hours=2).describe() == "every 2 hours, sync changes"
