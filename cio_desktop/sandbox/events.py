"""The fake organization's events: generated from each user's random bits, plus anonymous visitors.

An event is kept as Hull's search answers it plus two fields of the sandbox's own: ``_t`` (creation
time in seconds, the sort key) and ``_u`` (the user's index, -1 for none); :func:`public_event`
drops them. Only up to 20,000 users carry generated events, so memory stays small for big orgs.

Events look like real Hull events (tests/fixtures/connector/user_update_message.json pins the shape):
a page view is the event named ``page`` with ``event_type`` ``track`` and properties ``url``, ``path``,
``title``, ``referrer_url``; a screen view is the event named ``screen``; every event carries its
``event_source``, ``app_name``, ``app_id``, ``session_id`` and a ``context`` (user agent, device,
referrer, os, browser, location, campaign, ip, and for page views the page). Contexts come from a
small shared pool (never changed after creation), so they cost no memory per event.
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
    event_type: str  # what Hull stores: "track", even for page and screen views
    properties: tuple[str, ...]


EVENT_SPECS: Final = (
    EventSpec("Signed Up", "track", ("source", "plan")),
    EventSpec("Logged In", "track", ("method",)),
    EventSpec("page", "track", ("url", "path", "title", "referrer_url")),
    EventSpec("screen", "track", ("name", "app_version")),
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
_SITE = "https://www.example.com"
_TITLES = ("Home", "Pricing", "Features", "Launch", "Getting started", "Sign up", "Contact")
_SCREENS = ("Home", "Inbox", "Settings", "Reports", "Profile")
_APP_ID = "592e0e500b79ca51440017c2"
_BROWSERS = (
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15", "Safari", "Mac OS X",
     "10.15.7", "Other"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "Chrome", "Windows",
     "10", "Other"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "Mobile Safari",
     "iOS", "17.1", "iPhone"),
)  # fmt: skip
_PLACES = (
    ("US", "United States", "Atlanta", "America/New_York", -84.3771, 33.7719, "GA", "Georgia", "30308"),
    ("FR", "France", "Paris", "Europe/Paris", 2.3488, 48.8534, "IDF", "Île-de-France", "75001"),
    ("JP", "Japan", "Tokyo", "Asia/Tokyo", 139.6917, 35.6895, "13", "Tokyo", "100-0001"),
)
_IPS = ("192.0.2.1", "198.51.100.7")
_NO_CAMPAIGN: Final = {"name": None, "source": None, "medium": None, "term": None, "content": None}


def _context(k: int, page: int | None) -> dict[str, Any]:
    """One of the pooled contexts: ``k`` picks browser, place and ip; ``page`` the page viewed (or none)."""
    agent, browser, os_name, os_version, device = _BROWSERS[k % 3]
    country, country_name, city, tz, lon, lat, region, region_name, zipcode = _PLACES[(k // 3) % 3]
    referrer_path = "/blog/launch" if page is not None and page % 2 else "/"
    ctx: dict[str, Any] = {
        "useragent": agent,
        "device": {"name": device},
        "referrer": {
            "url": _SITE + referrer_path,
            "host": "www.example.com",
            "path": referrer_path,
            "campaign": _NO_CAMPAIGN,
        },
        "os": {"name": os_name, "version": os_version},
        "browser": {"name": browser},
        "location": {
            "country": country,
            "city": city,
            "timezone": tz,
            "longitude": lon,
            "latitude": lat,
            "region": region,
            "countryname": country_name,
            "regionname": region_name,
            "zipcode": zipcode,
        },
        "campaign": _NO_CAMPAIGN,
        "ip": _IPS[(k // 9) % 2],
    }
    if page is not None:
        ctx["page"] = {"url": _SITE + _PAGES[page], "host": "www.example.com", "path": _PAGES[page]}
    return ctx


_CONTEXTS: Final = tuple(_context(k, None) for k in range(18))
_PAGE_CONTEXTS: Final = tuple(tuple(_context(k, p) for k in range(18)) for p in range(len(_PAGES)))


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
            anon = org.anonymous_id(i) if spec.name == "page" else None
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
    properties = _event_properties(spec, h)
    k = (h >> 8) % 18
    if spec.name == "page":
        context = _PAGE_CONTEXTS[_PAGES.index(properties["path"])][k]
    else:
        context = _CONTEXTS[k]
    session = anon or (user_id or "")
    return {
        "id": org.object_id(t, serial),
        "event": spec.name,
        "created_at": iso_z(t),
        "event_type": spec.event_type,
        "event_source": "segment",
        "app_name": "Segment",
        "app_id": _APP_ID,
        "session_id": f"{session}-{iso_z(t)[:10]}",
        "properties": properties,
        "user_id": user_id,
        "anonymous_id": anon,
        "context": context,
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
        elif name == "url":  # a page view: url, path, title and referrer_url describe the same page
            page = x % 7
            p.update(url=_SITE + _PAGES[page], path=_PAGES[page], title=f"{_TITLES[page]} | Example")
            p["referrer_url"] = _SITE + ("/blog/launch" if page % 2 else "/")
        elif name in ("path", "title", "referrer_url"):
            continue  # written with the url
        elif name == "name":
            p[name] = _SCREENS[x % 5]
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
