"""Build what a sync needs from a profile and its secrets: source, Customer.io clients, ledger.

Used by the CLI (``sync``, ``preview``) and the GUI, so both say the same thing when something is
missing: which setting or secret, and where to set it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cio_desktop.config.profile import Profile, ProfileError, Region, SourceKind
from cio_desktop.config.secrets import KeyringUnavailableError, SecretKey, SecretStore
from cio_desktop.customerio.app import AppClient
from cio_desktop.customerio.track import TrackClient
from cio_desktop.hull.api_source import HullApiSource
from cio_desktop.hull.client import HullClient
from cio_desktop.hull.firehose import FirehoseWriter
from cio_desktop.hull.source import SourceError, UserSource
from cio_desktop.sync.engine import SyncEngine
from cio_desktop.sync.ledger import Ledger, LedgerError, ledger_path

if TYPE_CHECKING:
    from cio_desktop.sandbox import Sandbox

_SECRET_WHERE = {
    SecretKey.HULL_SECRET: (
        "Hull connector secret",
        "Hull > your connector > Settings (paste it on the Connect page of cio-desktop)",
    ),
    SecretKey.CIO_API_KEY: (
        "Customer.io Track API key",
        "Customer.io > Settings > Workspace Settings > API and webhook credentials (paste it on the Connect page)",
    ),
}


class ConfigurationError(Exception):
    """The profile cannot be used as set up. ``setting`` names the profile field or secret at fault;
    the message says what is missing and where to set it (never a secret value)."""

    def __init__(self, message: str, *, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


@dataclass
class Services:
    """Everything one profile's sync talks to. Close it when done (it owns network sessions and the ledger)."""

    profile: Profile
    source: UserSource
    ledger: Ledger
    track: TrackClient | None = None
    app: AppClient | None = None
    hull: HullClient | None = None
    hull_writer: FirehoseWriter | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def engine(self, *, clock: Callable[[], float] = time.time, **options: Any) -> SyncEngine:
        """A sync engine over these services; ``options`` go to :class:`SyncEngine` (e.g. ``batch_max_ops``)."""
        return SyncEngine(self.profile, self.source, self.ledger, self.track, self.hull_writer, clock=clock, **options)

    def close(self) -> None:
        """Close everything opened for this profile (the firehose writer first: it flushes through Hull)."""
        closers, self._closers = self._closers, []
        for closer in (*closers, self.ledger.close):
            with contextlib.suppress(Exception):
                closer()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _secret(secrets: SecretStore, profile: Profile, key: SecretKey, *, required: bool) -> str | None:
    try:
        value = secrets.get(profile.name, key)
    except KeyringUnavailableError as exc:
        raise ConfigurationError(str(exc), setting=key.value) from exc
    if not value and required:
        what, where = _SECRET_WHERE.get(key, (key.value, "the Connect page"))
        raise ConfigurationError(
            f"Profile {profile.name!r} has no {what} stored in the keyring. Set it in {where}.",
            setting=key.value,
        )
    return value or None


def _require(profile: Profile, field_name: str, what: str) -> str:
    value = str(getattr(profile, field_name) or "")
    if not value:
        raise ConfigurationError(
            f"Profile {profile.name!r} has no {what} ('{field_name}'). Set it on the Connect page"
            f" or with `cio-desktop profiles import`.",
            setting=field_name,
        )
    return value


def _region(profile: Profile) -> str:
    return profile.cio_region.value if profile.cio_region is not Region.AUTO else "auto"


def open_services(
    profile: Profile,
    secrets: SecretStore,
    *,
    need_track: bool = True,
    ledger: Ledger | None = None,
) -> Services:
    """Clients for ``profile`` (honouring ``profile.endpoints``) and its ledger.

    ``need_track=False`` (preview, dry run) leaves ``track`` None when the Customer.io credentials are
    not set instead of failing. Raises :class:`ConfigurationError` naming what is missing.
    """
    try:
        profile.validate()
    except ProfileError as exc:
        raise ConfigurationError(f"Profile {profile.name!r}: {exc}", setting=exc.field) from exc

    opened: list[Callable[[], None]] = []
    try:
        hull: HullClient | None = None
        writer: FirehoseWriter | None = None
        source: UserSource
        if profile.source is SourceKind.FILES:
            from cio_desktop.hull.files import FileSource

            if not profile.files.users_path:
                raise ConfigurationError(
                    f"Profile {profile.name!r} reads Hull export files but no users file is set. Pick one on the"
                    " Connect page.",
                    setting="files.users_path",
                )
            try:
                source = FileSource(
                    profile.files.users_path,
                    profile.files.events_path or None,
                    max_record_bytes=profile.files.max_record_bytes,
                )
            except SourceError as exc:
                raise ConfigurationError(str(exc), setting="files.users_path") from exc
        else:
            org = _require(profile, "hull_organization", "Hull organization")
            connector = _require(profile, "hull_connector_id", "Hull connector ID")
            secret = _secret(secrets, profile, SecretKey.HULL_SECRET, required=True)
            assert secret is not None
            hull = HullClient(
                org,
                connector,
                secret,
                base_url=profile.endpoints.hull_api or None,
                firehose_url=profile.endpoints.hull_firehose or None,
            )
            opened.append(hull.close)
            source = HullApiSource(hull)
            if profile.write_back:
                writer = hull.firehose()
                opened.insert(0, writer.close)

        track: TrackClient | None = None
        site_id = profile.cio_site_id
        api_key = _secret(secrets, profile, SecretKey.CIO_API_KEY, required=need_track and bool(site_id))
        if need_track and not site_id:
            _require(profile, "cio_site_id", "Customer.io Site ID")
        if site_id and api_key:
            track = TrackClient(
                site_id,
                api_key,
                _region(profile),
                base_url=profile.endpoints.cio_track or None,
                rate_limit=profile.rate_limit,
            )
            opened.append(track.close)

        app: AppClient | None = None
        app_key = _secret(secrets, profile, SecretKey.CIO_APP_KEY, required=False)
        if app_key:
            # "Detect automatically": the App API host follows the region the Track API reports
            # (asked once, lazily, at the first App API call), so EU workspaces are read on the EU host.
            detect = profile.cio_region is Region.AUTO and track is not None
            app = AppClient(
                app_key,
                "auto" if detect else "eu" if profile.cio_region is Region.EU else "us",
                base_url=profile.endpoints.cio_app or None,
                resolve_region=track.workspace_region if detect and track is not None else None,
            )
            opened.append(app.close)

        if ledger is None:
            try:
                ledger = Ledger(ledger_path(profile.name))
            except LedgerError as exc:
                raise ConfigurationError(str(exc), setting="ledger") from exc
    except BaseException:
        for closer in opened:
            with contextlib.suppress(Exception):
                closer()
        raise
    return Services(profile, source, ledger, track=track, app=app, hull=hull, hull_writer=writer, _closers=opened)


def demo_services(sandbox: Sandbox, *, profile: Profile | None = None) -> Services:
    """Services of the sandbox's demo profile (its credentials live in an in-memory secret store)."""
    demo = profile or sandbox.demo_profile()
    secrets = SecretStore.in_memory()
    for key, value in sandbox.credentials.secrets().items():
        secrets.set(demo.name, SecretKey(key), value)
    return open_services(demo, secrets)
