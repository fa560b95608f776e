"""`cio-desktop history`: a profile's runs, newest first, as History shows them (plans named as plans)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cio_desktop.commands.common import EXIT_CONFIG, EXIT_OK, Subparsers, err, load_profile
from cio_desktop.sync import run_text
from cio_desktop.sync.factory import ConfigurationError
from cio_desktop.sync.runs import LedgerError, RunRecord
from cio_desktop.sync.words import run_kind_text


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "history",
        help="list a profile's sync runs, plans and dry runs, newest first",
        description="List the runs of a profile as the app's History shows them, newest first.",
    )
    p.add_argument("--profile", metavar="P", help="profile name (default: the only profile, if there is one)")
    p.add_argument("--limit", type=_positive, default=20, metavar="N", help="how many runs (default 20)")
    p.add_argument("--json", action="store_true", help="one JSON array, one object per run")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def run_dict(run: RunRecord) -> dict[str, Any]:
    """One run for --json: the stored fields as they are, plus the words History shows for it: ``kind``,
    ``planned`` (a plan or dry run: it sent nothing), ``display`` (History's row, by column),
    ``decisions`` (its tooltip's decision lines), ``accepted`` (what Customer.io accepted, in words) and
    ``outcome`` (its details line)."""
    return {
        "run_id": run.id,
        "mode": run.mode,
        "plan_of": run.plan_of,
        "kind": run_kind_text(run.mode, run.plan_of),
        "status": run.status.value,
        "status_text": run.status_text,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": None if run.duration_s is None else round(run.duration_s, 3),
        "counts": dict(run.counts),
        "failed": run.failed,
        "people_sent": run.people_sent,
        "events_sent": run.events_sent,
        # Accounts as objects, as Customer.io accepted them (null: not recorded for this run).
        "objects_sent": run.objects_sent,
        "relationships_sent": run.relationships_sent,
        "unreadable_records": run.unreadable,
        "deletions_withheld": run.withheld,
        "withheld_reason": run.withheld_reason,
        "problem": run.problem,
        "message": run.message,
        "planned": run_text.is_planned(run),
        "display": run_text.run_cells(run),
        "decisions": run_text.count_lines(run),
        "accepted": run_text.accepted_text(run),
        "outcome": run_text.run_outcome_text(run),
    }


def _line(run: RunRecord) -> str:
    """The run as History's row reads (same words, same cells), then its outcome as History's details."""
    c = run_text.run_cells(run)
    sent = c["sent"] if run_text.is_planned(run) else f"{c['sent']} sent"
    text = f"#{run.id:<5} {c['started']}  {c['mode']:<20} {c['status']:<24} {sent}"
    return text.rstrip() + f"\n       {run_text.run_outcome_text(run)}"


def run(args: argparse.Namespace) -> int:
    from cio_desktop.sync.ledger import Ledger, ledger_path

    try:
        profile = load_profile(args.profile)
    except ConfigurationError as exc:
        err(str(exc))
        return EXIT_CONFIG
    runs: list[RunRecord] = []
    if ledger_path(profile.name).exists():  # no sync yet: do not create a ledger just to look at it
        try:
            with Ledger.for_profile(profile.name) as ledger:
                runs = ledger.runs(args.limit)
        except LedgerError as exc:
            err(str(exc))
            return EXIT_CONFIG
    if args.json:
        json.dump([run_dict(r) for r in runs], sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not runs:
        print(f"No runs yet for profile {profile.name}.")
    else:
        for r in runs:
            print(_line(r))
    return EXIT_OK
