"""What differs between macOS, Windows and Linux in the GUI, behind two predicates tests can fake."""

from __future__ import annotations

import sys

from PySide6.QtGui import QKeySequence


def is_macos() -> bool:
    return sys.platform == "darwin"


def is_windows() -> bool:
    return sys.platform == "win32"


def native_keys(keys: str | QKeySequence | QKeySequence.StandardKey) -> str:
    """A shortcut as this platform spells it (``Ctrl+R`` is ``⌘R`` on a Mac), for tooltips and labels."""
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)
