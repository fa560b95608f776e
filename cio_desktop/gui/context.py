"""The state the pages share: the profile being edited, its secrets, and what the source offers.

Pages never touch disk, keyring or network themselves: they ask the context, which runs the work
on the :class:`JobRunner` and answers with signals on the GUI thread.

In the main window the context saves every accepted change (``autosave=True``). The first-run wizard
uses its own context with ``autosave=False`` and an in-memory secret store, and writes the profile and
the secrets only when the user finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from cio_desktop.config.profile import Profile, ProfileError
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui import backend
from cio_desktop.gui.workers import JobContext, JobRunner
from cio_desktop.hull.source import Attribute, EventName, Segment


@dataclass(frozen=True)
class Catalog:
    """What the source offers to choose from (loaded off the GUI thread)."""

    description: str
    segments: tuple[Segment, ...]
    attributes: tuple[Attribute, ...]
    events: tuple[EventName, ...]


class AppContext(QObject):
    """Signals:
    profile_changed(Profile): the profile changed (another profile opened, or an edit accepted).
    catalog_changed(object): a new :class:`Catalog`, or None while none is loaded.
    catalog_failed(str): the source could not be read; the message says why and what to do.
    save_failed(str): writing the profile or a secret failed.
    saved(Profile): the profile was written to disk.
    """

    profile_changed = Signal(object)
    catalog_changed = Signal(object)
    catalog_failed = Signal(str)
    catalog_loading = Signal()
    save_failed = Signal(str)
    saved = Signal(object)

    def __init__(
        self,
        runner: JobRunner,
        store: ProfileStore,
        secrets: SecretStore,
        *,
        autosave: bool,
        demo: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.store = store
        self.secrets = secrets
        self.autosave = autosave
        self.demo = demo
        self.profile: Profile | None = None
        self.catalog: Catalog | None = None
        self.region_text = ""
        self.sync_running = False
        # The wizard keeps secrets under a fixed draft name so renaming the draft does not lose them.
        self.secret_owner: str | None = None
        # The store whose location the Connect page describes (the wizard shows where secrets will go).
        self.display_secrets = secrets

    def key(self, name: str) -> str:
        """A job key private to this context: the wizard's jobs never make the main window's stale."""
        return f"{name}@{id(self):x}"

    @property
    def secret_name(self) -> str:
        if self.secret_owner is not None:
            return self.secret_owner
        return self.profile.name if self.profile is not None else ""

    # ------------------------------------------------------------------ profile
    def set_profile(self, profile: Profile | None, *, reload_catalog: bool = True) -> None:
        """Open ``profile`` (already saved, or a wizard draft). Does not save."""
        self.profile = profile
        self.catalog = None
        self.profile_changed.emit(profile)
        self.catalog_changed.emit(None)
        if profile is not None and reload_catalog and backend.has_source_settings(profile):
            self.load_catalog()

    def update(self, **changes: object) -> str | None:
        """Apply ``changes`` to the profile. Returns a user-facing error instead of applying an invalid change."""
        if self.profile is None:
            return "No profile is open."
        try:
            new = self.profile.replace(**changes)
        except ProfileError as exc:
            return backend.describe_profile_error(exc)
        if new == self.profile:
            return None
        self.profile = new
        self.profile_changed.emit(new)
        if self.autosave:
            self.save()
        return None

    def save(self, on_done: Callable[[Profile], None] | None = None) -> None:
        profile = self.profile
        if profile is None:
            return
        store = self.store

        def work(_job: JobContext) -> Profile:
            store.save(profile)
            return profile

        def done(p: Profile) -> None:
            self.saved.emit(p)
            if on_done is not None:
                on_done(p)

        self.runner.submit(
            self.key(f"save:{profile.name}"),
            work,
            on_result=done,
            on_error=lambda e: self.save_failed.emit(backend.error_text(e)),
            serial=True,
        )

    # ------------------------------------------------------------------ secrets
    def set_secret(self, key: SecretKey, value: str, on_done: Callable[[], None] | None = None) -> None:
        """Keep ``value`` for ``key`` of this profile (keyring in the main window; memory in the wizard)."""
        if self.profile is None:
            return
        name, secrets = self.secret_name, self.secrets

        def work(_job: JobContext) -> None:
            if value:
                secrets.set(name, key, value)
            else:
                secrets.delete(name, key)

        self.runner.submit(
            self.key(f"secret:{name}:{key}"),
            work,
            on_result=lambda _r: on_done() if on_done else None,
            on_error=lambda e: self.save_failed.emit(backend.error_text(e)),
            serial=True,
        )

    def get_secrets(self, on_done: Callable[[dict[SecretKey, str]], None]) -> None:
        """Read this profile's secrets (off the GUI thread) and hand them to ``on_done``."""
        if self.profile is None:
            return
        name, secrets = self.secret_name, self.secrets
        self.runner.submit(
            self.key(f"secrets-read:{name}"),
            lambda _j: backend.read_secrets(secrets, name),
            on_result=on_done,
            on_error=lambda e: self.save_failed.emit(backend.error_text(e)),
            serial=True,
        )

    # ------------------------------------------------------------------ catalog
    def load_catalog(self) -> None:
        """(Re)load segments, attributes and event names from the source; stale loads are dropped."""
        profile, secrets, secret_name = self.profile, self.secrets, self.secret_name
        if profile is None:
            return
        self.catalog_loading.emit()

        def work(job: JobContext) -> Catalog:
            source = backend.open_source(profile, secrets, secret_name)
            job.check_cancelled()
            return Catalog(
                description=source.describe(),
                segments=tuple(source.segments()),
                attributes=tuple(source.attributes()),
                events=tuple(source.event_names()),
            )

        def done(cat: Catalog) -> None:
            self.catalog = cat
            self.catalog_changed.emit(cat)

        self.runner.submit(
            self.key("catalog"),
            work,
            on_result=done,
            on_error=lambda e: self.catalog_failed.emit(backend.error_text(e)),
        )
