"""Records the source could not read are counted in the run's errors and summary, and make the run
end as ``incomplete`` (never ``completed``); duplicate rows are a warning of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.hull.source import ProblemKind, ReadReport, SourceProblem, Stream
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.ledger import Ledger, RunStatus
from tests.unit.test_engine_pipeline import FakeSource, FakeTrack, engine, make_user, profile


class ProblemSource(FakeSource):
    """Keeps the first two problems but counted many more, like FileSource beyond 1,000."""

    unreadable = 5000
    duplicates = 0

    def read_report(self, stream: Stream) -> ReadReport:
        if stream is Stream.EVENTS:
            return ReadReport()
        kept = [SourceProblem("/data/users.csv", 7, "wrong number of fields"), SourceProblem("/data/users.csv", 9, "x")]
        dups = [SourceProblem("/data/users.csv", 2, "user u1 appears again later", ProblemKind.DUPLICATE)]
        return ReadReport(
            "/data/users.csv",
            self.unreadable,
            duplicates=self.duplicates,
            problems=(*kept[: self.unreadable], *dups[: self.duplicates]),
        )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def test_all_bad_rows_are_counted_and_those_kept_are_listed(ledger: Ledger) -> None:
    source, track = ProblemSource([make_user(0)]), FakeTrack()
    summary = engine(profile(), source, ledger, track).run(RunMode.FULL)
    assert summary.status is RunStatus.INCOMPLETE and summary.people_sent == 1
    assert summary.bad_rows == 5000 and summary.failed == 0
    assert summary.run_id is not None
    errors = ledger.run_errors(summary.run_id)
    assert [(e.kind, e.field) for e in errors[:2]] == [
        ("bad_row", "/data/users.csv:7"),
        ("bad_row", "/data/users.csv:9"),
    ]
    assert errors[0].message == "users.csv line 7: wrong number of fields"
    assert errors[2].message.startswith("4,998 more unreadable records")
    assert "5,000 unreadable records were skipped" in summary.message


def test_a_run_that_never_read_the_source_reports_no_bad_rows(ledger: Ledger) -> None:
    source = ProblemSource([make_user(0)])
    summary = engine(profile(segments=()), source, ledger, FakeTrack()).run(RunMode.FULL)
    assert summary.bad_rows == 0 and summary.errors_sample == ()


def test_duplicate_rows_are_a_warning_of_their_own_after_the_read_errors(ledger: Ledger) -> None:
    source = ProblemSource([make_user(0)])
    source.unreadable, source.duplicates = 1, 1
    summary = engine(profile(), source, ledger, FakeTrack()).run(RunMode.FULL)
    assert summary.bad_rows == 1 and summary.duplicate_rows == 1
    assert summary.run_id is not None
    kinds = [e.kind for e in ledger.run_errors(summary.run_id)]
    assert kinds == ["bad_row", "duplicate_row"]
    assert "1 user appears more than once" in summary.message and "the later row is used" in summary.message


def test_a_file_with_only_duplicate_rows_completes(ledger: Ledger) -> None:
    source = ProblemSource([make_user(0)])
    source.unreadable, source.duplicates = 0, 1
    summary = engine(profile(), source, ledger, FakeTrack()).run(RunMode.FULL)
    assert summary.status is RunStatus.COMPLETED and summary.bad_rows == 0 and summary.duplicate_rows == 1
