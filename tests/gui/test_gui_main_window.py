"""Main window behaviour: closing during a sync, remembered page/geometry, profile switcher, demo mode."""

from __future__ import annotations

import os

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from cio_desktop.config import paths
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui import backend
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.workers import JobRunner

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_closing_during_a_sync_asks_then_cancels_and_closes(qtbot, make_sandbox, make_window, monkeypatch) -> None:
    sb = make_sandbox(users=3000, seed=12)
    sb.set_faults("hull", latency_ms=150)
    window = make_window(sb)
    asked: list[str] = []

    def answer(*args, **kwargs):
        asked.append(args[1])
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    sync = window.sync_page
    sync.start("full")
    qtbot.waitUntil(lambda: sync.last_progress is not None and sync.last_progress.done > 0, timeout=30000)
    assert window.close() is False  # not yet: the run is being cancelled
    assert asked == ["A sync is running"]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert not sync.running
    runs = backend.list_runs(window.ctx.profile.name)
    assert runs[0].status.value == "cancelled"


def test_declining_to_close_during_a_sync_keeps_it_running(qtbot, make_sandbox, make_window, monkeypatch) -> None:
    sb = make_sandbox(users=3000, seed=13)
    sb.set_faults("hull", latency_ms=150)
    window = make_window(sb)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    sync = window.sync_page
    sync.start("full")
    assert window.close() is False
    assert sync.running and window.isVisible()
    with qtbot.waitSignal(sync.run_finished, timeout=60000):
        sync.cancel()


def test_last_page_and_geometry_are_remembered(qtbot) -> None:
    store, secrets = ProfileStore(), SecretStore.in_memory()
    first = MainWindow(JobRunner(), store, secrets)
    qtbot.addWidget(first)
    first.resize(720, 500)  # inside the 800x600 offscreen screen, so nothing is clamped
    first.show()
    first.show_page("History")
    first.close()
    assert (paths.config_dir() / "gui.ini").exists()  # under CIO_DESKTOP_HOME, not the user's settings
    second = MainWindow(JobRunner(), store, secrets)
    qtbot.addWidget(second)
    assert second.current_page_name() == "History"
    assert (second.width(), second.height()) == (720, 500)


def test_profile_switcher_duplicates_renames_and_deletes(qtbot, make_sandbox, make_window, monkeypatch) -> None:
    sb = make_sandbox(users=50)
    window = make_window(sb)
    names = iter(["Copy", "Renamed"])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (next(names), True))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)

    with qtbot.waitSignal(window.profiles_loaded, timeout=10000) as loaded:
        window.duplicate_profile()
    assert sorted(loaded.args[0]) == ["Copy", "Demo"]
    qtbot.waitUntil(lambda: window.ctx.profile.name == "Copy", timeout=5000)

    with qtbot.waitSignal(window.profiles_loaded, timeout=10000) as loaded:
        window.rename_profile()
    assert sorted(loaded.args[0]) == ["Demo", "Renamed"]
    qtbot.waitUntil(lambda: window.ctx.profile.name == "Renamed", timeout=5000)
    assert window.profile_combo.currentText() == "Renamed"
    assert "Profile: Renamed" in window.status_profile.text()

    with qtbot.waitSignal(window.profiles_loaded, timeout=10000) as loaded:
        window.delete_profile()
    assert loaded.args[0] == ["Demo"]
    assert window.secrets.get("Demo", SecretKey.HULL_SECRET)  # the other profile keeps its secrets


def test_demo_mode_opens_on_the_sandbox_without_touching_real_profiles(qtbot, isolated_home) -> None:
    from cio_desktop.gui.app import create_window

    window = create_window(demo=True)
    qtbot.addWidget(window)
    try:
        window.show()
        assert window.demo_badge.isVisible()
        qtbot.waitUntil(lambda: window.ctx.catalog is not None, timeout=30000)
        assert window.ctx.profile.name == "Demo"
        demo_home = os.environ[paths.HOME_ENV]
        assert demo_home != str(isolated_home)
        assert not (isolated_home / "config" / "profiles").exists()
        assert "in-memory" in window.status_keyring.text() or "memory" in window.secrets.where_text()
    finally:
        window.close()
        window.demo_session.stop()
    assert not os.path.exists(demo_home)


def test_demo_webhook_page_has_a_working_url_and_send_test_event_succeeds(qtbot, isolated_home) -> None:
    from PySide6.QtCore import Qt

    from cio_desktop.gui.app import create_window

    window = create_window(demo=True)
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitUntil(lambda: window.ctx.catalog is not None, timeout=30000)
        window.show_page("Webhook")
        page = window.webhook_page
        qtbot.waitUntil(lambda: page.url_edit.text().startswith("http://127.0.0.1:"), timeout=10000)
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.stop_button.isEnabled(), timeout=10000)
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.test_status.status in ("ok", "error"), timeout=10000)
        assert page.test_status.status == "ok", page.test_status.text()
        qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=5000)
    finally:
        window.close()
        window.demo_session.stop()


def test_without_a_keyring_the_connect_page_says_why_and_how_to_fix_it(qtbot) -> None:
    from keyring.backends.fail import Keyring as FailKeyring

    window = MainWindow(JobRunner(), ProfileStore(), SecretStore(FailKeyring()))
    qtbot.addWidget(window)
    line = window.connect_page.secrets_line
    qtbot.waitUntil(lambda: line.status == "error", timeout=5000)
    assert "cannot be saved" in line.text()


def test_opening_an_unknown_profile_says_so_and_opens_another(qtbot) -> None:
    from cio_desktop.config.profile import Profile

    store = ProfileStore()
    store.save(Profile(name="Real"))
    window = MainWindow(JobRunner(), store, SecretStore.in_memory())
    qtbot.addWidget(window)
    window.load_profiles("Typo")
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=5000)
    assert window.ctx.profile.name == "Real"
    assert "no profile named “Typo”" in window.header_status.text()


def test_a_long_run_ending_in_the_background_notifies_the_desktop(qtbot, make_sandbox, make_window, monkeypatch):
    from PySide6.QtWidgets import QSystemTrayIcon

    from cio_desktop.gui.pages import sync as sync_page_module

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(sync_page_module, "NOTIFY_AFTER_S", 0.0)
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(QSystemTrayIcon, "supportsMessages", staticmethod(lambda: True))
    monkeypatch.setattr(QSystemTrayIcon, "showMessage", lambda self, title, text, *a: shown.append((title, text)))
    monkeypatch.setattr(QSystemTrayIcon, "show", lambda self: None)  # the offscreen platform has no tray
    window = make_window(make_sandbox(users=50))
    monkeypatch.setattr(window, "isActiveWindow", lambda: False)  # the user switched to another window
    with qtbot.waitSignal(window.sync_page.run_finished, timeout=30000):
        window.sync_page.start("full")
    assert shown and shown[0][0] == "Sync finished" and "Sent" in shown[0][1]


def test_renaming_the_open_profile_closes_its_webhook_inbox_first_then_reopens_it(
    qtbot, make_sandbox, make_window, monkeypatch
) -> None:
    # On Windows an open inbox blocks moving the profile's folder: the rename must close it first.
    sb = make_sandbox(users=20)
    window = make_window(sb)
    page = window.webhook_page
    qtbot.waitUntil(lambda: page.service is not None, timeout=10000)
    old = page.service
    order: list[str] = []
    real_close, real_rename = old.close, window.store.rename
    monkeypatch.setattr(old, "close", lambda: (order.append("close"), real_close())[-1])
    monkeypatch.setattr(window.store, "rename", lambda *a, **k: (order.append("rename"), real_rename(*a, **k))[-1])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Renamed", True))
    with qtbot.waitSignal(window.profiles_loaded, timeout=10000):
        window.rename_profile()
    assert order[:2] == ["close", "rename"]
    qtbot.waitUntil(
        lambda: page.service is not None and page.service is not old and page.profile.name == "Renamed",
        timeout=10000,
    )


def test_a_profile_left_while_its_tunnel_ran_is_saved_with_its_earlier_public_url(
    qtbot, make_sandbox, make_window
) -> None:
    sb = make_sandbox(users=20)
    window = make_window(sb, webhook_public_url="https://tunnel-gone.trycloudflare.com")
    name = window.ctx.profile.name
    window.webhook_page.public_url_restore.emit(name, "https://proxy.example.com")
    qtbot.waitUntil(lambda: ProfileStore().load(name).webhook_public_url == "https://proxy.example.com", timeout=5000)
    qtbot.waitUntil(lambda: window._profiles[name].webhook_public_url == "https://proxy.example.com", timeout=5000)
