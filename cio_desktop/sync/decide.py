"""What one page of users comes to: the decisions of the users pass, as data (no I/O).

:func:`decide_page` is the users pass's per-person logic (see :mod:`~cio_desktop.sync.run_users`):
given a page of :mod:`digests <cio_desktop.sync.digest>` and what the ledger knows of them, it says
who is unchanged (same fingerprint), plans everyone else (:func:`~cio_desktop.sync.planner.plan_user`)
and returns a :class:`PageOutcome`: the run's list rows, the counts per decision label, deletions for
the deletion step, the members' customer ids, and, for a real run, what to send. The run's process
applies it (ledger writes, progress, sending).

It runs in the run's own process, or, without accounts as objects, in a reading process
(:mod:`~cio_desktop.sync.read_ahead`): the same function on the same inputs, so a page decided there
is the page decided here, person by person. What a real run sends crosses the pipe in a compact form
(:func:`ship`, :func:`unship`): the identify operation's bytes instead of the mapped person, which
would cost the run's process more to receive than to map (``bench/bench_worker_ipc.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cio_desktop import jsonfast
from cio_desktop.hull.source import HullUser
from cio_desktop.sync.deletions import defer_row
from cio_desktop.sync.digest import NOT_COMPUTED, Digest, material_fp, settled_fp
from cio_desktop.sync.model import Action, Decision, KnownPerson, MappedPerson, MappingContext, Reason
from cio_desktop.sync.planner import plan_user
from cio_desktop.sync.run_people import Category, category_of

# (hull id, customer id, category, decision label, reason, who): a row of the run's list of people.
PeopleRow = tuple[str, str, str, str, str, str]

UNCHANGED_LABEL = Decision("", None, Action.SKIP, Reason.UNCHANGED).label
UNCHANGED_WHY = "same data as the last sync"
_UNCHANGED = Category.UNCHANGED.value
_CREATE = Category.CREATE
# Skips of users who are not members of the chosen segments (their account has no member in them).
_NOT_MEMBERS = frozenset({Reason.NOT_IN_SEGMENTS, Reason.LEFT_SEGMENTS})


@dataclass
class PageOutcome:
    """One page's decisions. ``rows`` are the run's list (deletions are listed by the deletion step,
    from ``deferred``); ``planned`` the members' customer ids (never counted as gone); ``sample`` the
    first people to be created with their attributes (a plan's sample, when asked).

    A real run's page also fills ``anonymous`` (members without a customerId), ``send`` (decisions to
    send, with their fingerprint; packed by :func:`ship` when a reading process decided them) and
    ``refresh`` (fingerprints of people found unchanged the slow way). Only a page decided in the run's
    own process, with accounts as objects, fills ``in_cio`` (people who are or stay in Customer.io) and
    ``members_only`` (members not sent) for the objects step."""

    ids: list[str]
    labels: dict[str, int] = field(default_factory=dict)
    rows: list[PeopleRow] = field(default_factory=list)
    deferred: list[tuple[str, str, str, bool]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    sample: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    in_cio: list[tuple[HullUser, str]] = field(default_factory=list)
    members_only: list[HullUser] = field(default_factory=list)
    anonymous: dict[str, str | None] = field(default_factory=dict)
    # (Decision, fingerprint); from a reading process, packed for the pipe (see ship, unship).
    send: list[tuple[Any, str | None]] = field(default_factory=list)
    refresh: list[tuple[str, str | None, str | None]] = field(default_factory=list)


def decide_page(
    chunk: list[Digest],
    known: Mapping[str, tuple[KnownPerson, str | None]],
    ctx: MappingContext,
    *,
    ctx_fp: str | None,
    account_keys: tuple[str, ...],
    now: float,
    dry: bool,
    objects: bool,
    user_of: Callable[[Digest], HullUser],
    sample_left: int = 0,
) -> PageOutcome:
    """The decisions of one page (see the module docstring). ``known``: the ledger's person and stored
    fingerprint per Hull id; ``objects``: accounts go out as objects (the page's users are kept for
    that step); ``user_of`` gets a digest's user; ``sample_left``: how many more people to be created
    the plan's sample wants."""
    out = PageOutcome([d[0] for d in chunk])
    labels, rows = out.labels, out.rows
    unchanged = 0
    for digest in chunk:
        hid, material, line, packed = digest
        kp, stored_fp = known.get(hid, (None, None))
        if stored_fp is not None and kp is not None and kp.deleted_at is None:
            if material is NOT_COMPUTED:
                material = material_fp(ctx_fp, account_keys, packed)
            if material == stored_fp:
                # Same Hull data and settings as when Customer.io accepted them: no need to map again.
                if objects:
                    out.in_cio.append((user_of(digest), kp.customer_id))
                rows.append((hid, kp.customer_id, _UNCHANGED, UNCHANGED_LABEL, UNCHANGED_WHY, line))
                unchanged += 1
                continue
        user = user_of(digest)
        # A plan sends and stores nothing: it needs no fingerprint.
        fp = None if dry else settled_fp(ctx_fp, account_keys, user, now, material)
        decision = plan_user(user, ctx, kp, now=now)
        if decision.action is Action.DELETE:
            # Counted, guarded and sent (or withheld) by the deletion step, once every user was read.
            out.deferred.append(defer_row(decision, known=kp is not None))
            continue
        category = category_of(decision)
        rows.append(
            (decision.hull_id, decision.customer_id or "", category.value, decision.label, decision.message, line)
        )
        if sample_left > len(out.sample) and category is _CREATE and decision.person and decision.customer_id:
            out.sample.append((decision.customer_id, dict(decision.person.attributes)))
        labels[decision.label] = labels.get(decision.label, 0) + 1
        sent_or_kept = decision.action is not Action.SKIP or decision.reason is Reason.UNCHANGED
        if decision.customer_id:
            out.planned.append(decision.customer_id)
            if sent_or_kept and objects:
                out.in_cio.append((user, decision.customer_id))
        if objects and not (decision.customer_id and sent_or_kept) and decision.reason not in _NOT_MEMBERS:
            out.members_only.append(user)
        if decision.reason is Reason.NO_CUSTOMER_ID and hid and not dry:
            out.anonymous[hid] = decision.person.anonymous_id if decision.person else None
        if dry:
            continue
        if decision.operations:
            out.send.append((decision, fp))
        elif (
            decision.reason is Reason.UNCHANGED
            and kp is not None
            and decision.customer_id == kp.customer_id
            and decision.person is not None
            and (fp != stored_fp or decision.person.payload_hash != kp.payload_hash)
        ):
            # Found unchanged the slow way: store the fingerprint (and the hash in this version's
            # kind, when the ledger held an older one) so the next run knows it cheaply.
            out.refresh.append((kp.customer_id, fp, decision.person.payload_hash))
    if unchanged:
        labels[UNCHANGED_LABEL] = labels.get(UNCHANGED_LABEL, 0) + unchanged
    return out


# A decision to send as it crosses the pipe from a reading process (see ship): hull id, customer id,
# action, reason, message, previous customer id, traits (None: none), payload hash, email, anonymous id,
# the identify operation's bytes, the operations after it (a merge).
Shipped = tuple[
    str,
    str | None,
    str,
    str,
    str,
    str | None,
    dict[str, Any] | None,
    str,
    str | None,
    str | None,
    bytes,
    tuple[Any, ...],
]
_ACTIONS = {a.value: a for a in Action}
_REASONS = {r.value: r for r in Reason}


def ship(send: list[tuple[Any, str | None]]) -> list[tuple[Any, str | None]]:
    """``PageOutcome.send`` for the pipe: a decision whose first operation is its person's identify,
    encoded (the usual case), goes as a :data:`Shipped` tuple; any other decision as it is."""
    out: list[tuple[Any, str | None]] = []
    for decision, fp in send:
        p, ops = decision.person, decision.operations
        if p is not None and p.wire and ops and ops[0].get("attributes") is p.attributes and not p.violations:
            d = decision
            shipped: Shipped = (
                d.hull_id,
                d.customer_id,
                d.action.value,
                d.reason.value,
                d.message,
                d.previous_customer_id,
                d.traits or None,
                p.payload_hash,
                p.email,
                p.anonymous_id,
                p.wire,
                ops[1:],
            )
            out.append((shipped, fp))
        else:
            out.append((decision, fp))
    return out


def unship(send: list[tuple[Any, str | None]]) -> list[tuple[Decision, str | None]]:
    """The decisions :func:`ship` packed, as the reading process made them: the identify operation is
    decoded from the bytes that are sent (so it is exactly what goes out) and shared with the person's
    attributes, as :func:`~cio_desktop.sync.mapping.identify_operation` makes it."""
    out: list[tuple[Decision, str | None]] = []
    for item, fp in send:
        if type(item) is not tuple:
            out.append((item, fp))
            continue
        hull_id, cid, action, reason, message, previous, traits, payload_hash, email, anon, wire, rest = item
        op = jsonfast.loads(wire)
        person = MappedPerson(hull_id, cid, op["identifiers"], op["attributes"], payload_hash, (), email, anon, wire)
        decision = Decision(
            hull_id,
            cid,
            _ACTIONS[action],
            _REASONS[reason],
            (op, *rest),
            person,
            previous,
            message,
            traits if traits is not None else {},
        )
        out.append((decision, fp))
    return out


__all__ = ["UNCHANGED_LABEL", "UNCHANGED_WHY", "PageOutcome", "PeopleRow", "Shipped", "decide_page", "ship", "unship"]
