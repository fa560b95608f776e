"""Suite-wide fixtures: every test gets its own config/data/log folders and keyring, never the user's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring.core
import pytest

from cio_desktop.config import logs
from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.secrets import InMemoryKeyring, SecretStore


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """posix_only tests (file modes, SIGKILL, flock) are skipped where os.name is not "posix" (Windows)."""
    if os.name == "posix":
        return
    skip = pytest.mark.skip(reason="needs POSIX (file modes, signals or flock)")
    for item in items:
        if item.get_closest_marker("posix_only"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("cio-home")
    monkeypatch.setenv(HOME_ENV, str(home))
    yield home


@pytest.fixture(autouse=True)
def isolated_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemoryKeyring]:
    """keyring's default backend is a fresh in-memory one, so no test writes into a developer's keyring.

    Tests of the real Secret Service pass their backend to SecretStore explicitly.
    """
    backend = InMemoryKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    yield backend


@pytest.fixture(autouse=True)
def _close_log_files() -> Iterator[None]:
    # setup_logging() in one test must not keep writing into that test's folder during the next.
    yield
    logs.shutdown_logging()


@pytest.fixture
def memory_secrets() -> SecretStore:
    """A SecretStore over its own in-memory keyring."""
    return SecretStore.in_memory()
