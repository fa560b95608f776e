"""Hull's two searches over the fake organization: paging, sorting and counting around :mod:`.query`.

``UserSearch`` answers ``POST /search/user_reports``: a keyset read (``range id > last``, sorted by
id) maps to an index interval, segment filters run at C speed over the segment bytes, and counts
past the page come from per-block counts kept current through the organization's mutation log.
``search_events`` answers ``POST /search/events`` over the events, sorted by creation time.
Paging follows Elasticsearch: ``page * per_page`` may not pass 10,000 (the result window).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cio_desktop.sandbox.data import MISSING, FakeOrg, project
from cio_desktop.sandbox.events import public_event
from cio_desktop.sandbox.query import Ctx, EventCtx, Node, QueryError, UserCtx, compile_query, date_bound

MAX_RESULT_WINDOW = 10_000
MAX_PER_PAGE = 500
WINDOW_MESSAGE = "Result window is too large, from + size must be less than or equal to: [10000]"
_ALL = bytes([1]) * 256
_BLOCK = 1024


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


def _sort_indexes(indexes: list[int], sort: Sequence[tuple[str, str]], ctx: Ctx) -> None:
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
                    t = date_bound("created_at", v)
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
