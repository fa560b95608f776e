"""Suite-wide fixtures: every test gets its own config/data/log folders and keyring, never the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring.core
import pytest

from cio_desktop.config import logs
from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.secrets import InMemoryKeyring, SecretStore


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
