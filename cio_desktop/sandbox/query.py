"""The Elasticsearch subset Hull's search endpoints accept, evaluated over the fake organization.

Supported clauses (WIRE.md): ``bool`` (must, filter, should, must_not, minimum_should_match),
``term``, ``terms``, ``range`` (gt/gte/lt/lte on strings, numbers, ISO dates), ``exists``,
``match_all`` and ``has_parent`` (events only). Anything else is refused with a 400, so a client
cannot depend on a clause the sandbox silently ignores.

A compiled clause is a :class:`Node`: a 256-entry truth table over a user's segment byte (a
necessary condition evaluated at C speed with ``bytes.translate``/``find``) plus, when the clause
looks at anything other than ``segment_ids``, a Python predicate on the user index.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cio_desktop.sandbox.data import MISSING, FakeOrg, parse_date, project, public_event

MAX_RESULT_WINDOW = 10_000
MAX_PER_PAGE = 500
WINDOW_MESSAGE = "Result window is too large, from + size must be less than or equal to: [10000]"
_SUPPORTED = "bool, term, terms, range, exists, match_all, has_parent"
_ALL = bytes([1]) * 256
_NONE = bytes(256)
_BLOCK = 1024

Pred = Callable[[int], bool]


class QueryError(ValueError):
    """The search request cannot be answered; the message is what the API returns."""


@dataclass(frozen=True)
class Node:
    table: bytes | None  # necessary condition on the segment byte (None: none)
    pred: Pred | None  # the rest of the condition on the index (None: the table is exact)


class _Ctx:
    """Field access for one kind of document (users or events)."""

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


class UserCtx(_Ctx):
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


class EventCtx(_Ctx):
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
def compile_query(q: Any, ctx: _Ctx) -> Node:
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


def _compile_bool(body: Any, ctx: _Ctx) -> Node:
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


def _full(n: Node, ctx: _Ctx) -> Pred:
    """The whole condition of ``n`` as one predicate on an index."""
    table, pred, mask_of = n.table, n.pred, ctx.mask_of
    if table is None:
        return pred if pred is not None else (lambda i: True)
    if pred is None:
        return lambda i: bool(table[mask_of(i)])
    return lambda i: bool(table[mask_of(i)]) and pred(i)


def _or(nodes: Sequence[Node], ctx: _Ctx) -> Node:
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


def _at_least(nodes: Sequence[Node], k: int, ctx: _Ctx) -> Node:
    fulls = [_full(n, ctx) for n in nodes]
    return Node(None, lambda i: sum(1 for f in fulls if f(i)) >= k)


def _not(n: Node, ctx: _Ctx) -> Node:
    if n.pred is None:
        if n.table is None:
            return Node(_NONE, None)
        return Node(bytes(1 - b for b in n.table), None)
    f = _full(n, ctx)
    return Node(None, lambda i: not f(i))


def _compile_terms(kind: str, body: Any, ctx: _Ctx) -> Node:
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


def _compile_range(body: Any, ctx: _Ctx) -> Node:
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
        numeric = [(op, _date_bound(name, v)) for op, v in bounds]

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


def _date_bound(name: str, v: Any) -> float:
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


# ---------------------------------------------------------------------- paging requests
@dataclass(frozen=True)
class PageRequest:
    query: Any
    page: int
    per_page: int
    sort: tuple[tuple[str, str], ...]
    include: tuple[str, ...] | None


def parse_page_request(body: Any, default_sort: tuple[tuple[str, str], ...]) -> PageRequest:
    if not isinstance(body, dict):
        raise QueryError("the request body must be a JSON object")
    page, per_page = body.get("page", 1), body.get("per_page", 50)
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise QueryError("page must be a whole number >= 1")
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
        raise QueryError(f"per_page must be a whole number between 1 and {MAX_PER_PAGE}")
    if page * per_page > MAX_RESULT_WINDOW:
        raise QueryError(WINDOW_MESSAGE)
    include = body.get("include")
    if include is not None and (not isinstance(include, list) or not all(isinstance(f, str) for f in include)):
        raise QueryError("include must be a list of field names")
    return PageRequest(
        query=body.get("query") or {"match_all": {}},
        page=page,
        per_page=per_page,
        sort=_parse_sort(body.get("sort"), default_sort),
        include=tuple(include) if include is not None else None,
    )


def _parse_sort(raw: Any, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if raw is None or raw == []:
        return default
    items = raw if isinstance(raw, list) else [raw]
    out: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, "asc"))
            continue
        if not isinstance(item, dict):
            raise QueryError("sort must be a field name, an object or a list of them")
        for name, spec in item.items():
            order = spec.get("order", "asc") if isinstance(spec, dict) else spec
            if order not in ("asc", "desc"):
                raise QueryError(f"sort order for {name!r} must be 'asc' or 'desc'")
            out.append((name, order))
    return tuple(out)


def _pagination(total: int, req: PageRequest) -> dict[str, int]:
    return {
        "total": total,
        "page": req.page,
        "pages": math.ceil(total / req.per_page),
        "per_page": req.per_page,
    }


# ---------------------------------------------------------------------- user search
class UserSearch:
    """Answers ``POST /search/user_reports`` over a :class:`FakeOrg`, with count caches."""

    def __init__(self, org: FakeOrg) -> None:
        self.org = org
        self._hits: dict[bytes | None, tuple[int, bytes]] = {}
        self._blocks: dict[str, _BlockCounts] = {}

    def search(self, body: Any) -> dict[str, Any]:
        """The answer as Python objects (in-process callers)."""
        picked, total, req = self._select(body)
        data = [_project(self.org.doc(i), req.include) for i in picked]
        return {"data": data, "pagination": _pagination(total, req)}

    def search_json(self, body: Any) -> str:
        """The answer as compact JSON text; whole documents are written without building dicts."""
        picked, total, req = self._select(body)
        org = self.org
        if req.include is None:
            users = ",".join([org.user_json(i) for i in picked])
        else:
            include = req.include
            users = ",".join([org.projected_json(i, include) for i in picked])
        return f'{{"data":[{users}],"pagination":{json.dumps(_pagination(total, req), separators=(",", ":"))}}}'

    def _select(self, body: Any) -> tuple[list[int], int, PageRequest]:
        req = parse_page_request(body, (("id", "asc"),))
        org = self.org
        with org._lock:
            lo, hi, rest = _split_id_range(req.query, org)
            node = compile_query(rest, UserCtx(org))
            skip, want = (req.page - 1) * req.per_page, req.per_page
            if len(req.sort) == 1 and req.sort[0][0] == "id":
                hits = self._hit_bytes(node.table)
                picked, total = self._scan(node, rest, hits, lo, hi, skip, want, req.sort[0][1] == "desc")
            else:
                everything = [i for i in self._iter(node, self._hit_bytes(node.table), lo, hi)]
                _sort_indexes(everything, req.sort, UserCtx(org))
                total, picked = len(everything), everything[skip : skip + want]
        return picked, total, req

    def count(self, query: Any) -> int:
        with self.org._lock:
            lo, hi, rest = _split_id_range(query, self.org)
            node = compile_query(rest, UserCtx(self.org))
            return self._count(node, rest, self._hit_bytes(node.table), lo, hi)

    def _hit_bytes(self, table: bytes | None) -> bytes:
        org = self.org
        cached = self._hits.get(table)
        if cached is not None and cached[0] == org.mask_version:
            return cached[1]
        hits = bytes(org.mask).translate(table if table is not None else _ALL)
        if len(self._hits) > 64:
            self._hits.clear()
        self._hits[table] = (org.mask_version, hits)
        return hits

    def _iter(self, node: Node, hits: bytes, lo: int, hi: int) -> Any:
        pred, pos = node.pred, lo
        while True:
            pos = hits.find(1, pos, hi)
            if pos < 0:
                return
            if pred is None or pred(pos):
                yield pos
            pos += 1

    def _scan(
        self, node: Node, rest: Any, hits: bytes, lo: int, hi: int, skip: int, want: int, desc: bool
    ) -> tuple[list[int], int]:
        pred = node.pred
        picked: list[int] = []
        seen = 0
        if not desc:
            pos = lo
            while len(picked) < want:
                pos = hits.find(1, pos, hi)
                if pos < 0:
                    return picked, seen
                if pred is None or pred(pos):
                    if seen >= skip:
                        picked.append(pos)
                    seen += 1
                pos += 1
            return picked, seen + self._count(node, rest, hits, pos, hi)
        end = hi
        while len(picked) < want:
            pos = hits.rfind(1, lo, end)
            if pos < 0:
                return picked, seen
            if pred is None or pred(pos):
                if seen >= skip:
                    picked.append(pos)
                seen += 1
            end = pos
        return picked, seen + self._count(node, rest, hits, lo, end)

    def _count(self, node: Node, rest: Any, hits: bytes, a: int, b: int) -> int:
        if a >= b:
            return 0
        if node.pred is None:
            return hits.count(1, a, b)
        if b - a <= 2 * _BLOCK:
            return sum(1 for _ in self._iter(node, hits, a, b))
        key = json.dumps(rest, sort_keys=True, default=str)
        blocks = self._blocks.get(key)
        if blocks is None or blocks.mask_version != self.org.mask_version:
            if len(self._blocks) > 32:
                self._blocks.clear()
            blocks = self._blocks[key] = _BlockCounts(self, node, hits)
        blocks.refresh(node, hits)
        ba, bb = -(-a // _BLOCK), b // _BLOCK
        inner = blocks.prefix[bb] - blocks.prefix[ba]
        head = sum(1 for _ in self._iter(node, hits, a, ba * _BLOCK))
        tail = sum(1 for _ in self._iter(node, hits, bb * _BLOCK, b))
        return inner + head + tail


class _BlockCounts:
    """Matches per block of users for one query, kept current by replaying the mutation log."""

    def __init__(self, search: UserSearch, node: Node, hits: bytes) -> None:
        org = search.org
        self.search = search
        self.mask_version = org.mask_version
        n_blocks = -(-org.size // _BLOCK)
        self.counts = [self._block(node, hits, k) for k in range(n_blocks)]
        self.log_pos = len(org.mutation_log)
        self._rebuild_prefix()

    def _block(self, node: Node, hits: bytes, k: int) -> int:
        hi = min(self.search.org.size, (k + 1) * _BLOCK)
        return sum(1 for _ in self.search._iter(node, hits, k * _BLOCK, hi))

    def _rebuild_prefix(self) -> None:
        self.prefix = [0]
        for c in self.counts:
            self.prefix.append(self.prefix[-1] + c)

    def refresh(self, node: Node, hits: bytes) -> None:
        log = self.search.org.mutation_log
        if self.log_pos == len(log):
            return
        for k in {i // _BLOCK for i in log[self.log_pos :]}:
            self.counts[k] = self._block(node, hits, k)
        self.log_pos = len(log)
        self._rebuild_prefix()


def _split_id_range(query: Any, org: FakeOrg) -> tuple[int, int, Any]:
    """Take ``range`` clauses on ``id`` out of the top-level conjunction as an index interval."""
    lo, hi = 0, org.size
    if not isinstance(query, dict):
        return lo, hi, query
    if "range" in query and isinstance(query["range"], dict) and set(query["range"]) == {"id"}:
        lo, hi = _apply_id_range(query["range"]["id"], org, lo, hi)
        return lo, hi, {"match_all": {}}
    body = query.get("bool")
    if len(query) != 1 or not isinstance(body, dict):
        return lo, hi, query
    new_body = dict(body)
    for key in ("must", "filter"):
        clauses = body.get(key)
        if clauses is None:
            continue
        items = clauses if isinstance(clauses, list) else [clauses]
        kept = []
        for c in items:
            if (
                isinstance(c, dict)
                and set(c) == {"range"}
                and isinstance(c["range"], dict)
                and set(c["range"]) == {"id"}
                and isinstance(c["range"]["id"], dict)
            ):
                lo, hi = _apply_id_range(c["range"]["id"], org, lo, hi)
            else:
                kept.append(c)
        new_body[key] = kept
    return lo, hi, {"bool": new_body}


def _apply_id_range(spec: dict[str, Any], org: FakeOrg, lo: int, hi: int) -> tuple[int, int]:
    for op, value in spec.items():
        if op not in ("gt", "gte", "lt", "lte"):
            raise QueryError("range.id supports gt, gte, lt and lte")
        if not isinstance(value, str):
            raise QueryError("range.id bounds must be user ids (24 hex characters)")
        idx = org.bound_index(op, value)
        if op in ("gt", "gte"):
            lo = max(lo, idx)
        else:
            hi = min(hi, idx)
    return lo, max(lo, hi)


def _sort_indexes(indexes: list[int], sort: Sequence[tuple[str, str]], ctx: _Ctx) -> None:
    for name, order in reversed(sort):
        if name == "id":
            indexes.sort(reverse=order == "desc")
            continue
        desc = order == "desc"

        def key(i: int, name: str = name, desc: bool = desc) -> tuple[int, Any]:
            if name in ctx.date_fields:
                v: Any = ctx.epoch(i, name)
            else:
                v = ctx.field(i, name)
            if v is MISSING or v is None or isinstance(v, dict | list):
                return (1, 0)  # missing values sort last in both orders, as in Elasticsearch
            if isinstance(v, bool | int | float):
                return (0, -v if desc else v)
            return (0, v)

        if any(isinstance(key(i)[1], str) for i in indexes[:50]):
            present = [i for i in indexes if key(i)[0] == 0]
            missing = [i for i in indexes if key(i)[0] == 1]
            present.sort(key=lambda i: key(i)[1], reverse=desc)
            indexes[:] = present + missing
        else:
            indexes.sort(key=key)


def _project(doc: dict[str, Any], include: tuple[str, ...] | None) -> dict[str, Any]:
    return doc if include is None else project(doc, include)


# ---------------------------------------------------------------------- event search
def search_events(org: FakeOrg, body: Any) -> dict[str, Any]:
    req = parse_page_request(body, (("created_at", "asc"), ("id", "asc")))
    with org._lock:
        events = org.events()
        ctx = EventCtx(org, events)
        lo, hi, rest = _split_created_range(req.query, events)
        node = compile_query(rest, ctx)
        pred = node.pred
        if node.table is not None and not node.table[0]:
            hi = lo  # a constant "match nothing" (e.g. must_not match_all)
        skip, want = (req.page - 1) * req.per_page, req.per_page
        if req.sort == (("created_at", "asc"), ("id", "asc")):
            picked: list[int] = []
            total = 0
            for i in range(lo, hi):
                if pred is None or pred(i):
                    if skip <= total < skip + want:
                        picked.append(i)
                    total += 1
        else:
            everything = [i for i in range(lo, hi) if pred is None or pred(i)]
            _sort_indexes(everything, req.sort, ctx)
            total, picked = len(everything), everything[skip : skip + want]
        data = [public_event(events[i]) for i in picked]
    return {"data": data, "pagination": _pagination(total, req)}


def _split_created_range(query: Any, events: list[dict[str, Any]]) -> tuple[int, int, Any]:
    """Narrow the scan with top-level ``range`` clauses on ``created_at`` (events are sorted by it)."""
    lo, hi = 0, len(events)
    clauses: list[Any] = []
    if isinstance(query, dict) and set(query) == {"bool"} and isinstance(query["bool"], dict):
        for key in ("must", "filter"):
            c = query["bool"].get(key, [])
            clauses.extend(c if isinstance(c, list) else [c])
    elif isinstance(query, dict):
        clauses.append(query)
    for c in clauses:
        if isinstance(c, dict) and set(c) == {"range"} and isinstance(c["range"], dict):
            spec = c["range"].get("created_at")
            if set(c["range"]) == {"created_at"} and isinstance(spec, dict):
                for op, v in spec.items():
                    if op not in ("gt", "gte", "lt", "lte"):
                        continue
                    t = _date_bound("created_at", v)
                    keyed = _TimeKeys(events)
                    if op == "gt":
                        lo = max(lo, bisect.bisect_right(keyed, t))
                    elif op == "gte":
                        lo = max(lo, bisect.bisect_left(keyed, t))
                    elif op == "lt":
                        hi = min(hi, bisect.bisect_left(keyed, t))
                    else:
                        hi = min(hi, bisect.bisect_right(keyed, t))
    # The clauses stay in the query too: narrowing is only an optimisation.
    return lo, max(lo, hi), query


class _TimeKeys(Sequence[float]):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, i: Any) -> Any:
        return self._events[i]["_t"]
