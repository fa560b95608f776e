"""The Sync page's schedule control: off / every N hours / daily at HH:MM, Sync changes or Full sync,
"Keep running when the app is closed" (the operating system's scheduler), and the "Last sync" / "Next
sync" lines.

A widget of its own beside the page's progress, so the Sync page itself stays about the run in hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import EVERY_HOURS_CHOICES, Profile, ScheduleKind, ScheduleSettings
from cio_desktop.gui import backend
from cio_desktop.gui.scheduling import Scheduling
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.tray import SystemTray, Tray
from cio_desktop.gui.widgets import StatusLine
from cio_desktop.gui.workers import JobContext
from cio_desktop.schedule import install as system
from cio_desktop.sync.summary import RunMode
from cio_desktop.sync.words import mode_text

if TYPE_CHECKING:
    from cio_desktop.gui.main_window import MainWindow

KINDS = ((ScheduleKind.OFF, "Off"), (ScheduleKind.EVERY, "Every"), (ScheduleKind.DAILY, "Daily at"))
SCHEDULE_WHAT_TIP = (
    f"{mode_text(RunMode.INCREMENTAL)}: the people and events that changed since the last sync."
    f" {mode_text(RunMode.FULL)}: everyone in the segments, and it also deletes people who left them (within"
    " the deletion guard). A scheduled run does not ask first: deletions the guard holds back wait in History."
)
KEEP_RUNNING_TIP = (
    "Let the operating system run this schedule (a systemd timer on Linux, a launch agent on macOS, a"
    " scheduled task on Windows), also when the app is closed. A time missed while the computer slept runs"
    " once when it wakes."
)


class SchedulePanel(QGroupBox):
    def __init__(self, scheduling: Scheduling, parent: QWidget | None = None) -> None:
        super().__init__("Schedule", parent)
        self.scheduling = scheduling
        self.ctx = scheduling.ctx
        self._loading = False
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Sync automatically:"))
        self.kind = QComboBox()
        self.kind.setAccessibleName("Schedule")
        for kind, text in KINDS:
            self.kind.addItem(text, kind.value)
        self.hours = QComboBox()
        self.hours.setAccessibleName("Hours between syncs")
        for h in EVERY_HOURS_CHOICES:
            self.hours.addItem("hour" if h == 1 else f"{h} hours", h)
        self.daily = QTimeEdit()
        self.daily.setDisplayFormat("HH:mm")
        self.daily.setAccessibleName("Time of the daily sync")
        self.daily.setToolTip("Local time of this computer")
        self.what = QComboBox()
        self.what.setAccessibleName("What scheduled syncs send")
        # The Sync page's names for the two kinds of run (sync/words.py), so a schedule reads as its button.
        self.what.addItem(mode_text(RunMode.INCREMENTAL), False)
        self.what.addItem(mode_text(RunMode.FULL), True)
        self.what.setToolTip(SCHEDULE_WHAT_TIP)
        for w in (self.kind, self.hours, self.daily, self.what):
            row.addWidget(w)
        row.addStretch(1)
        layout.addLayout(row)
        self.keep_running = QCheckBox("Keep running when the app is closed")
        self.keep_running.setToolTip(KEEP_RUNNING_TIP)
        layout.addWidget(self.keep_running)
        self.last_label = QLabel("Last sync: —")
        self.last_label.setAccessibleName("Last sync")
        self.next_label = QLabel("Next sync: —")
        self.next_label.setAccessibleName("Next sync")
        for label in (self.last_label, self.next_label):
            label.setWordWrap(True)
            layout.addWidget(label)
        self.status = StatusLine(name="Schedule status")
        layout.addWidget(self.status)

        self.kind.currentIndexChanged.connect(lambda _i: self._edited())
        self.hours.currentIndexChanged.connect(lambda _i: self._edited())
        self.daily.editingFinished.connect(self._edited)
        self.what.currentIndexChanged.connect(lambda _i: self._edited())
        self.keep_running.toggled.connect(self._keep_running_toggled)
        self.ctx.profile_changed.connect(self._profile_changed)
        scheduling.changed.connect(self.refresh)
        if self.ctx.demo:
            self.keep_running.setEnabled(False)
            self.keep_running.setToolTip("Not for the demo: its organization and files last only while the app runs.")
        self._profile_changed(self.ctx.profile)

    # ------------------------------------------------------------------ reading and writing the profile
    def settings(self) -> ScheduleSettings:
        return ScheduleSettings(
            ScheduleKind(self.kind.currentData()),
            every_hours=int(self.hours.currentData()),
            daily_at=self.daily.time().toString("HH:mm"),
            full=bool(self.what.currentData()),
        )

    def _profile_changed(self, profile: Profile | None) -> None:
        self.setEnabled(profile is not None)
        if profile is None:
            return
        s = profile.schedule
        self._loading = True
        try:
            self.kind.setCurrentIndex(self.kind.findData(s.kind.value))
            self.hours.setCurrentIndex(self.hours.findData(s.every_hours))
            self.daily.setTime(QTime.fromString(s.daily_at, "HH:mm"))
            self.what.setCurrentIndex(self.what.findData(s.full))
        finally:
            self._loading = False
        self._show_controls()
        self.refresh()

    def _show_controls(self) -> None:
        kind = ScheduleKind(self.kind.currentData())
        self.hours.setVisible(kind is ScheduleKind.EVERY)
        self.daily.setVisible(kind is ScheduleKind.DAILY)
        self.what.setVisible(kind is not ScheduleKind.OFF)

    def _edited(self) -> None:
        if self._loading or self.ctx.profile is None:
            return
        self._show_controls()
        settings = self.settings()
        if settings == self.ctx.profile.schedule:
            return
        problem = self.ctx.update(schedule=settings)
        if problem:
            self.status.show_status(ErrorKind.ERROR, problem)
            return
        self.status.clear_status()
        if self.keep_running.isChecked():
            # The system's copy follows the schedule; turning the schedule off removes it.
            self._system_job(install=settings.enabled)

    def refresh(self) -> None:
        profile = self.ctx.profile
        name = profile.name if profile is not None else ""
        self.last_label.setText(f"Last sync: {self.scheduling.last_text(name)}")
        self.next_label.setText(f"Next sync: {self.scheduling.next_text(name)}")
        state = self.scheduling.state(name)
        self._set_checked(state is not None and state.by_system)

    def _set_checked(self, on: bool) -> None:
        self.keep_running.blockSignals(True)
        self.keep_running.setChecked(on)
        self.keep_running.blockSignals(False)

    # ------------------------------------------------------------------ the operating system's copy
    def _keep_running_toggled(self, on: bool) -> None:
        profile = self.ctx.profile
        if profile is None:
            return
        if on and not profile.schedule.enabled:
            self._set_checked(False)
            self.status.show_status(ErrorKind.WARNING, "Choose when to sync first (every … hours, or daily at …).")
            return
        self._system_job(install=on)

    def _system_job(self, *, install: bool) -> None:
        profile, sched = self.ctx.profile, self.scheduling.system
        if profile is None:
            return
        self.keep_running.setEnabled(False)
        self.status.show_status(ErrorKind.BUSY, "Asking the system's scheduler…")

        def work(_job: JobContext) -> system.Outcome | None:
            if install:
                return system.install_for_profile(profile, sched)
            return sched.remove(profile.name)

        def done(outcome: system.Outcome | None) -> None:
            self.keep_running.setEnabled(not self.ctx.demo)
            if not install:
                self.status.show_status(
                    ErrorKind.OK, "The system no longer runs this schedule; the app does while open."
                )
            elif outcome is not None and outcome.notes:
                self.status.show_status(ErrorKind.WARNING, " ".join(outcome.notes))
            elif outcome is not None and outcome.enabled:
                self.status.show_status(
                    ErrorKind.OK, f"The system runs this schedule now, also when the app is closed ({sched.name})."
                )
            self.scheduling.reload()

        def failed(exc: BaseException) -> None:
            self.keep_running.setEnabled(not self.ctx.demo)
            self.status.show_status(ErrorKind.ERROR, backend.error_text(exc))
            self.scheduling.reload()

        self.ctx.runner.submit(self.ctx.key("system-schedule"), work, on_result=done, on_error=failed, serial=True)


def add_scheduling(window: MainWindow, tray: Tray | None, **options: Any) -> Scheduling:
    """Give ``window`` its in-app scheduler, the tray (None: no tray here) and the Sync page's panel."""
    scheduling = Scheduling(window, tray, **options)
    panel = SchedulePanel(scheduling)
    panel.setObjectName("schedulePanel")
    window.sync_page.body_layout.insertWidget(2, panel)  # under the run buttons and their hint
    if isinstance(tray, SystemTray):
        window.sync_page.tray = tray.icon  # one icon: the Sync page's "Sync finished" message uses it too
    return scheduling


__all__ = ["SchedulePanel", "add_scheduling"]
