"""First launch and first steps: the welcome screen, the wizard's honest checks, the next-step bar."""

from __future__ import annotations

import json
from typing import Any

import pytest
from keyring.backend import KeyringBackend
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from cio_desktop import APP_TITLE
from cio_desktop.config.profile import Endpoints, Profile, SourceKind
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.wizard import SetupWizard
from cio_desktop.gui.workers import JobRunner
from cio_desktop.sync.summary import RunMode

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


class SystemKeyring(KeyringBackend):
    """Stands in for the OS keyring (the suite's in-memory one says "demo mode", as it should)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


def _type(qtbot: Any, widget: Any, text: str) -> None:
    widget.setFocus()
    widget.clear()
    qtbot.keyClicks(widget, text)
    widget.editingFinished.emit()


def _empty_window(qtbot: Any, secrets: SecretStore | None = None) -> MainWindow:
    window = MainWindow(JobRunner(), ProfileStore(), secrets or SecretStore.in_memory())
    qtbot.addWidget(window)
    window.show()
    window.load_profiles()
    qtbot.waitUntil(lambda: window.onboarding.welcome_shown, timeout=10000)
    return window


def _wizard(qtbot: Any, **kw: Any) -> SetupWizard:
    wiz = SetupWizard(JobRunner(), ProfileStore(), SecretStore.in_memory(), existing=[], **kw)
    qtbot.addWidget(wiz)
    wiz.show()
    return wiz


def test_first_launch_shows_the_welcome_screen_and_no_page_can_be_clicked(qtbot) -> None:
    window = _empty_window(qtbot)
    welcome = window.onboarding.welcome
    assert welcome.isVisible() and not window.sidebar.isVisible()
    assert not window.sidebar.isEnabled() and not window.stack.isEnabled()
    assert [b.text() for b in welcome.buttons.values()] == [
        "Try the demo",
        "Connect Hull and Customer.io",
        "Use Hull export files",
    ]
    assert "switched off at the end of 2022" in welcome.buttons["connect"].accessibleDescription()
    assert window.wizard is None  # nothing opens behind the user's back


def test_use_export_files_opens_the_wizard_on_export_files_and_cancel_returns_to_welcome(qtbot) -> None:
    window = _empty_window(qtbot)
    qtbot.mouseClick(window.onboarding.welcome.buttons["files"], Qt.MouseButton.LeftButton)
    wiz = window.wizard
    assert wiz is not None
    assert wiz.connect_page.files_radio.isChecked() and wiz.connect_page.files_box.isVisibleTo(wiz)
    wiz.reject()
    qtbot.waitUntil(lambda: window.wizard is None, timeout=5000)
    assert window.onboarding.welcome_shown
    assert "No profile" not in window.header_status.text()


def test_try_the_demo_replaces_the_welcome_window_with_a_demo_window_titled_once(qtbot, isolated_home) -> None:
    from cio_desktop.gui.app import create_window

    window = create_window()  # not handed to qtbot: the demo window deletes it
    window.show()
    qtbot.waitUntil(lambda: window.onboarding.welcome_shown, timeout=10000)
    qtbot.mouseClick(window.onboarding.welcome.buttons["demo"], Qt.MouseButton.LeftButton)
    demos = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.demo]
    assert len(demos) == 1
    demo = demos[0]
    qtbot.addWidget(demo)
    try:
        assert demo.isVisible() and not window.isVisible()
        qtbot.waitUntil(lambda: demo.ctx.profile is not None, timeout=30000)
        # Qt appends the display name to a title that does not end with it: once, here.
        assert demo.windowTitle() == f"Demo — {APP_TITLE}"  # ends with the app's display name (make_app)
        assert demo.onboarding.next_step.isVisible() and demo.onboarding.next_step.page == "Preview"
        assert not (isolated_home / "config" / "profiles").exists()  # the user's own folder stays empty
    finally:
        demo.close()
        demo.demo_session.stop()


def test_next_step_points_at_preview_then_sync_and_leaves_after_the_first_sync(
    qtbot, make_sandbox, make_window
) -> None:
    sb = make_sandbox(users=120)
    window = make_window(sb)
    bar = window.onboarding.next_step
    window.show_page("Connect")
    window.onboarding.start(window.ctx.profile.name)
    assert bar.isVisible() and "Preview what will be sent" in bar.label.text()
    assert window.sidebar.isEnabled() and window.stack.isEnabled()  # it points; nothing is blocked
    window.show_page("History")  # any page opens meanwhile
    assert window.current_page_name() == "History"

    qtbot.mouseClick(bar.go_button, Qt.MouseButton.LeftButton)
    assert window.current_page_name() == "Preview"
    assert "Run your first sync" in bar.label.text()
    qtbot.mouseClick(bar.go_button, Qt.MouseButton.LeftButton)
    assert window.current_page_name() == "Sync"
    assert bar.isVisible()  # pointing at the Sync page does not start anything

    window.sync_page.start(RunMode.FULL)
    qtbot.waitUntil(lambda: not window.sync_page.running, timeout=60000)
    assert not bar.isVisible()


def test_hide_dismisses_the_next_step(qtbot, make_sandbox, make_window) -> None:
    window = make_window(make_sandbox(users=50))
    window.onboarding.start(window.ctx.profile.name)
    qtbot.mouseClick(window.onboarding.next_step.hide_button, Qt.MouseButton.LeftButton)
    assert not window.onboarding.next_step.isVisible()


def test_keyring_line_says_stored_only_once_a_secret_was_stored(qtbot) -> None:
    store, secrets = ProfileStore(), SecretStore(SystemKeyring())
    store.save(Profile(name="Acme"))
    window = MainWindow(JobRunner(), store, secrets)
    qtbot.addWidget(window)
    window.load_profiles("Acme")
    line = window.connect_page.secrets_line
    qtbot.waitUntil(lambda: "will be stored in" in line.text(), timeout=5000)
    assert not line.text().startswith("\u2713")
    assert "Stored in" not in line.text()

    page = window.connect_page
    page.api_key.setText("cio-key-1")
    page.api_key.editingFinished.emit()
    qtbot.waitUntil(lambda: line.text().startswith("\u2713 Stored in"), timeout=5000)
    assert secrets.get("Acme", SecretKey.CIO_API_KEY) == "cio-key-1"


def test_wizard_keyring_line_says_secrets_are_stored_when_saving(qtbot) -> None:
    wiz = SetupWizard(JobRunner(), ProfileStore(), SecretStore(SystemKeyring()), existing=[])
    qtbot.addWidget(wiz)
    line = wiz.connect_page.secrets_line
    qtbot.waitUntil(lambda: "will be stored in" in line.text(), timeout=5000)
    assert "Stored in" not in line.text()
    assert "Save and finish" in line.text()


def _screen_pos(widget: Any) -> QPoint:
    return widget.mapToGlobal(QPoint(0, 0))


def test_test_connection_results_move_no_control(qtbot) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wiz = _wizard(qtbot)
    page = wiz.connect_page
    wiz.ctx.update(endpoints=Endpoints(hull_api=f"http://127.0.0.1:{port}/api/v1"))
    _type(qtbot, page.org_edit, "acme.hullapp.io")
    _type(qtbot, page.connector_edit, "5a001316f252e6b438000001")
    page.hull_secret.setText("s3cret")
    watched = (page.hull_test, page.hull_howto.button, page.site_edit, page.cio_test, page.cio_howto.button)
    QApplication.processEvents()  # the layout settles after the edits above
    before = [_screen_pos(w) for w in watched]

    qtbot.mouseClick(page.cio_test, Qt.MouseButton.LeftButton)  # missing Site ID: an instant error
    assert page.cio_status.status == "error"
    qtbot.mouseClick(page.hull_test, Qt.MouseButton.LeftButton)
    assert page.hull_status.status == "busy"
    QApplication.processEvents()
    assert [_screen_pos(w) for w in watched] == before  # "Checking…" and a short result: room was kept
    qtbot.waitUntil(lambda: page.hull_status.status == "error", timeout=20000)
    QApplication.processEvents()
    assert _screen_pos(page.hull_test) == before[0]  # a long result grows below; the button stays put

    # An unreachable hullapp.io organization points at export files, naming the choice on screen.
    assert "switched off at the end of 2022" in page.hull_status.text()
    assert "“Hull export files”" in page.hull_status.text() and page.files_radio.text() == "Hull export files"
    assert "s3cret" not in page.hull_status.text()


def _write_lines(path: Any, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_export_file_without_usable_users_is_an_error_that_blocks_next(qtbot, tmp_path) -> None:
    users = tmp_path / "users.jsonl"
    _write_lines(users, ["{not json"] * 232)
    events = tmp_path / "events.jsonl"
    _write_lines(events, [json.dumps({"event": "Signed Up", "user_id": "u1", "created_at": "2022-01-01T00:00:00Z"})])
    wiz = _wizard(qtbot, source=SourceKind.FILES)
    page = wiz.connect_page
    _type(qtbot, page.site_edit, "site1")
    page.events_edit.setText(str(events))
    _type(qtbot, page.users_edit, str(users))  # a new users file is checked right away
    qtbot.waitUntil(lambda: page.files_status.status in ("ok", "error"), timeout=10000)
    assert page.files_status.status == "error"
    assert "no usable users: 232 rows could not be read" in page.files_status.text()
    assert "\u2713" not in page.files_status.text()

    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 0
    assert "no usable users" in wiz.problem.text()

    _write_lines(users, [json.dumps({"id": "u1", "email": "a@example.com", "external_id": "a"}), "{not json"])
    qtbot.mouseClick(page.files_test, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.files_status.status == "ok", timeout=10000)
    assert "1 user (" in page.files_status.text()
    assert "1 row could not be read" in page.files_status.text()
    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 1


def test_wizard_needs_a_segment_or_an_explicit_send_nobody(qtbot) -> None:
    wiz = _wizard(qtbot)
    wiz.go(1)
    audience = wiz.audience_page
    assert audience.nobody_box.isVisible() and not audience.nobody_box.isChecked()
    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 1
    assert "Send nobody for now" in wiz.problem.text()
    assert audience.nobody_box.text().startswith("Send nobody for now")  # the words the message uses
    audience.nobody_box.setChecked(True)
    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 2


def test_events_summary_says_event_names_chosen(qtbot, make_sandbox, make_window) -> None:
    window = make_window(make_sandbox(users=50))
    names = [e.name for e in window.ctx.catalog.events][:3]
    assert window.ctx.update(events=tuple(names)) is None
    assert window.events_page.summary.text() == "\u2713 3 event names chosen."
    assert window.ctx.update(events=tuple(names[:1])) is None
    assert window.events_page.summary.text() == "\u2713 1 event name chosen."


def test_wizard_does_not_go_on_past_a_refused_service_address(qtbot) -> None:
    wiz = _wizard(qtbot)
    page = wiz.connect_page
    _type(qtbot, page.org_edit, "acme.hullapp.io")
    _type(qtbot, page.connector_edit, "5a001316f252e6b438000001")
    _type(qtbot, page.site_edit, "site1")
    _type(qtbot, page.endpoints.edits["cio_app"], "http://10.0.0.5/app")
    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 0
    assert wiz.problem.text().startswith("\u2717 App API address must start with https://")
    _type(qtbot, page.endpoints.edits["cio_app"], "")
    qtbot.mouseClick(wiz.next_button, Qt.MouseButton.LeftButton)
    assert wiz.current == 1


def test_advanced_service_addresses_are_validated_kept_on_screen_and_saved(qtbot) -> None:
    store = ProfileStore()
    store.save(Profile(name="Acme"))
    window = MainWindow(JobRunner(), store, SecretStore.in_memory())
    qtbot.addWidget(window)
    window.show()
    window.load_profiles("Acme")
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=5000)
    section = window.connect_page.endpoints
    qtbot.mouseClick(section.button, Qt.MouseButton.LeftButton)
    assert section.panel.isVisible()

    track = section.edits["cio_track"]
    _type(qtbot, track, "http://proxy.example.com")
    _type(qtbot, section.edits["hull_api"], "https://hull-proxy.example.com/api/v1")
    assert section.status.status == "error"
    # The message names the field by its label on screen, and says what is allowed.
    assert track.accessibleName() == "Track API address"
    assert "Track API address must start with https://" in section.status.text()
    assert track.text() == "http://proxy.example.com"  # refused text stays, to be fixed
    assert window.ctx.profile.endpoints == Endpoints(hull_api="https://hull-proxy.example.com/api/v1")

    _type(qtbot, track, "http://127.0.0.1:8080/track")
    assert section.status.status != "error"
    expected = Endpoints(hull_api="https://hull-proxy.example.com/api/v1", cio_track="http://127.0.0.1:8080/track")
    qtbot.waitUntil(lambda: store.load("Acme").endpoints == expected, timeout=5000)
    assert "Not the real services" in section.in_use.text()


def test_deleting_the_last_profile_brings_back_the_welcome_screen(qtbot, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    store = ProfileStore()
    store.save(Profile(name="Only"))
    window = MainWindow(JobRunner(), store, SecretStore.in_memory())
    qtbot.addWidget(window)
    window.show()
    window.load_profiles("Only")
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=5000)
    assert not window.onboarding.welcome_shown and window.sidebar.isEnabled()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.delete_profile()
    qtbot.waitUntil(lambda: window.onboarding.welcome_shown, timeout=5000)
    assert not window.sidebar.isEnabled()
    assert window.wizard is None
