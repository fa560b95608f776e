"""Hull accounts -> Customer.io objects, and people -> relationships (pure; no I/O).

A Hull user carries the account (company) they belong to under ``account`` (export files may also
have flat ``account.x`` keys). With ``profile.objects.enabled``, each account becomes one object of the
profile's object type, identified by ``account.domain``, ``account.external_id`` or ``account.id``,
with the mapped account attributes; each person synced is related to their account's object.

The operations are Track v2 batch operations (docs/api-contracts.md, "Objects"):

- ``{"type": "object", "identifiers": {"object_type_id": "1", "object_id": "acme.com"},
  "action": "identify", "attributes": {...}}``
- ``{"type": "person", "identifiers": {"id": "42"}, "action": "add_relationships",
  "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme.com"}}]}``
  (``delete_relationships`` the same way), and ``{"type": "object", ..., "action": "delete"}``.

Values follow the people's rules (:mod:`cio_desktop.sync.mapping`): names ending ``_at``/``_date``
become Unix seconds, nulls are left out, and Customer.io's limits are violations (the object is then
not sent, and says why).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cio_desktop.config.profile import ObjectSettings
from cio_desktop.sync.mapping import parse_date
from cio_desktop.sync.model import Violation
from cio_desktop.sync.validation import check_attributes, check_identifier, check_operation_size

_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


@dataclass(frozen=True, slots=True)
class MappedObject:
    """One account as the Customer.io object the profile describes. ``payload_hash`` covers the type,
    the id and the attributes (key order independent); ``wire`` is the identify operation as sent."""

    object_id: str
    attributes: dict[str, Any]
    payload_hash: str
    violations: tuple[Violation, ...] = ()
    wire: bytes = b""

    @property
    def valid(self) -> bool:
        return not self.violations


def account_of(user: Mapping[str, Any]) -> dict[str, Any] | None:
    """The user's account: the nested ``account`` object, else the flat ``account.x`` keys; None without one."""
    account = user.get("account")
    if isinstance(account, dict) and account:
        return account
    flat = {k[len("account.") :]: v for k, v in user.items() if k.startswith("account.") and len(k) > len("account.")}
    return flat or None


def object_id_of(account: Mapping[str, Any] | None, settings: ObjectSettings) -> str | None:
    """The object id of ``account`` under the profile's identifier (text, trimmed), or None."""
    if account is None:
        return None
    value = account.get(settings.identifier[len("account.") :])
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) and not (isinstance(value, float) and not math.isfinite(value)):
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def map_object(account: Mapping[str, Any], object_id: str, settings: ObjectSettings) -> MappedObject:
    """The object for one account (never raises; problems are in ``violations``)."""
    violations: list[Violation] = []
    id_problem = check_identifier("object_id", object_id)
    if id_problem is not None:
        violations.append(id_problem)
    attributes: dict[str, Any] = {}
    for m in settings.mappings:
        value = account.get(m.hull[len("account.") :])
        if value is None:
            continue
        last = m.hull.rsplit(".", 1)[-1]
        if last.endswith(("_at", "_date")) and not isinstance(value, bool):
            ts = parse_date(value)
            if ts is not None:
                value = ts
        if isinstance(value, float) and not math.isfinite(value):
            violations.append(Violation(m.cio, f"value for attribute '{m.cio}' is {value} (NaN or infinity)"))
            continue
        if isinstance(value, tuple):
            value = list(value)
        attributes[m.cio] = value
    violations.extend(check_attributes(attributes))
    identifiers = {"object_type_id": settings.type_id, "object_id": object_id}
    try:
        ids_json, attrs_json = _canonical(identifiers), _canonical(attributes)
    except (TypeError, ValueError):
        violations.append(Violation("(attributes)", "an account attribute is not a JSON value"))
        ids_json, attrs_json = _canonical(identifiers), "{}"
    wire = f'{{"type":"object","identifiers":{ids_json},"action":"identify","attributes":{attrs_json}}}'
    size_problem = check_operation_size(len(wire), "object identify operation")
    if size_problem is not None:
        violations.append(size_problem)
    if "\\ud" in wire and _has_lone_surrogate(attributes, object_id):
        violations.append(Violation("(attributes)", "an account attribute is not valid Unicode text"))
    digest = hashlib.blake2b(f"[{ids_json},{attrs_json}]".encode("ascii"), digest_size=8).hexdigest()
    return MappedObject(
        object_id=object_id,
        attributes=attributes,
        payload_hash=digest,
        violations=tuple(violations),
        wire=wire.encode("ascii") if not violations else b"",
    )


def _has_lone_surrogate(attributes: Mapping[str, Any], object_id: str) -> bool:
    try:
        json.dumps([object_id, attributes], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def object_reference(type_id: str, object_id: str) -> dict[str, Any]:
    return {"identifiers": {"object_type_id": type_id, "object_id": object_id}}


def relationship_operation(id_key: str, customer_id: str, type_id: str, object_id: str, *, add: bool) -> dict[str, Any]:
    """A person's ``add_relationships`` (or ``delete_relationships``) to one object."""
    return {
        "type": "person",
        "identifiers": {id_key: customer_id},
        "action": "add_relationships" if add else "delete_relationships",
        "cio_relationships": [object_reference(type_id, object_id)],
    }


def object_delete_operation(type_id: str, object_id: str) -> dict[str, Any]:
    return {"type": "object", "identifiers": {"object_type_id": type_id, "object_id": object_id}, "action": "delete"}


@dataclass(frozen=True, slots=True)
class RelationshipChange:
    """What one person's relationship needs: ``old`` removed and/or ``new`` added (object ids)."""

    customer_id: str
    old: str | None
    new: str | None

    def operations(self, id_key: str, type_id: str, old_type_id: str | None = None) -> list[dict[str, Any]]:
        ops = []
        if self.old is not None:
            ops.append(relationship_operation(id_key, self.customer_id, old_type_id or type_id, self.old, add=False))
        if self.new is not None:
            ops.append(relationship_operation(id_key, self.customer_id, type_id, self.new, add=True))
        return ops

    @property
    def label(self) -> str:
        if self.old is None:
            return "relationship (added)"
        if self.new is None:
            return "relationship (removed: no account)"
        return "relationship (moved to another account)"


__all__ = [
    "MappedObject",
    "RelationshipChange",
    "account_of",
    "map_object",
    "object_delete_operation",
    "object_id_of",
    "object_reference",
    "relationship_operation",
]
