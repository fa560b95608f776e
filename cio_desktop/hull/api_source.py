"""The Hull REST API as a :class:`~cio_desktop.hull.source.UserSource`.

Client errors become :class:`SourceError` with the client's user-facing message; the original
typed error stays available as ``__cause__`` (e.g. to tell bad credentials from a network outage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from cio_desktop.hull.client import HullClient
from cio_desktop.hull.source import (
    Attribute,
    EventName,
    HullEvent,
    HullUser,
    ReadReport,
    Segment,
    SourceError,
    Stream,
)
from cio_desktop.net.errors import ServiceError

T = TypeVar("T")

# The write-back traits the hosted connector left (as Hull's search names them).
TRAIT_CREATED_AT = "traits_customerio/created_at"
TRAIT_DELETED_AT = "traits_customerio/deleted_at"


class HullApiSource:
    """Users, segments and events read live from a Hull organization."""

    # The connector's traits (customerio/*) can be written back through Hull's firehose.
    supports_write_back = True

    def __init__(self, client: HullClient, *, fields: Sequence[str] | None = None) -> None:
        self.client = client
        self.fields = tuple(fields) if fields is not None else None

    def describe(self) -> str:
        return f"Hull organization {self.client.organization}"

    def check(self) -> str:
        app = _wrap(self.client.check)
        name = app.get("name") or self.client.connector_id
        return f"Connected to Hull organization {self.client.organization} as connector {name!r}."

    def segments(self) -> list[Segment]:
        return _wrap(self.client.segments)

    def attributes(self) -> list[Attribute]:
        return _wrap(self.client.attributes)

    def event_names(self) -> list[EventName]:
        return _wrap(self.client.event_names)

    def iter_users(
        self,
        segment_ids: Sequence[str] | None,
        *,
        updated_since: float | None = None,
    ) -> Iterator[HullUser]:
        return _wrap_iter(self.client.iter_users(segment_ids, updated_since=updated_since, fields=self.fields))

    def iter_connector_created(self, segment_ids: Sequence[str]) -> Iterator[HullUser]:
        """Users outside ``segment_ids`` that Hull's hosted connector (or a write-back) marked as created
        in Customer.io and not deleted: one search on the ``customerio/created_at`` trait."""
        return _wrap_iter(
            self.client.iter_users(
                None,
                fields=self.fields,
                where=[{"exists": {"field": TRAIT_CREATED_AT}}],
                where_not=[{"exists": {"field": TRAIT_DELETED_AT}}, {"terms": {"segment_ids": list(segment_ids)}}],
            )
        )

    def iter_events(self, names: Sequence[str], *, since: float | None = None) -> Iterator[HullEvent]:
        return _wrap_iter(self.client.iter_events(names, since=since))

    def get_user(self, hull_id: str) -> HullUser | None:
        return _wrap(lambda: self.client.get_user(hull_id, fields=self.fields))

    def count_users(self, segment_ids: Sequence[str] | None) -> int | None:
        return _wrap(lambda: self.client.count_users(segment_ids))

    def read_report(self, stream: Stream) -> ReadReport:
        return ReadReport()  # the API either answers or raises; there are no skipped records


def _wrap(call: Callable[[], T]) -> T:
    try:
        return call()
    except ServiceError as exc:
        raise SourceError(str(exc)) from exc


def _wrap_iter(items: Iterator[T]) -> Iterator[T]:
    try:
        yield from items
    except ServiceError as exc:
        raise SourceError(str(exc)) from exc


__all__ = ["HullApiSource"]
