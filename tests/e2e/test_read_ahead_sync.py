"""A plan and a run whose export file is read in a reading process (sync/read_ahead.py), against the
sandbox over loopback: the same plan, person by person, as the run's own read, and a run that does
what that plan said and stores the fingerprints the run's own read finds again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.profile import ObjectSettings
from cio_desktop.parallel import WORKERS_ENV
from cio_desktop.sandbox import Sandbox
from cio_desktop.sync import read_ahead, run_users
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import open_services
from cio_desktop.sync.plan import Plan, PlanChanged, compute_plan, run_planned
from cio_desktop.sync.run_people import Category
from cio_desktop.sync.runs import RunStatus
from tests.e2e.test_deletion_safety import people_in_cio
from tests.e2e.test_sync_plan import Synced, _secrets, _synced
from tests.e2e.test_sync_plan import sandbox as sandbox  # the fixture

pytestmark = pytest.mark.e2e


def _iso(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


def _rewrite(w: Synced, gone: set[str], changed: set[str], *, bad: bool) -> None:
    """The next export: ``gone`` left, ``changed`` have a new name (updated an hour ago), perhaps a bad row."""
    out = []
    for line in w.lines:
        user: dict[str, Any] = json.loads(line)
        if user["id"] in gone:
            continue
        if user["id"] in changed:
            user["name"] = f"Renamed {user['id'][-4:]}"
            user["updated_at"] = _iso(3600)
            line = json.dumps(user).encode() + b"\n"
        out.append(line)
    if bad:
        out.insert(7, b'{"id": "broken\n')
    w.users.write_bytes(b"".join(out))


@pytest.fixture
def reading(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Reading processes for files of any size; the list grows by one per pass that used them: 2 when
    they decided the pages too (a plan), 1 when they only read (a run)."""
    monkeypatch.setattr(read_ahead, "PROCESS_MIN_BYTES", 1)
    used: list[int] = []
    real = run_users.digest_pages

    def counted(*args: Any, **kwargs: Any) -> Any:
        used.append(2 if kwargs.get("decide") is not None else 1)  # 2: the reading processes decide too
        return real(*args, **kwargs)

    monkeypatch.setattr(run_users, "digest_pages", counted)
    yield used


@pytest.mark.parametrize("objects", [True, False], ids=["accounts-as-objects", "people-only"])
def test_a_plan_and_a_run_read_in_a_reading_process_are_the_runs_own(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: list[int], objects: bool
) -> None:
    w = _synced(sandbox, tmp_path)
    if not objects:  # the reading processes then decide a plan's pages too (decide_page, as the run)
        w.cli.profile = w.cli.profile.replace(objects=ObjectSettings())
    assert w.cli.profile.objects.enabled is objects
    plan_mode = 1 if objects else 2
    ordered = sorted(w.before)
    gone, changed = set(ordered[:4]), set(ordered[10:16])
    _rewrite(w, gone, changed, bad=True)
    secrets = _secrets(sandbox, w.cli.profile.name)

    def plan_with(workers: str) -> tuple[Plan, list[tuple[Any, ...]]]:
        monkeypatch.setenv(WORKERS_ENV, workers)
        with open_services(w.cli.profile, secrets) as services:
            plan = compute_plan(services.engine(), RunMode.FULL)
            people = services.ledger.iter_run_people(plan.run_id)
            rows = sorted((p.hull_id, p.customer_id, p.category, p.decision, p.reason, p.who) for p in people)
        return plan, rows

    own, own_rows = plan_with("0")
    assert reading == [], "CIO_DESKTOP_WORKERS=0 reads in the run's own process"
    ahead, ahead_rows = plan_with("1")
    assert reading == [plan_mode]
    assert dict(ahead.people) == dict(own.people) and dict(ahead.skipped) == dict(own.skipped)
    assert ahead.unreadable == own.unreadable == 1
    assert ahead_rows == own_rows, "person by person, decision and reason"
    ranges, ranges_rows = plan_with("3")  # three reading processes, each a third of the file
    assert reading == [plan_mode] * 2
    assert dict(ranges.people) == dict(own.people) and ranges_rows == own_rows and ranges.unreadable == 1
    # A bad row: nobody is deleted on doubt, whoever reads the file.
    assert ahead.people[Category.WITHHELD] == 4 and ahead.people[Category.UPDATE] == 6

    # Without the bad row, the run, reading ahead too, does what its plan said...
    _rewrite(w, gone, changed, bad=False)
    ahead, _rows = plan_with("1")
    assert ahead.people[Category.DELETE] == 4 and ahead.people[Category.UPDATE] == 6
    assert reading == [plan_mode] * 3
    with open_services(w.cli.profile, secrets) as services:
        outcome = run_planned(services.engine(), ahead)
    assert not isinstance(outcome, PlanChanged)
    # Without accounts as objects the run's pages are decided in the reading process too (what it sends
    # crosses the pipe packed); with them, the run decides itself.
    assert reading == [plan_mode] * 4, "the run reads ahead, as its plan did"
    assert outcome.status is RunStatus.COMPLETED, outcome.message
    assert people_in_cio(sandbox) == w.before - gone
    renamed = {str(a.get("hull_id")): a.get("name") for a in sandbox.cio_people().values()}
    assert {renamed[h] for h in changed} == {f"Renamed {h[-4:]}" for h in changed}

    # ... and stored the fingerprints the run's own read finds again: nobody to map, nothing to send.
    again, _rows = plan_with("0")
    assert again.people.get(Category.CREATE, 0) == again.people.get(Category.UPDATE, 0) == 0
    assert again.people[Category.UNCHANGED] == own.people[Category.UNCHANGED] + 6


def test_a_run_decided_in_a_reading_process_sends_what_the_runs_own_decisions_send_through_faults(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: list[int]
) -> None:
    # The export synced by the CLI, deciding in its own process (the file is small): what Customer.io holds.
    w = _synced(sandbox, tmp_path)
    own = sandbox.cio_people()
    assert len(own) == len(w.before) > 50
    # The same file into an empty workspace from a new profile (an empty ledger), decided in a reading
    # process, through 5xx, 429 and dropped connections, in small batches (many requests, many retries).
    sandbox.reset_cio()
    profile = w.cli.profile.replace(name="decided-ahead", objects=ObjectSettings())
    monkeypatch.setenv(WORKERS_ENV, "1")
    sandbox.set_faults("cio_track", rate_5xx=0.10, rate_429=0.05, drop_rate=0.05, seed=5)
    before = sandbox.request_counts()["cio_track"]
    try:
        with open_services(profile, _secrets(sandbox, profile.name)) as services:
            summary = services.engine(batch_max_ops=8).run(RunMode.FULL)
            assert reading == [2], "decided in the reading process"
            assert summary.status is RunStatus.COMPLETED and summary.failed == 0, summary.message
            assert sandbox.request_counts()["cio_track"] - before > summary.requests > 15, "faults did happen"
            sent = sum(p.sent for p in services.ledger.iter_run_people(summary.run_id))
            assert summary.people_sent == sent == len(own), "the run's list says who went out"
    finally:
        sandbox.set_faults("cio_track")
    assert sandbox.cio_people() == own, "person by person, attribute by attribute"
    # And it stored what the next run needs to know nobody changed: nothing to send.
    with open_services(profile, _secrets(sandbox, profile.name)) as services:
        again = services.engine().run(RunMode.FULL)
    assert again.requests == 0 and again.people_sent == 0
