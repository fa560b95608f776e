"""Hull's firehose (``/hull-firehose``): one route, ``POST /`` with a batch of signed items.

No headers are checked here: every item carries its own JWT, checked by ``HullService.firehose``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from cio_desktop.sandbox.hull import FirehoseRefused, HullService
from cio_desktop.sandbox.routing import Miss, Reply, Request, RouteTable, message_error


class HullFirehoseApi:
    name = "firehose"
    prefix = "/hull-firehose"

    def __init__(self, hull: HullService) -> None:
        self.hull = hull
        self.routes: RouteTable[Callable[[Request], Reply]] = RouteTable([("POST", "/", self.batch)])

    def handle(self, req: Request) -> Reply:
        found = self.routes.lookup(req.method, req.path)
        if isinstance(found, Miss):
            return message_error(404, "the firehose accepts POST / only")
        handler, req.params = found
        return handler(req)

    def endpoint(self, method: str, path: tuple[str, ...]) -> str:
        return f"{method} /" + "/".join(path)

    def batch(self, req: Request) -> Reply:
        try:
            payload = json.loads(req.body)
        except ValueError:
            return message_error(400, "the request body is not valid JSON")
        try:
            self.hull.firehose(payload)
        except FirehoseRefused as e:
            return message_error(e.status, str(e))
        return Reply(200, b"{}")
