"""A first sync into a workspace that already has people: what changes for them, attribute by attribute.

The ledger of a new profile knows nobody, so its plan calls everyone "created". When the App API key
is set, the plan reads back a sample of those people from Customer.io (one request for up to
``SAMPLE_SIZE``) and compares what the workspace holds with what the sync will send (pure, but for
the one lookup). Customer.io's App API gives every value as text, so values are compared as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SAMPLE_SIZE = 50
# Identifiers and what Customer.io keeps of its own: never "changed" by a sync.
_NOT_COMPARED = frozenset({"id", "email", "cio_id", "_created_in_customerio_at"})
SHOWN_PEOPLE = 5


class Customers(Protocol):
    def customers(self, ids: Sequence[str]) -> list[dict[str, Any]]: ...


def as_text(value: Any) -> str:
    """A value as the App API writes it: text as is, booleans lowercase, numbers as written, JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class AttributeChange:
    """``before`` None: the attribute is added; otherwise it changes from ``before`` to ``after``."""

    name: str
    before: str | None
    after: str

    def describe(self) -> str:
        if self.before is None:
            return f"{self.name} added ({_short(self.after)})"
        return f"{self.name} {_short(self.before)} \u2192 {_short(self.after)}"


@dataclass(frozen=True)
class ExistingPerson:
    """A person the plan would "create" who is already in the workspace: what the sync changes, how
    many attributes stay as they are (same value), and how many it does not touch (not mapped)."""

    customer_id: str
    changes: tuple[AttributeChange, ...]
    same: int
    untouched: int

    def describe(self) -> str:
        what = "; ".join(c.describe() for c in self.changes) or "nothing changes"
        return f"{self.customer_id}: {what} ({self.same} the same, {self.untouched} not mapped and kept)"


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "\u2026")


def compare(customer_id: str, held: Mapping[str, Any], sent: Mapping[str, Any]) -> ExistingPerson:
    """What sending ``sent`` does to a person whose workspace attributes are ``held``."""
    changes = []
    same = 0
    for name in sorted(sent):
        if name in _NOT_COMPARED or sent[name] is None:
            continue
        after = as_text(sent[name])
        before = held.get(name)
        if before is None:
            changes.append(AttributeChange(name, None, after))
        elif as_text(before) == after:
            same += 1
        else:
            changes.append(AttributeChange(name, as_text(before), after))
    untouched = sum(1 for name in held if name not in sent and name not in _NOT_COMPARED)
    return ExistingPerson(customer_id, tuple(changes), same, untouched)


def sample_existing(app: Customers, sample: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[ExistingPerson, ...]:
    """Those of ``sample`` (customer id, attributes to send) Customer.io already holds, compared."""
    if not sample:
        return ()
    sent = dict(sample)
    found = app.customers(list(sent))
    out = []
    for customer in found:
        cid = str(customer.get("id") or "")
        attributes = customer.get("attributes")
        if cid in sent and isinstance(attributes, dict):
            out.append(compare(cid, attributes, sent[cid]))
    return tuple(sorted(out, key=lambda p: p.customer_id))


__all__ = ["SAMPLE_SIZE", "AttributeChange", "ExistingPerson", "as_text", "compare", "sample_existing"]
