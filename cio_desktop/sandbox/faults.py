"""Fault injection per emulated API, and the Track API's server-side rate limit.

``ServerRateLimit`` is the emulated *server* refusing requests over its rate (answered 429); the
client's pacing that waits for a free slot is ``cio_desktop.net.ratelimit.TokenBucket``.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

APIS = ("hull", "firehose", "cio_track", "cio_app")


@dataclass(frozen=True)
class Faults:
    """What goes wrong on one API. Rates are fractions of requests (0..1), drawn from ``seed``.

    ``rate_429``: answer 429 (with ``Retry-After: retry_after`` when set). ``rate_5xx``: answer 500,
    502 or 503. ``latency_ms``: wait before answering. ``drop_rate``: close the connection without
    an answer (the request is read but not applied). ``slow_body_ms``: send the answer's body in
    pieces spread over that many milliseconds. Faulted requests change nothing.
    """

    rate_429: float = 0.0
    retry_after: float | None = None
    rate_5xx: float = 0.0
    latency_ms: float = 0.0
    drop_rate: float = 0.0
    slow_body_ms: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx", "drop_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1")
        if self.rate_429 + self.rate_5xx + self.drop_rate > 1.0:
            raise ValueError("rate_429 + rate_5xx + drop_rate cannot exceed 1")
        for name in ("latency_ms", "slow_body_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 60_000:
                raise ValueError(f"{name} must be between 0 and 60000 milliseconds")
        if self.retry_after is not None and (
            isinstance(self.retry_after, bool) or not isinstance(self.retry_after, int | float) or self.retry_after < 0
        ):
            raise ValueError("retry_after must be a number of seconds >= 0 or None")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        known = {"rate_429", "retry_after", "rate_5xx", "latency_ms", "drop_rate", "slow_body_ms", "seed"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**data)


class Outcome(Enum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    TOO_MANY = "429"
    SERVER_ERROR = "5xx"
    DROP = "drop"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    status: int = 0
    latency_s: float = 0.0
    slow_body_s: float = 0.0
    retry_after: float | None = None


class FaultInjector:
    """Thread-safe, seeded draws of what happens to each request of one API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._rng = random.Random(0)

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)

    def decide(self) -> Decision:
        f = self._faults
        if not (f.rate_429 or f.rate_5xx or f.drop_rate or f.latency_ms or f.slow_body_ms):
            return _PASS
        with self._lock:
            r = self._rng.random()
            status = self._rng.choice((500, 502, 503))
        latency, slow = f.latency_ms / 1000.0, f.slow_body_ms / 1000.0
        if r < f.drop_rate:
            return Decision(Outcome.DROP, latency_s=latency)
        r -= f.drop_rate
        if r < f.rate_429:
            return Decision(Outcome.TOO_MANY, 429, latency, slow, f.retry_after)
        r -= f.rate_429
        if r < f.rate_5xx:
            return Decision(Outcome.SERVER_ERROR, status, latency, slow)
        return Decision(Outcome.PASS, 0, latency, slow)


_PASS = Decision(Outcome.PASS)


class ServerRateLimit:
    """Admits ``rate`` requests per second with a burst of one second's worth (at least one request).

    A token bucket that never waits: a request that finds no token is refused at once.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("the rate limit must be > 0 requests per second")
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate)
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        """True if a request may go through now (and spend a token); False means answer 429."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
