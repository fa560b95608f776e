"""The plan against the sandbox over loopback: `cio-desktop sync --plan` prints what a sync will do and
sends nothing; a confirmed plan is what the run then does, and a source changed since is caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.sandbox import Sandbox
from cio_desktop.sandbox.export import export_organization
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import open_services
from cio_desktop.sync.plan import PlanChanged, compute_plan, run_planned
from cio_desktop.sync.run_people import KEEP_RUN_PEOPLE_FOR_RUNS, Category
from cio_desktop.sync.runs import RunStatus
from tests.e2e.test_deletion_safety import Cli, people_in_cio

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    with Sandbox(users=300, seed=11) as sb:
        yield sb


def _secrets(sandbox: Sandbox, name: str) -> SecretStore:
    secrets = SecretStore.in_memory()
    for key, value in sandbox.credentials.secrets().items():
        secrets.set(name, SecretKey(key), value)
    return secrets


@dataclass
class Synced:
    """An export file the sandbox's organization was synced from once, and the people it put in Customer.io."""

    users: Path
    lines: list[bytes]
    cli: Cli
    before: set[str]

    def write_without(self, hull_ids: set[str]) -> None:
        """Rewrite the export without these users (they left the segments)."""
        self.users.write_bytes(b"".join(line for line in self.lines if json.loads(line)["id"] not in hull_ids))


def _synced(sandbox: Sandbox, tmp_path: Path) -> Synced:
    exported = export_organization(sandbox, tmp_path / "export", formats=("jsonl",))
    users = tmp_path / "users.jsonl"
    lines = exported["jsonl"].read_bytes().splitlines(keepends=True)
    users.write_bytes(b"".join(lines))
    cli = Cli(sandbox, users, tmp_path)
    assert cli.sync("--json")[0] == 0
    return Synced(users, lines, cli, people_in_cio(sandbox))


def test_sync_plan_prints_the_plan_and_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    w = _synced(sandbox, tmp_path)
    cli, before = w.cli, w.before
    gone = set(sorted(before)[:40])
    w.write_without(gone)
    requests_before = sandbox.cio_request_count()

    code, plan, _ = cli.sync("--plan", "--json")
    assert code == 0, plan
    assert plan["mode"] == "full" and plan["workspace"]["site_id"] == cli.profile.cio_site_id
    assert plan["people"]["delete"] == 40 and plan["people"]["unchanged"] == len(before) - 40
    assert plan["people"]["create"] == 0 and plan["people"]["update"] == 0
    assert "Confirming this plan approves exactly these deletions" in str(plan["deletion_guard"])
    assert people_in_cio(sandbox) == before and sandbox.cio_deletions() == [], "a plan deletes nobody"
    assert sandbox.cio_request_count() == requests_before, "not one Customer.io request"

    code, _, text = cli.sync("--plan")
    assert code == 0 and "40 people will be deleted" in text and "nothing has been sent" in text
    # The CLI itself stays non-interactive: a plain sync still waits for --allow-deletions.
    code, result, _ = cli.sync("--json")
    assert code == 3 and result["deletions_withheld"] == 40

    # History, in the CLI too, names the plans as plans (their stored mode stays "dry_run").
    runs = json.loads(_history(cli, "--json"))
    assert [(r["kind"], r["mode"], r["plan_of"]) for r in runs] == [
        ("Full sync", "full", None),
        ("Plan (full sync)", "dry_run", "full"),
        ("Plan (full sync)", "dry_run", "full"),
        ("Full sync", "full", None),
    ]
    assert runs[0]["status"] == "deletions_withheld" and runs[0]["deletions_withheld"] == 40
    text = _history(cli, "--limit", "2")
    assert "Plan (full sync)" in text and "Deletions withheld" in text and "Dry run" not in text
    assert plan["label"] == "Plan (full sync)"


def _history(cli: Cli, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "cio_desktop", "history", "--profile", cli.profile.name, *args],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_confirmed_plan_is_what_the_run_does_and_a_changed_file_is_planned_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    w = _synced(sandbox, tmp_path)
    cli, before = w.cli, w.before
    gone = set(sorted(before)[:30])
    w.write_without(gone)
    with open_services(cli.profile, _secrets(sandbox, cli.profile.name)) as services:
        plan = compute_plan(services.engine(), RunMode.FULL)
        assert plan.deletions == 30 and plan.region == "US"
        listed = {
            p.hull_id for p in services.ledger.iter_run_people(plan.run_id, category=plan.categories(Category.DELETE))
        }
        assert listed == gone

        more = set(sorted(before)[:31])  # the export is rewritten after the plan: one more left
        w.write_without(more)
        outcome = run_planned(services.engine(), plan)
        assert isinstance(outcome, PlanChanged) and "users.jsonl changed" in outcome.message
        assert sandbox.cio_deletions() == [], "a stale plan sends nothing"

        plan = compute_plan(services.engine(), RunMode.FULL)
        assert plan.deletions == 31
        outcome = run_planned(services.engine(), plan)
        assert not isinstance(outcome, PlanChanged)
        assert outcome.status is RunStatus.COMPLETED, outcome.message
    assert people_in_cio(sandbox) == before - more


def test_a_confirmed_plan_deletes_only_its_people_when_the_file_changed_unseen(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    w = _synced(sandbox, tmp_path)
    users, lines, cli, before = w.users, w.lines, w.cli, w.before
    by_id = {json.loads(line)["id"]: line for line in lines}
    ordered = sorted(before)
    planned = set(ordered[:3])
    w.write_without(planned)
    with open_services(cli.profile, _secrets(sandbox, cli.profile.name)) as services:
        plan = compute_plan(services.engine(), RunMode.FULL)
        assert plan.deletions == 3

        # After the plan the file is rewritten to the same size and modification time (a copy that
        # keeps timestamps): one planned person is back, another left. Still 3 deletions, not the 3 shown.
        back = ordered[0]
        gone = next(h for h in ordered[3:] if len(by_id[h]) >= len(by_id[back]))
        stat = users.stat()
        now_gone = (planned - {back}) | {gone}
        body = b"".join(line for line in lines if json.loads(line)["id"] not in now_gone)
        users.write_bytes(body + b" " * (stat.st_size - len(body) - 1) + b"\n")
        os.utime(users, ns=(stat.st_atime_ns, stat.st_mtime_ns))

        outcome = run_planned(services.engine(), plan)
        assert not isinstance(outcome, PlanChanged), "the stamp cannot tell: the plan's list must"
        assert outcome.status is RunStatus.DELETIONS_WITHHELD and outcome.withheld == 1
        assert "1 person who is not in the plan you confirmed" in outcome.message
        assert outcome.run_id is not None
        assert [w.hull_id for w in services.ledger.withheld_deletions(outcome.run_id)] == [gone]
    assert people_in_cio(sandbox) == before - (planned - {back}), "only people the plan listed were deleted"
    assert gone in people_in_cio(sandbox)


def test_a_plan_whose_list_is_no_longer_kept_is_planned_again(sandbox: Sandbox, tmp_path: Path) -> None:
    """Each run keeps the people lists of the last few runs only: after enough dry runs the confirmed
    plan's list would be gone, and its deletions could not be checked against it. Planned again."""
    w = _synced(sandbox, tmp_path)
    cli, before = w.cli, w.before
    gone = set(sorted(before)[:2])
    w.write_without(gone)
    with open_services(cli.profile, _secrets(sandbox, cli.profile.name)) as services:
        plan = compute_plan(services.engine(), RunMode.FULL)
        assert plan.deletions == 2
        for _ in range(KEEP_RUN_PEOPLE_FOR_RUNS - 1):
            services.engine().run(RunMode.DRY_RUN)
        outcome = run_planned(services.engine(), plan)
        assert isinstance(outcome, PlanChanged)
        assert "the list of people this plan would delete is no longer kept" in outcome.message
    assert sandbox.cio_deletions() == [] and people_in_cio(sandbox) == before


def test_the_plans_events_are_the_events_the_run_sends(sandbox: Sandbox) -> None:
    profile = sandbox.demo_profile("Events").replace(write_back=False)
    with open_services(profile, _secrets(sandbox, profile.name)) as services:
        plan = compute_plan(services.engine(), RunMode.FULL)
        outcome = run_planned(services.engine(), plan)
        assert not isinstance(outcome, PlanChanged) and outcome.status is RunStatus.COMPLETED
        # Hull's connector synced part of the demo organization before: those people are updates.
        assert outcome.people_sent == plan.count(Category.CREATE) + plan.count(Category.UPDATE) > 0
        assert plan.count(Category.CREATE) > 0
        assert outcome.events_sent == plan.events.get("event (sent)", 0) + plan.events.get("event (anonymous)", 0)
        assert outcome.events_sent > 0


def test_a_first_sync_into_a_workspace_with_people_shows_what_changes_for_them(sandbox: Sandbox) -> None:
    first = sandbox.demo_profile("First").replace(write_back=False, events=())
    with open_services(first, _secrets(sandbox, first.name)) as services:
        assert services.engine().run(RunMode.FULL).status is RunStatus.COMPLETED
    members = {u["id"]: u for seg in first.segment_ids for u in sandbox.users_in_segment(seg)}
    for hull_id in members:  # everyone is renamed in Hull since the first profile's sync
        sandbox.update_user(hull_id, {"name": f"Renamed {hull_id[-6:]}"})
    # A new profile (a new ledger) for the same workspace: its plan alone would call everyone "created".
    second = first.replace(name="Second")
    with open_services(second, _secrets(sandbox, second.name)) as services:
        assert services.app is not None
        plan = compute_plan(services.engine(), RunMode.FULL, app=services.app)
    assert plan.first_sync and plan.sampled == 50
    assert len(plan.existing) == 50, "everyone sampled is already in the workspace"
    for person in plan.existing:
        assert [(c.name, c.before is not None, c.after.startswith("Renamed ")) for c in person.changes] == [
            ("name", True, True)
        ], "only the name changes, from what the workspace holds to the new one"
        assert person.same > 0
    text = "\n".join(plan.lines())
    assert "50 of 50 people sampled from those to be created are already in the workspace: 50 would change" in text
    assert plan.to_dict()["already_in_workspace"]["sampled"] == 50
