"""The main window's menu bar. Actions carry Qt's standard roles, so on macOS Qt moves About, Settings
and Quit into the application menu where Mac users look for them; elsewhere they stay in File and Help."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from cio_desktop import APP_TITLE, __version__
from cio_desktop.gui import platform


@dataclass(frozen=True)
class MenuActions:
    settings: QAction
    close: QAction
    quit: QAction
    about: QAction


def build_menu_bar(window: QMainWindow, open_settings: Callable[[], None]) -> MenuActions:
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    settings = file_menu.addAction("Settings…", open_settings)
    settings.setMenuRole(QAction.MenuRole.PreferencesRole)
    settings.setShortcuts(QKeySequence.StandardKey.Preferences)  # ⌘, on macOS; none elsewhere
    file_menu.addSeparator()
    close = file_menu.addAction("Close Window", window.close)
    close.setShortcuts(QKeySequence.StandardKey.Close)
    close.setMenuRole(QAction.MenuRole.NoRole)  # "Close" must not be mistaken for Quit on macOS
    # Quit closes every window through its closeEvent, so a running sync still asks first.
    quit_ = file_menu.addAction("Quit", QApplication.closeAllWindows)
    quit_.setShortcuts(quit_keys())
    quit_.setMenuRole(QAction.MenuRole.QuitRole)
    help_menu = bar.addMenu("&Help")
    about = help_menu.addAction(f"About {APP_TITLE}", lambda: show_about(window))
    about.setMenuRole(QAction.MenuRole.AboutRole)
    return MenuActions(settings=settings, close=close, quit=quit_, about=about)


def quit_keys() -> list[QKeySequence]:
    """The platform's Quit keys (⌘Q, Ctrl+Q on Linux desktops). Windows has none (Alt+F4 closes the
    window); a platform theme without any (e.g. offscreen) gets Ctrl+Q as on Linux."""
    keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
    if keys or platform.is_windows():
        return keys
    return [QKeySequence("Ctrl+Q")]


def show_about(window: QMainWindow) -> None:
    QMessageBox.about(
        window,
        f"About {APP_TITLE}",
        f"<b>{APP_TITLE}</b> {__version__}<br>Syncs a Hull organization to a Customer.io workspace and "
        "receives Customer.io reporting webhooks.",
    )
