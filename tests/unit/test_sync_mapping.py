"""Hull user -> Customer.io person: identifiers, base attributes, renames, dates, values, hash, limits."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cio_desktop.config.profile import AttributeMapping, Profile, SegmentRef, default_cio_name
from cio_desktop.customerio.sizes import dumps
from cio_desktop.sync.mapping import format_time, identify_operation, map_user, parse_date
from cio_desktop.sync.model import MappedPerson, MappingContext

T_2018 = 1522420682  # 2018-03-30T14:38:02Z


def make_ctx(
    *mappings: tuple[str, str],
    types: dict[str, str] | None = None,
    **profile: Any,
) -> MappingContext:
    p = Profile(
        name="t",
        segments=(SegmentRef("s1", "Customers"),),
        mappings=tuple(AttributeMapping(h, c) for h, c in mappings),
        **profile,
    )
    return MappingContext(p, {"s1": "Customers", "s2": "Leads", "s3": "Admins"}, types or {})


def user(**fields: Any) -> dict[str, Any]:
    u: dict[str, Any] = {
        "id": "5a1b2c3d4e5f60718293a4b5",
        "email": "jane@example.com",
        "external_id": "u-1",
        "created_at": "2018-03-30T14:38:02Z",
        "segment_ids": ["s1"],
    }
    u.update(fields)
    return u


def messages(person: MappedPerson) -> list[str]:
    return [v.message for v in person.violations]


# ------------------------------------------------------------------ identifiers


def test_customer_id_defaults_to_external_id_sent_as_id_identifier() -> None:
    person = map_user(user(), make_ctx())
    assert person.customer_id == "u-1"
    assert person.identifiers == {"id": "u-1"}
    assert person.valid


@pytest.mark.parametrize(
    ("attribute", "fields", "expected"),
    [
        ("id", {}, "5a1b2c3d4e5f60718293a4b5"),
        ("traits_crm/customer_number", {"traits_crm/customer_number": "C-77"}, "C-77"),
        ("account.id", {"account": {"id": "acc-9"}}, "acc-9"),
        ("traits_crm/number", {"traits_crm/number": 12345}, "12345"),
        ("traits_crm/number", {"traits_crm/number": 12345.0}, "12345"),
    ],
)
def test_customer_id_comes_from_the_chosen_attribute(attribute: str, fields: dict[str, Any], expected: str) -> None:
    person = map_user(user(**fields), make_ctx(customer_id_attribute=attribute))
    assert person.customer_id == expected
    assert person.identifiers == {"id": expected}


def test_email_as_customer_id_uses_the_email_identifier() -> None:
    person = map_user(user(), make_ctx(customer_id_attribute="email"))
    assert person.customer_id == "jane@example.com"
    assert person.identifiers == {"email": "jane@example.com"}


def test_email_as_id_identifies_by_id_as_the_hosted_connector_did_in_id_only_workspaces() -> None:
    person = map_user(user(), make_ctx(customer_id_attribute="email", email_as_id=True))
    assert person.identifiers == {"id": "jane@example.com"}
    assert person.attributes["email"] == "jane@example.com"


def test_email_as_id_changes_nothing_when_the_customer_id_is_another_attribute() -> None:
    assert map_user(user(), make_ctx(email_as_id=True)).identifiers == map_user(user(), make_ctx()).identifiers


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_or_blank_customer_id_gives_no_identifier(value: Any) -> None:
    person = map_user(user(external_id=value), make_ctx())
    assert person.customer_id is None
    assert person.identifiers == {}


@pytest.mark.parametrize("value", [True, ["a"], {"a": 1}, 1.5])
def test_customer_id_that_is_not_text_or_whole_number_is_a_violation(value: Any) -> None:
    person = map_user(user(external_id=value), make_ctx())
    assert person.customer_id is None
    assert [v.attribute for v in person.violations] == ["(identifier)"]


def test_customer_id_over_150_bytes_is_a_violation_and_not_truncated() -> None:
    long_id = "é" * 76  # 152 bytes
    person = map_user(user(external_id=long_id), make_ctx())
    assert person.customer_id == long_id
    assert person.violations[0].attribute == "(identifier)"
    assert "150 bytes" in person.violations[0].message


# ------------------------------------------------------------------ base attributes


def test_base_attributes_are_email_created_at_and_segment_names() -> None:
    person = map_user(user(segment_ids=["s3", "s1", "unknown"]), make_ctx())
    assert person.attributes == {
        "email": "jane@example.com",
        "created_at": T_2018,
        "hull_segments": ["Admins", "Customers"],
    }


def test_hull_segments_names_every_segment_of_the_user_sorted() -> None:
    person = map_user(user(segment_ids=["s2", "s1", "s3"]), make_ctx())
    assert person.attributes["hull_segments"] == ["Admins", "Customers", "Leads"]


def test_user_without_email_has_no_email_attribute() -> None:
    person = map_user(user(email=None), make_ctx())
    assert "email" not in person.attributes
    assert person.email is None


def test_unparseable_created_at_is_a_violation() -> None:
    person = map_user(user(created_at="yesterday"), make_ctx())
    assert [v.attribute for v in person.violations] == ["created_at"]


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-03-30T14:38:02Z", T_2018),
        ("2018-03-30T14:38:02+00:00", T_2018),
        ("2018-03-30T14:38:02.123Z", T_2018),
        ("2018-03-30T14:38:02.123456789+00:00", T_2018),
        ("2018-03-30T16:38:02+02:00", T_2018),
        ("2018-03-30T14:38:02+0000", T_2018),
        ("2018-03-30 14:38:02 UTC", T_2018),
        ("2018-03-30 14:38:02", T_2018),
        ("2018-03-30T14:38:02", T_2018),
        ("2018-03-30", 1522368000),
        ("Fri, 30 Mar 2018 14:38:02 GMT", T_2018),
        (T_2018, T_2018),
        (T_2018 + 0.75, T_2018),
        (T_2018 * 1000 + 123, T_2018),
        (str(T_2018), T_2018),
        (str(T_2018 * 1000), T_2018),
        ("  2018-03-30T14:38:02Z  ", T_2018),
    ],
)
def test_every_hull_date_form_becomes_unix_seconds(value: Any, expected: int) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", [None, True, "", "yesterday", "2018-13-45", [1], {"a": 1}, math.nan, math.inf, 1e300])
def test_things_that_are_not_dates_parse_to_none(value: Any) -> None:
    assert parse_date(value) is None


def test_attributes_named_at_or_date_are_converted_to_unix_seconds() -> None:
    ctx = make_ctx(
        ("traits_app/last_seen_at", "app-last_seen_at"),
        ("traits_billing/renewal_date", "billing-renewal_date"),
        ("account.created_at", "account_created_at"),
    )
    person = map_user(
        user(
            **{"traits_app/last_seen_at": "2018-03-30 14:38:02 UTC", "traits_billing/renewal_date": "2018-03-30"},
            account={"created_at": T_2018 * 1000},
        ),
        ctx,
    )
    assert person.attributes["app-last_seen_at"] == T_2018
    assert person.attributes["billing-renewal_date"] == 1522368000
    assert person.attributes["account_created_at"] == T_2018


def test_attributes_of_hull_type_date_are_converted_whatever_their_name() -> None:
    ctx = make_ctx(("traits_app/trial_end", "trial_end"), types={"traits_app/trial_end": "date"})
    person = map_user(user(**{"traits_app/trial_end": "2018-03-30T14:38:02Z"}), ctx)
    assert person.attributes["trial_end"] == T_2018


def test_unparseable_value_of_a_date_typed_attribute_is_a_violation() -> None:
    ctx = make_ctx(("traits_app/trial_end", "trial_end"), types={"traits_app/trial_end": "date"})
    person = map_user(user(**{"traits_app/trial_end": "soon"}), ctx)
    assert [v.attribute for v in person.violations] == ["trial_end"]
    assert "trial_end" not in person.attributes


def test_text_in_an_attribute_only_named_like_a_date_is_kept_as_text() -> None:
    ctx = make_ctx(("traits_app/looked_at", "looked_at"))
    person = map_user(user(**{"traits_app/looked_at": "the pricing page"}), ctx)
    assert person.attributes["looked_at"] == "the pricing page"
    assert person.valid


def test_plain_text_attributes_are_not_treated_as_dates() -> None:
    ctx = make_ctx(("traits_app/code", "code"))
    assert map_user(user(**{"traits_app/code": "2018-03-30"}), ctx).attributes["code"] == "2018-03-30"


def test_format_time_writes_iso_utc() -> None:
    assert format_time(T_2018 + 0.9) == "2018-03-30T14:38:02Z"


# ------------------------------------------------------------------ renames and overrides


@pytest.mark.parametrize(
    ("hull", "cio"),
    [
        ("traits_clearbit/given_name", "clearbit-given_name"),
        ("traits_plan", "plan"),
        ("id", "hull_id"),
        ("account.domain", "account_domain"),
        ("name", "name"),
    ],
)
def test_default_customerio_names_follow_hull_connector_renames(hull: str, cio: str) -> None:
    assert default_cio_name(hull) == cio


def test_mapped_attributes_are_sent_under_their_customerio_names() -> None:
    keys = ["traits_clearbit/given_name", "id", "account.domain", "name"]
    ctx = make_ctx(*((k, default_cio_name(k)) for k in keys))
    person = map_user(
        user(**{"traits_clearbit/given_name": "Jane", "name": "Jane Doe"}, account={"domain": "example.com"}), ctx
    )
    assert person.attributes["clearbit-given_name"] == "Jane"
    assert person.attributes["hull_id"] == "5a1b2c3d4e5f60718293a4b5"
    assert person.attributes["account_domain"] == "example.com"
    assert person.attributes["name"] == "Jane Doe"


def test_flat_account_keys_are_read_too() -> None:
    ctx = make_ctx(("account.domain", "account_domain"))
    assert map_user(user(**{"account.domain": "flat.example"}), ctx).attributes["account_domain"] == "flat.example"


def test_profile_override_renames_an_attribute() -> None:
    ctx = make_ctx(("traits_clearbit/given_name", "first_name"))
    person = map_user(user(**{"traits_clearbit/given_name": "Jane"}), ctx)
    assert person.attributes["first_name"] == "Jane"
    assert "clearbit-given_name" not in person.attributes


def test_a_mapping_can_replace_a_base_attribute() -> None:
    ctx = make_ctx(("traits_crm/signup", "created_at"), types={"traits_crm/signup": "date"})
    person = map_user(user(**{"traits_crm/signup": "2020-01-01T00:00:00Z"}), ctx)
    assert person.attributes["created_at"] == 1577836800


def test_unmapped_traits_are_not_sent() -> None:
    person = map_user(user(**{"traits_secret/ssn": "123"}), make_ctx())
    assert "secret-ssn" not in person.attributes


# ------------------------------------------------------------------ values


def test_booleans_numbers_lists_and_objects_are_kept_as_json_values() -> None:
    ctx = make_ctx(("traits_a/flag", "flag"), ("traits_a/n", "n"), ("traits_a/x", "x"), ("traits_a/tags", "tags"))
    ctx2 = make_ctx(("traits_a/obj", "obj"))
    person = map_user(
        user(**{"traits_a/flag": False, "traits_a/n": 0, "traits_a/x": 2.5, "traits_a/tags": ["a", "b"]}), ctx
    )
    assert (person.attributes["flag"], person.attributes["n"], person.attributes["x"]) == (False, 0, 2.5)
    assert person.attributes["tags"] == ["a", "b"]
    assert map_user(user(**{"traits_a/obj": {"k": [1, {"z": None}]}}), ctx2).attributes["obj"] == {
        "k": [1, {"z": None}]
    }


def test_none_is_left_out_unless_send_nulls_is_on() -> None:
    mappings = (("traits_a/gone", "gone"),)
    assert "gone" not in map_user(user(**{"traits_a/gone": None}), make_ctx(*mappings)).attributes
    assert "gone" not in map_user(user(), make_ctx(*mappings)).attributes
    with_nulls = map_user(user(**{"traits_a/gone": None}), make_ctx(*mappings, send_nulls=True))
    assert with_nulls.attributes["gone"] is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1.0, math.nan], {"a": math.inf}])
def test_nan_and_infinity_are_violations(value: Any) -> None:
    person = map_user(user(**{"traits_a/score": value}), make_ctx(("traits_a/score", "score")))
    assert [v.attribute for v in person.violations] == ["score"]
    assert "score" not in person.attributes


def test_text_that_is_not_valid_unicode_is_a_violation() -> None:
    person = map_user(user(**{"traits_a/name": "bad \ud800 text"}), make_ctx(("traits_a/name", "name")))
    assert [v.attribute for v in person.violations] == ["name"]


def test_emoji_are_valid_text() -> None:
    person = map_user(user(**{"traits_a/name": "Jane 😀"}), make_ctx(("traits_a/name", "name")))
    assert person.valid


# ------------------------------------------------------------------ limits (nothing truncated)


def test_value_over_1000_bytes_is_a_violation_and_is_not_truncated() -> None:
    text = "x" * 1001
    person = map_user(user(**{"traits_a/bio": text}), make_ctx(("traits_a/bio", "bio")))
    assert person.attributes["bio"] == text
    assert person.violations[0].attribute == "bio"
    assert "cannot be longer than 1000 bytes" in person.violations[0].message


def test_value_limit_counts_utf8_bytes_not_characters() -> None:
    ok = map_user(user(**{"traits_a/bio": "é" * 500}), make_ctx(("traits_a/bio", "bio")))
    too_long = map_user(user(**{"traits_a/bio": "é" * 501}), make_ctx(("traits_a/bio", "bio")))
    assert ok.valid
    assert not too_long.valid


def test_list_over_1000_bytes_of_json_is_a_violation() -> None:
    person = map_user(user(**{"traits_a/tags": ["abcdefghi"] * 100}), make_ctx(("traits_a/tags", "tags")))
    assert [v.attribute for v in person.violations] == ["tags"]


def test_more_than_300_attributes_is_a_violation() -> None:
    mappings = [(f"traits_a/f{i}", f"f{i}") for i in range(300)]
    person = map_user(user(**{f"traits_a/f{i}": i for i in range(300)}), make_ctx(*mappings))
    assert len(person.attributes) == 303
    assert any("more than 300 attributes" in m for m in messages(person))


def test_identify_operation_over_32_kb_is_a_violation() -> None:
    mappings = [(f"traits_a/f{i}", f"f{i}") for i in range(40)]
    person = map_user(user(**{f"traits_a/f{i}": "y" * 900 for i in range(40)}), make_ctx(*mappings))
    assert [v.attribute for v in person.violations] == ["(operation)"]
    assert len(dumps(identify_operation(person))) > 32_000


# ------------------------------------------------------------------ hash


def test_hash_does_not_depend_on_key_order() -> None:
    ctx = make_ctx(("traits_a/obj", "obj"), ("traits_a/name", "name"))
    a = user(**{"traits_a/name": "Jane", "traits_a/obj": {"x": 1, "y": {"p": 1, "q": 2}}})
    b = dict(reversed(list(a.items())))
    b["traits_a/obj"] = {"y": {"q": 2, "p": 1}, "x": 1}
    assert map_user(a, ctx).payload_hash == map_user(b, ctx).payload_hash


def test_hash_changes_with_any_sent_value_or_the_customer_id() -> None:
    ctx = make_ctx(("traits_a/name", "name"))
    base = map_user(user(**{"traits_a/name": "Jane"}), ctx).payload_hash
    assert map_user(user(**{"traits_a/name": "June"}), ctx).payload_hash != base
    assert map_user(user(**{"traits_a/name": "Jane"}, external_id="u-2"), ctx).payload_hash != base
    assert map_user(user(**{"traits_a/name": "Jane"}), ctx).payload_hash == base


def test_hash_ignores_attributes_that_are_not_sent() -> None:
    ctx = make_ctx(("traits_a/name", "name"))
    a = map_user(user(**{"traits_a/name": "Jane"}), ctx)
    b = map_user(user(**{"traits_a/name": "Jane", "traits_other/x": 1, "updated_at": "2020-01-01"}), ctx)
    assert a.payload_hash == b.payload_hash


def test_identify_operation_is_a_v2_person_identify() -> None:
    person = map_user(user(), make_ctx())
    assert identify_operation(person) == {
        "type": "person",
        "identifiers": {"id": "u-1"},
        "action": "identify",
        "attributes": person.attributes,
    }


def test_first_anonymous_id_is_kept_for_anonymous_events() -> None:
    assert map_user(user(anonymous_ids=["", "anon-1", "anon-2"]), make_ctx()).anonymous_id == "anon-1"


def test_list_holding_text_that_is_not_valid_unicode_is_a_violation() -> None:
    person = map_user(user(**{"traits_a/tags": ["ok", "\udc00"]}), make_ctx(("traits_a/tags", "tags")))
    assert [v.attribute for v in person.violations] == ["tags"]


def test_segment_names_with_many_segments_stay_within_the_value_limit_check() -> None:
    ctx = MappingContext(
        Profile(name="t", segments=(SegmentRef("s0", "S"),)), {f"s{i}": f"Segment number {i:03}" for i in range(80)}, {}
    )
    person = map_user(user(segment_ids=[f"s{i}" for i in range(80)]), ctx)
    assert [v.attribute for v in person.violations] == ["hull_segments"]


def test_anonymous_id_attribute_is_sent_only_with_anonymous_events_on() -> None:
    u = user(anonymous_ids=["anon-1", "anon-2"])
    assert map_user(u, make_ctx(anonymous_events=True)).attributes["anonymous_id"] == "anon-1"
    assert "anonymous_id" not in map_user(u, make_ctx(anonymous_events=False)).attributes
    assert "anonymous_id" not in map_user(user(), make_ctx(anonymous_events=True)).attributes


# ------------------------------------------------------------------ the encoded operation


def test_the_encoded_identify_operation_is_exactly_the_operation_in_compact_utf8_json() -> None:
    import json

    from cio_desktop.customerio.sizes import dumps

    person = map_user(
        user(traits_city="Zürich 🏔", traits_tags=["a", "b"]), make_ctx(("traits_city", "city"), ("traits_tags", "tags"))
    )
    assert person.valid
    assert json.loads(person.wire) == identify_operation(person)
    # As many bytes as the Track client's own encoding: the packer's size checks hold for what is sent.
    assert len(person.wire) == len(dumps(identify_operation(person)))
    assert "Zürich 🏔".encode() in person.wire


def test_the_payload_hash_is_of_the_operation_bytes_and_says_its_kind() -> None:
    import hashlib

    person = map_user(user(traits_city="Zürich"), make_ctx(("traits_city", "city")))
    assert person.payload_hash == "v2:" + hashlib.blake2b(person.wire, digest_size=8).hexdigest()


def test_values_orjson_refuses_are_encoded_by_the_standard_library() -> None:
    import json

    huge = 2**70  # valid JSON, over orjson's 64 bits
    person = map_user(user(traits_big=huge), make_ctx(("traits_big", "big")))
    assert person.valid and json.loads(person.wire)["attributes"]["big"] == huge
    lone = map_user(user(traits_city="bad \udc80"), make_ctx(("traits_city", "city")))
    assert not lone.valid and "not valid Unicode" in lone.violations[0].message


def test_an_invalid_person_has_no_encoded_operation() -> None:
    person = map_user(user(external_id="x" * 151), make_ctx())
    assert not person.valid and person.wire == b""


def test_the_hash_does_not_depend_on_attribute_order() -> None:
    a = map_user(user(traits_a=1, traits_b=2), make_ctx(("traits_a", "a"), ("traits_b", "b")))
    b = map_user(user(traits_a=1, traits_b=2), make_ctx(("traits_b", "b"), ("traits_a", "a")))
    assert a.payload_hash == b.payload_hash and a.wire == b.wire


def test_a_pass_raises_the_collector_threshold_and_shortens_the_switch_interval_then_restores_both() -> None:
    import gc
    import sys

    from cio_desktop.sync.pass_tuning import PASS_SWITCH_INTERVAL, PASS_THRESHOLD, tuned_for_pass

    before = gc.get_threshold(), sys.getswitchinterval()
    with tuned_for_pass():
        with tuned_for_pass():  # nested (or a second run at the same time)
            assert gc.get_threshold()[0] == PASS_THRESHOLD
        assert gc.get_threshold()[0] == PASS_THRESHOLD
        assert sys.getswitchinterval() == PASS_SWITCH_INTERVAL
    assert (gc.get_threshold(), sys.getswitchinterval()) == before


def test_the_ledger_keeps_the_attributes_cut_from_the_sent_operation() -> None:
    import json

    from cio_desktop.sync.sender import _attributes_json

    tricky = 'a","action":"identify","attributes":{"x'  # the key's own text inside the customerId
    person = map_user(user(external_id=tricky, traits_city='Zürich "old town"'), make_ctx(("traits_city", "city")))
    assert person.valid and person.customer_id == tricky
    cut = _attributes_json(person.wire)
    assert cut is not None and json.loads(cut) == person.attributes
