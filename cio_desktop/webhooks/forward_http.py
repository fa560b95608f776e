"""Forward email activity to any HTTPS endpoint: JSON batches, HMAC-signed, at least once.

Each request is ``POST <forward_url>`` with ``{"batch": [event, ...], "sentAt": ISO time}``; an event
is a Segment ``track`` call by default (``messageId`` = the Customer.io event id) or Hull's event
shape (``event_id``), per the profile's ``forward_shape``. Any 2xx means the whole batch was taken.

Signature (README, "Email activity without Hull"): with the profile's HMAC key,
``X-Cio-Desktop-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`` and
``X-Cio-Desktop-Timestamp: <Unix seconds>``. The receiver recomputes it over the exact bytes it got,
compares in constant time and refuses old timestamps (replays).

Delivery is at least once: a batch is marked forwarded only after the 2xx, so a crash or a lost
answer sends it again; receivers de-duplicate on the event id. Back-off, give-up and splitting of a
refused batch are :class:`QueueForwarder`'s, with the inbox's ``http_*`` state, apart from Hull's.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from cio_desktop import __version__
from cio_desktop.config.profile import ForwardShape, Profile, check_forward_url
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.net.http import ErrorWording, JsonHttp, Timeout, dumps
from cio_desktop.net.retry import RetryPolicy
from cio_desktop.webhooks.export import hull_event
from cio_desktop.webhooks.forwarder import ForwarderConfigError, QueueForwarder
from cio_desktop.webhooks.inbox import Destination, Inbox, InboxRow

SIGNATURE_HEADER = "X-Cio-Desktop-Signature"
TIMESTAMP_HEADER = "X-Cio-Desktop-Timestamp"
MAX_BATCH = 100
SERVICE = "The forwarding endpoint"

_WORDING = ErrorWording(
    service=SERVICE,
    unauthorized=(
        "{service} refused the request (HTTP {status}){detail}. Check that it has the same HMAC key as the"
        " profile; events wait and are sent again."
    ),
)


def signature(key: str, timestamp: int, body: bytes) -> str:
    """The ``X-Cio-Desktop-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(key.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    key: str, timestamp_header: str, signature_header: str, body: bytes, *, now: float, tolerance: float = 300
) -> bool:
    """What a receiver does (and the tests check): same signature, timestamp within ``tolerance`` s."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(key, timestamp, body), signature_header)


def segment_track(row: InboxRow) -> dict[str, Any]:
    """A Segment ``track`` call for one inbox row."""
    user = row.as_user or {}
    email = user.get("email") or row.email
    call: dict[str, Any] = {
        "type": "track",
        "event": row.name,
        "userId": row.person_id or email,
        "properties": dict(row.properties),
        "timestamp": row.created_at,
        "messageId": row.event_id,
        "context": {"library": {"name": "cio-desktop", "version": __version__}},
    }
    if email:
        call["context"]["traits"] = {"email": email}
    return call


class HttpDestination:
    """Sends batches to ``url``, signed with ``key``; short in-call retries (the inbox keeps the long back-off)."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        shape: ForwardShape = ForwardShape.SEGMENT,
        timeout: Timeout = (5, 20),
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_forward_url(url)
        if not key:
            raise ForwarderConfigError("the HMAC key is empty")
        self.url = url
        self._key = key
        self.shape = shape
        self._clock = clock
        self._http = JsonHttp(
            _WORDING,
            timeout=timeout,
            retry=retry or RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=2.0, max_total=10.0),
        )

    def body(self, rows: Sequence[InboxRow]) -> bytes:
        make = segment_track if self.shape is ForwardShape.SEGMENT else hull_event
        now = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return dumps({"batch": [make(r) for r in rows], "sentAt": now})

    def send(self, rows: Sequence[InboxRow]) -> None:
        body = self.body(rows)
        timestamp = int(self._clock())
        headers = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(self._key, timestamp, body)}
        response = self._http.request("POST", self.url, body=body, headers=headers, ok=range(200, 300))
        response.close()

    def close(self) -> None:
        self._http.close()


class HttpForwarder(QueueForwarder):
    """Drains the inbox's HTTPS-destination queue into an :class:`HttpDestination`."""

    destination = Destination.HTTP
    service = SERVICE

    def __init__(self, inbox: Inbox, sender: HttpDestination, *, batch_size: int = MAX_BATCH, **options: Any) -> None:
        super().__init__(inbox, batch_size=min(batch_size, MAX_BATCH), **options)
        self.sender = sender

    def _deliver(self, rows: list[InboxRow]) -> None:
        self.sender.send(rows)


def http_destination_for(profile: Profile, secrets: SecretStore) -> HttpDestination | None:
    """The profile's HTTPS destination; None when it has none. Raises ForwarderConfigError (with what
    to do) when the URL is set but the HMAC key is missing."""
    if not profile.forward_url:
        return None
    key = secrets.get(profile.name, SecretKey.FORWARD_HMAC_KEY)
    if not key:
        raise ForwarderConfigError(
            f"Cannot forward email activity to {profile.forward_url}: the profile {profile.name!r} has no HMAC key."
            " Set one on the Webhook page (or `cio-desktop profiles set-secret NAME forward_hmac_key`); events are kept"
            " in the inbox meanwhile."
        )
    return HttpDestination(profile.forward_url, key, shape=profile.forward_shape)


__all__ = [
    "MAX_BATCH",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "HttpDestination",
    "HttpForwarder",
    "http_destination_for",
    "segment_track",
    "signature",
    "verify",
]
