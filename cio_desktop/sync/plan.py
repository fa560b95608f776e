"""The plan of a run: what a sync will do, computed before anything is sent.

A plan is a dry run of the mode the user asked for (full, or "sync changes"): the same reading,
fingerprints and decisions as the real run, from the ledger, without a single Customer.io request.
It is recorded as a dry run, and its people are listed in the ledger (:mod:`~cio_desktop.sync.run_people`),
so every number of the plan opens the list behind it without holding the audience in memory.

Confirming a plan is also the deletion guard's approval (:attr:`DeletionApproval.planned`): the run
deletes only people the plan listed, at most as many as it showed; anyone else it would now delete is
withheld for review ("not in the plan you confirmed"). A plan is made from a state of the source, the profile
and the ledger (:class:`SourceStamp`); :func:`run_planned` refuses to run a plan whose state changed
since (an export file rewritten, the segments' size moved, the settings edited, another run) and
says why, so the caller plans again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cio_desktop.config.profile import Region
from cio_desktop.sync.engine import SyncEngine
from cio_desktop.sync.guard import DeletionApproval, WithheldReason
from cio_desktop.sync.objects_step import OBJECT_DELETE_LABEL, OBJECTS_WITHHELD_PREFIX
from cio_desktop.sync.plan_sample import SAMPLE_SIZE, SHOWN_PEOPLE, Customers, ExistingPerson, sample_existing
from cio_desktop.sync.progress import Progress
from cio_desktop.sync.run_people import CATEGORY_TEXT, KEEP_RUN_PEOPLE_FOR_RUNS, Category
from cio_desktop.sync.runs import RunStatus
from cio_desktop.sync.summary import Problem, RunMode, RunSummary
from cio_desktop.sync.words import label_text, plan_text

log = logging.getLogger(__name__)

# Counts of the objects step (accounts as Customer.io objects), shown beside the people.
_OBJECT_LABELS = ("object ", "relationship ", "withheld: object")


# A merge is stored as an update (a run sends the new person's data too) under this decision label; the
# plan shows merges on a line of their own because the old Customer.io profile goes away.
MERGE_LABEL = "merge (customerId changed)"
MERGED_TEXT = "will be merged (their customerId changed: the old profile is folded into the new one)"


FIRST_SYNC_NOTE = (
    "First sync of this profile: people the workspace already holds under the same id are updated, not"
    " duplicated (counted here as created), and attributes they have that are not mapped stay as they are."
)


class PlanError(Exception):
    """The plan could not be made (the source or the ledger failed): the message says why, ``problem``
    what kind of problem it was (as a run's)."""

    def __init__(self, message: str, problem: Problem | None = None) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class SourceStamp:
    """The state a plan was made from: source files (name, size, modification time), the chosen
    segments' size, the profile's settings and the newest run that could have changed the ledger."""

    source: str
    files: tuple[tuple[str, int, int], ...]
    audience: int | None
    settings: str
    last_run: int | None


def source_stamp(engine: SyncEngine) -> SourceStamp:
    files = []
    for attr in ("users_path", "events_path"):
        path = getattr(engine.source, attr, None)
        if isinstance(path, Path):
            try:
                st = os.stat(path)
            except OSError:
                files.append((str(path), -1, -1))
            else:
                files.append((str(path), st.st_size, st.st_mtime_ns))
    try:
        audience = engine.source.count_users(engine.profile.segment_ids)
    except Exception:  # the count is only a hint here: the plan's read finds the real problem
        audience = None
    settings = hashlib.blake2b(
        json.dumps(engine.profile.to_dict(), sort_keys=True, default=str).encode(), digest_size=8
    ).hexdigest()
    last = engine.ledger.last_run(modes=(RunMode.FULL.value, RunMode.INCREMENTAL.value, RunMode.SINGLE.value))
    return SourceStamp(engine.source.describe(), tuple(files), audience, settings, last.id if last else None)


def stamp_change(old: SourceStamp, new: SourceStamp) -> str:
    """Why a plan made at ``old`` no longer holds at ``new``, in one sentence ("" when it still holds)."""
    if old.source != new.source:
        return f"the source is now {new.source}, not {old.source}"
    for (path, size, mtime), (_p, size2, mtime2) in zip(old.files, new.files, strict=False):
        if (size, mtime) != (size2, mtime2):
            return f"the file {Path(path).name} changed"
    if old.audience != new.audience:

        def n(v: int | None) -> str:
            return "an unknown number of" if v is None else f"{v:,}"

        return f"the chosen segments now hold {n(new.audience)} people, not {n(old.audience)}"
    if old.settings != new.settings:
        return "the profile's settings changed"
    if old.last_run != new.last_run:
        return "another sync ran since"
    return ""


@dataclass(frozen=True)
class Plan:
    """What a run of ``mode`` will do. ``people`` counts per :class:`Category` (deletions the guard
    would withhold but the user may approve are in DELETE; ``guard_note`` says what the guard thought);
    ``skipped`` and ``events`` count per decision label; ``run_id`` is the dry run listing the people;
    ``merged``: people whose customerId changed, counted apart from UPDATE (where the run lists them)."""

    mode: RunMode
    run_id: int
    site_id: str
    region: str
    source: str
    people: Mapping[Category, int]
    skipped: Mapping[str, int]
    events: Mapping[str, int]
    stamp: SourceStamp
    seconds: float
    guard_note: str = ""
    # Deletions the guard alone would withhold, counted in DELETE because confirming approves them.
    approves_withheld: bool = False
    warnings: tuple[str, ...] = ()
    unreadable: int = 0
    first_sync: bool = False
    # First sync, App API key set: how many to-be-created people were looked up, and those already there.
    sampled: int = 0
    existing: tuple[ExistingPerson, ...] = ()
    # Accounts as objects: objects and relationship changes per decision label (empty when off).
    objects: Mapping[str, int] = field(default_factory=dict)
    merged: int = 0

    def count(self, category: Category) -> int:
        return int(self.people.get(category, 0))

    @property
    def deletions(self) -> int:
        return self.count(Category.DELETE)

    @property
    def sends_anything(self) -> bool:
        sent = (Category.CREATE, Category.UPDATE, Category.DELETE)
        return (
            bool(self.merged)
            or any(self.count(c) for c in sent)
            or any(n for label, n in self.events.items() if label in ("event (sent)", "event (anonymous)"))
        )

    def categories(self, category: Category) -> tuple[Category, ...]:
        """The run-list categories behind one of the plan's numbers."""
        if category is Category.DELETE and self.approves_withheld:
            return (Category.DELETE, Category.WITHHELD)
        return (category,)

    def approval(self) -> DeletionApproval:
        """The deletion guard's approval this plan carries once confirmed: only the people its dry
        run listed as deletions, at most as many as it showed."""
        return DeletionApproval(
            self.deletions,
            from_run=self.run_id,
            planned=True,
            objects=int(self.objects.get(OBJECT_DELETE_LABEL, 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "label": plan_text(self.mode.value),
            "plan_run_id": self.run_id,
            "workspace": {"site_id": self.site_id, "region": self.region},
            "source": self.source,
            "people": {**{c.value: self.count(c) for c in Category}, "merge": self.merged},
            "skipped_by_reason": {label_text(k): v for k, v in sorted(self.skipped.items())},
            "events": {label_text(k): v for k, v in sorted(self.events.items())},
            "objects": {label_text(k, planned=True): v for k, v in sorted(self.objects.items())},
            "deletion_guard": self.guard_note,
            "warnings": list(self.warnings),
            "unreadable_records": self.unreadable,
            "first_sync": self.first_sync,
            "already_in_workspace": {
                "sampled": self.sampled,
                "people": [
                    {
                        "customer_id": p.customer_id,
                        "changes": [{"attribute": c.name, "before": c.before, "after": c.after} for c in p.changes],
                        "same": p.same,
                        "not_mapped_kept": p.untouched,
                    }
                    for p in self.existing
                ],
            },
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The plan as plain lines (the CLI's text and the confirmation's summary say the same)."""
        out = [
            f"{plan_text(self.mode.value)} into Customer.io workspace {self.site_id or '(no site id)'} ({self.region})",
            f"from {self.source}; nothing has been sent.",
        ]
        for cat in Category:
            if cat is Category.WITHHELD and not self.count(cat):
                continue
            what = (
                "will be " + CATEGORY_TEXT[cat]
                if cat not in (Category.UNCHANGED, Category.WITHHELD)
                else (
                    "unchanged (nothing to send)"
                    if cat is Category.UNCHANGED
                    else "deletions withheld (cannot be approved)"
                )
            )
            out.append(f"  {self.count(cat):>10,} {'person' if self.count(cat) == 1 else 'people'} {what}")
            if cat is Category.UPDATE and self.merged:
                out.append(f"  {self.merged:>10,} {'person' if self.merged == 1 else 'people'} {MERGED_TEXT}")
            if cat is Category.SKIP:
                for label, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
                    out.append(f"  {'':>10}   {n:,} {label_text(label)}")
        for label, n in sorted(self.events.items(), key=lambda kv: -kv[1]):
            out.append(f"  {n:>10,} {label_text(label, planned=True)}")
        for label, n in sorted(self.objects.items(), key=lambda kv: -kv[1]):
            out.append(f"  {n:>10,} {label_text(label, planned=True)}")
        if self.guard_note:
            out.append(self.guard_note)
        if self.first_sync:
            out.append(FIRST_SYNC_NOTE)
            out.extend(self.existing_lines())
        out.extend(self.warnings)
        return out

    def existing_lines(self) -> list[str]:
        """What the sample read back from Customer.io says (nothing without a sample)."""
        if not self.sampled:
            return []
        if not self.existing:
            return [f"None of {self.sampled:,} people sampled from those to be created is in the workspace yet."]
        n = len(self.existing)
        changed = [p for p in self.existing if p.changes]
        out = [
            f"{n:,} of {self.sampled:,} people sampled from those to be created are already in the workspace:"
            f" {len(changed):,} would change, {n - len(changed):,} stay as they are."
        ]
        out.extend("  " + p.describe() for p in changed[:SHOWN_PEOPLE])
        if len(changed) > SHOWN_PEOPLE:
            out.append(f"  and {len(changed) - SHOWN_PEOPLE:,} more who would change")
        return out


def workspace_region(engine: SyncEngine) -> str:
    region = engine.profile.cio_region
    if region is not Region.AUTO:
        return region.value.upper()
    if engine.track is not None:
        try:
            return engine.track.workspace_region().upper()
        except Exception as exc:  # the plan still shows; sending will say what is wrong
            log.info("region check failed: %s", exc)
    return "region detected when sending"


def compute_plan(
    engine: SyncEngine,
    mode: RunMode = RunMode.FULL,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    app: Customers | None = None,
) -> Plan:
    """Plan a run of ``mode`` (FULL or INCREMENTAL; DRY_RUN means FULL) without sending anything.
    ``app`` (the App API client) lets a first sync read a sample back from Customer.io.
    Raises :class:`PlanError` when the plan cannot be made, ``InterruptedError`` when cancelled."""
    mode = RunMode.FULL if mode is RunMode.DRY_RUN else RunMode(mode)
    started = time.monotonic()
    stamp = source_stamp(engine)
    # A new profile's ledger knows nobody: a sample shows what changes for people already there.
    first = engine.ledger.people_count(active_only=False) == 0
    lookup = first and app is not None and engine.profile.customer_id_attribute != "email"
    sample: list[tuple[str, dict[str, Any]]] | None = [] if lookup else None
    summary = engine.run(mode, on_progress=on_progress, cancel=cancel, dry=True, sample=sample, sample_size=SAMPLE_SIZE)
    if summary.run_id is not None:
        engine.ledger.mark_plan(summary.run_id, mode.value)  # History names it "Plan (...)", not "Dry run"
    if summary.status is RunStatus.CANCELLED:
        raise InterruptedError("planning was cancelled")
    if summary.status is RunStatus.FAILED or summary.run_id is None:
        raise PlanError(summary.message or "The plan could not be made.", summary.problem)
    plan = _plan_from(engine, mode, summary, stamp, time.monotonic() - started)
    if sample and app is not None:
        try:
            existing = sample_existing(app, sample)
        except Exception as exc:  # the plan stands without its sample; say why
            log.info("reading the sample back from Customer.io failed: %s", exc)
            note = f"The sample of people already in the workspace could not be read from Customer.io ({exc})."
            return replace(plan, warnings=(*plan.warnings, note))
        plan = replace(plan, sampled=len(sample), existing=existing, seconds=time.monotonic() - started)
    return plan


def _plan_from(engine: SyncEngine, mode: RunMode, summary: RunSummary, stamp: SourceStamp, seconds: float) -> Plan:
    ledger = engine.ledger
    assert summary.run_id is not None
    people = ledger.run_people_counts(summary.run_id)
    record = ledger.run(summary.run_id)
    guard_note = ""
    approves = False
    # The people's sentence only: object deletions have their own lines, and confirming does not approve them.
    people_message = summary.message.split(OBJECTS_WITHHELD_PREFIX, 1)[0].strip()
    if people.get(Category.WITHHELD) and record is not None:
        if record.withheld_reason == WithheldReason.INCOMPLETE_READ.value:
            guard_note = people_message
        else:
            # Confirming this plan approves them: they count as deletions, with the guard's word.
            people[Category.DELETE] = people.get(Category.DELETE, 0) + people.pop(Category.WITHHELD)
            approves = True
            guard_note = (
                "The deletion guard would hold these deletions back on its own ("
                + people_message.removeprefix("Deletions withheld: ").rstrip(".")
                + "). Confirming this plan approves exactly these deletions."
            )
    warnings = []
    if summary.bad_rows:
        warnings.append(
            f"{summary.bad_rows:,} unreadable {'record' if summary.bad_rows == 1 else 'records'} in the source"
            " will be skipped (see the plan's errors in History)."
        )
    events = {k: v for k, v in summary.counts.items() if k.startswith("event")}
    objects = {k: v for k, v in summary.counts.items() if k.startswith(_OBJECT_LABELS) and v}
    if summary.objects_withheld:
        warnings.append(
            summary.message[summary.message.index(OBJECTS_WITHHELD_PREFIX) :]
            + " Confirming this plan does not approve them."
            if OBJECTS_WITHHELD_PREFIX in summary.message
            else f"{summary.objects_withheld:,} account object deletions would be withheld."
        )
    first_sync = ledger.people_count(active_only=False) == 0 and bool(people.get(Category.CREATE))
    merged = ledger.run_people_reasons(summary.run_id, Category.UPDATE).get(MERGE_LABEL, 0)
    if merged:
        people[Category.UPDATE] -= merged
    return Plan(
        mode=mode,
        run_id=summary.run_id,
        site_id=engine.profile.cio_site_id,
        region=workspace_region(engine),
        source=stamp.source,
        people=MappingProxyType(people),
        skipped=MappingProxyType(ledger.run_people_reasons(summary.run_id, Category.SKIP)),
        events=MappingProxyType(events),
        objects=MappingProxyType(objects),
        stamp=stamp,
        seconds=seconds,
        guard_note=guard_note,
        approves_withheld=approves,
        warnings=tuple(warnings),
        unreadable=summary.bad_rows,
        first_sync=first_sync,
        merged=merged,
    )


@dataclass(frozen=True)
class PlanChanged:
    """A confirmed plan that no longer holds: nothing was sent; plan again. ``reason`` says why."""

    reason: str

    @property
    def message(self) -> str:
        return f"Nothing was sent: {self.reason} since the plan was made. Planning again."


def _list_gone(engine: SyncEngine, plan: Plan) -> str:
    """Why the plan's list of people will not be there for the run to check its deletions against
    ("" when it will): each run keeps the lists of the last few runs only, its own included."""
    if plan.count(Category.DELETE) == 0:
        return ""
    newest = engine.ledger.runs(limit=1)
    next_id = (newest[0].id if newest else plan.run_id) + 1
    if plan.run_id > next_id - KEEP_RUN_PEOPLE_FOR_RUNS:
        return ""
    return "other plans or dry runs were made since, so the list of people this plan would delete is no longer kept"


def run_planned(
    engine: SyncEngine,
    plan: Plan,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunSummary | PlanChanged:
    """Run the sync ``plan`` describes, bounded by it (deletions at most the plan's), or refuse
    without sending when the source, the settings or the ledger changed since the plan."""
    change = stamp_change(plan.stamp, source_stamp(engine)) or _list_gone(engine, plan)
    if change:
        return PlanChanged(change)
    return engine.run(plan.mode, on_progress=on_progress, on_log=on_log, cancel=cancel, allow_deletions=plan.approval())


__all__ = [
    "MERGED_TEXT",
    "MERGE_LABEL",
    "Plan",
    "PlanChanged",
    "PlanError",
    "SourceStamp",
    "compute_plan",
    "run_planned",
    "source_stamp",
    "stamp_change",
]
