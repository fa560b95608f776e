"""A stored run in words, one source for History's row, tooltip and details and ``cio-desktop history``
(text and ``--json``), so the window and the CLI say the same thing about the same run (pure, Qt-free).

A dry run, and a plan (the dry run behind a sync's confirmation), sent nothing: every count of theirs
reads as planned ("would send 73", "would create 16 account objects"), never as if it had happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from cio_desktop.sync.deletions import WITHHELD_PREFIX
from cio_desktop.sync.runs import RunRecord, RunStatus
from cio_desktop.sync.words import is_unchanged, label_text, planned_count_text, run_kind_text


def is_planned(run: RunRecord) -> bool:
    """Whether the run only planned (a dry run or a plan): it sent nothing."""
    return run.mode == "dry_run"


def totals(
    counts: Mapping[str, int],
    failed: int,
    people_sent: int | None,
    withheld: int,
    *,
    objects_sent: int | None = None,
    relationships_sent: int | None = None,
) -> dict[str, int]:
    """What the Sync page and History both show of a run (one function, the run record's numbers):
    sent is what Customer.io accepted (runs older than that record: what was planned, less failures);
    ``planned`` the people operations the run decided on (what a dry run would have sent). Accounts as
    objects: ``objects`` / ``relationships`` are what Customer.io accepted (0 when not recorded), and
    ``objects_planned`` / ``relationships_planned`` what the run decided on: objects identified or deleted,
    relationship changes (one per person, a move too: the unit of ``relationships``)."""
    planned = unchanged = skipped = objects = relationships = objects_withheld = 0
    for label, n in counts.items():
        if is_unchanged(label):
            unchanged += n
        elif label.startswith("skip"):
            skipped += n
        elif label.startswith(("identify", "delete", "merge")):
            planned += n
        elif label.startswith(("object identify", "object delete")):
            objects += n
        elif label.startswith("relationship ("):
            relationships += n
        elif label.startswith("withheld: object"):
            objects_withheld += n
    sent = people_sent if people_sent is not None else max(0, planned - failed)
    return {
        "sent": sent,
        "planned": planned,
        "unchanged": unchanged,
        "skipped": skipped,
        "failed": failed,
        "withheld": withheld,
        "objects": objects_sent or 0,
        "relationships": relationships_sent or 0,
        "objects_planned": objects,
        "relationships_planned": relationships,
        "objects_withheld": objects_withheld,
    }


def run_totals(run: RunRecord) -> dict[str, int]:
    """Sent / unchanged / skipped / failed people of a stored run, deletions withheld, and the object
    and relationship changes of accounts sent as objects (accepted, and decided)."""
    return totals(
        run.counts,
        run.failed,
        run.people_sent,
        run.withheld,
        objects_sent=run.objects_sent,
        relationships_sent=run.relationships_sent,
    )


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _has_accounts(run: RunRecord) -> bool:
    """Whether the run decided on or sent any account object or relationship."""
    t = run_totals(run)
    return bool(t["objects"] or t["relationships"] or t["objects_planned"] or t["relationships_planned"])


def accepted_text(run: RunRecord) -> str:
    """What Customer.io accepted in a run that sent, from its record: "Customer.io accepted 19,000
    people, 120 events, 2 account objects and 4 relationships." Empty for a plan (it sent nothing)."""
    if is_planned(run):
        return ""
    parts = []
    if run.people_sent is not None:
        parts.append(_plural(run.people_sent, "person", "people"))
    if run.events_sent is not None:
        parts.append(_plural(run.events_sent, "event", "events"))
    accounts = _has_accounts(run)
    unknown = ""
    if accounts and run.objects_sent is not None and run.relationships_sent is not None:
        parts.append(_plural(run.objects_sent, "account object", "account objects"))
        parts.append(_plural(run.relationships_sent, "relationship", "relationships"))
    elif accounts:
        # Runs recorded before the accepted accounts were: only what the run decided is known.
        unknown = "How many account objects and relationships Customer.io accepted was not recorded for this run."
    said = ""
    if parts:
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        said = f"Customer.io accepted {listed}."
    return " ".join(p for p in (said, unknown) if p)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds) // 60} min {int(seconds) % 60:02d} s"


# ---------------------------------------------------------------------- History's columns
def _count(run: RunRecord, key: str, verb: str) -> str:
    """A count cell: "1,234"; of a plan "would <verb> 1,234"."""
    n = run_totals(run)[key]
    return f"would {verb} {n:,}" if is_planned(run) else f"{n:,}"


def _accounts(run: RunRecord, key: str) -> str:
    """The Objects or Relationships cell: what Customer.io accepted ("—" when the record does not say);
    of a plan what it would send. Empty when the run had nothing to do with accounts."""
    t = run_totals(run)
    if is_planned(run):
        planned = t[f"{key}_planned"]
        return f"would send {planned:,}" if planned else ""
    if not _has_accounts(run):
        return ""
    stored = run.objects_sent if key == "objects" else run.relationships_sent
    return "—" if stored is None else f"{stored:,}"


def _sent(run: RunRecord) -> str:
    t = run_totals(run)
    return f"would send {t['planned']:,}" if is_planned(run) else f"{t['sent']:,}"


def _failed(run: RunRecord) -> str:
    # A plan sends nothing, so nothing of it can fail: a 0 would read as a clean send.
    return "—" if is_planned(run) else f"{run.failed:,}"


def withheld_text(run: RunRecord) -> str:
    """History's Withheld cell: people, and account objects when the run held any back."""
    objects = run_totals(run)["objects_withheld"]
    parts = [f"{run.withheld:,}"] if run.withheld else []
    if objects:
        parts.append(f"{objects:,} object{'' if objects == 1 else 's'}")
    if not parts:
        return ""
    return ("would hold back " if is_planned(run) else "") + " + ".join(parts)


# (title, JSON key, text, right-aligned): History's columns, and ``display`` in ``history --json``.
COLUMNS: tuple[tuple[str, str, Callable[[RunRecord], str], bool], ...] = (
    ("Run", "run", lambda r: str(r.id), True),
    ("Started", "started", lambda r: time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started_at)), False),
    ("Mode", "mode", lambda r: run_kind_text(r.mode, r.plan_of), False),
    ("Status", "status", lambda r: r.status_text, False),
    ("Sent", "sent", _sent, True),
    ("Unchanged", "unchanged", lambda r: _count(r, "unchanged", "leave"), True),
    ("Skipped", "skipped", lambda r: _count(r, "skipped", "skip"), True),
    ("Failed", "failed", _failed, True),
    ("Withheld", "withheld", withheld_text, True),
    ("Objects", "objects", lambda r: _accounts(r, "objects"), True),
    ("Relationships", "relationships", lambda r: _accounts(r, "relationships"), True),
    ("Duration", "duration", lambda r: duration_text(r.duration_s), False),
)


def run_cells(run: RunRecord) -> dict[str, str]:
    """The run's History row, by JSON key: {"mode": "Plan (full sync)", "sent": "would send 73", ...}."""
    return {key: text(run) for _title, key, text, _right in COLUMNS}


# ---------------------------------------------------------------------- tooltip and details
# People created, updated, deleted; not sent; accounts; relationships; events (a prefix each, in order).
_ORDER = (
    "identify (new)",
    "identify",
    "merge",
    "delete",
    WITHHELD_PREFIX + "delete",
    "skip",
    "object identify (new)",
    "object",
    WITHHELD_PREFIX + "object",
    "relationship (",
    "relationship",
    "event (",
    "event",
)


def _order(item: tuple[str, int]) -> tuple[int, int, str]:
    label, n = item
    rank = next((i for i, prefix in enumerate(_ORDER) if label.startswith(prefix)), len(_ORDER))
    return rank, -n, label


def count_lines(run: RunRecord) -> list[str]:
    """Each decision of the run with its count; a plan's as what it would do ("would create 16 account
    objects"). History's tooltip, and ``decisions`` in ``history --json``."""
    ordered = sorted(run.counts.items(), key=_order)
    if is_planned(run):
        return [planned_count_text(label, n) for label, n in ordered if n]
    return [f"{label_text(label)}: {n:,}" for label, n in ordered if n]


# Runs that stopped before the end: their decisions are more than what reached Customer.io.
_STOPPED = frozenset({RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.INTERRUPTED})


def run_tooltip(run: RunRecord) -> str:
    """History's tooltip of a run: what Customer.io accepted (from the record), then each decision."""
    lines = count_lines(run)
    if is_planned(run):
        lines.insert(0, f"{run_kind_text(run.mode, run.plan_of)}: nothing was sent.")
    else:
        if lines and run.status in _STOPPED:
            lines.insert(0, "Decided before it stopped (not all of it reached Customer.io):")
        accepted = accepted_text(run)
        if accepted:
            lines.insert(0, accepted)
    if run.message:
        lines.append(run.message)
    return "\n".join(lines) or "No people handled."


PROBLEM_TEXT: Mapping[str, str] = {
    "credentials": "the credentials were refused",
    "configuration": "the profile cannot work as set up",
    "busy": "another sync of this profile was running",
    "source": "reading Hull (or the export file) failed",
    "service": "Customer.io kept failing",
    "not_found": "the person was not found",
    "internal": "an unexpected error",
}


def run_outcome_text(run: RunRecord) -> str:
    """A stored run's outcome in words: its status and the message the Sync page and CLI showed; a
    failed run says what the problem was; a plan says it sent nothing and what it would have done."""
    if run.status is RunStatus.FAILED and run.problem:
        why = PROBLEM_TEXT.get(run.problem, run.problem)
        text = f"Failed because {why}: {run.message}" if run.message else f"Failed because {why}."
        if is_planned(run):
            return f"{text.rstrip('.')}. Nothing was sent."
        return " ".join(p for p in (_sentence_end(text), accepted_text(run)) if p)
    head = f"{run.status_text}."
    if run.message:
        head = run.message if run.message.startswith(run.status_text) else f"{run.status_text}: {run.message}"
    if not is_planned(run):
        return " ".join(p for p in (_sentence_end(head), accepted_text(run)) if p)
    planned = "; ".join(count_lines(run))
    return f"{head.rstrip('.')}. Nothing was sent" + (f": {planned}." if planned else ".")


def _sentence_end(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


__all__ = [
    "COLUMNS",
    "PROBLEM_TEXT",
    "accepted_text",
    "count_lines",
    "duration_text",
    "is_planned",
    "run_cells",
    "run_outcome_text",
    "run_tooltip",
    "run_totals",
    "totals",
    "withheld_text",
]
