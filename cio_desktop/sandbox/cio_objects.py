"""Customer.io objects in the sandbox: object types, objects and their relationships to people.

What the v2 batch accepts for ``"type": "object"`` (docs/api-contracts.md, "Objects"):
- ``identifiers`` = ``{"object_type_id": "1", "object_id": "acme.com"}``: the type id is the numeric id
  of an object type that exists in the workspace (created there first; the sandbox has type ``1``,
  "Accounts"), given as text or a number; the object id is non-empty text of at most 150 bytes.
- actions ``identify`` (attributes as for people: names 150 bytes, values 1000 bytes, 300 per call;
  ``cio_relationships`` optional, people by ``id``/``email``/``cio_id``), ``delete``,
  ``add_relationships`` and ``delete_relationships`` (a non-empty ``cio_relationships`` list of people).
- A relationship always joins one person and one object; relating a person to an object that does
  not exist is refused (``not_found``) instead of inventing an empty object, so a client that sends a
  relationship before its object is caught.

Relationships are kept on the people (:class:`~cio_desktop.sandbox.customerio.CioStore` holds them),
so deleting a person removes theirs, and deleting an object removes it from everyone it was related to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cio_desktop.sandbox.cio_checks import Reason, _reject, check_attributes, check_identifiers

if TYPE_CHECKING:
    from cio_desktop.sandbox.customerio import CioStore

MAX_OBJECT_ID_BYTES = 150
DEFAULT_OBJECT_TYPES = {"1": "Accounts"}


@dataclass
class SandboxObject:
    type_id: str
    object_id: str
    attributes: dict[str, Any]
    created: int
    updated: int = 0
    identifies: int = 0


@dataclass
class ObjectState:
    """The workspace's object types and objects (guarded by the owning store's lock)."""

    types: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_OBJECT_TYPES))
    objects: dict[tuple[str, str], SandboxObject] = field(default_factory=dict)
    deleted: list[dict[str, Any]] = field(default_factory=list)


def check_object_identifiers(raw: Any, types: dict[str, str], field_name: str = "identifiers") -> tuple[str, str]:
    """(type id, object id) of an object reference, or raise :class:`Rejected` saying what is wrong."""
    if not isinstance(raw, dict):
        raise _reject(Reason.REQUIRED, field_name, "identifiers must be an object with object_type_id and object_id")
    type_id = raw.get("object_type_id")
    object_id = raw.get("object_id")
    if isinstance(type_id, int) and not isinstance(type_id, bool):
        type_id = str(type_id)
    if not isinstance(type_id, str) or not type_id:
        raise _reject(Reason.REQUIRED, f"{field_name}.object_type_id", "object_type_id is required")
    if not type_id.isdigit():
        raise _reject(Reason.INVALID, f"{field_name}.object_type_id", "object_type_id must be a numeric id")
    if type_id not in types:
        raise _reject(
            Reason.NOT_FOUND,
            f"{field_name}.object_type_id",
            f"object type {type_id} does not exist in this workspace (create it under Data & Integrations first)",
        )
    if not isinstance(object_id, str) or not object_id:
        raise _reject(Reason.REQUIRED, f"{field_name}.object_id", "object_id is required")
    if len(object_id.encode("utf-8", "surrogatepass")) > MAX_OBJECT_ID_BYTES:
        raise _reject(
            Reason.TOO_LONG, f"{field_name}.object_id", f"object_id cannot be longer than {MAX_OBJECT_ID_BYTES} bytes"
        )
    return type_id, object_id


def relationship_entry(type_id: str, object_id: str) -> dict[str, Any]:
    """How a person's relationship to an object is stored (and shown by the inspection endpoints)."""
    return {"identifiers": {"object_type_id": type_id, "object_id": object_id}}


def apply_object_operation(store: CioStore, op: dict[str, Any]) -> None:
    """Validate and apply one ``"type": "object"`` operation (the caller holds no lock)."""
    action = op.get("action")
    if action not in ("identify", "delete", "add_relationships", "delete_relationships"):
        raise _reject(Reason.INVALID, "action", f"unsupported action {str(action)[:40]!r} for type 'object'")
    with store.lock:
        state = store.object_state
        type_id, object_id = check_object_identifiers(op.get("identifiers"), state.types)
        key = (type_id, object_id)
        if action == "identify":
            attrs = check_attributes(op.get("attributes", {}))
            people = _people_of(store, op.get("cio_relationships"), required=False)
            now = int(time.time())
            obj = state.objects.get(key)
            if obj is None:
                obj = state.objects[key] = SandboxObject(type_id, object_id, {}, created=now)
            for name, value in attrs.items():
                if value is None:
                    obj.attributes.pop(name, None)
                else:
                    obj.attributes[name] = value
            obj.updated = now
            obj.identifies += 1
            for person in people:
                store.relate(person, relationship_entry(type_id, object_id), add=True)
            return
        if key not in state.objects:
            raise _reject(Reason.NOT_FOUND, "identifiers", f"object {object_id!r} of type {type_id} not found")
        if action == "delete":
            del state.objects[key]
            store.unrelate_everyone(relationship_entry(type_id, object_id))
            state.deleted.append({"object_type_id": type_id, "object_id": object_id, "at": int(time.time())})
            return
        people = _people_of(store, op.get("cio_relationships"), required=True)
        for person in people:
            store.relate(person, relationship_entry(type_id, object_id), add=action == "add_relationships")


def _people_of(store: CioStore, rels: Any, *, required: bool) -> list[Any]:
    """The people an object operation's ``cio_relationships`` name (each must exist)."""
    if rels is None and not required:
        return []
    if not isinstance(rels, list) or not rels:
        raise _reject(Reason.REQUIRED, "cio_relationships", "cio_relationships must be a non-empty list")
    people = []
    for i, r in enumerate(rels):
        ids = r.get("identifiers") if isinstance(r, dict) else None
        kind, value = check_identifiers(ids, f"cio_relationships[{i}].identifiers")
        person = store.find_person(kind, value)
        if person is None:
            raise _reject(Reason.NOT_FOUND, f"cio_relationships[{i}]", "person not found")
        people.append(person)
    return people


def objects_detail(store: CioStore) -> list[dict[str, Any]]:
    """Every object with its attributes and the keys of the people related to it (inspection)."""
    from cio_desktop.sandbox.customerio import _key

    with store.lock:
        related: dict[tuple[str, str], list[str]] = {}
        for person in store.all_people():
            for rel in person.relationships:
                ids = rel["identifiers"]
                related.setdefault((ids["object_type_id"], ids["object_id"]), []).append(_key(person))
        return [
            {
                "object_type_id": obj.type_id,
                "object_id": obj.object_id,
                "attributes": dict(obj.attributes),
                "identifies": obj.identifies,
                "people": sorted(related.get(key, [])),
            }
            for key, obj in sorted(store.object_state.objects.items())
        ]


def object_deletions(store: CioStore) -> list[dict[str, Any]]:
    with store.lock:
        return [dict(d) for d in store.object_state.deleted]


__all__ = [
    "DEFAULT_OBJECT_TYPES",
    "MAX_OBJECT_ID_BYTES",
    "ObjectState",
    "SandboxObject",
    "apply_object_operation",
    "check_object_identifiers",
    "object_deletions",
    "objects_detail",
    "relationship_entry",
]
