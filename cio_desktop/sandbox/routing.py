"""What every emulated API is made of: a request, a reply, and a route table.

A route table maps (method, path pattern) to a handler. The one HTTP handler (:mod:`.httpd`) hands
each request to :meth:`cio_desktop.sandbox.server.Sandbox.dispatch`, which picks the API by URL
prefix; the API looks its route up and, when there is none, answers its own 404 or 405 (the
emulated services word those differently).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

from cio_desktop.sandbox.query import QueryError


class Headers(Protocol):
    """Request headers: ``http.client.HTTPMessage`` on the wire, a plain dict in tests."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class Request:
    """One request to an emulated API; ``path`` holds the unquoted segments after the API's prefix."""

    method: str
    path: tuple[str, ...]
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)  # the ``{name}`` segments of the matched route

    def routed(self, params: Mapping[str, str]) -> Request:
        return replace(self, params=params) if params else self


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = ()
    slow_body_s: float = 0.0


DROP = Reply(0)  # close the connection without answering


class Refused(Exception):
    """Raised by a handler to answer ``reply`` at once (e.g. a body that is not JSON)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def json_reply(status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(obj, separators=(",", ":")).encode(), headers)


def meta_error(status: int, message: str) -> Reply:
    """Customer.io's error shape (Track v1 and the App API)."""
    return json_reply(status, {"meta": {"error": message}})


def message_error(status: int, message: str) -> Reply:
    """Hull's error shape (also the sandbox's own)."""
    return json_reply(status, {"message": message})


def int_param(query: dict[str, list[str]], name: str, default: int, lo: int, hi: int) -> int:
    """A whole-number query parameter within [lo, hi]; QueryError (answered 400) otherwise."""
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise QueryError(f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo} and {hi}")
    return value


class EmulatedApi(Protocol):
    """One emulated API, as the sandbox's dispatch sees it (the classes in :mod:`cio_desktop.sandbox.apis`)."""

    name: str  # its key in faults.APIS: which faults apply, under which name it is counted
    prefix: str  # the URL path it is served under

    def handle(self, req: Request) -> Reply: ...

    def endpoint(self, method: str, path: tuple[str, ...]) -> str:
        """The name the request is counted under (identifiers in the path become placeholders)."""
        ...


class Miss(Enum):
    NOT_FOUND = "no route has this path"
    WRONG_METHOD = "a route has this path, but not for this method"


H = TypeVar("H")


class RouteTable(Generic[H]):
    """(method, path pattern) -> handler. A pattern is ``/``-separated; ``{name}`` matches any one segment."""

    def __init__(self, routes: Iterable[tuple[str, str, H]]) -> None:
        self._routes: list[tuple[tuple[str, ...], dict[str, H]]] = []
        for method, pattern, handler in routes:
            parts = tuple(pattern.strip("/").split("/")) if pattern.strip("/") else ()
            for known, methods in self._routes:
                if known == parts:
                    methods[method] = handler
                    break
            else:
                self._routes.append((parts, {method: handler}))

    def lookup(self, method: str, path: Sequence[str]) -> tuple[H, dict[str, str]] | Miss:
        miss = Miss.NOT_FOUND
        for parts, methods in self._routes:
            params = _match(parts, path)
            if params is None:
                continue
            handler = methods.get(method)
            if handler is not None:
                return handler, params
            miss = Miss.WRONG_METHOD
        return miss


def _match(parts: tuple[str, ...], path: Sequence[str]) -> dict[str, str] | None:
    if len(parts) != len(path):
        return None
    params: dict[str, str] = {}
    for part, segment in zip(parts, path, strict=True):
        if part.startswith("{"):
            params[part[1:-1]] = segment
        elif part != segment:
            return None
    return params


__all__ = [
    "DROP",
    "EmulatedApi",
    "Headers",
    "Miss",
    "Refused",
    "Reply",
    "Request",
    "RouteTable",
    "int_param",
    "json_reply",
    "message_error",
    "meta_error",
]
