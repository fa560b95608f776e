"""The main-window part of ``cio-desktop selfcheck``: open the real window offscreen, then close it."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QCoreApplication, QEventLoop

from cio_desktop.config.secrets import SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui.app import make_app
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.workers import JobRunner


def open_and_close_main_window(settle_s: float = 0.5) -> str:
    """Build, show and close the main window; raise RuntimeError if it never became visible.

    Uses the profile store of the current home (selfcheck points it at a throw-away folder) and an
    in-memory secret store, so nothing of the user's is read or written.
    """
    app = make_app()
    runner = JobRunner()
    window = MainWindow(runner, ProfileStore(), SecretStore.in_memory())
    runner.setParent(window)
    window.load_profiles(None)
    window.show()
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    shown = window.isVisible()
    title = window.windowTitle()
    window.close()  # closeEvent shuts the worker pools down
    QCoreApplication.processEvents()
    app.quit()
    if not shown:
        raise RuntimeError("the main window did not become visible")
    return f"opened and closed ({title!r}, platform {os.environ.get('QT_QPA_PLATFORM', 'default')})"
