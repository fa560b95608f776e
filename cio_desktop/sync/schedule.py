"""When scheduled syncs run: pure time arithmetic and the in-app scheduler's bookkeeping (no Qt, no I/O).

Times are naive local wall-clock datetimes (what ``datetime.now()`` returns), because schedules are
said in local time ("daily at 07:30"). The slots of a schedule are the same on every platform and in
the app: every N hours counts from local midnight (N divides 24), daily is one slot a day.

A missed slot (the laptop slept, the app was closed) runs once when noticed, never once per missed
slot, as systemd's ``Persistent=true`` and launchd's coalescing do for the operating system's runs.
Around a daylight-saving change a slot may come an hour early or late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from cio_desktop.config.profile import ScheduleKind, ScheduleSettings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _daily_time(settings: ScheduleSettings) -> time:
    hours, minutes = settings.daily_at.split(":")
    return time(int(hours), int(minutes))


def _slots_of_day(settings: ScheduleSettings) -> list[time]:
    if settings.kind is ScheduleKind.DAILY:
        return [_daily_time(settings)]
    return [time(h) for h in range(0, 24, settings.every_hours)]


def latest_slot(settings: ScheduleSettings, at: datetime) -> datetime | None:
    """The last slot at or before ``at`` (None when the schedule is off)."""
    if not settings.enabled:
        return None
    slots = _slots_of_day(settings)
    for day in (at.date(), at.date() - timedelta(days=1)):
        for slot in reversed(slots):
            when = datetime.combine(day, slot)
            if when <= at:
                return when
    raise AssertionError("a schedule has a slot every day")  # pragma: no cover


def next_slot(settings: ScheduleSettings, after: datetime) -> datetime | None:
    """The first slot strictly after ``after`` (None when the schedule is off)."""
    if not settings.enabled:
        return None
    slots = _slots_of_day(settings)
    for day in (after.date(), after.date() + timedelta(days=1)):
        for slot in slots:
            when = datetime.combine(day, slot)
            if when > after:
                return when
    raise AssertionError("a schedule has a slot every day")  # pragma: no cover


@dataclass(frozen=True)
class Due:
    """A profile whose slot ``slot`` has come: run it now (``full``: a full sync, else changes)."""

    profile: str
    slot: datetime
    full: bool


@dataclass
class _Entry:
    settings: ScheduleSettings
    done_until: datetime  # every slot at or before this has been run (or was before the schedule began)


class Scheduler:
    """Which profiles are due, for the app's timer. The caller asks :meth:`due` whenever it wakes up
    (a timer at :meth:`next_wake`, or on resume from sleep), runs what it gets, and reports the start
    of each run with :meth:`ran`. Nothing here sleeps or reads the clock except through ``clock``."""

    def __init__(self, clock: Clock = datetime.now) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def set(self, profile: str, settings: ScheduleSettings, last_run: datetime | None = None) -> None:
        """Schedule ``profile`` (or stop when ``settings`` is off). ``last_run``: when its last run
        started, from History. Without one, slots before now count as done: turning a schedule on
        does not start a sync at once."""
        if not settings.enabled:
            self._entries.pop(profile, None)
            return
        now = self._clock()
        old = self._entries.get(profile)
        if last_run is None:
            done = old.done_until if old is not None and old.settings == settings else now
        else:
            done = last_run if old is None else max(last_run, old.done_until)
        self._entries[profile] = _Entry(settings, min(done, now))

    def remove(self, profile: str) -> None:
        self._entries.pop(profile, None)

    def profiles(self) -> list[str]:
        return sorted(self._entries)

    def settings(self, profile: str) -> ScheduleSettings | None:
        entry = self._entries.get(profile)
        return None if entry is None else entry.settings

    def due(self) -> list[Due]:
        """Profiles whose latest slot has not run yet, each once however many slots were missed. A
        profile returned here is marked done up to now: if its run is skipped (busy) it waits for
        the next slot rather than retrying in a loop."""
        now = self._clock()
        out: list[Due] = []
        for name, entry in sorted(self._entries.items()):
            slot = latest_slot(entry.settings, now)
            if slot is not None and slot > entry.done_until:
                first_missed = next_slot(entry.settings, entry.done_until)
                if first_missed is not None and first_missed < slot:
                    log.info("scheduled sync of %s: slots were missed (asleep or closed); running once now", name)
                entry.done_until = now
                out.append(Due(name, slot, entry.settings.full))
        return out

    def ran(self, profile: str, started: datetime) -> None:
        """A run of ``profile`` started at ``started`` (scheduled or not): its slots up to then are done."""
        entry = self._entries.get(profile)
        if entry is not None and started > entry.done_until:
            entry.done_until = started

    def next_run(self, profile: str) -> datetime | None:
        """When ``profile`` runs next: now-ish if a slot is pending, else its next slot."""
        entry = self._entries.get(profile)
        if entry is None:
            return None
        return next_slot(entry.settings, entry.done_until)

    def next_wake(self) -> datetime | None:
        """The earliest moment any profile becomes due (may be in the past: then call :meth:`due`)."""
        times = [t for t in (self.next_run(p) for p in self._entries) if t is not None]
        return min(times) if times else None

    def seconds_until_wake(self, *, cap_s: float = 300.0) -> float:
        """How long the app's timer should wait: until the next slot, but at most ``cap_s``, so a clock
        change or a resume from sleep (timers do not count sleep everywhere) is noticed soon."""
        wake = self.next_wake()
        if wake is None:
            return cap_s
        return max(0.0, min(cap_s, (wake - self._clock()).total_seconds()))


__all__ = ["Clock", "Due", "Scheduler", "latest_slot", "next_slot"]
