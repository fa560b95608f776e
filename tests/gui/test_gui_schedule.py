"""Scheduled syncs in the app, the Sync page's schedule panel and the tray (a fake: offscreen Qt has none).

The scheduler's clock is injected and moved by hand: nothing here sleeps until a slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTime
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from cio_desktop.config.lock import RunLock
from cio_desktop.config.paths import profile_data_dir
from cio_desktop.config.profile import ScheduleKind, ScheduleSettings
from cio_desktop.config.secrets import SecretKey
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.plan_dialog import PlanDialog
from cio_desktop.gui.schedule_panel import SchedulePanel, add_scheduling
from cio_desktop.gui.scheduling import Scheduling
from cio_desktop.gui.tray import SystemTray, TraySignals
from cio_desktop.sandbox import Sandbox
from cio_desktop.schedule import install as system
from cio_desktop.sync.plan import Plan, SourceStamp
from cio_desktop.sync.summary import RunMode

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints", "This plugin does not support raise"),
]

START = datetime(2026, 3, 2, 8, 40)
HOURLY = ScheduleSettings(ScheduleKind.EVERY, every_hours=1)


class FakeTray:
    """Records what the app shows in the tray; tests press its menu entries through ``signals``."""

    def __init__(self) -> None:
        self.signals = TraySignals()
        self.visible = False
        self.last = self.next = ""
        self.can_sync = False
        self.messages: list[tuple[str, str, bool]] = []

    def set_visible(self, visible: bool) -> None:
        self.visible = visible

    def is_visible(self) -> bool:
        return self.visible

    def set_status(self, last: str, next_run: str, *, can_sync: bool) -> None:
        self.last, self.next, self.can_sync = last, next_run, can_sync

    def notify(self, title: str, text: str, *, problem: bool) -> None:
        self.messages.append((title, text, problem))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Commands:
    def __call__(self, argv: Sequence[str]) -> system.Completed:
        if argv[0] == "systemd-run":
            return system.Completed(0, '{"secrets": {"hull_secret": "set", "cio_api_key": "set"}}')
        return system.Completed(0, "enabled")


Setup = tuple[MainWindow, Scheduling, FakeTray, Clock]


@pytest.fixture
def scheduled(qtbot: Any, make_sandbox: Any, make_window: Any, tmp_path: Path) -> Iterator[Callable[..., Setup]]:
    made: list[Scheduling] = []

    def make(sb: Sandbox | None = None, **changes: Any) -> Setup:
        window = make_window(sb or make_sandbox(users=150), **changes)
        tray, clock = FakeTray(), Clock()
        scheduler = system.SystemdUser(tmp_path / "units", Commands())
        scheduling = add_scheduling(window, tray, clock=clock, system_scheduler=scheduler)
        qtbot.waitUntil(lambda: window.ctx.profile is not None and window.ctx.profile.name in scheduling.states)
        made.append(scheduling)
        return window, scheduling, tray, clock

    yield make
    for scheduling in made:
        scheduling.quitting = True  # the window's own teardown closes it for real


def panel_of(window: MainWindow) -> SchedulePanel:
    panel = window.sync_page.findChild(SchedulePanel)
    assert panel is not None
    return panel


def turn_on(qtbot: Any, window: MainWindow, scheduling: Scheduling, settings: ScheduleSettings) -> None:
    panel = panel_of(window)
    with qtbot.waitSignal(scheduling.changed, timeout=10000):
        panel.kind.setCurrentIndex(panel.kind.findData(settings.kind.value))
        panel.hours.setCurrentIndex(panel.hours.findData(settings.every_hours))
        panel.daily.setTime(QTime.fromString(settings.daily_at, "HH:mm"))
        panel.daily.editingFinished.emit()
        panel.what.setCurrentIndex(panel.what.findData(settings.full))
    expected = settings if settings.enabled else None
    qtbot.waitUntil(lambda: scheduling.scheduler.settings(window.ctx.profile.name) == expected, timeout=10000)


def test_the_panel_saves_the_schedule_and_shows_last_and_next_sync(qtbot: Any, scheduled: Any) -> None:
    window, scheduling, tray, _clock = scheduled()
    panel = panel_of(window)
    assert panel.last_label.text() == "Last sync: never"
    assert panel.next_label.text() == "Next sync: off (no schedule)"
    assert not panel.hours.isVisibleTo(panel) and not panel.daily.isVisibleTo(panel)
    assert not tray.visible, "no tray while nothing runs in the background"
    turn_on(qtbot, window, scheduling, ScheduleSettings(ScheduleKind.DAILY, daily_at="18:15", full=True))
    assert window.ctx.store.load(window.ctx.profile.name).schedule.daily_at == "18:15"
    assert panel.daily.isVisibleTo(panel) and not panel.hours.isVisibleTo(panel)
    qtbot.waitUntil(lambda: panel.next_label.text() == "Next sync: today 18:15")
    assert tray.visible and tray.next == "today 18:15" and tray.can_sync


def test_a_slot_runs_a_sync_without_any_dialog_and_updates_last_sync(qtbot: Any, scheduled: Any) -> None:
    window, scheduling, tray, clock = scheduled()
    turn_on(qtbot, window, scheduling, HOURLY)
    assert scheduling.next_text(window.ctx.profile.name) == "today 09:00"
    clock.now = START + timedelta(hours=5)  # the laptop slept through four slots
    scheduling.tick()
    assert scheduling.next_text(window.ctx.profile.name) == "running now"
    qtbot.waitUntil(lambda: not scheduling.running, timeout=60000)
    qtbot.waitUntil(lambda: "(Completed" in panel_of(window).last_label.text(), timeout=10000)
    history = window.history_page
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 1, timeout=10000)  # one run, not four
    assert "sent)" in tray.last
    assert panel_of(window).next_label.text() == "Next sync: today 14:00"
    assert tray.messages == [], "a run that went well stays quiet"
    assert QApplication.activeModalWidget() is None
    assert [w for w in QApplication.topLevelWidgets() if w.isVisible()] == [window], "no dialog opened"


def test_withheld_deletions_notify_and_the_click_opens_the_run_in_history(
    qtbot: Any, make_sandbox: Any, scheduled: Any
) -> None:
    window, scheduling, tray, clock = scheduled(
        make_sandbox(users=400), delete_on_leave=True, write_back=False, events=()
    )
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000):
        sync.start("full")
    profile = window.ctx.profile
    window.ctx.update(segments=profile.segments[2:])  # many people leave the audience
    turn_on(qtbot, window, scheduling, ScheduleSettings(ScheduleKind.EVERY, every_hours=1, full=True))
    clock.now = START + timedelta(minutes=30)
    scheduling.tick()
    qtbot.waitUntil(lambda: bool(tray.messages), timeout=60000)
    [(title, text, problem)] = tray.messages
    assert title == "Deletions await your approval" and problem
    assert text.split(" ")[1:4] == ["deletions", "await", "your"] and int(text.split(" ")[0].replace(",", "")) > 5
    window.show_page("Sync")
    tray.signals.message_clicked.emit()
    assert window.current_page_name() == "History"
    history = window.history_page
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 2, timeout=10000)
    qtbot.waitUntil(lambda: getattr(history.selected_run(), "status_text", "") == "Deletions withheld", timeout=10000)
    assert history.selected_run().id == scheduling.pending_history_run[1]


def test_a_failed_scheduled_run_notifies_with_the_reason(qtbot: Any, scheduled: Any) -> None:
    window, scheduling, tray, clock = scheduled()
    window.ctx.secrets.set(window.ctx.profile.name, SecretKey.CIO_API_KEY, "wrong-key")
    turn_on(qtbot, window, scheduling, HOURLY)
    clock.now = START + timedelta(hours=1)
    scheduling.tick()
    qtbot.waitUntil(lambda: bool(tray.messages), timeout=60000)
    [(title, text, problem)] = tray.messages
    assert title == f"Scheduled sync of {window.ctx.profile.name} did not complete" and problem
    assert "Customer.io" in text and text.endswith("Click to see it in History.")
    tray.signals.message_clicked.emit()
    assert window.current_page_name() == "History"


def test_a_profile_already_syncing_is_skipped_and_said_so(qtbot: Any, scheduled: Any) -> None:
    window, scheduling, tray, clock = scheduled()
    with qtbot.waitSignal(window.sync_page.run_finished, timeout=60000):
        window.sync_page.start("full")  # an earlier run in History: the skip is still what the panel says
    turn_on(qtbot, window, scheduling, HOURLY)
    name = window.ctx.profile.name
    with RunLock(profile_data_dir(name) / "run.lock"):  # another process is syncing this profile
        clock.now = datetime.now() + timedelta(hours=1)  # after the real run above
        scheduling.tick()
        qtbot.waitUntil(lambda: not scheduling.running, timeout=60000)
    skipped = f"; then skipped at {clock.now:%H:%M}: another sync of this profile was running"
    qtbot.waitUntil(lambda: skipped in panel_of(window).last_label.text(), timeout=10000)
    assert "(Completed, " in panel_of(window).last_label.text()
    assert tray.messages == []
    assert scheduling.scheduler.due() == [], "a skipped slot waits for the next one, it does not retry in a loop"


def test_closing_the_window_keeps_it_in_the_tray_and_explains_once(qtbot: Any, scheduled: Any) -> None:
    window, scheduling, tray, _clock = scheduled()
    turn_on(qtbot, window, scheduling, HOURLY)
    window.close()
    assert not window.isVisible() and tray.visible
    assert [m[0] for m in tray.messages] == ["Still running in the tray"]
    tray.signals.open_window.emit()
    assert window.isVisible()
    window.close()
    assert not window.isVisible() and len(tray.messages) == 1, "explained the first time only"
    tray.signals.sync_now.emit()
    assert window.isVisible() and window.sync_page.running
    qtbot.waitUntil(lambda: not window.sync_page.running, timeout=60000)


def test_without_schedules_or_receiver_closing_quits_and_the_tray_goes_away(qtbot: Any, scheduled: Any) -> None:
    window, scheduling, tray, _clock = scheduled()
    turn_on(qtbot, window, scheduling, HOURLY)
    assert tray.visible
    turn_on(qtbot, window, scheduling, ScheduleSettings())
    qtbot.waitUntil(lambda: not tray.visible, timeout=10000)
    scheduling.quitting = False
    assert window.close() and not window.isVisible()
    assert tray.messages == []


def test_keep_running_when_closed_hands_the_schedule_to_the_system_and_back(
    qtbot: Any, scheduled: Any, tmp_path: Path
) -> None:
    window, scheduling, _tray, _clock = scheduled()
    panel = panel_of(window)
    panel.keep_running.setChecked(True)
    assert "Choose when to sync first" in panel.status.text() and not panel.keep_running.isChecked()
    turn_on(qtbot, window, scheduling, HOURLY)
    name = window.ctx.profile.name
    panel.keep_running.setChecked(True)
    qtbot.waitUntil(lambda: scheduling.states[name].by_system, timeout=10000)
    assert "The system runs this schedule now" in panel.status.text()
    timer = tmp_path / "units" / f"cio-desktop-sync-{name.lower()}.timer"
    assert "OnCalendar=*-*-* *:00:00" in timer.read_text()
    assert panel.next_label.text() == "Next sync: today 09:00 (by the system, also when the app is closed)"
    assert scheduling.scheduler.profiles() == [], "the app does not run it a second time"
    panel.daily.setTime(QTime(6, 45))
    panel.kind.setCurrentIndex(panel.kind.findData("daily"))  # the system's copy follows the change
    qtbot.waitUntil(lambda: "OnCalendar=*-*-* 06:45:00" in timer.read_text(), timeout=10000)
    panel.keep_running.setChecked(False)
    qtbot.waitUntil(lambda: not timer.exists() and not scheduling.states[name].by_system, timeout=10000)
    assert scheduling.scheduler.profiles() == [name], "the app runs it again while open"


def test_the_real_tray_menu_shows_the_status_lines_and_forwards_its_commands(qtbot: Any) -> None:
    tray = SystemTray()
    tray.set_status("today 09:00 (Completed, 12 sent)", "today 10:00", can_sync=False)
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == [
        "Last sync: today 09:00 (Completed, 12 sent)",
        "Next sync: today 10:00",
        "Sync now",
        "Open window",
        "Quit",
    ]
    assert not tray.last_action.isEnabled() and not tray.sync_action.isEnabled()
    for action, signal in (
        (tray.open_action, tray.signals.open_window),
        (tray.quit_action, tray.signals.quit),
    ):
        with qtbot.waitSignal(signal, timeout=1000):
            action.trigger()
    with qtbot.waitSignal(tray.signals.open_window, timeout=1000):
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)


def test_the_schedule_and_the_confirmation_name_runs_as_the_sync_pages_buttons_do(qtbot: Any, scheduled: Any) -> None:
    window, _scheduling, _tray, _clock = scheduled()
    buttons = {
        mode: window.sync_page.mode_buttons[mode].text().replace("&", "")
        for mode in (RunMode.INCREMENTAL, RunMode.FULL)
    }
    assert buttons == {RunMode.INCREMENTAL: "Sync changes", RunMode.FULL: "Full sync"}
    panel = panel_of(window)
    assert [(panel.what.itemText(i), panel.what.itemData(i)) for i in range(panel.what.count())] == [
        ("Sync changes", False),
        ("Full sync", True),
    ]
    assert panel.what.toolTip().startswith("Sync changes: ") and " Full sync: " in panel.what.toolTip()
    for mode, name in buttons.items():
        plan = Plan(
            mode, 1, "site", "us", "users.jsonl", {}, {}, {}, SourceStamp("users.jsonl", (), None, "", None), 0.1
        )
        dialog = PlanDialog(window.ctx, plan, window)
        assert dialog.windowTitle() == f"Confirm: {name}"
        dialog.deleteLater()
