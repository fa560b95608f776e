"""One record of a Hull export file -> a user or an event in Hull's API shape (pure, per record).

Users (:func:`normalize_user`):

- ``segment_ids`` is always a list: the union of ``segment_ids`` and ``segments``
  (``[{"id","name"}]`` or names). A segment given by name only gets a stable id derived from the
  name (:func:`segment_id_for_name`), so the same name is the same segment in every file and run.
  The ``segments`` key itself is not passed on.
- A user without ``id`` gets a stable one derived from ``external_id``, else ``email``, else its
  first anonymous id (:func:`derived_user_id`); a user with none of them is a bad row.

Events (:func:`normalize_event`): a name, a date (:func:`cio_desktop.hull.dates.parse_hull_date`) and
someone to attach it to are required. Events without ``event_id`` get a stable id derived from their
content, so a re-sent event is still de-duplicated by Customer.io.

A record that cannot be used gives the reason as text instead, for the read report.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cio_desktop.hull.dates import parse_hull_date
from cio_desktop.hull.source import HullEvent, HullUser

EVENT_TYPES = frozenset({"track", "page", "screen"})

# A user's segments as (segment id, name when the file gave one).
SegmentPairs = list[tuple[str, str | None]]


def segment_id_for_name(name: str) -> str:
    """Stable 24-hex id for a segment known only by name (same name -> same id, always)."""
    return hashlib.sha1(f"segment:{name}".encode(), usedforsecurity=False).hexdigest()[:24]


def derived_user_id(kind: str, value: str) -> str:
    """Stable 24-hex id for a user row without ``id``, from ``kind`` (external_id/email/anonymous_id)."""
    return hashlib.sha1(f"user:{kind}:{value}".encode(), usedforsecurity=False).hexdigest()[:24]


def normalize_user(value: Any) -> tuple[HullUser, SegmentPairs] | str:
    """A user in Hull's API shape plus its (segment id, name) pairs, or why the row is unusable."""
    if not isinstance(value, dict):
        return 'not a JSON object (each user must be an object like {"id": ..., "email": ...})'
    user: HullUser = value
    pairs = _segment_pairs(user)
    if isinstance(pairs, str):
        return pairs
    user["segment_ids"] = list(dict.fromkeys([sid for sid, _ in pairs]))
    problem = _ensure_id(user)
    return problem if problem is not None else (user, pairs)


def _segment_pairs(user: HullUser) -> SegmentPairs | str:
    """The segments of ``segment_ids`` then ``segments`` (removed from ``user``), or what is wrong."""
    pairs: SegmentPairs = []
    raw_ids = user.get("segment_ids")
    if raw_ids is not None:
        if not isinstance(raw_ids, list):
            return "segment_ids must be a list of segment ids"
        for sid in raw_ids:
            if type(sid) is str and sid:  # the common case first: a scan normalizes every row
                pairs.append((sid, None))
            elif isinstance(sid, str | int) and not isinstance(sid, bool) and str(sid):
                pairs.append((str(sid), None))
            else:
                return f"segment_ids holds {sid!r}, which is not a segment id"
    segments = user.pop("segments", None)
    if segments is None:
        return pairs
    if not isinstance(segments, list):
        return 'segments must be a list of {"id", "name"} objects or segment names'
    for seg in segments:
        if isinstance(seg, str) and seg:
            pairs.append((segment_id_for_name(seg), seg))
        elif isinstance(seg, dict):
            name = seg.get("name")
            sid = seg.get("id")
            if type(sid) is str and sid and type(name) is str:
                pairs.append((sid, name or None))  # the common case: both given as text
                continue
            if not sid and isinstance(name, str) and name:
                sid = segment_id_for_name(name)
            if not sid:
                return "a segment has neither an id nor a name"
            pairs.append((str(sid), name if isinstance(name, str) and name else None))
        else:
            return f"segments holds {seg!r}, which is neither a segment object nor a name"
    return pairs


def _ensure_id(user: HullUser) -> str | None:
    """Give ``user`` a text ``id`` (its own, or one derived from another identifier), else say why not."""
    user_id = user.get("id")
    if isinstance(user_id, str) and user_id:
        return None
    if user_id is not None and not isinstance(user_id, str) and not isinstance(user_id, bool):
        user["id"] = str(user_id)
        return None
    for kind in ("external_id", "email"):
        other = user.get(kind)
        if isinstance(other, str) and other:
            user["id"] = derived_user_id(kind, other)
            return None
    anonymous = user.get("anonymous_ids")
    if isinstance(anonymous, list) and anonymous and isinstance(anonymous[0], str) and anonymous[0]:
        user["id"] = derived_user_id("anonymous_id", anonymous[0])
        return None
    return "the user has no id, external_id, email or anonymous id"


def _str_field(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def normalize_event(value: Any) -> HullEvent | str:
    """A HullEvent from one record of the events file, or why the record is unusable."""
    if not isinstance(value, dict):
        return 'not a JSON object (each event must be an object like {"event": ..., "created_at": ...})'
    name = value.get("event")
    if not isinstance(name, str) or not name:
        return 'the event has no name ("event")'
    created = parse_hull_date(value.get("created_at"))
    if created is None:
        return f"created_at {value.get('created_at')!r} is not a date (use ISO 8601 or Unix seconds)"
    properties = value.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        return "properties must be a JSON object"
    user_id = _str_field(value, "user_id")
    external_id = _str_field(value, "external_id")
    email = _str_field(value, "email")
    anonymous_id = _str_field(value, "anonymous_id")
    if not (user_id or external_id or email or anonymous_id):
        return "the event names no user (user_id, external_id, email or anonymous_id)"
    event_type = _str_field(value, "event_type") or "track"
    if event_type not in EVENT_TYPES:
        event_type = "track"
    event_id = _str_field(value, "event_id") or _str_field(value, "id")
    if not event_id:
        # Deterministic, so a re-sent event is still de-duplicated downstream.
        basis = json.dumps(
            [user_id, external_id, email, anonymous_id, name, created, properties], sort_keys=True, default=str
        )
        event_id = hashlib.sha1(basis.encode(), usedforsecurity=False).hexdigest()[:24]
    return HullEvent(
        event_id=event_id,
        name=name,
        created_at=created,
        user_id=user_id,
        external_id=external_id,
        email=email,
        anonymous_id=anonymous_id,
        event_type=event_type,
        properties=properties,
    )


__all__ = [
    "EVENT_TYPES",
    "SegmentPairs",
    "derived_user_id",
    "normalize_event",
    "normalize_user",
    "segment_id_for_name",
]
