"""History tells the whole truth and reads the same everywhere: a plan's row, tooltip and details read
as planned, and each of them is, word for word, what `cio-desktop history` says about the same run."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from cio_desktop.cli import main
from cio_desktop.gui.pages.history import SERIES, RunChart
from cio_desktop.sync import run_text
from cio_desktop.sync.words import mode_text

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_a_refused_plan_reads_as_planned_in_history_word_for_word_as_the_cli_says_it(
    qtbot, make_sandbox, make_window, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = make_sandbox(users=80, seed=5)
    window = make_window(sb)
    sync = window.sync_page
    with qtbot.waitSignal(sync.plan_ready, timeout=60000) as ready:
        qtbot.mouseClick(sync.mode_buttons["full"], Qt.MouseButton.LeftButton)
    plan = ready.args[0]
    with qtbot.waitSignal(sync.run_finished, timeout=10000):
        sync.plan_dialog.reject()  # refused: the plan stays in History, nothing was sent
    assert sb.cio_people() == {}

    window.show_page("History")
    history = window.history_page
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 1, timeout=10000)
    qtbot.waitUntil(lambda: f"Run #{plan.run_id}:" in history.status.text(), timeout=10000)
    model = history.runs_model
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    cells = dict(zip(titles, (model.index(0, c).data() for c in range(model.columnCount())), strict=True))
    tooltip = model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)

    # Every count of the plan reads as planned: accounts included, nothing as if it had been sent.
    assert cells["Mode"] == "Plan (full sync)"
    assert cells["Sent"].startswith("would send ") and cells["Failed"] == "—"
    assert cells["Objects"].startswith("would send ") and cells["Relationships"].startswith("would send ")
    assert cells["Unchanged"].startswith("would ") and cells["Skipped"].startswith("would skip ")
    objects = plan.objects.get("object identify (new)", 0)
    assert objects > 0 and f"would create {objects:,} account objects" in tooltip
    assert tooltip.startswith("Plan (full sync): nothing was sent.")
    assert "Nothing was sent: would create" in history.status.text()
    assert not any(line.startswith(("created in", "account objects created")) for line in tooltip.splitlines())

    # The CLI says the same, in the same words, of the same run.
    assert main(["history", "--profile", window.ctx.profile.name, "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    by_title = {title: key for title, key, _text, _right in run_text.COLUMNS}
    assert {title: listed["display"][by_title[title]] for title in titles} == cells
    assert listed["kind"] == cells["Mode"] and listed["planned"] is True
    assert listed["mode"] == "dry_run" and listed["plan_of"] == "full", "stored values unchanged"
    assert "\n".join(["Plan (full sync): nothing was sent.", *listed["decisions"]]) == tooltip
    assert history.status.text().endswith(listed["outcome"] + " 0 errors.")
    assert main(["history", "--profile", window.ctx.profile.name]) == 0
    line, details = capsys.readouterr().out.splitlines()
    assert f"{cells['Mode']} " in line and line.endswith(cells["Sent"]) and details.strip() == listed["outcome"]


def test_the_sync_buttons_name_the_modes_as_history_and_the_cli_do(qtbot, make_sandbox, make_window) -> None:
    window = make_window(make_sandbox(users=10))
    buttons = window.sync_page.mode_buttons
    for mode in ("full", "incremental", "dry_run"):
        assert buttons[mode].text().replace("&", "") == mode_text(mode) == buttons[mode].accessibleName()
    assert [mode_text(m) for m in ("full", "incremental")] == ["Full sync", "Sync changes"]


def test_a_dry_runs_counts_and_people_read_as_what_it_would_do_on_the_sync_page_and_in_history(
    qtbot, make_sandbox, make_window
) -> None:
    window = make_window(make_sandbox(users=60, seed=5))
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000):
        qtbot.mouseClick(sync.mode_buttons["dry_run"], Qt.MouseButton.LeftButton)
    counts = sync.counts_label.text()
    assert "would create" in counts and "created in Customer.io" not in counts

    window.show_page("History")
    people = window.history_page.people
    qtbot.waitUntil(lambda: people.model.total_rows() > 0, timeout=10000)
    created = next(p for p in people.model.all_rows() if p.decision == "identify (new)")
    row = people.model.all_rows().index(created)
    tooltip = people.model.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.splitlines()[:2] == ["would be created", "will be created in Customer.io"]

    # A run that sends reads as what it did.
    with qtbot.waitSignal(sync.run_finished, timeout=60000):
        sync.start("incremental")
    assert "created in Customer.io" in sync.counts_label.text() and "would" not in sync.counts_label.text()


def test_the_chart_draws_a_plan_as_an_outline_of_what_it_would_send_not_as_a_bar(qtbot) -> None:
    chart = RunChart()
    qtbot.addWidget(chart)
    chart.resize(600, 170)
    chart.set_runs([("#1", {"sent": 100}), ("#2", {"sent": 100})], planned=["#1"])
    image = chart.grab().toImage()
    green = SERIES[0][1]
    slot = (chart.width() - 50) / 2

    def middle_column(i: int) -> list[QColor]:
        x = int(40 + slot * i + slot / 2)
        return [QColor(image.pixel(x, y)) for y in range(image.height())]

    assert middle_column(1).count(green) > 50, "the run that sent is a filled bar"
    assert 0 < middle_column(0).count(green) <= 2, "the plan is only its outline"
    assert "plans or dry runs, which sent nothing" in chart.accessibleDescription()
