"""The mapping table validates Customer.io names live and only valid tables reach the profile."""

from __future__ import annotations

import pytest

from cio_desktop.config.profile import AttributeMapping, Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.pages.fields import FieldsPage, validate_cio_name
from cio_desktop.gui.workers import JobRunner

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_name_over_150_bytes_is_refused_with_its_size() -> None:
    assert "151 bytes" in validate_cio_name("é" * 75 + "x", [])
    assert validate_cio_name("a" * 150, []) == ""


def test_duplicate_and_reserved_names_are_refused() -> None:
    assert "already used" in validate_cio_name("plan", ["plan"])
    assert "reserved" in validate_cio_name("cio_id", [])
    assert validate_cio_name("email", []) == ""  # overriding a base attribute is allowed
    assert "name" in validate_cio_name("  ", [])


def _page(qtbot, profile: Profile) -> tuple[FieldsPage, AppContext]:
    ctx = AppContext(JobRunner(), store=None, secrets=SecretStore.in_memory(), autosave=False)
    ctx.set_profile(profile, reload_catalog=False)
    page = FieldsPage(ctx)
    qtbot.addWidget(page)
    return page, ctx


def test_adding_an_attribute_fills_the_default_customerio_name_and_saves_it(qtbot) -> None:
    page, ctx = _page(qtbot, Profile(name="p"))
    row = page.model.add("")
    page.model.setData(page.model.index(row, 0), "traits_clearbit/given_name")
    assert page.model.rows[row] == ["traits_clearbit/given_name", "clearbit-given_name"]
    assert ctx.profile is not None
    assert ctx.profile.mappings == (AttributeMapping("traits_clearbit/given_name", "clearbit-given_name"),)


def test_an_invalid_name_is_shown_and_not_saved_until_fixed(qtbot) -> None:
    page, ctx = _page(qtbot, Profile(name="p", mappings=(AttributeMapping("traits_plan", "plan"),)))
    page.model.setData(page.model.index(0, 2), "x" * 151)
    assert "151 bytes" in page.mapping_status.text()
    assert ctx.profile is not None and ctx.profile.mappings == (AttributeMapping("traits_plan", "plan"),)
    page.model.setData(page.model.index(0, 2), "plan_name")
    assert ctx.profile.mappings == (AttributeMapping("traits_plan", "plan_name"),)
    assert "1 attribute mapped" in page.mapping_status.text()


def test_rows_can_be_reordered_and_removed(qtbot) -> None:
    maps = (AttributeMapping("a", "a"), AttributeMapping("b", "b"), AttributeMapping("c", "c"))
    page, ctx = _page(qtbot, Profile(name="p", mappings=maps))
    page.table.selectRow(2)
    page.up_button.click()
    assert [m.hull for m in ctx.profile.mappings] == ["a", "c", "b"]
    page.table.selectRow(0)
    page.remove_button.click()
    assert [m.hull for m in ctx.profile.mappings] == ["c", "b"]


def test_a_customerid_missing_for_many_sampled_users_is_warned_about(qtbot, make_sandbox, make_window) -> None:
    window = make_window(make_sandbox(users=300))
    page = window.fields_page
    window.show_page("Fields")
    qtbot.waitUntil(lambda: page.id_status.status == "ok", timeout=20000)  # external_id: most users have it
    page.id_combo.setEditText("traits_trial_ends_at")  # only trial users have it
    page.id_combo.lineEdit().editingFinished.emit()  # as when the user leaves the field
    with qtbot.waitSignal(page.sample_checked, timeout=20000) as checked:
        pass
    missing, total = checked.args
    assert total > 0 and missing / total > 0.2
    assert page.id_status.status == "warning"
    assert "would not be sent" in page.id_status.text()
    assert window.ctx.profile.customer_id_attribute == "traits_trial_ends_at"


def test_email_as_id_is_an_explicit_choice_only_when_the_customerid_is_the_email(qtbot) -> None:
    page, ctx = _page(qtbot, Profile(name="p"))
    assert not page.email_id_combo.isEnabled(), "no choice to make for external_id"
    ctx.update(customer_id_attribute="email")
    assert page.email_id_combo.isEnabled()
    assert page.email_id_combo.currentText().startswith("their email (workspace set to “Email or ID”)")
    page.email_id_combo.setCurrentIndex(1)
    page.email_id_combo.activated.emit(1)
    assert ctx.profile is not None and ctx.profile.email_as_id
    page.email_id_combo.setCurrentIndex(0)
    page.email_id_combo.activated.emit(0)
    assert not ctx.profile.email_as_id


def test_a_profile_that_sends_the_email_as_id_shows_it(qtbot) -> None:
    page, _ctx = _page(qtbot, Profile(name="p", customer_id_attribute="email", email_as_id=True))
    assert page.email_id_combo.currentText().startswith("their email as their ID")
