"""The first-run wizard, walked with qtbot against the sandbox: from no profile to a saved one."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.wizard import SetupWizard
from cio_desktop.gui.workers import JobRunner

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def _type(qtbot: Any, widget: Any, text: str) -> None:
    widget.setFocus()
    widget.clear()
    qtbot.keyClicks(widget, text)
    widget.editingFinished.emit()


def _check_row(table: Any, name: str) -> None:
    model = table.model()
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        if index.data() == name:
            model.setData(index, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
            return
    raise AssertionError(f"{name!r} not listed")


def test_wizard_walks_from_no_profile_to_a_saved_one_including_a_refused_secret(qtbot, make_sandbox) -> None:
    sb = make_sandbox(users=300)
    creds = sb.credentials
    store, secrets = ProfileStore(), SecretStore.in_memory()
    window = MainWindow(JobRunner(), store, secrets)
    qtbot.addWidget(window)
    opened: list[SetupWizard] = []
    window.wizard_opened.connect(opened.append)
    window.show()
    window.load_profiles()
    qtbot.waitUntil(lambda: window.onboarding.welcome_shown, timeout=10000)  # no profile yet: the welcome screen
    qtbot.mouseClick(window.onboarding.welcome.buttons["connect"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(opened), timeout=10000)
    wiz = opened[0]
    page = wiz.connect_page

    # Endpoints point at the sandbox (a real user leaves them empty: the real services).
    err = wiz.ctx.update(endpoints=sb.demo_profile().endpoints)
    assert err is None
    _type(qtbot, page.name_edit, "Acme")
    _type(qtbot, page.org_edit, creds.hull_organization)
    _type(qtbot, page.connector_edit, creds.hull_connector_id)

    # A wrong secret: the test says what failed, inline.
    page.hull_secret.setText("not-the-secret")
    qtbot.mouseClick(page.hull_test, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.hull_status.status == "error", timeout=10000)
    assert "401" in page.hull_status.text() or "refused" in page.hull_status.text().lower()
    assert "not-the-secret" not in page.hull_status.text()

    page.hull_secret.setText(creds.hull_secret)
    qtbot.mouseClick(page.hull_test, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.hull_status.status == "ok", timeout=10000)
    assert creds.hull_organization in page.hull_status.text()

    _type(qtbot, page.site_edit, creds.cio_site_id)
    page.api_key.setText(creds.cio_api_key)
    qtbot.mouseClick(page.cio_test, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.cio_status.status == "ok", timeout=10000)
    assert "US region" in page.cio_status.text()
    assert secrets.where_text() in page.secrets_line.text()  # says where the secrets will be kept

    # Audience: nobody is sent until a segment is chosen.
    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 1
    audience = wiz.audience_page
    qtbot.waitUntil(lambda: audience.model.rowCount() > 0, timeout=10000)
    assert "nobody will be sent" in audience.summary.text()
    _check_row(audience.table, "Paying Customers")
    assert "1 segment chosen" in audience.summary.text()
    audience.option_box.setChecked(True)

    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    events = wiz.events_page
    _check_row(events.table, "Completed Order")

    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    fields = wiz.fields_page
    row = fields.model.add("")
    fields.model.setData(fields.model.index(row, 0), "traits_plan")
    qtbot.waitUntil(lambda: fields.id_status.status in ("ok", "warning"), timeout=10000)

    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    preview = wiz.preview_page
    qtbot.waitUntil(lambda: preview.model.total_rows() > 0, timeout=20000)

    with qtbot.waitSignal(window.profiles_loaded, timeout=10000):
        qtbot.mouseClick(wiz.finish_button, Qt.MouseButton.LeftButton)

    saved = store.load("Acme")
    assert saved.hull_organization == creds.hull_organization
    assert [s.name for s in saved.segments] == ["Paying Customers"]
    assert saved.delete_on_leave is True
    assert saved.events == ("Completed Order",)
    assert [(m.hull, m.cio) for m in saved.mappings] == [("traits_plan", "plan")]
    assert secrets.get("Acme", SecretKey.HULL_SECRET) == creds.hull_secret
    assert secrets.get("Acme", SecretKey.CIO_API_KEY) == creds.cio_api_key
    qtbot.waitUntil(lambda: window.ctx.profile is not None and window.ctx.profile.name == "Acme", timeout=5000)
    # The pages are back, with the next step pointed at; the header does not claim there is no profile.
    assert not window.onboarding.welcome_shown and window.sidebar.isEnabled()
    assert window.onboarding.next_step.isVisible()
    assert "Preview what will be sent" in window.onboarding.next_step.label.text()
    assert "No profile" not in window.header_status.text()


def test_wizard_will_not_continue_without_a_site_id_and_says_why(qtbot) -> None:
    wiz = SetupWizard(JobRunner(), ProfileStore(), SecretStore.in_memory(), existing=[])
    qtbot.addWidget(wiz)
    wiz.show()
    _type(qtbot, wiz.connect_page.org_edit, "acme.hullapp.io")
    _type(qtbot, wiz.connect_page.connector_edit, "5a001316f252e6b438000001")
    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 0
    assert "Site ID" in wiz.problem.text()
