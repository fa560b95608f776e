"""The fake organization's events: generated from each user's random bits, plus anonymous visitors.

An event is kept as Hull's search answers it plus two fields of the sandbox's own: ``_t`` (creation
time in seconds, the sort key) and ``_u`` (the user's index, -1 for none); :func:`public_event`
drops them. Only up to 20,000 users carry generated events, so memory stays small for big orgs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cio_desktop.sandbox.dates import DAY, iso_z
from cio_desktop.sandbox.pools import BASE_TIME, mix

if TYPE_CHECKING:
    from cio_desktop.sandbox.data import FakeOrg

_EVENT_USERS_CAP = 20_000


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


def generate_events(org: FakeOrg) -> list[dict[str, Any]]:
    """Every generated event of ``org``, sorted by (created_at, id)."""
    stride = max(1, -(-org.size // _EVENT_USERS_CAP))
    out: list[dict[str, Any]] = []
    serial = 0
    for i in range(0, org.size, stride):
        w2 = mix(org.draw(i) ^ (i * 7919))
        created = int(org.created_epoch(i))
        span = max(1, int(org.updated_epoch(i)) - created)
        for k in range((w2 & 7) + (1 if w2 >> 62 else 0)):
            h = mix(w2 + k)
            spec = EVENT_SPECS[0] if k == 0 else EVENT_SPECS[h % len(EVENT_SPECS)]
            t = created if k == 0 else created + h % span
            serial += 1
            anon = org.anonymous_id(i) if spec.event_type == "page" else None
            out.append(_event(org, serial, t, spec, h, org.id_of(i), anon, i))
    # Anonymous visitors (never identified): events with no user, only an anonymous id.
    for j in range(max(1, org.size // 20) if org.size else 0):
        h = mix(org.seed * 1_000_003 + j)
        serial += 1
        anon = f"{h >> 32:08x}-{(h >> 16) & 0xFFFF:04x}-4{(h >> 4) & 0xFFF:03x}-b{h & 0xFFF:03x}-{j:012x}"
        spec = EVENT_SPECS[2] if j % 3 else EVENT_SPECS[11]
        out.append(_event(org, serial, BASE_TIME - h % (365 * DAY), spec, h, None, anon, -1))
    out.sort(key=event_order)
    return out


def event_order(ev: dict[str, Any]) -> tuple[float, str]:
    return ev["_t"], ev["id"]


def _event(
    org: FakeOrg, serial: int, t: int, spec: EventSpec, h: int, user_id: str | None, anon: str | None, index: int
) -> dict[str, Any]:
    return {
        "id": org.object_id(t, serial),
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


def event_stats(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per event name: the properties seen and how many were emitted (Hull's event bootstrap)."""
    counts: dict[str, int] = {}
    props: dict[str, set[str]] = {}
    for e in events:
        counts[e["event"]] = counts.get(e["event"], 0) + 1
        props.setdefault(e["event"], set()).update(e["properties"])
    return [{"name": n, "properties": sorted(props[n]), "emitted": c} for n, c in sorted(counts.items())]


def public_event(ev: dict[str, Any]) -> dict[str, Any]:
    """The event as the search answers it (without the sandbox's own ``_t`` time and ``_u`` user index)."""
    return {k: v for k, v in ev.items() if k not in ("_t", "_u")}


def _event_properties(spec: EventSpec, h: int) -> dict[str, Any]:
    p: dict[str, Any] = {}
    for n, name in enumerate(spec.properties):
        x = mix(h + n)
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
