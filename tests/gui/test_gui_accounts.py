"""The Accounts page turns objects on and maps account attributes; Preview shows each person's account
as an object with their relationship; the Sync page's sentence counts objects and relationships."""

from __future__ import annotations

import json

import pytest

from cio_desktop.config.profile import ObjectSettings
from cio_desktop.gui import backend, preview_rows
from cio_desktop.sync.ledger import Ledger, ledger_path

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_turning_objects_on_and_mapping_an_account_attribute_saves_the_profile(
    qtbot, make_sandbox, make_window
) -> None:
    sb = make_sandbox(users=60)
    window = make_window(sb, objects=ObjectSettings())
    page = window.accounts_page
    window.show_page("Accounts")
    assert not page.type_edit.isEnabled() and "Off" in page.summary.text()
    page.enabled_box.setChecked(True)
    assert window.ctx.profile.objects.enabled and page.type_edit.isEnabled()
    assert "account.plan" in [page.add_combo.itemText(i) for i in range(page.add_combo.count())]
    page.add_combo.setCurrentText("account.plan")
    page.add_button.click()
    mappings = window.ctx.profile.objects.mappings
    assert (mappings[-1].hull, mappings[-1].cio) == ("account.plan", "plan")
    page.type_edit.setText("")
    page.type_edit.editingFinished.emit()
    assert "object type id" in page.summary.text() and window.ctx.profile.objects.type_id == "1"
    assert not page.delete_box.isEnabled(), "deleting objects needs deletion of people on"


def test_a_duplicate_object_attribute_is_refused_and_the_profile_kept(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=30)
    window = make_window(sb)
    page = window.accounts_page
    before = window.ctx.profile.objects
    page.add_combo.setCurrentText("account.name")
    page.add_button.click()
    assert "used twice" in page.summary.text()
    assert window.ctx.profile.objects == before


def test_preview_shows_the_account_object_and_relationship_of_a_person(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=60)
    window = make_window(sb)
    page = window.preview_page
    window.show_page("Preview")
    qtbot.waitUntil(lambda: page.model.total_rows() > 0, timeout=20000)
    row = next(r for r in page.model.all_rows() if preview_rows.row_label(r) == "identify (new)")
    ops = json.loads(row.objects)
    user = sb.user(preview_rows.row_hull_id(row))
    assert ops[0]["type"] == "object" and ops[0]["identifiers"]["object_id"] == user["account"]["domain"]
    assert ops[0]["attributes"]["name"] == user["account"]["name"]
    assert ops[1]["action"] == "add_relationships" and ops[1]["identifiers"] == {"id": row.decision.customer_id}
    assert f"Their account: object {user['account']['domain']} of type 1" in preview_rows.row_changes(row)
    assert json.loads(preview_rows.row_json(row)) == json.loads(row.payload), "the JSON stays what the person gets"


def test_the_sync_sentence_counts_objects_and_relationships(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=60)
    window = make_window(sb)
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        sync.start("full")
    summary = finished.args[1]
    assert summary.objects_sent == len(sb.cio.objects_detail()) > 0
    _, text = backend.summary_text(summary)
    assert f"{summary.objects_sent:,} account objects, {summary.relationships_sent:,} relationships and" in text


def test_history_counts_objects_and_relationships_per_run(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=60)
    window = make_window(sb)
    with qtbot.waitSignal(window.sync_page.run_finished, timeout=60000) as finished:
        window.sync_page.start("full")
    summary = finished.args[1]
    with Ledger(ledger_path(window.ctx.profile.name)) as ledger:
        run = ledger.runs(limit=1)[0]
    totals = backend.run_totals(run)
    assert totals["objects"] == summary.objects_sent and totals["relationships"] == summary.relationships_sent
