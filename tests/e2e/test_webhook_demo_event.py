"""The demo's test event is a signed Customer.io "email opened" about a real demo person, and reaches Hull."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.sandbox import Sandbox
from cio_desktop.webhooks.demo_event import DemoEventError, demo_opened_event, find_demo_person
from cio_desktop.webhooks.events import map_payload
from cio_desktop.webhooks.inbox import EventStatus
from cio_desktop.webhooks.service import WebhookService
from cio_desktop.webhooks.setup import send_test_event

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(users=40, seed=7) as sb:
        yield sb


def demo_secrets(sb: Sandbox) -> SecretStore:
    secrets = SecretStore.in_memory()
    secrets.set("Demo", SecretKey.HULL_SECRET, sb.credentials.hull_secret)
    secrets.set("Demo", SecretKey.WEBHOOK_SIGNING_KEY, "demo-signing-key")
    return secrets


def test_the_demo_person_is_in_the_profiles_segments_with_email_and_customer_id(sandbox: Sandbox) -> None:
    profile = sandbox.demo_profile()
    person = find_demo_person(profile, demo_secrets(sandbox))
    user = sandbox.user(person.hull_id)
    assert person.email == user["email"] and person.customer_id == user["external_id"]
    assert set(user["segment_ids"]) & set(profile.segment_ids)


def test_the_demo_event_maps_to_email_opened_on_that_person(sandbox: Sandbox) -> None:
    person = find_demo_person(sandbox.demo_profile(), demo_secrets(sandbox))
    payload = demo_opened_event(person, now=1_800_000_000)
    raw = json.dumps(payload).encode()
    mapped = map_payload(payload, raw, customer_id_attribute="external_id", received_at=0)
    assert mapped.known and mapped.name == "Email Opened" and mapped.problem is None
    assert mapped.as_user == {"external_id": person.customer_id, "email": person.email}
    assert len(mapped.event_id) == 26 and mapped.created_at == "2027-01-15T08:00:00Z"


def test_send_test_event_in_the_demo_is_signed_stored_and_forwarded_to_the_demo_hull(sandbox: Sandbox) -> None:
    secrets = demo_secrets(sandbox)
    profile = sandbox.demo_profile()
    with WebhookService(profile, secrets, port=0) as svc:
        svc.start()
        assert svc.receiver is not None
        person = find_demo_person(profile, secrets)
        result = send_test_event(svc.receiver.local_url, "demo-signing-key", payload=demo_opened_event(person))
        assert result.ok and result.status == 200 and result.event_id
        deadline = time.monotonic() + 10
        row = svc.inbox.get(result.event_id)
        # Forwarded is written once Hull answered, so it also means Hull has the event.
        while (row is None or row.status is not EventStatus.FORWARDED) and time.monotonic() < deadline:
            time.sleep(0.05)
            row = svc.inbox.get(result.event_id)
        assert row is not None and row.status is EventStatus.FORWARDED
        [event] = sandbox.hull_events_received()
    assert event["body"]["event"] == "Email Opened" and event["user_id"] == person.hull_id
    assert event["body"]["event_id"] == result.event_id


def test_a_wrong_signing_key_is_refused_like_customer_ios_would_be(sandbox: Sandbox) -> None:
    secrets = demo_secrets(sandbox)
    profile = sandbox.demo_profile()
    with WebhookService(profile, secrets, port=0) as svc:
        svc.start()
        assert svc.receiver is not None
        person = find_demo_person(profile, secrets)
        result = send_test_event(svc.receiver.local_url, "not-the-key", payload=demo_opened_event(person))
    assert not result.ok and result.status == 401 and "signing key" in result.message


def test_segments_without_anyone_usable_are_an_error_that_says_what_to_do(sandbox: Sandbox) -> None:
    profile = sandbox.demo_profile().replace(segments=())
    with pytest.raises(DemoEventError, match="Audience page"):
        find_demo_person(profile.replace(customer_id_attribute="traits_nobody_has_this"), demo_secrets(sandbox))
