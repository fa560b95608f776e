"""Where cio-desktop keeps its files (platformdirs), with one override for tests and demo mode.

``CIO_DESKTOP_HOME`` (when set) puts config, data and logs under that one folder, so the test suite
and demo mode never touch the user's real profiles, ledgers or logs.

Per-profile folders sit in the data folder beside the app's own entries, and on macOS and Windows
the config folder *is* the data folder (and on Windows the logs are its ``Logs`` subfolder). So a
profile must not be named like one of those entries: :data:`RESERVED_NAMES` lists every one of them
(add any new entry the app keeps in the config or data folder here).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from cio_desktop import APP_NAME

HOME_ENV = "CIO_DESKTOP_HOME"

PROFILES_DIRNAME = "profiles"
FILE_CACHE_DIRNAME = "file-cache"
GUI_SETTINGS_FILENAME = "gui.ini"
# What the app keeps beside the per-profile folders (compared ignoring case: macOS and Windows file
# systems do): profile files, the export-file cache, the GUI's settings file with the lock Qt takes
# on it, and the log folder ("Logs" in the data folder on Windows, "logs" under CIO_DESKTOP_HOME).
RESERVED_NAMES = frozenset(
    {PROFILES_DIRNAME, FILE_CACHE_DIRNAME, GUI_SETTINGS_FILENAME, GUI_SETTINGS_FILENAME + ".lock", "logs"}
)


def _override() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value) if value else None


def config_dir() -> Path:
    root = _override()
    return root / "config" if root else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def profiles_dir() -> Path:
    return config_dir() / PROFILES_DIRNAME


def data_dir() -> Path:
    root = _override()
    return root / "data" if root else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def profile_data_dir(profile_name: str) -> Path:
    """Per-profile state: the ledger (``ledger.sqlite3``), the webhook inbox, the run lock, exports.

    ``profile_name`` must be the stored spelling (:meth:`ProfileStore.resolve
    <cio_desktop.config.store.ProfileStore.resolve>`): on Linux the file system tells case apart."""
    return data_dir() / profile_name


def file_cache_dir() -> Path:
    """What the export-file source learnt about each file (counts, offsets), to skip a rescan."""
    return data_dir() / FILE_CACHE_DIRNAME


def is_reserved_name(profile_name: str) -> bool:
    """Whether a profile of that name would share its data folder with one of the app's own entries."""
    return profile_name.casefold() in RESERVED_NAMES


def log_dir() -> Path:
    root = _override()
    return root / "logs" if root else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
