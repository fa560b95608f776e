"""The parts of a profile: its sections (endpoints, export files, accounts as objects, schedule), the
small values they hold, and the checks that parse them from JSON.

:mod:`cio_desktop.config.profile` builds the :class:`~cio_desktop.config.profile.Profile` from these
and re-exports every public name, so callers keep importing from there.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

# Customer.io limits that also constrain what a profile may hold (docs/api-contracts.md, "Customer.io Track API").
MAX_ATTRIBUTE_NAME_BYTES = 150
# Bounds of FileSourceSettings.max_record_mb: a record is one line, array element or CSV row.
MAX_RECORD_MB_RANGE = (1, 1024)

# Every N hours: N divides a day, so runs fall at the same clock times every day (00:00, N:00, ...)
# on every platform's scheduler.
EVERY_HOURS_CHOICES = (1, 2, 3, 4, 6, 8, 12)
_HHMM_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class ScheduleKind(StrEnum):
    """When scheduled syncs run: never, every N hours, or once a day at a local time."""

    OFF = "off"
    EVERY = "every"
    DAILY = "daily"


class ProfileError(ValueError):
    """A profile setting is invalid. ``field`` names the setting, the message says what is wrong."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class SegmentRef:
    """A Hull segment chosen for sync. The name is kept so the UI can show it offline."""

    id: str
    name: str


@dataclass(frozen=True)
class AttributeMapping:
    """Send Hull attribute ``hull`` to Customer.io under the attribute name ``cio``."""

    hull: str
    cio: str


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the services. Empty means the real service (derived from org host / region).

    Set on the Connect page's "Advanced" section (proxies, test environments) or by the profile JSON's
    ``endpoints`` key; demo mode, tests and benchmarks point them at the local sandbox.
    """

    hull_api: str = ""  # e.g. https://acme.hullapp.io/api/v1
    hull_firehose: str = ""  # e.g. https://firehose.hullapp.io
    cio_track: str = ""  # e.g. https://track.customer.io
    cio_app: str = ""  # e.g. https://api.customer.io


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MAX_ENDPOINT_CHARS = 500


def endpoint_problem(url: str) -> str:
    """Why ``url`` cannot be a service base URL ("" when it can).

    Credentials and API keys travel to it, so it must be https; plain http only reaches this computer
    (a local proxy, the sandbox). User names, passwords, queries and fragments have no place in it.
    """
    if len(url) > MAX_ENDPOINT_CHARS:
        return f"is longer than {MAX_ENDPOINT_CHARS} characters"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    not_a_url = "is not a URL like https://proxy.example.com"
    try:
        parts = urlsplit(url)
        # Before anything echoes the URL: a password in it must not reach a message.
        if "@" in parts.netloc:
            return "must not contain a user name or password (the app sends the credentials itself)"
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number 0-65535
    except ValueError:
        return not_a_url
    if parts.scheme not in ("http", "https") or not host:
        return f"{url[:80]!r} {not_a_url}"
    if parts.query or parts.fragment:
        return "must not contain '?' or '#' parts"
    if parts.scheme == "http" and host.lower() not in LOOPBACK_HOSTS:
        return "must start with https:// (plain http:// only for this computer: 127.0.0.1, ::1 or localhost)"
    return ""


@dataclass(frozen=True)
class FileSourceSettings:
    """Hull export files used when ``source`` is ``SourceKind.FILES``."""

    users_path: str = ""  # .jsonl / .json / .csv, optionally .gz
    events_path: str = ""  # optional JSON lines of Hull events
    # A longer record is skipped as unreadable: memory stays bounded whatever the file holds.
    max_record_mb: int = 16

    @property
    def max_record_bytes(self) -> int:
        return self.max_record_mb << 20


# Where an account's object id comes from (Hull keeps a user's account under ``account``).
OBJECT_IDENTIFIERS = ("account.domain", "account.external_id", "account.id")


@dataclass(frozen=True)
class ObjectSettings:
    """Hull accounts sent as Customer.io objects, with each person related to their account.

    ``type_id`` is the numeric id of the object type in the workspace (Data & Integrations > Objects);
    ``identifier`` says which account attribute is the object id; ``mappings`` send account attributes
    (``account.name``) under Customer.io names. Objects are deleted only with ``delete_objects``, and
    only those this tool created, under the deletion guard.
    """

    enabled: bool = False
    type_id: str = "1"
    identifier: str = "account.domain"
    mappings: tuple[AttributeMapping, ...] = (
        AttributeMapping("account.name", "name"),
        AttributeMapping("account.domain", "domain"),
    )
    delete_objects: bool = False

    def validate(self) -> None:
        if not re.match(r"^[0-9]{1,10}$", self.type_id):
            raise ProfileError("objects.type_id", "must be the numeric id of the object type, e.g. 1")
        if self.identifier not in OBJECT_IDENTIFIERS:
            raise ProfileError("objects.identifier", f"must be one of {', '.join(OBJECT_IDENTIFIERS)}")
        for i, m in enumerate(self.mappings):
            if not m.hull.startswith("account.") or len(m.hull) == len("account."):
                raise ProfileError(f"objects.mappings[{i}].hull", "must be an account attribute like account.name")
        check_mappings("objects.mappings", self.mappings, "object attribute")

    @classmethod
    def from_dict(cls, value: Any) -> ObjectSettings:
        d = _expect("objects", value, dict, "an object")
        allowed = {f.name for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k not in allowed:
                raise ProfileError(f"objects.{k}", "is not a known setting")
            if k in ("enabled", "delete_objects"):
                kw[k] = _expect(f"objects.{k}", v, bool, "true or false")
            elif k == "mappings":
                kw[k] = _mappings("objects.mappings", v)
            else:
                kw[k] = _expect(f"objects.{k}", v, str, "text")
        return cls(**kw)


@dataclass(frozen=True)
class ScheduleSettings:
    """Scheduled syncs of a profile (sync/schedule.py computes the times). ``every_hours`` counts from
    local midnight; ``daily_at`` is local "HH:MM"; ``full`` runs full syncs instead of changes only."""

    kind: ScheduleKind = ScheduleKind.OFF
    every_hours: int = 1
    daily_at: str = "09:00"
    full: bool = False

    @property
    def enabled(self) -> bool:
        return self.kind is not ScheduleKind.OFF

    def validate(self) -> None:
        if not isinstance(self.kind, ScheduleKind):
            raise ProfileError("schedule.kind", f"must be one of {', '.join(k.value for k in ScheduleKind)}")
        if isinstance(self.every_hours, bool) or self.every_hours not in EVERY_HOURS_CHOICES:
            raise ProfileError(
                "schedule.every_hours",
                "must be 1, 2, 3, 4, 6, 8 or 12 hours (so runs fall at the same times every day);"
                " for once a day choose daily",
            )
        if not isinstance(self.daily_at, str) or not _HHMM_RE.match(self.daily_at):
            raise ProfileError("schedule.daily_at", "must be a time of day as HH:MM, 24-hour clock, e.g. 07:30")
        if not isinstance(self.full, bool):
            raise ProfileError("schedule.full", "must be true or false")

    def describe(self) -> str:
        """ "every 2 hours, sync changes" / "daily at 07:30, full sync" / "off": the Sync page's words for
        the two kinds of run (Full sync, Sync changes)."""
        if self.kind is ScheduleKind.OFF:
            return "off"
        when = (
            ("every hour" if self.every_hours == 1 else f"every {self.every_hours} hours")
            if self.kind is ScheduleKind.EVERY
            else f"daily at {self.daily_at}"
        )
        return f"{when}, {'full sync' if self.full else 'sync changes'}"


def _expect(name: str, value: Any, typ: type | tuple[type, ...], what: str) -> Any:
    allowed = typ if isinstance(typ, tuple) else (typ,)
    if isinstance(value, bool) and bool not in allowed:
        raise ProfileError(name, f"must be {what}, not true/false")
    if not isinstance(value, typ):
        raise ProfileError(name, f"must be {what}")
    return value


def _schedule(d: dict[str, Any]) -> ScheduleSettings:
    allowed = {f.name for f in dataclasses.fields(ScheduleSettings)}
    for k in d:
        if k not in allowed:
            raise ProfileError(f"schedule.{k}", "is not a known setting")
    kw: dict[str, Any] = {}
    if "kind" in d:
        try:
            kw["kind"] = ScheduleKind(_expect("schedule.kind", d["kind"], str, "text"))
        except ValueError:
            raise ProfileError("schedule.kind", f"must be one of {', '.join(k.value for k in ScheduleKind)}") from None
    if "every_hours" in d:
        kw["every_hours"] = _expect("schedule.every_hours", d["every_hours"], int, "a whole number of hours")
    if "daily_at" in d:
        kw["daily_at"] = _expect("schedule.daily_at", d["daily_at"], str, "a time like 07:30")
    if "full" in d:
        kw["full"] = _expect("schedule.full", d["full"], bool, "true or false")
    return ScheduleSettings(**kw)


def check_mappings(name: str, mappings: tuple[AttributeMapping, ...], what: str) -> None:
    """Each mapping names a Hull attribute and a Customer.io name within its limit, no name twice.
    ``name`` is the setting (``mappings``, ``objects.mappings``), ``what`` the kind of attribute."""
    names: set[str] = set()
    for i, m in enumerate(mappings):
        if not m.hull:
            raise ProfileError(f"{name}[{i}].hull", "is empty")
        if not m.cio:
            raise ProfileError(f"{name}[{i}].cio", "is empty")
        if len(m.cio.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
            raise ProfileError(f"{name}[{i}].cio", f"{m.cio[:40]!r}... is longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes")
        if m.cio in names:
            raise ProfileError(f"{name}[{i}].cio", f"{what} {m.cio!r} is mapped twice")
        names.add(m.cio)


def _mappings(name: str, v: Any) -> tuple[AttributeMapping, ...]:
    out = []
    for i, m in enumerate(_expect(name, v, list, "a list")):
        m = _expect(f"{name}[{i}]", m, dict, 'an object {"hull": ..., "cio": ...}')
        out.append(
            AttributeMapping(
                hull=_expect(f"{name}[{i}].hull", m.get("hull"), str, "text"),
                cio=_expect(f"{name}[{i}].cio", m.get("cio"), str, "text"),
            )
        )
    return tuple(out)
