"""Window geometry and the last page, in QSettings (under CIO_DESKTOP_HOME when it is set)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings

from cio_desktop import APP_NAME
from cio_desktop.config import paths
from cio_desktop.config.private import private_file


def gui_settings() -> QSettings:
    if os.environ.get(paths.HOME_ENV):
        # Tests and demo mode: an ini file inside that folder, never the user's own settings.
        settings = QSettings(str(paths.config_dir() / "gui.ini"), QSettings.Format.IniFormat)
    else:
        settings = QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, APP_NAME, APP_NAME)
    # Where it is a file of ours (an ini file; not macOS's preferences nor Windows's registry), create it
    # 0600 before Qt does: Qt keeps an existing file's mode when it saves, but creates new ones 0644.
    if os.name == "posix" and (settings.format() == QSettings.Format.IniFormat or sys.platform != "darwin"):
        private_file(Path(settings.fileName()))
    return settings
