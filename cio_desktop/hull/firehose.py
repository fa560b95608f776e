"""Batching writer for Hull's firehose: traits calls (write-back), at most 50 per request.

Callers queue items from any thread; a background thread sends them at least once a second (or as
soon as 50 are waiting). One send at a time, in queue order, so a later traits call for a user is
never overtaken by an earlier one. A request that still fails after retries is reported through
``on_error`` with the items it carried and counted in ``failed``: nothing is dropped silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cio_desktop.net.errors import ServiceError

log = logging.getLogger(__name__)

MAX_FIREHOSE_BATCH = 50  # items per firehose request, Hull's limit
MAX_PENDING = 10_000  # callers wait (back-pressure) rather than queue without bound

ItemType = Literal["traits", "track"]
ErrorCallback = Callable[[ServiceError, Sequence["FirehoseItem"]], None]


@dataclass(frozen=True)
class FirehoseItem:
    """One firehose call. ``as_user`` names the user (``id``/``external_id``/``email``/``anonymous_id``).

    ``timestamp`` is Unix seconds (None = when sent).
    """

    type: ItemType
    body: Mapping[str, Any]
    as_user: Mapping[str, Any]
    timestamp: float | None = None
    queued_at: float = field(default=0.0, compare=False, repr=False)


class FirehoseSender(Protocol):
    """What the writer sends through: :class:`cio_desktop.hull.client.HullClient` (a fake in tests)."""

    def send_firehose(self, items: Sequence[FirehoseItem]) -> None: ...


class FirehoseWriter:
    """Thread-safe, batching firehose writer. Use as a context manager or call :meth:`close`.

    ``sent`` and ``failed`` count items. ``on_error(error, items)`` is called (from the sending
    thread) for each request that failed for good; without it failures are logged as errors.
    """

    def __init__(
        self,
        client: FirehoseSender,
        *,
        on_error: ErrorCallback | None = None,
        flush_interval: float = 1.0,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._client = client
        self._on_error = on_error
        self._interval = flush_interval
        self._max_pending = max(MAX_FIREHOSE_BATCH, max_pending)
        self._queue: deque[FirehoseItem] = deque()
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()  # one request at a time, in order
        self._closed = False
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="hull-firehose", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public
    def traits(self, as_user: Mapping[str, Any], traits: Mapping[str, Any], *, timestamp: float | None = None) -> None:
        """Set (or with None, remove) traits on a user. Names are flat: ``customerio/synced_at``."""
        self._put(FirehoseItem("traits", dict(traits), dict(as_user), timestamp))

    def flush(self) -> None:
        """Send everything queued so far and return when done (failures go to ``on_error``)."""
        while True:
            with self._send_lock:
                batch = self._take(force=True)
                if not batch:
                    return
                self._send(batch)

    def close(self) -> None:
        """Flush and stop the background thread. Further calls raise RuntimeError."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        self.flush()

    def __enter__(self) -> FirehoseWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _put(self, item: FirehoseItem) -> None:
        item = FirehoseItem(item.type, item.body, item.as_user, item.timestamp, queued_at=time.monotonic())
        with self._cond:
            while len(self._queue) >= self._max_pending and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                raise RuntimeError("the firehose writer is closed")
            self._queue.append(item)
            if len(self._queue) == 1 or len(self._queue) >= MAX_FIREHOSE_BATCH:
                self._cond.notify_all()  # start the flush timer, or send a full batch now

    def _take(self, *, force: bool) -> list[FirehoseItem]:
        """Up to 50 items from the queue: always when ``force``, else only if full or a second old."""
        with self._cond:
            if not self._queue:
                return []
            due = self._queue[0].queued_at + self._interval <= time.monotonic()
            if not (force or due or len(self._queue) >= MAX_FIREHOSE_BATCH):
                return []
            batch = [self._queue.popleft() for _ in range(min(MAX_FIREHOSE_BATCH, len(self._queue)))]
            self._cond.notify_all()  # wake callers waiting for room
            return batch

    def _send(self, batch: list[FirehoseItem]) -> None:
        try:
            self._client.send_firehose(batch)
        except ServiceError as exc:
            with self._cond:
                self.failed += len(batch)
            self._report(exc, batch)
        except Exception as exc:  # never let the writer thread die with items in hand
            with self._cond:
                self.failed += len(batch)
            self._report(ServiceError(None, f"Sending to the Hull firehose failed: {type(exc).__name__}"), batch)
        else:
            with self._cond:
                self.sent += len(batch)

    def _report(self, error: ServiceError, batch: Sequence[FirehoseItem]) -> None:
        if self._on_error is None:
            log.error("%d firehose items were not stored in Hull: %s", len(batch), error)
            return
        try:
            self._on_error(error, batch)
        except Exception:
            log.exception("the firehose on_error callback failed")

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                if self._queue and len(self._queue) < MAX_FIREHOSE_BATCH:
                    timeout: float | None = max(0.0, self._queue[0].queued_at + self._interval - time.monotonic())
                elif self._queue:
                    timeout = 0.0
                else:
                    timeout = None
                if timeout is None or timeout > 0:
                    self._cond.wait(timeout)
                if self._closed:
                    return
            with self._send_lock:
                batch = self._take(force=False)
                if batch:
                    self._send(batch)


__all__ = ["MAX_FIREHOSE_BATCH", "FirehoseItem", "FirehoseSender", "FirehoseWriter"]
