"""Hull's REST API (``/hull/api/v1``): connector, segments, schema and the two searches.

Every call needs the three Hull headers (401/402/404 otherwise, see ``HullService.check_auth``);
anything the table does not know, whatever the method, is a 404 naming the request, as Hull does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cio_desktop.sandbox.hull import HullService
from cio_desktop.sandbox.query import QueryError
from cio_desktop.sandbox.routing import (
    Miss,
    Refused,
    Reply,
    Request,
    RouteTable,
    int_param,
    json_reply,
    message_error,
)


class HullRestApi:
    name = "hull"
    prefix = "/hull/api/v1"

    def __init__(self, hull: HullService) -> None:
        self.hull = hull
        self.org = hull.org
        self.routes: RouteTable[Callable[[Request], Reply]] = RouteTable(
            [
                ("GET", "/app", self.app),
                ("GET", "/users_segments", self.segments),
                ("GET", "/search/user_reports/bootstrap", self.bootstrap),
                ("GET", "/users/schema", self.schema),
                ("GET", "/search/event/bootstrap", self.event_stats),
                ("POST", "/search/user_reports", self.search_users),
                ("POST", "/search/events", self.search_events),
            ]
        )

    def handle(self, req: Request) -> Reply:
        refused = self.hull.check_auth(req.headers)
        if refused is not None:
            return message_error(*refused)
        found = self.routes.lookup(req.method, req.path)
        if isinstance(found, Miss):
            return message_error(404, f"Not found: {req.method} /{'/'.join(req.path)}")
        handler, req.params = found
        try:
            return handler(req)
        except QueryError as e:
            return message_error(400, str(e))

    def endpoint(self, method: str, path: tuple[str, ...]) -> str:
        """How requests are counted (the path has no identifiers)."""
        return f"{method} /" + "/".join(path)

    def app(self, req: Request) -> Reply:
        return json_reply(200, self.hull.app())

    def segments(self, req: Request) -> Reply:
        page = int_param(req.query, "page", 1, 1, 10**6)
        per_page = int_param(req.query, "per_page", 50, 1, 500)
        return json_reply(200, self.hull.segments(page, per_page))

    def bootstrap(self, req: Request) -> Reply:
        return json_reply(200, {"tree": self.org.bootstrap_tree()})

    def schema(self, req: Request) -> Reply:
        return json_reply(200, self.org.schema())

    def event_stats(self, req: Request) -> Reply:
        return json_reply(200, self.org.event_stats())

    def search_users(self, req: Request) -> Reply:
        return Reply(200, self.hull.search_users_json(_json_body(req)).encode())

    def search_events(self, req: Request) -> Reply:
        return json_reply(200, self.hull.search_events(_json_body(req)))


def _json_body(req: Request) -> Any:
    """The parsed body; an empty body reads as ``{}``."""
    try:
        return json.loads(req.body or b"{}")
    except ValueError:
        raise Refused(message_error(400, "the request body is not valid JSON")) from None
