"""Hull REST API and firehose client (the connector's view of one organization).

Reads segments, attributes, event names, users and events; writes traits and events through the
firehose. Users and events are read with *keyset* paging (sort on a unique key, always page 1,
filter after the last key seen), so segments larger than Elasticsearch's 10,000-result window are
read completely and every user exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.hull.errors import NotFoundError, OrganizationDisabledError, ServiceError
from cio_desktop.hull.firehose import MAX_FIREHOSE_BATCH, FirehoseItem, FirehoseWriter
from cio_desktop.hull.jwt import encode_hs256, firehose_claims
from cio_desktop.hull.source import Attribute, EventName, HullEvent, HullUser, Segment
from cio_desktop.net.http import ErrorWording, JsonHttp, Timeout, dumps, parse_json
from cio_desktop.net.retry import RetryPolicy

SERVICE = "Hull API"
FIREHOSE_SERVICE = "Hull firehose"
DEFAULT_FIREHOSE_URL = "https://firehose.hullapp.io"
MAX_PAGE_SIZE = 500

_CONNECTOR_HINT = "Check the Organization, Connector ID and Secret on the connector's Settings page in Hull."
_EVENT_TYPES = frozenset({"track", "page", "screen"})


def _wording(service: str, organization: str, connector_id: str) -> ErrorWording:
    return ErrorWording(
        service=service,
        unauthorized="Hull refused the connector ID or secret (HTTP {status}){detail}. " + _CONNECTOR_HINT,
        not_found=f"Hull organization {organization} has no connector {connector_id} (404){{detail}}. "
        + _CONNECTOR_HINT,
        extra={
            402: (
                OrganizationDisabledError,
                f"Hull organization {organization} is disabled (402){{detail}}. "
                "Its owner must re-enable it in Hull's billing settings.",
            )
        },
    )


class HullClient:
    """One Hull connector: ``organization`` is the org host (``acme.hullapp.io``).

    ``base_url`` overrides ``https://<organization>/api/v1`` and ``firehose_url`` overrides
    ``https://firehose.hullapp.io`` (the sandbox). ``cancel`` interrupts back-off waits.
    """

    def __init__(
        self,
        organization: str,
        connector_id: str,
        secret: str,
        *,
        base_url: str | None = None,
        firehose_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout = (5, 60),
        session: requests.Session | None = None,
        cancel: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not organization or not connector_id or not secret:
            raise ValueError("organization, connector_id and secret are required")
        self.organization = organization
        self.connector_id = connector_id
        self._secret = secret
        self.base_url = (base_url or f"https://{organization}/api/v1").rstrip("/")
        self.firehose_url = (firehose_url or DEFAULT_FIREHOSE_URL).rstrip("/")
        self.cancel = cancel
        self._clock = clock
        headers = {"Hull-App-Id": connector_id, "Hull-Organization": organization}
        self._http = JsonHttp(
            _wording(SERVICE, organization, connector_id),
            session=session,
            timeout=timeout,
            retry=retry,
            headers={**headers, "Hull-Access-Token": secret},
        )
        # The firehose authenticates each item by its JWT; the secret itself is not sent there.
        self._firehose_http = JsonHttp(
            _wording(FIREHOSE_SERVICE, organization, connector_id),
            session=self._http.session,
            timeout=timeout,
            retry=retry,
            headers=headers,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HullClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ metadata
    def check(self) -> dict[str, Any]:
        """``GET /app``: the connector as Hull knows it. 401/404/402 raise errors that say what to fix."""
        body = self._get("/app")
        if not isinstance(body, dict):
            raise self._unexpected("/app")
        return body

    def segments(self) -> list[Segment]:
        """All user segments, with their member count when Hull reports it."""
        out: list[Segment] = []
        page = 1
        while True:
            body = self._get("/users_segments", params={"per_page": str(MAX_PAGE_SIZE), "page": str(page)})
            if not isinstance(body, list):
                raise self._unexpected("/users_segments")
            for raw in body:
                if isinstance(raw, Mapping) and raw.get("id"):
                    stats = raw.get("stats")
                    users = stats.get("users") if isinstance(stats, Mapping) else None
                    size = users if isinstance(users, int) and not isinstance(users, bool) else None
                    out.append(Segment(id=str(raw["id"]), name=str(raw.get("name") or raw["id"]), size=size))
            if len(body) < MAX_PAGE_SIZE:
                return out
            page += 1

    def attributes(self) -> list[Attribute]:
        """User attributes with their types: ``/users/schema`` merged with the bootstrap tree."""
        found: dict[str, str] = {}
        try:
            schema = self._get("/users/schema")
        except NotFoundError:
            schema = []
        if isinstance(schema, list):
            for item in schema:
                if isinstance(item, Mapping) and isinstance(item.get("key"), str) and item.get("type") != "event":
                    found[item["key"]] = str(item.get("type") or "string")
        try:
            tree = self._get("/search/user_reports/bootstrap")
        except NotFoundError:
            tree = {}
        if isinstance(tree, Mapping):
            for key, typ in _tree_leaves(tree.get("tree")):
                found.setdefault(key, typ)
        return [Attribute(key=k, type=t) for k, t in sorted(found.items())]

    def event_names(self) -> list[EventName]:
        """Event names seen in the organization, with how many were emitted."""
        body = self._get("/search/event/bootstrap")
        if not isinstance(body, list):
            raise self._unexpected("/search/event/bootstrap")
        out = []
        for item in body:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                emitted = item.get("emitted")
                count = emitted if isinstance(emitted, int) and not isinstance(emitted, bool) else None
                out.append(EventName(name=item["name"], count=count))
        return out

    # ------------------------------------------------------------------ users
    def iter_users(
        self,
        segment_ids: Sequence[str] | None,
        *,
        updated_since: float | None = None,
        fields: Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        where: Sequence[Mapping[str, Any]] = (),
        where_not: Sequence[Mapping[str, Any]] = (),
    ) -> Iterator[HullUser]:
        """Users in any of ``segment_ids`` (None = all users, empty = none), each exactly once, by id.

        ``fields`` limits the attributes returned (``id`` and ``segment_ids`` are always included);
        ``where`` / ``where_not`` are further search clauses the users must (not) match.
        """
        if segment_ids is not None and not segment_ids:
            return
        per_page = max(1, min(MAX_PAGE_SIZE, page_size))
        base_filters = _user_filters(segment_ids, updated_since) + [dict(c) for c in where]
        excluded = [dict(c) for c in where_not]
        include = sorted({*fields, "id", "segment_ids"}) if fields is not None else None
        last_id: str | None = None
        while True:
            filters = list(base_filters)
            if last_id is not None:
                filters.append({"range": {"id": {"gt": last_id}}})
            body: dict[str, Any] = {
                "query": _bool_filter(filters, excluded),
                "raw": True,
                "page": 1,
                "per_page": per_page,
                "sort": {"id": "asc"},
            }
            if include is not None:
                body["include"] = include
            data, pagination = self._search("/search/user_reports", body)
            for user in data:
                uid = user.get("id")
                if not isinstance(uid, str) or (last_id is not None and uid <= last_id):
                    # Keyset paging relies on ascending unique ids; anything else could loop forever.
                    raise ServiceError(
                        200, f"{SERVICE} returned users out of id order; cannot page safely.", service=SERVICE
                    )
                last_id = uid
                yield user
            if _last_page(data, pagination, per_page):
                return

    def get_user(self, hull_id: str, *, fields: Sequence[str] | None = None) -> HullUser | None:
        """The user with this Hull id, or None (one search with a term on ``id``, not a scan)."""
        if not hull_id:
            return None
        body: dict[str, Any] = {
            "query": _bool_filter([{"term": {"id": hull_id}}]),
            "raw": True,
            "page": 1,
            "per_page": 1,
            "sort": {"id": "asc"},
        }
        if fields is not None:
            body["include"] = sorted({*fields, "id", "segment_ids"})
        data, _ = self._search("/search/user_reports", body)
        return next((u for u in data if u.get("id") == hull_id), None)

    def count_users(self, segment_ids: Sequence[str] | None) -> int:
        """How many users ``iter_users(segment_ids)`` yields (one small search)."""
        if segment_ids is not None and not segment_ids:
            return 0
        body = {
            "query": _bool_filter(_user_filters(segment_ids, None)),
            "raw": True,
            "page": 1,
            "per_page": 1,
            "sort": {"id": "asc"},
            "include": ["id"],
        }
        _, pagination = self._search("/search/user_reports", body)
        total = pagination.get("total") if pagination else None
        if isinstance(total, Mapping):  # Elasticsearch 7 style {"value": n, "relation": "eq"}
            total = total.get("value")
        if not isinstance(total, int) or isinstance(total, bool):
            raise self._unexpected("/search/user_reports")
        return total

    # ------------------------------------------------------------------ events
    def iter_events(
        self,
        names: Sequence[str],
        *,
        since: float | None = None,
        user_ids: Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[HullEvent]:
        """Events named in ``names`` created after ``since`` (Unix seconds), oldest first, each once.

        ``user_ids`` restricts them to those Hull users. Paged on (created_at, id).
        """
        if not names or (user_ids is not None and not user_ids):
            return
        per_page = max(1, min(MAX_PAGE_SIZE, page_size))
        base: list[dict[str, Any]] = [{"terms": {"event": list(names)}}]
        if since is not None:
            base.append({"range": {"created_at": {"gt": _iso(since)}}})
        if user_ids is not None:
            base.append({"terms": {"user_id": list(user_ids)}})
        last: tuple[str, str] | None = None  # created_at exactly as Hull sent it, event id
        last_key: tuple[float, str] | None = None
        while True:
            filters = list(base)
            if last is not None:
                created, eid = last
                # Redundant with the clause below, but a plain top-level range lets the search
                # narrow its scan to what is left instead of re-reading from the start each page.
                filters.append({"range": {"created_at": {"gte": created}}})
                filters.append(
                    {
                        "bool": {
                            "should": [
                                {"range": {"created_at": {"gt": created}}},
                                {
                                    "bool": {
                                        "filter": [
                                            {"term": {"created_at": created}},
                                            {"range": {"id": {"gt": eid}}},
                                        ]
                                    }
                                },
                            ],
                            "minimum_should_match": 1,
                        }
                    }
                )
            body = {
                "query": _bool_filter(filters),
                "raw": True,
                "page": 1,
                "per_page": per_page,
                "sort": [{"created_at": "asc"}, {"id": "asc"}],
            }
            data, pagination = self._search("/search/events", body)
            for raw in data:
                event = _to_event(raw)
                key = (event.created_at, event.event_id)
                if last_key is not None and key <= last_key:
                    # Keyset paging relies on ascending unique (created_at, id); anything else could loop.
                    raise ServiceError(
                        200, f"{SERVICE} returned events out of order; cannot page safely.", service=SERVICE
                    )
                last_key = key
                last = (str(raw["created_at"]), event.event_id)
                yield event
            if _last_page(data, pagination, per_page):
                return

    # ------------------------------------------------------------------ firehose
    def send_firehose(self, items: Sequence[FirehoseItem]) -> None:
        """Send up to 50 items in one firehose request, retrying like every call.

        Returns when Hull accepted the whole request; raises a :class:`ServiceError` otherwise (then
        none of them is known to be stored). Each item carries a JWT naming its user.
        """
        if not items:
            return
        if len(items) > MAX_FIREHOSE_BATCH:
            raise ValueError(f"at most {MAX_FIREHOSE_BATCH} firehose items per request, got {len(items)}")
        now = self._clock()
        issued_at = int(now)
        batch = [
            {
                "type": item.type,
                "body": dict(item.body),
                "headers": {
                    "Hull-Access-Token": encode_hs256(
                        firehose_claims(self.connector_id, item.as_user, issued_at), self._secret
                    )
                },
                "timestamp": _iso(item.timestamp if item.timestamp is not None else now),
            }
            for item in items
        ]
        sent = _iso(now)
        self._firehose_http.request(
            "POST",
            f"{self.firehose_url}/",
            body=dumps({"batch": batch, "timestamp": sent, "sentAt": sent}),
            ok=(200, 201, 202, 204),
            cancel=self.cancel,
        )

    def firehose(
        self,
        *,
        on_error: Callable[[ServiceError, Sequence[FirehoseItem]], None] | None = None,
        flush_interval: float = 1.0,
    ) -> FirehoseWriter:
        """A background writer that batches traits/track calls into firehose requests."""
        return FirehoseWriter(self, on_error=on_error, flush_interval=flush_interval)

    # ------------------------------------------------------------------ internals
    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = self._http.request("GET", f"{self.base_url}{path}", params=params, cancel=self.cancel)
        return parse_json(response, SERVICE)

    def _search(self, path: str, body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
        response = self._http.request("POST", f"{self.base_url}{path}", body=dumps(body), cancel=self.cancel)
        payload = parse_json(response, SERVICE)
        data = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise self._unexpected(path)
        pagination = payload.get("pagination")
        return data, pagination if isinstance(pagination, Mapping) else {}

    def _unexpected(self, path: str) -> ServiceError:
        return ServiceError(200, f"{SERVICE} answered {path} with an unexpected body.", service=SERVICE)


def _user_filters(segment_ids: Sequence[str] | None, updated_since: float | None) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if segment_ids is not None:
        filters.append({"terms": {"segment_ids": list(segment_ids)}})
    if updated_since is not None:
        filters.append({"range": {"updated_at": {"gt": _iso(updated_since)}}})
    return filters


def _bool_filter(filters: list[dict[str, Any]], excluded: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    if excluded:
        return {"bool": {"filter": filters, "must_not": list(excluded)}}
    return {"bool": {"filter": filters}} if filters else {"match_all": {}}


def _last_page(data: list[dict[str, Any]], pagination: Mapping[str, Any], per_page: int) -> bool:
    """True when no further page exists. Always page 1, so ``pages <= 1`` means everything left fit."""
    if not data:
        return True
    pages = pagination.get("pages")
    if isinstance(pages, int) and not isinstance(pages, bool):
        return pages <= 1
    return len(data) < per_page


def _tree_leaves(nodes: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(nodes, list):
        return
    for node in nodes:
        if not isinstance(node, Mapping):
            continue
        children = node.get("children")
        if isinstance(children, list) and children:
            yield from _tree_leaves(children)
        elif isinstance(node.get("id"), str) and node.get("type") != "event":
            yield node["id"], str(node.get("type") or "string")


def _to_event(raw: Mapping[str, Any]) -> HullEvent:
    created = parse_hull_date(raw.get("created_at"))
    if created is None or not isinstance(raw.get("id"), str) or not isinstance(raw.get("event"), str):
        raise ServiceError(200, f"{SERVICE} returned an event without id, name or date.", service=SERVICE)
    event_type = raw.get("event_type")
    props = raw.get("properties")
    return HullEvent(
        event_id=raw["id"],
        name=raw["event"],
        created_at=created,
        user_id=str(raw.get("user_id") or ""),
        anonymous_id=str(raw.get("anonymous_id") or ""),
        event_type=event_type if event_type in _EVENT_TYPES else "track",
        properties=dict(props) if isinstance(props, Mapping) else {},
    )


def _iso(ts: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds, the form Hull stores and compares."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["DEFAULT_FIREHOSE_URL", "MAX_FIREHOSE_BATCH", "HullClient"]
