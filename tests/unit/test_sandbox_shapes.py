"""The sandbox's users and events have the shape of real Hull data, pinned against a reference
user:update message (tests/fixtures/connector/user_update_message.json: the hosted connector's public
smart-notifier fixture's keys, types and nesting, with invented values)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.events import public_event
from cio_desktop.sandbox.pools import CONNECTOR_SEGMENTS
from cio_desktop.sync.legacy_hash import is_connector_hash

REFERENCE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "connector" / "user_update_message.json").read_text("utf-8")
)
REF_USER: dict[str, Any] = REFERENCE["user"]
REF_PAGE: dict[str, Any] = REFERENCE["events"][0]
# What the search API answers differs from a notification only in naming the event id "id".
NOTIFICATION_ONLY = {"event_id", "track_id", "ship_id"}


def json_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__.replace("int", "number").replace("float", "number")


def shape(value: Any) -> Any:
    """Keys and value types, nested: what two payloads must share to look alike."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list"]
    return json_type(value)


@pytest.fixture(scope="module")
def org() -> FakeOrg:
    return FakeOrg(3000, seed=5)


@pytest.fixture(scope="module")
def events(org: FakeOrg) -> list[dict[str, Any]]:
    return [public_event(e) for e in org.events()]


def test_a_page_view_is_the_track_event_named_page_shaped_like_hulls(events: list[dict[str, Any]]) -> None:
    pages = [e for e in events if e["event"] == "page"]
    assert len(pages) > 100
    for e in pages[:200]:
        assert e["event_type"] == REF_PAGE["event_type"] == "track"
        assert set(e["properties"]) == set(REF_PAGE["properties"])
        assert shape(e["context"]) == shape(REF_PAGE["context"])
        assert e["context"]["page"]["url"] == e["properties"]["url"]
        assert e["properties"]["url"].endswith(e["properties"]["path"])
        assert e["context"]["referrer"]["url"] == e["properties"]["referrer_url"]


def test_every_event_carries_hulls_event_fields(events: list[dict[str, Any]]) -> None:
    wanted = {k: json_type(v) for k, v in REF_PAGE.items() if k not in NOTIFICATION_ONLY and k != "anonymous_id"}
    for e in events[:: max(1, len(events) // 300)]:
        assert {k: json_type(e.get(k)) for k in wanted if k != "user_id" or e["user_id"]} == {
            k: t for k, t in wanted.items() if k != "user_id" or e["user_id"]
        }
        assert isinstance(e["id"], str) and e["event_source"] and e["session_id"]
        context = {k: v for k, v in e["context"].items() if k != "page"}
        assert shape(context) == shape({k: v for k, v in REF_PAGE["context"].items() if k != "page"})


def test_a_screen_view_is_the_track_event_named_screen(events: list[dict[str, Any]]) -> None:
    screens = [e for e in events if e["event"] == "screen"]
    assert screens and all(e["event_type"] == "track" and e["properties"]["name"] for e in screens)


def test_users_share_the_types_of_the_reference_users_attributes(org: FakeOrg) -> None:
    shared = ("id", "email", "external_id", "name", "first_name", "last_name", "created_at", "segment_ids",
              "anonymous_ids", "traits_intercom/id", "traits_intercom/session_count", "traits_intercom/tags",
              "traits_intercom/unsubscribed_from_emails")  # fmt: skip
    for i in range(0, 3000, 37):
        user = org.doc(i)
        for key in shared:
            if key in user:
                assert shape(user[key]) == shape(REF_USER[key]), key
        assert all(isinstance(a, str) and a for a in user["anonymous_ids"])
        if "account" in user:
            assert set(REFERENCE["account"]) <= set(user["account"])


def test_anonymous_ids_hold_tool_prefixed_ids_as_well(org: FakeOrg) -> None:
    prefixed = [a for i in range(300) for a in org.doc(i)["anonymous_ids"] if a.startswith("intercom:")]
    assert len(prefixed) > 50 and all(re.fullmatch(r"intercom:[0-9a-f]{12}", a) for a in prefixed)
    assert any(a.startswith("intercom:") for a in REF_USER["anonymous_ids"])


def test_part_of_the_organization_carries_the_hosted_connectors_traits(org: FakeOrg) -> None:
    names = dict(org.segments)
    whitelist = {sid for sid, name in names.items() if name in CONNECTOR_SEGMENTS}
    eligible = synced = deleted = 0
    for i in range(3000):
        user = org.doc(i)
        traits = {k: v for k, v in user.items() if k.startswith("traits_customerio/")}
        if "email" in user and "external_id" in user:
            eligible += 1
        if not traits:
            continue
        assert "email" in user and "external_id" in user, "the connector synced only people it could address"
        if whitelist.isdisjoint(user["segment_ids"]):
            assert set(traits) == {"traits_customerio/deleted_at"}, "deleted when they left its segments"
            deleted += 1
            continue
        synced += 1
        assert set(traits) == {
            "traits_customerio/id",
            "traits_customerio/created_at",
            "traits_customerio/hash",
            "traits_customerio/synced_at",
        }
        assert traits["traits_customerio/id"] == user["external_id"]
        assert traits["traits_customerio/created_at"] == user["created_at"]
        assert is_connector_hash(traits["traits_customerio/hash"])
    assert 0.25 < (synced + deleted) / eligible < 0.42 and synced > 100 and deleted > 20


def test_the_schema_lists_the_connectors_traits(org: FakeOrg) -> None:
    keys = {item["key"]: item["type"] for item in org.schema()}
    assert keys["traits_customerio/created_at"] == "date" and keys["traits_customerio/hash"] == "string"
