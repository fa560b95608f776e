"""TrackClient: the exact requests it sends and how every answer is turned into a result or error."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from cio_desktop import __version__
from cio_desktop.customerio.errors import (
    AuthenticationError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    ServerError,
    ServiceError,
)
from cio_desktop.customerio.sizes import MAX_BATCH_BYTES, batch_size
from cio_desktop.customerio.track import BatchResult, OpResult, RegionInfo, TrackClient
from cio_desktop.net.ratelimit import TokenBucket
from cio_desktop.net.retry import RetryPolicy

US = "https://track.customer.io"
EU = "https://track-eu.customer.io"
API_KEY = "k3y-s3cr3t-value"
_site_ids = itertools.count()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(sleeps: list[float], region: str = "us", **kw: Any) -> TrackClient:
    # A fresh site id per client: buckets are shared per site id across the whole process.
    site = f"site{next(_site_ids)}"
    return TrackClient(
        site,
        API_KEY,
        region,
        retry=RetryPolicy(sleep=sleeps.append, rand=lambda: 1.0),
        bucket=TokenBucket(10_000, sleep=lambda s: None),
        **kw,
    )


def basic(c: TrackClient) -> str:
    return "Basic " + base64.b64encode(f"{c.site_id}:{API_KEY}".encode()).decode()


def sent(rsps: responses.RequestsMock, i: int = -1) -> tuple[str, str, dict[str, str], Any]:
    req = rsps.calls[i].request
    body = json.loads(req.body) if req.body else None
    return req.method or "", req.url or "", dict(req.headers), body


# ---------------------------------------------------------------- region / credentials
def test_check_returns_region_and_sends_basic_auth(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.get(f"{US}/api/v1/accounts/region", json={"url": US, "region": "us", "environment_id": 42})
    assert c.check() == RegionInfo("us", US, 42)
    method, url, headers, _ = sent(rsps)
    assert (method, url) == ("GET", f"{US}/api/v1/accounts/region")
    assert headers["Authorization"] == basic(c)
    assert headers["User-Agent"] == f"cio-desktop/{__version__}"


def test_auto_region_switches_to_the_eu_host_without_following_redirects(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    c = client(sleeps, region="auto")
    rsps.get(f"{US}/api/v1/accounts/region", json={"url": EU, "region": "eu", "environment_id": 7})
    rsps.put(f"{EU}/api/v1/customers/u1", json={})
    c.identify("u1", {"email": "a@example.com"})  # detects the region first
    assert [call.request.url for call in rsps.calls] == [
        f"{US}/api/v1/accounts/region",
        f"{EU}/api/v1/customers/u1",
    ]
    assert c.base_url == EU
    assert rsps.calls[1].request.headers["Authorization"] == basic(c)


def test_fixed_base_url_is_never_switched(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps, region="auto", base_url="http://127.0.0.1:9/cio-track/")
    rsps.get("http://127.0.0.1:9/cio-track/api/v1/accounts/region", json={"url": EU, "region": "eu"})
    assert c.check().region == "eu"
    assert c.base_url == "http://127.0.0.1:9/cio-track"


def test_401_says_where_to_find_the_credentials_and_never_the_key(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    c = client(sleeps)
    rsps.get(f"{US}/api/v1/accounts/region", status=401, json={"meta": {"error": "Unauthorized request"}})
    with pytest.raises(AuthenticationError) as info:
        c.check()
    message = str(info.value)
    assert info.value.status == 401
    assert "Unauthorized request" in message
    assert "Settings > Workspace Settings > API and webhook credentials" in message
    assert "Integrations > Customer.io API" in message
    assert API_KEY not in message and basic(c) not in message
    assert sleeps == []  # not retried


def test_redirect_is_reported_not_followed(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/x", status=301, headers={"Location": f"{EU}/api/v1/customers/x"})
    with pytest.raises(ServiceError, match=r"track-eu\.customer\.io"):
        c.identify("x", {})
    assert len(rsps.calls) == 1


# ---------------------------------------------------------------- v1 calls
def test_identify_puts_attributes_with_the_id_fully_url_encoded(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/a%2Fb%40c.d%2B1%20%C3%A9", json={})
    c.identify("a/b@c.d+1 é", {"email": "a@b.c", "created_at": 1700000000, "name": "Zoë"})
    method, url, headers, body = sent(rsps)
    assert method == "PUT"
    assert url == f"{US}/api/v1/customers/a%2Fb%40c.d%2B1%20%C3%A9"
    assert headers["Authorization"] == basic(c)
    assert headers["Content-Type"] == "application/json"
    assert body == {"email": "a@b.c", "created_at": 1700000000, "name": "Zoë"}
    # compact UTF-8 bytes, the same way sizes.py measures them
    assert rsps.calls[0].request.body == '{"email":"a@b.c","created_at":1700000000,"name":"Zoë"}'.encode()


def test_delete_sends_delete_without_body(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.delete(f"{US}/api/v1/customers/42", json={})
    c.delete("42")
    method, url, headers, body = sent(rsps)
    assert (method, url, body) == ("DELETE", f"{US}/api/v1/customers/42", None)
    assert headers["Authorization"] == basic(c)


def test_track_posts_event_with_integer_timestamp_and_id(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v1/customers/u%401/events", json={})
    c.track("u@1", "Purchased", event_id="01HZX", timestamp=1700000000.9, data={"amount": 3})
    method, url, _, body = sent(rsps)
    assert (method, url) == ("POST", f"{US}/api/v1/customers/u%401/events")
    assert body == {"name": "Purchased", "data": {"amount": 3}, "id": "01HZX", "timestamp": 1700000000}


def test_track_page_event_names_its_type(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v1/customers/u/events", json={})
    c.track("u", "/pricing", type="page")
    assert sent(rsps)[3] == {"name": "/pricing", "data": {}, "type": "page"}


def test_track_anonymous_posts_to_events(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v1/events", json={})
    c.track_anonymous("anon-1", "Viewed", event_id="E1", timestamp=5, data={"p": 1})
    method, url, _, body = sent(rsps)
    assert (method, url) == ("POST", f"{US}/api/v1/events")
    assert body == {"name": "Viewed", "data": {"p": 1}, "id": "E1", "timestamp": 5, "anonymous_id": "anon-1"}


def test_track_anonymous_page_and_screen_views_carry_their_type(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v1/events", json={})
    c.track_anonymous("anon-1", "/pricing", type="page")
    c.track_anonymous("anon-1", "Home", type="screen")
    types = [json.loads(call.request.body)["type"] for call in rsps.calls]
    assert types == ["page", "screen"]


@pytest.mark.parametrize("bad", ["", None])
def test_blank_identifier_is_refused_before_sending(
    rsps: responses.RequestsMock, sleeps: list[float], bad: Any
) -> None:
    c = client(sleeps)
    with pytest.raises(ValueError):
        c.identify(bad, {})
    with pytest.raises(ValueError):
        c.track(bad, "x")
    assert len(rsps.calls) == 0


def test_400_is_rejected_with_the_api_messages_and_not_retried(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    c = client(sleeps)
    rsps.put(
        f"{US}/api/v1/customers/u",
        status=400,
        json={"meta": {"errors": ["attribute name cannot be longer than 150 bytes"]}},
    )
    with pytest.raises(RejectedError) as info:
        c.identify("u", {"x" * 200: 1})
    assert info.value.messages == ("attribute name cannot be longer than 150 bytes",)
    assert "attribute name cannot be longer than 150 bytes" in str(info.value)
    assert "x" * 200 not in str(info.value)  # never the request body
    assert len(rsps.calls) == 1 and sleeps == []


def test_single_meta_error_is_read(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/u", status=400, json={"meta": {"error": "value too long"}})
    with pytest.raises(RejectedError) as info:
        c.identify("u", {})
    assert info.value.messages == ("value too long",)


def test_404_is_not_found(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.delete(f"{US}/api/v1/customers/u", status=404, json={"meta": {"error": "not found"}})
    with pytest.raises(NotFoundError):
        c.delete("u")


# ---------------------------------------------------------------- retries
def test_429_with_retry_after_is_retried_after_that_wait(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/u", status=429, headers={"Retry-After": "3"})
    rsps.put(f"{US}/api/v1/customers/u", json={})
    c.identify("u", {"a": 1})
    assert len(rsps.calls) == 2
    assert sleeps[0] == 3.0


def test_429_without_retry_after_backs_off_exponentially(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    for _ in range(3):
        rsps.put(f"{US}/api/v1/customers/u", status=429)
    rsps.put(f"{US}/api/v1/customers/u", json={})
    c.identify("u", {})
    assert sleeps == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(rsps: responses.RequestsMock, sleeps: list[float], status: int) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v2/batch", status=status, body="oops")
    rsps.post(f"{US}/api/v2/batch", json={})
    assert c.batch([{"type": "person", "identifiers": {"id": "1"}, "action": "identify"}]).ok
    assert len(rsps.calls) == 2


def test_connection_error_is_retried(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/u", body=requests.ConnectionError("reset by peer"))
    rsps.put(f"{US}/api/v1/customers/u", json={})
    c.identify("u", {})
    assert len(rsps.calls) == 2 and len(sleeps) == 1


def test_timeout_is_retried_then_reported_as_network_error(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/u", body=requests.ReadTimeout("slow"))
    with pytest.raises(NetworkError) as info:
        c.identify("u", {})
    assert len(rsps.calls) == 6  # max_attempts
    assert info.value.status is None and "did not answer in time" in str(info.value)


def test_persistent_429_ends_as_rate_limited_error(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/u", status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimitedError) as info:
        c.identify("u", {})
    assert info.value.retry_after == 1.0 and info.value.status == 429


def test_persistent_500_ends_as_server_error(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.put(f"{US}/api/v1/customers/u", status=500, json={"meta": {"error": "internal"}})
    with pytest.raises(ServerError, match="internal"):
        c.identify("u", {})


# ---------------------------------------------------------------- v2 batch
OPS = [
    {"type": "person", "identifiers": {"id": "1"}, "action": "identify", "attributes": {"email": "a@x.io"}},
    {"type": "person", "identifiers": {"id": "2"}, "action": "delete"},
    {"type": "person", "identifiers": {"id": "3"}, "action": "event", "name": "E", "id": "01H", "timestamp": 1},
]


def test_batch_posts_the_envelope_and_200_accepts_all(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v2/batch", json={})
    result = c.batch(OPS)
    method, url, headers, body = sent(rsps)
    assert (method, url, body) == ("POST", f"{US}/api/v2/batch", {"batch": OPS})
    assert headers["Authorization"] == basic(c)
    assert len(rsps.calls[0].request.body) == batch_size(OPS)
    assert result == BatchResult(200, (OpResult(0, True), OpResult(1, True), OpResult(2, True)))
    assert result.failed == ()


def test_batch_sends_a_pre_encoded_body_byte_for_byte(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    from cio_desktop.sync.batching import BatchPacker

    packer: BatchPacker[int] = BatchPacker()
    for i, op in enumerate(OPS):
        assert packer.add(op, i) is None
    batch = packer.flush()
    assert batch is not None
    rsps.post(f"{US}/api/v2/batch", json={})
    result = client(sleeps).batch(batch.operations, body=batch.body)
    assert rsps.calls[0].request.body == batch.body
    assert len(result.results) == len(OPS) and not result.failed


def test_batch_207_marks_only_the_listed_indexes_failed(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(
        f"{US}/api/v2/batch",
        status=207,
        json={
            "errors": [
                {"batch_index": 2, "reason": "invalid", "field": "name", "message": "event name too long"},
                {"batch_index": 0, "reason": "invalid", "field": "attributes", "message": "too many attributes"},
            ]
        },
    )
    result = c.batch(OPS)
    assert result.status == 207
    assert result.results[1] == OpResult(1, True)
    assert result.failed == (
        OpResult(0, False, "invalid", "attributes", "too many attributes"),
        OpResult(2, False, "invalid", "name", "event name too long"),
    )
    assert sleeps == []  # a 207 is an answer, not retried


def test_batch_207_without_error_list_raises(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v2/batch", status=207, body="partial")
    with pytest.raises(ServiceError, match="207"):
        c.batch(OPS)


def test_batch_400_is_rejected_with_messages(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v2/batch", status=400, json={"errors": [{"reason": "invalid", "message": "bad batch"}]})
    with pytest.raises(RejectedError) as info:
        c.batch(OPS)
    assert info.value.messages == ("bad batch",)


def test_batch_401_is_authentication_error(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    c = client(sleeps)
    rsps.post(f"{US}/api/v2/batch", status=401, json={"errors": ["unauthorized"]})
    with pytest.raises(AuthenticationError):
        c.batch(OPS)


def test_empty_batch_sends_nothing(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    assert client(sleeps).batch([]) == BatchResult(200, ())
    assert len(rsps.calls) == 0


def test_oversized_batch_is_refused_before_sending(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    big = [
        {"type": "person", "identifiers": {"id": str(i)}, "action": "identify", "attributes": {"v": "x" * 900}}
        for i in range(600)
    ]
    assert batch_size(big) > MAX_BATCH_BYTES
    with pytest.raises(ValueError, match="over the"):
        client(sleeps).batch(big)
    assert len(rsps.calls) == 0


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError):
        TrackClient("s", "k", "mars")


def test_clients_of_one_workspace_share_one_rate_limiter() -> None:
    a = TrackClient("shared-site", API_KEY, "us", rate_limit=50)
    b = TrackClient("shared-site", "other-key", "us", rate_limit=50)
    other = TrackClient("another-site", API_KEY, "us", rate_limit=50)
    assert a._http.bucket is b._http.bucket
    assert a._http.bucket is not other._http.bucket


def test_retry_after_holds_back_the_whole_workspace(rsps: responses.RequestsMock) -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

        def sleep(self, s: float) -> None:
            self.now += s

    clock = Clock()
    bucket = TokenBucket(1000, clock=clock, sleep=clock.sleep)
    c = TrackClient("s-pause", API_KEY, "us", retry=RetryPolicy(sleep=lambda s: None), bucket=bucket)
    rsps.put(f"{US}/api/v1/customers/u", status=429, headers={"Retry-After": "5"})
    rsps.put(f"{US}/api/v1/customers/u", json={})
    c.identify("u", {})
    # The retry waited in the shared bucket, where every other thread of this workspace waits too.
    assert clock.now >= 5.0


def test_unreachable_host_says_so_without_the_url_path() -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = TrackClient("s-down", API_KEY, "us", base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=1))
    with pytest.raises(NetworkError) as info:
        c.identify("secret@person.io", {})
    assert str(info.value) == (
        f"Could not reach Customer.io Track API at 127.0.0.1:{port} (connection refused). "
        "Check the network connection, and the service address if one is set (Connect page > Advanced: service "
        "addresses)."
    )
