"""The deletion guard's rules, one test each (pure function, no I/O)."""

from __future__ import annotations

from typing import Any

from cio_desktop.hull.source import ReadReport
from cio_desktop.sync.guard import DeletionApproval, GuardInput, WithheldReason, check_deletions

CLEAN = ReadReport("/data/users.jsonl")


def guard(**kw: Any) -> Any:
    base: dict[str, Any] = {"deletions": 0, "created": 1000, "read": CLEAN, "percent": 10.0, "max_count": 1000}
    base.update(kw)
    return check_deletions(GuardInput(**base))


def test_nothing_to_delete_is_never_withheld_even_on_a_broken_read() -> None:
    assert guard(deletions=0, read=ReadReport("users.jsonl", unreadable=11)).allowed


def test_an_unreadable_row_withholds_every_deletion_and_says_so_in_one_sentence() -> None:
    v = guard(deletions=3, read=ReadReport("/data/users.jsonl", unreadable=11))
    assert not v.allowed and v.reason is WithheldReason.INCOMPLETE_READ
    assert v.message.startswith(
        "Deletions withheld: 11 rows of users.jsonl could not be read; fix the file or run again"
    )
    assert "--allow-deletions" in v.message


def test_one_unreadable_row_is_singular() -> None:
    assert "1 row of users.jsonl could not be read" in guard(deletions=1, read=ReadReport("users.jsonl", 1)).message


def test_a_truncated_file_says_its_end_could_not_be_read() -> None:
    v = guard(deletions=2, read=ReadReport("/d/users.jsonl.gz", unreadable=1, truncated=True))
    assert not v.allowed and "users.jsonl.gz is cut short or corrupt" in v.message


def test_no_approval_passes_an_incomplete_read() -> None:
    v = guard(deletions=2, read=ReadReport("users.jsonl", 1), approval=DeletionApproval(1_000_000))
    assert not v.allowed and v.reason is WithheldReason.INCOMPLETE_READ


def test_five_deletions_or_fewer_never_trip_the_guard() -> None:
    assert guard(deletions=5, created=5, max_count=0, percent=0.0).allowed
    assert not guard(deletions=6, created=6, max_count=1000, percent=10.0).allowed


def test_more_than_the_profiles_maximum_is_withheld_and_names_the_flag() -> None:
    v = guard(deletions=1001, created=1_000_000)
    assert not v.allowed and v.reason is WithheldReason.TOO_MANY
    assert "1,001 people" in v.message and "--allow-deletions 1001" in v.message


def test_more_than_the_share_of_people_created_is_withheld() -> None:
    assert guard(deletions=100, created=1000).allowed
    v = guard(deletions=101, created=1000)
    assert not v.allowed and v.reason is WithheldReason.TOO_LARGE_SHARE
    assert "10% of the 1,000 created" in v.message


def test_an_audience_that_shrank_past_the_threshold_withholds_deletions() -> None:
    assert guard(deletions=10, audience=950, previous_audience=1000).allowed
    v = guard(deletions=10, audience=800, previous_audience=1000)
    assert not v.allowed and v.reason is WithheldReason.AUDIENCE_SHRANK
    assert "800 people, 20% fewer than the 1,000" in v.message


def test_an_approval_lets_through_at_most_its_number() -> None:
    assert guard(deletions=600, created=1000, approval=DeletionApproval(600)).allowed
    v = guard(deletions=601, created=1000, approval=DeletionApproval(600))
    assert not v.allowed and v.reason is WithheldReason.OVER_APPROVAL
    assert "more than the 600 approved" in v.message


def test_an_approval_never_withholds_what_the_guard_alone_would_let_through() -> None:
    assert guard(deletions=3, created=1000, approval=DeletionApproval(2)).allowed, "under the floor"
    assert guard(deletions=150, created=100_000, approval=DeletionApproval(100)).allowed, "0.15% of created"


def test_the_override_command_repeats_the_runs_mode() -> None:
    assert "`cio-desktop sync --full --allow-deletions 1001`" in guard(deletions=1001, created=10**6).message
    assert "`cio-desktop sync --allow-deletions 1001`" in guard(deletions=1001, created=10**6, full=False).message


def test_a_confirmed_plan_bounds_deletions_even_under_the_floor() -> None:
    assert guard(deletions=2, approval=DeletionApproval(2, planned=True)).allowed
    v = guard(deletions=3, created=100_000, approval=DeletionApproval(2, planned=True))
    assert not v.allowed and v.reason is WithheldReason.OVER_APPROVAL
    assert "more than the 2 in the plan you confirmed" in v.message
    assert guard(deletions=0, approval=DeletionApproval(0, planned=True)).allowed


def test_a_confirmed_plan_never_overrides_an_incomplete_read() -> None:
    v = guard(deletions=1, read=ReadReport("users.jsonl", unreadable=1), approval=DeletionApproval(5, planned=True))
    assert not v.allowed and v.reason is WithheldReason.INCOMPLETE_READ


def test_deletions_of_people_the_confirmed_plan_did_not_list_are_withheld_even_under_the_floor() -> None:
    plan = DeletionApproval(3, from_run=7, planned=True)
    v = guard(deletions=1, approval=plan, outside_plan=True)
    assert not v.allowed and v.reason is WithheldReason.NOT_IN_PLAN
    assert v.message == (
        "Deletions withheld: this run would delete 1 person who is not in the plan you confirmed;"
        " review them in History or run `cio-desktop sync --full --allow-deletions 1`."
    )
    assert "2 people who are not in the plan" in guard(deletions=2, approval=plan, outside_plan=True).message
    assert guard(deletions=0, approval=plan, outside_plan=True).allowed, "nobody outside the plan: nothing withheld"


def test_an_incomplete_read_is_named_before_people_outside_the_plan() -> None:
    v = guard(
        deletions=1,
        read=ReadReport("users.jsonl", unreadable=1),
        approval=DeletionApproval(3, from_run=7, planned=True),
        outside_plan=True,
    )
    assert v.reason is WithheldReason.INCOMPLETE_READ
