"""Webhook page: URL and instructions, signing key to the keyring, start/stop, test event, inbox."""

from __future__ import annotations

import socket

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.gui.pages.webhook import WebhookPage

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def page(qtbot):
    p = WebhookPage()
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()
    p.runner.wait_all(5000)


def test_page_shows_url_with_token_instructions_and_where_the_key_is_kept(qtbot, page: WebhookPage) -> None:
    secrets = SecretStore.in_memory()
    profile = Profile(name="Acme", webhook_public_url="https://hooks.example.com")
    page.set_context(profile, secrets)
    qtbot.waitUntil(lambda: page.url_edit.text() != "", timeout=5000)
    token = secrets.get("Acme", SecretKey.WEBHOOK_TOKEN)
    assert token and page.webhook_url == f"https://hooks.example.com/webhooks/customerio/{token}"
    # The token is a secret: masked on screen (and in screenshots) until "Show" is pressed.
    assert token not in page.url_edit.text() and token not in page.instructions.toPlainText()
    assert page.url_edit.text().startswith("https://hooks.example.com/webhooks/customerio/")
    qtbot.mouseClick(page.show_token_button, Qt.MouseButton.LeftButton)
    assert page.url_edit.text() == page.webhook_url and token in page.instructions.toPlainText()
    qtbot.mouseClick(page.show_token_button, Qt.MouseButton.LeftButton)
    assert token not in page.url_edit.text()
    assert page.instructions.toPlainText().startswith("1. ")
    assert "Reporting Webhooks" in page.instructions.toPlainText()
    assert "memory" in page.key_where.text()
    qtbot.mouseClick(page.copy_url_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == page.webhook_url
    qtbot.mouseClick(page.copy_steps_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == page.instructions.toPlainText().replace("\u25cf" * 12, token)


def test_missing_public_url_is_explained(qtbot, page: WebhookPage) -> None:
    page.set_context(Profile(name="Acme"), SecretStore.in_memory())
    qtbot.waitUntil(lambda: page.url_status.isVisible(), timeout=5000)
    assert "No public URL" in page.url_status.text()
    assert not page.copy_url_button.isEnabled()


def test_signing_key_is_masked_and_saved_to_the_keyring(qtbot, page: WebhookPage) -> None:
    secrets = SecretStore.in_memory()
    page.set_context(Profile(name="Acme"), secrets)
    qtbot.waitUntil(lambda: page.service is not None, timeout=5000)
    assert page.key_field.edit.echoMode() == page.key_field.edit.EchoMode.Password
    page.key_field.setText("whsec_123")
    qtbot.mouseClick(page.save_key_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.key_status.status == "ok", timeout=5000)
    assert secrets.get("Acme", SecretKey.WEBHOOK_SIGNING_KEY) == "whsec_123"
    assert page.key_field.text() == ""


def test_start_send_test_event_see_it_in_the_inbox_and_stop(qtbot, page: WebhookPage) -> None:
    port = free_port()
    secrets = SecretStore.in_memory()
    secrets.set("Acme", SecretKey.WEBHOOK_SIGNING_KEY, "key-1")
    profile = Profile(name="Acme", webhook_listen=f"127.0.0.1:{port}", webhook_public_url=f"http://127.0.0.1:{port}")
    page.set_context(profile, secrets)
    qtbot.waitUntil(lambda: page.service is not None, timeout=5000)

    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.stop_button.isEnabled(), timeout=5000)
    assert f"127.0.0.1:{port}" in page.receiver_status.text()
    # No Hull connector in this profile: receiving works, forwarding says why it is off.
    qtbot.waitUntil(lambda: "Cannot forward" in page.forwarding_status.text(), timeout=5000)

    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.test_status.status in ("ok", "error"), timeout=10000)
    assert page.test_status.status == "ok" and "Success!" in page.test_status.text()
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=5000)
    assert page.table.item(0, 2).text() == "Webhook test event"
    assert page.table.item(0, 1).text() == "unknown"
    qtbot.waitUntil(lambda: "Received 1" in page.counts_label.text(), timeout=5000)

    page.filter_combo.setCurrentIndex(1)  # Pending
    qtbot.waitUntil(lambda: page.table.rowCount() == 0, timeout=5000)

    qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.start_button.isEnabled(), timeout=5000)
    assert "stopped" in page.receiver_status.text()


def test_port_in_use_is_shown_not_raised(qtbot, page: WebhookPage) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        page.set_context(Profile(name="Acme", webhook_listen=f"127.0.0.1:{port}"), SecretStore.in_memory())
        qtbot.waitUntil(lambda: page.service is not None, timeout=5000)
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.receiver_status.status == "error", timeout=5000)
    assert "choose another port" in page.receiver_status.text()
    assert page.start_button.isEnabled()


def test_widgets_have_accessible_names(page: WebhookPage) -> None:
    for w in (
        page.url_edit,
        page.copy_url_button,
        page.instructions,
        page.copy_steps_button,
        page.key_field.edit,
        page.save_key_button,
        page.start_button,
        page.stop_button,
        page.test_button,
        page.filter_combo,
        page.retry_button,
        page.table,
    ):
        assert w.accessibleName()


def test_failed_events_show_their_reason_and_retry_failed_queues_them(qtbot, page: WebhookPage) -> None:
    from cio_desktop.webhooks.events import MappedEvent, PayloadFormat

    page.set_context(Profile(name="Acme"), SecretStore.in_memory())
    qtbot.waitUntil(lambda: page.service is not None, timeout=5000)
    assert page.service is not None
    body = b'{"event_id": "e1", "object_type": "email", "metric": "opened", "data": {"identifiers": {"id": "u1"}}}'
    mapped = MappedEvent(
        event_id="e1",
        format=PayloadFormat.CURRENT,
        object_type="email",
        metric="opened",
        name="Email Opened",
        known=True,
        created_at="2023-11-14T22:13:20Z",
        as_user={"external_id": "u1"},
    )
    page.service.inbox.accept(mapped, body)
    page.service.inbox.mark_failed({"e1": "Hull refused this event: bad"})
    page.filter_combo.setCurrentIndex(3)  # Failed
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=5000)
    assert page.table.item(0, 4).text() == "Hull refused this event: bad"
    assert page.table.item(0, 3).text() == "external_id: u1"

    qtbot.mouseClick(page.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.inbox_status.status == "ok", timeout=5000)
    assert "1 failed event(s) queued" in page.inbox_status.text()
    qtbot.waitUntil(lambda: page.table.rowCount() == 0, timeout=5000)
