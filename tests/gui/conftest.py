"""GUI fixtures: a sandbox on loopback, and a main window opened on its demo profile."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.workers import JobRunner
from cio_desktop.sandbox import Sandbox


def sandbox_secrets(sb: Sandbox) -> dict[SecretKey, str]:
    c = sb.credentials
    return {
        SecretKey.HULL_SECRET: c.hull_secret,
        SecretKey.CIO_API_KEY: c.cio_api_key,
        SecretKey.CIO_APP_KEY: c.cio_app_key,
    }


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def make(users: int = 300, seed: int = 5, **kw: Any) -> Sandbox:
        sb = Sandbox(users=users, seed=seed, **kw).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()


@pytest.fixture
def make_window(qtbot: Any) -> Iterator[Callable[..., MainWindow]]:
    """A main window on the sandbox's demo profile (saved in the test's home, secrets in memory)."""
    windows: list[MainWindow] = []

    def make(sb: Sandbox, **profile_changes: Any) -> MainWindow:
        store = ProfileStore()
        secrets = SecretStore.in_memory()
        profile = sb.demo_profile()
        if profile_changes:
            profile = profile.replace(**profile_changes)
        store.save(profile)
        for key, value in sandbox_secrets(sb).items():
            secrets.set(profile.name, key, value)
        window = MainWindow(JobRunner(), store, secrets)
        qtbot.addWidget(window)
        window.show()
        window.load_profiles(profile.name)
        qtbot.waitUntil(lambda: window.ctx.profile is not None and window.ctx.catalog is not None, timeout=20000)
        windows.append(window)
        return window

    yield make
    for w in windows:
        w.runner.cancel_all()
        w.runner.wait_all(20000)
        QApplication.processEvents()  # deliver the outcomes, so no sync counts as running any more
        w.close()  # as quitting does: no new background job starts after this
        w.runner.shutdown(20000)
