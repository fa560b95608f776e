"""The GUI's own settings file is private like every other file the app writes."""

from __future__ import annotations

import os
import stat

import pytest

from cio_desktop.config import paths
from cio_desktop.gui.settings import gui_settings

pytestmark = pytest.mark.posix_only


def test_gui_settings_file_is_0600_in_a_0700_folder_even_under_umask_0() -> None:
    old = os.umask(0)
    try:
        settings = gui_settings()
        settings.setValue("window/page", "History")
        settings.sync()
    finally:
        os.umask(old)
    path = paths.config_dir() / "gui.ini"
    assert "History" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.config_dir().stat().st_mode) == 0o700
