"""Retrying calls that failed for reasons that may pass: 429, 500/502/503/504, network errors.

Exponential back-off with *full* jitter (a uniformly random wait between 0 and the exponential cap),
so many threads that failed together do not come back together. A ``Retry-After`` from the server
replaces the computed wait. Attempts and total time are both bounded; other 4xx are never retried.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from cio_desktop.net.errors import Cancelled, ServiceError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    ``max_attempts`` counts the first try. ``max_total`` bounds the time spent (seconds, attempts plus
    waits): a wait that would end past it is not started and the last error is raised instead.
    ``sleep``, ``clock`` and ``rand`` are injectable for tests.
    """

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0
    max_total: float = 120.0
    sleep: Callable[[float], None] | None = field(default=None, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1 = first retry): uniform in [0, min(max, base * 2**(n-1))]."""
        cap = min(self.max_delay, self.base_delay * (2.0 ** max(0, retry_number - 1)))
        return self.rand() * cap

    def delay_for(self, error: ServiceError, retry_number: int) -> float:
        """The wait before the next attempt: the server's Retry-After if given, else jittered back-off."""
        if error.retry_after is not None:
            return max(0.0, error.retry_after)
        return self.backoff(retry_number)

    def call(
        self,
        attempt: Callable[[], T],
        *,
        cancel: threading.Event | None = None,
        on_retry: Callable[[ServiceError, float], None] | None = None,
    ) -> T:
        """Run ``attempt`` until it returns, raises a non-retryable error, or the budget is spent.

        ``attempt`` signals failure by raising :class:`ServiceError`; ``error.retryable`` decides.
        ``on_retry(error, wait)`` is called before each wait (logging, pausing a shared rate limiter).
        """
        start = self.clock()
        tries = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            tries += 1
            try:
                return attempt()
            except ServiceError as exc:
                if not exc.retryable or tries >= self.max_attempts:
                    raise
                wait = self.delay_for(exc, tries)
                if self.clock() - start + wait > self.max_total:
                    raise
                if on_retry is not None:
                    on_retry(exc, wait)
                self._wait(wait, cancel)

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        elif cancel is not None:
            cancel.wait(seconds)
        else:
            time.sleep(seconds)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled while waiting to retry")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return max(0.0, seconds)


__all__ = ["RetryPolicy", "parse_retry_after"]
