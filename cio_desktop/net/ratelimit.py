"""A thread-safe token bucket, shared per workspace through :func:`bucket_for`.

The bucket hands out reservations (GCRA): each ``acquire`` takes the next free slot under a lock and
then sleeps outside it until that slot comes. Waiters are therefore served in arrival order and the
lock is never held while sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cio_desktop.net.errors import Cancelled


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, at most ``burst`` at once.

    ``burst`` defaults to 1: requests are paced evenly, which is what a server counting requests per
    second in a sliding window accepts without a single 429.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._tat = clock()  # theoretical arrival time of the next request
        self._set(rate, burst)

    def _set(self, rate: float, burst: float | None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        burst = 1.0 if burst is None else float(burst)
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._interval = 1.0 / self.rate
        self._tolerance = (burst - 1.0) * self._interval

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change the rate (e.g. the user edited the profile) without losing reservations."""
        with self._lock:
            self._set(rate, burst)

    def reserve(self) -> float:
        """Take the next slot; return how many seconds to wait before using it (0 if now)."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            allowed_at = tat - self._tolerance
            self._tat = tat + self._interval
        wait = allowed_at - now
        return wait if wait > 1e-9 else 0.0  # ignore float rounding dust

    def acquire(self, cancel: threading.Event | None = None) -> None:
        """Block until a token is available. Raise :class:`Cancelled` if ``cancel`` is set meanwhile."""
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled while waiting for the rate limit")
        wait = self.reserve()
        if wait > 0:
            _wait(wait, cancel, self._sleep)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled while waiting for the rate limit")

    def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (the server said 429 with a Retry-After)."""
        with self._lock:
            self._tat = max(self._tat, self._clock() + max(0.0, seconds))


def _wait(seconds: float, cancel: threading.Event | None, sleep: Callable[[float], None] | None) -> None:
    if sleep is not None:
        sleep(seconds)
    elif cancel is not None:
        cancel.wait(seconds)
    else:
        time.sleep(seconds)


_registry: dict[str, TokenBucket] = {}
_registry_lock = threading.Lock()


def bucket_for(key: str, rate: float) -> TokenBucket:
    """The one bucket for ``key`` (e.g. ``"cio-track:<site id>"``), created at ``rate`` if new.

    Every client and thread talking to the same workspace gets the same bucket, so together they
    stay under the workspace's limit. A different ``rate`` for an existing key updates the bucket.
    """
    with _registry_lock:
        bucket = _registry.get(key)
        if bucket is None:
            bucket = _registry[key] = TokenBucket(rate)
        elif bucket.rate != float(rate):
            bucket.set_rate(rate, bucket.burst)
        return bucket


__all__ = ["TokenBucket", "bucket_for"]
