"""How a result is shown on a :class:`~cio_desktop.gui.widgets.StatusLine`."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """The kind of an inline result. The values are the stylesheet's ``QLabel[status="..."]`` selectors
    (resources/style.qss colours each one), so they must not change."""

    PLAIN = ""  # plain text: no mark, no colour
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    BUSY = "busy"


# The mark before the text: the kind is not told by colour alone.
MARK: dict[ErrorKind, str] = {
    ErrorKind.OK: "\u2713 ",
    ErrorKind.ERROR: "\u2717 ",
    ErrorKind.WARNING: "\u26a0 ",
}
