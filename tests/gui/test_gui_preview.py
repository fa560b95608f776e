"""The Preview page shows the decision and reason the engine takes for each kind of seeded user."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from cio_desktop.gui import preview_rows

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def _expected(user: dict) -> str:
    if not user.get("external_id"):
        return "skip: no customerId"
    if not user.get("email"):
        return "skip: no email"
    if user.get("traits_customerio/created_at"):  # created earlier by Hull's hosted connector
        return "identify (changed)"
    return "identify (new)"


def _rows(page) -> dict[str, object]:
    return {preview_rows.row_hull_id(r): r for r in page.model.all_rows()}


def test_preview_shows_each_seeded_kind_with_its_decision_json_and_changes(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=300)
    window = make_window(sb)
    page = window.preview_page
    window.show_page("Preview")  # showing the page loads the preview
    qtbot.waitUntil(lambda: page.model.total_rows() > 0, timeout=20000)

    rows = _rows(page)
    members = {u["id"] for seg in window.ctx.profile.segment_ids for u in sb.users_in_segment(seg)}
    assert set(rows) == members
    kinds: dict[str, int] = {}
    for hull_id, row in rows.items():
        expected = _expected(sb.user(hull_id))
        assert preview_rows.row_label(row) == expected, hull_id
        kinds[expected] = kinds.get(expected, 0) + 1
    assert set(kinds) == {"skip: no customerId", "skip: no email", "identify (new)", "identify (changed)"}

    # Filtering by decision keeps only those rows.
    page.decision_filter.setCurrentText("skip: no email")
    assert page.model.total_rows() == kinds["skip: no email"]
    assert all(preview_rows.row_label(page.model.row(i)) == "skip: no email" for i in range(page.model.rowCount()))
    page.decision_filter.setCurrentIndex(0)

    # Selecting a person shows the exact operation Customer.io receives.
    new_row = next(
        i for i in range(page.model.rowCount()) if preview_rows.row_label(page.model.row(i)) == "identify (new)"
    )
    page.table.selectRow(new_row)
    row = page.model.row(new_row)
    ops = json.loads(page.json_view.toPlainText())
    assert ops == json.loads(row.payload)
    assert ops[0]["identifiers"] == {"id": preview_rows.row_customer_id(row)}
    assert "Never sent before" in page.changes_view.toPlainText()

    # "Send this person now" sends exactly that person.
    assert page.send_button.isEnabled()
    with qtbot.waitSignal(page.sent, timeout=20000) as sent:
        qtbot.mouseClick(page.send_button, Qt.MouseButton.LeftButton)
    assert sent.args[0] is True, sent.args[1]
    assert preview_rows.row_customer_id(row) in sb.cio_people()


def test_after_a_sync_the_preview_says_unchanged_and_names_what_changed(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=200, seed=9)
    window = make_window(sb)
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000):
        sync.start("full")
    page = window.preview_page
    sent_id = next(h for h, r in _rows_after(qtbot, window).items() if preview_rows.row_label(r) == "skip: unchanged")
    sb.update_user(sent_id, {"traits_plan": "enterprise-plus"})
    with qtbot.waitSignal(page.rows_shown, timeout=20000):
        page.load()
    row = _rows(page)[sent_id]
    assert preview_rows.row_label(row) == "identify (changed)"
    assert "plan" in preview_rows.row_changes(row)
    others = [r for h, r in _rows(page).items() if h != sent_id and _expected(sb.user(h)).startswith("identify")]
    assert others and all(preview_rows.row_label(r) == "skip: unchanged" for r in others)


def _rows_after(qtbot, window) -> dict[str, object]:
    page = window.preview_page
    with qtbot.waitSignal(page.rows_shown, timeout=20000):
        window.show_page("Preview")
        if not window.runner.is_running(window.ctx.key("preview")):
            page.load()
    return _rows(page)


def test_changing_segments_while_a_preview_loads_shows_only_the_new_segments_rows(
    qtbot, make_sandbox, make_window
) -> None:
    from cio_desktop.config.profile import SegmentRef

    sb = make_sandbox(users=300, seed=21)
    window = make_window(sb)
    page = window.preview_page
    vip = next((sid, name) for sid, name, _n in sb.segments() if name == "VIP")
    shown: list[int] = []
    page.rows_shown.connect(shown.append)
    page.load()  # the old segments...
    window.ctx.update(segments=(SegmentRef(*vip),))  # ...replaced before that load could answer
    qtbot.waitUntil(lambda: bool(shown), timeout=20000)
    qtbot.wait(300)
    vip_members = {u["id"] for u in sb.users_in_segment(vip[0])}
    assert shown == [len(vip_members)]  # one delivery: the stale load's rows never reached the table
    assert set(_rows(page)) == vip_members
