"""The sandbox's fake Hull organization: users, segments, events, schema, all derived from a seed.

Nothing is materialised per user up front. ``FakeOrg`` draws 8 random bytes and one segment byte
per user from ``random.Random(seed)`` (C speed: a million users cost ~10 ms), and builds a user's
document on demand from those bytes. Segment membership is one byte per user (a bit per segment),
so segment filters and counts run over the whole organization with ``bytes.translate``/``find``.

Ids are MongoDB-ObjectId-like 24 lowercase hex strings that increase with the user index, so a
keyset query ``range id > last`` maps to an index with a binary search.

About a third of the users with an email and an external_id carry the traits Hull's hosted
Customer.io connector wrote back, as if it had synced the organization before it moved over
(customerId = external_id, its default): members of :data:`~.pools.CONNECTOR_SEGMENTS` have
``traits_customerio/id``, ``/created_at`` (the user's own, as the connector wrote it), ``/synced_at``
and a ``/hash`` in the connector's form that matches nothing sent today (as if the person changed
since: the first sync sends them once, as changed); the others were deleted by the connector when they
left (only ``traits_customerio/deleted_at`` remains, as its deletion left them).

Mutations (tests, firehose write-back) are kept as per-user overrides on top of the generated
document; every mutation bumps the user's ``updated_at``. What users are made of is in
:mod:`.pools`, their events in :mod:`.events`.
"""

from __future__ import annotations

import bisect
import copy
import json
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

from cio_desktop.sandbox.dates import DAY, fmt_seconds, iso_z, parse_date
from cio_desktop.sandbox.events import event_order, event_stats, generate_events, public_event
from cio_desktop.sandbox.pools import (
    BASE_SCHEMA,
    BASE_TIME,
    COMPANIES,
    COMPANY_J,
    CONNECTOR_SEGMENTS,
    EMAIL_DOMAINS,
    FAMILY,
    FAMILY_J,
    GIVEN,
    GIVEN_J,
    INTEREST_SETS_J,
    LONG_NAME_EVERY,
    LONG_NAME_KEY,
    LONG_VALUE_EVERY,
    LONG_VALUE_J,
    LONG_VALUE_KEY,
    MASK64,
    MASK_TABLE,
    MRR_RANGES,
    NAME_J,
    PLAN_INDEX,
    PLANS,
    PREFS_J,
    SEGMENT_DEFS,
    SENIORITY,
    SOURCES,
    TAG_SETS_J,
    TITLE_J,
    mix,
)

MISSING: Final = object()  # a field the user does not have (distinct from a JSON null)


class _IdSeq(Sequence[str]):
    """The sorted user ids as a virtual sequence, for ``bisect``."""

    def __init__(self, org: FakeOrg) -> None:
        self._org = org

    def __len__(self) -> int:
        return self._org.size

    def __getitem__(self, i: Any) -> Any:
        return self._org.id_of(i)


class FakeOrg:
    """A deterministic Hull organization of ``size`` users generated from ``seed``."""

    def __init__(self, size: int, seed: int) -> None:
        if size < 0:
            raise ValueError("the number of users cannot be negative")
        self.size = size
        self.seed = seed
        rng = random.Random(seed)
        self._machine = f"{rng.getrandbits(40):010x}"
        self._t0 = 0x5A000000 + rng.getrandbits(16)
        self._c0 = rng.getrandbits(24) & 0xFFFFC0  # aligned so that a 64-block never wraps
        self.org_host = "demo-org.hullapp.io"
        self.connector_id = self.object_id(self._t0 - 5000, 1)
        self.segments: tuple[tuple[str, str], ...] = tuple(
            (self.object_id(self._t0 - 4000 + k, k + 10), name) for k, (name, _) in enumerate(SEGMENT_DEFS)
        )
        self._segment_bit = {sid: bit for bit, (sid, _) in enumerate(self.segments)}
        self._connector_mask = sum(1 << bit for bit, (name, _) in enumerate(SEGMENT_DEFS) if name in CONNECTOR_SEGMENTS)
        self._segment_lists = tuple(
            tuple(sid for bit, (sid, _) in enumerate(self.segments) if m >> bit & 1) for m in range(256)
        )
        self._segment_json = tuple(json.dumps(list(ids), separators=(",", ":")) for ids in self._segment_lists)
        self._account_json = tuple(
            json.dumps(
                {
                    "id": self.object_id(self._t0 - 3000 + ci, 100 + ci),
                    "domain": COMPANIES[ci][1],
                    "name": COMPANIES[ci][0],
                    "plan": PLANS[p],
                },
                separators=(",", ":"),
            )
            for ci in range(16)
            for p in range(4)
        )
        self._segbyte = rng.randbytes(size)
        self.mask = bytearray(self._segbyte.translate(MASK_TABLE))
        words = rng.randbytes(8 * size)
        self._words = memoryview(words).cast("Q") if size else memoryview(b"").cast("Q")
        self._lock = threading.RLock()
        self._overrides: dict[int, dict[str, Any]] = {}
        self._updated: dict[int, float] = {}
        self._ext_index: dict[str, int] = {}  # overridden external_id / email / anonymous ids -> index
        self._email_index: dict[str, int] = {}
        self.mask_version = 0
        self.mutation_log: list[int] = []  # indexes mutated, in order (count caches replay it)
        self._doc_cache: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] | None = None
        self._event_ids: set[str] = set()
        self.ids = _IdSeq(self)

    # ------------------------------------------------------------------ ids
    def object_id(self, ts: int, counter: int) -> str:
        """A MongoDB-ObjectId-like id of this organization (segments, accounts, events)."""
        return f"{ts & 0xFFFFFFFF:08x}{self._machine}{counter & 0xFFFFFF:06x}"

    def id_of(self, i: int) -> str:
        return f"{(self._t0 + (i >> 6)) & 0xFFFFFFFF:08x}{self._machine}{(self._c0 + i) & 0xFFFFFF:06x}"

    def index_of_id(self, hull_id: str) -> int | None:
        if not isinstance(hull_id, str) or len(hull_id) != 24:
            return None
        i = bisect.bisect_left(self.ids, hull_id)
        return i if i < self.size and self.id_of(i) == hull_id else None

    def bound_index(self, op: str, value: str) -> int:
        """First index satisfying ``id <op> value`` for gt/gte (lower), or the end for lt/lte (upper)."""
        if op in ("gt", "lte"):
            return bisect.bisect_right(self.ids, value)
        return bisect.bisect_left(self.ids, value)

    # ------------------------------------------------------------------ metadata (cheap, no document)
    def segment_bit(self, segment_id: str) -> int | None:
        return self._segment_bit.get(segment_id)

    def segment_ids_of(self, i: int) -> list[str]:
        return list(self._segment_lists[self.mask[i]])

    def updated_epoch(self, i: int) -> float:
        t = self._updated.get(i)
        if t is not None:
            return t
        return float(BASE_TIME - (self._words[i] >> 20) % (365 * DAY))

    def created_epoch(self, i: int) -> float:
        w = self._words[i]
        return float(BASE_TIME - (w >> 20) % (365 * DAY) - (w >> 8) % (3 * 365 * DAY) - DAY)

    def segment_counts(self) -> list[int]:
        out = []
        for bit in range(len(self.segments)):
            table = bytes((v >> bit) & 1 for v in range(256))
            out.append(bytes(self.mask).translate(table).count(1))
        return out

    # ------------------------------------------------------------------ documents
    def doc(self, i: int) -> dict[str, Any]:
        """The user's document as Hull's search answers it (a fresh copy the caller may change)."""
        if i in self._updated:
            return copy.deepcopy(self.doc_view(i))
        if not 0 <= i < self.size:
            raise IndexError(i)
        return self._generate(i)

    def doc_view(self, i: int) -> dict[str, Any]:
        """The user's document, shared: callers must not change it (serialising only)."""
        if not 0 <= i < self.size:
            raise IndexError(i)
        cached = self._doc_cache.get(i)
        if cached is None:
            cached = self._generate(i)
            over = self._overrides.get(i)
            if over:
                for k, v in over.items():
                    if v is None:
                        cached.pop(k, None)
                    else:
                        cached[k] = v
            if i in self._updated:
                cached["updated_at"] = iso_z(self._updated[i])
                cached["segment_ids"] = self.segment_ids_of(i)
            if len(self._doc_cache) > 8192:
                self._doc_cache.clear()
            self._doc_cache[i] = cached
        return cached

    def user_json(self, i: int) -> str:
        """The user's document as compact JSON (what the search endpoint writes)."""
        if i in self._updated:
            return json.dumps(self.doc_view(i), separators=(",", ":"))
        return self._generate_json(i)

    def _generate(self, i: int) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self._generate_json(i))
        return doc

    def _generate_json(self, i: int) -> str:
        """The generated document of user ``i`` as compact JSON (unchanged users only)."""
        return "{" + ",".join([f'"{k}":{v}' for k, v in self._fragments(i)]) + "}"

    def projected_json(self, i: int, include: tuple[str, ...]) -> str:
        """Compact JSON of only the ``include``d fields (plus ``id``), as the search's ``include`` does."""
        if i in self._updated:
            return json.dumps(project(self.doc_view(i), include), separators=(",", ":"))
        wanted = set(include)
        wanted.add("id")
        parts = []
        for k, v in self._fragments(i):
            if k in wanted:
                parts.append(f'"{k}":{v}')
            elif k == "account" and any(f.startswith("account.") for f in include):
                account = {a: x for a, x in json.loads(v).items() if f"account.{a}" in wanted}
                if account:
                    parts.append('"account":' + json.dumps(account, separators=(",", ":")))
        return "{" + ",".join(parts) + "}"

    def _fragments(self, i: int) -> list[tuple[str, str]]:
        """(key, value as JSON text) of user ``i``'s generated document, from pre-escaped pieces.

        Writing JSON text directly is several times faster than building a dict and encoding it,
        which is what lets one core serve tens of thousands of users per second.
        """
        w = self._words[i]
        w2 = mix(w ^ i)
        v = self._segbyte[i]
        gi, fi, ci = w2 % 40, (w2 >> 6) % 32, (w2 >> 11) % 16
        plan_i = PLAN_INDEX[v]
        lo, hi = MRR_RANGES[plan_i]
        mrr = lo + (w2 >> 15) % (hi - lo + 1) if hi else 0
        updated = BASE_TIME - (w >> 20) % (365 * DAY)
        created = updated - (w >> 8) % (3 * 365 * DAY) - DAY
        intercom_id = f"{(w2 >> 3) & 0xFFFFFFFFFFFF:012x}"
        anon = f'"{self._anon_id(i, 0, w2)}"'
        if (w2 >> 25) & 3 == 0:
            anon += f',"{self._anon_id(i, 1, w2)}"'
        if (w2 >> 27) & 7 == 0:
            anon += f',"{self._anon_id(i, 2, w2)}"'
        if (w2 >> 29) & 1:  # tools that saw the person before Hull did add theirs, prefixed with their name
            anon += f',"intercom:{intercom_id}"'
        given, family = GIVEN_J[gi], FAMILY_J[fi]
        out = [
            ("id", f'"{self.id_of(i)}"'),
            ("anonymous_ids", f"[{anon}]"),
            ("name", NAME_J[gi * 32 + fi]),
            ("first_name", given),
            ("last_name", family),
            ("created_at", f'"{fmt_seconds(created, "T", "Z")}"'),
            ("updated_at", f'"{fmt_seconds(updated, "T", "Z")}"'),
            ("traits_clearbit/given_name", given),
            ("traits_clearbit/family_name", family),
            ("traits_clearbit/company", COMPANY_J[ci]),
            ("traits_clearbit/title", TITLE_J[(w2 >> 27) % 16]),
            ("traits_clearbit/seniority", f'"{SENIORITY[(w2 >> 31) % 5]}"'),
            ("traits_clearbit/employment_domain", f'"{COMPANIES[ci][1]}"'),
            ("traits_clearbit/fetched_at", f'"{fmt_seconds(created + 3600, "T", "+00:00")}"'),
            ("traits_intercom/id", f'"{intercom_id}"'),
            ("traits_intercom/session_count", str((w2 >> 34) % 400)),
            ("traits_intercom/last_request_at", f'"{fmt_seconds(updated - (w2 >> 40) % (30 * DAY), "T", "+00:00")}"'),
            ("traits_intercom/unsubscribed_from_emails", "true" if (w2 >> 43) % 9 == 0 else "false"),
            ("traits_intercom/tags", TAG_SETS_J[(w2 >> 44) & (w2 >> 52) & 0xFF]),
            ("traits_plan", f'"{PLANS[plan_i]}"'),
            ("traits_mrr", str(mrr)),
            ("traits_score", repr(((w2 >> 52) % 1000) / 10.0)),
            ("traits_newsletter", "true" if v % 3 == 0 else "false"),
            ("traits_signup_source", f'"{SOURCES[(w >> 5) % 8]}"'),
            ("traits_interests", INTEREST_SETS_J[((w >> 2) & (w >> 40) & 0xFF) | 1 << (w >> 61)]),
            ("traits_preferences", PREFS_J[(w >> 9) % 5][(w >> 12) & 1]),
            ("traits_last_login_date", f'"{fmt_seconds(updated - (w2 >> 20) % (7 * DAY), " ", " UTC")}"'),
            ("traits_seats", str(1 + (w >> 13) % 50 if plan_i < 3 else 1)),
        ]
        if 128 <= v < 166:
            out.append(("traits_trial_ends_at", f'"{fmt_seconds(updated + 14 * DAY, " ", " UTC")}"'))
        has_email = (w >> 14) % 100 >= 3
        has_external_id = (w >> 21) % 100 >= 5
        if has_email:
            out.append(("email", f'"{GIVEN[gi][1]}.{FAMILY[fi][1]}{i}@{EMAIL_DOMAINS[(w >> 17) % 6]}"'))
        if has_external_id:
            out.append(("external_id", f'"cust-{i:08d}"'))
        if has_email and has_external_id and (w2 >> 46) % 3 == 0:
            out.extend(self._connector_traits(i, v, created, updated, w2))
        if (w >> 28) % 10 < 8:
            out.append(("account", self._account_json[ci * 4 + plan_i]))
        if i % LONG_VALUE_EVERY == 13:
            out.append((LONG_VALUE_KEY, LONG_VALUE_J))
        if i % LONG_NAME_EVERY == 7:
            out.append((LONG_NAME_KEY, '"value under an over-long attribute name"'))
        out.append(("segment_ids", self._segment_json[self.mask[i]]))
        return out

    def _connector_traits(self, i: int, v: int, created: int, updated: int, w2: int) -> list[tuple[str, str]]:
        """What Hull's hosted connector left on user ``i`` (see the module docstring)."""
        synced = fmt_seconds(created + (w2 >> 48) % max(1, updated - created), "T", "Z")
        if not MASK_TABLE[v] & self._connector_mask:
            return [("traits_customerio/deleted_at", f'"{synced}"')]
        stale = f"{mix(w2 ^ 0xC10):016x}{mix(w2 ^ 0xC11):016x}{mix(w2 ^ 0xC12) >> 32:08x}"
        return [
            ("traits_customerio/id", f'"cust-{i:08d}"'),
            ("traits_customerio/created_at", f'"{fmt_seconds(created, "T", "Z")}"'),
            ("traits_customerio/hash", f'"{stale}"'),
            ("traits_customerio/synced_at", f'"{synced}"'),
        ]

    def draw(self, i: int) -> int:
        """User ``i``'s 64 random bits: everything generated about the user derives from them."""
        return int(self._words[i])

    def anonymous_id(self, i: int) -> str:
        """User ``i``'s first anonymous id (every generated user has at least one)."""
        return self._anon_id(i, 0, mix(self._words[i] ^ i))

    def _anon_id(self, i: int, k: int, w2: int) -> str:
        h = (w2 * (2 * k + 3) + k) & MASK64
        return f"{h >> 32:08x}-{(h >> 16) & 0xFFFF:04x}-4{(h >> 4) & 0xFFF:03x}-a{h & 0xFFF:03x}-{i:012x}"

    # ------------------------------------------------------------------ lookups (firehose asUser)
    def find(self, field: str, value: Any) -> int | None:
        """Index of the user whose ``field`` (id, external_id, email, anonymous_id) is ``value``."""
        if not isinstance(value, str) or not value:
            return None
        with self._lock:
            if field == "id":
                return self.index_of_id(value)
            if field == "external_id":
                if value in self._ext_index:
                    return self._ext_index[value]
                m = re.fullmatch(r"cust-(\d{8,})", value)
                cand = int(m.group(1)) if m else None
            elif field == "email":
                if value in self._email_index:
                    return self._email_index[value]
                m = re.search(r"(\d+)@", value)
                cand = int(m.group(1)) if m else None
            elif field == "anonymous_id":
                m = re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-([0-9a-f]{12})", value)
                cand = int(m.group(1), 16) if m else None
                if cand is not None and cand < self.size and value in self.doc(cand).get("anonymous_ids", []):
                    return cand
                return None
            else:
                return None
            if cand is None or cand >= self.size:
                return None
            return cand if self.doc(cand).get(field) == value else None

    # ------------------------------------------------------------------ mutations
    def update(self, i: int, changes: dict[str, Any], *, now: float | None = None) -> None:
        """Apply ``changes`` (document keys; None removes a key) and bump ``updated_at``."""
        with self._lock:
            over = self._overrides.setdefault(i, {})
            for key, value in changes.items():
                if key in ("id", "segment_ids", "updated_at"):
                    raise ValueError(f"{key!r} cannot be changed this way")
                if key in ("external_id", "email") and isinstance(value, str):
                    (self._ext_index if key == "external_id" else self._email_index)[value] = i
                over[key] = value
            self._touch(i, now)

    def set_segments(self, i: int, segment_ids: Sequence[str]) -> None:
        with self._lock:
            m = 0
            for sid in segment_ids:
                bit = self._segment_bit.get(sid)
                if bit is None:
                    raise ValueError(f"unknown segment id {sid!r}")
                m |= 1 << bit
            self.mask[i] = m
            self.mask_version += 1
            self._touch(i, None)

    def _touch(self, i: int, now: float | None) -> None:
        t = round(now if now is not None else time.time(), 3)
        previous = self._updated.get(i, 0.0)
        self._updated[i] = max(t, round(previous + 0.001, 3))  # strictly later, even within one millisecond
        self._doc_cache.pop(i, None)
        self.mutation_log.append(i)

    # ------------------------------------------------------------------ schema
    def schema(self) -> list[dict[str, str]]:
        keys = list(BASE_SCHEMA)
        if self.size > 13:
            keys.append((LONG_VALUE_KEY, "string"))
        if self.size > 7:
            keys.append((LONG_NAME_KEY, "string"))
        seen = {k for k, _ in keys}
        with self._lock:
            for over in self._overrides.values():
                for k, v in over.items():
                    if k not in seen and v is not None:
                        seen.add(k)
                        keys.append((k, _type_of(v)))
        return [{"key": k, "type": t} for k, t in keys]

    def bootstrap_tree(self) -> list[dict[str, Any]]:
        groups: dict[str, list[dict[str, str]]] = {}
        for item in self.schema():
            key = item["key"]
            if key.startswith("traits_"):
                group, text = "Traits", key[len("traits_") :]
            elif key.startswith("account."):
                group, text = "Account", key[len("account.") :]
            else:
                group, text = "User", key
            groups.setdefault(group, []).append(
                {"id": key, "text": text.replace("_", " ").title(), "type": item["type"]}
            )
        return [{"text": g, "children": children} for g, children in groups.items()]

    # ------------------------------------------------------------------ events
    def events(self) -> list[dict[str, Any]]:
        """Every event, sorted by (created_at, id). Built on first use."""
        with self._lock:
            if self._events is None:
                self._events = generate_events(self)
                self._event_ids = {e["id"] for e in self._events}
            return self._events

    def add_event(
        self,
        hull_id: str | None,
        name: str,
        *,
        properties: dict[str, Any] | None = None,
        created_at: float | None = None,
        event_type: str = "track",
        anonymous_id: str | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """Add one event (tests). Returns it as ``/search/events`` will answer it."""
        if hull_id is not None and self.index_of_id(hull_id) is None:
            raise ValueError(f"no user with id {hull_id!r}")
        events = self.events()
        with self._lock:
            t = time.time() if created_at is None else created_at
            serial = len(events) + 1_000_000
            eid = event_id or self.object_id(int(t), serial)
            while eid in self._event_ids:
                serial += 1
                eid = self.object_id(int(t), serial)
            ev = {
                "id": eid,
                "event": name,
                "created_at": iso_z(t),
                "event_type": event_type,
                "properties": dict(properties or {}),
                "user_id": hull_id,
                "anonymous_id": anonymous_id,
                "context": {"source": "sandbox-test"},
                "_t": float(t),
                "_u": self.index_of_id(hull_id) if hull_id is not None else -1,
            }
            bisect.insort(events, ev, key=event_order)
            self._event_ids.add(eid)
            return public_event(ev)

    def event_stats(self) -> list[dict[str, Any]]:
        return event_stats(self.events())

    def iter_segment(self, segment_id: str) -> Iterator[dict[str, Any]]:
        bit = self._segment_bit.get(segment_id)
        if bit is None:
            return
        for i in range(self.size):
            if self.mask[i] >> bit & 1:
                yield self.doc(i)


def project(doc: dict[str, Any], include: tuple[str, ...]) -> dict[str, Any]:
    """Only the ``include``d fields of ``doc`` (and its id); ``account.x`` picks inside ``account``."""
    out: dict[str, Any] = {"id": doc["id"]}
    for f in include:
        if f in doc:
            out[f] = doc[f]
        elif "." in f:
            head, rest = f.split(".", 1)
            sub = doc.get(head)
            if isinstance(sub, dict) and rest in sub:
                out.setdefault(head, {})[rest] = sub[rest]
    return out


def _type_of(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, dict | list):
        return "json"
    if isinstance(v, str) and parse_date(v) is not None:
        return "date"
    return "string"
