"""Worker-side helpers of the plan confirmation and the run people lists (no Qt: they run on workers)."""

from __future__ import annotations

from collections.abc import Sequence

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.gui.backend import in_child
from cio_desktop.gui.workers import JobCancelled, JobContext
from cio_desktop.sync.plan import Plan
from cio_desktop.sync.run_people import Category, RunPerson
from cio_desktop.sync.summary import RunMode

# A list shows at most this many people; the search narrows it, the CSV export has them all.
PEOPLE_SHOWN = 10_000


def plan_sync(profile: Profile, secrets: SecretStore, secret_name: str, mode: RunMode, job: JobContext) -> Plan:
    """The plan of a run of ``mode`` (nothing is sent). Opened as for sending, so a missing Track key
    is said before the user is asked anything."""
    from cio_desktop.sync.child_run import Task

    try:
        plan: Plan = in_child(Task.PLAN, profile, secrets, secret_name, mode, job)
    except InterruptedError:
        raise JobCancelled() from None
    return plan


def list_run_people(
    profile_name: str,
    run_id: int,
    categories: Sequence[Category] | None,
    search: str | None,
    limit: int = PEOPLE_SHOWN,
) -> list[RunPerson]:
    """The first ``limit`` people of a run's list (of these categories, matching the search)."""
    from cio_desktop.sync.ledger import Ledger

    with Ledger.for_profile(profile_name) as ledger:
        return list(ledger.iter_run_people(run_id, category=categories, search=search, limit=limit))


def export_run_people(
    profile_name: str, run_id: int, path: str, categories: Sequence[Category] | None, search: str | None, *, dry: bool
) -> int:
    from cio_desktop.sync.ledger import Ledger
    from cio_desktop.sync.report import write_people_csv

    with Ledger.for_profile(profile_name) as ledger:
        return write_people_csv(ledger.iter_run_people(run_id, category=categories, search=search), path, dry=dry)
