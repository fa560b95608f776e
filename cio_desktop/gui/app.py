"""Start the Qt application and open the main window."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QMainWindow

from cio_desktop import APP_NAME, APP_TITLE, __version__


def run_gui(*, demo: bool = False, profile: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    window = QMainWindow()
    window.setWindowTitle(APP_TITLE + (" (demo)" if demo else ""))
    window.resize(1100, 720)
    window.show()
    return int(app.exec())
