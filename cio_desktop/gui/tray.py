"""The system-tray icon, behind a small interface so the app's logic is tested with a fake.

Offscreen Qt (the test suite) has no system tray, and some Linux desktops have none either: then
:func:`system_tray` returns None and the app behaves as before (closing the window quits).
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from cio_desktop import APP_TITLE
from cio_desktop.gui.resources import app_icon


class TraySignals(QObject):
    """What the tray asks of the app."""

    sync_now = Signal()
    open_window = Signal()
    quit = Signal()
    message_clicked = Signal()


class Tray(Protocol):
    """A tray icon: a menu with two status lines and three actions, and notifications."""

    signals: TraySignals

    def set_visible(self, visible: bool) -> None: ...
    def is_visible(self) -> bool: ...
    def set_status(self, last: str, next_run: str, *, can_sync: bool) -> None: ...
    def notify(self, title: str, text: str, *, problem: bool) -> None: ...


class SystemTray:
    """The real tray icon (QSystemTrayIcon). Clicking the icon opens the window; its menu holds the rest."""

    def __init__(self, parent: QObject | None = None) -> None:
        self.signals = TraySignals(parent)
        self.icon = QSystemTrayIcon(app_icon(), parent)
        self.icon.setToolTip(APP_TITLE)
        self.menu = QMenu()
        self.last_action = QAction("Last sync: —", self.menu)
        self.next_action = QAction("Next sync: —", self.menu)
        for line in (self.last_action, self.next_action):
            line.setEnabled(False)  # status lines, not commands
            self.menu.addAction(line)
        self.menu.addSeparator()
        self.sync_action = self.menu.addAction("Sync now")
        self.open_action = self.menu.addAction("Open window")
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction("Quit")
        self.sync_action.triggered.connect(self.signals.sync_now)
        self.open_action.triggered.connect(self.signals.open_window)
        self.quit_action.triggered.connect(self.signals.quit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self.signals.message_clicked)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.signals.open_window.emit()

    def set_visible(self, visible: bool) -> None:
        self.icon.setVisible(visible)

    def is_visible(self) -> bool:
        return self.icon.isVisible()

    def set_status(self, last: str, next_run: str, *, can_sync: bool) -> None:
        self.last_action.setText(f"Last sync: {last}")
        self.next_action.setText(f"Next sync: {next_run}")
        self.sync_action.setEnabled(can_sync)
        self.icon.setToolTip(f"{APP_TITLE}\nLast sync: {last}\nNext sync: {next_run}")

    def notify(self, title: str, text: str, *, problem: bool) -> None:
        icon = QSystemTrayIcon.MessageIcon.Warning if problem else QSystemTrayIcon.MessageIcon.Information
        self.icon.showMessage(title, text, icon, 15000)


def system_tray(parent: QObject | None = None) -> SystemTray | None:
    """The platform's tray icon, or None where there is no tray to put it in.

    With a tray, closing the last window no longer quits by itself: a message or dialog closed while
    the window waits hidden in the tray must not end the app. Quitting is then explicit (the tray's
    Quit, or closing the window while nothing runs in the background; see gui/scheduling.py)."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    QApplication.setQuitOnLastWindowClosed(False)
    return SystemTray(parent)


__all__ = ["SystemTray", "Tray", "TraySignals", "system_tray"]
