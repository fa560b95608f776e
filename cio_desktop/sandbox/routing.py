"""What every emulated API is made of: a request, a reply, and a route table.

A route table maps (method, path pattern) to a handler. The one HTTP handler (:mod:`.httpd`) hands
each request to :meth:`cio_desktop.sandbox.server.Sandbox.dispatch`, which picks the API by URL
prefix; the API looks its route up and, when there is none, answers its own 404 or 405 (the
emulated services word those differently).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from cio_desktop.sandbox.query import QueryError


class Headers(Protocol):
    """Request headers: ``http.client.HTTPMessage`` on the wire, a plain dict in tests."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(slots=True)
class Request:
    """One request to an emulated API; ``path`` holds the segments after the API's prefix.

    ``params`` are the ``{name}`` segments of the route that matched, set by the API before it
    calls the route's handler.
    """

    method: str
    path: tuple[str, ...]
    query: dict[str, list[str]]
    headers: Headers
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)


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


_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


class Miss(Enum):
    NOT_FOUND = "no route has this path"
    WRONG_METHOD = "a route has this path, but not for this method"


H = TypeVar("H")


class RouteTable(Generic[H]):
    """(method, path pattern) -> handler. A pattern is ``/``-separated; ``{name}`` matches any one segment.

    Literal routes are one dict lookup; a path that is not one is tried against the patterned
    routes of its length.
    """

    def __init__(self, routes: Iterable[tuple[str, str, H]]) -> None:
        self._literal: dict[tuple[str, ...], dict[str, H]] = {}
        self._patterned: dict[int, list[_Pattern[H]]] = {}
        for method, pattern, handler in routes:
            parts = tuple(pattern.strip("/").split("/")) if pattern.strip("/") else ()
            if not any(p.startswith("{") for p in parts):
                self._literal.setdefault(parts, {})[method] = handler
                continue
            same_length = self._patterned.setdefault(len(parts), [])
            known = next((r for r in same_length if r.parts == parts), None)
            if known is None:
                known = _Pattern(parts)
                same_length.append(known)
            known.methods[method] = handler

    def lookup(self, method: str, path: tuple[str, ...]) -> tuple[H, Mapping[str, str]] | Miss:
        miss = Miss.NOT_FOUND
        methods = self._literal.get(path)
        if methods is not None:
            handler = methods.get(method)
            if handler is not None:
                return handler, _NO_PARAMS
            miss = Miss.WRONG_METHOD
        for route in self._patterned.get(len(path), ()):
            if route.matches(path):
                handler = route.methods.get(method)
                if handler is not None:
                    return handler, {name: path[i] for i, name in route.names}
                miss = Miss.WRONG_METHOD
        return miss


class _Pattern(Generic[H]):
    """A route with ``{name}`` segments, and its handler per method."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.parts = parts
        self.names = tuple((i, p[1:-1]) for i, p in enumerate(parts) if p.startswith("{"))
        self.literals = tuple((i, p) for i, p in enumerate(parts) if not p.startswith("{"))
        self.methods: dict[str, H] = {}

    def matches(self, path: tuple[str, ...]) -> bool:
        return all(path[i] == literal for i, literal in self.literals)


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
