"""Customer.io emulation: the workspace's people and events, the v2 batch operations, and the App API's reads.

The Track API's checks and limits are in :mod:`cio_desktop.sandbox.cio_checks`, objects in
:mod:`cio_desktop.sandbox.cio_objects`. v1 answers a violation with 400 ``{"meta": {"error": ...}}``;
v2 answers 207 with one entry per failed operation while applying the valid ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cio_desktop.sandbox.cio_checks import (
    MAX_OPERATION_BYTES,
    EventIn,
    Reason,
    _reject,
    check_attributes,
    check_event,
    check_identifier,
    check_identifiers,
    compact_json,
    compact_size,
)
from cio_desktop.sandbox.cio_objects import (
    ObjectState,
    apply_object_operation,
    check_object_identifiers,
    object_deletions,
    objects_detail,
)


# ---------------------------------------------------------------------- state
@dataclass
class _Person:
    cio_id: str
    id: str | None
    email: str | None
    attributes: dict[str, Any]
    created: int
    timestamps: dict[str, int] = field(default_factory=dict)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppressed: bool = False


class CioStore:
    """What the emulated Customer.io workspace holds. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._people: dict[str, _Person] = {}
            self._by_id: dict[str, str] = {}
            self._by_email: dict[str, str] = {}
            self._events: list[dict[str, Any]] = []
            self._event_ids: set[str] = set()
            self._deletions: list[dict[str, Any]] = []
            self._merges: list[dict[str, Any]] = []
            self._next_cio = 0xA30000
            self.object_state = ObjectState()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def find_person(self, kind: str, value: str) -> _Person | None:
        return self._find(kind, value)

    def all_people(self) -> list[_Person]:
        return list(self._people.values())

    def relate(self, p: _Person, entry: dict[str, Any], *, add: bool) -> None:
        """Add or remove one relationship of ``p`` (the caller holds the lock)."""
        if add and entry not in p.relationships:
            p.relationships.append(entry)
        elif not add and entry in p.relationships:
            p.relationships.remove(entry)

    def unrelate_everyone(self, entry: dict[str, Any]) -> None:
        for p in self._people.values():
            if entry in p.relationships:
                p.relationships.remove(entry)

    # ------------------------------------------------------------------ lookups
    def _find(self, kind: str, value: str) -> _Person | None:
        if kind == "id":
            key = self._by_id.get(value)
        elif kind == "email":
            key = self._by_email.get(value.lower())
        else:
            key = value if value in self._people else None
        return self._people.get(key) if key else None

    def _new(self, pid: str | None, email: str | None) -> _Person:
        self._next_cio += 1
        p = _Person(cio_id=f"{self._next_cio:x}", id=None, email=None, attributes={}, created=int(time.time()))
        self._people[p.cio_id] = p
        if pid is not None:
            self._set_id(p, pid)
        if email is not None:
            self._set_email(p, email)
        return p

    def _set_id(self, p: _Person, pid: str) -> None:
        if p.id is not None:
            self._by_id.pop(p.id, None)
        p.id = pid
        self._by_id[pid] = p.cio_id

    def _set_email(self, p: _Person, email: str) -> None:
        if p.email is not None and self._by_email.get(p.email.lower()) == p.cio_id:
            self._by_email.pop(p.email.lower(), None)
        p.email = email
        self._by_email.setdefault(email.lower(), p.cio_id)

    # ------------------------------------------------------------------ operations
    def identify(self, kind: str, value: str, attrs: dict[str, Any]) -> None:
        """Create or update a person (``_update: true`` only updates an existing one)."""
        now = int(time.time())
        with self._lock:
            update_only = attrs.get("_update") is True
            p = self._find(kind, value)
            if p is None:
                if kind == "cio_id":
                    raise _reject(Reason.NOT_FOUND, "identifiers", f"no person with cio_id {value}")
                if update_only:
                    return
                p = self._new(value if kind == "id" else None, value if kind == "email" else None)
                if kind == "email":
                    p.attributes["email"] = value
            for name, v in attrs.items():
                if name == "_update":
                    continue
                if v is None or v == "":
                    p.attributes.pop(name, None)  # null or "" removes an attribute in Customer.io
                    p.timestamps.pop(name, None)
                    continue
                if name == "email" and isinstance(v, str):
                    self._set_email(p, v)
                if name == "id" and kind != "id" and p.id is None and isinstance(v, str | int):
                    self._set_id(p, str(v))
                    continue
                p.attributes[name] = v
                p.timestamps[name] = now

    def delete(self, kind: str, value: str) -> None:
        with self._lock:
            p = self._find(kind, value)
            self._deletions.append({kind: value, "existed": p is not None, "at": time.time()})
            if p is not None:
                self._remove(p)

    def _remove(self, p: _Person) -> None:
        self._people.pop(p.cio_id, None)
        if p.id is not None and self._by_id.get(p.id) == p.cio_id:
            del self._by_id[p.id]
        if p.email is not None and self._by_email.get(p.email.lower()) == p.cio_id:
            del self._by_email[p.email.lower()]

    def track(self, kind: str | None, value: str | None, anonymous_id: str | None, event: EventIn) -> None:
        """Record an event for a person (by identifier) or an anonymous visitor. Same id twice: kept once."""
        with self._lock:
            if event.event_id is not None:
                if event.event_id in self._event_ids:
                    return
                self._event_ids.add(event.event_id)
            p = self._find(kind, value) if kind and value else None
            self._events.append(
                {
                    "person": {kind: value} if kind else None,
                    "person_id": p.id if p else (value if kind == "id" else None),
                    "cio_id": p.cio_id if p else None,
                    "anonymous_id": anonymous_id,
                    "name": event.name,
                    "type": event.event_type,
                    "id": event.event_id,
                    "timestamp": event.timestamp if event.timestamp is not None else int(time.time()),
                    "data": event.data,
                    "received_at": time.time(),
                }
            )

    def merge(self, primary: tuple[str, str], secondary: tuple[str, str]) -> None:
        """Fold the secondary person into the primary: primary values win, the secondary disappears."""
        with self._lock:
            sec = self._find(*secondary)
            prim = self._find(*primary)
            self._merges.append(
                {"primary": {primary[0]: primary[1]}, "secondary": {secondary[0]: secondary[1]}, "at": time.time()}
            )
            if sec is None or sec is prim:
                return
            if prim is None:
                if primary[0] == "cio_id":
                    raise _reject(Reason.NOT_FOUND, "primary", f"no person with cio_id {primary[1]}")
                prim = self._new(primary[1] if primary[0] == "id" else None, None)
                if primary[0] == "email":
                    self._set_email(prim, primary[1])
                    prim.attributes["email"] = primary[1]
            self._remove(sec)
            for k, v in sec.attributes.items():
                if k not in prim.attributes:
                    prim.attributes[k] = v
                    prim.timestamps[k] = sec.timestamps.get(k, int(time.time()))
            if prim.email is None and sec.email is not None:
                self._set_email(prim, sec.email)
            prim.relationships.extend(r for r in sec.relationships if r not in prim.relationships)
            prim.devices.update({k: v for k, v in sec.devices.items() if k not in prim.devices})
            for ev in self._events:
                if ev["cio_id"] == sec.cio_id:
                    ev["cio_id"], ev["person_id"] = prim.cio_id, prim.id

    def relationships(self, kind: str, value: str, rels: Any, add: bool) -> None:
        """A person's ``add_relationships`` / ``delete_relationships``: each names an object that must exist."""
        if not isinstance(rels, list) or not rels:
            raise _reject(Reason.REQUIRED, "cio_relationships", "cio_relationships must be a non-empty list")
        with self._lock:
            entries = []
            for i, r in enumerate(rels):
                ids = r.get("identifiers") if isinstance(r, dict) else None
                type_id, object_id = check_object_identifiers(
                    ids, self.object_state.types, f"cio_relationships[{i}].identifiers"
                )
                if add and (type_id, object_id) not in self.object_state.objects:
                    raise _reject(
                        Reason.NOT_FOUND,
                        f"cio_relationships[{i}]",
                        f"object {object_id!r} of type {type_id} not found (identify the object first)",
                    )
                entries.append({"identifiers": {"object_type_id": type_id, "object_id": object_id}})
            p = self._find(kind, value)
            if p is None:
                if not add or kind == "cio_id":
                    raise _reject(Reason.NOT_FOUND, "identifiers", "person not found")
                p = self._new(value if kind == "id" else None, value if kind == "email" else None)
            for entry in entries:
                self.relate(p, entry, add=add)

    def device(self, kind: str, value: str, device: Any, add: bool) -> None:
        if not isinstance(device, dict) or not isinstance(device.get("token") or device.get("id"), str):
            raise _reject(Reason.REQUIRED, "device", "device must have a token")
        token = device.get("token") or device.get("id")
        with self._lock:
            p = self._find(kind, value)
            if p is None:
                if not add:
                    return
                p = self._new(value if kind == "id" else None, value if kind == "email" else None)
            if add:
                p.devices[str(token)] = dict(device)
            else:
                p.devices.pop(str(token), None)

    def suppress(self, kind: str, value: str, flag: bool) -> None:
        with self._lock:
            p = self._find(kind, value)
            if p is not None:
                p.suppressed = flag

    # ------------------------------------------------------------------ inspection
    def people(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {_key(p): dict(p.attributes) for p in self._people.values()}

    def people_detail(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "key": _key(p),
                    "cio_id": p.cio_id,
                    "id": p.id,
                    "email": p.email,
                    "attributes": dict(p.attributes),
                    "relationships": list(p.relationships),
                    "suppressed": p.suppressed,
                }
                for p in self._people.values()
            ]

    def objects_detail(self) -> list[dict[str, Any]]:
        return objects_detail(self)

    def object_deletions(self) -> list[dict[str, Any]]:
        return object_deletions(self)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._events]

    def deletions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(d) for d in self._deletions]

    def merges(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._merges]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "people": len(self._people),
                "events": len(self._events),
                "deletions": len(self._deletions),
                "merges": len(self._merges),
                "objects": len(self.object_state.objects),
            }

    # ------------------------------------------------------------------ App API shapes
    def customer(self, kind: str, value: str) -> dict[str, Any] | None:
        with self._lock:
            p = self._find(kind, value)
            return _app_customer(p) if p else None

    def activities(self, kind: str, value: str) -> list[dict[str, Any]] | None:
        with self._lock:
            p = self._find(kind, value)
            if p is None:
                return None
            return [
                {
                    "id": e["id"] or f"evt-{n}",
                    "customer_id": p.id,
                    "customer_identifiers": {"id": p.id, "email": p.email, "cio_id": p.cio_id},
                    "type": "event" if e["type"] == "event" else e["type"],
                    "name": e["name"],
                    "timestamp": e["timestamp"],
                    "data": e["data"],
                }
                for n, e in enumerate(self._events)
                if e["cio_id"] == p.cio_id
            ]


def _key(p: _Person) -> str:
    if p.id is not None:
        return p.id
    if p.email is not None:
        return p.email
    return f"cio_{p.cio_id}"


def _as_text(v: Any) -> str:
    """App API values are strings: numbers as written, booleans lowercase, objects as compact JSON."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return compact_json(v)


def _app_customer(p: _Person) -> dict[str, Any]:
    attrs = {k: _as_text(v) for k, v in p.attributes.items()}
    attrs["cio_id"] = p.cio_id
    if p.id is not None:
        attrs["id"] = p.id
    if p.email is not None:
        attrs["email"] = p.email
    attrs["_created_in_customerio_at"] = str(p.created)
    return {
        "id": p.id,
        "identifiers": {"id": p.id, "email": p.email, "cio_id": p.cio_id},
        "attributes": attrs,
        "timestamps": dict(p.timestamps),
        "unsubscribed": p.attributes.get("unsubscribed") is True,
        "devices": [dict(d) for d in p.devices.values()],
    }


# ---------------------------------------------------------------------- v2 batch
def apply_operation(store: CioStore, op: Any) -> None:
    """Validate and apply one v2 batch operation; raise :class:`Rejected` naming what is wrong."""
    if not isinstance(op, dict):
        raise _reject(Reason.INVALID, "operation", "operation must be an object")
    if compact_size(op) > MAX_OPERATION_BYTES:
        raise _reject(Reason.TOO_LARGE, "operation", "operation cannot be larger than 32 KB")
    if op.get("type") == "object":
        apply_object_operation(store, op)
        return
    if op.get("type") != "person":
        raise _reject(
            Reason.INVALID,
            "type",
            f"unsupported type {str(op.get('type'))[:40]!r}; the sandbox emulates 'person' and 'object'",
        )
    action = op.get("action")
    handler = _ACTIONS.get(action) if isinstance(action, str) else None
    if handler is None:
        raise _reject(Reason.INVALID, "action", f"unsupported action {str(action)[:40]!r} for type 'person'")
    handler(store, op)


def _op_identify(store: CioStore, op: dict[str, Any]) -> None:
    kind, value = check_identifiers(op.get("identifiers"))
    attrs = check_attributes(op.get("attributes"))
    store.identify(kind, value, attrs)


def _op_delete(store: CioStore, op: dict[str, Any]) -> None:
    store.delete(*check_identifiers(op.get("identifiers")))


def _op_event(event_type: str) -> Callable[[CioStore, dict[str, Any]], None]:
    def handler(store: CioStore, op: dict[str, Any]) -> None:
        anonymous_id = op.get("anonymous_id")
        if "identifiers" in op or anonymous_id is None:
            kind, value = check_identifiers(op.get("identifiers"))
        else:
            kind = value = None  # type: ignore[assignment]
        if anonymous_id is not None:
            anonymous_id = check_identifier("anonymous_id", anonymous_id, "anonymous_id")
        ev = check_event(
            op.get("name"), event_type, op.get("id"), op.get("timestamp"), op.get("attributes"), "attributes"
        )
        store.track(kind, value, anonymous_id, ev)

    return handler


def _op_merge(store: CioStore, op: dict[str, Any]) -> None:
    primary = check_identifiers(op.get("primary"), "primary")
    secondary = check_identifiers(op.get("secondary"), "secondary")
    store.merge(primary, secondary)


def _op_relationships(add: bool) -> Callable[[CioStore, dict[str, Any]], None]:
    def handler(store: CioStore, op: dict[str, Any]) -> None:
        kind, value = check_identifiers(op.get("identifiers"))
        store.relationships(kind, value, op.get("cio_relationships"), add)

    return handler


def _op_device(add: bool) -> Callable[[CioStore, dict[str, Any]], None]:
    def handler(store: CioStore, op: dict[str, Any]) -> None:
        kind, value = check_identifiers(op.get("identifiers"))
        store.device(kind, value, op.get("device"), add)

    return handler


def _op_suppress(flag: bool) -> Callable[[CioStore, dict[str, Any]], None]:
    def handler(store: CioStore, op: dict[str, Any]) -> None:
        kind, value = check_identifiers(op.get("identifiers"))
        store.suppress(kind, value, flag)

    return handler


_ACTIONS: dict[str, Callable[[CioStore, dict[str, Any]], None]] = {
    "identify": _op_identify,
    "delete": _op_delete,
    "event": _op_event("event"),
    "page": _op_event("page"),
    "screen": _op_event("screen"),
    "merge": _op_merge,
    "add_relationships": _op_relationships(True),
    "delete_relationships": _op_relationships(False),
    "add_device": _op_device(True),
    "delete_device": _op_device(False),
    "suppress": _op_suppress(True),
    "unsuppress": _op_suppress(False),
}
