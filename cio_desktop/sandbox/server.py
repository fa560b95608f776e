"""The sandbox: one loopback HTTP server emulating Hull (REST + firehose) and Customer.io (Track v1/v2 + App).

URL layout (docs/architecture.md, "The sandbox"): ``/hull/api/v1``, ``/hull-firehose``,
``/cio-track``, ``/cio-app`` and the unauthenticated control/inspection endpoints under
``/_sandbox``. ``Sandbox.dispatch`` picks the API by prefix and applies its faults; each API
(:mod:`cio_desktop.sandbox.apis`) routes with its own table; :mod:`cio_desktop.sandbox.httpd` is the
HTTP handler in front."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cio_desktop.config.profile import (
    AttributeMapping,
    Endpoints,
    ObjectSettings,
    Profile,
    Region,
    SegmentRef,
    default_cio_name,
)
from cio_desktop.sandbox.apis.cio_app import CioAppApi
from cio_desktop.sandbox.apis.cio_track import CioTrackApi
from cio_desktop.sandbox.apis.control import ControlApi
from cio_desktop.sandbox.apis.hull_firehose import HullFirehoseApi
from cio_desktop.sandbox.apis.hull_rest import HullRestApi
from cio_desktop.sandbox.customerio import CioStore
from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.events import public_event
from cio_desktop.sandbox.faults import APIS, FaultInjector, Faults, Outcome, ServerRateLimit
from cio_desktop.sandbox.httpd import SandboxServer
from cio_desktop.sandbox.hull import HullCredentials, HullService
from cio_desktop.sandbox.pools import CONNECTOR_SEGMENTS
from cio_desktop.sandbox.routing import DROP, EmulatedApi, Refused, Reply, Request, message_error


@dataclass(frozen=True)
class SandboxUrls:
    """Base URLs of the emulated services (docs/architecture.md, "The sandbox")."""

    base: str
    hull_api: str
    hull_firehose: str
    cio_track: str
    cio_app: str


@dataclass(frozen=True)
class SandboxCredentials:
    """The demo credentials the sandbox accepts (and nothing else)."""

    hull_organization: str
    hull_connector_id: str
    hull_secret: str
    cio_site_id: str
    cio_api_key: str
    cio_app_key: str
    region: str = "us"

    def secrets(self) -> dict[str, str]:
        """The secret values keyed like ``config.secrets.SecretKey`` (for an in-memory secret store)."""
        return {"hull_secret": self.hull_secret, "cio_api_key": self.cio_api_key, "cio_app_key": self.cio_app_key}


def _derive(seed: int, label: str, n_hex: int) -> str:
    return hashlib.sha256(f"cio-desktop-sandbox:{seed}:{label}".encode()).hexdigest()[:n_hex]


class Sandbox:
    """The emulators, in-process. ``start()`` serves on ``host:port`` (0 = a free port) in threads.

    Use as a context manager in tests::

        with Sandbox(users=500, seed=3) as sb:
            client = HullClient(..., base_url=sb.urls.hull_api)
    """

    def __init__(
        self,
        users: int = 2000,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        cio_rate_limit: float | None = None,
    ) -> None:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the sandbox only listens on loopback (127.0.0.1), not {host!r}")
        self.host, self.port = host, port
        self.seed = seed
        self.org = FakeOrg(users, seed)
        self.credentials = SandboxCredentials(
            hull_organization=self.org.org_host,
            hull_connector_id=self.org.connector_id,
            hull_secret=_derive(seed, "hull-secret", 32),
            cio_site_id="sandbox" + _derive(seed, "site", 13),
            cio_api_key=_derive(seed, "api-key", 20),
            cio_app_key="app" + _derive(seed, "app-key", 29),
            region="us",
        )
        self.hull = HullService(
            self.org,
            HullCredentials(
                self.credentials.hull_organization, self.credentials.hull_connector_id, self.credentials.hull_secret
            ),
        )
        self.cio = CioStore()
        self.cio_rate_limit = cio_rate_limit
        c = self.credentials
        self._apis: tuple[EmulatedApi, ...] = (
            HullRestApi(self.hull),
            HullFirehoseApi(self.hull),
            CioTrackApi(
                self.cio,
                c.cio_site_id,
                c.cio_api_key,
                self._region,
                ServerRateLimit(cio_rate_limit) if cio_rate_limit else None,
            ),
            CioAppApi(self.cio, c.cio_app_key),
        )
        self._control = ControlApi(self)
        self._faults = {api: FaultInjector() for api in APIS}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._counts_lock = threading.Lock()
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._urls: SandboxUrls | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        server = SandboxServer((self.host, self.port), self.dispatch)
        self._server = server
        port = server.server_address[1]
        base = f"http://{self.host}:{port}"
        self._urls = SandboxUrls(
            base=base,
            hull_api=f"{base}/hull/api/v1",
            hull_firehose=f"{base}/hull-firehose",
            cio_track=f"{base}/cio-track",
            cio_app=f"{base}/cio-app",
        )
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="cio-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def urls(self) -> SandboxUrls:
        if self._urls is None:
            raise RuntimeError("the sandbox is not started; call start() first")
        return self._urls

    # ------------------------------------------------------------------ profile for demo mode
    def demo_profile(self, name: str = "Demo") -> Profile:
        """A ready profile pointing at this sandbox: two segments, a few events, ~20 mappings."""
        seg = dict((n, s) for s, n in self.org.segments)
        chosen = [SegmentRef(seg[n], n) for n in CONNECTOR_SEGMENTS]
        hull_attrs = (
            "id", "name", "first_name", "last_name", "created_at", "traits_clearbit/given_name",
            "traits_clearbit/family_name", "traits_clearbit/company", "traits_clearbit/title",
            "traits_clearbit/seniority", "traits_intercom/session_count", "traits_intercom/last_request_at",
            "traits_intercom/unsubscribed_from_emails", "traits_intercom/tags", "traits_plan", "traits_mrr",
            "traits_score", "traits_newsletter", "traits_signup_source", "traits_trial_ends_at",
            "account.name", "account.domain",
        )  # fmt: skip
        profile = Profile(
            name=name,
            hull_organization=self.credentials.hull_organization,
            hull_connector_id=self.credentials.hull_connector_id,
            cio_site_id=self.credentials.cio_site_id,
            cio_region=Region.US,
            rate_limit=min(3000.0, float(self.cio_rate_limit)) if self.cio_rate_limit else 100.0,
            segments=tuple(chosen),
            events=("Signed Up", "Completed Order", "Upgraded Plan", "page", "Started Trial"),
            mappings=tuple(AttributeMapping(h, default_cio_name(h)) for h in hull_attrs),
            write_back=True,
            # Each user's company goes out as an "Accounts" object (type 1 exists in the sandbox).
            objects=ObjectSettings(enabled=True),
            endpoints=Endpoints(
                hull_api=self.urls.hull_api,
                hull_firehose=self.urls.hull_firehose,
                cio_track=self.urls.cio_track,
                cio_app=self.urls.cio_app,
            ),
        )
        profile.validate()
        return profile

    # ------------------------------------------------------------------ faults
    def set_faults(
        self,
        api: str,
        *,
        rate_429: float = 0.0,
        retry_after: float | None = None,
        rate_5xx: float = 0.0,
        latency_ms: float = 0,
        drop_rate: float = 0.0,
        slow_body_ms: float = 0,
        seed: int = 0,
    ) -> None:
        """Replace the faults of ``api`` (hull, firehose, cio_track, cio_app); all zero = healthy."""
        if api not in self._faults:
            raise ValueError(f"unknown api {api!r}; use one of {', '.join(APIS)}")
        self._faults[api].configure(Faults(rate_429, retry_after, rate_5xx, latency_ms, drop_rate, slow_body_ms, seed))

    def set_hull_disabled(self, disabled: bool) -> None:
        """Make the Hull API answer 402 (organization disabled)."""
        self.hull.disabled = disabled

    # ------------------------------------------------------------------ inspection
    def cio_people(self) -> dict[str, dict[str, Any]]:
        return self.cio.people()

    def cio_events(self) -> list[dict[str, Any]]:
        return self.cio.events()

    def cio_deletions(self) -> list[dict[str, Any]]:
        return self.cio.deletions()

    def cio_merges(self) -> list[dict[str, Any]]:
        return self.cio.merges()

    def cio_request_count(self) -> dict[str, int]:
        """Requests received per Customer.io endpoint, e.g. ``{"POST /api/v2/batch": 3}``."""
        with self._counts_lock:
            return {ep: n for (api, ep), n in self._counts.items() if api in ("cio_track", "cio_app")}

    def request_counts(self) -> dict[str, int]:
        """Requests received per API (hull, firehose, cio_track, cio_app)."""
        out = dict.fromkeys(APIS, 0)
        with self._counts_lock:
            for (api, _), n in self._counts.items():
                out[api] += n
        return out

    def hull_received(self) -> list[dict[str, Any]]:
        return self.hull.received()

    def hull_events_received(self) -> list[dict[str, Any]]:
        return self.hull.events_received()

    def reset_cio(self) -> None:
        self.cio.reset()

    def state(self) -> dict[str, Any]:
        counts = self.cio.counts()
        return {
            **counts,
            "requests": self.request_counts(),
            "firehose_items": len(self.hull.received()),
            "hull_events_received": len(self.hull.events_received()),
            "users": self.org.size,
        }

    # ------------------------------------------------------------------ Hull-side data for tests
    def user(self, hull_id: str) -> dict[str, Any]:
        i = self.org.index_of_id(hull_id)
        if i is None:
            raise KeyError(hull_id)
        return self.org.doc(i)

    def users_in_segment(self, segment_id: str) -> Iterator[dict[str, Any]]:
        return self.org.iter_segment(segment_id)

    def segments(self) -> list[tuple[str, str, int]]:
        """(id, name, member count) of every segment."""
        counts = self.org.segment_counts()
        return [(sid, name, counts[k]) for k, (sid, name) in enumerate(self.org.segments)]

    def update_user(self, hull_id: str, changes: dict[str, Any]) -> None:
        i = self.org.index_of_id(hull_id)
        if i is None:
            raise KeyError(hull_id)
        self.org.update(i, changes)

    def set_user_segments(self, hull_id: str, segment_ids: list[str] | tuple[str, ...]) -> None:
        i = self.org.index_of_id(hull_id)
        if i is None:
            raise KeyError(hull_id)
        self.org.set_segments(i, segment_ids)

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
        return self.org.add_event(
            hull_id,
            name,
            properties=properties,
            created_at=created_at,
            event_type=event_type,
            anonymous_id=anonymous_id,
            event_id=event_id,
        )

    def hull_events(self) -> list[dict[str, Any]]:
        """Every event the Hull search serves (for test expectations)."""
        return [public_event(e) for e in self.org.events()]

    def _region(self) -> dict[str, Any]:
        """What Track's ``/api/v1/accounts/region`` answers: this sandbox is a US workspace."""
        return {"url": self.urls.cio_track, "region": "us", "environment_id": int(_derive(self.seed, "env", 6), 16)}

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        """Answer one request: the API is chosen by URL prefix, its route by its own table."""
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        for api in self._apis:
            if path == api.prefix or path.startswith(api.prefix + "/"):
                sub = path[len(api.prefix) :].strip("/")
                # Split before unquoting so an encoded "/" stays inside its path segment.
                segments = tuple([unquote(s) for s in sub.split("/")]) if sub else ()
                return self._serve(api, Request(method, segments, query, headers, body))
        if path.startswith(self._control.prefix + "/"):
            # Not unquoted: the control API unquotes the identifiers in its paths itself.
            segments = tuple(path[len(self._control.prefix) + 1 :].split("/"))
            return _answer(self._control.handle, Request(method, segments, query, headers, body))
        return message_error(404, f"nothing at {path}; see /_sandbox/state")

    def _serve(self, api: EmulatedApi, req: Request) -> Reply:
        """The API's answer, unless a fault configured for it decides otherwise; every request is counted."""
        decision = self._faults[api.name].decide()
        if decision.latency_s:
            time.sleep(decision.latency_s)
        reply = _answer(api.handle, req) if decision.outcome is Outcome.PASS else None  # faulted: nothing applied
        with self._counts_lock:
            self._counts[(api.name, api.endpoint(req.method, req.path))] += 1
        if decision.outcome is Outcome.DROP:
            return DROP
        if decision.outcome is Outcome.TOO_MANY:
            retry = decision.retry_after
            extra = (("Retry-After", _retry_after_text(retry)),) if retry is not None else ()
            reply = Reply(429, b'{"meta":{"error":"Too many requests"}}', extra)
        elif decision.outcome is Outcome.SERVER_ERROR:
            reply = Reply(decision.status, json.dumps({"message": HTTPStatus(decision.status).phrase}).encode())
        assert reply is not None
        if decision.slow_body_s:
            reply = Reply(reply.status, reply.body, reply.headers, decision.slow_body_s)
        return reply


def _answer(handle: Callable[[Request], Reply], req: Request) -> Reply:
    try:
        return handle(req)
    except Refused as e:
        return e.reply


def _retry_after_text(v: float) -> str:
    """Whole seconds without a decimal point ("2"), others as written ("1.5")."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


__all__ = ["Sandbox", "SandboxCredentials", "SandboxUrls"]
