"""Hull emulation over the emulator's dispatch: auth, endpoints, search errors, firehose JWTs."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from cio_desktop.sandbox import Sandbox


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(users=600, seed=3)


def hull_headers(sb: Sandbox, **override: str) -> dict[str, str]:
    c = sb.credentials
    headers = {
        "Hull-App-Id": c.hull_connector_id,
        "Hull-Access-Token": c.hull_secret,
        "Hull-Organization": c.hull_organization,
    }
    headers.update(override)
    return {k: v for k, v in headers.items() if v}


def hull(sb: Sandbox, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    reply = sb.dispatch(method, "/hull/api/v1" + path, hull_headers(sb, **headers), data)
    return reply.status, json.loads(reply.body)


def token(sb: Sandbox, as_user: dict[str, str], *, secret: str | None = None, iss: str | None = None) -> str:
    claims = {
        "iss": iss or sb.credentials.hull_connector_id,
        "iat": int(time.time()),
        "io.hull.subjectType": "user",
        "io.hull.asUser": as_user,
    }
    return jwt.encode(claims, secret or sb.credentials.hull_secret, algorithm="HS256")


def firehose(sb: Sandbox, items: list[dict[str, Any]]) -> tuple[int, Any]:
    body = {"batch": items, "timestamp": "2026-01-01T00:00:00Z", "sentAt": "2026-01-01T00:00:00Z"}
    reply = sb.dispatch("POST", "/hull-firehose/", {}, json.dumps(body).encode())
    return reply.status, json.loads(reply.body)


def item(sb: Sandbox, kind: str, body: dict[str, Any], as_user: dict[str, str], **kw: Any) -> dict[str, Any]:
    return {"type": kind, "body": body, "headers": {"Hull-Access-Token": token(sb, as_user, **kw)}, "timestamp": "x"}


def test_every_hull_endpoint_requires_the_three_headers(sb: Sandbox) -> None:
    paths = [("GET", "/app"), ("GET", "/users_segments"), ("GET", "/users/schema"), ("POST", "/search/user_reports")]
    for method, path in paths:
        assert hull(sb, method, path, {}, **{"Hull-Access-Token": ""})[0] == 401
        assert hull(sb, method, path, {}, **{"Hull-Access-Token": "wrong"})[0] == 401
        assert hull(sb, method, path, {}, **{"Hull-App-Id": "0" * 24})[0] == 404
        assert hull(sb, method, path, {}, **{"Hull-Organization": "other.hullapp.io"})[0] == 401
    _status, body = hull(sb, "GET", "/app", **{"Hull-Access-Token": "wrong"})
    assert "message" in body and sb.credentials.hull_secret not in json.dumps(body)


def test_a_disabled_organization_answers_402(sb: Sandbox) -> None:
    sb.set_hull_disabled(True)
    assert hull(sb, "GET", "/app")[0] == 402
    sb.set_hull_disabled(False)
    assert hull(sb, "GET", "/app") == (200, hull(sb, "GET", "/app")[1])


def test_app_segments_schema_and_event_names(sb: Sandbox) -> None:
    status, app = hull(sb, "GET", "/app")
    assert status == 200 and app["id"] == sb.credentials.hull_connector_id and app["type"] == "ship"
    status, segments = hull(sb, "GET", "/users_segments?per_page=500&page=1")
    assert status == 200 and len(segments) >= 6
    assert all(s["type"] == "users_segment" and s["stats"]["users"] >= 0 for s in segments)
    assert {s["id"]: s["stats"]["users"] for s in segments} == {sid: n for sid, _, n in sb.segments()}
    assert hull(sb, "GET", "/users_segments?per_page=2&page=2")[1] == segments[2:4]
    status, tree = hull(sb, "GET", "/search/user_reports/bootstrap")
    assert status == 200 and any(c["id"] == "traits_clearbit/given_name" for g in tree["tree"] for c in g["children"])
    status, schema = hull(sb, "GET", "/users/schema")
    assert {"key": "traits_mrr", "type": "number"} in schema
    status, events = hull(sb, "GET", "/search/event/bootstrap")
    assert len(events) >= 10 and all(e["emitted"] > 0 for e in events)


def test_search_errors_are_400_with_a_message(sb: Sandbox) -> None:
    status, body = hull(sb, "POST", "/search/user_reports", {"query": {"match_all": {}}, "page": 41, "per_page": 250})
    assert (status, body) == (
        400,
        {"message": "Result window is too large, from + size must be less than or equal to: [10000]"},
    )
    assert hull(sb, "POST", "/search/user_reports", {"query": {"fuzzy": {"name": "x"}}})[0] == 400
    assert hull(sb, "POST", "/search/events", {"query": {"match_all": {}}, "page": 0})[0] == 400
    reply = sb.dispatch("POST", "/hull/api/v1/search/user_reports", hull_headers(sb), b"{nope")
    assert reply.status == 400
    assert hull(sb, "GET", "/nothing/here")[0] == 404


def test_search_over_http_dispatch_returns_users_and_pagination(sb: Sandbox) -> None:
    seg = sb.segments()[3]
    status, body = hull(sb, "POST", "/search/user_reports", {"query": {"term": {"segment_ids": seg[0]}}, "per_page": 5})
    assert status == 200 and body["pagination"]["total"] == seg[2]
    assert all(seg[0] in u["segment_ids"] for u in body["data"])
    assert body["data"][0] == sb.user(body["data"][0]["id"])


def test_firehose_traits_are_written_onto_the_user(sb: Sandbox) -> None:
    user = next(u for u in sb.users_in_segment(sb.segments()[0][0]) if "external_id" in u)
    before = user["updated_at"]
    items = [
        item(
            sb,
            "traits",
            {"customerio/created_at": "2026-01-02T00:00:00Z", "customerio/hash": "abc"},
            {"id": user["id"]},
        ),
        item(sb, "traits", {"customerio/synced_at": 5}, {"external_id": user["external_id"]}),
    ]
    assert firehose(sb, items) == (200, {})
    after = sb.user(user["id"])
    assert after["traits_customerio/created_at"] == "2026-01-02T00:00:00Z"
    assert after["traits_customerio/hash"] == "abc" and after["traits_customerio/synced_at"] == 5
    assert after["updated_at"] > before
    assert firehose(sb, [item(sb, "traits", {"customerio/hash": None}, {"id": user["id"]})])[0] == 200
    assert "traits_customerio/hash" not in sb.user(user["id"])
    received = sb.hull_received()
    assert len(received) == 3 and received[0]["user_id"] == user["id"] and received[1]["as_user"]["external_id"]
    assert {"key": "traits_customerio/created_at", "type": "date"} in sb.org.schema()


def test_one_bad_token_refuses_the_whole_firehose_request(sb: Sandbox) -> None:
    uid = sb.org.id_of(1)
    good = item(sb, "traits", {"customerio/hash": "1"}, {"id": uid})
    for bad in (
        item(sb, "traits", {"customerio/hash": "2"}, {"id": uid}, secret="not-the-connector-secret-but-32-bytes-long"),
        item(sb, "traits", {"customerio/hash": "2"}, {"id": uid}, iss="0" * 24),
        {"type": "traits", "body": {}, "headers": {"Hull-Access-Token": "garbage"}},
        {"type": "traits", "body": {}, "headers": {}},
    ):
        status, body = firehose(sb, [good, bad])
        assert status == 401 and "batch[1]" in body["message"]
    assert sb.hull_received() == [] and "traits_customerio/hash" not in sb.user(uid)


def test_firehose_rejects_malformed_batches(sb: Sandbox) -> None:
    uid = sb.org.id_of(1)
    assert firehose(sb, [{**item(sb, "traits", {}, {"id": uid}), "type": "alias"}])[0] == 400
    assert firehose(sb, [item(sb, "traits", {}, {})])[0] == 400
    assert sb.dispatch("POST", "/hull-firehose/", {}, b"[]").status == 400
    assert sb.dispatch("GET", "/hull-firehose/", {}, b"").status == 404


def test_firehose_track_calls_are_deduplicated_on_event_id(sb: Sandbox) -> None:
    uid = sb.org.id_of(2)
    ev = {
        "event": "Email Opened",
        "properties": {"subject": "Hi"},
        "event_id": "e-1",
        "created_at": "2026-01-01T00:00:00Z",
    }
    assert firehose(sb, [item(sb, "track", ev, {"id": uid}), item(sb, "track", ev, {"id": uid})])[0] == 200
    assert firehose(sb, [item(sb, "track", {**ev, "event_id": "e-2"}, {"email": "nobody@example.com"})])[0] == 200
    events = sb.hull_events_received()
    assert [e["body"]["event_id"] for e in events] == ["e-1", "e-2"]
    assert events[0]["user_id"] == uid and events[1]["user_id"] is None


def test_firehose_trait_operations_follow_hull(sb: Sandbox) -> None:
    uid = sb.org.id_of(4)
    body = {
        "visits": {"operation": "inc", "value": 2},
        "first_seen": {"operation": "setIfNull", "value": "a"},
        "plan": {"operation": "set", "value": "gold"},
    }
    assert firehose(sb, [item(sb, "traits", body, {"id": uid})])[0] == 200
    again = {**body, "first_seen": {"operation": "setIfNull", "value": "b"}}
    assert firehose(sb, [item(sb, "traits", again, {"id": uid})])[0] == 200
    user = sb.user(uid)
    assert user["traits_visits"] == 4 and user["traits_first_seen"] == "a" and user["traits_plan"] == "gold"
