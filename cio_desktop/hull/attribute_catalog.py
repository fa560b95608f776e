"""What the Fields page knows about the source's attributes: names, groups, suggestions, samples.

Pure helpers (no Qt, no I/O): the catalogue of attribute names comes from the source (the Hull API's
schema or the export file's metadata), the sample from a bounded read of users on a worker.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cio_desktop.hull.source import HullUser

# Fields every Hull user has, whether or not the schema lists them.
BASE_ATTRIBUTES = ("id", "external_id", "email", "name", "created_at", "updated_at")
# Distinct example values kept per attribute, and how much of each is shown.
EXAMPLES_PER_ATTRIBUTE = 3
EXAMPLE_CHARS = 40


def group_of(key: str) -> str | None:
    """The group of an attribute: ``traits_clearbit`` for ``traits_clearbit/given_name``,
    ``account`` for ``account.domain``; None for an ungrouped one (``traits_plan``, ``email``)."""
    if key.startswith("account."):
        return "account"
    head, sep, _ = key.partition("/")
    return head if sep and head else None


def attribute_groups(keys: Iterable[str]) -> dict[str, list[str]]:
    """Groups with at least two attributes, each with its keys sorted (groups sorted by name)."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        group = group_of(key)
        if group is not None:
            groups.setdefault(group, []).append(key)
    return {g: sorted(groups[g]) for g in sorted(groups) if len(groups[g]) >= 2}


def suggest(query: str, names: Sequence[str], limit: int = 15, cutoff: float = 0.5) -> list[str]:
    """The names most like ``query``: exact, then starts with it, then contains it, then spelled
    alike (difflib, against the whole name and its last part, so "givn_name" finds
    ``traits_clearbit/given_name``)."""
    q = query.strip().casefold()
    if not q:
        return sorted(names)[:limit]
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(q)  # the query is compared with every name: its analysis is done once
    scored: list[tuple[float, str]] = []
    for name in names:
        n = name.casefold()
        leaf = n.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
        if n == q:
            score = 4.0
        elif leaf.startswith(q) or n.startswith(q):
            score = 3.0 + len(q) / len(n)
        elif q in n:
            score = 2.0 + len(q) / len(n)
        else:
            score = 0.0
            for text in (n, leaf):
                matcher.set_seq1(text)
                if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
                    score = max(score, matcher.ratio())
        if score >= cutoff:
            scored.append((score, name))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [n for _, n in scored[:limit]]


def closest(name: str, names: Sequence[str]) -> str | None:
    """The one known name ``name`` was most likely meant to be (a typo), or None."""
    best = suggest(name, names, limit=1, cutoff=0.75)
    return best[0] if best and best[0] != name else None


@dataclass
class AttributeSample:
    """Per attribute of a sample of users: how many have a value and a few distinct examples."""

    users: int = 0
    filled: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, user: HullUser) -> None:
        self.users += 1
        for key, value in _flat(user):
            if value is None or value == "" or value == [] or value == {}:
                continue
            self.filled[key] = self.filled.get(key, 0) + 1
            shown = self.examples.setdefault(key, [])
            if len(shown) < EXAMPLES_PER_ATTRIBUTE:
                text = _show(value)
                if text not in shown:
                    shown.append(text)

    def describe(self, key: str) -> tuple[str, str]:
        """("183 of 200", "pro, free, trial") for ``key``; ("0 of 200", "") when nobody has it."""
        if self.users == 0:
            return "", ""
        return f"{self.filled.get(key, 0):,} of {self.users:,}", ", ".join(self.examples.get(key, ()))


def _flat(user: HullUser) -> Iterable[tuple[str, Any]]:
    for key, value in user.items():
        if key == "account" and isinstance(value, dict):
            for akey, avalue in value.items():
                yield f"account.{akey}", avalue
        else:
            yield key, value


def _show(value: Any) -> str:
    # As Customer.io would show it: JSON (true, ["beta"]), text without quotes.
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def sample_users(users: Iterable[HullUser], limit: int) -> AttributeSample:
    """Fill and examples of every attribute over the first ``limit`` users (memory: a few values per key)."""
    sample = AttributeSample()
    for i, user in enumerate(users):
        if i >= limit:
            break
        sample.add(user)
    return sample


__all__ = [
    "BASE_ATTRIBUTES",
    "AttributeSample",
    "attribute_groups",
    "closest",
    "group_of",
    "sample_users",
    "suggest",
]
