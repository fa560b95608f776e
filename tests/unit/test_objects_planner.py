"""Accounts -> Customer.io objects (pure): where the account is, its object id, the object's
attributes and limits, the relationship operations, and the profile's object settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cio_desktop.config.profile import AttributeMapping, ObjectSettings, Profile, ProfileError
from cio_desktop.sync.objects import (
    RelationshipChange,
    account_of,
    map_object,
    object_delete_operation,
    object_id_of,
    relationship_operation,
)

SETTINGS = ObjectSettings(
    enabled=True,
    mappings=(
        AttributeMapping("account.name", "name"),
        AttributeMapping("account.plan", "plan"),
        AttributeMapping("account.signed_up_at", "signed_up_at"),
        AttributeMapping("account.tags", "tags"),
    ),
)


def test_the_account_is_the_nested_object_or_the_flat_account_keys_of_a_csv_row() -> None:
    assert account_of({"account": {"domain": "acme.com"}}) == {"domain": "acme.com"}
    assert account_of({"account.domain": "acme.com", "account.name": "Acme", "email": "x"}) == {
        "domain": "acme.com",
        "name": "Acme",
    }
    assert account_of({"account": {}}) is None and account_of({"email": "x"}) is None


@pytest.mark.parametrize(
    ("identifier", "account", "expected"),
    [
        ("account.domain", {"domain": "  acme.com "}, "acme.com"),
        ("account.external_id", {"external_id": 42}, "42"),
        ("account.external_id", {"external_id": 42.0}, "42"),
        ("account.id", {"id": "5f1"}, "5f1"),
        ("account.domain", {"domain": ""}, None),
        ("account.domain", {"domain": True}, None),
        ("account.domain", {"domain": ["a"]}, None),
        ("account.domain", {"name": "no domain"}, None),
    ],
)
def test_object_ids_come_from_the_chosen_account_attribute(
    identifier: str, account: dict[str, Any], expected: str | None
) -> None:
    assert object_id_of(account, ObjectSettings(identifier=identifier)) == expected


def test_an_object_carries_the_mapped_attributes_with_dates_as_unix_seconds() -> None:
    account = {"name": "Acme", "plan": None, "signed_up_at": "2021-03-04T05:06:07Z", "tags": ("a", "b"), "x": 1}
    obj = map_object(account, "acme.com", SETTINGS)
    assert obj.valid
    assert obj.attributes == {"name": "Acme", "signed_up_at": 1614834367, "tags": ["a", "b"]}
    assert json.loads(obj.wire) == {
        "type": "object",
        "identifiers": {"object_type_id": "1", "object_id": "acme.com"},
        "action": "identify",
        "attributes": obj.attributes,
    }


def test_the_hash_ignores_key_order_and_changes_with_any_value() -> None:
    a = map_object({"name": "Acme", "plan": "pro"}, "acme.com", SETTINGS)
    b = map_object({"plan": "pro", "name": "Acme"}, "acme.com", SETTINGS)
    c = map_object({"plan": "enterprise", "name": "Acme"}, "acme.com", SETTINGS)
    d = map_object({"plan": "pro", "name": "Acme"}, "acme.com", ObjectSettings(type_id="2", mappings=SETTINGS.mappings))
    assert a.payload_hash == b.payload_hash
    assert len({a.payload_hash, c.payload_hash, d.payload_hash}) == 3


def test_limits_make_an_object_invalid_and_say_why() -> None:
    too_long_id = map_object({"name": "x"}, "x" * 151, SETTINGS)
    too_long_value = map_object({"name": "y" * 1001}, "acme.com", SETTINGS)
    not_a_number = map_object({"name": float("nan")}, "acme.com", SETTINGS)
    assert not too_long_id.valid and "150 bytes" in too_long_id.violations[0].message
    assert not too_long_value.valid and "1000 bytes" in too_long_value.violations[0].message
    assert not not_a_number.valid and "NaN" in not_a_number.violations[0].message
    assert too_long_id.wire == b""


def test_relationship_operations_address_the_person_and_the_object() -> None:
    assert relationship_operation("email", "a@b.c", "1", "acme.com", add=True) == {
        "type": "person",
        "identifiers": {"email": "a@b.c"},
        "action": "add_relationships",
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme.com"}}],
    }
    moved = RelationshipChange("42", "old.com", "new.com").operations("id", "1")
    assert [(op["action"], op["cio_relationships"][0]["identifiers"]["object_id"]) for op in moved] == [
        ("delete_relationships", "old.com"),
        ("add_relationships", "new.com"),
    ]
    assert RelationshipChange("42", None, "new.com").label == "relationship (added)"
    assert RelationshipChange("42", "old.com", None).label == "relationship (removed: no account)"
    assert object_delete_operation("1", "acme.com")["action"] == "delete"


def test_object_settings_round_trip_through_the_profile_and_bad_values_are_named() -> None:
    profile = Profile(name="P", objects=SETTINGS)
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))).objects == SETTINGS
    assert Profile.from_dict({"name": "Old"}).objects == ObjectSettings()  # profiles from before objects
    bad: list[tuple[dict[str, Any], str]] = [
        ({"type_id": "accounts"}, "objects.type_id"),
        ({"identifier": "email"}, "objects.identifier"),
        ({"mappings": [{"hull": "name", "cio": "name"}]}, "objects.mappings[0].hull"),
        (
            {"mappings": [{"hull": "account.a", "cio": "n"}, {"hull": "account.b", "cio": "n"}]},
            "objects.mappings[1].cio",
        ),
        ({"enabled": "yes"}, "objects.enabled"),
        ({"colour": "red"}, "objects.colour"),
    ]
    for objects, field in bad:
        with pytest.raises(ProfileError) as err:
            Profile.from_dict({"name": "P", "objects": objects})
        assert err.value.field == field
