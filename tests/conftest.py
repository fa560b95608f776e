"""Suite-wide fixtures: every test gets its own config/data/log folders, never the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config.paths import HOME_ENV


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("cio-home")
    monkeypatch.setenv(HOME_ENV, str(home))
    yield home
