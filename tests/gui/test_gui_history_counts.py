"""One source for a run's counts: a cancelled run whose account objects Customer.io only partly accepted
shows the accepted numbers on the Sync page, in History's row, tooltip and details, and in
`cio-desktop history` (text and --json), end to end against the sandbox over loopback."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from PySide6.QtCore import Qt

from cio_desktop.cli import main
from cio_desktop.gui import backend
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.run_text import COLUMNS
from cio_desktop.sync.runs import RunStatus

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_a_cancelled_run_shows_the_account_objects_customerio_accepted_everywhere_not_those_it_decided(
    qtbot: Any, make_sandbox: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = make_sandbox(users=60)
    window = make_window(sb)
    profile = window.ctx.profile
    cancel = threading.Event()
    with demo_services(sb, profile=profile) as services:
        answer = services.track.batch

        def batch(operations: list[dict[str, Any]], **kw: Any) -> Any:
            result = answer(operations, **kw)
            if any(op.get("type") == "object" for op in operations):
                cancel.set()  # the user cancels once Customer.io accepted the first request of objects
            return result

        monkeypatch.setattr(services.track, "batch", batch)
        summary = services.engine(batch_max_ops=2).run(RunMode.FULL, cancel=cancel)

    accepted = len(sb.cio.objects_detail())
    decided = summary.counts["object identify (new)"]
    assert summary.status is RunStatus.CANCELLED
    assert summary.objects_sent == accepted == 2 < decided, "the run decided on more objects than went out"
    people = len(sb.cio_people())
    words = f"Customer.io accepted {people:,} people, 0 events, 2 account objects and 0 relationships."

    # The Sync page's last line.
    _kind, line = backend.summary_text(summary)
    assert line.startswith("Cancelled.") and f"Sent {people:,} people, 2 account objects, 0 relationships and" in line

    # History: the row, its tooltip and the details line.
    window.show_page("History")
    history = window.history_page
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 1, timeout=10000)
    qtbot.waitUntil(lambda: f"Run #{summary.run_id}:" in history.status.text(), timeout=10000)
    model = history.runs_model
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    cells = dict(zip(titles, (model.index(0, c).data() for c in range(model.columnCount())), strict=True))
    assert (cells["Status"], cells["Sent"], cells["Objects"], cells["Relationships"]) == (
        "Cancelled",
        f"{people:,}",
        "2",
        "0",
    )
    tooltip = model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.splitlines()[:2] == [words, "Decided before it stopped (not all of it reached Customer.io):"]
    assert history.status.text().endswith(f"{words} 0 errors.")

    # The CLI, text and --json, says the same of the same run.
    assert main(["history", "--profile", profile.name, "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["objects_sent"], listed["relationships_sent"], listed["accepted"]) == (2, 0, words)
    by_title = {title: key for title, key, _text, _right in COLUMNS}
    assert {title: listed["display"][by_title[title]] for title in titles} == cells
    assert main(["history", "--profile", profile.name]) == 0
    assert words in capsys.readouterr().out
