"""Feels native: the menu bar's standard roles and keys, shortcuts in the platform's own spelling, the
monospace font, the window size on a small screen and the Windows AppUserModelID (platforms faked)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from cio_desktop.config.secrets import SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui import platform
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.workers import JobRunner

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


@pytest.fixture
def window(qtbot) -> MainWindow:
    w = MainWindow(JobRunner(), ProfileStore(), SecretStore.in_memory())
    qtbot.addWidget(w)
    return w


def test_menu_bar_has_about_settings_and_quit_in_their_standard_roles(window) -> None:
    actions = window.menu_actions
    assert actions.about.menuRole() is QAction.MenuRole.AboutRole
    assert actions.settings.menuRole() is QAction.MenuRole.PreferencesRole
    assert actions.quit.menuRole() is QAction.MenuRole.QuitRole
    assert actions.close.menuRole() is QAction.MenuRole.NoRole
    in_bar = [a for menu in window.menuBar().actions() for a in menu.menu().actions()]
    for action in (actions.about, actions.settings, actions.quit, actions.close):
        assert action in in_bar


def test_quit_and_close_window_use_the_platforms_standard_keys(window) -> None:
    actions = window.menu_actions
    assert actions.close.shortcuts() == QKeySequence.keyBindings(QKeySequence.StandardKey.Close)
    # Ctrl is ⌘ on macOS, so this is ⌘W there and Ctrl+W elsewhere.
    assert QKeySequence("Ctrl+W") in actions.close.shortcuts()
    assert QKeySequence("Ctrl+Q") in actions.quit.shortcuts()


def test_quit_has_no_made_up_key_on_windows_where_alt_f4_closes(qtbot, monkeypatch) -> None:
    monkeypatch.setattr(platform, "is_windows", lambda: True)
    w = MainWindow(JobRunner(), ProfileStore(), SecretStore.in_memory())
    qtbot.addWidget(w)
    assert QKeySequence("Ctrl+Q") not in w.menu_actions.quit.shortcuts()


def test_settings_opens_the_connect_page_and_close_window_closes(qtbot, window) -> None:
    window.show()
    window.show_page("History")
    window.menu_actions.settings.trigger()
    assert window.current_page_name() == "Connect"
    window.menu_actions.close.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


def test_about_names_the_app_and_its_version(window, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "about", lambda _parent, title, text: shown.append(title + " " + text))
    window.menu_actions.about.trigger()
    assert shown and "Hull to Customer.io" in shown[0] and "0.1.0" in shown[0]
