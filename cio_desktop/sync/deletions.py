"""A run's deletion step: gather every deletion, ask the guard, then send them or withhold them all.

Deletions are found in two places: people the ledger knows who were not among the members of a full
run (:meth:`Ledger.known_not_seen`), and users read in the run whose own row says they left the
segments (held back while reading, :meth:`Ledger.defer_deletions`). Nothing is deleted while users
are still being read: only once the whole pass is over does the step count them (first pass),
ask :func:`~cio_desktop.sync.guard.check_deletions`, and then (second pass) either hand each delete to
the packer or record it with the run as withheld, for review and approval later.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from cio_desktop.hull.source import ReadReport
from cio_desktop.sync.guard import DeletionApproval, GuardInput, GuardVerdict, WithheldReason, check_deletions
from cio_desktop.sync.ledger import Ledger
from cio_desktop.sync.model import Action, Decision, MappingContext, Reason
from cio_desktop.sync.planner import plan_missing
from cio_desktop.sync.run_people import Category

WITHHELD_PREFIX = "withheld: "
NOT_IN_PLAN = "not in the plan you confirmed"
_RECORD_EVERY = 1000


def withheld_label(decision: Decision) -> str:
    """The count label of a deletion the guard held back: ``withheld: delete (left the segments)``."""
    return WITHHELD_PREFIX + decision.label


def defer_row(decision: Decision, *, known: bool) -> tuple[str, str, str, bool]:
    """A delete found while reading users, as the ledger holds it until the deletion step."""
    body = {"operations": list(decision.operations), "message": decision.message, "traits": decision.traits}
    return decision.customer_id or "", decision.hull_id, json.dumps(body), known


def _deferred_decision(cid: str, hid: str, text: str) -> Decision:
    body: dict[str, Any] = json.loads(text)
    return Decision(
        hull_id=hid,
        customer_id=cid,
        action=Action.DELETE,
        reason=Reason.LEFT_SEGMENTS,
        operations=tuple(body.get("operations") or ()),
        message=str(body.get("message") or ""),
        traits=dict(body.get("traits") or {}),
    )


@dataclass(frozen=True)
class DeletionOutcome:
    """What the step did: deletions handed on, deletions withheld and the guard's sentence."""

    allowed: int = 0
    withheld: int = 0
    verdict: GuardVerdict = field(default_factory=lambda: GuardVerdict(True))


class DeletionStep:
    """One run's deletions (see the module docstring). ``send`` takes an allowed delete decision,
    ``count`` a label for the run's counts, ``stopped`` says whether the run must stop now, ``record``
    (optional) takes each decision with who it concerns and, for a withheld one, its category."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        ctx: MappingContext,
        run_id: int | None,
        now: float,
        full: bool,
        read: ReadReport,
        audience: int | None,
        approval: DeletionApproval | None,
        dry: bool,
        send: Callable[[Decision], None],
        count: Callable[[str], None],
        stopped: Callable[[], bool],
        record: Callable[[Decision, str, Category | None], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.ctx = ctx
        self.run_id = run_id
        self.now = now
        self.full = full
        self.read = read
        self.audience = audience
        self.approval = approval
        self.dry = dry
        self.send = send
        self.count = count
        self.stopped = stopped
        self.record = record

    def _candidates(self) -> Iterator[tuple[Decision, bool]]:
        """(decision, known to the ledger) for everyone who may be deleted, deferred ones first."""
        for cid, hid, text, known in self.ledger.deferred_deletions():
            yield _deferred_decision(cid, hid, text), known
        if self.full:
            for person in self.ledger.known_not_seen():
                yield plan_missing(person, self.ctx, now=self.now), True

    def _covered(self, decision: Decision) -> bool:
        """Whether the decision's person is on the list the user approved: a run's withheld list, or
        the deletions a confirmed plan listed (the same person: Hull id and customer id)."""
        approval = self.approval
        if approval is None or approval.from_run is None:
            return False
        if approval.planned:
            return self.ledger.is_planned_deletion(approval.from_run, decision.hull_id, decision.customer_id or "")
        return self.ledger.is_withheld(approval.from_run, decision.customer_id or "")

    def run(self) -> DeletionOutcome | None:
        """Count, decide, then send or withhold. None when the run stopped meanwhile."""
        covered = uncovered = unknown = 0
        for decision, known in self._candidates():
            if self.stopped():
                return None
            if decision.action is not Action.DELETE:
                continue
            unknown += 0 if known else 1
            if self._covered(decision):
                covered += 1
            else:
                uncovered += 1
        if covered + uncovered == 0:
            return self._hand_on(GuardVerdict(True), GuardVerdict(True))
        profile = self.ctx.profile
        created = self.ledger.created_people_count() + unknown
        previous = self.ledger.last_clean_audience() if self.full else None

        def verdict(deletions: int, approval: DeletionApproval | None, *, outside_plan: bool = False) -> GuardVerdict:
            return check_deletions(
                GuardInput(
                    deletions=deletions,
                    created=created,
                    read=self.read,
                    percent=profile.deletion_guard_percent,
                    max_count=profile.deletion_guard_max,
                    audience=self.audience,
                    previous_audience=previous,
                    approval=approval,
                    full=self.full,
                    outside_plan=outside_plan,
                )
            )

        if self.approval is not None and self.approval.planned and self.approval.from_run is not None:
            # A confirmed plan: its people go (at most as many as it showed); nobody else is approved.
            listed = verdict(covered, self.approval)
            others = verdict(uncovered, self.approval, outside_plan=True)
        elif self.approval is not None and self.approval.from_run is not None:
            # People approved by name go (on a clean read); anyone else leaving meets the guard alone.
            listed = verdict(covered, DeletionApproval(covered))
            others = verdict(uncovered, None)
        else:
            listed = others = verdict(covered + uncovered, self.approval)
        return self._hand_on(listed, others)

    def _hand_on(self, listed: GuardVerdict, others: GuardVerdict) -> DeletionOutcome | None:
        """Second pass: send what the verdicts allow; count (and, where it can be approved, list)
        what they withhold."""
        shown = listed if not listed.allowed else others
        # An incomplete read cannot be approved, and a dry run's list would go stale: count only.
        keep_list = not self.dry and shown.reason is not WithheldReason.INCOMPLETE_READ
        allowed = withheld = 0
        pending: list[tuple[str, str]] = []
        for decision, _known in self._candidates():
            if self.stopped():
                return None
            if decision.action is not Action.DELETE:
                self.count(decision.label)
                self._note(decision, None)
                continue
            verdict = listed if self._covered(decision) else others
            if verdict.allowed:
                allowed += 1
                self.count(decision.label)
                self._note(decision, None)
                self.send(decision)
                continue
            withheld += 1
            self.count(withheld_label(decision))
            if verdict.reason is WithheldReason.NOT_IN_PLAN:
                # The run's list says why this one waits, not only why they would be deleted.
                why = f"not in the plan you confirmed ({decision.message})" if decision.message else NOT_IN_PLAN
                decision = replace(decision, message=why)
            self._note(decision, Category.WITHHELD)
            if keep_list:
                pending.append((decision.customer_id or "", decision.hull_id))
                if len(pending) >= _RECORD_EVERY:
                    self._record(pending)
        self._record(pending)
        return DeletionOutcome(allowed, withheld, shown)

    def _note(self, decision: Decision, category: Category | None) -> None:
        if self.record is not None:
            self.record(decision, f"(Hull id {decision.hull_id})" if decision.hull_id else "", category)

    def _record(self, pending: list[tuple[str, str]]) -> None:
        if pending and self.run_id is not None:
            self.ledger.record_withheld(self.run_id, pending)
        pending.clear()


__all__ = ["WITHHELD_PREFIX", "DeletionOutcome", "DeletionStep", "defer_row", "withheld_label"]
