"""The hosted connector's ``customerio/hash``, recomputed, so moving over does not resend everyone (pure).

Hull's hosted Customer.io connector wrote back ``customerio/hash`` = the npm ``object-hash`` of the
customer it sent (``algorithm: "sha1"``, ``encoding: "hex"``, ``respectType: false``). That customer
was ``{"id": <the customerId attribute's raw value>, "email", "created_at": <Unix seconds>,
"hull_segments": [<names, in Hull's order>]}`` plus the synchronized attributes under their
Customer.io names, where every value of a name ending ``_at`` / ``_date`` (but ``created_at``) that
reads as a date became its Unix seconds *as text*.

:func:`connector_hashes` rebuilds that customer from the profile's settings and hashes it; a person
whose trait hash matches one of them has not changed since the connector sent them. A mismatch (a
setting that differs from the connector's, a value the connector's date parser read differently) only
means the person is sent once more: recognition never skips anyone it should not.

:func:`object_hash` implements object-hash's serialisation for JSON values (checked against the npm
package's own output in the tests): ``object:<n>:`` then ``<key>:<value>,`` per key in UTF-16 order,
``array:<n>:`` then the items, ``string:<UTF-16 length>:<text>``, ``number:<JavaScript text>``,
``bool:true``, ``Null``; the text is hashed as UTF-8.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from cio_desktop.sync.mapping import parse_date, read_attribute
from cio_desktop.sync.model import MappingContext

_SHA1_HEX = re.compile(r"[0-9a-f]{40}")
# Integers JavaScript holds exactly: written as Python writes them.
_SAFE_INT = 2**53


def is_connector_hash(value: Any) -> bool:
    """Whether a ``customerio/hash`` trait has the hosted connector's form (40 hex digits of SHA-1);
    this tool's own hashes are 16 hex digits."""
    return isinstance(value, str) and _SHA1_HEX.fullmatch(value) is not None


def object_hash(value: Any) -> str:
    """``require("object-hash")(value, {algorithm: "sha1", encoding: "hex", respectType: false})`` for a
    JSON value (dicts, lists, text, numbers, booleans, None). Raises TypeError on anything else."""
    parts: list[str] = []
    _write(value, parts)
    return _sha1("".join(parts))


def _sha1(text: str) -> str:
    """SHA-1 of object-hash's serialisation ``text``, as Node hashes it."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # Node writes a lone surrogate as U+FFFD
        data = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _write(value: Any, out: list[str]) -> None:
    # The exact JSON types first (what decoded JSON holds), by identity: a person's customer is
    # hashed up to twice per plan, so this runs for every value of every person the connector sent.
    kind = type(value)
    if kind is str:
        out.append(f"string:{len(value) if value.isascii() else _utf16_len(value)}:")
        out.append(value)
    elif kind is int and -_SAFE_INT < value < _SAFE_INT:
        out.append(f"number:{value}")
    elif kind is dict and all(type(k) is str and k.isascii() for k in value):
        # ASCII keys sort the same by code point as by UTF-16 code unit.
        out.append(f"object:{len(value)}:")
        for key in sorted(value):
            item = value[key]
            # The usual values (ASCII text, safe integers, null) inline: a customer is ~25 of them.
            kind = type(item)
            if kind is str and item.isascii():
                out.append(f"string:{len(key)}:{key}:string:{len(item)}:{item},")
            elif kind is int and -_SAFE_INT < item < _SAFE_INT:
                out.append(f"string:{len(key)}:{key}:number:{item},")
            elif item is None:
                out.append(f"string:{len(key)}:{key}:Null,")
            else:
                out.append(f"string:{len(key)}:{key}:")
                _write(item, out)
                out.append(",")
    elif kind is list:
        out.append(f"array:{len(value)}:")
        for item in value:
            _write(item, out)
    else:
        _write_other(value, out)


def _write_other(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("Null")
    elif value is True or value is False:
        out.append("bool:true" if value else "bool:false")
    elif isinstance(value, str):
        out.append(f"string:{_utf16_len(value)}:")
        out.append(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append("number:" + js_number(value))
    elif isinstance(value, list | tuple):
        out.append(f"array:{len(value)}:")
        for item in value:
            _write(item, out)
    elif isinstance(value, dict):
        by_text = {str(k): v for k, v in value.items()}
        keys = sorted(by_text, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        out.append(f"object:{len(keys)}:")
        for key in keys:
            _write(key, out)
            out.append(":")
            _write(by_text[key], out)
            out.append(",")
    else:
        raise TypeError(f"object_hash takes JSON values, not {type(value).__name__}")


def js_number(value: float) -> str:
    """JavaScript's ``Number.prototype.toString()`` for ``value`` (ECMAScript Number::toString)."""
    x = float(value) if not isinstance(value, int) or abs(value) >= 2**53 else value
    if isinstance(x, int):
        return str(x) if abs(x) < 10**21 else js_number(float(x))
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    text = repr(abs(x))  # the shortest digits that round-trip, as JavaScript picks them
    mantissa, _, exp_text = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    stripped = all_digits.lstrip("0")
    n = len(whole) + int(exp_text or 0) - (len(all_digits) - len(stripped))
    digits = stripped.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + digits
    else:
        e = n - 1
        exp = f"e{'+' if e >= 0 else '-'}{abs(e)}"
        out = digits + exp if k == 1 else digits[0] + "." + digits[1:] + exp
    return sign + out


def _connector_date(value: Any) -> Any:
    """A ``*_at`` / ``*_date`` value as the connector sent it: Unix seconds as text when moment.js
    read it as a date (text dates; numbers as milliseconds), else the value unchanged."""
    if isinstance(value, str):
        seconds = parse_date(value)
        return str(seconds) if seconds is not None else value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(math.floor(value / 1000))
    return value


def _customer_fields(user: dict[str, Any], ctx: MappingContext) -> dict[str, Any]:
    """The connector's customer for ``user`` but ``hull_segments``, its ``*_at``/``*_date`` values not
    converted yet."""
    created = parse_date(user.get("created_at"))
    customer: dict[str, Any] = {
        "id": read_attribute(user, ctx.id_attribute),
        "email": user.get("email"),
        "created_at": created if created is not None else math.nan,
    }
    for f in ctx.fields:
        if f.account_key is not None:
            account = user.get("account")
            if isinstance(account, dict) and f.account_key in account:
                customer[f.cio] = account[f.account_key]
        elif f.hull in user:  # lodash's pick keeps a null, leaves out what the user does not have
            customer[f.cio] = user[f.hull]
    return customer


def _segment_names(user: dict[str, Any], ctx: MappingContext) -> list[str]:
    """The names of the user's segments, in the user's order (the connector's ``hull_segments``)."""
    ids = user.get("segment_ids")
    names = ctx.segment_names
    return [names[s] for s in ids if isinstance(s, str) and s in names] if isinstance(ids, list) else []


def connector_customers(user: dict[str, Any], ctx: MappingContext) -> list[dict[str, Any]]:
    """The customer the hosted connector would have sent for ``user`` under this profile's settings,
    once with ``hull_segments`` in the user's own segment order and, when that differs, sorted."""
    customer = _customer_fields(user, ctx)
    for key, value in customer.items():
        if key != "created_at" and key.endswith(("_at", "_date")):
            customer[key] = _connector_date(value)
    ordered = _segment_names(user, ctx)
    out = [{**customer, "hull_segments": ordered}]
    if sorted(ordered) != ordered:
        out.append({**customer, "hull_segments": sorted(ordered)})
    return out


def connector_hashes(user: dict[str, Any], ctx: MappingContext) -> list[str]:
    """``object_hash`` of each of :func:`connector_customers`, serialising what the customers share
    once: they differ only in ``hull_segments`` (every person the hosted connector sent is checked
    when moving over, so this runs for each of them). Raises TypeError on values that are not JSON."""
    customer = _customer_fields(user, ctx)  # dates as the user has them: converted below
    if _SEGMENTS in customer or not all(type(k) is str and k.isascii() for k in customer):
        return [object_hash(c) for c in connector_customers(user, ctx)]  # the general way
    head: list[str] = [f"object:{len(customer) + 1}:"]
    tail: list[str] = [","]
    for key in _sorted_keys(customer):  # ASCII keys: code point order is UTF-16 order
        value = customer[key]
        prefix, dated, before = _KEYS.get(key) or _key(key)
        if dated:
            value = _connector_date(value)
        out = head if before else tail
        # The usual values (ASCII text, safe integers, null) inline, as in _write.
        kind = type(value)
        if kind is str and value.isascii():
            out.append(f"{prefix}string:{len(value)}:{value},")
        elif kind is int and -_SAFE_INT < value < _SAFE_INT:
            out.append(f"{prefix}number:{value},")
        elif value is None:
            out.append(prefix + "Null,")
        else:
            out.append(prefix)
            _write(value, out)
            out.append(",")
    head.append(f"string:{len(_SEGMENTS)}:{_SEGMENTS}:")
    start, end = "".join(head), "".join(tail)
    ordered = _segment_names(user, ctx)
    variants = [ordered] if sorted(ordered) == ordered else [ordered, sorted(ordered)]
    hashes = []
    for segments in variants:
        middle: list[str] = []
        _write(segments, middle)
        hashes.append(_sha1(start + "".join(middle) + end))
    return hashes


_SEGMENTS = "hull_segments"
# Per customer key (a profile's few names): its serialised text, whether its value is a connector date,
# whether it sorts before hull_segments. And per set of keys, their order.
_KEYS: dict[str, tuple[str, bool, bool]] = {}
_ORDERS: dict[tuple[str, ...], list[str]] = {}
_CACHE_MAX = 4096


def _key(key: str) -> tuple[str, bool, bool]:
    facts = (f"string:{len(key)}:{key}:", key != "created_at" and key.endswith(("_at", "_date")), key < _SEGMENTS)
    if len(_KEYS) < _CACHE_MAX:
        _KEYS[key] = facts
    return facts


def _sorted_keys(customer: dict[str, Any]) -> list[str]:
    keys = tuple(customer)
    order = _ORDERS.get(keys)
    if order is None:
        order = sorted(keys)
        if len(_ORDERS) < _CACHE_MAX:
            _ORDERS[keys] = order
    return order


def matches_connector_hash(user: dict[str, Any], ctx: MappingContext, trait_hash: Any) -> bool:
    """Whether ``trait_hash`` (the user's ``customerio/hash``) is the hosted connector's hash of what
    it would send for ``user`` today: the person has not changed since it sent them."""
    if not is_connector_hash(trait_hash):
        return False
    try:
        return trait_hash in connector_hashes(user, ctx)
    except (TypeError, RecursionError):  # not a JSON value: cannot be the connector's payload
        return False


__all__ = [
    "connector_customers",
    "connector_hashes",
    "is_connector_hash",
    "js_number",
    "matches_connector_hash",
    "object_hash",
]
