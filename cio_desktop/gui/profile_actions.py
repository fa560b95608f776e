"""The Profiles menu's actions of the main window: duplicate, rename, delete, export and import.

Each runs its file work on a worker (:meth:`ProfileActionsMixin._profile_job`), says what it did in the
header, and reopens the profile list on the right profile. Renaming or deleting the open profile closes
its webhook receiver and inbox first (Windows cannot move a folder with open files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from cio_desktop.gui import backend
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.workers import JobContext

if TYPE_CHECKING:
    from cio_desktop.config.secrets import SecretStore
    from cio_desktop.config.store import ProfileStore
    from cio_desktop.gui.context import AppContext
    from cio_desktop.gui.pages.webhook import WebhookPage
    from cio_desktop.gui.widgets import StatusLine
    from cio_desktop.gui.workers import JobRunner


class ProfileActionsMixin:
    """Part of :class:`~cio_desktop.gui.main_window.MainWindow` (which provides these attributes)."""

    ctx: AppContext
    store: ProfileStore
    secrets: SecretStore
    runner: JobRunner
    demo: bool
    webhook_page: WebhookPage
    header_status: StatusLine

    def load_profiles(self, preferred: str | None = None) -> None:
        raise NotImplementedError  # MainWindow's

    def _parent(self) -> QWidget:
        assert isinstance(self, QWidget)
        return self

    def _ask_name(self, title: str, label: str, default: str) -> str | None:
        name, ok = QInputDialog.getText(self._parent(), title, label, text=default)
        name = name.strip()
        return name if ok and name else None

    def _profile_job(
        self,
        work: Callable[[JobContext], str | None],
        then: str | None,
        done_text: str,
        *,
        release_webhook: bool = False,
    ) -> None:
        """Run a profile operation; then reopen the list on ``then``, else on the name ``work`` returns.
        ``release_webhook``: it moves or removes the open profile's files, so its receiver and inbox close first."""
        service = self.webhook_page.release() if release_webhook else None
        was_running = service is not None and service.status().running
        if was_running:
            done_text += " The webhook receiver was stopped for it: start it again on the Webhook page."

        def run(job: JobContext) -> str | None:
            if service is not None:
                service.close()
            return work(job)

        def ok(name: str | None) -> None:
            self.header_status.show_status(ErrorKind.OK, done_text)
            self.load_profiles(then or name)

        def failed(exc: BaseException) -> None:
            self.header_status.show_status(ErrorKind.ERROR, backend.error_text(exc))
            if release_webhook and self.ctx.profile is not None:
                self.webhook_page.set_context(self.ctx.profile, self.secrets, demo=self.demo)

        self.runner.submit("profile-op", run, on_result=ok, on_error=failed, serial=True)

    def duplicate_profile(self) -> None:
        p = self.ctx.profile
        if p is None:
            return
        new = self._ask_name("Duplicate profile", "Name of the copy:", f"{p.name} copy")
        if new:
            store = self.store
            self._profile_job(
                lambda _j: store.duplicate(p.name, new).name,
                new,
                f"Duplicated “{p.name}” as “{new}” (secrets are not copied).",
            )

    def rename_profile(self) -> None:
        p = self.ctx.profile
        if p is None or self.ctx.sync_running:
            return
        new = self._ask_name("Rename profile", "New name:", p.name)
        if new and new != p.name:
            store, secrets = self.store, self.secrets
            self._profile_job(
                lambda _j: store.rename(p.name, new, secrets).name,
                new,
                f"Renamed to “{new}”.",
                release_webhook=True,
            )

    def delete_profile(self) -> None:
        p = self.ctx.profile
        if p is None or self.ctx.sync_running:
            return
        answer = QMessageBox.question(
            self._parent(),
            "Delete profile",
            f"Delete the profile “{p.name}” and its saved secrets? Its sync history stays on disk; nothing is "
            "deleted in Hull or Customer.io.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            store, secrets = self.store, self.secrets
            self._profile_job(
                lambda _j: store.delete(p.name, secrets), None, f"Deleted “{p.name}”.", release_webhook=True
            )

    def export_profile(self) -> None:
        p = self.ctx.profile
        if p is None:
            return
        path, _ = QFileDialog.getSaveFileName(self._parent(), "Export profile", f"{p.name}.json", "Profiles (*.json)")
        if path:
            store = self.store

            def export(_job: JobContext) -> str:
                store.export(p.name, Path(path))
                return p.name

            self._profile_job(
                export,
                p.name,
                f"Exported to {path} (without secrets).",
            )

    def import_profile(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._parent(), "Import profile", "", "Profiles (*.json)")
        if path:
            store = self.store
            self._profile_job(
                lambda _j: store.import_file(Path(path)).name,
                None,
                "Profile imported: enter its secrets on the Connect page.",
            )


__all__ = ["ProfileActionsMixin"]
