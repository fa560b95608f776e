"""The engine follows what the source can do: lookups by id, write-back only where Hull can take it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from cio_desktop.customerio.track import TrackClient
from cio_desktop.hull.firehose import FirehoseWriter
from cio_desktop.sync.engine import RunMode, SyncEngine
from cio_desktop.sync.ledger import Ledger
from tests.unit.test_engine_pipeline import FakeSource, FakeTrack, make_user, profile


class FakeWriter:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.failed = 0

    def traits(self, who: dict[str, Any], traits: dict[str, Any]) -> None:
        self.sent.append((who, traits))

    def flush(self) -> None:
        pass


class WritableSource(FakeSource):
    supports_write_back = True


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


@pytest.mark.parametrize(("source_cls", "written"), [(WritableSource, 2), (FakeSource, 0)])
def test_traits_are_written_back_only_when_the_source_supports_it(
    ledger: Ledger, source_cls: type[FakeSource], written: int
) -> None:
    writer = FakeWriter()
    source = source_cls([make_user(0), make_user(1)])
    eng = SyncEngine(
        profile(write_back=True), source, ledger, cast(TrackClient, FakeTrack()), cast(FirehoseWriter, writer)
    )
    summary = eng.run(RunMode.FULL)
    assert summary.people_sent == 2
    assert eng.write_back is (written > 0)
    assert len(writer.sent) == written
