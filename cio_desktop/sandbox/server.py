"""One loopback HTTP server emulating Hull (REST + firehose) and Customer.io (Track v1/v2 + App).

URL layout (WIRE.md): ``/hull/api/v1``, ``/hull-firehose``, ``/cio-track``, ``/cio-app`` and the
unauthenticated control/inspection endpoints under ``/_sandbox``. HTTP/1.1 keep-alive, one thread
per connection, each answer written in a single ``send`` with TCP_NODELAY, so per-request cost
stays small enough for the benchmarks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cio_desktop.config.profile import AttributeMapping, Endpoints, Profile, Region, SegmentRef, default_cio_name
from cio_desktop.sandbox import customerio as cio
from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.faults import APIS, FaultInjector, Faults, Outcome, TokenBucket
from cio_desktop.sandbox.hull import FirehoseRefused, HullCredentials, HullService
from cio_desktop.sandbox.query import QueryError

_MAX_BODY = 16 * 1024 * 1024  # anything larger is refused before reading (413) and the connection closed
_JSON = "application/json"


@dataclass(frozen=True)
class SandboxUrls:
    """Base URLs of the emulated services (WIRE.md layout)."""

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


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = ()
    slow_body_s: float = 0.0


_DROP = Reply(0)


def _json_reply(status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(obj, separators=(",", ":")).encode(), headers)


def _meta_error(status: int, message: str) -> Reply:
    return _json_reply(status, {"meta": {"error": message}})


def _hull_error(status: int, message: str) -> Reply:
    return _json_reply(status, {"message": message})


def _v2_error(status: int, reason: str, message: str) -> Reply:
    return _json_reply(status, {"errors": [{"reason": reason, "message": message}]})


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
        self.cio = cio.CioStore()
        self._faults = {api: FaultInjector() for api in APIS}
        self._bucket = TokenBucket(cio_rate_limit) if cio_rate_limit else None
        self.cio_rate_limit = cio_rate_limit
        self._counts: Counter[tuple[str, str]] = Counter()
        self._counts_lock = threading.Lock()
        self._basic = (
            "Basic "
            + base64.b64encode(f"{self.credentials.cio_site_id}:{self.credentials.cio_api_key}".encode()).decode()
        )
        self._bearer = "Bearer " + self.credentials.cio_app_key
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._urls: SandboxUrls | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
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
        chosen = [SegmentRef(seg[n], n) for n in ("Active", "Paying Customers", "Trial")]
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
            events=("Signed Up", "Completed Order", "Upgraded Plan", "Viewed Page", "Started Trial"),
            mappings=tuple(AttributeMapping(h, default_cio_name(h)) for h in hull_attrs),
            write_back=True,
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
        from cio_desktop.sandbox.data import public_event

        return [public_event(e) for e in self.org.events()]

    # ------------------------------------------------------------------ dispatch
    def _count(self, api: str, endpoint: str) -> None:
        with self._counts_lock:
            self._counts[(api, endpoint)] += 1

    def dispatch(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        for prefix, api, route in (
            ("/hull/api/v1", "hull", self._hull),
            ("/hull-firehose", "firehose", self._firehose),
            ("/cio-track", "cio_track", self._track),
            ("/cio-app", "cio_app", self._app),
        ):
            if path == prefix or path.startswith(prefix + "/"):
                sub = path[len(prefix) :] or "/"
                return self._api(api, route, method, sub, query, headers, body)
        if path.startswith("/_sandbox/"):
            try:
                return self._control(method, path[len("/_sandbox") :], query, body)
            except (ValueError, TypeError) as e:
                return _json_reply(400, {"message": str(e)})
        return _json_reply(404, {"message": f"nothing at {path}; see /_sandbox/state"})

    def _api(
        self,
        api: str,
        route: Callable[[str, list[str], dict[str, list[str]], Any, bytes], tuple[str, Reply]],
        method: str,
        sub: str,
        query: dict[str, list[str]],
        headers: Any,
        body: bytes,
    ) -> Reply:
        # Split before unquoting so an encoded "/" stays inside its path segment.
        segments = [unquote(s) for s in sub.strip("/").split("/")] if sub.strip("/") else []
        decision = self._faults[api].decide()
        if decision.latency_s:
            time.sleep(decision.latency_s)
        reply = None
        if decision.outcome is Outcome.PASS:
            if api == "cio_track" and self._bucket is not None and not self._bucket.take():
                reply = _meta_error(429, "Too many requests: slow down")
            else:
                _, reply = route(method, segments, query, headers, body)
        self._count(api, _ENDPOINT_NAMES[api](method, segments))
        if decision.outcome is Outcome.DROP:
            return _DROP
        if decision.outcome is Outcome.TOO_MANY:
            extra = (("Retry-After", _fmt_seconds(decision.retry_after)),) if decision.retry_after is not None else ()
            reply = Reply(429, b'{"meta":{"error":"Too many requests"}}', extra)
        elif decision.outcome is Outcome.SERVER_ERROR:
            reply = Reply(decision.status, json.dumps({"message": HTTPStatus(decision.status).phrase}).encode())
        assert reply is not None
        if decision.slow_body_s:
            reply = Reply(reply.status, reply.body, reply.headers, decision.slow_body_s)
        return reply

    # ------------------------------------------------------------------ Hull REST
    def _hull(
        self, method: str, seg: list[str], query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[str, Reply]:
        endpoint = f"{method} /" + "/".join(seg)
        refused = self.hull.check_auth(headers)
        if refused is not None:
            return endpoint, _hull_error(*refused)
        try:
            if method == "GET" and seg == ["app"]:
                return endpoint, _json_reply(200, self.hull.app())
            if method == "GET" and seg == ["users_segments"]:
                page = _int_param(query, "page", 1, 1, 10**6)
                per_page = _int_param(query, "per_page", 50, 1, 500)
                return endpoint, _json_reply(200, self.hull.segments(page, per_page))
            if method == "GET" and seg == ["search", "user_reports", "bootstrap"]:
                return endpoint, _json_reply(200, {"tree": self.org.bootstrap_tree()})
            if method == "GET" and seg == ["users", "schema"]:
                return endpoint, _json_reply(200, self.org.schema())
            if method == "GET" and seg == ["search", "event", "bootstrap"]:
                return endpoint, _json_reply(200, self.org.event_stats())
            if method == "POST" and seg in (["search", "user_reports"], ["search", "events"]):
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    return endpoint, _hull_error(400, "the request body is not valid JSON")
                if seg[1] == "events":
                    return endpoint, _json_reply(200, self.hull.search_events(payload))
                return endpoint, Reply(200, self.hull.search_users_json(payload).encode())
        except QueryError as e:
            return endpoint, _hull_error(400, str(e))
        return endpoint, _hull_error(404, f"Not found: {method} /{'/'.join(seg)}")

    def _firehose(
        self, method: str, seg: list[str], query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[str, Reply]:
        endpoint = f"{method} /"
        if method != "POST" or seg:
            return endpoint, _hull_error(404, "the firehose accepts POST / only")
        try:
            payload = json.loads(body)
        except ValueError:
            return endpoint, _hull_error(400, "the request body is not valid JSON")
        try:
            self.hull.firehose(payload)
        except FirehoseRefused as e:
            return endpoint, _hull_error(e.status, str(e))
        return endpoint, Reply(200, b"{}")

    # ------------------------------------------------------------------ Customer.io Track
    def _track(
        self, method: str, seg: list[str], query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[str, Reply]:
        endpoint = _track_endpoint(method, seg)
        auth = headers.get("Authorization") or ""
        if not hmac.compare_digest(auth.encode(), self._basic.encode()):
            return endpoint, _meta_error(401, "Unauthorized request")
        if seg == ["api", "v2", "batch"]:
            if method != "POST":
                return endpoint, _v2_error(405, "invalid", "use POST for /api/v2/batch")
            return endpoint, self._batch(body)
        if len(seg) < 3 or seg[:2] != ["api", "v1"]:
            return endpoint, _meta_error(404, "Not found")
        try:
            return endpoint, self._track_v1(method, seg[2:], body)
        except cio.Rejected as e:
            return endpoint, _meta_error(400, e.problem.message)

    def _track_v1(self, method: str, seg: list[str], body: bytes) -> Reply:
        if seg == ["accounts", "region"] and method == "GET":
            return _json_reply(
                200,
                {"url": self.urls.cio_track, "region": "us", "environment_id": int(_derive(self.seed, "env", 6), 16)},
            )
        if method in ("PUT", "POST", "DELETE") and body.strip():
            try:
                payload = json.loads(body)
            except ValueError:
                return _meta_error(400, "the request body is not valid JSON")
        else:
            payload = {}
        if not isinstance(payload, dict):
            return _meta_error(400, "the request body must be a JSON object")
        if seg[0] == "customers" and len(seg) >= 2:
            kind, value = _v1_identifier(seg[1])
            rest = seg[2:]
            if not rest and method == "PUT":
                attrs = cio.check_attributes(payload)
                self.cio.identify(kind, value, attrs)
                return Reply(200)
            if not rest and method == "DELETE":
                self.cio.delete(kind, value)
                return Reply(200)
            if rest == ["events"] and method == "POST":
                ev = cio.check_event(
                    payload.get("name"), payload.get("type"), payload.get("id"), payload.get("timestamp"),
                    payload.get("data"),
                )  # fmt: skip
                self.cio.track(kind, value, None, ev)
                return Reply(200)
            if rest == ["devices"] and method == "PUT":
                self.cio.device(kind, value, payload.get("device"), True)
                return Reply(200)
            if len(rest) == 2 and rest[0] == "devices" and method == "DELETE":
                self.cio.device(kind, value, {"token": rest[1]}, False)
                return Reply(200)
            if rest in (["suppress"], ["unsuppress"]) and method == "POST":
                self.cio.suppress(kind, value, rest[0] == "suppress")
                return Reply(200)
        if seg == ["events"] and method == "POST":
            anonymous_id = payload.get("anonymous_id")
            if anonymous_id is not None:
                anonymous_id = cio.check_identifier("anonymous_id", anonymous_id, "anonymous_id")
            ev = cio.check_event(
                payload.get("name"), payload.get("type"), payload.get("id"), payload.get("timestamp"),
                payload.get("data"),
            )  # fmt: skip
            self.cio.track(None, None, anonymous_id, ev)
            return Reply(200)
        if seg == ["merge_customers"] and method == "POST":
            primary = cio.check_identifiers(payload.get("primary"), "primary")
            secondary = cio.check_identifiers(payload.get("secondary"), "secondary")
            self.cio.merge(primary, secondary)
            return Reply(200)
        return _meta_error(404, "Not found")

    def _batch(self, body: bytes) -> Reply:
        if len(body) > cio.MAX_REQUEST_BYTES:
            return _v2_error(400, "too_large", "request body cannot be larger than 500 KB")
        try:
            payload = json.loads(body)
        except ValueError:
            return _v2_error(400, "invalid", "the request body is not valid JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
            return _v2_error(400, "invalid", 'the request body must be {"batch": [operations]}')
        errors = []
        apply_op = cio.apply_operation
        store = self.cio
        for n, op in enumerate(payload["batch"]):
            try:
                apply_op(store, op)
            except cio.Rejected as e:
                p = e.problem
                errors.append({"batch_index": n, "reason": p.reason.value, "field": p.field, "message": p.message})
        if errors:
            return _json_reply(207, {"errors": errors})
        return Reply(200)

    # ------------------------------------------------------------------ Customer.io App
    def _app(
        self, method: str, seg: list[str], query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[str, Reply]:
        endpoint = _app_endpoint(method, seg)
        auth = headers.get("Authorization") or ""
        if not hmac.compare_digest(auth.encode(), self._bearer.encode()):
            return endpoint, _meta_error(401, "Unauthorized request")
        if seg == ["v1", "segments"] and method == "GET":
            return endpoint, _json_reply(200, {"segments": []})
        if len(seg) == 4 and seg[:2] == ["v1", "customers"] and method == "GET":
            id_type = (query.get("id_type") or ["id"])[0]
            if id_type not in ("id", "email", "cio_id"):
                return endpoint, _meta_error(400, "id_type must be one of id, email, cio_id")
            if seg[3] == "attributes":
                customer = self.cio.customer(id_type, seg[2])
                if customer is None:
                    return endpoint, _meta_error(404, "Customer not found")
                return endpoint, _json_reply(200, {"customer": customer})
            if seg[3] == "activities":
                acts = self.cio.activities(id_type, seg[2])
                if acts is None:
                    return endpoint, _meta_error(404, "Customer not found")
                return endpoint, _json_reply(200, {"activities": acts, "next": ""})
        if seg == ["v1", "customers", "attributes"] and method == "POST":
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return endpoint, _meta_error(400, "the request body is not valid JSON")
            ids = payload.get("ids") if isinstance(payload, dict) else None
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                return endpoint, _meta_error(400, 'the body must be {"ids": ["id", ...]}')
            if len(ids) > cio.MAX_APP_LOOKUP_IDS:
                return endpoint, _meta_error(400, f"cannot look up more than {cio.MAX_APP_LOOKUP_IDS} ids at once")
            id_type = (query.get("id_type") or ["id"])[0]
            found = [c for c in (self.cio.customer(id_type, i) for i in ids) if c is not None]
            return endpoint, _json_reply(200, {"customers": found})
        return endpoint, _meta_error(404, "Not found")

    # ------------------------------------------------------------------ control
    def _control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        if method == "GET" and path == "/state":
            return _json_reply(200, self.state())
        if method == "GET" and path in _PAGED:
            rows = _PAGED[path](self)
            page = _int_param(query, "page", 1, 1, 10**9)
            per_page = _int_param(query, "per_page", 100, 1, 10_000)
            start = (page - 1) * per_page
            return _json_reply(
                200, {"data": rows[start : start + per_page], "page": page, "per_page": per_page, "total": len(rows)}
            )
        if method == "GET" and path == "/cio/requests":
            return _json_reply(200, self.cio_request_count())
        if method == "GET" and path.startswith("/hull/users/"):
            try:
                return _json_reply(200, self.user(unquote(path[len("/hull/users/") :])))
            except KeyError:
                return _json_reply(404, {"message": "no such user"})
        payload = json.loads(body) if body.strip() else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
        if method == "POST" and path == "/faults":
            api = payload.pop("api", None)
            if api not in APIS:
                raise ValueError(f"api must be one of {', '.join(APIS)}")
            faults = Faults.from_json(payload)
            self.set_faults(api, **asdict(faults))
            return _json_reply(200, {"api": api, **asdict(faults)})
        if method == "POST" and path.startswith("/users/"):
            hull_id = unquote(path[len("/users/") :])
            try:
                segments = payload.pop("segment_ids", None)
                if payload:
                    self.update_user(hull_id, payload)
                if segments is not None:
                    self.set_user_segments(hull_id, segments)
                return _json_reply(200, self.user(hull_id))
            except KeyError:
                return _json_reply(404, {"message": "no such user"})
        if method == "POST" and path == "/reset":
            self.reset_cio()
            return _json_reply(200, self.state())
        if method == "POST" and path == "/hull/disabled":
            self.set_hull_disabled(bool(payload.get("disabled", True)))
            return _json_reply(200, {"disabled": self.hull.disabled})
        return _json_reply(404, {"message": f"unknown control endpoint {method} {path}"})


_PAGED: dict[str, Callable[[Sandbox], list[dict[str, Any]]]] = {
    "/cio/people": lambda sb: sb.cio.people_detail(),
    "/cio/events": lambda sb: sb.cio.events(),
    "/cio/deletions": lambda sb: sb.cio.deletions(),
    "/cio/merges": lambda sb: sb.cio.merges(),
    "/hull/received": lambda sb: sb.hull.received(),
    "/hull/events": lambda sb: sb.hull.events_received(),
}


def _int_param(query: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    values = query.get(name)
    if not values:
        return default
    raw = values[0]
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo} and {hi}")
    return value


def _fmt_seconds(v: float | None) -> str:
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _v1_identifier(segment: str) -> tuple[str, str]:
    if segment.startswith("cio_") and len(segment) > 4:
        return "cio_id", cio.check_identifier("cio_id", segment[4:])
    return "id", cio.check_identifier("id", segment)


def _track_endpoint(method: str, seg: list[str]) -> str:
    if len(seg) >= 4 and seg[:3] == ["api", "v1", "customers"]:
        tail = "/".join(["{device}" if i == 1 and seg[4] == "devices" else s for i, s in enumerate(seg[4:])])
        return f"{method} /api/v1/customers/{{id}}" + (f"/{tail}" if tail else "")
    return f"{method} /" + "/".join(seg)


def _app_endpoint(method: str, seg: list[str]) -> str:
    if len(seg) == 4 and seg[:2] == ["v1", "customers"]:
        return f"{method} /v1/customers/{{id}}/{seg[3]}"
    return f"{method} /" + "/".join(seg)


def _plain_endpoint(method: str, seg: list[str]) -> str:
    return f"{method} /" + "/".join(seg)


# How requests are counted: per endpoint, with identifiers in paths replaced by a placeholder.
_ENDPOINT_NAMES: dict[str, Callable[[str, list[str]], str]] = {
    "hull": _plain_endpoint,
    "firehose": _plain_endpoint,
    "cio_track": _track_endpoint,
    "cio_app": _app_endpoint,
}


# ---------------------------------------------------------------------- HTTP plumbing
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: Sandbox

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_all(self) -> None:
        """Close kept-alive connections so their threads end with the server."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60  # idle keep-alive connections are closed after a minute

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and benchmarks would drown in access logs

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send(Reply(411, b'{"message":"send a Content-Length"}'), close=True)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self._send(Reply(413, b'{"message":"request body too large"}'), close=True)
            return
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.sandbox.dispatch(self.command, self.path, self.headers, body)
        except Exception as e:  # a bug in the emulator must not hang the client
            reply = _json_reply(500, {"message": f"sandbox error: {type(e).__name__}: {e}"})
        if reply is _DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(reply)

    def _send(self, reply: Reply, close: bool = False) -> None:
        if close:
            self.close_connection = True
        phrase = HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else ""
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Content-Type: {_JSON}",
            f"Content-Length: {len(reply.body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if reply.slow_body_s and reply.body:
                self.wfile.write(head)
                pieces = 5
                step = -(-len(reply.body) // pieces)
                for k in range(0, len(reply.body), step):
                    time.sleep(reply.slow_body_s / pieces)
                    self.wfile.write(reply.body[k : k + step])
            else:
                self.wfile.write(head + reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


__all__ = ["Reply", "Sandbox", "SandboxCredentials", "SandboxUrls"]
