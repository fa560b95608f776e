"""The deletion guard: whether a run may delete the people it found to delete (pure).

Deleting a person from Customer.io cannot be undone (their activity history goes with them), so a
run deletes only on complete, clean input and within limits a marketer set:

1. Nothing to delete: nothing to withhold.
2. The users pass that found the deletions was not complete and clean (an unreadable row, a cut-off
   compressed file): every person on an unreadable row looks as if they had left the segments, so
   nobody is deleted. No approval overrides this: the fix is a readable file.
3. At most ``DELETION_GUARD_FLOOR`` deletions never trip the guard (everyday churn).
4. More than ``profile.deletion_guard_max`` deletions, more than ``profile.deletion_guard_percent``
   of the people known to have been created (by this tool, or by Hull's hosted connector per its
   ``customerio/created_at`` trait), or an audience that shrank by more than that share (or that
   many people) since the last clean run: withheld until approved.
5. An approval (``--allow-deletions N``, or the app's review) only loosens the guard: what rules 3
   and 4 allow goes out anyway; what they withhold goes out when it is at most N deletions. A run
   that would delete more than N is withheld whole (it never picks which N).
6. A confirmed plan (the app's Full sync confirmation) is an approval that also bounds, by name and
   by number: the run deletes only people the plan listed, at most as many as it showed; anyone else
   it would now delete is withheld ("not in the plan you confirmed"), even below the floor.

Withheld deletions are recorded with the run; everything else in the run still goes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cio_desktop.hull.source import ReadReport

# A run deleting this many people or fewer never trips the guard.
DELETION_GUARD_FLOOR = 5
ALLOW_FLAG = "--allow-deletions"


class WithheldReason(StrEnum):
    """Why a run's deletions were withheld (stored with the run)."""

    INCOMPLETE_READ = "incomplete_read"
    TOO_MANY = "too_many"
    TOO_LARGE_SHARE = "too_large_share"
    AUDIENCE_SHRANK = "audience_shrank"
    OVER_APPROVAL = "over_approval"
    NOT_IN_PLAN = "not_in_plan"


@dataclass(frozen=True)
class DeletionApproval:
    """A user's consent to delete past the guard: at most ``max_count`` people and, when
    ``from_run`` is given, only people on that run's list: its withheld list (approved in History),
    or, when ``planned``, the deletions its plan listed."""

    max_count: int
    from_run: int | None = None
    # From a plan the user confirmed (``from_run`` is the plan's dry run): never more than
    # ``max_count`` deletions, even where the guard's thresholds alone would let more go.
    planned: bool = False
    # Also from a plan: how many account objects it showed deleted; the run deletes no more.
    objects: int = 0


@dataclass(frozen=True)
class GuardInput:
    """What the guard looks at. ``audience`` is how many members the users pass read (full runs; None
    for incremental runs, which read only changed users); ``previous_audience`` the audience of the
    last clean run that deleted what it found (None when there is none)."""

    deletions: int
    created: int
    read: ReadReport
    percent: float
    max_count: int
    audience: int | None = None
    previous_audience: int | None = None
    approval: DeletionApproval | None = None
    full: bool = True  # the run reads every member (the override command repeats the run's mode)
    # These deletions are of people the confirmed plan (``approval.planned``) did not list.
    outside_plan: bool = False


@dataclass(frozen=True)
class GuardVerdict:
    allowed: bool
    reason: WithheldReason | None = None
    message: str = ""  # one sentence for the CLI, --json, History and the Sync page ("" when allowed)


def _people(n: int) -> str:
    return f"{n:,} {'person' if n == 1 else 'people'}"


def _pct(value: float) -> str:
    return f"{value:.0f}%" if value >= 1 or value == 0 else f"{value:.1f}%"


def check_deletions(g: GuardInput) -> GuardVerdict:
    """The verdict for one run's deletions (see the module docstring for the rules, in order)."""
    if g.deletions <= 0:
        return GuardVerdict(True)
    if not g.read.clean:
        return GuardVerdict(
            False,
            WithheldReason.INCOMPLETE_READ,
            f"Deletions withheld: {g.read.describe_loss()}; fix the file or run again"
            f" ({ALLOW_FLAG} cannot override an incomplete read).",
        )
    if g.outside_plan:
        who = "person who is" if g.deletions == 1 else "people who are"
        return GuardVerdict(
            False,
            WithheldReason.NOT_IN_PLAN,
            f"Deletions withheld: this run would delete {g.deletions:,} {who} not in the plan you confirmed;"
            f" {_override(g)}.",
        )
    if g.approval is not None and g.approval.planned and g.deletions > g.approval.max_count:
        shown = g.approval.max_count
        return GuardVerdict(
            False,
            WithheldReason.OVER_APPROVAL,
            f"Deletions withheld: this run would delete {_people(g.deletions)}, more than the {shown:,} in the"
            f" plan you confirmed; {_override(g)}.",
        )
    verdict = _thresholds(g)
    if verdict.allowed or g.approval is None:
        return verdict
    if g.deletions <= g.approval.max_count:
        return GuardVerdict(True)
    return GuardVerdict(
        False,
        WithheldReason.OVER_APPROVAL,
        f"Deletions withheld: this run would delete {_people(g.deletions)}, more than the"
        f" {g.approval.max_count:,} approved; {_override(g)}.",
    )


def _override(g: GuardInput) -> str:
    mode = " --full" if g.full else ""
    return f"review them in History or run `cio-desktop sync{mode} {ALLOW_FLAG} {g.deletions}`"


def _thresholds(g: GuardInput) -> GuardVerdict:
    """Rules 3 and 4: the floor, then the profile's limits and the audience baseline."""
    if g.deletions <= DELETION_GUARD_FLOOR:
        return GuardVerdict(True)
    if g.deletions > g.max_count:
        return GuardVerdict(
            False,
            WithheldReason.TOO_MANY,
            f"Deletions withheld: this run would delete {_people(g.deletions)}, more than the"
            f" {g.max_count:,} the profile allows in one run; {_override(g)}.",
        )
    created = max(g.created, g.deletions)
    share = 100.0 * g.deletions / created
    if share > g.percent:
        return GuardVerdict(
            False,
            WithheldReason.TOO_LARGE_SHARE,
            f"Deletions withheld: this run would delete {_people(g.deletions)}, {_pct(share)} of the"
            f" {created:,} created in Customer.io, more than the {_pct(g.percent)} the profile allows;"
            f" {_override(g)}.",
        )
    if g.audience is not None and g.previous_audience:
        shrank = g.previous_audience - g.audience
        shrank_pct = 100.0 * shrank / g.previous_audience
        if shrank > DELETION_GUARD_FLOOR and (shrank_pct > g.percent or shrank > g.max_count):
            return GuardVerdict(
                False,
                WithheldReason.AUDIENCE_SHRANK,
                f"Deletions withheld: the chosen segments hold {g.audience:,} people, {_pct(shrank_pct)} fewer"
                f" than the {g.previous_audience:,} of the last clean run, so {_people(g.deletions)} would be"
                f" deleted; check the segments in Hull, then {_override(g)}.",
            )
    return GuardVerdict(True)


__all__ = [
    "ALLOW_FLAG",
    "DELETION_GUARD_FLOOR",
    "DeletionApproval",
    "GuardInput",
    "GuardVerdict",
    "WithheldReason",
    "check_deletions",
]
