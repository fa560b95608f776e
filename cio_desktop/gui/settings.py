"""Window geometry and the last page, in QSettings (under CIO_DESKTOP_HOME when it is set)."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

from cio_desktop import APP_NAME
from cio_desktop.config import paths


def gui_settings() -> QSettings:
    if os.environ.get(paths.HOME_ENV):
        # Tests and demo mode: an ini file inside that folder, never the user's own settings.
        return QSettings(str(paths.config_dir() / "gui.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, APP_NAME, APP_NAME)
