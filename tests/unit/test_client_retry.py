"""RetryPolicy, Retry-After parsing and the token bucket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cio_desktop.net.errors import (
    AuthenticationError,
    Cancelled,
    NetworkError,
    RateLimitedError,
    RejectedError,
    ServerError,
)
from cio_desktop.net.ratelimit import TokenBucket, bucket_for
from cio_desktop.net.retry import RetryPolicy, parse_retry_after


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


def failing(errors: list[Exception], result: str = "ok") -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return calls, attempt


# ---------------------------------------------------------------- RetryPolicy
def test_retries_rate_limit_server_and_network_errors_then_returns() -> None:
    clock = FakeClock()
    policy = RetryPolicy(sleep=clock.sleep, clock=clock, rand=lambda: 1.0)
    calls, attempt = failing(
        [RateLimitedError(429, "slow down"), ServerError(503, "down"), NetworkError(None, "reset")]
    )
    assert policy.call(attempt) == "ok"
    assert len(calls) == 4
    assert clock.sleeps == [0.25, 0.5, 1.0]  # exponential caps; rand=1.0 takes the cap


def test_full_jitter_waits_are_uniform_below_the_exponential_cap() -> None:
    draws = iter([0.5, 0.1, 0.9, 0.0])
    policy = RetryPolicy(base_delay=1.0, max_delay=3.0, rand=lambda: next(draws))
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 0.2, 2.7, 0.0]


def test_backoff_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, rand=lambda: 1.0)
    assert policy.backoff(30) == 5.0


def test_retry_after_replaces_the_computed_wait() -> None:
    clock = FakeClock()
    policy = RetryPolicy(sleep=clock.sleep, clock=clock, rand=lambda: 0.0)
    _, attempt = failing([RateLimitedError(429, "x", retry_after=7.0), ServerError(503, "x", retry_after=2.0)])
    policy.call(attempt)
    assert clock.sleeps == [7.0, 2.0]


@pytest.mark.parametrize(
    "error",
    [
        RejectedError(400, "bad", ("bad",)),
        AuthenticationError(401, "no"),
        ServerError(501, "not implemented"),
    ],
)
def test_client_errors_and_unlisted_statuses_are_not_retried(error: Exception) -> None:
    clock = FakeClock()
    policy = RetryPolicy(sleep=clock.sleep, clock=clock)
    calls, attempt = failing([error])
    with pytest.raises(type(error)):
        policy.call(attempt)
    assert len(calls) == 1
    assert clock.sleeps == []


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, sleep=clock.sleep, clock=clock)
    calls, attempt = failing(
        [ServerError(500, "a"), ServerError(502, "b"), ServerError(503, "c"), ServerError(504, "d")]
    )
    with pytest.raises(ServerError, match="c"):
        policy.call(attempt)
    assert len(calls) == 3


def test_a_wait_past_the_total_budget_is_not_started() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_total=10.0, sleep=clock.sleep, clock=clock)
    _, attempt = failing([RateLimitedError(429, "a", retry_after=4.0), RateLimitedError(429, "b", retry_after=7.0)])
    with pytest.raises(RateLimitedError, match="b"):
        policy.call(attempt)
    assert clock.sleeps == [4.0]  # 4 + 7 > 10


def test_cancel_interrupts_a_back_off_wait() -> None:
    cancel = threading.Event()
    policy = RetryPolicy(base_delay=30.0, max_delay=30.0, rand=lambda: 1.0)
    _, attempt = failing([ServerError(503, "down")] * 5)
    threading.Timer(0.05, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        policy.call(attempt, cancel=cancel)
    assert time.monotonic() - started < 5


def test_cancel_set_before_the_call_sends_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    calls, attempt = failing([])
    with pytest.raises(Cancelled):
        RetryPolicy().call(attempt, cancel=cancel)
    assert calls == []


# ---------------------------------------------------------------- Retry-After
def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


# ---------------------------------------------------------------- TokenBucket
def test_bucket_paces_requests_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(11):
        bucket.acquire()
    assert clock.now - 1000.0 == pytest.approx(1.0)  # 11 tokens = the first plus 10 intervals of 0.1 s


def test_bucket_allows_a_burst_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    assert clock.now == 1000.0
    bucket.acquire()
    assert clock.now == pytest.approx(1000.1)


def test_bucket_pause_holds_everyone_back() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock, sleep=clock.sleep)
    bucket.pause(2.0)
    bucket.acquire()
    assert clock.now == pytest.approx(1002.0)


def test_bucket_keeps_threads_together_within_the_rate() -> None:
    # Four threads take 60 slots at once: each gets its own slot, evenly spaced at the rate, none
    # shared. The clock stands still, so the result does not depend on how the machine schedules
    # the threads (wall-clock stamps taken after acquire() did, on a loaded machine).
    clock = FakeClock()
    rate = 200.0
    bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep)
    slots: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(15):
            at = clock.now + bucket.reserve()
            with lock:
                slots.append(at)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert slots == pytest.approx([1000.0 + i / rate for i in range(60)])


def test_cancel_interrupts_a_rate_limit_wait() -> None:
    bucket = TokenBucket(0.1)
    bucket.acquire()
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    with pytest.raises(Cancelled):
        bucket.acquire(cancel)


def test_one_bucket_per_key_shared_and_updated() -> None:
    a = bucket_for("test:shared-key", 50.0)
    b = bucket_for("test:shared-key", 50.0)
    assert a is b
    c = bucket_for("test:shared-key", 25.0)
    assert c is a and a.rate == 25.0
    assert bucket_for("test:other-key", 50.0) is not a


@pytest.mark.parametrize("rate,burst", [(0, None), (-1, None), (10, 0.5)])
def test_bucket_refuses_nonsense_settings(rate: float, burst: float | None) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)
