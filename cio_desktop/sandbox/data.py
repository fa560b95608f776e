"""The sandbox's fake Hull organization: users, segments, events, schema, all derived from a seed.

Nothing is materialised per user up front. ``FakeOrg`` draws 8 random bytes and one segment byte
per user from ``random.Random(seed)`` (C speed: a million users cost ~10 ms), and builds a user's
document on demand from those bytes. Segment membership is one byte per user (a bit per segment),
so segment filters and counts run over the whole organization with ``bytes.translate``/``find``.

Ids are MongoDB-ObjectId-like 24 lowercase hex strings that increase with the user index, so a
keyset query ``range id > last`` maps to an index with a binary search.

Mutations (tests, firehose write-back) are kept as per-user overrides on top of the generated
document; every mutation bumps the user's ``updated_at``.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

MISSING: Final = object()  # a field the user does not have (distinct from a JSON null)

_MASK64 = (1 << 64) - 1
_BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z: generated data lies before it, mutations after
_DAY = 86_400
_EVENT_USERS_CAP = 20_000  # at most this many users carry generated events (keeps events in memory small)

# Personal data pools. The ASCII twin of each name is used for the email address.
_GIVEN = (
    ("Zoë", "zoe"), ("José", "jose"), ("Łukasz", "lukasz"), ("Søren", "soren"), ("Renée", "renee"),
    ("Ayşe", "ayse"), ("Даша", "dasha"), ("北斗", "hokuto"), ("Amélie", "amelie"), ("Björn", "bjorn"),
    ("Chloé", "chloe"), ("Dmitri", "dmitri"), ("Emma", "emma"), ("Fatima", "fatima"), ("Grace", "grace"),
    ("Hiroshi", "hiroshi"), ("Inés", "ines"), ("Jamal", "jamal"), ("Kai", "kai"), ("Lena", "lena"),
    ("Mateo", "mateo"), ("Nadia", "nadia"), ("Olivia", "olivia"), ("Priya", "priya"), ("Quentin", "quentin"),
    ("Rosa", "rosa"), ("Sven", "sven"), ("Tomás", "tomas"), ("Uma", "uma"), ("Victor", "victor"),
    ("Wei", "wei"), ("Ximena", "ximena"), ("Yusuf", "yusuf"), ("Zara", "zara"), ("Noah", "noah"),
    ("Liam", "liam"), ("Mia", "mia"), ("Ana", "ana"), ("Omar", "omar"), ("Sofía", "sofia"),
)  # fmt: skip
_FAMILY = (
    ("Müller", "muller"), ("García", "garcia"), ("Ødegård", "odegard"), ("O'Brien", "obrien"),
    ("Núñez", "nunez"), ("张", "zhang"), ("Иванов", "ivanov"), ("Smith", "smith"), ("Dubois", "dubois"),
    ("Kowalski", "kowalski"), ("Rossi", "rossi"), ("Tanaka", "tanaka"), ("Nguyễn", "nguyen"),
    ("Johnson", "johnson"), ("Schmidt", "schmidt"), ("Silva", "silva"), ("Jensen", "jensen"),
    ("Öztürk", "ozturk"), ("Novák", "novak"), ("Lefèvre", "lefevre"), ("Brown", "brown"), ("Kim", "kim"),
    ("Patel", "patel"), ("Haddad", "haddad"), ("Andersson", "andersson"), ("Fischer", "fischer"),
    ("Costa", "costa"), ("Wójcik", "wojcik"), ("Moreau", "moreau"), ("Lopez", "lopez"), ("Sato", "sato"),
    ("Walker", "walker"),
)  # fmt: skip
_COMPANIES = (
    ("Acme", "acme.example"), ("Globex", "globex.example"), ("Initech", "initech.example"),
    ("Umbrella", "umbrella.example"), ("Hooli", "hooli.example"), ("Stark Industries", "stark.example"),
    ("Wayne Enterprises", "wayne.example"), ("Tyrell", "tyrell.example"), ("Soylent", "soylent.example"),
    ("Vandelay Industries", "vandelay.example"), ("Wonka", "wonka.example"), ("Cyberdyne", "cyberdyne.example"),
    ("Aperture", "aperture.example"), ("Massive Dynamic", "massive.example"), ("Pied Piper", "piedpiper.example"),
    ("Société Générale Démo", "sgdemo.example"),
)  # fmt: skip
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example", "post.example")
_TITLES = (
    "CEO", "CTO", "VP Marketing", "Growth Lead", "Product Manager", "Software Engineer", "Designer",
    "Data Analyst", "Customer Success", "Sales Director", "Head of Ops", "Founder", "Marketing Manager",
    "Développeuse", "Ingeniero", "Intern",
)  # fmt: skip
_SENIORITY = ("executive", "director", "manager", "individual", "intern")
_SOURCES = ("organic", "google_ads", "referral", "newsletter", "partner", "webinar", "producthunt", "linkedin")
_TAGS = ("beta", "vip", "webinar-2025", "churn-risk", "nps-promoter", "nps-detractor", "early-adopter", "api-user")
_INTERESTS = ("email", "analytics", "automation", "sms", "push", "segmentation", "a/b testing", "reporting")
_TAG_SETS = tuple(tuple(t for b, t in enumerate(_TAGS) if m >> b & 1) for m in range(256))
_INTEREST_SETS = tuple(tuple(t for b, t in enumerate(_INTERESTS) if m >> b & 1) for m in range(256))
_LANGS = ("en", "fr", "de", "es", "ja")
_PLANS = ("enterprise", "pro", "starter", "free")
_MRR_RANGES = ((900, 5000), (99, 400), (19, 60), (0, 0))


def _plan_index(v: int) -> int:
    return 0 if v < 26 else 1 if v < 77 else 2 if v < 128 else 3


_PLAN_INDEX = tuple(_plan_index(v) for v in range(256))
_LONG_VALUE = ("Long free-text note from the CRM. " * 40)[:1200]

# JSON-escaped pieces for _generate_json (json.dumps defaults: ASCII with \u escapes).
_GIVEN_J = tuple(json.dumps(g) for g, _ in _GIVEN)
_FAMILY_J = tuple(json.dumps(f) for f, _ in _FAMILY)
_NAME_J = tuple(json.dumps(f"{g} {f}") for g, _ in _GIVEN for f, _ in _FAMILY)
_COMPANY_J = tuple(json.dumps(c) for c, _ in _COMPANIES)
_TITLE_J = tuple(json.dumps(t) for t in _TITLES)
_TAG_SETS_J = tuple(json.dumps(list(t), separators=(",", ":")) for t in _TAG_SETS)
_INTEREST_SETS_J = tuple(json.dumps(list(t), separators=(",", ":")) for t in _INTEREST_SETS)
_PREFS_J = tuple(
    tuple(json.dumps({"language": lang, "digest": bool(d)}, separators=(",", ":")) for d in (0, 1)) for lang in _LANGS
)
_LONG_VALUE_J = json.dumps(_LONG_VALUE)

# Segments: (name, predicate on the user's segment byte). Byte v also fixes the plan (see _plan).
_SEGMENT_DEFS: tuple[tuple[str, Any], ...] = (
    ("All Users", lambda v: True),
    ("Active", lambda v: v < 154),
    ("Paying Customers", lambda v: v < 128),
    ("Trial", lambda v: 128 <= v < 166),
    ("Enterprise", lambda v: v < 26),
    ("Churn Risk", lambda v: 100 <= v < 120 or 200 <= v < 210),
    ("Newsletter Subscribers", lambda v: v % 3 == 0),
    ("VIP", lambda v: v < 5),
)
MASK_TABLE: Final = bytes(sum(1 << bit for bit, (_, pred) in enumerate(_SEGMENT_DEFS) if pred(v)) for v in range(256))


@dataclass(frozen=True)
class EventSpec:
    name: str
    event_type: str  # track | page | screen
    properties: tuple[str, ...]


EVENT_SPECS: Final = (
    EventSpec("Signed Up", "track", ("source", "plan")),
    EventSpec("Logged In", "track", ("method",)),
    EventSpec("Viewed Page", "page", ("url", "title", "referrer")),
    EventSpec("Opened App", "screen", ("screen", "app_version")),
    EventSpec("Added to Cart", "track", ("product", "price", "quantity")),
    EventSpec("Completed Order", "track", ("order_id", "revenue", "currency", "products")),
    EventSpec("Started Trial", "track", ("plan", "trial_days")),
    EventSpec("Upgraded Plan", "track", ("from_plan", "to_plan", "mrr")),
    EventSpec("Invited Teammate", "track", ("invitee_email",)),
    EventSpec("Created Project", "track", ("project_name", "template")),
    EventSpec("Exported Report", "track", ("format", "rows")),
    EventSpec("Clicked Link", "track", ("href", "campaign")),
)
_PRODUCTS = ("Starter Kit", "Pro Pack", "Widget", "Gadget", "Gizmo", "Team Seat", "Add-on Storage")
_PAGES = ("/", "/pricing", "/features", "/blog/launch", "/docs/getting-started", "/signup", "/contact")

# (key, type) of every generated user attribute: the schema and the bootstrap tree derive from it.
_BASE_SCHEMA: tuple[tuple[str, str], ...] = (
    ("id", "string"), ("email", "string"), ("external_id", "string"), ("anonymous_ids", "string"),
    ("name", "string"), ("first_name", "string"), ("last_name", "string"), ("created_at", "date"),
    ("updated_at", "date"), ("segment_ids", "string"),
    ("traits_clearbit/given_name", "string"), ("traits_clearbit/family_name", "string"),
    ("traits_clearbit/company", "string"), ("traits_clearbit/title", "string"),
    ("traits_clearbit/seniority", "string"), ("traits_clearbit/employment_domain", "string"),
    ("traits_clearbit/fetched_at", "date"),
    ("traits_intercom/id", "string"), ("traits_intercom/session_count", "number"),
    ("traits_intercom/last_request_at", "date"), ("traits_intercom/unsubscribed_from_emails", "boolean"),
    ("traits_intercom/tags", "string"),
    ("traits_plan", "string"), ("traits_mrr", "number"), ("traits_score", "number"),
    ("traits_newsletter", "boolean"), ("traits_signup_source", "string"), ("traits_trial_ends_at", "date"),
    ("traits_interests", "string"), ("traits_preferences", "json"), ("traits_last_login_date", "date"),
    ("traits_seats", "number"),
    ("account.id", "string"), ("account.domain", "string"), ("account.name", "string"), ("account.plan", "string"),
)  # fmt: skip
# Users over Customer.io's limits (API-CONTRACTS.md): a 1,200-byte value and a 160-byte attribute name.
LONG_VALUE_KEY: Final = "traits_notes"
LONG_NAME_KEY: Final = "traits_custom/" + "very_long_attribute_name_" * 6 + "x" * 10
_LONG_VALUE_EVERY = 487  # users with index % 487 == 13 carry traits_notes of 1,200 bytes
_LONG_NAME_EVERY = 1009  # users with index % 1009 == 7 carry the 160-byte attribute name


def _mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


_DAY_TEXT: dict[int, str] = {}  # day number -> "YYYY-MM-DD" (a few thousand days at most)
_HOUR_MINUTE = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
_SECOND = [f":{x:02d}" for x in range(60)]


def _fmt(t: int, sep: str, suffix: str) -> str:
    """Fast date formatting for whole seconds (the generator formats several dates per user)."""
    d, sod = divmod(t, _DAY)
    day = _DAY_TEXT.get(d)
    if day is None:
        g = time.gmtime(d * _DAY)
        day = _DAY_TEXT[d] = f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}"
    m, sec = divmod(sod, 60)
    return day + sep + _HOUR_MINUTE[m] + _SECOND[sec] + suffix


def iso_z(t: float) -> str:
    """``2026-01-01T00:00:00Z`` (milliseconds added when ``t`` has a fraction)."""
    whole = int(t)
    ms = round((t - whole) * 1000)
    if not ms:
        return _fmt(whole, "T", "Z")
    return _fmt(whole, "T", f".{min(ms, 999):03d}Z")


def _iso_offset(t: int) -> str:
    return _fmt(t, "T", "+00:00")


def _iso_utc_words(t: int) -> str:
    return _fmt(t, " ", " UTC")


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_date(value: Any) -> float | None:
    """Unix seconds from any date form Hull emits (``Z``, ``+00:00``, ``... UTC``, date only), else None."""
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return None
    s = value.strip()
    if s.endswith(" UTC"):
        s = s[:-4] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


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
        self.connector_id = self._oid(self._t0 - 5000, 1)
        self.segments: tuple[tuple[str, str], ...] = tuple(
            (self._oid(self._t0 - 4000 + k, k + 10), name) for k, (name, _) in enumerate(_SEGMENT_DEFS)
        )
        self._segment_bit = {sid: bit for bit, (sid, _) in enumerate(self.segments)}
        self._segment_lists = tuple(
            tuple(sid for bit, (sid, _) in enumerate(self.segments) if m >> bit & 1) for m in range(256)
        )
        self._segment_json = tuple(json.dumps(list(ids), separators=(",", ":")) for ids in self._segment_lists)
        self._account_json = tuple(
            json.dumps(
                {
                    "id": self._oid(self._t0 - 3000 + ci, 100 + ci),
                    "domain": _COMPANIES[ci][1],
                    "name": _COMPANIES[ci][0],
                    "plan": _PLANS[p],
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
    def _oid(self, ts: int, counter: int) -> str:
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
        return float(_BASE_TIME - (self._words[i] >> 20) % (365 * _DAY))

    def created_epoch(self, i: int) -> float:
        w = self._words[i]
        return float(_BASE_TIME - (w >> 20) % (365 * _DAY) - (w >> 8) % (3 * 365 * _DAY) - _DAY)

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
        w2 = _mix(w ^ i)
        v = self._segbyte[i]
        gi, fi, ci = w2 % 40, (w2 >> 6) % 32, (w2 >> 11) % 16
        plan_i = _PLAN_INDEX[v]
        lo, hi = _MRR_RANGES[plan_i]
        mrr = lo + (w2 >> 15) % (hi - lo + 1) if hi else 0
        updated = _BASE_TIME - (w >> 20) % (365 * _DAY)
        created = updated - (w >> 8) % (3 * 365 * _DAY) - _DAY
        anon = f'"{self._anon_id(i, 0, w2)}"'
        if (w2 >> 25) & 3 == 0:
            anon += f',"{self._anon_id(i, 1, w2)}"'
        if (w2 >> 27) & 7 == 0:
            anon += f',"{self._anon_id(i, 2, w2)}"'
        given, family = _GIVEN_J[gi], _FAMILY_J[fi]
        out = [
            ("id", f'"{self.id_of(i)}"'),
            ("anonymous_ids", f"[{anon}]"),
            ("name", _NAME_J[gi * 32 + fi]),
            ("first_name", given),
            ("last_name", family),
            ("created_at", f'"{_fmt(created, "T", "Z")}"'),
            ("updated_at", f'"{_fmt(updated, "T", "Z")}"'),
            ("traits_clearbit/given_name", given),
            ("traits_clearbit/family_name", family),
            ("traits_clearbit/company", _COMPANY_J[ci]),
            ("traits_clearbit/title", _TITLE_J[(w2 >> 27) % 16]),
            ("traits_clearbit/seniority", f'"{_SENIORITY[(w2 >> 31) % 5]}"'),
            ("traits_clearbit/employment_domain", f'"{_COMPANIES[ci][1]}"'),
            ("traits_clearbit/fetched_at", f'"{_fmt(created + 3600, "T", "+00:00")}"'),
            ("traits_intercom/id", f'"{(w2 >> 3) & 0xFFFFFFFFFFFF:012x}"'),
            ("traits_intercom/session_count", str((w2 >> 34) % 400)),
            ("traits_intercom/last_request_at", f'"{_fmt(updated - (w2 >> 40) % (30 * _DAY), "T", "+00:00")}"'),
            ("traits_intercom/unsubscribed_from_emails", "true" if (w2 >> 43) % 9 == 0 else "false"),
            ("traits_intercom/tags", _TAG_SETS_J[(w2 >> 44) & (w2 >> 52) & 0xFF]),
            ("traits_plan", f'"{_PLANS[plan_i]}"'),
            ("traits_mrr", str(mrr)),
            ("traits_score", repr(((w2 >> 52) % 1000) / 10.0)),
            ("traits_newsletter", "true" if v % 3 == 0 else "false"),
            ("traits_signup_source", f'"{_SOURCES[(w >> 5) % 8]}"'),
            ("traits_interests", _INTEREST_SETS_J[((w >> 2) & (w >> 40) & 0xFF) | 1 << (w >> 61)]),
            ("traits_preferences", _PREFS_J[(w >> 9) % 5][(w >> 12) & 1]),
            ("traits_last_login_date", f'"{_fmt(updated - (w2 >> 20) % (7 * _DAY), " ", " UTC")}"'),
            ("traits_seats", str(1 + (w >> 13) % 50 if plan_i < 3 else 1)),
        ]
        if 128 <= v < 166:
            out.append(("traits_trial_ends_at", f'"{_fmt(updated + 14 * _DAY, " ", " UTC")}"'))
        if (w >> 14) % 100 >= 3:
            out.append(("email", f'"{_GIVEN[gi][1]}.{_FAMILY[fi][1]}{i}@{_EMAIL_DOMAINS[(w >> 17) % 6]}"'))
        if (w >> 21) % 100 >= 5:
            out.append(("external_id", f'"cust-{i:08d}"'))
        if (w >> 28) % 10 < 8:
            out.append(("account", self._account_json[ci * 4 + plan_i]))
        if i % _LONG_VALUE_EVERY == 13:
            out.append((LONG_VALUE_KEY, _LONG_VALUE_J))
        if i % _LONG_NAME_EVERY == 7:
            out.append((LONG_NAME_KEY, '"value under an over-long attribute name"'))
        out.append(("segment_ids", self._segment_json[self.mask[i]]))
        return out

    def _anon_id(self, i: int, k: int, w2: int) -> str:
        h = (w2 * (2 * k + 3) + k) & _MASK64
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
        keys = list(_BASE_SCHEMA)
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
                self._events = self._generate_events()
                self._event_ids = {e["id"] for e in self._events}
            return self._events

    def _generate_events(self) -> list[dict[str, Any]]:
        stride = max(1, -(-self.size // _EVENT_USERS_CAP))
        out: list[dict[str, Any]] = []
        serial = 0
        for i in range(0, self.size, stride):
            w2 = _mix(self._words[i] ^ (i * 7919))
            created = int(self.created_epoch(i))
            span = max(1, int(self.updated_epoch(i)) - created)
            for k in range((w2 & 7) + (1 if w2 >> 62 else 0)):
                h = _mix(w2 + k)
                spec = EVENT_SPECS[0] if k == 0 else EVENT_SPECS[h % len(EVENT_SPECS)]
                t = created if k == 0 else created + h % span
                serial += 1
                anon = self._anon_id(i, 0, _mix(self._words[i] ^ i)) if spec.event_type == "page" else None
                out.append(self._event(serial, t, spec, h, self.id_of(i), anon, i))
        # Anonymous visitors (never identified): events with no user, only an anonymous id.
        for j in range(max(1, self.size // 20) if self.size else 0):
            h = _mix(self.seed * 1_000_003 + j)
            serial += 1
            anon = f"{h >> 32:08x}-{(h >> 16) & 0xFFFF:04x}-4{(h >> 4) & 0xFFF:03x}-b{h & 0xFFF:03x}-{j:012x}"
            spec = EVENT_SPECS[2] if j % 3 else EVENT_SPECS[11]
            out.append(self._event(serial, _BASE_TIME - h % (365 * _DAY), spec, h, None, anon, -1))
        out.sort(key=lambda e: (e["_t"], e["id"]))
        return out

    def _event(
        self, serial: int, t: int, spec: EventSpec, h: int, user_id: str | None, anon: str | None, index: int
    ) -> dict[str, Any]:
        return {
            "id": self._oid(t, serial),
            "event": spec.name,
            "created_at": iso_z(t),
            "event_type": spec.event_type,
            "properties": _event_properties(spec, h),
            "user_id": user_id,
            "anonymous_id": anon,
            "context": {"source": "sandbox", "ip": "192.0.2.1" if h & 1 else "198.51.100.7"},
            "_t": float(t),
            "_u": index,
        }

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
            eid = event_id or self._oid(int(t), serial)
            while eid in self._event_ids:
                serial += 1
                eid = self._oid(int(t), serial)
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
            bisect.insort(events, ev, key=lambda e: (e["_t"], e["id"]))
            self._event_ids.add(eid)
            return public_event(ev)

    def event_stats(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        props: dict[str, set[str]] = {}
        for e in self.events():
            counts[e["event"]] = counts.get(e["event"], 0) + 1
            props.setdefault(e["event"], set()).update(e["properties"])
        return [{"name": n, "properties": sorted(props[n]), "emitted": c} for n, c in sorted(counts.items())]

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


def public_event(ev: dict[str, Any]) -> dict[str, Any]:
    """The event as the search answers it (without the sandbox's own ``_t`` time and ``_u`` user index)."""
    return {k: v for k, v in ev.items() if k not in ("_t", "_u")}


def _event_properties(spec: EventSpec, h: int) -> dict[str, Any]:
    p: dict[str, Any] = {}
    for n, name in enumerate(spec.properties):
        x = _mix(h + n)
        if name in ("price", "revenue", "mrr"):
            p[name] = round((x % 50_000) / 100.0, 2)
        elif name in ("quantity", "rows", "trial_days"):
            p[name] = 1 + x % 30
        elif name == "products":
            p[name] = [_PRODUCTS[(x >> (3 * k)) % 7] for k in range(1 + x % 3)]
        elif name == "url":
            p[name] = "https://www.example.com" + _PAGES[x % 7]
        elif name == "href":
            p[name] = "https://www.example.com" + _PAGES[x % 7] + "?utm_source=newsletter"
        elif name in ("plan", "from_plan", "to_plan"):
            p[name] = ("free", "starter", "pro", "enterprise")[x % 4]
        elif name == "currency":
            p[name] = ("USD", "EUR", "GBP")[x % 3]
        elif name == "invitee_email":
            p[name] = f"teammate{x % 10_000}@example.com"
        else:
            p[name] = f"{name}-{x % 1000}"
    return p


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
