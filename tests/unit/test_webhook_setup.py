from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.webhooks.inbox import EventStatus, Inbox
from cio_desktop.webhooks.receiver import WebhookReceiver
from cio_desktop.webhooks.setup import (
    WebhookUrlError,
    ensure_token,
    rotate_token,
    send_test_event,
    setup_instructions,
    webhook_url,
)


def test_url_is_public_base_plus_path_plus_token() -> None:
    profile = Profile(name="p", webhook_public_url="https://hooks.example.com/")
    assert webhook_url(profile, "abc") == "https://hooks.example.com/webhooks/customerio/abc"


def test_url_without_public_base_is_refused_with_what_to_do() -> None:
    with pytest.raises(WebhookUrlError, match="No public URL is set"):
        webhook_url(Profile(name="p"), "abc")


def test_url_over_255_characters_is_refused() -> None:
    profile = Profile(name="p", webhook_public_url="https://" + "h" * 200 + ".example.com")
    with pytest.raises(WebhookUrlError, match="at most 255"):
        webhook_url(profile, "t" * 32)


def test_token_is_random_urlsafe_kept_in_the_keyring_and_stable(memory_secrets: SecretStore) -> None:
    token = ensure_token("p", memory_secrets)
    assert len(token) >= 32 and all(c.isalnum() or c in "-_" for c in token)
    assert memory_secrets.get("p", SecretKey.WEBHOOK_TOKEN) == token
    assert ensure_token("p", memory_secrets) == token
    assert ensure_token("other", memory_secrets) != token
    assert rotate_token("p", memory_secrets) != token


def test_instructions_are_numbered_and_say_where_to_paste_what_to_tick_and_the_key() -> None:
    profile = Profile(name="p", cio_site_id="abc123", webhook_public_url="https://h.example.com")
    text = setup_instructions(profile, "https://h.example.com/webhooks/customerio/tok")
    lines = [ln for ln in text.splitlines() if ln[:1].isdigit()]
    assert [ln.split(".")[0] for ln in lines] == [str(n) for n in range(1, len(lines) + 1)]
    assert "Data & Integrations > Integrations" in text and "Reporting Webhooks" in text
    assert "https://h.example.com/webhooks/customerio/tok" in text
    assert "Opened, Clicked" in text and "signing key" in text and "keyring" in text
    assert "Send Test" in text


@pytest.mark.parametrize("url", ["https://h.example.com/webhooks/customerio/tok", None])
def test_instructions_stand_on_their_own_when_pasted_elsewhere(url: str | None) -> None:
    text = setup_instructions(Profile(name="p"), url).lower()
    for pointer in ("above", "below", "see ", "(set a public url"):
        assert pointer not in text
    assert "cio-desktop's webhook page" in text
    if url is None:
        assert "there is no url yet" in text and "public url" in text


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    rx = WebhookReceiver(inbox, "tok", "key", port=0)
    rx.start()
    yield rx
    rx.stop()
    inbox.close()


def test_send_test_event_reports_success_and_is_kept_but_not_forwarded(receiver: WebhookReceiver) -> None:
    result = send_test_event(receiver.local_url, "key")
    assert result.ok and result.status == 200 and result.message.startswith("Success!")
    assert json.loads(result.response_body)["status"] == "stored"
    row = receiver.inbox.list_events()[0]
    assert row.status is EventStatus.UNKNOWN and row.name == "Webhook test event"


def test_send_test_event_with_the_wrong_key_reports_the_401(receiver: WebhookReceiver) -> None:
    result = send_test_event(receiver.local_url, "wrong")
    assert not result.ok and result.status == 401 and "signing key" in result.message


def test_send_test_event_to_nothing_listening_says_so() -> None:
    result = send_test_event("http://127.0.0.1:9/webhooks/customerio/x", "key", timeout=(1, 1))
    assert not result.ok and result.status is None and "could not connect" in result.message
