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
    "event (sent)": "events will be sent",
    "event (anonymous)": "events will be sent anonymously",
}


# A plan is stored as a dry run; History, the CLI and --json name it by the mode it planned.
_PLAN_OF: Mapping[str, str] = {"full": "Plan (full sync)", "incremental": "Plan (sync changes)"}


def plan_text(mode: str) -> str:
    """What a plan of ``mode`` ("full", "incremental") is called: "Plan (full sync)"."""
    return _PLAN_OF.get(mode, "Plan")


# A run's kind as the CLI and --json name it (a plan by the mode it planned, see plan_text).
_RUN_KIND: Mapping[str, str] = {
    "full": "Full sync",
    "incremental": "Sync changes",
    "dry_run": "Dry run",
    "single": "One person",
}


def run_kind_text(mode: str, plan_of: str | None = None) -> str:
    """What a stored run was: "Full sync", "Dry run", "Plan (sync changes)"; unknown modes as stored."""
    return plan_text(plan_of) if plan_of else _RUN_KIND.get(mode, mode)


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


def is_unchanged(label: str) -> bool:
    return label == "skip: unchanged"


__all__ = ["is_unchanged", "label_text", "plan_text", "run_kind_text"]
