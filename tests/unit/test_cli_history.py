"""``cio-desktop history`` through cli.main (in-process, isolated folders): plans named as plans, and
clear answers when there is nothing to show."""

from __future__ import annotations

import json

import pytest

from cio_desktop.cli import main
from cio_desktop.config.profile import Profile
from cio_desktop.config.store import ProfileStore
from cio_desktop.sync.ledger import Ledger, RunStatus, ledger_path
from cio_desktop.sync.words import run_kind_text


def test_each_kind_of_run_has_its_name_and_an_unknown_mode_stays_as_stored() -> None:
    assert [run_kind_text(m) for m in ("full", "incremental", "dry_run", "single", "someday")] == [
        "Full sync",
        "Sync changes",
        "Dry run",
        "One person",
        "someday",
    ]
    assert run_kind_text("dry_run", "incremental") == "Plan (sync changes)"


def test_history_lists_runs_newest_first_with_plans_named(capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="acme"))
    with Ledger.for_profile("acme") as ledger:
        for plan_of in (None, "incremental"):
            rid = ledger.start_run("dry_run")
            ledger.finish_run(rid, RunStatus.COMPLETED, counts={}, failed=0)
            if plan_of:
                ledger.mark_plan(rid, plan_of)
    assert main(["history", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["kind"], r["mode"]) for r in runs] == [
        (2, "Plan (sync changes)", "dry_run"),
        (1, "Dry run", "dry_run"),
    ]
    assert main(["history", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "Plan (sync changes)" in out and "Completed" in out and "Dry run" not in out


def test_history_of_a_profile_that_never_ran_says_so_and_creates_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="acme"))
    assert main(["history", "--profile", "acme"]) == 0
    assert capsys.readouterr().out.strip() == "No runs yet for profile acme."
    assert not ledger_path("acme").exists()


def test_history_without_a_profile_or_with_a_bad_limit_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history"]) == 2
    assert "Choose a profile with --profile" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["history", "--limit", "0"])
    assert exit_info.value.code == 2 and "must be 1 or more" in capsys.readouterr().err
