"""A customerId that changed between two runs: the confirmation shows the merge on a line of its own,
its number lists the person, and the run still merges the old profile into the new one."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cio_desktop.sync.plan import MERGED_TEXT
from cio_desktop.sync.run_people import Category

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_a_changed_customer_id_is_shown_and_listed_as_a_merge_in_the_confirmation(
    qtbot, make_sandbox, make_window
) -> None:
    sb = make_sandbox(users=120, seed=5)
    window = make_window(sb, write_back=False, events=())
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000):
        sync.start("full")
    profile = window.ctx.profile
    sent = sb.cio_people()
    member = next(u for u in sb.users_in_segment(profile.segment_ids[0]) if u.get("external_id") in sent)
    old_id = member["external_id"]
    sb.update_user(member["id"], {"external_id": "renamed-customer-1"})

    with qtbot.waitSignal(sync.plan_ready, timeout=60000) as ready:
        qtbot.mouseClick(sync.mode_buttons["full"], Qt.MouseButton.LeftButton)
    plan = ready.args[0]
    dialog = sync.plan_dialog
    assert plan.merged == 1 and plan.count(Category.UPDATE) == 0, "a merge is not counted as an update"
    assert dialog is not None and dialog.merged_button is not None and dialog.merged_button.text() == "1"
    assert dialog.send_button.text() == "Sync: send 1 person"
    assert MERGED_TEXT in dialog.merged_button.accessibleName()

    qtbot.mouseClick(dialog.merged_button, Qt.MouseButton.LeftButton)
    people = dialog.people_dialog
    assert people is not None and MERGED_TEXT in people.windowTitle()
    qtbot.waitUntil(lambda: people.view.model.total_rows() == 1, timeout=10000)
    [merged] = people.view.model.all_rows()
    assert merged.customer_id == "renamed-customer-1" and merged.hull_id == member["id"]
    assert merged.outcome(dry=True) == "would be merged"
    people.close()

    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        dialog.confirm()
    assert finished.args[0] == "completed"
    [merge] = sb.cio_merges()
    assert old_id in str(merge) and "renamed-customer-1" in str(merge), "the run merges as before"
