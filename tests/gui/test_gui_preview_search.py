"""Preview: the search covers the whole audience, the detail pane follows the table, skipped people
cannot be "sent now", unchanged people show their full payload, and the Person column is readable."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from cio_desktop.gui import preview_rows
from cio_desktop.gui.pages.preview import ALL, MAX_COLUMN_WIDTH, SELECT_HINT

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def _members(window, sb) -> list[dict]:
    seen: dict[str, dict] = {}
    for seg in window.ctx.profile.segment_ids:
        for u in sb.users_in_segment(seg):
            seen.setdefault(u["id"], u)
    return list(seen.values())


def _shown_ids(page) -> list[str]:
    return [preview_rows.row_hull_id(page.model.row(i)) for i in range(page.model.total_rows())]


def _load(qtbot, window, limit: int = 1000):
    page = window.preview_page
    page.limit.setValue(limit)
    window.show_page("Preview")
    with qtbot.waitSignal(page.rows_shown, timeout=20000):
        page.load()
    return page


def _select(page, label: str) -> object:
    pos = next(i for i in range(page.model.rowCount()) if preview_rows.row_label(page.model.row(i)) == label)
    page.table.setCurrentIndex(page.model.index(pos, 0))
    return page.model.row(pos)


def test_search_finds_a_member_beyond_the_loaded_rows_and_shows_the_matches(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=400, seed=3)
    window = make_window(sb)
    page = _load(qtbot, window, limit=10)
    loaded = set(_shown_ids(page))
    target = next(u for u in _members(window, sb) if u["id"] not in loaded and u.get("email"))

    with qtbot.waitSignal(page.search_finished, timeout=20000) as done:
        page.search.setText(target["email"].upper())  # as typed: case does not matter
    assert done.args == [1]
    assert _shown_ids(page) == [target["id"]]
    assert "1 person matches" in page.status.text()
    assert f"all {len(_members(window, sb)):,} people" in page.status.text()

    # Clearing the search brings the loaded preview back.
    page.search.clear()
    assert set(_shown_ids(page)) == loaded


def test_a_new_query_replaces_the_search_in_flight(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=400, seed=4)
    window = make_window(sb)
    page = _load(qtbot, window, limit=10)
    target = next(u for u in _members(window, sb) if u.get("email"))
    finished: list[int] = []
    page.search_finished.connect(finished.append)
    page.search.setText("e")
    page.start_search()  # a broad search starts...
    page.search.setText(target["email"])
    page.start_search()  # ...and the next query makes it stale
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    qtbot.wait(300)
    assert finished == [1]  # the stale search never reported
    assert _shown_ids(page) == [target["id"]]


def test_the_detail_pane_clears_when_the_selected_person_is_filtered_out(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=300)
    window = make_window(sb)
    page = _load(qtbot, window)
    row = _select(page, "skip: no email")
    assert preview_rows.row_hull_id(row) in page.detail_title.text()

    page.decision_filter.setCurrentText("identify (new)")
    assert page.detail_title.text() == SELECT_HINT
    assert page.json_view.toPlainText() == ""
    assert not page.send_button.isEnabled()

    # A person still shown stays selected and in the pane when the filter changes.
    kept = _select(page, "identify (new)")
    page.decision_filter.setCurrentText(ALL)
    current = page.model.row(page.table.currentIndex().row())
    assert preview_rows.row_hull_id(current) == preview_rows.row_hull_id(kept)
    assert preview_rows.row_hull_id(kept) in page.detail_title.text()


def test_send_now_is_disabled_for_skipped_people_with_the_reason_in_its_tooltip(
    qtbot, make_sandbox, make_window
) -> None:
    window = make_window(make_sandbox(users=300))
    page = _load(qtbot, window)
    _select(page, "skip: no email")
    assert not page.send_button.isEnabled()
    assert "no email" in page.send_button.toolTip()
    _select(page, "skip: no customerId")
    assert not page.send_button.isEnabled()
    assert "customerId" in page.send_button.toolTip()
    _select(page, "identify (new)")
    assert page.send_button.isEnabled()


def test_an_unchanged_person_shows_the_full_payload_customerio_already_has(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=150, seed=9)
    window = make_window(sb)
    with qtbot.waitSignal(window.sync_page.run_finished, timeout=60000):
        window.sync_page.start("full")
    page = _load(qtbot, window)
    row = _select(page, "skip: unchanged")
    assert page.json_title.text().startswith("Unchanged: this is what Customer.io already has")
    ops = json.loads(page.json_view.toPlainText())
    cid = preview_rows.row_customer_id(row)
    assert ops[0]["action"] == "identify" and ops[0]["identifiers"] == {"id": cid}
    has = sb.cio_people()[cid]
    shown = {k: v for k, v in ops[0]["attributes"].items() if v is not None}
    assert shown and shown == {k: has[k] for k in shown}
    assert page.send_button.isEnabled()  # a test send sends them anyway


def test_the_person_column_shows_name_and_email_whole_with_the_hull_id_in_its_tooltip(
    qtbot, make_sandbox, make_window
) -> None:
    window = make_window(make_sandbox(users=300))
    page = _load(qtbot, window)
    row = _select(page, "identify (new)")
    pos = page.table.currentIndex().row()
    cell = page.model.index(pos, 2)
    text = cell.data()
    assert "Hull id" not in text and "<" in text  # name <email>
    assert preview_rows.row_hull_id(row) in cell.data(Qt.ItemDataRole.ToolTipRole)
    widest = max(page.table.fontMetrics().horizontalAdvance(page.model.index(i, 2).data()) for i in range(50))
    assert page.table.columnWidth(2) >= min(widest, MAX_COLUMN_WIDTH)


def test_changing_segments_during_a_search_searches_the_new_segments(qtbot, make_sandbox, make_window) -> None:
    from cio_desktop.config.profile import SegmentRef

    sb = make_sandbox(users=400, seed=21)
    window = make_window(sb)
    page = _load(qtbot, window, limit=10)
    vip = next((sid, name) for sid, name, _n in sb.segments() if name == "VIP")
    outsider = next(u for u in _members(window, sb) if u.get("email") and vip[0] not in (u.get("segment_ids") or []))
    finished: list[int] = []
    page.search_finished.connect(finished.append)
    page.search.setText(outsider["email"])
    page.start_search()
    window.ctx.update(segments=(SegmentRef(*vip),))  # before the search could answer
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    qtbot.wait(300)
    assert finished == [0]  # searched again, in VIP only, where this person is not
    assert _shown_ids(page) == []


def test_a_skipped_person_is_said_to_change_nothing_in_customerio(qtbot, make_sandbox, make_window) -> None:
    window = make_window(make_sandbox(users=300))
    page = _load(qtbot, window)
    _select(page, "skip: no customerId")
    assert page.json_title.text() == "Nothing is sent for this person"
    assert page.changes_view.toPlainText() == "Nothing changes in Customer.io: this person is not sent."
