"""The Webhook page edits where Customer.io reaches the receiver (public URL, listen address)."""

from __future__ import annotations

import pytest

from cio_desktop.config.secrets import SecretKey
from cio_desktop.config.store import ProfileStore

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_public_url_typed_on_the_webhook_page_is_saved_and_makes_the_url(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=50)
    window = make_window(sb)
    window.show_page("Webhook")
    page = window.webhook_page
    qtbot.waitUntil(lambda: page.url_status.isVisible(), timeout=5000)  # no public URL yet
    page.public_url_edit.setText("https://hooks.acme.example")
    page.public_url_edit.editingFinished.emit()
    qtbot.waitUntil(
        lambda: page.webhook_url.startswith("https://hooks.acme.example/webhooks/customerio/"), timeout=5000
    )
    token = window.secrets.get(window.ctx.profile.name, SecretKey.WEBHOOK_TOKEN)
    assert page.webhook_url.endswith(token)
    qtbot.waitUntil(lambda: ProfileStore().load(window.ctx.profile.name).webhook_public_url != "", timeout=5000)
    assert ProfileStore().load(window.ctx.profile.name).webhook_public_url == "https://hooks.acme.example"


def test_an_invalid_listen_address_is_refused_with_the_reason(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=50)
    window = make_window(sb)
    page = window.webhook_page
    before = window.ctx.profile.webhook_listen
    page.listen_edit.setText("not an address")
    page.listen_edit.editingFinished.emit()
    assert page.settings_status.status == "error"
    assert "127.0.0.1:8765" in page.settings_status.text()
    assert window.ctx.profile.webhook_listen == before
