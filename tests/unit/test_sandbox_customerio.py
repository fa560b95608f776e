"""Customer.io emulation: auth, v1 calls, v2 batch validation (207 / 400), App API reads, rate limit."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from cio_desktop.sandbox import Sandbox

ULID_A = "01HZY8J5N4D8W5V6X7Y8Z9A0BC"
ULID_B = "01HZY8J5N4D8W5V6X7Y8Z9A0BD"


class Track:
    """Calls the emulator's dispatch directly (no sockets): the HTTP layer is covered by e2e tests."""

    def __init__(self, sb: Sandbox, site: str | None = None, key: str | None = None) -> None:
        self.sb = sb
        creds = sb.credentials
        token = base64.b64encode(f"{site or creds.cio_site_id}:{key or creds.cio_api_key}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        reply = self.sb.dispatch(method, "/cio-track" + path, self.headers, data)
        return reply.status, json.loads(reply.body) if reply.body else None

    def batch(self, ops: list[Any]) -> tuple[int, Any]:
        return self.call("POST", "/api/v2/batch", {"batch": ops})


def app_call(sb: Sandbox, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key or sb.credentials.cio_app_key}"}
    data = json.dumps(body).encode() if body is not None else b""
    reply = sb.dispatch(method, "/cio-app" + path, headers, data)
    return reply.status, json.loads(reply.body)


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(users=50, seed=1)


@pytest.fixture
def track(sb: Sandbox) -> Track:
    return Track(sb)


def identify(pid: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "person", "identifiers": {"id": pid}, "action": "identify", "attributes": attributes}


# ---------------------------------------------------------------------- auth
def test_wrong_track_credentials_get_401_like_customer_io(sb: Sandbox) -> None:
    for bad in (Track(sb, key="wrong"), Track(sb, site="nosuchsite")):
        assert bad.call("GET", "/api/v1/accounts/region") == (401, {"meta": {"error": "Unauthorized request"}})
        assert bad.batch([identify("a")])[0] == 401
    no_auth = sb.dispatch("PUT", "/cio-track/api/v1/customers/a", {}, b"{}")
    assert no_auth.status == 401
    assert sb.cio_people() == {}


def test_wrong_app_key_gets_401(sb: Sandbox) -> None:
    assert app_call(sb, "GET", "/v1/segments", key="nope") == (401, {"meta": {"error": "Unauthorized request"}})
    assert app_call(sb, "GET", "/v1/segments")[0] == 200


def test_region_answers_us_with_the_track_url(sb: Sandbox, track: Track) -> None:
    sb.start()
    try:
        status, body = track.call("GET", "/api/v1/accounts/region")
        assert status == 200 and body["region"] == "us" and body["url"] == sb.urls.cio_track
        assert isinstance(body["environment_id"], int)
    finally:
        sb.stop()


# ---------------------------------------------------------------------- v1
def test_v1_identify_merges_attributes_and_delete_removes_the_person(sb: Sandbox, track: Track) -> None:
    assert track.call("PUT", "/api/v1/customers/u1", {"email": "a@example.com", "plan": "pro"}) == (200, {})
    assert track.call("PUT", "/api/v1/customers/u1", {"mrr": 10, "plan": None}) == (200, {})
    assert sb.cio_people() == {"u1": {"email": "a@example.com", "mrr": 10}}
    assert track.call("DELETE", "/api/v1/customers/u1")[0] == 200
    assert sb.cio_people() == {}
    assert sb.cio_deletions()[0]["id"] == "u1"


def test_v1_update_only_does_not_create_people(sb: Sandbox, track: Track) -> None:
    track.call("PUT", "/api/v1/customers/ghost", {"_update": True, "plan": "pro"})
    assert sb.cio_people() == {}


def test_v1_identifiers_are_url_decoded_per_path_segment(sb: Sandbox, track: Track) -> None:
    assert track.call("PUT", "/api/v1/customers/a%2Fb%40c%2Bd", {"x": 1})[0] == 200
    assert "a/b@c+d" in sb.cio_people()
    assert track.call("PUT", "/api/v1/customers/a/b", {"x": 1})[0] == 404  # an unencoded "/" is not an id


def test_v1_events_are_recorded_and_deduplicated_on_their_ulid(sb: Sandbox, track: Track) -> None:
    ev = {"name": "Signed Up", "id": ULID_A, "timestamp": 1_700_000_000, "data": {"plan": "pro"}}
    assert track.call("POST", "/api/v1/customers/u1/events", ev) == (200, {})
    assert track.call("POST", "/api/v1/customers/u1/events", ev) == (200, {})
    assert track.call("POST", "/api/v1/events", {"name": "Viewed", "anonymous_id": "anon-1", "type": "page"})[0] == 200
    events = sb.cio_events()
    assert len(events) == 2
    assert events[0]["person_id"] == "u1" and events[0]["id"] == ULID_A and events[0]["data"] == {"plan": "pro"}
    assert events[1]["anonymous_id"] == "anon-1" and events[1]["type"] == "page" and events[1]["person_id"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x" * 151: 1}, "attribute name cannot be longer than 150 bytes"),
        ({"bio": "é" * 501}, "value for attribute 'bio' cannot be longer than 1000 bytes"),
        ({"tags": ["abcdefghij"] * 80}, "value for attribute 'tags' cannot be longer than 1000 bytes"),
        ({f"a{n}": n for n in range(301)}, "cannot identify more than 300 attributes in one request"),
    ],
)
def test_v1_identify_limits_answer_400_with_the_documented_message(
    sb: Sandbox, track: Track, body: dict[str, Any], message: str
) -> None:
    assert track.call("PUT", "/api/v1/customers/u1", body) == (400, {"meta": {"error": message}})
    assert sb.cio_people() == {}


def test_v1_limits_on_identifiers_and_events(track: Track) -> None:
    long_id = "i" * 151
    assert track.call("PUT", f"/api/v1/customers/{long_id}", {}) == (
        400,
        {"meta": {"error": "identifier cannot be longer than 150 bytes"}},
    )
    assert track.call("POST", "/api/v1/customers/u/events", {"name": "n" * 101}) == (
        400,
        {"meta": {"error": "event name cannot be longer than 100 bytes"}},
    )
    big = {"name": "Big", "data": {"blob": "x" * 100_001}}
    assert track.call("POST", "/api/v1/customers/u/events", big)[1] == {
        "meta": {"error": "event data cannot be larger than 100000 bytes"}
    }
    assert track.call("POST", "/api/v1/customers/u/events", {"name": "E", "id": "not-a-ulid"})[0] == 400
    assert track.call("POST", "/api/v1/customers/u/events", {"name": "E", "timestamp": 1.5})[0] == 400
    assert track.call("PUT", "/api/v1/customers/u", raw=b"{not json")[0] == 400


def test_exactly_at_the_limits_is_accepted(sb: Sandbox, track: Track) -> None:
    attrs = {"n" * 150: "v" * 1000, **{f"a{n}": n for n in range(299)}}
    assert track.call("PUT", "/api/v1/customers/" + "i" * 150, attrs)[0] == 200
    assert track.call("POST", "/api/v1/customers/u/events", {"name": "n" * 100})[0] == 200


# ---------------------------------------------------------------------- v2
def test_v2_batch_applies_good_operations_and_reports_bad_ones_with_207(sb: Sandbox, track: Track) -> None:
    ops = [
        identify("ok1", email="ok1@example.com"),
        identify("bad1", **{"y" * 151: 1}),
        {"type": "person", "identifiers": {"id": "x", "email": "x@example.com"}, "action": "identify"},
        {"type": "person", "identifiers": {"id": "ok1"}, "action": "event", "name": "Paid", "id": ULID_B},
        {"type": "person", "identifiers": {"id": "ok1"}, "action": "fly"},
        identify("ok2", bio="z" * 1001),
    ]
    status, body = track.batch(ops)
    assert status == 207
    assert [e["batch_index"] for e in body["errors"]] == [1, 2, 4, 5]
    assert body["errors"][0] == {
        "batch_index": 1,
        "reason": "too_long",
        "field": "attributes",
        "message": "attribute name cannot be longer than 150 bytes",
    }
    assert body["errors"][1]["field"] == "identifiers"
    assert body["errors"][2]["field"] == "action"
    assert body["errors"][3]["message"] == "value for attribute 'bio' cannot be longer than 1000 bytes"
    assert sb.cio_people() == {"ok1": {"email": "ok1@example.com"}}
    assert [e["name"] for e in sb.cio_events()] == ["Paid"]


def test_v2_all_good_is_200_with_an_empty_object(sb: Sandbox, track: Track) -> None:
    assert track.batch([identify(f"p{n}", n=n) for n in range(5)]) == (200, {})
    assert len(sb.cio_people()) == 5


def test_v2_operation_over_32_kb_is_rejected_alone(sb: Sandbox, track: Track) -> None:
    fat = identify("fat", **{f"a{n}": "v" * 900 for n in range(40)})
    status, body = track.batch([identify("thin"), fat])
    assert status == 207
    assert body["errors"] == [
        {
            "batch_index": 1,
            "reason": "too_large",
            "field": "operation",
            "message": "operation cannot be larger than 32 KB",
        }
    ]
    assert set(sb.cio_people()) == {"thin"}


def test_v2_request_over_500_kb_or_unparsable_is_rejected_whole(sb: Sandbox, track: Track) -> None:
    ops = [identify(f"p{n}", blob="v" * 900) for n in range(600)]
    status, body = track.batch(ops)
    assert status == 400 and body["errors"][0]["message"] == "request body cannot be larger than 500 KB"
    assert track.call("POST", "/api/v2/batch", raw=b'{"batch": [')[0] == 400
    assert track.call("POST", "/api/v2/batch", {"ops": []})[0] == 400
    assert sb.cio_people() == {}


def test_v2_identify_by_email_then_merge_folds_secondary_into_primary(sb: Sandbox, track: Track) -> None:
    ops = [
        identify("main", plan="pro"),
        {
            "type": "person",
            "identifiers": {"email": "lead@example.com"},
            "action": "identify",
            "attributes": {"src": "ad"},
        },
        {"type": "person", "identifiers": {"email": "lead@example.com"}, "action": "event", "name": "Clicked"},
        {"type": "person", "action": "merge", "primary": {"id": "main"}, "secondary": {"email": "lead@example.com"}},
    ]
    assert track.batch(ops) == (200, {})
    people = sb.cio_people()
    assert people == {"main": {"plan": "pro", "email": "lead@example.com", "src": "ad"}}
    assert sb.cio_merges()[0]["primary"] == {"id": "main"}
    assert sb.cio_events()[0]["person_id"] == "main"


def test_v2_delete_page_screen_and_anonymous_events(sb: Sandbox, track: Track) -> None:
    ops = [
        identify("gone"),
        {"type": "person", "identifiers": {"id": "gone"}, "action": "delete"},
        {"type": "person", "identifiers": {"id": "v"}, "action": "page", "name": "https://example.com/pricing"},
        {"type": "person", "identifiers": {"id": "v"}, "action": "screen", "name": "Home"},
        {"type": "person", "anonymous_id": "anon-9", "action": "event", "name": "Visited", "attributes": {"k": 1}},
    ]
    assert track.batch(ops) == (200, {})
    assert "gone" not in sb.cio_people()
    assert [(e["type"], e["name"]) for e in sb.cio_events()] == [
        ("page", "https://example.com/pricing"),
        ("screen", "Home"),
        ("event", "Visited"),
    ]
    assert sb.cio_events()[2]["anonymous_id"] == "anon-9" and sb.cio_events()[2]["data"] == {"k": 1}


def test_v2_event_ids_deduplicate_across_requests(sb: Sandbox, track: Track) -> None:
    op = {"type": "person", "identifiers": {"id": "p"}, "action": "event", "name": "Paid", "id": ULID_A}
    track.batch([op])
    track.batch([op, {**op, "id": ULID_A.lower()}])
    assert len(sb.cio_events()) == 1


def test_v2_relationships_and_event_limits(sb: Sandbox, track: Track) -> None:
    rel = {"identifiers": {"object_type_id": "1", "object_id": "acme"}}
    ops = [
        {"type": "object", "identifiers": rel["identifiers"], "action": "identify", "attributes": {"name": "Acme"}},
        {"type": "person", "identifiers": {"id": "p"}, "action": "add_relationships", "cio_relationships": [rel]},
        {"type": "person", "identifiers": {"id": "p"}, "action": "event", "name": "e" * 101},
        {
            "type": "person",
            "identifiers": {"id": "p"},
            "action": "event",
            "name": "E",
            "attributes": {"b": "x" * 100_001},
        },
        {"type": "object", "identifiers": {"object_type_id": "1"}, "action": "identify"},
    ]
    status, body = track.batch(ops)
    assert status == 207
    # In v2 the 32 KB operation limit is reached long before the 100,000-byte event data limit.
    assert [(e["batch_index"], e["field"]) for e in body["errors"]] == [
        (2, "name"),
        (3, "operation"),
        (4, "identifiers.object_id"),
    ]


# ---------------------------------------------------------------------- App API
def test_app_api_returns_attributes_as_strings_and_404_for_strangers(sb: Sandbox, track: Track) -> None:
    track.batch([identify("u1", email="u1@example.com", mrr=99.5, paid=True, n=3, tags=["a", "b"])])
    status, body = app_call(sb, "GET", "/v1/customers/u1/attributes?id_type=id")
    assert status == 200
    attrs = body["customer"]["attributes"]
    assert attrs["mrr"] == "99.5" and attrs["paid"] == "true" and attrs["n"] == "3" and attrs["tags"] == '["a","b"]'
    assert body["customer"]["identifiers"]["email"] == "u1@example.com"
    assert app_call(sb, "GET", "/v1/customers/u1%40example.com/attributes?id_type=email")[0] == 200
    assert app_call(sb, "GET", "/v1/customers/nobody/attributes")[0] == 404
    status, many = app_call(sb, "POST", "/v1/customers/attributes", {"ids": ["u1", "nobody"]})
    assert status == 200 and [c["id"] for c in many["customers"]] == ["u1"]
    assert app_call(sb, "POST", "/v1/customers/attributes", {"ids": [str(n) for n in range(101)]})[0] == 400


def test_app_api_lists_a_persons_activities(sb: Sandbox, track: Track) -> None:
    track.batch([identify("u1"), {"type": "person", "identifiers": {"id": "u1"}, "action": "event", "name": "Paid"}])
    status, body = app_call(sb, "GET", "/v1/customers/u1/activities")
    assert status == 200 and [a["name"] for a in body["activities"]] == ["Paid"]


# ---------------------------------------------------------------------- rate limit, counters, reset
def test_track_requests_above_the_configured_rate_get_429() -> None:
    sb = Sandbox(users=10, cio_rate_limit=5)
    track = Track(sb)
    statuses = [track.call("PUT", f"/api/v1/customers/p{n}", {})[0] for n in range(12)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    assert sb.cio_request_count()["PUT /api/v1/customers/{id}"] == 12


def test_request_counts_are_kept_per_endpoint_and_reset_clears_the_workspace(sb: Sandbox, track: Track) -> None:
    track.batch([identify("a")])
    track.call("PUT", "/api/v1/customers/b", {})
    track.call("DELETE", "/api/v1/customers/b")
    counts = sb.cio_request_count()
    assert counts["POST /api/v2/batch"] == 1
    assert counts["PUT /api/v1/customers/{id}"] == 1 and counts["DELETE /api/v1/customers/{id}"] == 1
    sb.reset_cio()
    assert sb.cio_people() == {} and sb.cio_deletions() == []


def test_customerio_state_is_summarised(sb: Sandbox, track: Track) -> None:
    track.batch([identify("a"), {"type": "person", "identifiers": {"id": "a"}, "action": "event", "name": "E"}])
    state = sb.state()
    assert state["people"] == 1 and state["events"] == 1 and state["requests"]["cio_track"] == 1


def test_size_limits_are_read_as_decimal_kilobytes(sb: Sandbox, track: Track) -> None:
    def op_of_size(total: int) -> dict[str, Any]:
        attrs = {f"a{n:02d}": "v" * 990 for n in range(31)}
        attrs["pad"] = ""
        size = len(json.dumps(identify("edge", **attrs), separators=(",", ":")).encode())
        attrs["pad"] = "p" * (total - size)
        return identify("edge", **attrs)

    exact = op_of_size(32_000)
    assert len(json.dumps(exact, separators=(",", ":")).encode()) == 32_000
    assert track.batch([exact]) == (200, {})
    assert track.batch([op_of_size(32_001)])[1]["errors"][0]["field"] == "operation"


def test_request_of_exactly_500000_bytes_is_accepted_and_one_more_is_not(track: Track) -> None:
    body = json.dumps({"batch": [identify("p")]}).encode()
    exact = body + b" " * (500_000 - len(body))
    assert track.call("POST", "/api/v2/batch", raw=exact)[0] == 200
    assert track.call("POST", "/api/v2/batch", raw=exact + b" ")[0] == 400
