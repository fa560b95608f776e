"""AppClient (Customer.io App API) requests and answers; sizes helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import responses

from cio_desktop.customerio.app import AppClient
from cio_desktop.customerio.errors import AuthenticationError, ServerError
from cio_desktop.customerio.sizes import MAX_OP_BYTES, batch_size, batch_size_with, json_size, op_size
from cio_desktop.net.ratelimit import TokenBucket
from cio_desktop.net.retry import RetryPolicy

APP_KEY = "app-key-value-123"
US = "https://api.customer.io"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def app(region: str = "us") -> AppClient:
    return AppClient(APP_KEY, region, retry=RetryPolicy(sleep=lambda s: None), bucket=TokenBucket(1000))


def test_customer_by_email_sends_bearer_and_id_type(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{US}/v1/customers/a%40b.io/attributes", json={"customer": {"id": "1", "attributes": {"x": "1"}}})
    assert app().customer("a@b.io", "email") == {"id": "1", "attributes": {"x": "1"}}
    req = rsps.calls[0].request
    assert req.url == f"{US}/v1/customers/a%40b.io/attributes?id_type=email"
    assert req.headers["Authorization"] == f"Bearer {APP_KEY}"


def test_unknown_customer_is_none(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{US}/v1/customers/nobody/attributes", status=404, json={"errors": [{"detail": "not found"}]})
    assert app().customer("nobody") is None


def test_customers_are_looked_up_100_at_a_time(rsps: responses.RequestsMock) -> None:
    rsps.post(f"{US}/v1/customers/attributes", json={"customers": [{"id": str(i)} for i in range(100)]})
    rsps.post(f"{US}/v1/customers/attributes", json={"customers": [{"id": "100"}]})
    found = app().customers(str(i) for i in range(101))
    assert len(found) == 101
    assert json.loads(rsps.calls[0].request.body) == {"ids": [str(i) for i in range(100)]}
    assert json.loads(rsps.calls[1].request.body) == {"ids": ["100"]}


def test_segments_on_the_eu_host(rsps: responses.RequestsMock) -> None:
    rsps.get("https://api-eu.customer.io/v1/segments", json={"segments": [{"id": 1, "name": "All"}]})
    assert app("eu").segments() == [{"id": 1, "name": "All"}]


def test_activities_follow_the_next_cursor(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{US}/v1/customers/u1/activities", json={"activities": [{"id": "a"}], "next": "c2"})
    rsps.get(f"{US}/v1/customers/u1/activities", json={"activities": [{"id": "b"}], "next": ""})
    assert [a["id"] for a in app().activities("u1")] == ["a", "b"]
    assert "start=c2" in rsps.calls[1].request.url


def test_bad_app_key_says_where_to_find_it(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{US}/v1/segments", status=401, json={"meta": {"error": "Unauthorized"}})
    with pytest.raises(AuthenticationError) as info:
        app().segments()
    assert "App API Key" in str(info.value) and APP_KEY not in str(info.value)


def test_app_server_errors_are_retried_then_raised(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{US}/v1/segments", status=502)
    with pytest.raises(ServerError):
        app().segments()
    assert len(rsps.calls) == 6


# ---------------------------------------------------------------- sizes
def test_sizes_are_compact_utf8_json_bytes() -> None:
    op = {"type": "person", "identifiers": {"id": "é"}, "action": "identify", "attributes": {"a": [1, 2]}}
    assert op_size(op) == len(json.dumps(op, separators=(",", ":"), ensure_ascii=False).encode())
    assert json_size({"k": "ü"}) == len('{"k":"ü"}'.encode())


def test_batch_size_counts_envelope_and_commas() -> None:
    ops = [{"a": i} for i in range(3)]
    assert batch_size(ops) == len(json.dumps({"batch": ops}, separators=(",", ":")).encode())
    assert batch_size([]) == len(b'{"batch":[]}')
    size, count = batch_size([]), 0
    for op in ops:
        size, count = batch_size_with(size, count, op_size(op)), count + 1
    assert size == batch_size(ops)


def test_nan_is_refused_rather_than_sent_as_invalid_json() -> None:
    with pytest.raises(ValueError):
        op_size({"v": float("nan")})


def test_op_limit_is_32_kb() -> None:
    assert MAX_OP_BYTES == 32_000
