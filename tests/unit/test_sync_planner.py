"""One decision per person: the behaviour of Hull's Customer.io connector plus issue 4's rules."""

from __future__ import annotations

from typing import Any

import pytest

from cio_desktop.config.profile import AttributeMapping, Profile, SegmentRef
from cio_desktop.sync.mapping import legacy_payload_hash, map_user
from cio_desktop.sync.model import Action, Decision, KnownPerson, MappingContext, Reason
from cio_desktop.sync.planner import plan_missing, plan_user

NOW = 1_700_000_000.0
NOW_ISO = "2023-11-14T22:13:20Z"
HULL_ID = "5a1b2c3d4e5f60718293a4b5"


def make_ctx(**profile: Any) -> MappingContext:
    settings: dict[str, Any] = {
        "segments": (SegmentRef("s1", "Customers"), SegmentRef("s2", "Trials")),
        "mappings": (AttributeMapping("traits_clearbit/given_name", "clearbit-given_name"),),
    }
    settings.update(profile)
    return MappingContext(Profile(name="t", **settings), {"s1": "Customers", "s2": "Trials", "s9": "Other"}, {})


def user(**fields: Any) -> dict[str, Any]:
    u: dict[str, Any] = {
        "id": HULL_ID,
        "email": "jane@example.com",
        "external_id": "u-1",
        "created_at": "2018-03-30T14:38:02Z",
        "segment_ids": ["s1"],
        "traits_clearbit/given_name": "Jane",
    }
    u.update(fields)
    return u


def created(customer_id: str = "u-1", payload_hash: str | None = "0" * 16, deleted: bool = False) -> KnownPerson:
    return KnownPerson(
        customer_id, HULL_ID, payload_hash, created_at=NOW - 1000, deleted_at=NOW - 10 if deleted else None
    )


def plan(u: dict[str, Any], known: KnownPerson | None = None, **profile: Any) -> Decision:
    return plan_user(u, make_ctx(**profile), known, now=NOW)


# ------------------------------------------------------------------ Hull connector behaviour


def test_empty_segment_choice_sends_nobody() -> None:
    d = plan(user(), segments=())
    assert (d.action, d.reason, d.operations) == (Action.SKIP, Reason.NOT_IN_SEGMENTS, ())


def test_empty_segment_choice_deletes_nobody_even_with_deletion_on() -> None:
    d = plan(user(segment_ids=[]), created(), segments=(), delete_on_leave=True)
    assert (d.action, d.operations) == (Action.SKIP, ())


def test_user_in_a_synchronized_segment_is_identified_as_new() -> None:
    d = plan(user(segment_ids=["s9", "s2"]))
    assert (d.action, d.reason) == (Action.IDENTIFY, Reason.NEW)
    assert d.operations == (
        {
            "type": "person",
            "identifiers": {"id": "u-1"},
            "action": "identify",
            "attributes": {
                "email": "jane@example.com",
                "created_at": 1522420682,
                "hull_segments": ["Other", "Trials"],
                "clearbit-given_name": "Jane",
            },
        },
    )
    assert d.label == "identify (new)"


def test_user_outside_the_synchronized_segments_is_skipped_not_in_segments() -> None:
    d = plan(user(segment_ids=["s9"]))
    assert (d.action, d.reason, d.operations) == (Action.SKIP, Reason.NOT_IN_SEGMENTS, ())
    assert d.label == "skip: not in segments"


def test_user_leaving_all_segments_is_deleted_only_if_we_created_them() -> None:
    left = user(segment_ids=[])
    never_created = plan(left, None, delete_on_leave=True)
    assert (never_created.action, never_created.reason) == (Action.SKIP, Reason.NOT_IN_SEGMENTS)
    d = plan(left, created(), delete_on_leave=True)
    assert (d.action, d.reason) == (Action.DELETE, Reason.LEFT_SEGMENTS)
    assert d.operations == ({"type": "person", "identifiers": {"id": "u-1"}, "action": "delete"},)
    assert d.label == "delete (left the segments)"


def test_deletion_by_written_back_traits_needs_created_at_and_no_deleted_at() -> None:
    # Hull's connector: delete only people it created (customerio/created_at set, customerio/deleted_at empty).
    ours = user(
        segment_ids=[], **{"traits_customerio/created_at": "2018-04-01T00:00:00Z", "traits_customerio/id": "u-1"}
    )
    assert plan(ours, delete_on_leave=True).action is Action.DELETE
    gone = dict(ours, **{"traits_customerio/deleted_at": "2018-05-01T00:00:00Z"})
    assert plan(gone, delete_on_leave=True).action is Action.SKIP
    not_ours = user(segment_ids=[])
    assert plan(not_ours, delete_on_leave=True).action is Action.SKIP


def test_user_leaving_is_not_deleted_when_deletion_is_off() -> None:
    d = plan(user(segment_ids=[]), created(), delete_on_leave=False)
    assert (d.action, d.reason, d.operations) == (Action.SKIP, Reason.NOT_IN_SEGMENTS, ())
    assert "deletion is off" in d.message


def test_person_already_deleted_is_not_deleted_again() -> None:
    d = plan(user(segment_ids=[]), created(deleted=True), delete_on_leave=True)
    assert (d.action, d.operations) == (Action.SKIP, ())


def test_delete_targets_the_customer_id_the_person_was_created_under() -> None:
    d = plan(user(segment_ids=[], external_id="u-NEW"), created("u-OLD"), delete_on_leave=True)
    assert d.customer_id == "u-OLD"
    assert d.operations[0]["identifiers"] == {"id": "u-OLD"}


def test_user_without_customer_id_is_skipped() -> None:
    d = plan(user(external_id=None))
    assert (d.action, d.reason, d.operations) == (Action.SKIP, Reason.NO_CUSTOMER_ID, ())
    assert "external_id" in d.message
    assert d.label == "skip: no customerId"


def test_user_without_email_is_skipped_when_email_is_required() -> None:
    d = plan(user(email=None), require_email=True)
    assert (d.action, d.reason) == (Action.SKIP, Reason.NO_EMAIL)
    assert d.label == "skip: no email"


def test_user_without_email_is_sent_when_email_is_not_required() -> None:
    d = plan(user(email=None), require_email=False)
    assert d.action is Action.IDENTIFY
    assert "email" not in d.operations[0]["attributes"]


def test_invalid_person_is_not_sent_and_every_violation_is_listed() -> None:
    ctx_profile = {
        "mappings": (AttributeMapping("traits_a/bio", "bio"), AttributeMapping("traits_a/score", "score")),
    }
    d = plan(user(**{"traits_a/bio": "x" * 2000, "traits_a/score": float("nan")}), **ctx_profile)
    assert (d.action, d.reason, d.operations) == (Action.SKIP, Reason.INVALID, ())
    assert d.person is not None
    assert {v.attribute for v in d.person.violations} == {"bio", "score"}
    assert "bio" in d.message and "score" in d.message


def test_unchanged_person_costs_no_request() -> None:
    first = plan(user())
    assert first.person is not None
    d = plan(user(), created(payload_hash=first.person.payload_hash))
    assert (d.action, d.reason, d.operations) == (Action.SKIP, Reason.UNCHANGED, ())
    assert d.label == "skip: unchanged"


def test_a_hash_of_the_older_kind_still_counts_as_sent() -> None:
    # Ledgers and write-back traits from before the v2: hashes hold 16 hex digits of the older kind.
    first = plan(user())
    assert first.person is not None
    older = legacy_payload_hash(first.person)
    assert older is not None and len(older) == 16
    assert plan(user(), created(payload_hash=older)).reason is Reason.UNCHANGED
    # A hosted connector's 40-digit trait hash is never of that kind (it is recognised its own way).
    assert plan(user(), created(payload_hash="a" * 40)).reason is Reason.CHANGED


def test_changed_person_is_identified_as_changed() -> None:
    d = plan(user(**{"traits_clearbit/given_name": "June"}), created())
    assert (d.action, d.reason) == (Action.IDENTIFY, Reason.CHANGED)
    assert d.label == "identify (changed)"


def test_written_back_hash_counts_when_write_back_is_on() -> None:
    # A second laptop (empty ledger) does not resend people whose Hull trait carries the same hash.
    ctx = make_ctx(write_back=True)
    h = map_user(user(), ctx).payload_hash
    synced = user(
        **{"traits_customerio/hash": h, "traits_customerio/id": "u-1", "traits_customerio/created_at": NOW_ISO}
    )
    assert plan_user(synced, ctx, None, now=NOW).reason is Reason.UNCHANGED
    assert plan_user(synced, make_ctx(write_back=False), None, now=NOW).reason is Reason.CHANGED


def test_customer_id_change_merges_old_person_into_new() -> None:
    d = plan(user(external_id="u-2"), created("u-1"))
    assert (d.action, d.reason) == (Action.MERGE, Reason.CUSTOMER_ID_CHANGED)
    assert d.previous_customer_id == "u-1"
    identify, merge = d.operations
    assert identify["action"] == "identify" and identify["identifiers"] == {"id": "u-2"}
    assert merge == {"type": "person", "action": "merge", "primary": {"id": "u-2"}, "secondary": {"id": "u-1"}}


def test_customer_id_change_known_from_written_back_traits_merges_too() -> None:
    u = user(external_id="u-2", **{"traits_customerio/id": "u-1", "traits_customerio/created_at": NOW_ISO})
    assert plan(u).action is Action.MERGE


def test_email_identifier_is_used_for_merge_and_delete() -> None:
    d = plan(user(email="new@example.com"), created("old@example.com"), customer_id_attribute="email")
    assert d.operations[1]["primary"] == {"email": "new@example.com"}
    assert d.operations[1]["secondary"] == {"email": "old@example.com"}
    gone = plan(user(segment_ids=[]), created("jane@example.com"), customer_id_attribute="email", delete_on_leave=True)
    assert gone.operations[0]["identifiers"] == {"email": "jane@example.com"}


def test_person_deleted_earlier_who_returns_is_created_again() -> None:
    first = plan(user())
    assert first.person is not None
    d = plan(user(), created(payload_hash=first.person.payload_hash, deleted=True))
    assert (d.action, d.reason) == (Action.IDENTIFY, Reason.NEW)
    assert d.message == "created again after deletion"


def test_person_deleted_under_an_old_id_who_returns_is_created_not_merged() -> None:
    d = plan(user(external_id="u-2"), created("u-1", deleted=True))
    assert (d.action, d.reason) == (Action.IDENTIFY, Reason.NEW)


def test_trait_deletion_older_than_creation_means_created_again() -> None:
    u = user(
        segment_ids=[],
        **{
            "traits_customerio/id": "u-1",
            "traits_customerio/created_at": "2020-02-01T00:00:00Z",
            "traits_customerio/deleted_at": "2020-01-01T00:00:00Z",
        },
    )
    assert plan(u, delete_on_leave=True).action is Action.DELETE


def test_ledger_knowledge_wins_over_written_back_traits() -> None:
    u = user(segment_ids=[], **{"traits_customerio/created_at": NOW_ISO, "traits_customerio/id": "u-1"})
    assert plan(u, created(deleted=True), delete_on_leave=True).action is Action.SKIP


# ------------------------------------------------------------------ write-back traits


def test_identify_of_a_new_person_writes_back_id_hash_and_times() -> None:
    d = plan(user(), write_back=True)
    assert d.person is not None
    assert d.traits == {
        "customerio/id": "u-1",
        "customerio/hash": d.person.payload_hash,
        "customerio/synced_at": NOW_ISO,
        "customerio/deleted_at": None,
        "customerio/created_at": NOW_ISO,
    }


def test_changed_person_keeps_its_created_at_trait() -> None:
    d = plan(user(**{"traits_clearbit/given_name": "June"}), created(), write_back=True)
    assert "customerio/created_at" not in d.traits


def test_delete_writes_back_deleted_at() -> None:
    d = plan(user(segment_ids=[]), created(), delete_on_leave=True, write_back=True)
    assert d.traits == {"customerio/deleted_at": NOW_ISO, "customerio/synced_at": NOW_ISO}


def test_nothing_to_write_back_when_write_back_is_off_or_for_skips() -> None:
    assert plan(user(), write_back=False).traits == {}
    assert plan(user(external_id=None)).traits == {}


# ------------------------------------------------------------------ people missing from a full run


def test_missing_person_created_by_us_is_deleted_when_enabled() -> None:
    d = plan_missing(created(), make_ctx(delete_on_leave=True), now=NOW)
    assert (d.action, d.reason, d.customer_id, d.hull_id) == (Action.DELETE, Reason.LEFT_SEGMENTS, "u-1", HULL_ID)
    assert d.operations == ({"type": "person", "identifiers": {"id": "u-1"}, "action": "delete"},)


@pytest.mark.parametrize(
    ("known", "delete_on_leave"),
    [
        (created(), False),
        (created(deleted=True), True),
        (KnownPerson("u-1", HULL_ID, None, None, None), True),
    ],
)
def test_missing_person_is_skipped_unless_deletable(known: KnownPerson, delete_on_leave: bool) -> None:
    d = plan_missing(known, make_ctx(delete_on_leave=delete_on_leave), now=NOW)
    assert (d.action, d.reason, d.operations) == (Action.SKIP, Reason.NOT_IN_SEGMENTS, ())


def test_missing_customer_id_is_reported_as_such_even_when_other_values_are_invalid() -> None:
    d = plan(user(external_id=None, created_at="not a date"))
    assert d.reason is Reason.NO_CUSTOMER_ID


def test_unusable_customer_id_value_is_invalid() -> None:
    d = plan(user(external_id=["u-1"]))
    assert d.reason is Reason.INVALID
    assert "external_id" in d.message
