"""One decision per person: identify (new/changed), merge, delete or skip with a reason (pure).

Rules, in order (Hull's connector behaviour plus issue 4, see docs/api-contracts.md, "Hull's Customer.io connector"):
1. An empty segment choice sends nobody (and deletes nobody).
2. A user outside the synchronized segments is deleted only when deletion is enabled, this tool (or
   Hull's connector) created them and they are not deleted yet; otherwise skipped "not in segments".
3. No customerId -> skip (an unusable one, e.g. a list, is "invalid"); no email while email is
   required -> skip; any limit violated -> skip "invalid" with every violation listed.
4. A customerId that differs from the one they were synced under -> merge (old into new).
5. Same payload hash as last time (ledger, or with write-back Hull's ``customerio/hash``) -> skip
   "unchanged": no Customer.io request. A person the ledger does not know whose ``customerio/hash`` is
   the hosted connector's hash of what it would send today (:mod:`cio_desktop.sync.legacy_hash`) is
   unchanged too: the first sync after moving over does not resend everyone.
6. Otherwise identify: "new" when never created (or deleted and now back), else "changed".

What is known about a person comes from the ledger (``known``) when it has them, else from the
user's written-back ``traits_customerio/*`` traits (a second laptop, or Hull's old connector).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cio_desktop.sync.legacy_hash import matches_connector_hash
from cio_desktop.sync.mapping import (
    HASH_PREFIX,
    customer_id_of,
    format_time,
    identify_operation,
    legacy_payload_hash,
    map_user,
    parse_date,
)
from cio_desktop.sync.model import (
    TRAIT_CREATED_AT,
    TRAIT_DELETED_AT,
    TRAIT_HASH,
    TRAIT_ID,
    Action,
    Decision,
    KnownPerson,
    MappedPerson,
    MappingContext,
    Reason,
)
from cio_desktop.sync.validation import check_identifier, describe


@dataclass(frozen=True, slots=True)
class _History:
    customer_id: str | None  # the customerId they were last sent under
    created: bool  # created in Customer.io by this tool (or Hull's connector)
    deleted: bool  # and deleted since
    hashes: tuple[str, ...]  # payload hashes that count as "already sent"


def _history(user: dict[str, Any], known: KnownPerson | None, write_back: bool) -> _History:
    trait_hash = user.get(TRAIT_HASH) if write_back else None
    trait_hash = trait_hash if isinstance(trait_hash, str) and trait_hash else None
    if known is not None:
        hashes = tuple(h for h in (known.payload_hash, trait_hash) if h)
        return _History(known.customer_id or None, known.created_at is not None, known.deleted_at is not None, hashes)
    raw_id = user.get(TRAIT_ID)
    trait_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and raw_id != "" else None
    created_at = parse_date(user.get(TRAIT_CREATED_AT))
    deleted_at = parse_date(user.get(TRAIT_DELETED_AT))
    created = created_at is not None
    # Deleted, unless they were created again after the deletion (the trait is cleared then, but be safe).
    deleted = deleted_at is not None and (created_at is None or deleted_at >= created_at)
    return _History(trait_id, created, deleted, (trait_hash,) if trait_hash else ())


def _member(ctx: MappingContext, segment_ids: list[Any]) -> bool:
    """Any of ``segment_ids`` is a synced segment (ids that are not text never are)."""
    try:
        return not ctx.synced_segments.isdisjoint(segment_ids)
    except TypeError:  # an unhashable id (a list, an object) in odd input: look at the text ones only
        return any(s in ctx.synced_segments for s in segment_ids if isinstance(s, str))


def _already_sent(person: MappedPerson, hashes: tuple[str, ...]) -> bool:
    """The payload is one of ``hashes``: of this version's kind, or of the kind older ledgers and
    write-back traits hold (computed only then, so an upgrade resends nobody)."""
    if person.payload_hash in hashes:
        return True
    # Older hashes are 16 hex digits: a hosted connector's 40 (in the trait) can never be one of them.
    legacy = [h for h in hashes if len(h) == _LEGACY_HASH_LEN and not h.startswith(HASH_PREFIX)]
    return bool(legacy) and legacy_payload_hash(person) in legacy


_LEGACY_HASH_LEN = 16


def _identifier(ctx: MappingContext, customer_id: str) -> dict[str, str]:
    return {ctx.id_key: customer_id}


def _delete_op(ctx: MappingContext, customer_id: str) -> dict[str, Any]:
    return {"type": "person", "identifiers": _identifier(ctx, customer_id), "action": "delete"}


def _merge_op(ctx: MappingContext, primary: str, secondary: str) -> dict[str, Any]:
    return {
        "type": "person",
        "action": "merge",
        "primary": _identifier(ctx, primary),
        "secondary": _identifier(ctx, secondary),
    }


def _sent_traits(ctx: MappingContext, person: MappedPerson, now: float, *, new: bool) -> dict[str, Any]:
    if not ctx.profile.write_back:
        return {}
    stamp = format_time(now)
    traits: dict[str, Any] = {
        "customerio/id": person.customer_id,
        "customerio/hash": person.payload_hash,
        "customerio/synced_at": stamp,
        "customerio/deleted_at": None,  # null removes the trait: they exist again
    }
    if new:
        traits["customerio/created_at"] = stamp
    return traits


def _deleted_traits(ctx: MappingContext, now: float) -> dict[str, Any]:
    if not ctx.profile.write_back:
        return {}
    stamp = format_time(now)
    return {"customerio/deleted_at": stamp, "customerio/synced_at": stamp}


def _leave(
    ctx: MappingContext, hull_id: str, history: _History, fallback_id: str | None, now: float, *, why: str
) -> Decision:
    """Someone outside the synchronized segments: delete if allowed, else skip."""
    target = history.customer_id or fallback_id
    if target is not None and check_identifier(ctx.id_key, target) is not None:
        target = None  # cannot be addressed in Customer.io (so it was never created there under this id)
    if ctx.profile.delete_on_leave and ctx.synced_segments and history.created and not history.deleted and target:
        return Decision(
            hull_id=hull_id,
            customer_id=target,
            action=Action.DELETE,
            reason=Reason.LEFT_SEGMENTS,
            operations=(_delete_op(ctx, target),),
            message=f"{why}; deleting {ctx.id_key} {target!r} from Customer.io (created by this sync)",
            traits=_deleted_traits(ctx, now),
        )
    if not ctx.synced_segments:
        message = "no segments are chosen, so nobody is sent"
    elif not history.created or history.deleted or not target:
        message = f"{why}; nothing to delete (never created in Customer.io by this sync, or already deleted)"
    else:
        message = f"{why}; deletion is off"
    return Decision(hull_id, target, Action.SKIP, Reason.NOT_IN_SEGMENTS, message=message)


def plan_user(user: dict[str, Any], ctx: MappingContext, known: KnownPerson | None, *, now: float) -> Decision:
    """The decision for one Hull user (never raises on a JSON-like user).

    ``known`` is the ledger's record for this user (None if the ledger has never seen them);
    ``now`` (Unix seconds) stamps the write-back traits.
    """
    write_back = ctx.profile.write_back
    history = _history(user, known, write_back)
    raw_id = user.get("id")
    hull_id = raw_id if isinstance(raw_id, str) else ("" if raw_id is None else str(raw_id))

    segment_ids = user.get("segment_ids")
    in_segments = bool(ctx.synced_segments) and isinstance(segment_ids, list) and _member(ctx, segment_ids)
    if not in_segments:
        current_id, _ = customer_id_of(user, ctx)
        return _leave(ctx, hull_id, history, current_id, now, why="not in the synchronized segments")

    person = map_user(user, ctx)
    cid = person.customer_id
    if cid is None:
        if any(v.attribute == "(identifier)" for v in person.violations):  # a value, but not a usable one
            return Decision(
                hull_id, None, Action.SKIP, Reason.INVALID, person=person, message=describe(person.violations)
            )
        return Decision(
            hull_id,
            None,
            Action.SKIP,
            Reason.NO_CUSTOMER_ID,
            person=person,
            message=f"no value for the customerId attribute '{ctx.id_attribute}'",
        )
    if ctx.profile.require_email and person.email is None:
        return Decision(
            hull_id, cid, Action.SKIP, Reason.NO_EMAIL, person=person, message="no email, and email is required"
        )
    if person.violations:
        return Decision(hull_id, cid, Action.SKIP, Reason.INVALID, person=person, message=describe(person.violations))

    previous = history.customer_id
    alive = history.created and not history.deleted
    if previous is not None and previous != cid and alive and check_identifier(ctx.id_key, previous) is None:
        # Identify first: Customer.io ignores a merge whose primary person does not exist yet.
        return Decision(
            hull_id=hull_id,
            customer_id=cid,
            action=Action.MERGE,
            reason=Reason.CUSTOMER_ID_CHANGED,
            operations=(identify_operation(person), _merge_op(ctx, cid, previous)),
            person=person,
            previous_customer_id=previous,
            message=f"{ctx.id_key} changed from {previous!r} to {cid!r}: merging the old person into the new one",
            traits=_sent_traits(ctx, person, now, new=False),
        )
    if (
        not history.deleted
        and previous in (cid, None)
        and (
            _already_sent(person, history.hashes)
            or (known is None and alive and matches_connector_hash(user, ctx, user.get(TRAIT_HASH)))
        )
    ):
        return Decision(
            hull_id, cid, Action.SKIP, Reason.UNCHANGED, person=person, message="same data as the last sync"
        )
    new = not alive
    return Decision(
        hull_id=hull_id,
        customer_id=cid,
        action=Action.IDENTIFY,
        reason=Reason.NEW if new else Reason.CHANGED,
        operations=(identify_operation(person),),
        person=person,
        previous_customer_id=previous if previous != cid else None,
        message=("created again after deletion" if history.deleted else "new person") if new else "data changed",
        traits=_sent_traits(ctx, person, now, new=new),
    )


def plan_missing(known: KnownPerson, ctx: MappingContext, *, now: float) -> Decision:
    """A person the ledger knows who was not among the segment members in a full run."""
    history = _History(known.customer_id or None, known.created_at is not None, known.deleted_at is not None, ())
    return _leave(ctx, known.hull_id, history, None, now, why="no longer in the synchronized segments")


__all__ = ["plan_missing", "plan_user"]
