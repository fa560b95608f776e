"""What the sandbox's fake organization is made of: value pools, segments, schema keys, one hash.

The ``*_J`` tuples are values pre-escaped as JSON, so :class:`cio_desktop.sandbox.data.FakeOrg` writes
a user's document as text without building dicts. Every random draw goes through :func:`mix`.
"""

from __future__ import annotations

import json
from typing import Any, Final

MASK64 = (1 << 64) - 1
BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z: generated data lies before it, mutations after


def mix(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


# Personal data pools. The ASCII twin of each name is used for the email address.
GIVEN = (
    ("Zoë", "zoe"), ("José", "jose"), ("Łukasz", "lukasz"), ("Søren", "soren"), ("Renée", "renee"),
    ("Ayşe", "ayse"), ("Даша", "dasha"), ("北斗", "hokuto"), ("Amélie", "amelie"), ("Björn", "bjorn"),
    ("Chloé", "chloe"), ("Dmitri", "dmitri"), ("Emma", "emma"), ("Fatima", "fatima"), ("Grace", "grace"),
    ("Hiroshi", "hiroshi"), ("Inés", "ines"), ("Jamal", "jamal"), ("Kai", "kai"), ("Lena", "lena"),
    ("Mateo", "mateo"), ("Nadia", "nadia"), ("Olivia", "olivia"), ("Priya", "priya"), ("Quentin", "quentin"),
    ("Rosa", "rosa"), ("Sven", "sven"), ("Tomás", "tomas"), ("Uma", "uma"), ("Victor", "victor"),
    ("Wei", "wei"), ("Ximena", "ximena"), ("Yusuf", "yusuf"), ("Zara", "zara"), ("Noah", "noah"),
    ("Liam", "liam"), ("Mia", "mia"), ("Ana", "ana"), ("Omar", "omar"), ("Sofía", "sofia"),
)  # fmt: skip
FAMILY = (
    ("Müller", "muller"), ("García", "garcia"), ("Ødegård", "odegard"), ("O'Brien", "obrien"),
    ("Núñez", "nunez"), ("张", "zhang"), ("Иванов", "ivanov"), ("Smith", "smith"), ("Dubois", "dubois"),
    ("Kowalski", "kowalski"), ("Rossi", "rossi"), ("Tanaka", "tanaka"), ("Nguyễn", "nguyen"),
    ("Johnson", "johnson"), ("Schmidt", "schmidt"), ("Silva", "silva"), ("Jensen", "jensen"),
    ("Öztürk", "ozturk"), ("Novák", "novak"), ("Lefèvre", "lefevre"), ("Brown", "brown"), ("Kim", "kim"),
    ("Patel", "patel"), ("Haddad", "haddad"), ("Andersson", "andersson"), ("Fischer", "fischer"),
    ("Costa", "costa"), ("Wójcik", "wojcik"), ("Moreau", "moreau"), ("Lopez", "lopez"), ("Sato", "sato"),
    ("Walker", "walker"),
)  # fmt: skip
COMPANIES = (
    ("Acme", "acme.example"), ("Globex", "globex.example"), ("Initech", "initech.example"),
    ("Umbrella", "umbrella.example"), ("Hooli", "hooli.example"), ("Stark Industries", "stark.example"),
    ("Wayne Enterprises", "wayne.example"), ("Tyrell", "tyrell.example"), ("Soylent", "soylent.example"),
    ("Vandelay Industries", "vandelay.example"), ("Wonka", "wonka.example"), ("Cyberdyne", "cyberdyne.example"),
    ("Aperture", "aperture.example"), ("Massive Dynamic", "massive.example"), ("Pied Piper", "piedpiper.example"),
    ("Société Générale Démo", "sgdemo.example"),
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example", "post.example")
_TITLES = (
    "CEO", "CTO", "VP Marketing", "Growth Lead", "Product Manager", "Software Engineer", "Designer",
    "Data Analyst", "Customer Success", "Sales Director", "Head of Ops", "Founder", "Marketing Manager",
    "Développeuse", "Ingeniero", "Intern",
)  # fmt: skip
SENIORITY = ("executive", "director", "manager", "individual", "intern")
SOURCES = ("organic", "google_ads", "referral", "newsletter", "partner", "webinar", "producthunt", "linkedin")
_TAGS = ("beta", "vip", "webinar-2025", "churn-risk", "nps-promoter", "nps-detractor", "early-adopter", "api-user")
_INTERESTS = ("email", "analytics", "automation", "sms", "push", "segmentation", "a/b testing", "reporting")
_TAG_SETS = tuple(tuple(t for b, t in enumerate(_TAGS) if m >> b & 1) for m in range(256))
_INTEREST_SETS = tuple(tuple(t for b, t in enumerate(_INTERESTS) if m >> b & 1) for m in range(256))
_LANGS = ("en", "fr", "de", "es", "ja")
PLANS = ("enterprise", "pro", "starter", "free")
MRR_RANGES = ((900, 5000), (99, 400), (19, 60), (0, 0))


def _plan_index(v: int) -> int:
    return 0 if v < 26 else 1 if v < 77 else 2 if v < 128 else 3


PLAN_INDEX = tuple(_plan_index(v) for v in range(256))
_LONG_VALUE = ("Long free-text note from the CRM. " * 40)[:1200]

# JSON-escaped pieces for FakeOrg._generate_json (json.dumps defaults: ASCII with \u escapes).
GIVEN_J = tuple(json.dumps(g) for g, _ in GIVEN)
FAMILY_J = tuple(json.dumps(f) for f, _ in FAMILY)
NAME_J = tuple(json.dumps(f"{g} {f}") for g, _ in GIVEN for f, _ in FAMILY)
COMPANY_J = tuple(json.dumps(c) for c, _ in COMPANIES)
TITLE_J = tuple(json.dumps(t) for t in _TITLES)
TAG_SETS_J = tuple(json.dumps(list(t), separators=(",", ":")) for t in _TAG_SETS)
INTEREST_SETS_J = tuple(json.dumps(list(t), separators=(",", ":")) for t in _INTEREST_SETS)
PREFS_J = tuple(
    tuple(json.dumps({"language": lang, "digest": bool(d)}, separators=(",", ":")) for d in (0, 1)) for lang in _LANGS
)
LONG_VALUE_J = json.dumps(_LONG_VALUE)

# Segments: (name, predicate on the user's segment byte). Byte v also fixes the plan (see PLAN_INDEX).
SEGMENT_DEFS: tuple[tuple[str, Any], ...] = (
    ("All Users", lambda v: True),
    ("Active", lambda v: v < 154),
    ("Paying Customers", lambda v: v < 128),
    ("Trial", lambda v: 128 <= v < 166),
    ("Enterprise", lambda v: v < 26),
    ("Churn Risk", lambda v: 100 <= v < 120 or 200 <= v < 210),
    ("Newsletter Subscribers", lambda v: v % 3 == 0),
    ("VIP", lambda v: v < 5),
)
MASK_TABLE: Final = bytes(sum(1 << bit for bit, (_, pred) in enumerate(SEGMENT_DEFS) if pred(v)) for v in range(256))

# (key, type) of every generated user attribute: the schema and the bootstrap tree derive from it.
BASE_SCHEMA: tuple[tuple[str, str], ...] = (
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
    ("traits_customerio/id", "string"), ("traits_customerio/created_at", "date"), ("traits_customerio/hash", "string"),
    ("traits_customerio/synced_at", "date"), ("traits_customerio/deleted_at", "date"),
)  # fmt: skip
# The segments Hull's hosted connector synced (with deletion on) before the organization moved over;
# the sandbox's demo profile chooses the same ones.
CONNECTOR_SEGMENTS: Final = ("Active", "Paying Customers", "Trial")
# Users over Customer.io's limits (docs/api-contracts.md, "Customer.io Track API"): a 1,200-byte
# value and a 160-byte attribute name.
LONG_VALUE_KEY: Final = "traits_notes"
LONG_NAME_KEY: Final = "traits_custom/" + "very_long_attribute_name_" * 6 + "x" * 10
LONG_VALUE_EVERY = 487  # users with index % 487 == 13 carry traits_notes of 1,200 bytes
LONG_NAME_EVERY = 1009  # users with index % 1009 == 7 carry the 160-byte attribute name
