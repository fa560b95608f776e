"""One decision per Hull event: send (known or anonymous person) or skip with a reason (pure).

- Only whitelisted event names; never twice (``already_sent`` from the ledger); only events newer
  than the profile's checkpoint.
- For a synced user the operation is a Track v2 batch operation ``{"type": "person", "identifiers",
  "action": "event" | "page" | "screen", "name", "id", "timestamp", "attributes"}``.
- Page or screen is decided the way Hull's hosted connector did: in real Hull data a page view is the
  event *named* ``page`` (``event_type`` ``track``), a screen view the event named ``screen``; an
  ``event_type`` of ``page`` or ``screen`` counts too. A page view is named by its URL (its ``url``
  property), as Customer.io expects, when it has one that fits the name limit.
- With anonymous events on, an event of a user without customerId is sent with the user's Hull
  anonymous id, but only when the engine says the user may be anonymous (``anonymous_allowed``):
  a member of the synced segments who has no customerId, or an anonymous visitor. A user who has a
  customerId but is not synced (outside the segments, deleted) is never sent, not even anonymously.
  Customer.io's v2 batch has no anonymous person operation, so such a decision has
  ``route == EventRoute.V1_ANONYMOUS`` and its operation is the body of ``POST /api/v1/events``:
  ``{"name", "anonymous_id", "id", "timestamp", "type", "data"}``. The engine must route it there.
- ``id`` is a ULID derived from the Hull event id and time, so a resent event is dropped by
  Customer.io instead of counted twice; ``timestamp`` is the event's own time (Unix seconds).
"""

from __future__ import annotations

import math
from typing import Any

from cio_desktop.hull.source import HullEvent
from cio_desktop.sync.model import EventDecision, EventReason, EventRoute, MappingContext, Violation
from cio_desktop.sync.ulid import event_ulid
from cio_desktop.sync.validation import check_event, check_operation_size, describe, wire_size

_ACTIONS = {"page": "page", "screen": "screen"}


def event_label(decision: EventDecision) -> str:
    """How a run counts an event decision: ``event (sent)``, ``event skip: already sent``."""
    if decision.reason is EventReason.SEND:
        return "event (sent)"
    if decision.reason is EventReason.SEND_ANONYMOUS:
        return "event (anonymous)"
    return "event skip: " + decision.reason.value.replace("_", " ")


def event_action(name: str, event_type: str) -> str:
    """Customer.io's event type for a Hull event: ``page`` for the event named ``page`` or whose
    ``event_type`` is ``page``, ``screen`` likewise; every other event is an ``event``."""
    return _ACTIONS.get(name) or _ACTIONS.get(event_type, "event")


def sent_name(event: HullEvent, action: str) -> str:
    """The name Customer.io gets: a page view's URL when it has a usable one, else the Hull name."""
    if action != "page":
        return event.name
    url = event.properties.get("url") if isinstance(event.properties, dict) else None
    if isinstance(url, str) and url.strip() and not check_event(url, 0):
        return url
    return event.name


def plan_event(
    event: HullEvent,
    ctx: MappingContext,
    *,
    customer_id: str | None,
    anonymous_id: str | None = None,
    already_sent: bool = False,
    checkpoint: float | None = None,
    anonymous_allowed: bool = True,
) -> EventDecision:
    """Decide one event. ``customer_id`` is the customerId of the event's user only if that user is synced
    (in the ledger and not deleted). ``anonymous_id`` overrides the event's own anonymous id: pass the
    user's first Hull anonymous id (``MappedPerson.anonymous_id``) when known, because that is the
    ``anonymous_id`` attribute the person gets once identified, which ties these events to them.
    ``anonymous_allowed`` False (the user is known to have a customerId, or is not known as a member
    of the synced segments) skips an event without ``customer_id`` as "user not synced" even with
    anonymous events on."""
    ulid = event_ulid(event.event_id, event.created_at if math.isfinite(event.created_at) else 0.0)

    def skip(reason: EventReason, message: str, violations: tuple[Violation, ...] = ()) -> EventDecision:
        return EventDecision(
            event.event_id, ulid, reason, customer_id=customer_id, message=message, violations=violations
        )

    if event.name not in ctx.event_whitelist:
        return skip(EventReason.NOT_WHITELISTED, f"event {event.name!r} is not in the chosen events")
    if already_sent:
        return skip(EventReason.ALREADY_SENT, "already sent to Customer.io")
    if checkpoint is not None and event.created_at <= checkpoint:
        return skip(EventReason.BEFORE_CHECKPOINT, "older than the event checkpoint of this profile")

    anon = anonymous_id or event.anonymous_id or None
    if not customer_id:
        if not ctx.profile.anonymous_events or not anonymous_allowed:
            return skip(EventReason.USER_NOT_SYNCED, "the event's user is not synced to Customer.io")
        if not anon:
            return skip(EventReason.NO_IDENTITY, "the user has neither a customerId nor a Hull anonymous id")

    problems: list[Violation] = []
    properties: Any = event.properties if event.properties is not None else {}
    data_bytes = 0
    if not isinstance(properties, dict):
        problems.append(Violation("(event data)", "event properties are not a JSON object"))
    else:
        try:
            data_bytes = wire_size(properties)
        except UnicodeEncodeError:
            problems.append(Violation("(event data)", "event properties hold text that is not valid Unicode"))
        except (ValueError, TypeError):
            problems.append(
                Violation("(event data)", "event properties hold NaN, infinity or a value that is not JSON")
            )
    if not math.isfinite(event.created_at):
        problems.append(Violation("(event time)", "the event has no valid time"))
    problems.extend(check_event(event.name, data_bytes))
    if problems:
        return skip(EventReason.INVALID, describe(problems), tuple(problems))

    timestamp = math.floor(event.created_at)
    action = event_action(event.name, event.event_type)
    name = sent_name(event, action)
    if customer_id:
        operation: dict[str, Any] = {
            "type": "person",
            "identifiers": {ctx.id_key: customer_id},
            "action": action,
            "name": name,
            "id": ulid,
            "timestamp": timestamp,
            "attributes": properties,
        }
        try:
            size_problem = check_operation_size(wire_size(operation), "event operation")
        except UnicodeEncodeError:
            size_problem = Violation("(identifier)", "the customerId is not valid Unicode text")
        if size_problem is not None:
            return skip(EventReason.INVALID, size_problem.message, (size_problem,))
        return EventDecision(
            event.event_id,
            ulid,
            EventReason.SEND,
            operation=operation,
            customer_id=customer_id,
            message=f"{action} {name!r} for {ctx.id_key} {customer_id!r}",
        )
    body = {"name": name, "anonymous_id": anon, "id": ulid, "timestamp": timestamp, "type": action}
    body["data"] = properties
    try:
        wire_size(body)
    except UnicodeEncodeError:
        problem = Violation("(anonymous id)", "the anonymous id is not valid Unicode text")
        return skip(EventReason.INVALID, problem.message, (problem,))
    return EventDecision(
        event.event_id,
        ulid,
        EventReason.SEND_ANONYMOUS,
        operation=body,
        customer_id=None,
        message=f"anonymous {action} {name!r} for anonymous id {anon!r} (sent with POST /api/v1/events)",
        route=EventRoute.V1_ANONYMOUS,
        anonymous_id=anon,
    )


__all__ = ["event_action", "event_label", "plan_event", "sent_name"]
