"""Customer.io's App API (``/cio-app``): the reads the app makes (segments, customers, activities).

Every call needs ``Authorization: Bearer <app key>`` (401 otherwise); unknown paths and methods
are a 404 ``{"meta": {"error": "Not found"}}``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable

from cio_desktop.sandbox.cio_checks import MAX_APP_LOOKUP_IDS
from cio_desktop.sandbox.customerio import CioStore
from cio_desktop.sandbox.routing import Miss, Refused, Reply, Request, RouteTable, json_reply, meta_error

_ID_TYPES = ("id", "email", "cio_id")


class CioAppApi:
    name = "cio_app"
    prefix = "/cio-app"

    def __init__(self, store: CioStore, app_key: str) -> None:
        self.store = store
        self._bearer = "Bearer " + app_key
        self.routes: RouteTable[Callable[[Request], Reply]] = RouteTable(
            [
                ("GET", "/v1/segments", self.segments),
                ("GET", "/v1/customers/{id}/attributes", self.attributes),
                ("GET", "/v1/customers/{id}/activities", self.activities),
                ("POST", "/v1/customers/attributes", self.lookup),
            ]
        )

    def handle(self, req: Request) -> Reply:
        auth = req.headers.get("Authorization") or ""
        if not hmac.compare_digest(auth.encode(), self._bearer.encode()):
            return meta_error(401, "Unauthorized request")
        found = self.routes.lookup(req.method, req.path)
        if isinstance(found, Miss):
            if req.method == "GET" and _names_a_customer(req.path):
                _id_type(req)  # checked before the resource after the id, so a bad one is a 400 on any
            return meta_error(404, "Not found")
        handler, req.params = found
        return handler(req)

    def endpoint(self, method: str, path: tuple[str, ...]) -> str:
        """How requests are counted: the customer's id becomes a placeholder."""
        if _names_a_customer(path):
            return f"{method} /v1/customers/{{id}}/{path[3]}"
        return f"{method} /" + "/".join(path)

    def segments(self, req: Request) -> Reply:
        return json_reply(200, {"segments": []})

    def attributes(self, req: Request) -> Reply:
        customer = self.store.customer(_id_type(req), req.params["id"])
        if customer is None:
            return meta_error(404, "Customer not found")
        return json_reply(200, {"customer": customer})

    def activities(self, req: Request) -> Reply:
        acts = self.store.activities(_id_type(req), req.params["id"])
        if acts is None:
            return meta_error(404, "Customer not found")
        return json_reply(200, {"activities": acts, "next": ""})

    def lookup(self, req: Request) -> Reply:
        try:
            payload = json.loads(req.body or b"{}")
        except ValueError:
            return meta_error(400, "the request body is not valid JSON")
        ids = payload.get("ids") if isinstance(payload, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return meta_error(400, 'the body must be {"ids": ["id", ...]}')
        if len(ids) > MAX_APP_LOOKUP_IDS:
            return meta_error(400, f"cannot look up more than {MAX_APP_LOOKUP_IDS} ids at once")
        id_type = (req.query.get("id_type") or ["id"])[0]  # unchecked on this route: CioStore reads others as cio_id
        found = [c for c in (self.store.customer(id_type, i) for i in ids) if c is not None]
        return json_reply(200, {"customers": found})


def _names_a_customer(path: tuple[str, ...]) -> bool:
    return len(path) == 4 and path[:2] == ("v1", "customers")


def _id_type(req: Request) -> str:
    id_type = (req.query.get("id_type") or ["id"])[0]
    if id_type not in _ID_TYPES:
        raise Refused(meta_error(400, "id_type must be one of id, email, cio_id"))
    return id_type
