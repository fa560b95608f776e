"""Values that flow between the pure sync core (mapping, planning, events) and the engine.

Everything here is immutable and free of I/O. The engine builds one :class:`MappingContext` per run,
then calls :func:`cio_desktop.sync.planner.plan_user` per Hull user and
:func:`cio_desktop.sync.events.plan_event` per Hull event; both return decisions whose
``operations`` are Customer.io Track v2 batch operations, ready to send.

Anonymous events are the one exception: Customer.io's v2 batch has no anonymous person operation
(a person operation needs exactly one of ``id``/``email``/``cio_id``), so an anonymous event decision
carries ``route == EventRoute.V1_ANONYMOUS`` and its ``operation`` is the JSON body for
``POST /api/v1/events`` (``name``, ``anonymous_id``, ``id``, ``timestamp``, ``type``, ``data``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cio_desktop.config.profile import Profile

# Written-back traits as they appear on a Hull user (the firehose writes them without "traits_").
TRAIT_ID = "traits_customerio/id"
TRAIT_CREATED_AT = "traits_customerio/created_at"
TRAIT_DELETED_AT = "traits_customerio/deleted_at"
TRAIT_HASH = "traits_customerio/hash"
TRAIT_SYNCED_AT = "traits_customerio/synced_at"


class Action(StrEnum):
    """What the sync does with one person."""

    IDENTIFY = "identify"
    DELETE = "delete"
    MERGE = "merge"  # merge the old customerId into the new one, then identify
    SKIP = "skip"


class Reason(StrEnum):
    """Why. Stored in the ledger and shown in reports, so values are stable snake_case."""

    NEW = "new"
    CHANGED = "changed"
    LEFT_SEGMENTS = "left_segments"
    CUSTOMER_ID_CHANGED = "customer_id_changed"
    NO_CUSTOMER_ID = "no_customer_id"
    NO_EMAIL = "no_email"
    NOT_IN_SEGMENTS = "not_in_segments"
    UNCHANGED = "unchanged"
    INVALID = "invalid"


REASON_TEXT: Mapping[Reason, str] = {
    Reason.NEW: "new",
    Reason.CHANGED: "changed",
    Reason.LEFT_SEGMENTS: "left the segments",
    Reason.CUSTOMER_ID_CHANGED: "customerId changed",
    Reason.NO_CUSTOMER_ID: "no customerId",
    Reason.NO_EMAIL: "no email",
    Reason.NOT_IN_SEGMENTS: "not in segments",
    Reason.UNCHANGED: "unchanged",
    Reason.INVALID: "invalid",
}


# Decision.label of every (action, reason): asked for each person a run decides about.
_LABELS: Mapping[tuple[Action, Reason], str] = {
    (action, reason): f"skip: {text}" if action is Action.SKIP else f"{action.value} ({text})"
    for action in Action
    for reason, text in REASON_TEXT.items()
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One Customer.io limit a person or event breaks. ``attribute`` is the Customer.io attribute name
    (or ``"(identifier)"``, ``"(attributes)"``, ``"(operation)"``, ``"(event name)"``, ``"(event data)"``)."""

    attribute: str
    message: str


@dataclass(frozen=True, slots=True)
class MappedPerson:
    """A Hull user turned into a Customer.io person.

    ``identifiers`` is ``{"id": customer_id}`` or ``{"email": customer_id}`` (empty without a customerId).
    ``payload_hash`` is a short stable hex digest of identifiers + attributes (key-order independent).
    ``anonymous_id`` is the user's first Hull anonymous id, for anonymous events.
    ``wire`` is the identify operation encoded exactly as it is sent (compact ASCII JSON, sorted keys),
    made from the same encoding as the hash so a person is encoded once per run; empty when invalid.
    """

    hull_id: str
    customer_id: str | None
    identifiers: dict[str, str]
    attributes: dict[str, Any]
    payload_hash: str
    violations: tuple[Violation, ...] = ()
    email: str | None = None
    anonymous_id: str | None = None
    wire: bytes = b""

    @property
    def valid(self) -> bool:
        return not self.violations


@dataclass(frozen=True, slots=True)
class KnownPerson:
    """What is known about a person from earlier syncs: the ledger row for this Hull user (looked up by
    Hull id, else by customerId). Times are Unix seconds; ``deleted_at`` is None when not deleted (the
    ledger clears it when the person is created again)."""

    customer_id: str
    hull_id: str = ""
    payload_hash: str | None = None
    created_at: float | None = None
    deleted_at: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The plan for one person.

    ``operations`` are Track v2 batch operations in send order. A MERGE is ``(identify new, merge old
    into new)``: Customer.io ignores a merge whose primary person does not exist yet, so the identify
    must be accepted first (same request in order, or an earlier one).
    ``traits`` are the ``customerio/*`` traits to write back to Hull once the operations are accepted
    (empty for skips and when write-back is off). ``previous_customer_id`` is the customerId the person
    was synced under before, when it differs from ``customer_id`` (merges; re-creation under a new id).
    ``person`` is the mapped person (None for deletions and "not in segments" skips).
    """

    hull_id: str
    customer_id: str | None
    action: Action
    reason: Reason
    operations: tuple[dict[str, Any], ...] = ()
    person: MappedPerson | None = None
    previous_customer_id: str | None = None
    message: str = ""
    traits: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short text for tables and logs: ``identify (new)``, ``skip: no email``, ``delete (left the segments)``."""
        return _LABELS[self.action, self.reason]


class EventReason(StrEnum):
    """Why an event is or is not sent."""

    SEND = "send"
    SEND_ANONYMOUS = "send_anonymous"
    NOT_WHITELISTED = "not_whitelisted"
    USER_NOT_SYNCED = "user_not_synced"
    NO_IDENTITY = "no_identity"  # anonymous events on, but the user has neither customerId nor anonymous id
    ALREADY_SENT = "already_sent"
    BEFORE_CHECKPOINT = "before_checkpoint"
    INVALID = "invalid"


class EventRoute(StrEnum):
    """Which Track API call carries an event operation."""

    BATCH = "v2_batch"  # POST /api/v2/batch, operation is a v2 person operation
    V1_ANONYMOUS = "v1_anonymous"  # POST /api/v1/events, operation is the v1 JSON body


@dataclass(frozen=True, slots=True)
class EventDecision:
    """The plan for one Hull event. ``operation`` is None unless ``reason`` is SEND or SEND_ANONYMOUS."""

    event_id: str
    ulid: str
    reason: EventReason
    operation: dict[str, Any] | None = None
    customer_id: str | None = None
    message: str = ""
    route: EventRoute = EventRoute.BATCH
    anonymous_id: str | None = None
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One mapped attribute, precomputed once per run: where to read it and how to convert it."""

    hull: str  # Hull attribute key: "email", "traits_clearbit/given_name", "account.domain"
    cio: str  # Customer.io attribute name
    account_key: str | None  # "domain" for "account.domain" (read from the nested account object)
    is_date: bool  # convert to Unix seconds (type date, or name ending _at / _date)
    strict_date: bool  # Hull's schema says date: an unparseable value is a violation, not kept as text


def _is_date_name(hull_key: str) -> bool:
    last = hull_key.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    return last.endswith(("_at", "_date"))


@dataclass(frozen=True)
class MappingContext:
    """Everything mapping and planning need, built once per run so per-user work stays cheap.

    ``segment_names``: Hull segment id -> name (all segments; used for ``hull_segments``).
    ``attribute_types``: Hull attribute key -> Hull type (string|date|boolean|number|json|event).
    """

    profile: Profile
    segment_names: Mapping[str, str] = field(default_factory=dict)
    attribute_types: Mapping[str, str] = field(default_factory=dict)
    # Derived (computed in __post_init__; not constructor arguments).
    synced_segments: frozenset[str] = field(init=False)
    id_attribute: str = field(init=False)
    id_key: str = field(init=False)  # "id" or "email": the v2 identifier key
    fields: tuple[FieldSpec, ...] = field(init=False)
    event_whitelist: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        p = self.profile
        object.__setattr__(self, "synced_segments", frozenset(p.segment_ids))
        object.__setattr__(self, "id_attribute", p.customer_id_attribute)
        by_email = p.customer_id_attribute == "email" and not p.email_as_id
        object.__setattr__(self, "id_key", "email" if by_email else "id")
        specs = []
        for m in p.mappings:
            account_key = m.hull[len("account.") :] if m.hull.startswith("account.") else None
            hull_type = self.attribute_types.get(m.hull)
            strict = hull_type == "date"
            # Hull's connector converted every *_at / *_date value; booleans and JSON are never dates.
            is_date = strict or (hull_type not in ("boolean", "json", "event") and _is_date_name(m.hull))
            specs.append(FieldSpec(m.hull, m.cio, account_key, is_date, strict))
        object.__setattr__(self, "fields", tuple(specs))
        object.__setattr__(self, "event_whitelist", frozenset(p.events))


__all__ = [
    "REASON_TEXT",
    "TRAIT_CREATED_AT",
    "TRAIT_DELETED_AT",
    "TRAIT_HASH",
    "TRAIT_ID",
    "TRAIT_SYNCED_AT",
    "Action",
    "Decision",
    "EventDecision",
    "EventReason",
    "EventRoute",
    "FieldSpec",
    "KnownPerson",
    "MappedPerson",
    "MappingContext",
    "Reason",
    "Violation",
]
