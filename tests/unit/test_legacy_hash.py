"""The hosted connector's customerio/hash: object-hash recomputed, and recognised by the planner."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.profile import AttributeMapping, Profile, SegmentRef
from cio_desktop.sync.legacy_hash import (
    connector_customers,
    connector_hashes,
    is_connector_hash,
    js_number,
    matches_connector_hash,
    object_hash,
)
from cio_desktop.sync.model import Action, KnownPerson, MappingContext, Reason
from cio_desktop.sync.planner import plan_user

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "connector"
CASES = {c["name"]: c["value"] for c in json.loads((FIXTURES / "object_hash_cases.json").read_text("utf-8"))}
REFERENCE: dict[str, str] = json.loads((FIXTURES / "object_hash_reference.json").read_text("utf-8"))["hashes"]
MESSAGE = json.loads((FIXTURES / "user_update_message.json").read_text("utf-8"))

# The hosted connector's settings behind the "connector_customer" case: customerId = email.
MAPPED = (
    "traits_coconut",
    "traits_intercom/session_count",
    "traits_intercom/signed_up_at",
    "traits_intercom/companies",
    "traits_intercom/tags",
    "traits_sendgrid_test/mrr",
    "traits_sendgrid_test/demo_requested",
    "first_seen_at",
)
NOW = 1_700_000_000.0


def connector_name(trait: str) -> str:
    """The hosted connector's Customer.io name for a Hull attribute (traits_ dropped, / to -)."""
    return trait.removeprefix("traits_").replace("/", "-")


def ctx(**settings: Any) -> MappingContext:
    segments = tuple(SegmentRef(s["id"], s["name"]) for s in MESSAGE["segments"])
    values: dict[str, Any] = {
        "segments": segments[:1],
        "customer_id_attribute": "email",
        "mappings": tuple(AttributeMapping(t, connector_name(t)) for t in MAPPED),
        "write_back": True,
    }
    values.update(settings)
    return MappingContext(Profile(name="moved", **values), {s.id: s.name for s in segments}, {})


def synced_by_connector(**changes: Any) -> dict[str, Any]:
    """The reference user as the hosted connector left them: its traits written back."""
    user = copy.deepcopy(MESSAGE["user"])
    user.update(
        {
            "traits_customerio/id": user["email"],
            "traits_customerio/created_at": "2018-03-13T15:21:17Z",
            "traits_customerio/synced_at": "2018-03-30T14:41:50Z",
            "traits_customerio/hash": REFERENCE["connector_customer"],
        }
    )
    user.update(changes)
    return user


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_object_hash_matches_the_npm_package(name: str) -> None:
    assert object_hash(CASES[name]) == REFERENCE[name]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (8543.1, "8543.1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (2**53 + 1, "9007199254740992"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(value: float, text: str) -> None:
    assert js_number(value) == text


def test_the_connectors_customer_is_rebuilt_from_the_profile() -> None:
    assert connector_customers(synced_by_connector(), ctx())[0] == CASES["connector_customer"]


def test_only_sha1_hex_is_taken_for_the_connectors_hash() -> None:
    assert is_connector_hash(REFERENCE["connector_customer"])
    assert not is_connector_hash("0123456789abcdef")  # this tool's own hash
    assert not is_connector_hash(None) and not is_connector_hash(REFERENCE["connector_customer"].upper())


def test_a_person_unchanged_since_the_hosted_connector_is_not_resent() -> None:
    decision = plan_user(synced_by_connector(), ctx(), None, now=NOW)
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.UNCHANGED)


def test_recognition_does_not_depend_on_write_back() -> None:
    decision = plan_user(synced_by_connector(), ctx(write_back=False), None, now=NOW)
    assert decision.reason is Reason.UNCHANGED


def test_segments_in_another_order_still_match() -> None:
    user = synced_by_connector(segment_ids=list(reversed(MESSAGE["user"]["segment_ids"])))
    user["traits_customerio/hash"] = object_hash(
        {**CASES["connector_customer"], "hull_segments": sorted(CASES["connector_customer"]["hull_segments"])}
    )
    assert plan_user(user, ctx(), None, now=NOW).reason is Reason.UNCHANGED


@pytest.mark.parametrize(
    "changes",
    [
        {"traits_intercom/session_count": 20},
        {"traits_sendgrid_test/mrr": None},
        {"first_seen_at": "2018-03-31T00:00:00Z"},
        {"traits_customerio/hash": "f" * 40},
        {"traits_customerio/hash": None},
    ],
)
def test_a_person_who_changed_since_is_sent(changes: dict[str, Any]) -> None:
    decision = plan_user(synced_by_connector(**changes), ctx(), None, now=NOW)
    assert (decision.action, decision.reason) == (Action.IDENTIFY, Reason.CHANGED)


def test_another_setting_than_the_connectors_sends_them_once_more() -> None:
    more = ctx(mappings=(AttributeMapping("name", "name"),))
    assert plan_user(synced_by_connector(), more, None, now=NOW).reason is Reason.CHANGED


def test_the_connectors_hash_never_overrides_what_the_ledger_knows() -> None:
    # This laptop sent them since: its own record decides, not the connector's old hash.
    known = KnownPerson(
        customer_id="ada.example@example.com",
        hull_id=MESSAGE["user"]["id"],
        payload_hash="0" * 16,
        created_at=NOW - 10,
        deleted_at=None,
    )
    decision = plan_user(synced_by_connector(), ctx(), known, now=NOW)
    assert decision.reason is Reason.CHANGED


def test_a_person_the_connector_deleted_is_created_again() -> None:
    user = synced_by_connector(**{"traits_customerio/deleted_at": "2018-04-01T00:00:00Z"})
    assert plan_user(user, ctx(), None, now=NOW).reason is Reason.NEW


def test_values_that_are_not_json_never_match() -> None:
    assert not matches_connector_hash(
        synced_by_connector(traits_coconut=object()), ctx(), REFERENCE["connector_customer"]
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"segment_ids": list(reversed([s["id"] for s in MESSAGE["segments"]]))},  # two orders: two hashes
        {"traits_coconut": "Zoë 张 🥥", "traits_intercom/tags": ["a", "ß", 1.5, None, True]},
        {"traits_intercom/companies": {"b": 1, "é": [2**60, -0.0, 1e21]}, "traits_sendgrid_test/mrr": None},
        {"traits_intercom/signed_up_at": 1520953277000, "first_seen_at": "not a date", "email": None},
        {"traits_coconut": "\ud800 lone surrogate"},
    ],
)
def test_the_fast_hashes_are_object_hash_of_each_customer(changes: dict[str, Any]) -> None:
    user = synced_by_connector(**changes)
    for context in (
        ctx(),
        ctx(customer_id_attribute="external_id"),
        # A mapped name that is not ASCII, or that is hull_segments itself: the general way.
        ctx(mappings=(AttributeMapping("traits_coconut", "kokosnuß"),)),
        ctx(mappings=(AttributeMapping("traits_coconut", "hull_segments"),)),
    ):
        expected = [object_hash(c) for c in connector_customers(user, context)]
        assert connector_hashes(user, context) == expected
