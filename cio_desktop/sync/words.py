"""Decision labels in words a marketer reads: the ledger keeps the short machine labels a run counts
under ("skip: unchanged", "event skip: user not synced"), every page and the CLI show these (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from cio_desktop.sync.deletions import WITHHELD_PREFIX

_EXACT: Mapping[str, str] = {
    "skip: unchanged": "unchanged: nothing to send",
    "skip: no customerId": "not sent: this person has no customerId",
    "skip: no email": "not sent: this person has no email",
    "skip: not in segments": "not sent: not in the chosen segments",
    "skip: invalid": "not sent: Customer.io would refuse the data (see the reason)",
    "identify (new)": "created in Customer.io",
    "identify (changed)": "updated in Customer.io",
    "identify (customerId changed)": "updated under a new customerId",
    "identify (unchanged)": "sent again on request (unchanged)",
    "skip: left the segments": "not sent: left the chosen segments",
    "delete (no customerId)": "deleted from Customer.io: no customerId any more",
    "merge (customerId changed)": "merged into the new customerId",
    "delete (left the segments)": "deleted from Customer.io: left the chosen segments",
    "event (sent)": "event sent",
    "event (anonymous)": "event sent anonymously",
    "event skip: not whitelisted": "event not sent: not one of the chosen events",
    "event skip: user not synced": "event not sent: this person is not synced",
    "event skip: no identity": "event not sent: this person has neither a customerId nor an anonymous id",
    "event skip: already sent": "event not sent: already sent before",
    "event skip: before checkpoint": "event not sent: older than the last sync's events",
    "event skip: invalid": "event not sent: Customer.io would refuse it",
    # Accounts as Customer.io objects (sync/objects_step.py)
    "object identify (new)": "account objects created in Customer.io",
    "object identify (changed)": "account objects updated in Customer.io",
    "object unchanged": "account objects unchanged: nothing to send",
    "object skip: invalid": "account objects not sent: Customer.io would refuse the data (see the reason)",
    "object delete (no member left)": "account objects deleted: none of their people is sent any more",
    "relationship (added)": "people related to their account",
    "relationship (moved to another account)": "people moved to their new account",
    "relationship (removed: no account)": "people no longer related to an account (they have none now)",
    "relationship unchanged": "relationships unchanged: nothing to send",
    "relationship waiting: account not in Customer.io": "relationships waiting: their account is not in Customer.io",
}
_PLANNED: Mapping[str, str] = {
    "identify (new)": "will be created in Customer.io",
    "identify (changed)": "will be updated in Customer.io",
    "identify (customerId changed)": "will be updated under a new customerId",
    "identify (unchanged)": "will be sent again on request (unchanged)",
    "delete (no customerId)": "will be deleted from Customer.io: no customerId any more",
    "merge (customerId changed)": "will be merged into the new customerId",
    "delete (left the segments)": "will be deleted from Customer.io: left the chosen segments",
    "event (sent)": "events will be sent",
    "event (anonymous)": "events will be sent anonymously",
    "object identify (new)": "account objects will be created in Customer.io",
    "object identify (changed)": "account objects will be updated in Customer.io",
    "object delete (no member left)": "account objects will be deleted: none of their people is sent any more",
    "relationship (added)": "people will be related to their account",
    "relationship (moved to another account)": "people will be moved to their new account",
    "relationship (removed: no account)": "people will no longer be related to an account (they have none now)",
}


# A plan is stored as a dry run; History, the CLI and --json name it by the mode it planned.
_PLAN_OF: Mapping[str, str] = {"full": "Plan (full sync)", "incremental": "Plan (sync changes)"}


def plan_text(mode: str) -> str:
    """What a plan of ``mode`` ("full", "incremental") is called: "Plan (full sync)"."""
    return _PLAN_OF.get(mode, "Plan")


# A run's kind, the one set of words for it: the Sync page's buttons, History's Mode column, the CLI's
# `history` and its --json "kind" (a plan by the mode it planned, see plan_text; stored values unchanged).
_RUN_KIND: Mapping[str, str] = {
    "full": "Full sync",
    "incremental": "Sync changes",
    "dry_run": "Dry run",
    "single": "One person",
}


def mode_text(mode: str) -> str:
    """What a run of ``mode`` ("full", "incremental", "dry_run", "single") is called; unknown modes as stored."""
    return _RUN_KIND.get(mode, mode)


def run_kind_text(mode: str, plan_of: str | None = None) -> str:
    """What a stored run was: "Full sync", "Dry run", "Plan (sync changes)"; unknown modes as stored."""
    return plan_text(plan_of) if plan_of else mode_text(mode)


def label_text(label: str, *, planned: bool = False) -> str:
    """``label`` as a sentence ("event not sent: this person is not synced"); unknown labels as they are.
    ``planned`` words sends in the future tense (a plan)."""
    if planned and label in _PLANNED:
        return _PLANNED[label]
    if planned and label.startswith("event skip"):
        return label_text(label).replace("event not sent", "events will not be sent", 1)
    if label.startswith(WITHHELD_PREFIX):
        return "deletion withheld by the deletion guard: " + label_text(label[len(WITHHELD_PREFIX) :])
    return _EXACT.get(label, label)


# What a plan (or a dry run) would do with ``n`` people, events or accounts of a decision, as a sentence.
_PLANNED_COUNT: Mapping[str, str] = {
    "identify (new)": "would create {n} people in Customer.io",
    "identify (changed)": "would update {n} people in Customer.io",
    "identify (customerId changed)": "would update {n} people under a new customerId",
    "identify (unchanged)": "would send {n} unchanged people again (on request)",
    "merge (customerId changed)": "would merge {n} people into their new customerId",
    "delete (no customerId)": "would delete {n} people from Customer.io: no customerId any more",
    "delete (left the segments)": "would delete {n} people from Customer.io: left the chosen segments",
    "skip: unchanged": "would leave {n} people unchanged: nothing to send",
    "event (sent)": "would send {n} events",
    "event (anonymous)": "would send {n} events anonymously",
    "object identify (new)": "would create {n} account objects",
    "object identify (changed)": "would update {n} account objects",
    "object unchanged": "would leave {n} account objects unchanged: nothing to send",
    "object delete (no member left)": "would delete {n} account objects: none of their people is sent any more",
    "relationship (added)": "would relate {n} people to their account",
    "relationship (moved to another account)": "would move {n} people to their new account",
    "relationship (removed: no account)": "would remove the account of {n} people (they have none now)",
    "relationship unchanged": "would leave {n} relationships unchanged: nothing to send",
    "relationship waiting: account not in Customer.io": (
        "would keep {n} relationships waiting: their account is not in Customer.io"
    ),
}


def planned_count_text(label: str, n: int) -> str:
    """``n`` people (or events, accounts) of ``label`` as what a plan would do: "would create 16 account
    objects", "would not send 4 people: this person has no email"; never as if it had happened."""
    count = f"{n:,}"
    if label in _PLANNED_COUNT:
        return _PLANNED_COUNT[label].format(n=count)
    if label.startswith(WITHHELD_PREFIX):
        what = "account object" if label.startswith(WITHHELD_PREFIX + "object") else "people"
        return f"would hold back deleting {count} {what}{'s' if what != 'people' else ''} (the deletion guard)"
    text = label_text(label)
    for sentence, subject in (
        ("event not sent: ", "events"),
        ("account objects not sent: ", "account objects"),
        ("not sent: ", "people"),
    ):
        if text.startswith(sentence):
            return f"would not send {count} {subject}: {text[len(sentence) :]}"
    return f"{text}: {count} (planned)"


def is_unchanged(label: str) -> bool:
    return label == "skip: unchanged"


__all__ = ["is_unchanged", "label_text", "mode_text", "plan_text", "planned_count_text", "run_kind_text"]
