"""Hull user -> Customer.io person (pure; the per-user hot path of every sync).

What a person looks like, as Hull's connector sent it (docs/api-contracts.md, "Hull's Customer.io connector"):
- identifier: the profile's customerId attribute (``external_id`` by default; ``id``, ``email`` or any
  attribute such as ``traits_crm/id``), sent as ``{"id": ...}``, or ``{"email": ...}`` when it is the email;
- base attributes ``email``, ``created_at`` (Unix seconds) and ``hull_segments`` (names, sorted);
- the profile's mapped attributes under their Customer.io names (a mapping may override a base one);
- with anonymous events on, ``anonymous_id`` = the user's first Hull anonymous id, so Customer.io
  attaches the anonymous events sent before the user had a customerId to this person.

Values: dates (Hull type ``date`` or a name ending ``_at``/``_date``) become integer Unix seconds;
text, booleans and numbers are kept; lists and objects are sent as JSON values; ``None`` is left out
unless the profile sends nulls. NaN/infinity and values that are not JSON are violations, as is
everything over a Customer.io limit (:mod:`cio_desktop.sync.validation`). Mapping never raises on a
JSON-like user: whatever is wrong ends up in ``MappedPerson.violations``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from typing import Any

from cio_desktop import jsonfast
from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.sync.model import MappedPerson, MappingContext, Violation
from cio_desktop.sync.validation import (
    check_attributes,
    check_identifier,
    check_operation_size,
    json_text,
    utf8_len,
    wire_size,
)

# The standard library's canonical JSON: what orjson refuses, and the hash of older ledgers.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode
# Marks payload hashes of the exact operation bytes (see _encode); older hashes have no prefix.
HASH_PREFIX = "v2:"


def parse_date(value: Any) -> int | None:
    """Whole Unix seconds (the form Customer.io takes) for any date form Hull emits, or None when
    ``value`` is not a date; the forms and the epoch-unit rule are in :mod:`cio_desktop.hull.dates`."""
    seconds = parse_hull_date(value)
    return None if seconds is None else math.floor(seconds)


@functools.lru_cache(maxsize=8)  # a run stamps every person it sends with the same few seconds
def format_time(unix_seconds: float) -> str:
    """ISO 8601 UTC text, as written back to Hull traits (``2018-03-30T14:38:02Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(unix_seconds)))


def read_attribute(user: dict[str, Any], key: str) -> Any:
    """A Hull attribute of ``user``; ``account.x`` reads the nested account object (or a flat ``account.x``)."""
    value = user.get(key)
    if value is None and key.startswith("account."):
        account = user.get("account")
        if isinstance(account, dict):
            value = account.get(key[8:])
    return value


def customer_id_of(user: dict[str, Any], ctx: MappingContext) -> tuple[str | None, Violation | None]:
    """The customerId from the profile's chosen attribute; (None, None) when the user has none."""
    value = read_attribute(user, ctx.id_attribute)
    if value is None:
        return None, None
    if type(value) is str:
        return (value, None) if value.strip() else (None, None)
    if isinstance(value, bool):
        problem = "is true/false"
    elif isinstance(value, int):
        return str(value), None
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value)), None
    else:
        problem = "is a number with a fraction" if isinstance(value, float) else f"is a {type(value).__name__}"
    return None, Violation(
        "(identifier)", f"customerId attribute '{ctx.id_attribute}' {problem}, not text; choose another attribute"
    )


def segment_names_of(user: dict[str, Any], ctx: MappingContext) -> list[str]:
    ids = user.get("segment_ids")
    if not isinstance(ids, list):
        return []
    names = ctx.segment_names
    return sorted({names[s] for s in ids if isinstance(s, str) and s in names})


def map_user(user: dict[str, Any], ctx: MappingContext) -> MappedPerson:
    """Turn one Hull user into the Customer.io person the profile describes (never raises)."""
    violations: list[Violation] = []
    send_nulls = ctx.profile.send_nulls
    customer_id, identifiers = _identifiers(user, ctx, violations)

    raw_email = user.get("email")
    email = raw_email if isinstance(raw_email, str) and raw_email.strip() else None

    attributes: dict[str, Any] = {}
    if email is not None or send_nulls:
        attributes["email"] = email
    created = user.get("created_at")
    if created is not None:
        ts = parse_date(created)
        if ts is None:
            violations.append(Violation("created_at", f"created_at {_show(created)} is not a date"))
        else:
            attributes["created_at"] = ts
    elif send_nulls:
        attributes["created_at"] = None
    attributes["hull_segments"] = segment_names_of(user, ctx)

    for f in ctx.fields:
        value = user.get(f.hull)
        if value is None and f.account_key is not None:
            account = user.get("account")
            if isinstance(account, dict):
                value = account.get(f.account_key)
        if value is None:
            if send_nulls:
                attributes[f.cio] = None
            else:
                attributes.pop(f.cio, None)  # a mapping overriding a base attribute wins, even when empty
            continue
        if f.is_date:
            ts = parse_date(value)
            if ts is not None:
                attributes[f.cio] = ts
                continue
            if f.strict_date:
                attributes.pop(f.cio, None)
                violations.append(Violation(f.cio, f"'{f.hull}' is a date attribute but {_show(value)} is not a date"))
                continue
        kind = type(value)
        if kind is str or kind is int or kind is bool:  # the common case, kept inline
            attributes[f.cio] = value
            continue
        value, problem = _json_value(f.cio, value)
        if problem is None:
            attributes[f.cio] = value
        else:
            attributes.pop(f.cio, None)
            violations.append(problem)

    anonymous_id = _first_anonymous_id(user)
    if anonymous_id is not None and ctx.profile.anonymous_events and "anonymous_id" not in attributes:
        # Customer.io attaches earlier anonymous events to a person whose anonymous_id attribute matches.
        attributes["anonymous_id"] = anonymous_id

    payload_hash, wire = _encode(identifiers, attributes, violations)
    raw_id = user.get("id")
    return MappedPerson(
        hull_id=raw_id if isinstance(raw_id, str) else ("" if raw_id is None else str(raw_id)),
        customer_id=customer_id,
        identifiers=identifiers,
        attributes=attributes,
        payload_hash=payload_hash,
        violations=tuple(violations),
        email=email,
        anonymous_id=anonymous_id,
        wire=wire if not violations else b"",
    )


def _identifiers(
    user: dict[str, Any], ctx: MappingContext, violations: list[Violation]
) -> tuple[str | None, dict[str, str]]:
    """The customerId and the v2 identifiers it makes (empty without one); problems go to ``violations``."""
    customer_id, id_problem = customer_id_of(user, ctx)
    if id_problem is not None:
        violations.append(id_problem)
    identifiers: dict[str, str] = {}
    if customer_id is not None:
        identifiers[ctx.id_key] = customer_id
        v = check_identifier(ctx.id_key, customer_id)
        if v is not None:
            violations.append(v)
    return customer_id, identifiers


def _first_anonymous_id(user: dict[str, Any]) -> str | None:
    anon = user.get("anonymous_ids")
    if not isinstance(anon, list) or not anon:
        return None
    first = anon[0]
    if type(first) is str and first:  # nearly always: no need to look further
        return first
    return next((a for a in anon if isinstance(a, str) and a), None)


def _json_value(name: str, value: Any) -> tuple[Any, Violation | None]:
    """A mapped value that is not text, an integer or a boolean, as sent: finite numbers, lists (tuples
    too) and objects that are JSON, subclasses of JSON scalars; anything else is a violation."""
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value, None
        return None, Violation(name, f"value for attribute '{name}' is {value} (NaN or infinity)")
    if kind is list or kind is dict or kind is tuple:
        if kind is list and all(type(item) is str for item in value):  # tags and the like: surely JSON
            return value, None
        if kind is tuple:
            value = list(value)
        try:
            json_text(value)
        except (ValueError, TypeError):
            return None, Violation(
                name, f"value for attribute '{name}' holds NaN, infinity or a value that is not JSON"
            )
        return value, None
    if isinstance(value, int | str | float):  # subclasses (e.g. IntEnum) from non-JSON sources
        return value, None
    return None, Violation(name, f"value for attribute '{name}' is a {kind.__name__}, which is not a JSON value")


def _encode(identifiers: dict[str, str], attributes: dict[str, Any], violations: list[Violation]) -> tuple[str, bytes]:
    """The payload hash and the identify operation as sent (compact UTF-8 JSON, attributes in key
    order), after the last checks (Customer.io's limits, text it cannot take, the operation's size)
    added their ``violations``. The hash is of those exact bytes."""
    violations.extend(check_attributes(attributes))
    try:
        ids_json = jsonfast.dumps(identifiers)
        attrs_json = jsonfast.dumps(attributes, sort_keys=True)
    except jsonfast.EncodeError:
        # Lone surrogates, integers over 64 bits, keys that are not text: the standard library decides.
        ids_json, attrs_json = _encode_slow(identifiers, attributes, violations)
    wire = b'{"type":"person","identifiers":' + ids_json + b',"action":"identify","attributes":' + attrs_json + b"}"
    size_problem = check_operation_size(len(wire), "identify operation")
    if size_problem is not None:
        violations.append(size_problem)
    return HASH_PREFIX + hashlib.blake2b(wire, digest_size=8).hexdigest(), wire


def _encode_slow(
    identifiers: dict[str, str], attributes: dict[str, Any], violations: list[Violation]
) -> tuple[bytes, bytes]:
    """What orjson refused, encoded by the standard library (ASCII, so sizes stay exact bytes)."""
    ids_json, attrs_json = _material(identifiers, attributes, violations)
    if "\\ud" in attrs_json or "\\ud" in ids_json:  # escaped surrogates: emoji, or lone ones that cannot be sent
        violations.extend(_invalid_unicode(identifiers, attributes, {v.attribute for v in violations}))
    return ids_json.encode("ascii"), attrs_json.encode("ascii")


def _material(identifiers: dict[str, str], attributes: dict[str, Any], violations: list[Violation]) -> tuple[str, str]:
    """Canonical JSON (sorted keys, ASCII) of identifiers and of attributes, the standard library's way."""
    try:
        return _canonical(identifiers), _canonical(attributes)
    except (TypeError, ValueError):
        # Only JSON objects whose keys cannot be sorted (mixed types) get here: drop them as invalid.
        for name in list(attributes):
            try:
                _canonical(attributes[name])
            except (TypeError, ValueError):
                del attributes[name]
                violations.append(Violation(name, f"value for attribute '{name}' has keys that are not all text"))
        return _canonical(identifiers), _canonical(attributes)


def legacy_payload_hash(person: MappedPerson) -> str | None:
    """The payload hash as ledgers (and Hull's ``customerio/hash`` traits) written before ``v2:`` hold it:
    standard-library JSON (sorted, ASCII) of ``[identifiers, attributes]``. Only compared when a stored
    hash is of that kind, so people unchanged since such a sync stay unchanged (see planner)."""
    try:
        material = f"[{_canonical(person.identifiers)},{_canonical(person.attributes)}]"
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(material.encode("ascii"), digest_size=8).hexdigest()


def _invalid_unicode(identifiers: dict[str, str], attributes: dict[str, Any], reported: set[str]) -> list[Violation]:
    out: list[Violation] = []
    for key, value in identifiers.items():
        if "(identifier)" not in reported and utf8_len(value) is None:
            out.append(Violation("(identifier)", f"{key} is not valid Unicode text"))
    for name, value in attributes.items():
        if name in reported:
            continue
        if isinstance(value, list | dict):
            try:
                wire_size(value)
                bad = False
            except UnicodeEncodeError:
                bad = True
            except (ValueError, TypeError):
                bad = False  # reported as NaN / not JSON elsewhere
        else:
            bad = isinstance(value, str) and utf8_len(value) is None
        if bad or utf8_len(name) is None:
            out.append(Violation(name, f"attribute '{name}' is not valid Unicode text"))
    return out


def identify_operation(person: MappedPerson) -> dict[str, Any]:
    """The v2 batch ``identify`` operation for a person (shares the person's dicts; do not mutate)."""
    return {"type": "person", "identifiers": person.identifiers, "action": "identify", "attributes": person.attributes}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "HASH_PREFIX",
    "customer_id_of",
    "format_time",
    "identify_operation",
    "legacy_payload_hash",
    "map_user",
    "parse_date",
    "read_attribute",
    "segment_names_of",
]
