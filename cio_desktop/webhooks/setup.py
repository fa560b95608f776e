"""Setting up the webhook in Customer.io: the URL to paste, numbered instructions, a test event.

The URL is the profile's public base URL (whatever reaches this receiver from the internet: a
tunnel, a reverse proxy) + ``/webhooks/customerio/`` + a random per-profile token kept in the
keyring. Customer.io's URL field takes at most 255 characters, so longer URLs are refused here
rather than silently cut by Customer.io.
"""

from __future__ import annotations

import json
import secrets as _secrets
import time
from dataclasses import dataclass

import requests

from cio_desktop.config.profile import MAX_WEBHOOK_URL_CHARS, Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.webhooks.events import TEST_EVENT_PREFIX
from cio_desktop.webhooks.receiver import WEBHOOK_PATH_PREFIX
from cio_desktop.webhooks.signature import signed_headers

TOKEN_BYTES = 24  # 32 URL-safe characters
TEST_TIMEOUT = (5.0, 10.0)


class WebhookUrlError(ValueError):
    """No usable webhook URL; the message says what to change."""


@dataclass(frozen=True)
class TestResult:
    """Outcome of "Send test event", worded like Customer.io's own Send Test."""

    ok: bool
    status: int | None
    message: str
    response_body: str
    elapsed_ms: float
    event_id: str = ""

    __test__ = False  # not a pytest test class


def generate_token() -> str:
    return _secrets.token_urlsafe(TOKEN_BYTES)


def ensure_token(profile_name: str, store: SecretStore) -> str:
    """The profile's webhook token from the keyring, created on first use."""
    token = store.get(profile_name, SecretKey.WEBHOOK_TOKEN)
    if not token:
        token = generate_token()
        store.set(profile_name, SecretKey.WEBHOOK_TOKEN, token)
    return token


def rotate_token(profile_name: str, store: SecretStore) -> str:
    """Replace the token (the old URL stops working at once; paste the new one into Customer.io)."""
    token = generate_token()
    store.set(profile_name, SecretKey.WEBHOOK_TOKEN, token)
    return token


def webhook_url(profile: Profile, token: str) -> str:
    """The URL to paste into Customer.io."""
    base = profile.webhook_public_url.strip().rstrip("/")
    if not base:
        raise WebhookUrlError(
            "No public URL is set, so Customer.io cannot reach this computer. On the Webhook page, click "
            "\u201cGet a public URL\u201d (it runs cloudflared or ngrok if installed), or expose the receiver "
            f"({profile.webhook_listen}) through a reverse proxy and enter its https address as the public URL."
        )
    url = base + WEBHOOK_PATH_PREFIX + token
    if len(url) > MAX_WEBHOOK_URL_CHARS:
        raise WebhookUrlError(
            f"The webhook URL would be {len(url)} characters; Customer.io accepts at most "
            f"{MAX_WEBHOOK_URL_CHARS}. Use a shorter public URL."
        )
    return url


def setup_instructions(profile: Profile, url: str | None, *, signing_key_set: bool = False) -> str:
    """Numbered steps to set up the reporting webhook in Customer.io (plain text, for copying).

    The text stands on its own wherever it is pasted (an email, a ticket): it points at nothing
    "above". Without ``url`` (no public URL yet) step 3 says where the URL will come from.
    """
    key_step = (
        "The signing key is already saved in cio-desktop; if you regenerate it in Customer.io, paste the new one "
        'into the "Signing key" field on cio-desktop\'s Webhook page.'
        if signing_key_set
        else 'Paste it into the "Signing key" field on cio-desktop\'s Webhook page (it is kept in your '
        "system keyring, never in a file). Until then only the secret token in the URL protects the receiver."
    )
    paste = (
        f'Paste this URL into the "Webhook Endpoint" field:\n   {url}'
        if url
        else 'Paste the webhook URL into the "Webhook Endpoint" field. There is no URL yet: cio-desktop shows it on '
        "its Webhook page once this computer has a public URL (a tunnel or reverse proxy to the receiver)."
    )
    steps = [
        "Log in to Customer.io and open the workspace this profile syncs to"
        + (f" (site ID {profile.cio_site_id})." if profile.cio_site_id else "."),
        'Go to Data & Integrations > Integrations, find "Reporting Webhooks" (older workspaces call it '
        '"Email Activity Webhook" and show a Settings button) and click "Add Reporting Webhook".',
        paste,
        "Tick the events to send to Hull. Email: Sent, Delivered, Opened, Clicked, Converted, Bounced, "
        "Dropped, Spammed, Unsubscribed, Failed. Customer: Subscribed, Unsubscribed. Add push, SMS or "
        "in-app events if you use those channels.",
        'Leave "Send Frequency" on "every time" if you want every open and click in Hull, and leave '
        '"Body Content" off (Hull does not need message bodies).',
        'Click "Save and Enable Webhook", then "Send Test": it should report success, and the test '
        "event appears in the inbox on cio-desktop's Webhook page.",
        "Copy the webhook's signing key: open the webhook's settings in Customer.io; the key is shown under "
        '"Webhook signing key" (Reveal / copy). ' + key_step,
        f"Keep cio-desktop's receiver running (it listens on {profile.webhook_listen}) and, if you use one, the "
        "tunnel; Customer.io retries events for up to 7 days while they are stopped.",
    ]
    return "\n".join(f"{n}. {text}" for n, text in enumerate(steps, start=1))


def sample_test_event(now: float | None = None) -> dict[str, object]:
    """A current-format event like the one Customer.io's "Send Test" posts."""
    ts = int(time.time() if now is None else now)
    return {
        "data": {
            "action_id": 1,
            "campaign_id": 1,
            "customer_id": "cio-desktop-test",
            "delivery_id": f"{TEST_EVENT_PREFIX}{ts}",
            "identifiers": {"id": "cio-desktop-test", "email": "test@example.com"},
            "recipient": "test@example.com",
            "subject": "cio-desktop test event",
        },
        "event_id": f"{TEST_EVENT_PREFIX}{ts}-{_secrets.token_hex(4)}",
        "metric": "sent",
        "object_type": "email",
        "timestamp": ts,
    }


def send_test_event(
    url: str,
    signing_key: str | None,
    *,
    payload: dict[str, object] | None = None,
    timeout: tuple[float, float] = TEST_TIMEOUT,
) -> TestResult:
    """POST ``payload`` (the marked sample by default), signed, to ``url``; report like Customer.io's "Send Test"."""
    payload = payload if payload is not None else sample_test_event()
    event_id = str(payload.get("event_id", ""))
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "cio-desktop webhook test"}
    if signing_key:
        headers.update(signed_headers(signing_key, body))
    started = time.monotonic()

    def _result(ok: bool, status: int | None, message: str, text: str, started: float) -> TestResult:
        return TestResult(ok, status, message, text, (time.monotonic() - started) * 1000.0, event_id)

    try:
        resp = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return _result(False, None, "Test failed: the endpoint did not answer in time.", "", started)
    except requests.ConnectionError as exc:
        return _result(
            False,
            None,
            f"Test failed: could not connect ({type(exc).__name__}). Is the receiver running and the public URL "
            "forwarded to it?",
            "",
            started,
        )
    except requests.RequestException as exc:
        return _result(False, None, f"Test failed: {type(exc).__name__}.", "", started)
    text = resp.text[:500]
    if 200 <= resp.status_code < 300:
        return _result(True, resp.status_code, f"Success! The endpoint answered {resp.status_code}.", text, started)
    hint = {
        401: " The token in the URL or the signing key does not match this profile's.",
        404: " The URL's path is wrong: copy the URL again.",
    }.get(resp.status_code, "")
    return _result(
        False, resp.status_code, f"Test failed: the endpoint answered {resp.status_code}.{hint}", text, started
    )


__all__ = [
    "TestResult",
    "WebhookUrlError",
    "ensure_token",
    "generate_token",
    "rotate_token",
    "sample_test_event",
    "send_test_event",
    "setup_instructions",
    "webhook_url",
]
