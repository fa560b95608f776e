"""Turn Customer.io reporting-webhook bodies into Hull track events (pure: no I/O, no clock).

Two body formats exist:

* legacy (what Hull's own connector handled): ``{"event_type": "email_opened", "event_id",
  "timestamp", "data": {"customer_id", "email_address": "Name <addr>", "email_id", "subject",
  "campaign_id", "campaign_name", "template_id"}}``. Event names and properties are exactly the
  ones Hull's connector produced, so existing Hull segments on them keep working.
* current: ``{"event_id", "object_type", "metric", "timestamp", "data": {"identifiers": {...},
  "delivery_id", "campaign_id" | "broadcast_id" | ..., "recipient", "subject", "href", ...}}``.
  Names follow the legacy style ("Email Opened", "Email Link Clicked", "Push Delivered"); email
  metrics that existed in the legacy format keep their legacy name ("Unsubscribed",
  "Email Marked as Spam") so one Hull segment covers both formats.

Anything we do not recognise is kept (status ``unknown``) under a descriptive name rather than
dropped, and an event without a usable identity is kept as failed with the reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from enum import StrEnum
from typing import Any

SOURCE = "customerio"
# Event ids of "Send test event" samples: stored and shown, never forwarded (no such person in Hull).
TEST_EVENT_PREFIX = "cio-desktop-test-"
MAX_EVENT_ID_CHARS = 200
MAX_NAME_CHARS = 100

JsonScalar = str | int | float | bool | None


class PayloadFormat(StrEnum):
    LEGACY = "legacy"
    CURRENT = "current"
    UNRECOGNIZED = "unrecognized"


class IdentityProblem(StrEnum):
    NO_IDENTITY = "no usable identity: the event has neither a customer id nor an email address"
    NO_EMAIL = "no usable identity: the profile identifies people by email and the event has no email address"


class WebhookPayloadError(ValueError):
    """The body cannot be used at all (answered 400 with this message as the reason)."""


# Hull's connector: legacy event_type -> Hull event name, exactly (docs/api-contracts.md,
# "Customer.io reporting webhooks").
LEGACY_EVENT_NAMES: Mapping[str, str] = {
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

_CHANNEL_LABELS: Mapping[str, str] = {
    "email": "Email",
    "push": "Push",
    "sms": "SMS",
    "in_app": "In-App",
    "slack": "Slack",
    "webhook": "Webhook",
    "whatsapp": "WhatsApp",
}

# Metrics Customer.io documents per object type; anything else is stored as unknown.
_MESSAGE_METRICS: Mapping[str, frozenset[str]] = {
    "email": frozenset(
        {
            "drafted",
            "attempted",
            "sent",
            "delivered",
            "opened",
            "clicked",
            "converted",
            "unsubscribed",
            "bounced",
            "dropped",
            "spammed",
            "failed",
            "undeliverable",
        }
    ),
    "push": frozenset(
        {
            "drafted",
            "attempted",
            "sent",
            "delivered",
            "opened",
            "clicked",
            "converted",
            "bounced",
            "dropped",
            "failed",
            "undeliverable",
        }
    ),
    "sms": frozenset(
        {"drafted", "attempted", "sent", "delivered", "clicked", "converted", "bounced", "failed", "undeliverable"}
    ),
    "in_app": frozenset({"drafted", "attempted", "sent", "opened", "clicked", "converted", "failed", "undeliverable"}),
    "slack": frozenset({"drafted", "attempted", "sent", "clicked", "converted", "failed", "undeliverable"}),
    "webhook": frozenset({"drafted", "attempted", "sent", "clicked", "converted", "failed", "undeliverable"}),
    "whatsapp": frozenset(
        {"drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted", "failed", "undeliverable"}
    ),
}

_CUSTOMER_EVENT_NAMES: Mapping[str, str] = {
    "subscribed": "Customer Subscribed",
    "unsubscribed": "Customer Unsubscribed",
    "cio_subscription_preferences_changed": "Customer Subscription Preferences Changed",
}

# Same wording for every channel; email keeps the legacy names for metrics that existed then.
_METRIC_WORDS: Mapping[str, str] = {"clicked": "Link Clicked", "spammed": "Marked as Spam"}
_EMAIL_LEGACY_OVERRIDES: Mapping[str, str] = {"unsubscribed": "Unsubscribed"}

# Current-format data keys copied to the Hull event (subject is renamed email_subject).
_CURRENT_PROPERTIES: tuple[str, ...] = (
    "campaign_id",
    "campaign_name",
    "broadcast_id",
    "broadcast_name",
    "newsletter_id",
    "newsletter_name",
    "transactional_message_id",
    "transactional_message_name",
    "journey_id",
    "action_id",
    "parent_action_id",
    "delivery_id",
    "trigger_event_id",
    "href",
    "link_id",
    "failure_message",
    "recipient",
    "email_address",
    "customer_id",
)
_LEGACY_PROPERTIES: tuple[str, ...] = (
    "email_address",
    "email_id",
    "customer_id",
    "campaign_id",
    "campaign_name",
    "template_id",
    # Not in Hull's list, but a click without its link is useless: kept when present.
    "href",
    "link_id",
)


@dataclass(frozen=True)
class MappedEvent:
    """One webhook body, understood: what would be sent to Hull and for whom.

    ``as_user`` is the Hull identity claim (``{"external_id": ..., "email": ...}``), ``None`` when
    the body names nobody usable (then ``problem`` says why). ``known`` is False for object types
    or metrics we do not recognise; such events are stored and shown, not forwarded.
    """

    event_id: str
    format: PayloadFormat
    object_type: str
    metric: str
    name: str
    known: bool
    created_at: str
    properties: Mapping[str, JsonScalar] = field(default_factory=dict)
    as_user: Mapping[str, str] | None = None
    problem: str | None = None

    def track_body(self) -> dict[str, Any]:
        """The firehose ``track`` body for this event."""
        return {
            "event": self.name,
            "properties": dict(self.properties),
            "event_id": self.event_id,
            "created_at": self.created_at,
            "source": SOURCE,
            "type": "track",
        }


def decode_body(raw: bytes) -> dict[str, Any]:
    """Parse a webhook body; raise :class:`WebhookPayloadError` with a reason a person can act on."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(
            f"body is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start})"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = json.loads(text)
    except RecursionError:
        raise WebhookPayloadError("malformed JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise WebhookPayloadError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer literal with more digits than Python converts
        raise WebhookPayloadError(f"malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise WebhookPayloadError(f"body must be a JSON object, not {_json_type(value)}")
    return value


def map_payload(
    payload: Mapping[str, Any], raw: bytes, *, customer_id_attribute: str, received_at: float
) -> MappedEvent:
    """Map a decoded body to a :class:`MappedEvent`.

    ``raw`` is only used to derive a stable event id for bodies without one (so a re-delivery is
    still recognised as a duplicate); ``received_at`` stands in for a missing/invalid timestamp.
    """
    event_id = _event_id(payload.get("event_id"), raw)
    created_at = _iso_time(payload.get("timestamp"), received_at)
    if event_id.startswith(TEST_EVENT_PREFIX):
        return MappedEvent(
            event_id=event_id,
            format=PayloadFormat.CURRENT,
            object_type=_label(payload.get("object_type")),
            metric=_label(payload.get("metric")),
            name="Webhook test event",
            known=False,
            created_at=created_at,
            problem="test event sent by cio-desktop: kept here, not forwarded to Hull",
        )
    data_value = payload.get("data")
    data: Mapping[str, Any] = data_value if isinstance(data_value, Mapping) else {}

    event_type = payload.get("event_type")
    if isinstance(event_type, str) and "object_type" not in payload:
        return _map_legacy(event_id, event_type, created_at, data, customer_id_attribute)
    object_type = payload.get("object_type")
    metric = payload.get("metric")
    if isinstance(object_type, str) and isinstance(metric, str):
        return _map_current(event_id, object_type, metric, created_at, data, customer_id_attribute)
    return MappedEvent(
        event_id=event_id,
        format=PayloadFormat.UNRECOGNIZED,
        object_type=_label(object_type),
        metric=_label(metric if metric is not None else event_type),
        name=_clip(f"Customer.io {_label(object_type or event_type)} {_label(metric)}".strip()),
        known=False,
        created_at=created_at,
        problem="neither the legacy (event_type) nor the current (object_type + metric) format",
    )


def hull_identity(customer_id: str | None, email: str | None, customer_id_attribute: str) -> Mapping[str, str] | None:
    """Hull ``asUser`` claim following the profile's customer-id attribute.

    ``id`` means Customer.io ids are Hull ids; ``email`` means they are email addresses; anything
    else (``external_id``, a trait) means they are Hull external ids. Email, when known, is added
    so Hull can still resolve a person whose external id it has not seen yet.
    """
    if customer_id_attribute == "email":
        address = email or (customer_id if customer_id and _looks_like_email(customer_id) else None)
        return {"email": address} if address else None
    claim: dict[str, str] = {}
    if customer_id:
        claim["id" if customer_id_attribute == "id" else "external_id"] = customer_id
    if email:
        claim["email"] = email
    return claim or None


# ---------------------------------------------------------------------------------------- internals
def _map_legacy(
    event_id: str, event_type: str, created_at: str, data: Mapping[str, Any], attribute: str
) -> MappedEvent:
    object_type, _, metric = event_type.partition("_")
    name = LEGACY_EVENT_NAMES.get(event_type)
    props: dict[str, JsonScalar] = {k: _scalar(data[k]) for k in _LEGACY_PROPERTIES if k in data}
    if "subject" in data:
        props["email_subject"] = _scalar(data["subject"])
    customer_id = _text(data.get("customer_id"))
    email = _address(data.get("email_address"))
    return _finish(
        event_id=event_id,
        fmt=PayloadFormat.LEGACY,
        object_type=object_type,
        metric=metric,
        name=name or _clip(f"Customer.io {event_type}"),
        known=name is not None,
        created_at=created_at,
        props=props,
        customer_id=customer_id,
        email=email,
        attribute=attribute,
    )


def _map_current(
    event_id: str, object_type: str, metric: str, created_at: str, data: Mapping[str, Any], attribute: str
) -> MappedEvent:
    name = _current_name(object_type, metric)
    props: dict[str, JsonScalar] = {k: _scalar(data[k]) for k in _CURRENT_PROPERTIES if k in data}
    if "subject" in data:
        props["email_subject"] = _scalar(data["subject"])
    identifiers_value = data.get("identifiers")
    identifiers: Mapping[str, Any] = identifiers_value if isinstance(identifiers_value, Mapping) else {}
    customer_id = _text(identifiers.get("id")) or _text(data.get("customer_id"))
    if customer_id and "customer_id" not in props:
        props["customer_id"] = customer_id
    email = _address(identifiers.get("email")) or _address(data.get("email_address")) or _address(data.get("recipient"))
    return _finish(
        event_id=event_id,
        fmt=PayloadFormat.CURRENT,
        object_type=object_type,
        metric=metric,
        name=name or _clip(f"Customer.io {object_type} {metric}"),
        known=name is not None,
        created_at=created_at,
        props=props,
        customer_id=customer_id,
        email=email,
        attribute=attribute,
    )


def _finish(
    *,
    event_id: str,
    fmt: PayloadFormat,
    object_type: str,
    metric: str,
    name: str,
    known: bool,
    created_at: str,
    props: dict[str, JsonScalar],
    customer_id: str | None,
    email: str | None,
    attribute: str,
) -> MappedEvent:
    as_user = hull_identity(customer_id, email, attribute)
    problem: str | None = None
    if as_user is None:
        problem = IdentityProblem.NO_EMAIL.value if attribute == "email" else IdentityProblem.NO_IDENTITY.value
    return MappedEvent(
        event_id=event_id,
        format=fmt,
        object_type=object_type,
        metric=metric,
        name=name,
        known=known,
        created_at=created_at,
        properties=props,
        as_user=as_user,
        problem=problem,
    )


def _current_name(object_type: str, metric: str) -> str | None:
    if object_type == "customer":
        return _CUSTOMER_EVENT_NAMES.get(metric)
    metrics = _MESSAGE_METRICS.get(object_type)
    if metrics is None or metric not in metrics:
        return None
    if object_type == "email" and metric in _EMAIL_LEGACY_OVERRIDES:
        return _EMAIL_LEGACY_OVERRIDES[metric]
    word = _METRIC_WORDS.get(metric, metric.replace("_", " ").title())
    return f"{_CHANNEL_LABELS[object_type]} {word}"


def _event_id(value: Any, raw: bytes) -> str:
    if isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
        if text and len(text) <= MAX_EVENT_ID_CHARS and text.isprintable():
            return text
    # No usable id: the body's hash still lets a re-delivery of the same body be recognised.
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _iso_time(value: Any, fallback: float) -> str:
    seconds: float = fallback
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        seconds = float(value)
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = float(int(value.strip()))
    # Customer.io sends seconds; a value this large is milliseconds.
    if seconds > 1e11:
        seconds /= 1000.0
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        moment = datetime.fromtimestamp(fallback, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def _address(value: Any) -> str | None:
    """The email address in ``addr`` or ``Name <addr>``; None if there is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if "<" not in text:  # the common plain form; parseaddr is comparatively slow
        return text if _looks_like_email(text) else None
    _, addr = parseaddr(text)
    return addr if _looks_like_email(addr) else None


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain and " " not in value and "." in domain)


def _scalar(value: Any) -> JsonScalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)[:1000]


def _label(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else json.dumps(value)[:40])


def _clip(name: str) -> str:
    return name[:MAX_NAME_CHARS]


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "null"


__all__ = [
    "LEGACY_EVENT_NAMES",
    "SOURCE",
    "TEST_EVENT_PREFIX",
    "IdentityProblem",
    "MappedEvent",
    "PayloadFormat",
    "WebhookPayloadError",
    "decode_body",
    "hull_identity",
    "map_payload",
]
