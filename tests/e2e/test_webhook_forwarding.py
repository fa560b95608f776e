"""Fixtures posted to a running WebhookService arrive in the sandbox's Hull with the right names."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.sandbox import Sandbox
from cio_desktop.webhooks.inbox import EventStatus
from cio_desktop.webhooks.service import WebhookService
from cio_desktop.webhooks.signature import signed_headers

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


@pytest.fixture
def service() -> Iterator[tuple[WebhookService, Sandbox]]:
    with Sandbox(users=20, seed=5) as sb:
        secrets = SecretStore.in_memory()
        secrets.set("Fwd", SecretKey.HULL_SECRET, sb.credentials.hull_secret)
        secrets.set("Fwd", SecretKey.WEBHOOK_SIGNING_KEY, "k")
        svc = WebhookService(sb.demo_profile("Fwd"), secrets, port=0)
        svc.start()
        try:
            yield svc, sb
        finally:
            svc.close()


def test_every_fixture_is_stored_and_the_known_ones_reach_hull(service: tuple[WebhookService, Sandbox]) -> None:
    svc, sb = service
    assert svc.receiver is not None and svc.forwarding_problem is None
    conn = http.client.HTTPConnection("127.0.0.1", svc.receiver.port, timeout=5)
    files = sorted(FIXTURES.glob("*.json"))
    for f in files:
        body = f.read_bytes()
        conn.request("POST", svc.receiver.webhook_path, body=body, headers=signed_headers("k", body))
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, f.name
    conn.close()

    forwardable = [f for f in files if "unknown" not in f.name and "no_identity" not in f.name]
    deadline = time.monotonic() + 15
    # Rows are marked forwarded just after Hull answered: wait for the inbox, not only for Hull.
    while svc.inbox.counts().forwarded < len(forwardable) and time.monotonic() < deadline:
        time.sleep(0.05)
    by_id = {e["body"]["event_id"]: e for e in sb.hull_events_received()}
    assert len(by_id) == len(forwardable)

    clicked = by_id[json.loads((FIXTURES / "legacy_email_clicked.json").read_bytes())["event_id"]]
    assert clicked["body"]["event"] == "Email Link Clicked"
    assert clicked["body"]["properties"]["email_subject"] == "Your March report"
    assert clicked["body"]["created_at"] == "2023-11-14T22:13:24Z"
    assert clicked["as_user"] == {"external_id": "u-1001", "email": "ada@example.com"}

    counts = svc.inbox.counts()
    assert counts.received == len(files)
    assert counts.forwarded == len(forwardable)
    assert counts.unknown == 2 and counts.failed == 1
    failed = svc.inbox.list_events(statuses=[EventStatus.FAILED])[0]
    assert failed.reason is not None and failed.reason.startswith("no usable identity")
