"""The demo's "Send test event": a real Customer.io reporting webhook about a real demo person.

In demo mode the built-in sandbox stands in for Hull, so the test can go all the way: an email
"opened" event in Customer.io's current format, about a person in the profile's segments, signed
with the profile's webhook signing key the way Customer.io signs. The receiver maps it to
"Email Opened" on that person and the forwarder delivers it to the demo organization's Hull.

A real profile's test event stays a marked sample that is kept in the inbox and never forwarded:
a test must not put a made-up email open on a real person in a real Hull organization.
"""

from __future__ import annotations

import secrets as _secrets
import time
from dataclasses import dataclass
from typing import Any

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.webhooks.forwarder import hull_sender_for

# Looked at before giving up on finding a person with an email address and a customer id.
MAX_CANDIDATES = 200
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class DemoPerson:
    """Who the demo test event is about, as Customer.io would identify them."""

    hull_id: str
    customer_id: str | None
    email: str
    name: str

    def describe(self) -> str:
        return f"{self.name} ({self.email})" if self.name else self.email


class DemoEventError(RuntimeError):
    """No demo person to send the test event about; the message says why."""


def demo_signing_key() -> str:
    """A signing key for the demo profile, so its receiver checks signatures as with Customer.io."""
    return _secrets.token_hex(32)


def find_demo_person(profile: Profile, secrets: SecretStore) -> DemoPerson:
    """The first person of the profile's segments with an email address and a customer id."""
    attribute = profile.customer_id_attribute
    client = hull_sender_for(profile, secrets)
    try:
        users = client.iter_users(
            profile.segment_ids or None, fields=["name", "email", "external_id", attribute], page_size=50
        )
        for n, user in enumerate(users):
            if n >= MAX_CANDIDATES:
                break
            email = user.get("email")
            customer_id = None if attribute == "email" else _text(user.get(attribute))
            if isinstance(email, str) and "@" in email and (customer_id or attribute == "email"):
                return DemoPerson(str(user["id"]), customer_id, email, _text(user.get("name")) or "")
    finally:
        client.close()
    raise DemoEventError(
        "No one in the chosen segments has both an email address and a customer id, so there is nobody to send "
        "the test event about. Choose other segments on the Audience page."
    )


def demo_opened_event(person: DemoPerson, now: float | None = None) -> dict[str, Any]:
    """An email "opened" reporting webhook, shaped like the ones Customer.io posts, about ``person``."""
    ts = int(time.time() if now is None else now)
    identifiers: dict[str, str] = {"email": person.email}
    if person.customer_id:
        identifiers["id"] = person.customer_id
    return {
        "data": {
            "action_id": 7,
            "campaign_id": 3,
            "customer_id": person.customer_id or "",
            "delivery_id": _delivery_id(ts),
            "identifiers": identifiers,
            "recipient": person.email,
            "subject": "Welcome to the demo (test event from cio-desktop)",
        },
        "event_id": _ulid(ts),
        "metric": "opened",
        "object_type": "email",
        "timestamp": ts,
    }


def _ulid(ts: int) -> str:
    """A ULID like Customer.io's event ids: 48-bit milliseconds then 80 random bits, Crockford base32."""
    value = ((ts * 1000) << 80) | _secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _delivery_id(ts: int) -> str:
    return f"{ts:x}{_secrets.token_hex(6)}"


def _text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


__all__ = ["DemoEventError", "DemoPerson", "demo_opened_event", "demo_signing_key", "find_demo_person"]
