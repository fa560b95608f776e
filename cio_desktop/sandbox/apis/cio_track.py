"""Customer.io's Track API (``/cio-track``): v2 ``/batch`` and the v1 calls, over one :class:`CioStore`.

Order of checks, as Customer.io: the rate limit (429), the site id and API key (401), then the route.
v2 answers a non-POST ``/api/v2/batch`` with 405 and reports bad operations per operation (207);
v1 reads the body and the identifier in the path before the route, so a bad one is a 400 even on a
path it does not know, and answers anything else unknown with 404 ``{"meta": {"error": "Not found"}}``.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from typing import Any

from cio_desktop.sandbox.cio_checks import (
    MAX_REQUEST_BYTES,
    EventIn,
    Rejected,
    check_attributes,
    check_event,
    check_identifier,
    check_identifiers,
)
from cio_desktop.sandbox.customerio import CioStore, apply_operation
from cio_desktop.sandbox.faults import ServerRateLimit
from cio_desktop.sandbox.routing import Miss, Refused, Reply, Request, RouteTable, json_reply, meta_error

_NOT_FOUND = meta_error(404, "Not found")

V1Handler = Callable[[Request, dict[str, Any]], Reply]  # the request and its body, read as a JSON object


def _v2_error(status: int, reason: str, message: str) -> Reply:
    return json_reply(status, {"errors": [{"reason": reason, "message": message}]})


class CioTrackApi:
    name = "cio_track"
    prefix = "/cio-track"

    def __init__(
        self,
        store: CioStore,
        site_id: str,
        api_key: str,
        region: Callable[[], dict[str, Any]],
        rate_limit: ServerRateLimit | None = None,
    ) -> None:
        self.store = store
        self._basic = "Basic " + base64.b64encode(f"{site_id}:{api_key}".encode()).decode()
        self._region = region
        self.rate_limit = rate_limit
        self.v2: RouteTable[Callable[[Request], Reply]] = RouteTable([("POST", "/api/v2/batch", self.batch)])
        self.v1: RouteTable[V1Handler] = RouteTable(  # paths under /api/v1
            [
                ("GET", "/accounts/region", self.region),
                ("PUT", "/customers/{id}", self.identify),
                ("DELETE", "/customers/{id}", self.delete),
                ("POST", "/customers/{id}/events", self.track),
                ("PUT", "/customers/{id}/devices", self.add_device),
                ("DELETE", "/customers/{id}/devices/{token}", self.delete_device),
                ("POST", "/customers/{id}/suppress", self.suppress),
                ("POST", "/customers/{id}/unsuppress", self.unsuppress),
                ("POST", "/events", self.anonymous_event),
                ("POST", "/merge_customers", self.merge),
            ]
        )

    def handle(self, req: Request) -> Reply:
        if self.rate_limit is not None and not self.rate_limit.admit():
            return meta_error(429, "Too many requests: slow down")
        auth = req.headers.get("Authorization") or ""
        if not hmac.compare_digest(auth.encode(), self._basic.encode()):
            return meta_error(401, "Unauthorized request")
        if req.path[:2] == ("api", "v2"):
            found = self.v2.lookup(req.method, req.path)
            if found is Miss.WRONG_METHOD:
                return _v2_error(405, "invalid", "use POST for /api/v2/batch")
            if isinstance(found, Miss):
                return _NOT_FOUND
            handler, req.params = found
            return handler(req)
        if req.path[:2] == ("api", "v1") and len(req.path) > 2:
            try:
                return self._v1(req)
            except Rejected as e:
                return meta_error(400, e.problem.message)
        return _NOT_FOUND

    def endpoint(self, method: str, path: tuple[str, ...]) -> str:
        """How requests are counted: identifiers and device tokens in paths become placeholders."""
        if len(path) >= 4 and path[:3] == ("api", "v1", "customers"):
            rest = path[4:]
            tail = "/".join(["{device}" if i == 1 and rest[0] == "devices" else s for i, s in enumerate(rest)])
            return f"{method} /api/v1/customers/{{id}}" + (f"/{tail}" if tail else "")
        return f"{method} /" + "/".join(path)

    # ------------------------------------------------------------------ v2
    def batch(self, req: Request) -> Reply:
        body = req.body
        if len(body) > MAX_REQUEST_BYTES:
            return _v2_error(400, "too_large", "request body cannot be larger than 500 KB")
        try:
            payload = json.loads(body)
        except ValueError:
            return _v2_error(400, "invalid", "the request body is not valid JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
            return _v2_error(400, "invalid", 'the request body must be {"batch": [operations]}')
        errors = []
        apply_op, store = apply_operation, self.store  # locals: this loop runs for every operation
        for n, op in enumerate(payload["batch"]):
            try:
                apply_op(store, op)
            except Rejected as e:
                p = e.problem
                errors.append({"batch_index": n, "reason": p.reason.value, "field": p.field, "message": p.message})
        if errors:
            return json_reply(207, {"errors": errors})
        return Reply(200)

    # ------------------------------------------------------------------ v1
    def _v1(self, req: Request) -> Reply:
        payload = _v1_payload(req)
        path = req.path[2:]
        found = self.v1.lookup(req.method, path)
        if isinstance(found, Miss):
            if len(path) >= 2 and path[0] == "customers":
                _v1_identifier(path[1])
            return _NOT_FOUND
        handler, req.params = found
        return handler(req, payload)

    def region(self, req: Request, payload: dict[str, Any]) -> Reply:
        return json_reply(200, self._region())

    def identify(self, req: Request, payload: dict[str, Any]) -> Reply:
        kind, value = _v1_identifier(req.params["id"])
        self.store.identify(kind, value, check_attributes(payload))
        return Reply(200)

    def delete(self, req: Request, payload: dict[str, Any]) -> Reply:
        self.store.delete(*_v1_identifier(req.params["id"]))
        return Reply(200)

    def track(self, req: Request, payload: dict[str, Any]) -> Reply:
        kind, value = _v1_identifier(req.params["id"])
        self.store.track(kind, value, None, _v1_event(payload))
        return Reply(200)

    def add_device(self, req: Request, payload: dict[str, Any]) -> Reply:
        kind, value = _v1_identifier(req.params["id"])
        self.store.device(kind, value, payload.get("device"), True)
        return Reply(200)

    def delete_device(self, req: Request, payload: dict[str, Any]) -> Reply:
        kind, value = _v1_identifier(req.params["id"])
        self.store.device(kind, value, {"token": req.params["token"]}, False)
        return Reply(200)

    def suppress(self, req: Request, payload: dict[str, Any]) -> Reply:
        self.store.suppress(*_v1_identifier(req.params["id"]), True)
        return Reply(200)

    def unsuppress(self, req: Request, payload: dict[str, Any]) -> Reply:
        self.store.suppress(*_v1_identifier(req.params["id"]), False)
        return Reply(200)

    def anonymous_event(self, req: Request, payload: dict[str, Any]) -> Reply:
        anonymous_id = payload.get("anonymous_id")
        if anonymous_id is not None:
            anonymous_id = check_identifier("anonymous_id", anonymous_id, "anonymous_id")
        self.store.track(None, None, anonymous_id, _v1_event(payload))
        return Reply(200)

    def merge(self, req: Request, payload: dict[str, Any]) -> Reply:
        primary = check_identifiers(payload.get("primary"), "primary")
        secondary = check_identifiers(payload.get("secondary"), "secondary")
        self.store.merge(primary, secondary)
        return Reply(200)


def _v1_payload(req: Request) -> dict[str, Any]:
    """The body of a PUT, POST or DELETE as a JSON object (``{}`` when empty, and for other methods)."""
    if req.method not in ("PUT", "POST", "DELETE") or not req.body.strip():
        return {}
    try:
        payload = json.loads(req.body)
    except ValueError:
        raise Refused(meta_error(400, "the request body is not valid JSON")) from None
    if not isinstance(payload, dict):
        raise Refused(meta_error(400, "the request body must be a JSON object"))
    return payload


def _v1_identifier(segment: str) -> tuple[str, str]:
    """The person a v1 path names: ``cio_<id>`` is a cio_id, anything else an id."""
    if segment.startswith("cio_") and len(segment) > 4:
        return "cio_id", check_identifier("cio_id", segment[4:])
    return "id", check_identifier("id", segment)


def _v1_event(payload: dict[str, Any]) -> EventIn:
    return check_event(
        payload.get("name"), payload.get("type"), payload.get("id"), payload.get("timestamp"), payload.get("data")
    )
