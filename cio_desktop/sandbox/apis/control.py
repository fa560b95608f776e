"""The sandbox's own control and inspection API (``/_sandbox``), unauthenticated, loopback only.

GET ``/state``, ``/cio/requests``, ``/hull/users/<id>`` and the paged lists (``?page=&per_page=``)
``/cio/people``, ``/cio/events``, ``/cio/deletions``, ``/cio/merges``, ``/cio/objects``,
``/cio/object_deletions``, ``/hull/received``,
``/hull/events``; POST ``/faults``, ``/users/<id>`` (traits and ``segment_ids``), ``/reset``,
``/hull/disabled``. A bad request is a 400 ``{"message": ...}``, an unknown one a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cio_desktop.sandbox.faults import APIS, Faults
from cio_desktop.sandbox.routing import Miss, Reply, Request, RouteTable, int_param, json_reply, message_error

if TYPE_CHECKING:
    from cio_desktop.sandbox.server import Sandbox

_NO_SUCH_USER = message_error(404, "no such user")


class ControlApi:
    prefix = "/_sandbox"

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        lists: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "/cio/people": sandbox.cio.people_detail,
            "/cio/events": sandbox.cio.events,
            "/cio/deletions": sandbox.cio.deletions,
            "/cio/merges": sandbox.cio.merges,
            "/cio/objects": sandbox.cio.objects_detail,
            "/cio/object_deletions": sandbox.cio.object_deletions,
            "/hull/received": sandbox.hull.received,
            "/hull/events": sandbox.hull.events_received,
        }
        self.routes: RouteTable[Callable[[Request], Reply]] = RouteTable(
            [
                ("GET", "/state", self.state),
                *(("GET", path, _paged(rows)) for path, rows in lists.items()),
                ("GET", "/cio/requests", self.cio_requests),
                ("GET", "/hull/users/{id}", self.user),
                ("POST", "/faults", self.faults),
                ("POST", "/users/{id}", self.change_user),
                ("POST", "/reset", self.reset),
                ("POST", "/hull/disabled", self.hull_disabled),
            ]
        )

    def handle(self, req: Request) -> Reply:
        """``req.path`` is split but not unquoted: only identifiers in it are."""
        try:
            found = self.routes.lookup(req.method, req.path)
            if isinstance(found, Miss):
                _payload(req)  # a body that is not a JSON object is a 400 even here
                return message_error(404, f"unknown control endpoint {req.method} /{'/'.join(req.path)}")
            handler, req.params = found
            return handler(req)
        except (ValueError, TypeError) as e:
            return message_error(400, str(e))

    def state(self, req: Request) -> Reply:
        return json_reply(200, self.sb.state())

    def cio_requests(self, req: Request) -> Reply:
        return json_reply(200, self.sb.cio_request_count())

    def user(self, req: Request) -> Reply:
        try:
            return json_reply(200, self.sb.user(unquote(req.params["id"])))
        except KeyError:
            return _NO_SUCH_USER

    def faults(self, req: Request) -> Reply:
        payload = _payload(req)
        api = payload.pop("api", None)
        if api not in APIS:
            raise ValueError(f"api must be one of {', '.join(APIS)}")
        faults = Faults.from_json(payload)
        self.sb.set_faults(api, **asdict(faults))
        return json_reply(200, {"api": api, **asdict(faults)})

    def change_user(self, req: Request) -> Reply:
        payload = _payload(req)
        hull_id = unquote(req.params["id"])
        try:
            segments = payload.pop("segment_ids", None)
            if payload:
                self.sb.update_user(hull_id, payload)
            if segments is not None:
                self.sb.set_user_segments(hull_id, segments)
            return json_reply(200, self.sb.user(hull_id))
        except KeyError:
            return _NO_SUCH_USER

    def reset(self, req: Request) -> Reply:
        _payload(req)
        self.sb.reset_cio()
        return json_reply(200, self.sb.state())

    def hull_disabled(self, req: Request) -> Reply:
        self.sb.set_hull_disabled(bool(_payload(req).get("disabled", True)))
        return json_reply(200, {"disabled": self.sb.hull.disabled})


def _payload(req: Request) -> dict[str, Any]:
    payload = json.loads(req.body) if req.body.strip() else {}
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload


def _paged(rows: Callable[[], list[dict[str, Any]]]) -> Callable[[Request], Reply]:
    def handler(req: Request) -> Reply:
        everything = rows()
        page = int_param(req.query, "page", 1, 1, 10**9)
        per_page = int_param(req.query, "per_page", 100, 1, 10_000)
        start = (page - 1) * per_page
        data = everything[start : start + per_page]
        return json_reply(200, {"data": data, "page": page, "per_page": per_page, "total": len(everything)})

    return handler
