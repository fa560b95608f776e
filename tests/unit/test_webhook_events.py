from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.webhooks.events import (
    LEGACY_EVENT_NAMES,
    IdentityProblem,
    MappedEvent,
    PayloadFormat,
    WebhookPayloadError,
    decode_body,
    map_payload,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
RECEIVED = 1_700_100_000.0


def load(name: str) -> tuple[dict[str, Any], bytes]:
    raw = (FIXTURES / name).read_bytes()
    return decode_body(raw), raw


def mapped(name: str, attribute: str = "external_id") -> MappedEvent:
    payload, raw = load(name)
    return map_payload(payload, raw, customer_id_attribute=attribute, received_at=RECEIVED)


LEGACY_EXPECTED = {
    "customer_subscribed": "Customer Subscribed",
    "customer_unsubscribed": "Customer Unsubscribed",
    "email_attempted": "Email Attempted",
    "email_bounced": "Email Bounced",
    "email_clicked": "Email Link Clicked",
    "email_converted": "Email Converted",
    "email_delivered": "Email Delivered",
    "email_drafted": "Email Drafted",
    "email_dropped": "Email Dropped",
    "email_failed": "Email Failed",
    "email_opened": "Email Opened",
    "email_sent": "Email Sent",
    "email_spammed": "Email Marked as Spam",
    "email_unsubscribed": "Unsubscribed",
}


def test_legacy_table_is_exactly_hull_connectors_fourteen_names() -> None:
    assert dict(LEGACY_EVENT_NAMES) == LEGACY_EXPECTED


@pytest.mark.parametrize("event_type", sorted(LEGACY_EXPECTED))
def test_each_legacy_sample_maps_to_hulls_event_name_identity_and_time(event_type: str) -> None:
    payload, _ = load(f"legacy_{event_type}.json")
    event = mapped(f"legacy_{event_type}.json")
    assert event.format is PayloadFormat.LEGACY
    assert event.known
    assert event.name == LEGACY_EXPECTED[event_type]
    assert event.event_id == payload["event_id"]
    assert event.as_user == {"external_id": "u-1001", "email": "ada@example.com"}
    assert event.problem is None
    assert event.created_at.endswith("Z") and event.created_at.startswith("2023-11-14T22:")
    body = event.track_body()
    assert body["source"] == "customerio" and body["event_id"] == payload["event_id"]
    assert body["event"] == LEGACY_EXPECTED[event_type] and body["created_at"] == event.created_at


def test_legacy_email_properties_are_hulls_with_subject_renamed() -> None:
    event = mapped("legacy_email_opened.json")
    assert event.properties == {
        "email_address": "Ada Lovelace <ada@example.com>",
        "email_id": "RPILAgABcRhIBqSp7kiCwNxOyZ4o10",
        "customer_id": "u-1001",
        "campaign_id": "42",
        "campaign_name": "Monthly report",
        "template_id": "117",
        "email_subject": "Your March report",
    }
    assert "subject" not in event.properties


def test_legacy_click_keeps_its_link() -> None:
    event = mapped("legacy_email_clicked.json")
    assert event.properties["href"] == "https://example.com/report?utm_source=cio"


CURRENT_EXPECTED = {
    "email_sent": "Email Sent",
    "email_delivered": "Email Delivered",
    "email_opened": "Email Opened",
    "email_clicked": "Email Link Clicked",
    "email_bounced": "Email Bounced",
    "email_spammed": "Email Marked as Spam",
    "email_unsubscribed": "Unsubscribed",
    "email_failed": "Email Failed",
    "email_converted": "Email Converted",
    "customer_subscribed": "Customer Subscribed",
    "customer_unsubscribed": "Customer Unsubscribed",
    "push_delivered": "Push Delivered",
    "sms_sent": "SMS Sent",
    "in_app_opened": "In-App Opened",
    "webhook_sent": "Webhook Sent",
}


@pytest.mark.parametrize("sample", sorted(CURRENT_EXPECTED))
def test_each_current_sample_maps_to_its_hull_event_name(sample: str) -> None:
    payload, _ = load(f"current_{sample}.json")
    event = mapped(f"current_{sample}.json")
    assert event.format is PayloadFormat.CURRENT
    assert event.known
    assert event.name == CURRENT_EXPECTED[sample]
    assert event.event_id == payload["event_id"]
    assert event.object_type == payload["object_type"] and event.metric == payload["metric"]
    assert event.as_user is not None and event.as_user["external_id"] == "u-1001"


def test_current_click_carries_campaign_delivery_subject_href_and_link() -> None:
    event = mapped("current_email_clicked.json")
    assert event.properties == {
        "campaign_id": 23,
        "action_id": 96,
        "delivery_id": "RMehBAAAAXE7r_ONUGXly9DBGkpq1A==",
        "href": "https://example.com/pricing",
        "link_id": 4,
        "recipient": "ada@example.com",
        "customer_id": "u-1001",
        "email_subject": "Your March report",
    }
    assert event.as_user == {"external_id": "u-1001", "email": "ada@example.com"}
    assert event.created_at == "2023-11-14T22:30:03Z"


def test_current_bounce_carries_failure_message_and_broadcast() -> None:
    event = mapped("current_email_bounced.json")
    assert event.properties["failure_message"].startswith("550 5.1.1")
    assert event.properties["broadcast_id"] == 7
    assert event.properties["email_subject"] == "Spring sale"


def test_newsletter_and_transactional_ids_are_kept() -> None:
    assert mapped("current_email_spammed.json").properties["newsletter_id"] == 12
    assert mapped("current_email_failed.json").properties["transactional_message_id"] == 3


def test_sms_recipient_phone_number_is_not_taken_for_an_email() -> None:
    event = mapped("current_sms_sent.json")
    assert event.as_user == {"external_id": "u-1001"}
    assert event.properties["recipient"] == "+15555550123"


def test_customer_id_attribute_id_identifies_by_hull_id() -> None:
    event = mapped("current_email_opened.json", attribute="id")
    assert event.as_user == {"id": "u-1001", "email": "ada@example.com"}


def test_customer_id_attribute_email_identifies_by_email_only() -> None:
    event = mapped("legacy_email_opened.json", attribute="email")
    assert event.as_user == {"email": "ada@example.com"}


def test_email_only_person_is_identified_by_email() -> None:
    event = mapped("current_email_only_identifiers.json")
    assert event.as_user == {"email": "grace@example.com"}
    assert event.problem is None


def test_event_without_customer_id_or_email_has_no_identity_and_says_why() -> None:
    event = mapped("current_no_identity.json")
    assert event.known
    assert event.as_user is None
    assert event.problem == IdentityProblem.NO_IDENTITY.value


def test_email_from_display_name_form_of_email_address() -> None:
    data = {"email_address": "Bob <b@x.io>"}
    payload = {"event_type": "email_opened", "event_id": "e1", "timestamp": 1, "data": data}
    event = map_payload(payload, b"", customer_id_attribute="external_id", received_at=RECEIVED)
    assert event.as_user == {"email": "b@x.io"}


def test_unknown_metric_is_kept_under_a_descriptive_name() -> None:
    event = mapped("current_unknown_metric.json")
    assert not event.known
    assert event.name == "Customer.io email deferred"


def test_unknown_object_type_is_kept_under_a_descriptive_name() -> None:
    event = mapped("current_unknown_object.json")
    assert not event.known
    assert event.name == "Customer.io carrier_pigeon landed"
    assert event.as_user is not None


def test_unrecognised_shape_is_kept_as_unknown() -> None:
    raw = b'{"hello": "world"}'
    event = map_payload(decode_body(raw), raw, customer_id_attribute="external_id", received_at=RECEIVED)
    assert event.format is PayloadFormat.UNRECOGNIZED and not event.known


def test_missing_event_id_gets_a_stable_id_from_the_body() -> None:
    raw = json.dumps({"object_type": "email", "metric": "opened", "data": {"identifiers": {"id": "1"}}}).encode()
    first = map_payload(decode_body(raw), raw, customer_id_attribute="external_id", received_at=1.0)
    again = map_payload(decode_body(raw), raw, customer_id_attribute="external_id", received_at=2.0)
    assert first.event_id == again.event_id and first.event_id.startswith("sha256:")


def test_missing_timestamp_uses_the_receipt_time() -> None:
    payload = {"object_type": "email", "metric": "opened", "event_id": "x", "data": {}}
    event = map_payload(payload, b"", customer_id_attribute="external_id", received_at=0.0)
    assert event.created_at == "1970-01-01T00:00:00Z"


def test_non_scalar_property_values_are_flattened_to_json_text() -> None:
    payload = {"object_type": "email", "metric": "opened", "event_id": "x", "data": {"campaign_id": {"a": [1]}}}
    event = map_payload(payload, b"", customer_id_attribute="external_id", received_at=0.0)
    assert event.properties["campaign_id"] == '{"a":[1]}'


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"a": ', "malformed JSON"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b"", "malformed JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}", "malformed JSON"),
    ],
)
def test_unusable_bodies_raise_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(WebhookPayloadError, match=reason):
        decode_body(raw)
