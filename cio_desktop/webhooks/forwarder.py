"""Drain the webhook inbox into Hull's firehose as track events.

One background thread takes due ``pending`` rows (oldest first, up to 50: one firehose request),
sends them with a per-item JWT naming the user, and marks them ``forwarded`` only after the
firehose accepted the request. If the process dies between Hull's 200 and that mark, the rows are
sent again after a restart and Hull drops the repeat (it de-duplicates track events on
``event_id``), so every event reaches Hull once.

Failures: temporary ones (network, 429, 5xx) and fixable settings (refused credentials, disabled
organization) leave the rows pending with exponential back-off kept in the inbox, so it survives
restarts; after ``max_attempts`` a row is marked failed with the last reason. A request Hull
refuses as such (400/413/422) is split so only the event it objects to fails.

:class:`QueueForwarder` is that loop for any destination; :class:`Forwarder` sends to Hull, and
:mod:`cio_desktop.webhooks.forward_http` to the profile's own HTTPS endpoint (its own inbox state).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.hull.client import MAX_FIREHOSE_BATCH, HullClient
from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.hull.firehose import FirehoseItem
from cio_desktop.net.errors import RejectedError, ServiceError
from cio_desktop.net.retry import RetryPolicy
from cio_desktop.webhooks.inbox import Destination, Inbox, InboxRow

log = logging.getLogger(__name__)


class FirehoseSender(Protocol):
    def send_firehose(self, items: Sequence[FirehoseItem]) -> None: ...


class ForwarderConfigError(ValueError):
    """The profile lacks what forwarding needs (Hull organization, connector id or secret)."""


@dataclass(frozen=True)
class ForwardRound:
    """What one pass did."""

    forwarded: int = 0
    retried: int = 0
    failed: int = 0
    error: str | None = None

    @property
    def attempted(self) -> int:
        return self.forwarded + self.retried + self.failed


@dataclass(frozen=True)
class ForwarderStats:
    running: bool
    forwarded: int
    retried: int
    failed: int
    last_error: str | None
    last_forwarded_at: float | None


def track_item(row: InboxRow) -> FirehoseItem:
    """The firehose track call for one inbox row (the row must have an identity)."""
    assert row.as_user is not None
    mapped = row.mapped()
    return FirehoseItem(
        type="track", body=mapped.track_body(), as_user=dict(row.as_user), timestamp=parse_hull_date(row.created_at)
    )


class QueueForwarder:
    """Background forwarder of one destination's queue; ``run_once()`` is the unit the thread repeats
    (tests call it directly). Subclasses say where rows go (:meth:`_deliver`)."""

    destination = Destination.HULL
    service = "Hull"  # in reasons: "<service> refused this event: ..."

    def __init__(
        self,
        inbox: Inbox,
        *,
        batch_size: int = MAX_FIREHOSE_BATCH,
        base_delay: float = 2.0,
        max_delay: float = 1800.0,
        max_attempts: int = 25,
        poll_interval: float = 0.25,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.inbox = inbox
        self.batch_size = batch_size
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self._clock = clock
        self._rand = rand
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._forwarded = self._retried = self._failed = 0
        self._last_error: str | None = None
        self._last_forwarded_at: float | None = None

    # ------------------------------------------------------------------ one pass
    def run_once(self) -> ForwardRound:
        due = self.inbox.due(self.batch_size, now=self._clock(), destination=self.destination)
        nobody = {r.event_id: r.reason or "no usable identity" for r in due if r.as_user is None}
        if nobody:  # cannot be sent to anyone; must not block the queue
            self.inbox.mark_failed(nobody, destination=self.destination)
        rows = [r for r in due if r.as_user is not None]
        if not rows:
            return ForwardRound()
        result = self._send(rows)
        with self._lock:
            self._forwarded += result.forwarded
            self._retried += result.retried
            self._failed += result.failed
            if result.forwarded:
                self._last_forwarded_at = self._clock()
                if result.error is None:
                    self._last_error = None
            if result.error is not None:
                self._last_error = result.error
        return result

    def drain(self) -> int:
        """Forward everything due now (stops at the first round that forwarded nothing)."""
        total = 0
        while True:
            result = self.run_once()
            total += result.forwarded
            if result.forwarded == 0:
                return total

    def _send(self, rows: list[InboxRow]) -> ForwardRound:
        ids = [r.event_id for r in rows]
        try:
            self._deliver(rows)
        except RejectedError as exc:
            if len(rows) > 1:
                # Isolate the event Hull objects to; the others go through.
                parts = [self._send([r]) for r in rows]
                return ForwardRound(
                    forwarded=sum(p.forwarded for p in parts),
                    retried=sum(p.retried for p in parts),
                    failed=sum(p.failed for p in parts),
                    error=next((p.error for p in parts if p.error), None),
                )
            reason = f"{self.service} refused this event: {exc}"
            self.inbox.mark_failed({ids[0]: reason}, destination=self.destination)
            return ForwardRound(failed=1, error=reason)
        except ServiceError as exc:
            return self._retry_later(rows, str(exc))
        except Exception as exc:  # a bug or an unexpected library error must not kill the thread
            log.exception("forwarding webhook events failed")
            return self._retry_later(rows, f"unexpected error: {type(exc).__name__}: {exc}")
        self.inbox.mark_forwarded(ids, now=self._clock(), destination=self.destination)
        return ForwardRound(forwarded=len(ids))

    def _deliver(self, rows: list[InboxRow]) -> None:
        """Send ``rows`` in one request; raise ServiceError (RejectedError: the request itself) on failure."""
        raise NotImplementedError

    def _retry_later(self, rows: Sequence[InboxRow], reason: str) -> ForwardRound:
        now = self._clock()
        retries: dict[str, float] = {}
        give_up: dict[str, str] = {}
        for row in rows:
            attempt = row.attempts_for(self.destination) + 1
            if attempt >= self.max_attempts:
                give_up[row.event_id] = f"gave up after {attempt} attempts: {reason}"
            else:
                retries[row.event_id] = now + self.backoff(attempt)
        if retries:
            self.inbox.mark_retry(retries, reason, destination=self.destination)
        if give_up:
            self.inbox.mark_failed(give_up, destination=self.destination)
        return ForwardRound(retried=len(retries), failed=len(give_up), error=reason)

    def backoff(self, attempt: int) -> float:
        """Wait after failed attempt ``attempt``: exponential, capped, with jitter in [50%, 100%]."""
        cap = min(self.max_delay, self.base_delay * (2.0 ** max(0, attempt - 1)))
        return cap * (0.5 + 0.5 * self._rand())

    # ------------------------------------------------------------------ thread
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        name = f"webhook-forwarder-{self.destination.value}"
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for due events now (e.g. after "Retry failed")."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> ForwarderStats:
        with self._lock:
            return ForwarderStats(
                running=self.running,
                forwarded=self._forwarded,
                retried=self._retried,
                failed=self._failed,
                last_error=self._last_error,
                last_forwarded_at=self._last_forwarded_at,
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.run_once()
            except Exception:  # the inbox may be closing; keep the thread alive until stop()
                log.exception("webhook forwarder pass failed")
                result = ForwardRound(error="internal error")
            if result.forwarded and result.error is None:
                continue  # more may be due right away
            self._wake.wait(self.poll_interval)
            self._wake.clear()


class Forwarder(QueueForwarder):
    """Forwards to Hull's firehose (at most one firehose request's worth of events at a time)."""

    def __init__(
        self, inbox: Inbox, sender: FirehoseSender, *, batch_size: int = MAX_FIREHOSE_BATCH, **options: Any
    ) -> None:
        super().__init__(inbox, batch_size=min(batch_size, MAX_FIREHOSE_BATCH), **options)
        self.sender = sender

    def _deliver(self, rows: list[InboxRow]) -> None:
        self.sender.send_firehose([track_item(r) for r in rows])


def hull_sender_for(profile: Profile, secrets: SecretStore) -> HullClient:
    """A Hull client for forwarding, with short in-call retries: the inbox keeps the long back-off."""
    secret = secrets.get(profile.name, SecretKey.HULL_SECRET)
    missing = [
        label
        for label, value in (
            ("Hull organization", profile.hull_organization),
            ("connector ID", profile.hull_connector_id),
            ("connector secret", secret),
        )
        if not value
    ]
    if missing:
        raise ForwarderConfigError(
            f"Cannot forward webhook events to Hull: the profile {profile.name!r} has no {', '.join(missing)}. "
            "Fill them in on the Hull page (events keep arriving in the inbox meanwhile)."
        )
    assert secret is not None
    return HullClient(
        profile.hull_organization,
        profile.hull_connector_id,
        secret,
        base_url=profile.endpoints.hull_api or None,
        firehose_url=profile.endpoints.hull_firehose or None,
        retry=RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=2.0, max_total=10.0),
        timeout=(5, 20),
    )


__all__ = [
    "FirehoseSender",
    "ForwardRound",
    "Forwarder",
    "ForwarderConfigError",
    "ForwarderStats",
    "QueueForwarder",
    "hull_sender_for",
    "track_item",
]
