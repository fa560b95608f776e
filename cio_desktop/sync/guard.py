"""The deletion guard: whether a run may delete the people it found to delete (pure).

Deleting a person from Customer.io cannot be undone (their activity history goes with them), so a
run deletes only on complete, clean input and within limits a marketer set:

1. Nothing to delete: nothing to withhold.
2. The users pass that found the deletions was not complete and clean (an unreadable row, a cut-off
   compressed file): every person on an unreadable row looks as if they had left the segments, so
   nobody is deleted. No approval overrides this: the fix is a readable file.
3. An approval (``--allow-deletions N``, or the app's confirmation) lets through at most N deletions;
   a run that would delete more is withheld whole (it never picks which N).
4. At most ``DELETION_GUARD_FLOOR`` deletions never trip the guard (everyday churn).
5. More than ``profile.deletion_guard_max`` deletions, more than ``profile.deletion_guard_percent``
   of the people known to have been created (by this tool, or by Hull's hosted connector per its
   ``customerio/created_at`` trait), or an audience that shrank by more than that share (or that
   many people) since the last clean run: withheld until approved.

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


@dataclass(frozen=True)
class DeletionApproval:
    """A user's consent to delete past the guard: at most ``max_count`` people and, when
    ``customer_ids`` is given (approving a list shown in History), only those people."""

    max_count: int
    customer_ids: frozenset[str] | None = None


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
    override = f"review them in History or run `cio-desktop sync --full {ALLOW_FLAG} {g.deletions}`"
    if g.approval is not None:
        if g.deletions <= g.approval.max_count:
            return GuardVerdict(True)
        return GuardVerdict(
            False,
            WithheldReason.OVER_APPROVAL,
            f"Deletions withheld: this run would delete {_people(g.deletions)}, more than the"
            f" {g.approval.max_count:,} approved; {override}.",
        )
    if g.deletions <= DELETION_GUARD_FLOOR:
        return GuardVerdict(True)
    if g.deletions > g.max_count:
        return GuardVerdict(
            False,
            WithheldReason.TOO_MANY,
            f"Deletions withheld: this run would delete {_people(g.deletions)}, more than the"
            f" {g.max_count:,} the profile allows in one run; {override}.",
        )
    created = max(g.created, g.deletions)
    share = 100.0 * g.deletions / created
    if share > g.percent:
        return GuardVerdict(
            False,
            WithheldReason.TOO_LARGE_SHARE,
            f"Deletions withheld: this run would delete {_people(g.deletions)}, {_pct(share)} of the"
            f" {created:,} created in Customer.io, more than the {_pct(g.percent)} the profile allows;"
            f" {override}.",
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
                f" deleted; check the segments in Hull, then {override}.",
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
