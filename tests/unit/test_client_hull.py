"""HullClient: requests sent (headers, search bodies, keyset filters), answers parsed, errors mapped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
import requests
import responses

from cio_desktop.hull.api_source import HullApiSource
from cio_desktop.hull.client import HullClient
from cio_desktop.hull.errors import (
    AuthenticationError,
    NotFoundError,
    OrganizationDisabledError,
    RejectedError,
    ServerError,
    ServiceError,
)
from cio_desktop.hull.firehose import FirehoseItem
from cio_desktop.hull.jwt import encode_hs256
from cio_desktop.hull.source import (
    Attribute,
    EventName,
    HullEvent,
    ReadReport,
    Segment,
    SourceError,
    Stream,
    UserSource,
)
from cio_desktop.net.retry import RetryPolicy

ORG = "acme.hullapp.io"
APP_ID = "5a1b2c3d4e5f60718293a4b5"
SECRET = "hull-connector-secret-of-32-bytes+"
API = f"https://{ORG}/api/v1"
FIREHOSE = "https://firehose.hullapp.io"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def hull(sleeps: list[float]) -> HullClient:
    return HullClient(ORG, APP_ID, SECRET, retry=RetryPolicy(sleep=sleeps.append), clock=lambda: 1_700_000_000.5)


def body_of(rsps: responses.RequestsMock, i: int) -> Any:
    return json.loads(rsps.calls[i].request.body)


def uid(n: int) -> str:
    return f"{n:024x}"


# ---------------------------------------------------------------- check + errors
def test_check_sends_the_three_hull_headers(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.get(f"{API}/app", json={"id": APP_ID, "name": "Customer.io", "type": "ship"})
    assert hull.check()["name"] == "Customer.io"
    headers = rsps.calls[0].request.headers
    assert headers["Hull-App-Id"] == APP_ID
    assert headers["Hull-Access-Token"] == SECRET
    assert headers["Hull-Organization"] == ORG
    assert headers["User-Agent"].startswith("cio-desktop/")


@pytest.mark.parametrize(
    "status,error,words",
    [
        (401, AuthenticationError, "Connector ID and Secret"),
        (404, NotFoundError, f"has no connector {APP_ID}"),
        (402, OrganizationDisabledError, f"{ORG} is disabled"),
        (400, RejectedError, "rejected the request"),
        (501, ServerError, "501"),
    ],
)
def test_check_errors_say_what_to_fix_without_the_secret(
    rsps: responses.RequestsMock, hull: HullClient, sleeps: list[float], status: int, error: type, words: str
) -> None:
    rsps.get(f"{API}/app", status=status, json={"message": "nope"})
    with pytest.raises(error) as info:
        hull.check()
    assert words in str(info.value)
    assert "nope" in str(info.value)
    assert SECRET not in str(info.value)
    assert info.value.status == status
    assert sleeps == []


def test_base_url_override_is_used(rsps: responses.RequestsMock) -> None:
    client = HullClient(ORG, APP_ID, SECRET, base_url="http://127.0.0.1:9/hull/api/v1/")
    rsps.get("http://127.0.0.1:9/hull/api/v1/app", json={"id": APP_ID})
    assert client.check() == {"id": APP_ID}


def test_server_errors_and_drops_are_retried(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.get(f"{API}/app", status=503)
    rsps.get(f"{API}/app", body=requests.ConnectionError("dropped"))
    rsps.get(f"{API}/app", json={"id": APP_ID})
    assert hull.check() == {"id": APP_ID}
    assert len(rsps.calls) == 3


# ---------------------------------------------------------------- metadata
def test_segments_with_member_counts_over_pages(rsps: responses.RequestsMock, hull: HullClient) -> None:
    first = [{"id": f"s{i}", "name": f"Seg {i}", "stats": {"users": i}} for i in range(500)]
    rsps.get(f"{API}/users_segments", json=first)
    rsps.get(f"{API}/users_segments", json=[{"id": "last", "name": "Last"}])
    segments = hull.segments()
    assert len(segments) == 501
    assert segments[3] == Segment("s3", "Seg 3", 3)
    assert segments[-1] == Segment("last", "Last", None)
    assert "per_page=500&page=1" in rsps.calls[0].request.url
    assert "page=2" in rsps.calls[1].request.url


def test_attributes_merge_schema_and_bootstrap_tree(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.get(
        f"{API}/users/schema",
        json=[
            {"key": "email", "type": "string"},
            {"key": "traits_plan/since", "type": "date"},
            {"key": "Signed Up", "type": "event"},
        ],
    )
    rsps.get(
        f"{API}/search/user_reports/bootstrap",
        json={
            "tree": [
                {
                    "text": "Traits",
                    "children": [
                        {"id": "traits_clearbit/given_name", "text": "Given Name", "type": "string"},
                        {"text": "Nested", "children": [{"id": "traits_score", "text": "Score", "type": "number"}]},
                        {"id": "traits_plan/since", "text": "Since", "type": "string"},
                    ],
                }
            ]
        },
    )
    assert hull.attributes() == [
        Attribute("email", "string"),
        Attribute("traits_clearbit/given_name", "string"),
        Attribute("traits_plan/since", "date"),  # the schema's type wins
        Attribute("traits_score", "number"),
    ]


def test_event_names_with_counts(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.get(
        f"{API}/search/event/bootstrap",
        json=[{"name": "Signed Up", "properties": [], "emitted": 12}, {"name": "Viewed"}],
    )
    assert hull.event_names() == [EventName("Signed Up", 12), EventName("Viewed", None)]


# ---------------------------------------------------------------- users
def users_page(ids: list[int], pages: int) -> dict[str, Any]:
    return {
        "data": [{"id": uid(n), "email": f"u{n}@x.io", "segment_ids": ["s1"]} for n in ids],
        "pagination": {"total": 999, "page": 1, "pages": pages, "per_page": 3},
    }


def test_iter_users_pages_by_id_always_on_page_one(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/user_reports", json=users_page([1, 2, 3], pages=3))
    rsps.post(f"{API}/search/user_reports", json=users_page([4, 5, 6], pages=2))
    rsps.post(f"{API}/search/user_reports", json=users_page([7], pages=1))
    users = list(hull.iter_users(["s1", "s2"], page_size=3))
    assert [u["id"] for u in users] == [uid(n) for n in range(1, 8)]
    first, second, third = (body_of(rsps, i) for i in range(3))
    assert first == {
        "query": {"bool": {"filter": [{"terms": {"segment_ids": ["s1", "s2"]}}]}},
        "raw": True,
        "page": 1,
        "per_page": 3,
        "sort": {"id": "asc"},
    }
    assert second["page"] == 1 and third["page"] == 1
    assert second["query"]["bool"]["filter"][-1] == {"range": {"id": {"gt": uid(3)}}}
    assert third["query"]["bool"]["filter"][-1] == {"range": {"id": {"gt": uid(6)}}}


def test_iter_users_all_users_updated_since_with_fields(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/user_reports", json=users_page([1], pages=1))
    since = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC).timestamp()
    list(hull.iter_users(None, updated_since=since, fields=["email", "traits_a"]))
    body = body_of(rsps, 0)
    assert body["query"] == {"bool": {"filter": [{"range": {"updated_at": {"gt": "2024-05-01T12:00:00.250Z"}}}]}}
    assert body["include"] == ["email", "id", "segment_ids", "traits_a"]
    assert body["per_page"] == 500


def test_iter_users_every_user_without_filters_uses_match_all(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/user_reports", json={"data": [], "pagination": {"total": 0, "pages": 0}})
    assert list(hull.iter_users(None)) == []
    assert body_of(rsps, 0)["query"] == {"match_all": {}}


def test_iter_users_with_no_segments_asks_nothing(rsps: responses.RequestsMock, hull: HullClient) -> None:
    assert list(hull.iter_users([])) == []
    assert hull.count_users([]) == 0
    assert len(rsps.calls) == 0


def test_iter_users_without_pagination_stops_on_a_short_page(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/user_reports", json={"data": [{"id": uid(n)} for n in (1, 2)]})
    rsps.post(f"{API}/search/user_reports", json={"data": [{"id": uid(3)}]})
    assert len(list(hull.iter_users(["s"], page_size=2))) == 3
    assert len(rsps.calls) == 2


def test_iter_users_refuses_ids_out_of_order(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/user_reports", json={"data": [{"id": uid(5)}, {"id": uid(2)}], "pagination": {"pages": 1}})
    with pytest.raises(ServiceError, match="out of id order"):
        list(hull.iter_users(["s"]))


def test_count_users_reads_the_total(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/user_reports", json={"data": [{"id": uid(1)}], "pagination": {"total": 12345}})
    assert hull.count_users(["s1"]) == 12345
    assert body_of(rsps, 0)["per_page"] == 1


def test_search_window_error_is_rejected_not_retried(
    rsps: responses.RequestsMock, hull: HullClient, sleeps: list[float]
) -> None:
    msg = "Result window is too large, from + size must be less than or equal to: [10000]"
    rsps.post(f"{API}/search/user_reports", status=400, json={"message": msg})
    with pytest.raises(RejectedError) as info:
        list(hull.iter_users(["s"]))
    assert info.value.messages == (msg,)
    assert sleeps == []


# ---------------------------------------------------------------- events
def event(n: int, created: str, etype: str = "track", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"ev{n:03d}",
        "event": "Signed Up",
        "created_at": created,
        "event_type": etype,
        "properties": {"n": n},
        "user_id": uid(n),
        "anonymous_id": None,
        "context": {},
        **extra,
    }


def test_iter_events_filters_and_pages_on_created_at_then_id(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(
        f"{API}/search/events",
        json={"data": [event(1, "2024-01-01T00:00:00Z"), event(2, "2024-01-01T00:00:01Z")], "pagination": {"pages": 2}},
    )
    rsps.post(
        f"{API}/search/events",
        json={"data": [event(3, "2024-01-01T00:00:01Z", "page", anonymous_id="a1")], "pagination": {"pages": 1}},
    )
    events = list(hull.iter_events(["Signed Up", "Viewed"], since=1704067200.0, user_ids=[uid(1)], page_size=2))
    assert [e.event_id for e in events] == ["ev001", "ev002", "ev003"]
    assert events[2] == HullEvent(
        event_id="ev003",
        name="Signed Up",
        created_at=1704067201.0,
        user_id=uid(3),
        anonymous_id="a1",
        event_type="page",
        properties={"n": 3},
    )
    first, second = body_of(rsps, 0), body_of(rsps, 1)
    assert first["sort"] == [{"created_at": "asc"}, {"id": "asc"}]
    assert first["query"]["bool"]["filter"] == [
        {"terms": {"event": ["Signed Up", "Viewed"]}},
        {"range": {"created_at": {"gt": "2024-01-01T00:00:00.000Z"}}},
        {"terms": {"user_id": [uid(1)]}},
    ]
    assert second["page"] == 1
    assert second["query"]["bool"]["filter"][-2] == {"range": {"created_at": {"gte": "2024-01-01T00:00:01Z"}}}
    assert second["query"]["bool"]["filter"][-1] == {
        "bool": {
            "should": [
                {"range": {"created_at": {"gt": "2024-01-01T00:00:01Z"}}},
                {
                    "bool": {
                        "filter": [{"term": {"created_at": "2024-01-01T00:00:01Z"}}, {"range": {"id": {"gt": "ev002"}}}]
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def test_unknown_event_type_becomes_track(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/events", json={"data": [event(1, "2024-01-01 00:00:00 UTC", "weird")]})
    (only,) = hull.iter_events(["Signed Up"])
    assert only.event_type == "track" and only.created_at == 1704067200.0


def test_no_event_names_asks_nothing(rsps: responses.RequestsMock, hull: HullClient) -> None:
    assert list(hull.iter_events([])) == []
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "created",
    [
        "2018-03-30T14:38:02Z",
        "2018-03-30 14:38:02 GMT",
        "Fri, 30 Mar 2018 14:38:02 GMT",
        1522420682000000,
        "1522420682",
    ],
)
def test_event_dates_are_read_in_every_form_hull_writes(
    rsps: responses.RequestsMock, hull: HullClient, created: Any
) -> None:
    rsps.post(f"{API}/search/events", json={"data": [event(1, created)]})
    (only,) = hull.iter_events(["Signed Up"])
    assert only.created_at == 1522420682.0


def test_an_event_whose_date_is_not_a_date_is_a_service_error(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{API}/search/events", json={"data": [event(1, "soon")]})
    with pytest.raises(ServiceError, match="without id, name or date"):
        list(hull.iter_events(["Signed Up"]))


# ---------------------------------------------------------------- firehose
def test_jwt_is_a_valid_hs256_token() -> None:
    token = encode_hs256({"iss": APP_ID, "iat": 1, "io.hull.asUser": {"email": "é@x.io"}}, SECRET)
    assert pyjwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iat": False}) == {
        "iss": APP_ID,
        "iat": 1,
        "io.hull.asUser": {"email": "é@x.io"},
    }
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, "another-secret-that-is-32-bytes!", algorithms=["HS256"])


def test_send_firehose_posts_a_batch_with_a_jwt_per_item(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{FIREHOSE}/", json={})
    hull.send_firehose(
        [
            FirehoseItem(
                "traits",
                {"customerio/synced_at": "2024-01-01T00:00:00Z", "customerio/deleted_at": None},
                {"external_id": "42"},
            ),
            FirehoseItem("track", {"event": "Email Opened", "event_id": "e1"}, {"id": uid(1)}, timestamp=1700000000.0),
        ]
    )
    req = rsps.calls[0].request
    assert req.headers["Hull-App-Id"] == APP_ID and req.headers["Hull-Organization"] == ORG
    assert "Hull-Access-Token" not in req.headers  # the firehose trusts the per-item JWT only
    body = json.loads(req.body)
    assert body["timestamp"] == body["sentAt"] == "2023-11-14T22:13:20.500Z"
    first, second = body["batch"]
    assert first["type"] == "traits"
    assert first["body"] == {"customerio/synced_at": "2024-01-01T00:00:00Z", "customerio/deleted_at": None}
    assert first["timestamp"] == "2023-11-14T22:13:20.500Z"
    assert second["timestamp"] == "2023-11-14T22:13:20.000Z"
    claims = pyjwt.decode(first["headers"]["Hull-Access-Token"], SECRET, algorithms=["HS256"])
    assert claims == {
        "iss": APP_ID,
        "iat": 1700000000,
        "io.hull.subjectType": "user",
        "io.hull.asUser": {"external_id": "42"},
    }
    claims2 = pyjwt.decode(second["headers"]["Hull-Access-Token"], SECRET, algorithms=["HS256"])
    assert claims2["io.hull.asUser"] == {"id": uid(1)}


def test_send_firehose_errors_are_typed(rsps: responses.RequestsMock, hull: HullClient) -> None:
    rsps.post(f"{FIREHOSE}/", status=401, json={"message": "Invalid token"})
    with pytest.raises(AuthenticationError, match="Invalid token"):
        hull.send_firehose([FirehoseItem("traits", {"a": 1}, {"id": uid(1)})])


def test_send_firehose_refuses_more_than_50(hull: HullClient) -> None:
    with pytest.raises(ValueError):
        hull.send_firehose([FirehoseItem("traits", {}, {"id": uid(i)}) for i in range(51)])


# ---------------------------------------------------------------- UserSource
def test_api_source_is_a_user_source_and_wraps_errors(rsps: responses.RequestsMock, hull: HullClient) -> None:
    source = HullApiSource(hull)
    assert isinstance(source, UserSource)
    assert source.describe() == f"Hull organization {ORG}"
    assert source.read_report(Stream.USERS).clean and source.read_report(Stream.EVENTS) == ReadReport()
    rsps.get(f"{API}/app", json={"id": APP_ID, "name": "CIO"})
    assert "as connector 'CIO'" in source.check()
    rsps.post(f"{API}/search/user_reports", status=401, json={"message": "bad token"})
    with pytest.raises(SourceError, match="bad token") as info:
        list(source.iter_users(["s"]))
    assert isinstance(info.value.__cause__, AuthenticationError)
