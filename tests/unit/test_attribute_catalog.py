"""Attribute names for the Fields page: suggestions by similarity, typos, groups, samples."""

from __future__ import annotations

from cio_desktop.hull.attribute_catalog import (
    EXAMPLES_PER_ATTRIBUTE,
    attribute_groups,
    closest,
    group_of,
    sample_users,
    suggest,
)

NAMES = [
    "email",
    "name",
    "traits_plan",
    "traits_clearbit/given_name",
    "traits_clearbit/family_name",
    "traits_trial_ends_at",
    "account.domain",
    "account.name",
]


def test_suggestions_rank_exact_then_prefix_then_contains_then_similar_spelling() -> None:
    assert suggest("name", NAMES)[0] == "name"
    assert suggest("given", NAMES)[0] == "traits_clearbit/given_name"  # the last part starts with it
    assert suggest("givn_name", NAMES)[0] == "traits_clearbit/given_name"  # a typo still finds it
    assert suggest("zzzz", NAMES) == []
    assert suggest("", NAMES, limit=3) == sorted(NAMES)[:3]


def test_a_typo_has_a_closest_known_name_and_a_made_up_name_has_none() -> None:
    assert closest("traits_plann", NAMES) == "traits_plan"
    assert closest("traits_clearbit/givenname", NAMES) == "traits_clearbit/given_name"
    assert closest("traits_favourite_colour", NAMES) is None


def test_groups_are_the_prefix_before_the_slash_or_account_and_need_two_members() -> None:
    assert group_of("traits_clearbit/given_name") == "traits_clearbit"
    assert group_of("account.domain") == "account"
    assert group_of("traits_plan") is None
    groups = attribute_groups([*NAMES, "traits_solo/one"])
    assert groups == {
        "account": ["account.domain", "account.name"],
        "traits_clearbit": ["traits_clearbit/family_name", "traits_clearbit/given_name"],
    }


def test_a_sample_counts_who_has_a_value_and_keeps_a_few_distinct_examples() -> None:
    users = [
        {"id": str(i), "traits_plan": ["free", "pro", "free", "team", "max"][i % 5], "traits_beta": i % 2 == 0}
        | ({"traits_note": ""} if i == 3 else {})
        | {"account": {"domain": f"d{i}.example"}}
        for i in range(10)
    ]
    sample = sample_users(iter(users), limit=8)
    assert sample.users == 8
    assert sample.describe("traits_plan") == ("8 of 8", "free, pro, team")
    assert len(sample.examples["traits_plan"]) == EXAMPLES_PER_ATTRIBUTE
    assert sample.describe("traits_beta") == ("8 of 8", "true, false")  # as JSON, as Customer.io shows it
    assert sample.describe("traits_note") == ("0 of 8", "")  # empty text is no value
    assert sample.describe("account.domain")[0] == "8 of 8"
    assert sample.describe("missing") == ("0 of 8", "")
