"""Know before you send, and after: the plan confirmation before Full sync, and a History that lists
every person a run decided about, agrees with the Sync page and says why a run failed."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel

from cio_desktop.gui import backend
from cio_desktop.gui.pages.history import SERIES, RunChart
from cio_desktop.sync.run_people import Category

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def _plan(qtbot, sync, button: str = "full"):
    with qtbot.waitSignal(sync.plan_ready, timeout=60000) as ready:
        qtbot.mouseClick(sync.mode_buttons[button], Qt.MouseButton.LeftButton)
    return ready.args[0]


def test_full_sync_shows_the_plan_first_and_refusing_it_sends_nothing(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=200, seed=3)
    window = make_window(sb)
    sync = window.sync_page
    plan = _plan(qtbot, sync)
    dialog = sync.plan_dialog
    assert dialog is not None and dialog.isVisible()
    created = plan.count(Category.CREATE)
    assert created > 0 and dialog.count_buttons[Category.CREATE].text() == f"{created:,}"
    assert sb.cio_people() == {} and sb.cio_request_count().get("batch", 0) == 0
    assert window.ctx.profile is not None and window.ctx.profile.cio_site_id in dialog.findChild(QLabel).text()
    # Created and updated people are sent (Hull's connector synced part of the demo organization before).
    sent = created + plan.count(Category.UPDATE)
    assert dialog.send_button.text() == f"Sync: send {sent:,} people"

    # Each number opens the people behind it.
    qtbot.mouseClick(dialog.count_buttons[Category.SKIP], Qt.MouseButton.LeftButton)
    people = dialog.people_dialog
    assert people is not None
    qtbot.waitUntil(lambda: people.view.model.total_rows() == plan.count(Category.SKIP), timeout=10000)
    assert all(p.category is Category.SKIP for p in people.view.model.all_rows())
    assert "not sent" in people.view.model.all_rows()[0].outcome(dry=True)
    people.close()

    with qtbot.waitSignal(sync.run_finished, timeout=10000) as finished:
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "cancelled" and finished.args[1] is None
    assert sb.cio_people() == {}, "refusing sends nothing"
    assert "Nothing was sent" in sync.summary.text()
    assert sync.mode_buttons["full"].isEnabled()


def test_a_confirmed_plan_is_sent_and_history_lists_every_person_with_the_same_numbers(
    qtbot, make_sandbox, make_window, tmp_path
) -> None:
    sb = make_sandbox(users=200, seed=3)
    window = make_window(sb)
    sync = window.sync_page
    plan = _plan(qtbot, sync)
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        sync.plan_dialog.confirm()
    summary = finished.args[1]
    assert finished.args[0] == "completed" and summary.people_sent == plan.count(Category.CREATE) + plan.count(
        Category.UPDATE
    )

    history = window.history_page
    window.show_page("History")
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 2, timeout=10000)  # the plan, then the run
    run = history.runs_model.row(0)
    planned = history.runs_model.row(1)
    assert planned.mode == "dry_run" and planned.plan_of == "full", "the plan is stored as the dry run it was"
    model = history.runs_model
    mode_column = next(
        i for i in range(model.columnCount()) if model.headerData(i, Qt.Orientation.Horizontal) == "Mode"
    )
    assert model.index(1, mode_column).data() == "Plan (full sync)", "and named as a plan"
    assert f"Sent {backend.run_totals(run)['sent']:,} people" in sync.summary.text()
    qtbot.waitUntil(lambda: history.people.model.total_rows() == 200 - _not_members(sb, window), timeout=10000)
    skipped = [p for p in history.people.model.all_rows() if p.category is Category.SKIP]
    assert skipped and all(p.reason for p in skipped), "every skip says why"

    jane = next(p for p in history.people.model.all_rows() if p.category is Category.CREATE)
    email = jane.who.split("<")[1].split(">")[0]
    with qtbot.waitSignal(history.people.loaded, timeout=10000):
        history.people.search.setText(email)
    assert [p.hull_id for p in history.people.model.all_rows()] == [jane.hull_id]
    assert history.people.model.all_rows()[0].outcome(dry=False) == "created"

    out = tmp_path / "people.csv"
    with qtbot.waitSignal(history.people.exported, timeout=10000) as exported:
        history.people.export_csv(str(out))
    assert exported.args[0] == 1
    with out.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["hull_id"] == jane.hull_id and rows[0]["outcome"] == "created"


def _not_members(sb, window) -> int:
    members = {u["id"] for seg in window.ctx.profile.segment_ids for u in sb.users_in_segment(seg)}
    return 200 - len(members)


def test_sync_changes_asks_only_when_it_would_delete_someone(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=150, seed=8)
    window = make_window(sb, delete_on_leave=True, write_back=False, events=())
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000):
        sync.start("full")
    profile = window.ctx.profile
    member = next(sb.users_in_segment(profile.segment_ids[0]))
    sb.update_user(member["id"], {"traits_plan": "changed"})
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as quiet:
        qtbot.mouseClick(sync.mode_buttons["incremental"], Qt.MouseButton.LeftButton)
    assert quiet.args[0] == "completed" and sync.plan_dialog is None, "nobody deleted: no question asked"

    leaving = next(u for u in sb.users_in_segment(profile.segment_ids[0]) if u["id"] != member["id"])
    sb.set_user_segments(leaving["id"], [])
    plan = _plan(qtbot, sync, "incremental")
    assert plan.deletions == 1 and sync.plan_dialog is not None
    assert "delete 1" in sync.plan_dialog.send_button.text()
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as done:
        sync.plan_dialog.confirm()
    assert done.args[0] == "completed" and len(sb.cio_deletions()) == 1


def test_a_plan_whose_source_changed_is_made_again_before_anything_is_sent(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=150, seed=8)
    window = make_window(sb)
    sync = window.sync_page
    _plan(qtbot, sync)
    profile = window.ctx.profile
    leaving = next(sb.users_in_segment(profile.segment_ids[0]))
    sb.set_user_segments(leaving["id"], [])  # the segments changed after the plan was made
    with (
        qtbot.waitSignal(sync.plan_changed, timeout=60000) as changed,
        qtbot.waitSignal(sync.plan_ready, timeout=60000),
    ):
        sync.plan_dialog.confirm()
    assert "the chosen segments now hold" in changed.args[0]
    assert sb.cio_people() == {}, "a stale plan sends nothing"
    assert "Planning again" in sync.log_view.toPlainText()
    sync.plan_dialog.reject()


def test_a_failed_run_says_why_in_history(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=50)
    window = make_window(sb)
    sb.set_hull_disabled(True)  # Hull says the organization is disabled: the credentials are refused
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        sync.start("full")
    assert finished.args[0] == "failed"
    history = window.history_page
    window.show_page("History")
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 1, timeout=10000)
    qtbot.waitUntil(lambda: "Failed because" in history.status.text(), timeout=10000)
    assert "the credentials were refused" in history.status.text() and "0 errors" not in history.status.text()


def test_a_cancelled_run_shows_the_same_numbers_on_the_sync_page_and_in_history(
    qtbot, make_sandbox, make_window
) -> None:
    sb = make_sandbox(users=3000, seed=11)
    sb.set_faults("cio_track", latency_ms=150)  # slow sends: the run is still sending when we cancel
    window = make_window(sb)
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        sync.start("full")
        qtbot.waitUntil(lambda: sync.last_progress is not None and sync.last_progress.done > 600, timeout=30000)
        qtbot.mouseClick(sync.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "cancelled"
    assert sync.bar.format() == "Cancelled"
    history = window.history_page
    history.refresh()
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 1, timeout=10000)
    sent = backend.run_totals(history.runs_model.row(0))["sent"]
    assert sent == len(sb.cio_people()) == finished.args[1].people_sent
    assert f"Sent {sent:,} people" in sync.summary.text()


def test_every_label_of_the_sync_page_is_explained(qtbot, make_sandbox, make_window) -> None:
    window = make_window(make_sandbox(users=20))
    page = window.sync_page
    labels = [w for w in page.body.findChildren(QLabel) if w.isVisibleTo(page) and w.text()]
    assert labels and [w.text() for w in labels if not w.toolTip()] == []


def test_a_one_person_run_is_visible_beside_big_ones(qtbot) -> None:
    chart = RunChart()
    qtbot.addWidget(chart)
    chart.resize(600, 170)
    chart.set_runs([("#1", {"sent": 100_000, "unchanged": 0}), ("#2", {"sent": 1, "unchanged": 99_999})])
    image = chart.grab().toImage()
    green = SERIES[0][1]
    n = len(chart.bars)
    slot = (chart.width() - 50) / n
    x = int(40 + slot * 1 + slot / 2)  # the middle of the second bar
    column = [QColor(image.pixel(x, y)) for y in range(image.height())]
    assert any(c == green for c in column), "the one person sent shows as a bar"


def test_a_first_sync_into_a_workspace_that_has_people_shows_what_changes_for_them(
    qtbot, make_sandbox, make_window
) -> None:
    from cio_desktop.config.secrets import SecretStore
    from cio_desktop.sync.engine import RunMode
    from cio_desktop.sync.factory import open_services
    from tests.gui.conftest import sandbox_secrets

    sb = make_sandbox(users=120, seed=9)
    other = sb.demo_profile("Another laptop").replace(write_back=False, events=())
    secrets = SecretStore.in_memory()
    for key, value in sandbox_secrets(sb).items():
        secrets.set(other.name, key, value)
    with open_services(other, secrets) as services:  # the workspace already has these people
        services.engine().run(RunMode.FULL)
    for seg in other.segment_ids:
        for user in list(sb.users_in_segment(seg)):
            sb.update_user(user["id"], {"name": "New Name"})
    window = make_window(sb)
    plan = _plan(qtbot, window.sync_page)
    assert plan.first_sync and plan.existing
    texts = [w.text() for w in window.sync_page.plan_dialog.findChildren(QLabel)]
    assert any("already in the workspace" in t and "name '" in t and "\u2192 'New Name'" in t for t in texts), texts
    window.sync_page.plan_dialog.reject()
