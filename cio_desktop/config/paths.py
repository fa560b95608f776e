"""Where cio-desktop keeps its files (platformdirs), with one override for tests and demo mode.

``CIO_DESKTOP_HOME`` (when set) puts config, data and logs under that one folder, so the test suite
and demo mode never touch the user's real profiles, ledgers or logs.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from cio_desktop import APP_NAME

HOME_ENV = "CIO_DESKTOP_HOME"


def _override() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value) if value else None


def config_dir() -> Path:
    root = _override()
    return root / "config" if root else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def profiles_dir() -> Path:
    return config_dir() / "profiles"


def data_dir() -> Path:
    root = _override()
    return root / "data" if root else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def profile_data_dir(profile_name: str) -> Path:
    """Per-profile state: the ledger (``ledger.sqlite3``), the webhook inbox, exports."""
    return data_dir() / profile_name


def log_dir() -> Path:
    root = _override()
    return root / "logs" if root else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
