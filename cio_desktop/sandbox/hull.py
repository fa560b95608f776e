"""Hull emulation: the REST API (connector, segments, schema, searches) and the firehose.

The firehose checks every item's JWT (HS256 with the connector secret, ``iss`` = connector id,
``io.hull.asUser`` naming the user); one bad token refuses the whole request with 401, as Hull did.
Accepted traits are written onto the user (``customerio/created_at`` becomes the user's
``traits_customerio/created_at``; null removes it); track calls are de-duplicated on ``event_id``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.dates import iso_z
from cio_desktop.sandbox.search import UserSearch, search_events

_AS_USER_KEYS = ("id", "external_id", "email", "anonymous_id")
_TOP_LEVEL_TRAITS = frozenset({"email", "name", "first_name", "last_name", "external_id"})


def _trait_operation(old: Any, value: Any) -> tuple[bool, Any]:
    """Hull's trait value forms: a plain value (set; null removes) or {"operation", "value"}.

    Returns (leave unchanged, new value).
    """
    if not (isinstance(value, dict) and "operation" in value):
        return False, value
    op, v = value.get("operation"), value.get("value")
    if op == "setIfNull":
        return old is not None, v
    if op in ("inc", "dec"):
        if not isinstance(v, int | float) or isinstance(v, bool):
            return True, None
        base = old if isinstance(old, int | float) and not isinstance(old, bool) else 0
        return False, base + v if op == "inc" else base - v
    return False, v  # "set" and anything else Hull treats as a set


class FirehoseRefused(Exception):
    """The whole firehose request is refused; ``status`` and message are the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_hs256(token: Any, secret: str) -> dict[str, Any]:
    """Claims of an HS256 JWT signed with ``secret``; ValueError saying what is wrong otherwise."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise ValueError("the access token is not a JWT")
    head_b64, claims_b64, sig_b64 = token.split(".")
    try:
        header = json.loads(_b64url(head_b64))
        claims = json.loads(_b64url(claims_b64))
        signature = _b64url(sig_b64)
    except (ValueError, binascii.Error):
        raise ValueError("the access token is not a readable JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise ValueError("the access token must be signed with HS256")
    expected = hmac.new(secret.encode(), f"{head_b64}.{claims_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise ValueError("the access token signature does not match the connector secret")
    if not isinstance(claims, dict):
        raise ValueError("the access token claims are not an object")
    return claims


@dataclass(frozen=True)
class HullCredentials:
    organization: str
    connector_id: str
    secret: str


class HullService:
    """Answers the Hull REST API and the firehose for one :class:`FakeOrg`."""

    def __init__(self, org: FakeOrg, creds: HullCredentials) -> None:
        self.org = org
        self.creds = creds
        self.search = UserSearch(org)
        self.disabled = False
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        self._events_received: list[dict[str, Any]] = []
        self._event_ids: set[str] = set()

    # ------------------------------------------------------------------ REST API
    def check_auth(self, headers: Any) -> tuple[int, str] | None:
        """None when the request may go on, else (status, message)."""
        app_id = headers.get("Hull-App-Id")
        token = headers.get("Hull-Access-Token")
        org = headers.get("Hull-Organization")
        if not app_id or not token or not org:
            return 401, "Missing Hull-App-Id, Hull-Access-Token or Hull-Organization header"
        if org != self.creds.organization and not _names_host(org, headers.get("Host")):
            return 401, "Unknown organization for these credentials"
        if app_id != self.creds.connector_id:
            return 404, "Connector not found"
        if not hmac.compare_digest(token.encode(), self.creds.secret.encode()):
            return 401, "Invalid credentials"
        if self.disabled:
            return 402, "Organization disabled"
        return None

    def app(self) -> dict[str, Any]:
        return {
            "id": self.creds.connector_id,
            "name": "Customer.io",
            "type": "ship",
            "manifest": {"name": "Customer.io", "version": "0.2.0"},
            "settings": {},
            "private_settings": {},
            "created_at": "2018-03-30T14:38:02Z",
            "updated_at": "2018-03-30T14:38:02Z",
        }

    def segments(self, page: int, per_page: int) -> list[dict[str, Any]]:
        counts = self.org.segment_counts()
        rows = [
            {
                "id": sid,
                "name": name,
                "type": "users_segment",
                "created_at": "2018-03-30T14:38:02Z",
                "updated_at": "2025-12-01T09:00:00Z",
                "stats": {"users": counts[k]},
            }
            for k, (sid, name) in enumerate(self.org.segments)
        ]
        start = (page - 1) * per_page
        return rows[start : start + per_page]

    def search_users_json(self, body: Any) -> str:
        return self.search.search_json(body)

    def search_events(self, body: Any) -> dict[str, Any]:
        return search_events(self.org, body)

    # ------------------------------------------------------------------ firehose
    def firehose(self, body: Any) -> None:
        """Verify every item, then apply them all. Raises FirehoseRefused (400/401) without applying any."""
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise FirehoseRefused(400, 'the body must be {"batch": [...]}')
        checked: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for n, item in enumerate(body["batch"]):
            if not isinstance(item, dict):
                raise FirehoseRefused(400, f"batch[{n}] must be an object")
            if item.get("type") not in ("traits", "track"):
                raise FirehoseRefused(400, f"batch[{n}].type must be 'traits' or 'track'")
            if not isinstance(item.get("body"), dict):
                raise FirehoseRefused(400, f"batch[{n}].body must be an object")
            headers = item.get("headers")
            token = headers.get("Hull-Access-Token") if isinstance(headers, dict) else None
            try:
                claims = verify_hs256(token, self.creds.secret)
            except ValueError as e:
                raise FirehoseRefused(401, f"batch[{n}]: {e}") from None
            if claims.get("iss") != self.creds.connector_id:
                raise FirehoseRefused(401, f"batch[{n}]: the token's iss is not this connector's id")
            if claims.get("io.hull.subjectType", "user") != "user":
                raise FirehoseRefused(400, f"batch[{n}]: only user subjects are supported")
            as_user = claims.get("io.hull.asUser")
            if not isinstance(as_user, dict) or not any(as_user.get(k) for k in _AS_USER_KEYS):
                raise FirehoseRefused(
                    400, f"batch[{n}]: io.hull.asUser must name id, external_id, email or anonymous_id"
                )
            checked.append((item, claims, as_user))
        if self.disabled:
            raise FirehoseRefused(402, "Organization disabled")
        for item, _claims, as_user in checked:
            self._apply(item, as_user)

    def _apply(self, item: dict[str, Any], as_user: dict[str, Any]) -> None:
        idx = None
        for key in _AS_USER_KEYS:
            if as_user.get(key):
                idx = self.org.find(key, as_user[key])
                if idx is not None:
                    break
        hull_id = self.org.id_of(idx) if idx is not None else None
        record = {
            "type": item["type"],
            "body": item["body"],
            "as_user": dict(as_user),
            "user_id": hull_id,
            "timestamp": item.get("timestamp"),
            "received_at": iso_z(round(time.time(), 3)),
        }
        if item["type"] == "traits":
            if idx is not None:
                current = self.org.doc(idx)
                changes = {}
                for key, value in item["body"].items():
                    name = key if key in _TOP_LEVEL_TRAITS or key.startswith("traits_") else "traits_" + key
                    keep, new = _trait_operation(current.get(name), value)
                    if not keep:
                        changes[name] = new
                if changes:
                    self.org.update(idx, changes)
            with self._lock:
                self._received.append(record)
            return
        event_id = item["body"].get("event_id")
        with self._lock:
            self._received.append(record)
            if isinstance(event_id, str) and event_id:
                if event_id in self._event_ids:
                    return  # Hull de-duplicates track calls on event_id
                self._event_ids.add(event_id)
            self._events_received.append(record)

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._received)

    def events_received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events_received)


def _names_host(organization: str, host: str | None) -> bool:
    """Whether ``organization`` names the host the request was sent to (``Host``, with or without its
    port): Hull's node client sends the host it talks to as ``Hull-Organization``."""
    if not host:
        return False
    return organization.lower() in (host.lower(), host.rsplit(":", 1)[0].lower())
