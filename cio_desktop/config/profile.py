"""The profile: every non-secret setting of one Hull-to-Customer.io connection.

Profiles are plain frozen dataclasses so every layer (engine, CLI, GUI) can pass them around
without touching disk. Reading and writing them lives in :mod:`cio_desktop.config.store`.
Secrets (connector secret, API keys, webhook keys) are never part of a profile: they live in the
OS keyring (:mod:`cio_desktop.config.secrets`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from cio_desktop.config.profile_sections import (
    EVERY_HOURS_CHOICES,
    LOOPBACK_HOSTS,
    MAX_ATTRIBUTE_NAME_BYTES,
    MAX_RECORD_MB_RANGE,
    OBJECT_IDENTIFIERS,
    AttributeMapping,
    Endpoints,
    FileSourceSettings,
    ObjectSettings,
    ProfileError,
    ScheduleKind,
    ScheduleSettings,
    SegmentRef,
    _expect,
    _mappings,
    _schedule,
    check_mappings,
    endpoint_problem,
)

SCHEMA_VERSION = 2

# Customer.io limits that also constrain what a profile may hold (docs/api-contracts.md, "Customer.io Track API").
MAX_WEBHOOK_URL_CHARS = 255

_PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
_CONNECTOR_ID_RE = re.compile(r"^[0-9a-f]{24}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?$")


class SourceKind(StrEnum):
    """Where users and events come from."""

    HULL_API = "hull_api"
    FILES = "files"


class Region(StrEnum):
    """Customer.io data center. AUTO asks the Track API which one the workspace lives in."""

    AUTO = "auto"
    US = "us"
    EU = "eu"


class ForwardShape(StrEnum):
    """The JSON the HTTPS destination receives per event (webhooks/forward_http.py)."""

    SEGMENT = "segment"  # Segment's track call, which many tools accept
    HULL = "hull"  # Hull's event shape, as `webhook export` writes it


@dataclass(frozen=True)
class Profile:
    """One connection between a Hull organization (or its export files) and a Customer.io workspace."""

    name: str
    # Hull
    hull_organization: str = ""  # the org host, e.g. "acme.hullapp.io"
    hull_connector_id: str = ""  # 24 hex chars
    source: SourceKind = SourceKind.HULL_API
    files: FileSourceSettings = FileSourceSettings()
    # Customer.io
    cio_site_id: str = ""
    cio_region: Region = Region.AUTO
    rate_limit: float = 100.0  # Track API requests per second for this workspace
    # Who
    segments: tuple[SegmentRef, ...] = ()  # empty = send nobody
    delete_on_leave: bool = False
    # Deletion guard (sync/guard.py): a run that would delete more than this share of the people known
    # to have been created, or more than this many people, deletes nobody until approved.
    deletion_guard_percent: float = 10.0
    deletion_guard_max: int = 1000
    # What
    events: tuple[str, ...] = ()  # whitelisted Hull event names
    anonymous_events: bool = False
    customer_id_attribute: str = "external_id"
    # With the email as customerId: identify people as {"id": email} (workspaces set to "ID only", as
    # Hull's hosted connector left them there) instead of {"email": email} (workspaces set to "Email or ID").
    email_as_id: bool = False
    mappings: tuple[AttributeMapping, ...] = ()
    require_email: bool = True
    send_nulls: bool = False
    write_back: bool = True
    # Webhook (email activity back into Hull)
    webhook_public_url: str = ""  # public base URL that reaches the receiver, e.g. https://x.example.com
    webhook_listen: str = "127.0.0.1:8765"
    # Email activity beyond Hull: an HTTPS endpoint that also receives it (empty = none; its HMAC key is
    # a secret, in the keyring), and how many days the inbox keeps activity before pruning it.
    forward_url: str = ""
    forward_shape: ForwardShape = ForwardShape.SEGMENT
    activity_retention_days: int = 90
    # Where the services are (empty = the real ones)
    endpoints: Endpoints = Endpoints()
    objects: ObjectSettings = ObjectSettings()
    # Sending
    concurrency: int = 4
    # Scheduled syncs (in the app, and by the operating system with `cio-desktop schedule install`)
    schedule: ScheduleSettings = ScheduleSettings()

    @property
    def segment_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.segments)

    def replace(self, **changes: Any) -> Profile:
        """A copy with ``changes`` applied (validated)."""
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`ProfileError` naming the first invalid field."""
        self._check_connection()
        low, high = MAX_RECORD_MB_RANGE
        numbers = (
            ("rate_limit", self.rate_limit, 0.1, 3000, False, "a number of requests per second between 0.1 and 3000"),
            (
                "files.max_record_mb",
                self.files.max_record_mb,
                low,
                high,
                True,
                f"a whole number of megabytes between {low} and {high}",
            ),
            ("concurrency", self.concurrency, 1, 32, True, "a whole number between 1 and 32"),
            (
                "activity_retention_days",
                self.activity_retention_days,
                7,
                3650,
                True,
                "a whole number of days between 7 and 3650 (Customer.io re-sends for up to 7 days)",
            ),
            ("deletion_guard_percent", self.deletion_guard_percent, 0, 100, False, "a percentage between 0 and 100"),
            (
                "deletion_guard_max",
                self.deletion_guard_max,
                0,
                10_000_000,
                True,
                "a whole number of people between 0 and 10,000,000",
            ),
        )
        for name, value, lo, hi, whole, what in numbers:
            if not _in_range(value, lo, hi, whole=whole):
                raise ProfileError(name, f"must be {what}")
        self._check_choices()
        self.objects.validate()
        self._check_urls()
        self.schedule.validate()

    def _check_connection(self) -> None:
        if not _PROFILE_NAME_RE.match(self.name or ""):
            raise ProfileError(
                "name",
                "must be 1-64 characters: letters, digits, space, '_', '.', '-', starting with a letter or digit",
            )
        if self.hull_organization and not _HOST_RE.match(self.hull_organization):
            raise ProfileError(
                "hull_organization", f"{self.hull_organization!r} is not a host name like 'acme.hullapp.io'"
            )
        if self.hull_connector_id and not _CONNECTOR_ID_RE.match(self.hull_connector_id):
            raise ProfileError("hull_connector_id", "must be 24 lowercase hexadecimal characters")
        if not isinstance(self.source, SourceKind):
            raise ProfileError("source", f"must be one of {', '.join(k.value for k in SourceKind)}")
        if self.cio_site_id and not re.match(r"^[A-Za-z0-9]{1,64}$", self.cio_site_id):
            raise ProfileError("cio_site_id", "must be letters and digits only (Customer.io > Integrations)")
        if not isinstance(self.cio_region, Region):
            raise ProfileError("cio_region", f"must be one of {', '.join(r.value for r in Region)}")

    def _check_choices(self) -> None:
        """Segments, events, the customerId attribute and the attribute mappings."""
        seen: set[str] = set()
        for i, seg in enumerate(self.segments):
            if not seg.id:
                raise ProfileError(f"segments[{i}].id", "is empty")
            if seg.id in seen:
                raise ProfileError(f"segments[{i}].id", f"segment {seg.id!r} is listed twice")
            seen.add(seg.id)
        for i, ev in enumerate(self.events):
            if not ev or len(ev.encode()) > 100:
                raise ProfileError(f"events[{i}]", "event names must be 1-100 bytes")
        if not self.customer_id_attribute:
            raise ProfileError("customer_id_attribute", "is empty; choose e.g. 'external_id' or 'id'")
        check_mappings("mappings", self.mappings, "Customer.io attribute")

    def _check_urls(self) -> None:
        if self.webhook_public_url:
            parts = urlsplit(self.webhook_public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ProfileError("webhook_public_url", "must be an http(s) URL like https://hooks.example.com")
            if len(self.webhook_public_url) > MAX_WEBHOOK_URL_CHARS:
                raise ProfileError("webhook_public_url", f"is longer than {MAX_WEBHOOK_URL_CHARS} characters")
        parse_listen(self.webhook_listen)
        if self.forward_url:
            check_forward_url(self.forward_url)
        if not isinstance(self.forward_shape, ForwardShape):
            raise ProfileError("forward_shape", f"must be one of {', '.join(k.value for k in ForwardShape)}")
        for fname in ("hull_api", "hull_firehose", "cio_track", "cio_app"):
            url = getattr(self.endpoints, fname)
            if url:
                problem = endpoint_problem(url)
                if problem:
                    raise ProfileError(f"endpoints.{fname}", problem)

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict[str, Any]:
        """The JSON shape written to disk (without ``schema_version``; the store adds it)."""
        d = dataclasses.asdict(self)
        d["source"] = self.source.value
        d["cio_region"] = self.cio_region.value
        d["forward_shape"] = self.forward_shape.value
        d["segments"] = [dataclasses.asdict(s) for s in self.segments]
        d["events"] = list(self.events)
        d["mappings"] = [dataclasses.asdict(m) for m in self.mappings]
        d["schedule"] = dict(d["schedule"], kind=self.schedule.kind.value)
        d["objects"] = {
            **dataclasses.asdict(self.objects),
            "mappings": [dataclasses.asdict(m) for m in self.objects.mappings],
        }
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Build and validate a profile from its JSON shape; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ProfileError("(profile)", "must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"schema_version"})
        if unknown:
            raise ProfileError(unknown[0], "is not a known setting")
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            v = data[f.name]
            kw[f.name] = _convert(f.name, v)
        if "name" not in kw:
            raise ProfileError("name", "is missing")
        profile = cls(**kw)
        profile.validate()
        return profile


def _in_range(value: Any, low: float, high: float, *, whole: bool) -> bool:
    """A number (a whole one if ``whole``; never a bool) within ``low..high``."""
    if isinstance(value, bool):
        return False
    if whole:
        return isinstance(value, int) and low <= value <= high
    return isinstance(value, int | float) and math.isfinite(value) and low <= value <= high


def check_forward_url(url: str) -> None:
    """The HTTPS destination's URL: https, or plain http only to this computer (a local collector)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError("forward_url", "must be an https URL like https://collector.example.com/events")
    if parts.scheme == "http" and not _is_loopback_host(parts.hostname):
        raise ProfileError(
            "forward_url", "must use https (plain http is only allowed to this computer: localhost, 127.0.0.1, ::1)"
        )
    if parts.username or parts.password:
        raise ProfileError("forward_url", "must not contain a user name or password (the HMAC key signs requests)")
    if len(url) > 2000:
        raise ProfileError("forward_url", "is longer than 2000 characters")


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(value: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 as ``[::1]:port``); raise ProfileError('webhook_listen') if invalid."""
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$", value or "") or re.match(
        r"^([A-Za-z0-9.-]+):(\d{1,5})$", value or ""
    )
    if not m:
        raise ProfileError("webhook_listen", "must look like 127.0.0.1:8765")
    host, port = m.group(1), int(m.group(2))
    if not 0 <= port <= 65535:
        raise ProfileError("webhook_listen", "port must be 0-65535")
    if ":" in host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ProfileError("webhook_listen", f"{host!r} is not an IP address") from None
    return host, port


def _convert(name: str, v: Any) -> Any:
    str_fields = {
        "name",
        "hull_organization",
        "hull_connector_id",
        "cio_site_id",
        "customer_id_attribute",
        "webhook_public_url",
        "webhook_listen",
        "forward_url",
    }
    bool_fields = {"delete_on_leave", "anonymous_events", "require_email", "send_nulls", "write_back", "email_as_id"}
    if name in str_fields:
        return _expect(name, v, str, "text")
    if name in bool_fields:
        return _expect(name, v, bool, "true or false")
    if name == "source":
        try:
            return SourceKind(_expect(name, v, str, "text"))
        except ValueError:
            raise ProfileError(name, f"must be one of {', '.join(k.value for k in SourceKind)}") from None
    if name == "cio_region":
        try:
            return Region(_expect(name, v, str, "text"))
        except ValueError:
            raise ProfileError(name, f"must be one of {', '.join(r.value for r in Region)}") from None
    if name == "forward_shape":
        try:
            return ForwardShape(_expect(name, v, str, "text"))
        except ValueError:
            raise ProfileError(name, f"must be one of {', '.join(k.value for k in ForwardShape)}") from None
    if name == "rate_limit":
        return float(_expect(name, v, (int, float), "a number"))
    if name in ("concurrency", "deletion_guard_max", "activity_retention_days"):
        return _expect(name, v, int, "a whole number")
    if name == "deletion_guard_percent":
        return float(_expect(name, v, (int, float), "a number"))
    if name == "segments":
        out = []
        for i, s in enumerate(_expect(name, v, list, "a list")):
            s = _expect(f"segments[{i}]", s, dict, 'an object {"id": ..., "name": ...}')
            out.append(
                SegmentRef(
                    id=_expect(f"segments[{i}].id", s.get("id"), str, "text"),
                    name=_expect(f"segments[{i}].name", s.get("name", ""), str, "text"),
                )
            )
        return tuple(out)
    if name == "events":
        return tuple(_expect(f"events[{i}]", e, str, "text") for i, e in enumerate(_expect(name, v, list, "a list")))
    if name == "mappings":
        return _mappings(name, v)
    if name == "objects":
        return ObjectSettings.from_dict(v)
    if name == "endpoints":
        d = _expect(name, v, dict, "an object")
        allowed = {f.name for f in dataclasses.fields(Endpoints)}
        for k in d:
            if k not in allowed:
                raise ProfileError(f"endpoints.{k}", "is not a known setting")
        return Endpoints(**{k: _expect(f"endpoints.{k}", d[k], str, "text") for k in d})
    if name == "files":
        d = _expect(name, v, dict, "an object")
        allowed = {f.name for f in dataclasses.fields(FileSourceSettings)}
        for k in d:
            if k not in allowed:
                raise ProfileError(f"files.{k}", "is not a known setting")
        return FileSourceSettings(
            **{
                k: _expect(f"files.{k}", d[k], int, "a whole number of megabytes")
                if k == "max_record_mb"
                else _expect(f"files.{k}", d[k], str, "text")
                for k in d
            }
        )
    if name == "schedule":
        return _schedule(_expect(name, v, dict, "an object"))
    raise ProfileError(name, "is not a known setting")  # pragma: no cover - guarded by from_dict


def default_cio_name(hull_attribute: str) -> str:
    """Customer.io attribute name Hull's connector used for a Hull attribute.

    ``traits_clearbit/given_name`` -> ``clearbit-given_name``; ``id`` -> ``hull_id``;
    ``account.domain`` -> ``account_domain``.
    """
    name = hull_attribute
    if name == "id":
        return "hull_id"
    if name.startswith("account."):
        name = "account_" + name[len("account.") :]
    if name.startswith("traits_"):
        name = name[len("traits_") :]
    return name.replace("/", "-")


__all__ = [
    "EVERY_HOURS_CHOICES",
    "LOOPBACK_HOSTS",
    "MAX_ATTRIBUTE_NAME_BYTES",
    "MAX_RECORD_MB_RANGE",
    "MAX_WEBHOOK_URL_CHARS",
    "OBJECT_IDENTIFIERS",
    "SCHEMA_VERSION",
    "AttributeMapping",
    "Endpoints",
    "FileSourceSettings",
    "ForwardShape",
    "ObjectSettings",
    "Profile",
    "ProfileError",
    "Region",
    "ScheduleKind",
    "ScheduleSettings",
    "SegmentRef",
    "SourceKind",
    "check_forward_url",
    "default_cio_name",
    "endpoint_problem",
    "parse_listen",
]
