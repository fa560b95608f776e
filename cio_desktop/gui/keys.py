"""The app's own keyboard shortcuts, in one place so actions and the tooltips that name them agree."""

from __future__ import annotations

SYNC_KEY = "Ctrl+R"  # ⌘R on macOS: Qt's Ctrl is the Command key there
CANCEL_KEY = "Ctrl+."
# Not QKeySequence.StandardKey.Refresh: on macOS and GNOME that is Ctrl+R, which syncs here.
RELOAD_KEY = "F5"


def page_key(index: int) -> str:
    """Ctrl+1 opens the first page."""
    return f"Ctrl+{index + 1}"
