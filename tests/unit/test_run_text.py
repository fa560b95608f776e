"""A stored run in words (sync/run_text.py, sync/words.py): a plan's counts read as planned, never as
sent; a run that sent reads as plain numbers; the words are the same for every reader."""

from __future__ import annotations

from types import MappingProxyType

from cio_desktop.sync import run_text
from cio_desktop.sync.plan import Plan, SourceStamp
from cio_desktop.sync.runs import RunRecord, RunStatus
from cio_desktop.sync.summary import RunMode
from cio_desktop.sync.words import planned_count_text

COUNTS = {
    "identify (new)": 46,
    "identify (changed)": 27,
    "skip: unchanged": 5,
    "skip: no email": 2,
    "object identify (new)": 16,
    "relationship (added)": 54,
    "event (sent)": 175,
    "event skip: user not synced": 107,
    "withheld: object delete (no member left)": 3,
}


def _run(
    mode: str = "dry_run", plan_of: str | None = "full", status: RunStatus = RunStatus.COMPLETED, **kw: object
) -> RunRecord:
    fields: dict[str, object] = {"counts": MappingProxyType(COUNTS), "people_sent": 0, "events_sent": 0}
    fields.update(kw)
    return RunRecord(7, mode, status, 0.0, 2.5, plan_of=plan_of, **fields)  # type: ignore[arg-type]


def test_every_count_cell_of_a_plan_reads_as_planned() -> None:
    cells = run_text.run_cells(_run())
    assert cells["mode"] == "Plan (full sync)"
    assert cells["sent"] == "would send 73" and cells["unchanged"] == "would leave 5"
    assert cells["skipped"] == "would skip 2" and cells["failed"] == "—"
    assert cells["objects"] == "would send 16" and cells["relationships"] == "would send 54"
    assert cells["withheld"] == "would hold back 3 objects"
    assert cells["run"] == "7" and cells["duration"] == "2.5 s"


def test_a_run_that_sent_shows_plain_numbers_and_empty_account_cells_when_it_did_none() -> None:
    cells = run_text.run_cells(_run("full", None, people_sent=70, failed=3, objects_sent=16, relationships_sent=54))
    assert (cells["mode"], cells["sent"], cells["failed"], cells["objects"]) == ("Full sync", "70", "3", "16")
    no_objects = _run("incremental", None, counts=MappingProxyType({"identify (new)": 1}), people_sent=1)
    assert run_text.run_cells(no_objects)["objects"] == "" and run_text.run_cells(no_objects)["mode"] == "Sync changes"


def test_a_plans_decisions_are_sentences_of_what_it_would_do_people_first_events_last() -> None:
    lines = run_text.count_lines(_run())
    assert lines == [
        "would create 46 people in Customer.io",
        "would update 27 people in Customer.io",
        "would leave 5 people unchanged: nothing to send",
        "would not send 2 people: this person has no email",
        "would create 16 account objects",
        "would hold back deleting 3 account objects (the deletion guard)",
        "would relate 54 people to their account",
        "would send 175 events",
        "would not send 107 events: this person is not synced",
    ]
    tooltip = run_text.run_tooltip(_run(plan_of=None))
    assert tooltip.startswith("Dry run: nothing was sent.\nwould create 46 people")


def test_a_plans_details_say_nothing_was_sent_and_what_it_would_have_done() -> None:
    text = run_text.run_outcome_text(_run())
    assert text.startswith("Completed. Nothing was sent: would create 46 people in Customer.io; would update 27")
    assert run_text.run_outcome_text(_run(counts=MappingProxyType({}))) == "Completed. Nothing was sent."
    assert run_text.run_outcome_text(_run("full", None, counts=MappingProxyType({}))) == (
        "Completed. Customer.io accepted 0 people and 0 events."
    )
    failed = _run(status=RunStatus.FAILED, problem="source", message="The users file is gone.")
    assert run_text.run_outcome_text(failed) == (
        "Failed because reading Hull (or the export file) failed: The users file is gone. Nothing was sent."
    )


def test_a_label_without_its_own_sentence_still_reads_as_planned() -> None:
    assert planned_count_text("skip: invalid", 1_200) == (
        "would not send 1,200 people: Customer.io would refuse the data (see the reason)"
    )
    assert planned_count_text("object skip: invalid", 2).startswith("would not send 2 account objects: ")
    assert planned_count_text("withheld: delete (left the segments)", 4) == (
        "would hold back deleting 4 people (the deletion guard)"
    )
    assert planned_count_text("something new", 3) == "something new: 3 (planned)"


def test_the_plan_printout_says_accounts_will_be_created_not_that_they_were() -> None:
    plan = Plan(
        RunMode.FULL,
        3,
        "site",
        "us",
        "users.jsonl",
        {},
        {},
        {},
        SourceStamp("users.jsonl", (), None, "", None),
        0.1,
        objects={"object identify (new)": 16, "relationship (added)": 54},
    )
    text = "\n".join(plan.lines())
    assert "16 account objects will be created in Customer.io" in text
    assert "54 people will be related to their account" in text
    assert plan.to_dict()["objects"] == {
        "account objects will be created in Customer.io": 16,
        "people will be related to their account": 54,
    }


def test_a_cancelled_runs_account_cells_tooltip_and_details_say_what_customerio_accepted_not_what_it_decided() -> None:
    run = _run(
        "full",
        None,
        RunStatus.CANCELLED,
        people_sent=73,
        events_sent=0,
        objects_sent=5,
        relationships_sent=0,
        message="Cancelled; the next run continues where this one stopped.",
    )
    cells = run_text.run_cells(run)
    assert (cells["objects"], cells["relationships"]) == ("5", "0"), "16 and 54 were only decided"
    accepted = "Customer.io accepted 73 people, 0 events, 5 account objects and 0 relationships."
    tooltip = run_text.run_tooltip(run).splitlines()
    assert tooltip[:2] == [accepted, "Decided before it stopped (not all of it reached Customer.io):"]
    assert run_text.run_outcome_text(run) == f"Cancelled; the next run continues where this one stopped. {accepted}"


def test_a_run_recorded_before_accepted_accounts_were_shows_a_dash_and_says_the_number_is_not_known() -> None:
    old = _run("full", None, people_sent=73, events_sent=175)
    cells = run_text.run_cells(old)
    assert (cells["objects"], cells["relationships"]) == ("—", "—")
    assert run_text.accepted_text(old) == (
        "Customer.io accepted 73 people and 175 events. How many account objects and relationships"
        " Customer.io accepted was not recorded for this run."
    )
    no_accounts = _run("full", None, counts=MappingProxyType({"identify (new)": 1}), people_sent=1, events_sent=None)
    assert run_text.run_cells(no_accounts)["objects"] == "" and run_text.accepted_text(no_accounts) == (
        "Customer.io accepted 1 person."
    )
