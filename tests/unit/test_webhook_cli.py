from __future__ import annotations

import pytest

from cio_desktop.cli import EXIT_CONFIG, EXIT_OK, main
from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.webhooks.events import MappedEvent, PayloadFormat
from cio_desktop.webhooks.inbox import Inbox


def test_webhook_is_a_registered_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["webhook", "--help"])
    assert "serve" in capsys.readouterr().out


def test_url_prints_the_url_with_the_keyring_token_and_numbered_steps(capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="Acme", webhook_public_url="https://hooks.example.com"))
    assert main(["webhook", "url", "--profile", "Acme"]) == EXIT_OK
    out = capsys.readouterr().out
    token = SecretStore().get("Acme", SecretKey.WEBHOOK_TOKEN)
    assert out.splitlines()[0] == f"https://hooks.example.com/webhooks/customerio/{token}"
    assert "\n1. " in out and "\n3. " in out


def test_url_without_public_url_exits_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="Acme"))
    assert main(["webhook", "url", "--profile", "Acme"]) == EXIT_CONFIG
    assert "No public URL" in capsys.readouterr().err


def test_serve_refuses_a_public_address_without_public_flag(capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="Acme"))
    assert main(["webhook", "serve", "--profile", "Acme", "--host", "0.0.0.0", "--port", "0"]) == EXIT_CONFIG
    assert "--public" in capsys.readouterr().err


def test_unknown_profile_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webhook", "serve", "--profile", "Nope"]) == EXIT_CONFIG
    assert "Nope" in capsys.readouterr().err


def test_inbox_lists_events_and_retries_failed(capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="Acme"))
    with Inbox.for_profile("Acme") as inbox:
        inbox.accept(
            MappedEvent(
                event_id="e1",
                format=PayloadFormat.CURRENT,
                object_type="email",
                metric="opened",
                name="Email Opened",
                known=True,
                created_at="2023-11-14T22:13:20Z",
                as_user={"external_id": "u1"},
            ),
            b'{"event_id": "e1", "object_type": "email", "metric": "opened", "data": {"identifiers": {"id": "u1"}}}',
        )
        inbox.mark_failed({"e1": "Hull refused this event"})
    assert main(["webhook", "inbox", "--profile", "Acme", "--status", "failed"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Email Opened" in out and "Hull refused this event" in out and "external_id=u1" in out
    assert main(["webhook", "inbox", "--profile", "Acme", "--retry-failed"]) == EXIT_OK
    assert "1 failed event(s) queued" in capsys.readouterr().out


def test_mask_token_hides_the_token_and_keeps_the_rest_of_the_url() -> None:
    from cio_desktop.commands.webhook import mask_token

    assert mask_token("https://hooks.example.com/base/webhooks/customerio/s3cr3t") == (
        "https://hooks.example.com/base/webhooks/customerio/…"
    )
    assert mask_token("http://127.0.0.1:8765/healthz") == "http://127.0.0.1:8765/healthz"
