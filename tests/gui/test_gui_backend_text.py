"""How the GUI shows the engine's results: each outcome's kind and words, and the stylesheet behind the kinds."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pytest

from cio_desktop.gui import backend
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import StatusLine
from cio_desktop.sync.engine import RunMode, RunSummary
from cio_desktop.sync.runs import RunRecord, RunStatus

pytestmark = pytest.mark.gui

STYLESHEET = Path(__file__).resolve().parents[2] / "resources" / "style.qss"


def _summary(status: RunStatus, mode: RunMode = RunMode.FULL, **kw: object) -> RunSummary:
    fields: dict[str, object] = {
        "run_id": 1,
        "mode": mode,
        "status": status,
        "started_at": 0.0,
        "ended_at": 2.0,
        "duration_s": 2.0,
        "counts": MappingProxyType({"identify (new)": 5, "skip: unchanged": 2, "skip: no email": 1}),
        "failed": 0,
    }
    fields.update(kw)
    return RunSummary(**fields)  # type: ignore[arg-type]


def _run(status: RunStatus, failed: int = 0) -> RunRecord:
    return RunRecord(id=1, mode=RunMode.FULL.value, status=status, started_at=0.0, ended_at=1.0, failed=failed)


def test_every_marked_kind_has_a_colour_in_the_stylesheet_and_reaches_the_label(qtbot) -> None:
    selectors = set(re.findall(r'QLabel\[status="([a-z]*)"\]', STYLESHEET.read_text(encoding="utf-8")))
    assert {k.value for k in ErrorKind if k is not ErrorKind.PLAIN} <= selectors
    line = StatusLine()
    qtbot.addWidget(line)
    line.show_status(ErrorKind.WARNING, "Careful")
    assert line.property("status") == "warning" and line.text() == "\u26a0 Careful"
    line.clear_status()
    assert line.property("status") == "" and line.status is ErrorKind.PLAIN and line.isHidden()


def test_a_completed_run_is_ok_unless_someone_failed() -> None:
    assert backend.summary_text(_summary(RunStatus.COMPLETED, people_sent=5))[0] is ErrorKind.OK
    kind, text = backend.summary_text(_summary(RunStatus.PARTIAL, people_sent=4, failed=1, message="1 refused."))
    assert kind is ErrorKind.WARNING and text.startswith("1 refused. Sent 4 people") and "1 failed" in text
    kind, _text = backend.summary_text(_summary(RunStatus.COMPLETED, people_sent=4, failed=1))
    assert kind is ErrorKind.WARNING


def test_a_dry_run_says_what_it_planned_and_that_nothing_was_sent() -> None:
    kind, text = backend.summary_text(_summary(RunStatus.COMPLETED, RunMode.DRY_RUN))
    assert kind is ErrorKind.OK
    assert "5 operations planned, 2 people unchanged, 1 skipped" in text and "Nothing was sent" in text


def test_a_failed_run_leads_with_its_message_and_mentions_sends_only_when_there_were_some() -> None:
    assert backend.summary_text(_summary(RunStatus.FAILED)) == (ErrorKind.ERROR, "The sync failed.")
    kind, text = backend.summary_text(_summary(RunStatus.FAILED, message="Hull refused.", people_sent=3))
    assert kind is ErrorKind.ERROR and text.startswith("Hull refused. Sent 3 people")


@pytest.mark.parametrize(
    ("status", "failed", "kind"),
    [
        (RunStatus.COMPLETED, 0, ErrorKind.OK),
        (RunStatus.COMPLETED, 2, ErrorKind.WARNING),
        (RunStatus.PARTIAL, 2, ErrorKind.WARNING),
        (RunStatus.DELETIONS_WITHHELD, 0, ErrorKind.WARNING),
        (RunStatus.CANCELLED, 0, ErrorKind.WARNING),
        (RunStatus.FAILED, 0, ErrorKind.ERROR),
        (RunStatus.INTERRUPTED, 0, ErrorKind.ERROR),
        (RunStatus.RUNNING, 0, ErrorKind.BUSY),
    ],
)
def test_a_stored_run_gets_a_tick_only_when_it_completed_without_failures(
    status: RunStatus, failed: int, kind: ErrorKind
) -> None:
    assert backend.run_status_level(_run(status, failed)) is kind


def test_history_names_a_stored_mode_and_keeps_an_unknown_one_as_written() -> None:
    assert backend.mode_text(RunMode.DRY_RUN.value) == "Dry run"
    assert backend.mode_text("someday") == "someday"


def test_history_names_a_plan_by_the_mode_it_planned_and_a_plain_dry_run_as_a_dry_run() -> None:
    def dry(plan_of: str | None) -> RunRecord:
        return RunRecord(1, RunMode.DRY_RUN.value, RunStatus.COMPLETED, 0.0, 1.0, plan_of=plan_of)

    assert backend.run_mode_text(dry("full")) == "Plan (full sync)"
    assert backend.run_mode_text(dry("incremental")) == "Plan (sync changes)"
    assert backend.run_mode_text(dry(None)) == "Dry run"
    assert backend.run_mode_text(_run(RunStatus.COMPLETED)) == "Full sync"
    assert backend.phase_text("users") == "Sending people"
