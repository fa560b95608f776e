"""What differs between macOS, Windows and Linux in the GUI, behind two predicates tests can fake."""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QKeySequence


def is_macos() -> bool:
    return sys.platform == "darwin"


def is_windows() -> bool:
    return sys.platform == "win32"


def native_keys(keys: str | QKeySequence | QKeySequence.StandardKey) -> str:
    """A shortcut as this platform spells it (``Ctrl+R`` is ``⌘R`` on a Mac), for tooltips and labels."""
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)


# Windows groups taskbar buttons and names toast notifications by this ID; without one a Python-run
# app shows up as "Python". Company.Product form, as Windows asks.
APP_USER_MODEL_ID = "cio-desktop.cio-desktop"


def _shell_set_app_id(app_id: str) -> None:
    if sys.platform == "win32":
        import ctypes

        ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(app_id)


set_app_id: Callable[[str], None] = _shell_set_app_id  # tests swap in a recorder


def set_app_user_model_id() -> bool:
    """On Windows, give this process the app's own identity (before any window exists); True if set."""
    if not is_windows():
        return False
    set_app_id(APP_USER_MODEL_ID)
    return True


# The window opens at this size when there is none remembered, but never over 90% of the screen's free
# area: a 1080p laptop at 150% scaling has 1280x720 logical pixels, less the taskbar.
DEFAULT_WINDOW_SIZE = QSize(1180, 780)
SCREEN_SHARE = 0.9


def default_window_size(available: QRect) -> QSize:
    return DEFAULT_WINDOW_SIZE.boundedTo(
        QSize(int(available.width() * SCREEN_SHARE), int(available.height() * SCREEN_SHARE))
    )
