"""How the Preview page shows a previewed person (pure text functions of a
:class:`~cio_desktop.sync.engine.PreviewRow`): who they are, the decision in words, why a test send
is blocked, the JSON Customer.io gets, what changed, and their account as an object."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cio_desktop.sync.model import Action, Reason

if TYPE_CHECKING:
    from cio_desktop.sync.engine import PreviewRow


def row_customer_id(row: PreviewRow) -> str:
    return row.decision.customer_id or ""


def row_label(row: PreviewRow) -> str:
    return row.label


def row_action(row: PreviewRow) -> str:
    return row.decision.action.value


def row_user(row: PreviewRow) -> str:
    return row.user


def row_person(row: PreviewRow) -> str:
    """Name and email for the Person column (the Hull id has its own place in the detail pane)."""
    suffix = f" (Hull id {row.decision.hull_id})"
    return row.user.removesuffix(suffix) if row.user != suffix.lstrip() else row.user


def row_hull_id(row: PreviewRow) -> str:
    return row.decision.hull_id


def row_segments(row: PreviewRow) -> str:
    person = row.decision.person
    segments = person.attributes.get("hull_segments") if person is not None else None
    return ", ".join(str(s) for s in segments) if isinstance(segments, list) else ""


def row_message(row: PreviewRow) -> str:
    message = row.decision.message
    return f"{row.label}: {message}" if message else row.label


def row_send_blocked(row: PreviewRow) -> str:
    """Why "Send this person now" cannot send this person, or "" when it can. Unchanged people can
    be sent (a test send sends them anyway); skipped people would only be skipped again."""
    d = row.decision
    if d.action is Action.SKIP and d.reason is not Reason.UNCHANGED:
        return f"Not sent: {d.message or d.label}."
    if d.person is None or not d.customer_id:
        return f"Nothing to send for this person ({d.label})."
    return ""


def _full_payload(row: PreviewRow) -> str:
    """The operations text; for an unchanged person, the identify a sync would send had anything changed."""
    person = row.decision.person
    if row.payload or row.decision.reason is not Reason.UNCHANGED or person is None or not person.customer_id:
        return row.payload
    from cio_desktop.sync.mapping import identify_operation

    return json.dumps([identify_operation(person)], ensure_ascii=False)


def row_json_title(row: PreviewRow) -> str:
    """The heading over the JSON: what it is, in words."""
    if row.payload:
        return "Sent to Customer.io"
    if _full_payload(row):
        return "Unchanged: this is what Customer.io already has (a sync sends nothing for this person)"
    return "Nothing is sent for this person"


def row_json(row: PreviewRow) -> str:
    """The operations Customer.io gets for this person (for an unchanged person: what it has)."""
    payload = _full_payload(row)
    if not payload:
        return "Nothing is sent for this person: " + row_message(row)
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload


def row_account(row: PreviewRow) -> str:
    """With accounts sent as objects: the person's account as an object and their relationship to it
    (the object goes out once per sync for all its people, and only when it changed)."""
    if not row.objects:
        return ""
    identify, relate = json.loads(row.objects)
    ids = identify.get("identifiers", {})
    if "not sent" in identify:
        head = f"Their account is not sent: {identify['not sent']}"
    else:
        head = f"Their account: object {ids.get('object_id')} of type {ids.get('object_type_id')}, with " + json.dumps(
            identify.get("attributes", {}), ensure_ascii=False
        )
    action = "related to it" if relate.get("action") == "add_relationships" else "not related"
    return f"{head}; this person is {action} (add_relationships)."


def row_changes(row: PreviewRow) -> str:
    text = _person_changes(row)
    account = row_account(row)
    return f"{text}\n{account}" if account else text


def _person_changes(row: PreviewRow) -> str:
    d = row.decision
    if d.action is Action.SKIP and d.reason is not Reason.UNCHANGED:
        return "Nothing changes in Customer.io: this person is not sent."
    if d.reason is Reason.NEW:
        return "Never sent before: every attribute is new."
    ch = row.changes
    if not ch.any:
        return "Nothing changed since the last sync."
    lines = []
    for title, names in (("Added", ch.added), ("Changed", ch.changed), ("Removed", ch.removed)):
        if names:
            lines.append(f"{title}: {', '.join(names)}")
    return "\n".join(lines)
