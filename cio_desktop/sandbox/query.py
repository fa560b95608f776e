"""The Elasticsearch subset Hull's search endpoints accept, evaluated over the fake organization.

Supported clauses (docs/api-contracts.md, "Hull API"): ``bool`` (must, filter, should, must_not, minimum_should_match),
``term``, ``terms``, ``range`` (gt/gte/lt/lte on strings, numbers, ISO dates), ``exists``,
``match_all`` and ``has_parent`` (events only). Anything else is refused with a 400, so a client
cannot depend on a clause the sandbox silently ignores.

A compiled clause is a :class:`Node`: a 256-entry truth table over a user's segment byte (a
necessary condition evaluated at C speed with ``bytes.translate``/``find``) plus, when the clause
looks at anything other than ``segment_ids``, a Python predicate on the user index.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cio_desktop.sandbox.data import MISSING, FakeOrg
from cio_desktop.sandbox.dates import parse_date

_SUPPORTED = "bool, term, terms, range, exists, match_all, has_parent"
_NONE = bytes(256)

Pred = Callable[[int], bool]


class QueryError(ValueError):
    """The search request cannot be answered; the message is what the API returns."""


@dataclass(frozen=True)
class Node:
    table: bytes | None  # necessary condition on the segment byte (None: none)
    pred: Pred | None  # the rest of the condition on the index (None: the table is exact)


class Ctx:
    """Field access for one kind of document (users or events), by index."""

    date_fields: frozenset[str] = frozenset()

    def field(self, i: int, name: str) -> Any:
        raise NotImplementedError

    def epoch(self, i: int, name: str) -> float | None:
        raise NotImplementedError

    def segment_bit(self, segment_id: Any) -> int | None:
        return None

    def uses_mask(self) -> bool:
        return False

    def mask_of(self, i: int) -> int:
        return 0  # documents without segments: tables are constants, read at 0

    def has_parent(self, parent_type: Any, query: Any) -> Pred:
        raise QueryError("has_parent is only supported in event searches")


class UserCtx(Ctx):
    date_fields = frozenset({"created_at", "updated_at"})

    def __init__(self, org: FakeOrg) -> None:
        self.org = org

    def field(self, i: int, name: str) -> Any:
        org = self.org
        if name == "id":
            return org.id_of(i)
        if name == "segment_ids":
            return org.segment_ids_of(i)
        doc = org.doc_view(i)
        if "." in name and name not in doc:
            head, rest = name.split(".", 1)
            sub = doc.get(head, MISSING)
            return sub.get(rest, MISSING) if isinstance(sub, dict) else MISSING
        return doc.get(name, MISSING)

    def epoch(self, i: int, name: str) -> float | None:
        if name == "updated_at":
            return self.org.updated_epoch(i)
        if name == "created_at" and i not in self.org._overrides:
            return self.org.created_epoch(i)
        return parse_date(self.field(i, name))

    def segment_bit(self, segment_id: Any) -> int | None:
        return self.org.segment_bit(segment_id) if isinstance(segment_id, str) else None

    def uses_mask(self) -> bool:
        return True

    def mask_of(self, i: int) -> int:
        return self.org.mask[i]


class EventCtx(Ctx):
    date_fields = frozenset({"created_at"})

    def __init__(self, org: FakeOrg, events: list[dict[str, Any]]) -> None:
        self.org = org
        self.events = events

    def field(self, i: int, name: str) -> Any:
        ev = self.events[i]
        if "." in name and name not in ev:
            head, rest = name.split(".", 1)
            sub = ev.get(head, MISSING)
            return sub.get(rest, MISSING) if isinstance(sub, dict) else MISSING
        return ev.get(name, MISSING)

    def epoch(self, i: int, name: str) -> float | None:
        if name == "created_at":
            t: float = self.events[i]["_t"]
            return t
        return parse_date(self.field(i, name))

    def has_parent(self, parent_type: Any, query: Any) -> Pred:
        if parent_type not in ("user_report", "user"):
            raise QueryError(f"has_parent: unknown parent_type {parent_type!r} (use 'user_report')")
        node = compile_query(query, UserCtx(self.org))
        org, events = self.org, self.events

        def pred(i: int) -> bool:
            idx: int = events[i]["_u"]  # the user's index, kept on the event: no id lookup per event
            return idx >= 0 and matches(node, org, idx)

        return pred


def matches(node: Node, org: FakeOrg, i: int) -> bool:
    if node.table is not None and not node.table[org.mask[i]]:
        return False
    return node.pred is None or node.pred(i)


# ---------------------------------------------------------------------- compiling
def compile_query(q: Any, ctx: Ctx) -> Node:
    if not isinstance(q, dict) or len(q) != 1:
        raise QueryError(f"a query clause must be an object with exactly one key, got {_short(q)}")
    (kind, body), = q.items()  # fmt: skip
    if kind == "match_all":
        return Node(None, None)
    if kind == "match_none":
        return Node(_NONE, None)
    if kind == "bool":
        return _compile_bool(body, ctx)
    if kind in ("term", "terms"):
        return _compile_terms(kind, body, ctx)
    if kind == "range":
        return _compile_range(body, ctx)
    if kind == "exists":
        if not isinstance(body, dict) or not isinstance(body.get("field"), str):
            raise QueryError('exists needs {"field": "<name>"}')
        name = body["field"]

        def exists(i: int) -> bool:
            v = ctx.field(i, name)
            return v is not MISSING and v is not None and v != []

        return Node(None, exists)
    if kind == "has_parent":
        if not isinstance(body, dict) or "query" not in body:
            raise QueryError('has_parent needs {"parent_type": "user_report", "query": {...}}')
        return Node(None, ctx.has_parent(body.get("parent_type"), body["query"]))
    raise QueryError(f"unsupported query clause {kind!r}; the sandbox understands {_SUPPORTED}")


def _clauses(body: dict[str, Any], key: str) -> list[Any]:
    v = body.get(key, [])
    if isinstance(v, dict):
        return [v]
    if not isinstance(v, list):
        raise QueryError(f"bool.{key} must be a clause or a list of clauses")
    return v


def _compile_bool(body: Any, ctx: Ctx) -> Node:
    if not isinstance(body, dict):
        raise QueryError("bool must be an object")
    unknown = set(body) - {"must", "filter", "should", "must_not", "minimum_should_match", "boost"}
    if unknown:
        raise QueryError(f"bool: unsupported key {sorted(unknown)[0]!r}")
    required = [compile_query(c, ctx) for c in _clauses(body, "must") + _clauses(body, "filter")]
    should = [compile_query(c, ctx) for c in _clauses(body, "should")]
    must_not = [compile_query(c, ctx) for c in _clauses(body, "must_not")]
    msm_raw = body.get("minimum_should_match", 0 if required else 1)
    try:
        msm = int(msm_raw)
    except (TypeError, ValueError):
        raise QueryError("bool.minimum_should_match must be a whole number") from None
    if should and msm > 0:
        required.append(_or(should, ctx) if msm == 1 else _at_least(should, msm, ctx))
    for n in must_not:
        required.append(_not(n, ctx))
    return _and(required)


def _and(nodes: Sequence[Node]) -> Node:
    table: bytes | None = None
    preds: list[Pred] = []
    for n in nodes:
        if n.table is not None:
            table = n.table if table is None else bytes(a & b for a, b in zip(table, n.table, strict=True))
        if n.pred is not None:
            preds.append(n.pred)
    if not preds:
        return Node(table, None)
    if len(preds) == 1:
        return Node(table, preds[0])
    return Node(table, lambda i: all(p(i) for p in preds))


def _full(n: Node, ctx: Ctx) -> Pred:
    """The whole condition of ``n`` as one predicate on an index."""
    table, pred, mask_of = n.table, n.pred, ctx.mask_of
    if table is None:
        return pred if pred is not None else (lambda i: True)
    if pred is None:
        return lambda i: bool(table[mask_of(i)])
    return lambda i: bool(table[mask_of(i)]) and pred(i)


def _or(nodes: Sequence[Node], ctx: Ctx) -> Node:
    if all(n.pred is None for n in nodes):
        if any(n.table is None for n in nodes):
            return Node(None, None)
        table = bytes(256)
        for n in nodes:
            assert n.table is not None
            table = bytes(a | b for a, b in zip(table, n.table, strict=True))
        return Node(table, None)
    fulls = [_full(n, ctx) for n in nodes]
    return Node(None, lambda i: any(f(i) for f in fulls))


def _at_least(nodes: Sequence[Node], k: int, ctx: Ctx) -> Node:
    fulls = [_full(n, ctx) for n in nodes]
    return Node(None, lambda i: sum(1 for f in fulls if f(i)) >= k)


def _not(n: Node, ctx: Ctx) -> Node:
    if n.pred is None:
        if n.table is None:
            return Node(_NONE, None)
        return Node(bytes(1 - b for b in n.table), None)
    f = _full(n, ctx)
    return Node(None, lambda i: not f(i))


def _compile_terms(kind: str, body: Any, ctx: Ctx) -> Node:
    if not isinstance(body, dict):
        raise QueryError(f"{kind} must be an object")
    fields = {k: v for k, v in body.items() if k != "boost"}
    if len(fields) != 1:
        raise QueryError(f"{kind} must name exactly one field")
    (name, raw), = fields.items()  # fmt: skip
    if kind == "term":
        values = [raw["value"] if isinstance(raw, dict) and "value" in raw else raw]
    else:
        if not isinstance(raw, list):
            raise QueryError(f"terms.{name} must be a list of values")
        values = raw
    for v in values:
        if isinstance(v, dict | list):
            raise QueryError(f"{kind}.{name}: values must be strings, numbers or booleans")
    if name == "segment_ids" and ctx.uses_mask():
        table = bytearray(256)
        for v in values:
            bit = ctx.segment_bit(v)
            if bit is not None:
                for m in range(256):
                    if m >> bit & 1:
                        table[m] = 1
        return Node(bytes(table), None)
    wanted = set()
    for v in values:
        wanted.add((type(v) is bool, v))

    def pred(i: int) -> bool:
        got = ctx.field(i, name)
        if isinstance(got, list):
            return any((type(g) is bool, g) in wanted for g in got if not isinstance(g, dict | list))
        if got is MISSING or got is None or isinstance(got, dict):
            return False
        return (type(got) is bool, got) in wanted

    return Node(None, pred)


def _compile_range(body: Any, ctx: Ctx) -> Node:
    if not isinstance(body, dict) or len(body) != 1:
        raise QueryError("range must name exactly one field")
    (name, spec), = body.items()  # fmt: skip
    if not isinstance(spec, dict):
        raise QueryError(f"range.{name} must be an object with gt/gte/lt/lte")
    bounds = [(op, spec[op]) for op in ("gt", "gte", "lt", "lte") if op in spec]
    unknown = set(spec) - {"gt", "gte", "lt", "lte", "format", "time_zone", "boost"}
    if unknown or not bounds:
        raise QueryError(f"range.{name} supports gt, gte, lt and lte")
    is_date = name in ctx.date_fields
    if is_date:
        numeric = [(op, date_bound(name, v)) for op, v in bounds]

        def date_pred(i: int) -> bool:
            t = ctx.epoch(i, name)
            return t is not None and all(_cmp(op, t, b) for op, b in numeric)

        return Node(None, date_pred)
    for _, v in bounds:
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise QueryError(f"range.{name}: bounds must be strings, numbers or dates")

    def pred(i: int) -> bool:
        got = ctx.field(i, name)
        items = got if isinstance(got, list) else [got]
        return any(_in_range(g, bounds) for g in items)

    return Node(None, pred)


def date_bound(name: str, v: Any) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v) / 1000.0 if abs(v) > 1e11 else float(v)  # ES reads numbers on dates as epoch millis
    t = parse_date(v)
    if t is None:
        raise QueryError(f"range.{name}: {_short(v)} is not a date (use ISO 8601, e.g. 2026-01-31T12:00:00Z)")
    return t


def _cmp(op: str, a: Any, b: Any) -> bool:
    if op == "gt":
        return bool(a > b)
    if op == "gte":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)


def _in_range(got: Any, bounds: list[tuple[str, Any]]) -> bool:
    if got is MISSING or got is None or isinstance(got, bool | dict | list):
        return False
    for op, b in bounds:
        if isinstance(got, int | float) and isinstance(b, int | float):
            if not _cmp(op, got, b):
                return False
        elif isinstance(got, str) and isinstance(b, str):
            ta, tb = parse_date(got), parse_date(b)
            if ta is not None and tb is not None:
                if not _cmp(op, ta, tb):
                    return False
            elif not _cmp(op, got, b):
                return False
        else:
            return False
    return True


def _short(v: Any) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
