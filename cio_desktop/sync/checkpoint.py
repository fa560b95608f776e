"""The events checkpoint: how far the event stream was handled, kept correct while sends finish out of order."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class EventCheckpoint:
    """The newest event time before which every event was handled, in stream order.

    Events are registered in the order the source yields them (oldest first) and finish in any
    order; the checkpoint only moves over a contiguous prefix of finished events, and never to a
    time some unfinished event shares (the source returns events strictly after the checkpoint).
    A failed event stops it for the rest of the run: the next run starts again from there
    (``events_sent`` keeps already accepted ones from being sent twice).
    """

    def __init__(self, start: float | None) -> None:
        self._lock = threading.Lock()
        self._pending: deque[list[Any]] = deque()  # [seq, created_at, state]; state 0 pending, 1 ok, 2 failed
        self._by_seq: dict[int, list[Any]] = {}
        self._last_ts: float | None = start
        self._safe: float | None = start
        self._blocked = False
        self._stream_done = False

    def add(self, seq: int, created_at: float) -> None:
        rec = [seq, created_at, 0]
        with self._lock:
            self._pending.append(rec)
            self._by_seq[seq] = rec

    def finish(self, seq: int, ok: bool) -> None:
        with self._lock:
            rec = self._by_seq.get(seq)
            if rec is None:
                return
            rec[2] = 1 if ok else 2
            self._advance()

    def stream_done(self) -> None:
        with self._lock:
            self._stream_done = True

    def value(self) -> float | None:
        with self._lock:
            self._advance()
            if self._blocked or self._pending or not self._stream_done:
                # The next event may share the last finished one's time: stop just before that time.
                head = self._pending[0][1] if self._pending else None
                if head is not None and self._last_ts is not None and head > self._last_ts:
                    return self._last_ts
                return self._safe
            return self._last_ts

    def _advance(self) -> None:
        while self._pending and not self._blocked:
            seq, ts, state = self._pending[0]
            if state == 0:
                return
            if state == 2:
                self._blocked = True
                return
            self._pending.popleft()
            del self._by_seq[seq]
            if self._last_ts is None or ts > self._last_ts:
                self._safe = self._last_ts
                self._last_ts = ts
