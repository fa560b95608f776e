"""Scheduled syncs while the app runs, and the tray that keeps the app running when its window is closed.

:class:`Scheduling` owns the in-app scheduler (:mod:`cio_desktop.sync.schedule`) for every profile
with a schedule, except those the operating system runs (``schedule install``, or "Keep running when
the app is closed"): those run by the system whether the app is open or not, so the app only shows
when. A scheduled run never opens a dialog: it notifies through the tray when the deletion guard
withheld deletions or when it failed, and a click on that notification opens the run in History.
Runs never overlap: a profile already syncing (here or in another process, by its run lock) is
skipped and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from cio_desktop import APP_TITLE
from cio_desktop.config.profile import Profile, ScheduleSettings
from cio_desktop.config.store import ProfileNotFoundError, ProfileStore
from cio_desktop.gui import backend
from cio_desktop.gui.settings import gui_settings
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.tray import Tray
from cio_desktop.gui.workers import JobContext
from cio_desktop.schedule import install as system
from cio_desktop.sync.runs import RunRecord, RunStatus
from cio_desktop.sync.schedule import Scheduler, next_slot
from cio_desktop.sync.summary import Problem, RunMode, RunSummary

if TYPE_CHECKING:
    from cio_desktop.gui.main_window import MainWindow

log = logging.getLogger(__name__)

EXPLAINED_KEY = "tray/explained"
LAST_RUNS_LOOKED_AT = 20
NOTIFICATION_LINGER_S = 20.0


def when_text(moment: datetime, now: datetime) -> str:
    """ "today 09:00", "tomorrow 07:30", "yesterday 18:00", else "Mon 3 Mar 09:00"."""
    day = (moment.date() - now.date()).days
    names = {0: "today", 1: "tomorrow", -1: "yesterday"}
    prefix = names.get(day) or f"{moment:%a} {moment.day} {moment:%b}"
    return f"{prefix} {moment:%H:%M}"


def last_run_text(run: RunRecord | None, now: datetime) -> str:
    if run is None:
        return "never"
    sent = backend.run_totals(run)["sent"]
    detail = f", {sent:,} sent" if run.status in (RunStatus.COMPLETED, RunStatus.PARTIAL) else ""
    return f"{when_text(datetime.fromtimestamp(run.started_at), now)} ({run.status_text}{detail})"


@dataclass
class ProfileState:
    """What the app knows about one profile's schedule (read off the GUI thread by :meth:`Scheduling.reload`)."""

    profile: Profile
    last_run: RunRecord | None = None
    by_system: bool = False  # the operating system runs this schedule
    note: str = ""  # the last scheduled run's outcome when it left no run in History (skipped, failed early)
    note_at: datetime | None = None


@dataclass
class Loaded:
    states: dict[str, ProfileState] = field(default_factory=dict)
    system_error: str = ""


class Scheduling(QObject):
    """Signals: ``changed()`` whenever a schedule, a last run or a next run changed (the Sync page's
    schedule panel and the tray refresh their lines)."""

    changed = Signal()

    def __init__(
        self,
        window: MainWindow,
        tray: Tray | None,
        *,
        clock: Callable[[], datetime] = datetime.now,
        system_scheduler: system.SystemScheduler | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.ctx = window.ctx
        self.tray = tray
        self.clock = clock
        self.system = system_scheduler or system.for_this_system()
        self.scheduler = Scheduler(clock)
        self.states: dict[str, ProfileState] = {}
        self.running: set[str] = set()
        self.receiver_running = False
        self.quitting = False
        self.pending_history_run: tuple[str, int | None] | None = None
        self.linger_until = 0.0
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.tick)
        window.installEventFilter(self)
        self.ctx.saved.connect(lambda _p: self.reload())
        window.sync_page.run_finished.connect(lambda *_a: self._run_finished())
        window.sync_page.run_started.connect(lambda _m: self.changed.emit())
        window.webhook_page.receiver_state_changed.connect(self._receiver_state)
        if tray is not None:
            tray.signals.sync_now.connect(self.sync_now)
            tray.signals.open_window.connect(self.open_window)
            tray.signals.quit.connect(self.quit)
            tray.signals.message_clicked.connect(self._message_clicked)
        self.changed.connect(self._update_tray)
        self.reload()

    # ------------------------------------------------------------------ state
    def reload(self) -> None:
        """Read every profile's schedule, last run and whether the system runs it (on a worker)."""
        store, sched = self.ctx.store, self.system
        notes = {name: (s.note, s.note_at) for name, s in self.states.items() if s.note_at is not None}

        def work(_job: JobContext) -> Loaded:
            return _load(store, sched)

        def done(loaded: Loaded) -> None:
            for name, state in loaded.states.items():
                note, at = notes.get(name, ("", None))
                # A note stays until a run newer than it is in History.
                if at is not None and (
                    state.last_run is None or datetime.fromtimestamp(state.last_run.started_at) < at
                ):
                    state.note, state.note_at = note, at
            self.states = loaded.states
            for name in self.scheduler.profiles():
                if name not in self.states or self.states[name].by_system:
                    self.scheduler.remove(name)
            for name, state in self.states.items():
                started = datetime.fromtimestamp(state.last_run.started_at) if state.last_run else None
                self.scheduler.set(name, ScheduleSettings() if state.by_system else state.profile.schedule, started)
            self._arm()
            self.changed.emit()

        self.ctx.runner.submit(self.ctx.key("schedules"), work, on_result=done, on_error=lambda e: log.warning("%s", e))

    def state(self, name: str) -> ProfileState | None:
        return self.states.get(name)

    def last_text(self, name: str) -> str:
        state = self.states.get(name)
        if state is None:
            return "never"
        text = last_run_text(state.last_run, self.clock())
        return f"{text}; then {state.note}" if state.note else text

    def next_text(self, name: str) -> str:
        state = self.states.get(name)
        if name in self.running:
            return "running now"
        if state is None or not state.profile.schedule.enabled:
            return "off (no schedule)"
        now = self.clock()
        if state.by_system:
            when = next_slot(state.profile.schedule, now)
            return f"{when_text(when, now)} (by the system, also when the app is closed)" if when else "—"
        when = self.scheduler.next_run(name)
        if when is None:
            return "—"
        return "now" if when <= now else when_text(when, now)

    def needs_tray(self) -> bool:
        """Whether closing the window should leave the app running: something works in the background."""
        in_app = any(not s.by_system and s.profile.schedule.enabled for s in self.states.values())
        return in_app or self.receiver_running or bool(self.running)

    # ------------------------------------------------------------------ timer
    def _arm(self) -> None:
        self.timer.start(int(self.scheduler.seconds_until_wake() * 1000) + 50)

    def tick(self) -> None:
        """Start what is due (the timer fires at the next slot, and at least every few minutes so a
        wake from sleep or a clock change is noticed)."""
        for due in self.scheduler.due():
            self.start_scheduled(due.profile, full=due.full)
        self._arm()
        self.changed.emit()
        # Also notices profiles added or deleted since, and runs the system made while the app is open.
        self.reload()

    def start_scheduled(self, name: str, *, full: bool) -> None:
        state = self.states.get(name)
        if state is None:
            return
        page = self.window.sync_page
        open_busy = page.running and self.ctx.profile is not None and self.ctx.profile.name == name
        if name in self.running or open_busy:
            log.info("scheduled sync of %s skipped: a sync of that profile is already running", name)
            self._note(state, "skipped at {:%H:%M}: a sync was already running")
            self.changed.emit()
            return
        store, secrets = self.ctx.store, self.ctx.secrets
        mode = RunMode.FULL if full else RunMode.INCREMENTAL
        log.info("scheduled %s sync of %s starting", mode.value, name)
        self.running.add(name)
        self.changed.emit()

        def work(job: JobContext) -> RunSummary | None:
            # The profile as saved now: it may have been deleted, or its schedule turned off, since.
            try:
                profile = store.load(name)
            except ProfileNotFoundError:
                return None
            if not profile.schedule.enabled:
                return None
            result = backend.run_sync(profile, secrets, profile.name, mode, job)
            # A scheduled run is never given a plan, so it is never refused as stale (PlanChanged).
            return result if isinstance(result, RunSummary) else None

        self.ctx.runner.submit(
            self.ctx.key(f"scheduled-sync:{name}"),
            work,
            on_result=lambda s: self._finished(name, s, None),
            on_error=lambda e: self._finished(name, None, e),
        )

    def _finished(self, name: str, summary: RunSummary | None, exc: BaseException | None) -> None:
        self.running.discard(name)
        state = self.states.get(name)
        run_id = summary.run_id if summary is not None else None
        if summary is None and exc is None:
            log.info("scheduled sync of %s not run: the profile is gone or no longer scheduled", name)
        elif summary is not None and summary.problem is Problem.BUSY:
            log.info("scheduled sync of %s skipped: %s", name, summary.message)
            if state is not None:
                self._note(state, "skipped at {:%H:%M}: another sync of this profile was running")
        elif summary is not None and summary.status is RunStatus.DELETIONS_WITHHELD:
            self._notify(
                name,
                run_id,
                "Deletions await your approval",
                _withheld_text(summary, name),
            )
        elif summary is None or summary.status is not RunStatus.COMPLETED or summary.failed:
            reason = backend.summary_text(summary)[1] if summary is not None else backend.error_text(exc or Exception())
            if state is not None and run_id is None:
                self._note(state, "failed at {:%H:%M}: " + reason.replace("{", "{{").replace("}", "}}"))
            log.warning("scheduled sync of %s did not complete: %s", name, reason)
            self._notify(
                name, run_id, f"Scheduled sync of {name} did not complete", f"{reason} Click to see it in History."
            )
        if self.ctx.profile is not None and self.ctx.profile.name == name:
            self.window.history_page.refresh()
        self.reload()

    def _note(self, state: ProfileState, template: str) -> None:
        now = self.clock()
        state.note, state.note_at = template.format(now), now

    def _notify(self, name: str, run_id: int | None, title: str, text: str) -> None:
        self.pending_history_run = (name, run_id)
        if self.tray is not None and self.tray.is_visible():
            self.tray.notify(title, text, problem=True)
        else:
            QApplication.alert(self.window)  # no tray: the taskbar entry asks for attention instead
            self.window.header_status.show_status(ErrorKind.WARNING, f"{title}: {text}")

    def _message_clicked(self) -> None:
        if self.pending_history_run is None:
            self.open_window()
            return
        name, run_id = self.pending_history_run
        self.show_in_history(name, run_id)

    def show_in_history(self, name: str, run_id: int | None) -> None:
        """Open the window on History with ``name``'s run ``run_id`` selected (its newest run if None)."""
        self.open_window()
        state = self.states.get(name)
        if state is not None and (self.ctx.profile is None or self.ctx.profile.name != name):
            if not self.window.sync_page.running:
                self.window.open_profile(state.profile)
        self.window.history_page.show_run(run_id)
        self.window.show_page("History")

    # ------------------------------------------------------------------ tray
    def _run_finished(self) -> None:
        # The Sync page may just have shown "Sync finished" on the tray icon: keep it up to be read.
        self.linger_until = time.monotonic() + NOTIFICATION_LINGER_S
        QTimer.singleShot(int(NOTIFICATION_LINGER_S * 1000) + 100, self._update_tray)
        self.reload()

    def _receiver_state(self, running: bool) -> None:
        self.receiver_running = running
        self.changed.emit()

    def _update_tray(self) -> None:
        if self.tray is None:
            return
        lingering = time.monotonic() < self.linger_until
        self.tray.set_visible(
            self.needs_tray() or not self.window.isVisible() or self.window.sync_page.running or lingering
        )
        name = self.ctx.profile.name if self.ctx.profile is not None else ""
        self.tray.set_status(
            self.last_text(name) if name else "—",
            self._tray_next(),
            can_sync=bool(name) and not self.window.sync_page.running and name not in self.running,
        )

    def _tray_next(self) -> str:
        upcoming = [(t, n) for n in self.scheduler.profiles() if (t := self.scheduler.next_run(n)) is not None]
        upcoming += [
            (t, n)
            for n, s in self.states.items()
            if s.by_system and (t := next_slot(s.profile.schedule, self.clock())) is not None
        ]
        if not upcoming:
            return "no schedule"
        when, name = min(upcoming)
        text = when_text(max(when, self.clock()), self.clock())
        return text if len({n for _t, n in upcoming}) == 1 else f"{text} ({name})"

    def sync_now(self) -> None:
        self.open_window()
        self.window.sync_page.start(RunMode.INCREMENTAL)

    def open_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
        self._update_tray()

    def quit(self) -> None:
        self.quitting = True
        if self.window.close():
            if self.tray is not None:
                self.tray.set_visible(False)
            QApplication.quit()
        else:
            self.quitting = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Closing the window hides it into the tray while something works in the background."""
        if watched is self.window and event.type() == QEvent.Type.Close and not self.quitting:
            if self.tray is not None and self.needs_tray():
                event.ignore()
                self.window.save_settings()
                self.window.hide()
                self.tray.set_visible(True)
                self._explain_once()
                return True
            if not QApplication.quitOnLastWindowClosed():
                QTimer.singleShot(0, self._quit_if_closed)  # the window may still refuse (a sync runs)
        return super().eventFilter(watched, event)

    def _quit_if_closed(self) -> None:
        if not self.window.isVisible():
            if self.tray is not None:
                self.tray.set_visible(False)
            QApplication.quit()

    def _explain_once(self) -> None:
        settings = gui_settings()
        if settings.value(EXPLAINED_KEY, False, type=bool):
            return
        settings.setValue(EXPLAINED_KEY, True)
        settings.sync()
        text = (
            f"{APP_TITLE} keeps running in the system tray, so scheduled syncs and the webhook receiver go on."
            " Click its icon to open the window; choose Quit in its menu to stop it."
        )
        assert self.tray is not None
        self.tray.notify("Still running in the tray", text, problem=False)


def _load(store: ProfileStore, sched: system.SystemScheduler) -> Loaded:
    loaded = Loaded()
    profiles, _errors = store.load_all()  # unreadable profiles are reported where they are opened
    try:
        by_system = {i.profile.casefold() for i in sched.installed() if i.active}
    except OSError as exc:
        by_system, loaded.system_error = set(), str(exc)
    for profile in profiles:
        last = None
        try:
            last = next((r for r in backend.list_runs(profile.name, LAST_RUNS_LOOKED_AT) if r.mode != "dry_run"), None)
        except Exception as exc:  # one unreadable ledger must not stop the others' schedules
            log.warning("cannot read the runs of %s: %s", profile.name, exc)
        loaded.states[profile.name] = ProfileState(profile, last, profile.name.casefold() in by_system)
    return loaded


__all__ = ["Scheduling", "last_run_text", "when_text"]


def _withheld_text(summary: RunSummary, name: str) -> str:
    """The notification of a scheduled run whose deletions wait: people are reviewed in History, account
    objects are approved with the command the run's message names."""
    parts = []
    if summary.withheld:
        parts.append(
            f"{summary.withheld:,} deletions await your approval (profile {name}). Click to review them in History."
        )
    if summary.objects_withheld:
        parts.append(
            f"{summary.objects_withheld:,} account object deletions were held back (profile {name}); History says why."
        )
    return " ".join(parts) or f"Deletions were held back (profile {name}). Click to see why in History."
