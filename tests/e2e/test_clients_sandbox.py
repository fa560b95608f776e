"""The Customer.io and Hull clients against the sandbox over real loopback sockets, faults switched on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from customerio import CustomerIO

from cio_desktop.config.paths import HOME_ENV
from cio_desktop.customerio.app import AppClient
from cio_desktop.customerio.errors import AuthenticationError, NetworkError, RateLimitedError
from cio_desktop.customerio.track import OpResult, TrackClient
from cio_desktop.hull.client import HullClient
from cio_desktop.hull.errors import NotFoundError, OrganizationDisabledError, RejectedError
from cio_desktop.net.ratelimit import TokenBucket
from cio_desktop.net.retry import RetryPolicy
from cio_desktop.sandbox import Sandbox

pytestmark = pytest.mark.e2e

BIG_ORG_USERS = 12_000  # the "All Users" segment is then past Elasticsearch's 10,000 window
APIS = ("hull", "firehose", "cio_track", "cio_app")
# Fast retries: faults are frequent here, and the waits only need to be real, not long.
FAST = RetryPolicy(max_attempts=12, base_delay=0.005, max_delay=0.05, max_total=30)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(tmp_path_factory.mktemp("clients-e2e-home")))
        with Sandbox(users=BIG_ORG_USERS, seed=11) as sb:
            yield sb


@pytest.fixture
def sb(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The shared sandbox, healthy and with an empty Customer.io workspace for each test."""
    sandbox.reset_cio()
    yield sandbox
    for api in APIS:
        sandbox.set_faults(api)
    sandbox.set_hull_disabled(False)


def track_client(sb: Sandbox, **kw: Any) -> TrackClient:
    c = sb.credentials
    kw.setdefault("retry", FAST)
    kw.setdefault("bucket", TokenBucket(10_000))
    return TrackClient(c.cio_site_id, c.cio_api_key, "auto", base_url=sb.urls.cio_track, **kw)


def hull_client(sb: Sandbox, **kw: Any) -> HullClient:
    c = sb.credentials
    kw.setdefault("retry", FAST)
    return HullClient(
        c.hull_organization,
        c.hull_connector_id,
        c.hull_secret,
        base_url=sb.urls.hull_api,
        firehose_url=sb.urls.hull_firehose,
        **kw,
    )


def identify_op(n: int) -> dict[str, Any]:
    return {
        "type": "person",
        "identifiers": {"id": f"batch-{n}"},
        "action": "identify",
        "attributes": {"email": f"b{n}@example.com", "n": n},
    }


# ---------------------------------------------------------------- Track through faults
@pytest.mark.parametrize("retry_after", [None, 0.02], ids=["no-retry-after", "retry-after"])
def test_track_calls_succeed_through_429s_5xx_and_dropped_connections(sb: Sandbox, retry_after: float | None) -> None:
    sb.set_faults("cio_track", rate_429=0.2, retry_after=retry_after, rate_5xx=0.2, drop_rate=0.1, seed=5)
    with track_client(sb) as client:
        assert client.check().region == "us"
        for n in range(40):
            client.identify(f"user/{n}@x", {"email": f"u{n}@example.com", "n": n})
        client.track("user/0@x", "Purchased", event_id="01HZZZZZZZZZZZZZZZZZZZZZZZ", timestamp=1_700_000_000)
        client.delete("user/1@x")
        results = [client.batch([identify_op(b * 10 + i) for i in range(10)]) for b in range(8)]
    people = sb.cio_people()
    assert all(r.status == 200 and r.ok for r in results)
    assert {f"user/{n}@x" for n in range(40) if n != 1} <= set(people)
    assert "user/1@x" not in people
    assert {f"batch-{n}" for n in range(80)} <= set(people)
    assert [e["name"] for e in sb.cio_events()] == ["Purchased"]
    requests_made = sum(sb.cio_request_count().values())
    assert requests_made > 1 + 40 + 1 + 1 + 8  # faults really happened and were retried


def test_batch_partial_failure_comes_back_per_operation(sb: Sandbox) -> None:
    too_long_name = {"type": "person", "identifiers": {"id": "p2"}, "action": "event", "name": "x" * 101}
    with track_client(sb) as client:
        result = client.batch([identify_op(1), too_long_name, identify_op(3)])
    assert result.status == 207
    assert [r.ok for r in result.results] == [True, False, True]
    failed: OpResult = result.failed[0]
    assert failed.index == 1 and failed.message
    assert {"batch-1", "batch-3"} <= set(sb.cio_people())


def test_wrong_track_key_is_an_authentication_error(sb: Sandbox) -> None:
    c = sb.credentials
    with TrackClient(c.cio_site_id, "wrong-key", base_url=sb.urls.cio_track, retry=FAST) as client:
        with pytest.raises(AuthenticationError, match="API and webhook credentials"):
            client.check()


# ---------------------------------------------------------------- rate limit
def test_rate_limiter_keeps_within_the_workspace_rate_across_threads() -> None:
    rate = 40.0
    with Sandbox(users=10, seed=2, cio_rate_limit=rate) as sb:
        c = sb.credentials
        no_retry = RetryPolicy(max_attempts=1)  # a single 429 would fail the test
        clients = [
            TrackClient(c.cio_site_id, c.cio_api_key, "us", base_url=sb.urls.cio_track, rate_limit=rate, retry=no_retry)
            for _ in range(2)
        ]
        assert clients[0]._http.bucket is clients[1]._http.bucket  # one bucket per workspace
        stamps: list[float] = []
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work(client: TrackClient, worker: int) -> None:
            try:
                for n in range(15):
                    client.identify(f"w{worker}-{n}", {"n": n})
                    with lock:
                        stamps.append(time.monotonic())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(clients[w % 2], w)) for w in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert errors == []
        assert len(sb.cio_people()) == 60
        assert elapsed >= 59 / rate * 0.9  # 60 requests paced at 40/s
        stamps.sort()
        for i, start in enumerate(stamps):  # never more than the rate in any one-second window
            assert sum(1 for s in stamps[i:] if s - start < 1.0) <= rate + 1

        # The same sandbox does answer 429 to a client that ignores the limit.
        greedy = TrackClient(
            c.cio_site_id, c.cio_api_key, "us", base_url=sb.urls.cio_track, retry=no_retry, bucket=TokenBucket(10_000)
        )
        with pytest.raises(RateLimitedError):
            for n in range(200):
                greedy.identify(f"greedy-{n}", {})


# ---------------------------------------------------------------- SDK parity against the sandbox
def sdk_for(sb: Sandbox) -> CustomerIO:
    """The official SDK aimed at the sandbox: it only builds https URLs, so rewrite them to ours."""
    c = sb.credentials
    sdk = CustomerIO(c.cio_site_id, c.cio_api_key, retries=0)
    send = sdk.send_request
    real = sb.urls.cio_track

    def to_sandbox(method: str, url: str, data: Any) -> Any:
        assert url.startswith("https://track.customer.io/")
        return send(method, real + url[len("https://track.customer.io") :], data)

    sdk.send_request = to_sandbox  # type: ignore[method-assign]
    return sdk


OPS = [
    {"type": "person", "identifiers": {"id": "b1"}, "action": "identify", "attributes": {"email": "b1@x.io"}},
    {
        "type": "person",
        "identifiers": {"id": "b1"},
        "action": "event",
        "name": "Batched",
        "id": "01HBATCH000000000000000000",
    },
    {"type": "person", "identifiers": {"id": "b2"}, "action": "identify", "attributes": {"plan": "pro"}},
    {"type": "person", "identifiers": {"id": "b2"}, "action": "delete"},
]

Calls = list[Callable[[Any], Any]]
SDK_CALLS: Calls = [
    lambda s: s.identify(id="a/1@x.io", email="a1@x.io", plan="free", created_at=1_600_000_000),
    lambda s: s.identify(id="gone", email="gone@x.io"),
    lambda s: s.track(
        "a/1@x.io", "Upgraded", data={"to": "pro"}, id="01HAAAAAAAAAAAAAAAAAAAAAAA", timestamp=1_700_000_000
    ),
    lambda s: s.track_anonymous("anon-1", "Viewed", data={"p": "/"}, id="01HBBBBBBBBBBBBBBBBBBBBBBB", timestamp=5),
    lambda s: s.delete("gone"),
    lambda s: s.batch(OPS),
]
OUR_CALLS: Calls = [
    lambda c: c.identify("a/1@x.io", {"email": "a1@x.io", "plan": "free", "created_at": 1_600_000_000}),
    lambda c: c.identify("gone", {"email": "gone@x.io"}),
    lambda c: c.track(
        "a/1@x.io", "Upgraded", event_id="01HAAAAAAAAAAAAAAAAAAAAAAA", timestamp=1_700_000_000, data={"to": "pro"}
    ),
    lambda c: c.track_anonymous(
        "anon-1", "Viewed", event_id="01HBBBBBBBBBBBBBBBBBBBBBBB", timestamp=5, data={"p": "/"}
    ),
    lambda c: c.delete("gone"),
    lambda c: c.batch(OPS),
]


def recorded(sb: Sandbox) -> tuple[Any, ...]:
    events = [{k: v for k, v in e.items() if k != "received_at"} for e in sb.cio_events()]
    deletions = [{k: v for k, v in d.items() if k != "at"} for d in sb.cio_deletions()]
    return sb.cio_people(), events, deletions


def test_official_sdk_calls_are_accepted_and_track_client_records_the_same(sb: Sandbox) -> None:
    sdk = sdk_for(sb)
    for call in SDK_CALLS:
        assert call(sdk).status_code == 200
    by_sdk = recorded(sb)
    assert set(by_sdk[0]) == {"a/1@x.io", "b1"}
    assert len(by_sdk[1]) == 3

    sb.reset_cio()
    with track_client(sb) as ours:
        for call in OUR_CALLS:
            call(ours)
    assert recorded(sb) == by_sdk


# ---------------------------------------------------------------- App API
def test_app_client_reads_back_what_track_wrote(sb: Sandbox) -> None:
    with track_client(sb) as track:
        track.identify("app-1", {"email": "app1@x.io", "plan": "pro"})
        track.identify("app-2", {"email": "app2@x.io"})
    c = sb.credentials
    sb.set_faults("cio_app", rate_5xx=0.3, drop_rate=0.1, seed=3)
    with AppClient(c.cio_app_key, base_url=sb.urls.cio_app, retry=FAST, bucket=TokenBucket(10_000)) as app:
        one = app.customer("app-1")
        assert one is not None and one["attributes"]["plan"] == "pro"
        assert app.customer("app2@x.io", "email") is not None
        assert app.customer("nobody") is None
        assert {p["id"] for p in app.customers(["app-1", "app-2", "nobody"])} == {"app-1", "app-2"}
        assert isinstance(app.segments(), list)


# ---------------------------------------------------------------- Hull
def test_keyset_paging_reads_every_member_of_a_segment_past_10000_exactly_once(sb: Sandbox) -> None:
    segment_id, _, size = max(sb.segments(), key=lambda s: s[2])
    assert size > 10_000, "the sandbox must hold a segment larger than Elasticsearch's window"
    expected = [u["id"] for u in sb.users_in_segment(segment_id)]
    with hull_client(sb) as hull:
        assert hull.count_users([segment_id]) == size
        got = [u["id"] for u in hull.iter_users([segment_id], fields=["email"])]
        # Offset paging cannot get there: page 21 x 500 is past the window.
        with pytest.raises(RejectedError, match="10000"):
            hull._search(
                "/search/user_reports",
                {"query": {"match_all": {}}, "raw": True, "page": 21, "per_page": 500, "sort": {"id": "asc"}},
            )
    assert len(got) == size == len(set(got))
    assert sorted(got) == sorted(expected)


def test_users_of_several_segments_come_once_each_through_faults(sb: Sandbox) -> None:
    small = sorted(sb.segments(), key=lambda s: s[2])[:2]
    ids = [s[0] for s in small]
    expected = {u["id"] for sid in ids for u in sb.users_in_segment(sid)}
    sb.set_faults("hull", rate_429=0.15, rate_5xx=0.15, drop_rate=0.1, seed=9)
    with hull_client(sb) as hull:
        got = [u["id"] for u in hull.iter_users(ids, page_size=200)]
        assert hull.check()["id"] == sb.credentials.hull_connector_id
        assert {s.id for s in hull.segments()} >= set(ids)
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == expected


def test_events_since_a_point_come_once_each_in_order() -> None:
    with Sandbox(users=300, seed=4) as small:
        everything = small.hull_events()
        names = sorted({e["event"] for e in everything})[:4]
        with hull_client(small) as hull:
            all_named = list(hull.iter_events(names, page_size=50))
            middle = all_named[len(all_named) // 2].created_at
            since = list(hull.iter_events(names, since=middle, page_size=50))
    expected = [e for e in everything if e["event"] in names]
    assert len(all_named) == len(expected) == len({e.event_id for e in all_named})
    assert {e.event_id for e in all_named} == {e["id"] for e in expected}
    keys = [(e.created_at, e.event_id) for e in all_named]
    assert keys == sorted(keys)
    assert since and all(e.created_at > middle for e in since)
    assert len(since) == sum(1 for e in all_named if e.created_at > middle)


def test_hull_errors_against_the_sandbox(sb: Sandbox) -> None:
    c = sb.credentials
    with pytest.raises(AuthenticationError):
        HullClient(c.hull_organization, c.hull_connector_id, "bad-secret", base_url=sb.urls.hull_api).check()
    with pytest.raises(NotFoundError):
        HullClient(c.hull_organization, "f" * 24, c.hull_secret, base_url=sb.urls.hull_api).check()
    sb.set_hull_disabled(True)
    with pytest.raises(OrganizationDisabledError, match="disabled"):
        hull_client(sb).check()


def test_firehose_writer_delivers_everything_through_faults(sb: Sandbox) -> None:
    before = len(sb.hull_received())
    users = [u for _, u in zip(range(120), sb.users_in_segment(sb.segments()[0][0]), strict=False)]
    sb.set_faults("firehose", rate_429=0.2, rate_5xx=0.2, drop_rate=0.1, seed=21)
    errors: list[Any] = []
    with hull_client(sb) as hull:
        with hull.firehose(on_error=lambda e, items: errors.append(e), flush_interval=0.05) as writer:
            for n, user in enumerate(users):
                writer.traits({"id": user["id"]}, {"customerio/synced_at": "2026-01-01T00:00:00Z", "n": n})
    assert errors == []
    assert writer.sent == 120 and writer.failed == 0
    received = sb.hull_received()[before:]
    assert len(received) == 120  # faulted requests changed nothing; every item landed once
    assert {r["user_id"] for r in received} == {u["id"] for u in users}
    synced = [r for r in received if r["type"] == "traits"]
    assert sb.user(synced[0]["user_id"])["traits_customerio/synced_at"] == "2026-01-01T00:00:00Z"


def test_latency_and_slow_bodies_within_the_timeout_are_waited_for(sb: Sandbox) -> None:
    sb.set_faults("cio_track", latency_ms=30, slow_body_ms=150, seed=1)
    with track_client(sb) as client:
        assert client.check().region == "us"
        client.identify("slow-1", {"a": 1})
    assert "slow-1" in sb.cio_people()


def test_an_answer_slower_than_the_timeout_is_a_network_error(sb: Sandbox) -> None:
    sb.set_faults("cio_track", latency_ms=600, seed=1)
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
    with track_client(sb, retry=retry, timeout=(1.0, 0.2)) as client:
        started = time.monotonic()
        with pytest.raises(NetworkError, match="did not answer in time"):
            client.identify("too-slow", {"a": 1})
    assert time.monotonic() - started < 3
