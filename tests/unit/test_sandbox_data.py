"""The sandbox's fake organization: deterministic, realistic, consistent, cheap to generate."""

from __future__ import annotations

import json
import re

from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.dates import parse_date
from cio_desktop.sandbox.pools import LONG_NAME_KEY, LONG_VALUE_KEY


def test_same_seed_gives_the_same_organization_and_another_seed_a_different_one() -> None:
    a, b, c = FakeOrg(300, seed=5), FakeOrg(300, seed=5), FakeOrg(300, seed=6)
    assert [a.doc(i) for i in range(300)] == [b.doc(i) for i in range(300)]
    assert a.segments == b.segments and a.connector_id == b.connector_id
    assert [e["id"] for e in a.events()] == [e["id"] for e in b.events()]
    assert a.doc(0) != c.doc(0)


def test_user_ids_are_24_lowercase_hex_and_increase_with_the_index() -> None:
    org = FakeOrg(5000, seed=2)
    ids = [org.id_of(i) for i in range(org.size)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", x) for x in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert org.index_of_id(ids[1234]) == 1234
    assert org.index_of_id("0" * 24) is None


def test_generated_json_is_exactly_the_document() -> None:
    org = FakeOrg(3000, seed=9)
    for i in range(0, 3000, 3):
        text = org.user_json(i)
        assert json.loads(text) == org.doc(i)
        assert json.dumps(json.loads(text), separators=(",", ":")) == text


def test_users_look_like_hull_users_with_the_awkward_cases_included() -> None:
    org = FakeOrg(6000, seed=1)
    docs = [org.doc(i) for i in range(org.size)]
    no_email = sum(1 for d in docs if "email" not in d) / len(docs)
    no_external = sum(1 for d in docs if "external_id" not in d) / len(docs)
    assert 0.015 < no_email < 0.05
    assert 0.03 < no_external < 0.08
    assert any(not d["name"].isascii() for d in docs)
    assert any(d.get("account") for d in docs) and any("account" not in d for d in docs)
    assert all(d["anonymous_ids"] and d["segment_ids"] for d in docs)
    sample = docs[0]
    assert sample["created_at"].endswith("Z")
    assert sample["traits_intercom/last_request_at"].endswith("+00:00")
    assert sample["traits_last_login_date"].endswith(" UTC")
    assert all(parse_date(sample[k]) for k in ("created_at", "traits_clearbit/fetched_at", "traits_last_login_date"))
    assert isinstance(sample["traits_mrr"], int) and isinstance(sample["traits_newsletter"], bool)
    assert isinstance(sample["traits_intercom/tags"], list)
    long_values = [d for d in docs if LONG_VALUE_KEY in d]
    assert long_values and len(long_values[0][LONG_VALUE_KEY].encode()) > 1000
    assert any(LONG_NAME_KEY in d for d in docs) and len(LONG_NAME_KEY.removeprefix("traits_").encode()) > 150


def test_segments_have_different_sizes_and_one_exceeds_the_search_window() -> None:
    org = FakeOrg(12_000, seed=1)
    counts = org.segment_counts()
    assert len(org.segments) >= 6
    assert len(set(counts)) == len(counts)
    assert max(counts) > 10_000
    bit = org.segment_bit(org.segments[2][0])
    assert bit is not None
    members = [i for i in range(org.size) if org.segments[2][0] in org.segment_ids_of(i)]
    assert len(members) == counts[2]


def test_paying_segment_matches_the_plan_trait() -> None:
    org = FakeOrg(2000, seed=3)
    paying = dict((name, sid) for sid, name in org.segments)["Paying Customers"]
    for i in range(org.size):
        d = org.doc(i)
        assert (paying in d["segment_ids"]) == (d["traits_plan"] != "free")


def test_schema_lists_every_attribute_the_users_carry() -> None:
    org = FakeOrg(2000, seed=4)
    keys = {item["key"] for item in org.schema()}
    types = {item["type"] for item in org.schema()}
    for i in range(0, 2000, 7):
        d = org.doc(i)
        for k, v in d.items():
            if k == "account":
                assert {f"account.{a}" for a in v} <= keys
            else:
                assert k in keys
    assert {"string", "date", "number", "boolean", "json"} <= types
    tree_ids = {c["id"] for group in org.bootstrap_tree() for c in group["children"]}
    assert tree_ids == keys


def test_events_cover_ten_names_pages_and_anonymous_visitors_in_time_order() -> None:
    org = FakeOrg(1000, seed=1)
    events = org.events()
    names = {e["event"] for e in events}
    assert len(names) >= 10 and {"page", "screen"} <= names
    assert all(e["event_type"] == "track" for e in events), "Hull stores page and screen views as track events"
    anonymous = [e for e in events if e["user_id"] is None]
    assert anonymous and all(e["anonymous_id"] for e in anonymous)
    keys = [(e["_t"], e["id"]) for e in events]
    assert keys == sorted(keys)
    known = {org.id_of(i) for i in range(org.size)}
    assert all(e["user_id"] in known for e in events if e["user_id"] is not None)
    stats = {s["name"]: s["emitted"] for s in org.event_stats()}
    assert sum(stats.values()) == len(events)


def test_a_million_users_cost_no_per_user_work_up_front() -> None:
    org = FakeOrg(1_000_000, seed=1)
    last = org.doc(999_999)
    assert org.index_of_id(last["id"]) == 999_999
    assert org.segment_counts()[0] == 1_000_000


def test_updating_a_user_bumps_updated_at_and_keeps_the_change() -> None:
    org = FakeOrg(100, seed=1)
    before = org.doc(10)
    org.update(10, {"traits_plan": "enterprise", "traits_seats": None})
    after = org.doc(10)
    assert after["traits_plan"] == "enterprise" and "traits_seats" not in after
    assert parse_date(after["updated_at"]) > parse_date(before["updated_at"])  # type: ignore[operator]
    assert json.loads(org.user_json(10)) == after
    org.update(10, {"traits_plan": "pro"})
    assert parse_date(org.doc(10)["updated_at"]) > parse_date(after["updated_at"])  # type: ignore[operator]


def test_changing_segments_changes_membership_everywhere() -> None:
    org = FakeOrg(100, seed=1)
    vip = org.segments[-1][0]
    org.set_segments(3, [vip])
    assert org.doc(3)["segment_ids"] == [vip]
    assert org.doc(3)["id"] in {d["id"] for d in org.iter_segment(vip)}


def test_users_are_found_by_each_identifier_hull_accepts() -> None:
    org = FakeOrg(500, seed=8)
    i = next(i for i in range(500) if "email" in org.doc(i) and "external_id" in org.doc(i))
    d = org.doc(i)
    assert org.find("id", d["id"]) == i
    assert org.find("email", d["email"]) == i
    assert org.find("external_id", d["external_id"]) == i
    assert org.find("anonymous_id", d["anonymous_ids"][0]) == i
    assert org.find("email", "nobody@example.com") is None
    org.update(i, {"email": "changed@example.com"})
    assert org.find("email", "changed@example.com") == i


def test_a_write_back_changes_only_the_written_traits_and_updated_at() -> None:
    org = FakeOrg(50, seed=7)
    before = org.doc(4)
    org.update(4, {"traits_customerio/synced_at": "2026-11-27T00:00:00Z"})
    after = org.doc(4)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {"updated_at", "traits_customerio/synced_at"}
