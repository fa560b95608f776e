"""What the time left is measured on, in a real run against the fakes: operations decided and
operations Customer.io answered, in the same units, each request counted once it is answered."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.customerio.track import BatchResult
from cio_desktop.sync import state as state_module
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.ledger import Ledger
from cio_desktop.sync.progress import Phase, ProgressTracker
from tests.unit.test_engine_pipeline import FakeSource, FakeTrack, engine, make_user, profile


class RecordingTracker(ProgressTracker):
    """Keeps, for each phase that ended, (to send, answered operations, answered requests)."""

    made: list[RecordingTracker] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended: dict[str, tuple[int, int, int]] = {}
        self.current = ""
        RecordingTracker.made.append(self)

    def phase(self, phase: Phase | str, **kwargs: Any) -> None:
        if self.current:
            self.ended[self.current] = self.sending
        self.current = str(phase)
        super().phase(phase, **kwargs)


class CountingTrack(FakeTrack):
    """Counts every request (refused ones too) and what the run had counted as answered at that moment."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.answered_when_called: list[int] = []

    def batch(self, ops: Sequence[Mapping[str, Any]], **kwargs: Any) -> BatchResult:
        with self.lock:
            self.calls += 1
            self.answered_when_called.append(RecordingTracker.made[-1].sending[2])
        return super().batch(ops, **kwargs)


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.setattr(state_module, "ProgressTracker", RecordingTracker)
    RecordingTracker.made = []
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def users_phase() -> tuple[int, int, int]:
    return RecordingTracker.made[-1].ended[Phase.USERS.value]


def test_a_request_counts_as_sent_only_once_customer_io_answered_it(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(30)]), CountingTrack()
    eng = engine(profile(concurrency=1), source, ledger, track)
    eng.batch_max_ops = 10
    eng.run(RunMode.FULL)
    assert track.calls == 3
    assert track.answered_when_called == list(range(track.calls)), "a request being sent is not counted yet"


def test_a_refused_request_split_to_find_the_bad_person_counts_each_operation_once(ledger: Ledger) -> None:
    source, track = FakeSource([make_user(i) for i in range(40)]), CountingTrack()
    track.poison = {"ext-21"}
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    to_send, sent, requests = users_phase()
    assert to_send == sent == 40, "every operation settled once, none twice"
    assert requests == track.calls > len(track.batches), "refused requests count once each"


def test_merges_count_both_their_operations_on_both_sides(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(5)]
    source, track = FakeSource(users), CountingTrack()
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    for u in users[:3]:
        u.update(external_id=f"new-{u['external_id']}", updated_at=2000.0)
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert users_phase() == (6, 6, 2), "3 merges: 3 identifies, then 3 merges in a request of their own"


def test_a_merge_whose_identify_was_refused_settles_its_merge_too(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(2)]
    source, track = FakeSource(users), CountingTrack()
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    for u in users:
        u.update(external_id=f"new-{u['external_id']}", updated_at=2000.0)
    track.reject = {"new-ext-0"}
    engine(profile(), source, ledger, track).run(RunMode.FULL)
    to_send, sent, _requests = users_phase()
    assert to_send == sent == 4, "nothing is left due: the refused person's merge is never sent"
