"""Contract parity: TrackClient sends what the official ``customerio`` package sends for the same calls."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from customerio import CustomerIO

from cio_desktop.customerio.track import TrackClient
from cio_desktop.net.ratelimit import TokenBucket
from cio_desktop.net.retry import RetryPolicy

HOST = "https://track.customer.io"
SITE, KEY = "parity-site", "parity-key"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in (responses.GET, responses.PUT, responses.POST, responses.DELETE):
            mock.add(method, re.compile(r"https://track\.customer\.io/.*"), json={})
        yield mock


def normalized(call: responses.Call) -> tuple[str, str, str, Any]:
    req = call.request
    # The SDK sends "{}" with a DELETE; no body and an empty object mean the same to the API.
    body = json.loads(req.body) if req.body else {}
    return req.method or "", urlsplit(req.url).path, req.headers["Authorization"], body


OPS = [
    {"type": "person", "identifiers": {"id": "u/1"}, "action": "identify", "attributes": {"email": "a@b.io"}},
    {"type": "person", "identifiers": {"email": "x@y.io"}, "action": "event", "name": "Signed up"},
    {"type": "person", "identifiers": {"id": "u2"}, "action": "delete"},
]

CASES: list[tuple[str, Callable[[CustomerIO], Any], Callable[[TrackClient], Any]]] = [
    (
        "identify",
        lambda sdk: sdk.identify(id="a/b@c.io+1", email="a@c.io", created_at=1700000000, plan="pro", tags=["x"]),
        lambda ours: ours.identify(
            "a/b@c.io+1", {"email": "a@c.io", "created_at": 1700000000, "plan": "pro", "tags": ["x"]}
        ),
    ),
    (
        "track",
        lambda sdk: sdk.track("u 1", "Purchased", data={"sku": "é", "n": 2}, id="01HZZ", timestamp=1700000001),
        lambda ours: ours.track("u 1", "Purchased", event_id="01HZZ", timestamp=1700000001, data={"sku": "é", "n": 2}),
    ),
    (
        "track without extras",
        lambda sdk: sdk.track("u1", "Logged in"),
        lambda ours: ours.track("u1", "Logged in"),
    ),
    (
        "track_anonymous",
        lambda sdk: sdk.track_anonymous("anon-7", "Viewed", data={"p": "/"}, id="01HAA", timestamp=5),
        lambda ours: ours.track_anonymous("anon-7", "Viewed", event_id="01HAA", timestamp=5, data={"p": "/"}),
    ),
    ("delete", lambda sdk: sdk.delete("a@b.io"), lambda ours: ours.delete("a@b.io")),
    ("batch", lambda sdk: sdk.batch(OPS), lambda ours: ours.batch(OPS)),
]


@pytest.mark.parametrize("name,sdk_call,our_call", CASES, ids=[c[0] for c in CASES])
def test_track_client_sends_the_same_request_as_the_official_sdk(
    rsps: responses.RequestsMock,
    name: str,
    sdk_call: Callable[[CustomerIO], Any],
    our_call: Callable[[TrackClient], Any],
) -> None:
    sdk = CustomerIO(SITE, KEY)
    ours = TrackClient(SITE, KEY, "us", retry=RetryPolicy(max_attempts=1), bucket=TokenBucket(1000))
    sdk_call(sdk)
    our_call(ours)
    assert len(rsps.calls) == 2
    assert normalized(rsps.calls[1]) == normalized(rsps.calls[0])
