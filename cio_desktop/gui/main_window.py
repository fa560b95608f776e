"""The main window: profile switcher, sidebar of pages, status bar, demo badge, safe closing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cio_desktop import APP_TITLE
from cio_desktop.config.profile import Profile, Region, SourceKind
from cio_desktop.config.secrets import SecretStore
from cio_desktop.config.store import ProfileLoadError, ProfileStore
from cio_desktop.gui import backend
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.keys import CANCEL_KEY, RELOAD_KEY, SYNC_KEY, page_key
from cio_desktop.gui.menubar import build_menu_bar
from cio_desktop.gui.pages.accounts import AccountsPage
from cio_desktop.gui.pages.audience import AudiencePage
from cio_desktop.gui.pages.connect import ConnectPage
from cio_desktop.gui.pages.events import EventsPage
from cio_desktop.gui.pages.fields import FieldsPage
from cio_desktop.gui.pages.history import HistoryPage
from cio_desktop.gui.pages.preview import PreviewPage
from cio_desktop.gui.pages.sync import SyncPage
from cio_desktop.gui.pages.webhook import WebhookPage
from cio_desktop.gui.platform import default_window_size, native_keys
from cio_desktop.gui.profile_actions import ProfileActionsMixin
from cio_desktop.gui.settings import gui_settings
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.welcome import Onboarding
from cio_desktop.gui.widgets import StatusLine
from cio_desktop.gui.workers import JobContext, JobRunner
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.runs import RunStatus
from cio_desktop.sync.summary import RunMode, RunSummary

if TYPE_CHECKING:
    from cio_desktop.gui.app import DemoSession
    from cio_desktop.gui.scheduling import Scheduling
    from cio_desktop.gui.wizard import SetupWizard

log = logging.getLogger(__name__)

# The sidebar's pages, in order (Ctrl+1 opens the first).
PAGE_NAMES = ("Connect", "Audience", "Events", "Fields", "Accounts", "Preview", "Sync", "History", "Webhook")


class MainWindow(ProfileActionsMixin, QMainWindow):
    """Signals: ``profiles_loaded(list)`` after the profile list was read; ``closed()`` once really closing."""

    profiles_loaded = Signal(list)
    wizard_opened = Signal(object)

    def __init__(self, runner: JobRunner, store: ProfileStore, secrets: SecretStore, *, demo: bool = False) -> None:
        super().__init__()
        self.runner = runner
        self.store = store
        self.secrets = secrets
        self.demo = demo
        self.wizard: SetupWizard | None = None
        self.demo_session: DemoSession | None = None  # set by app.create_window in demo mode
        self.scheduling: Scheduling | None = None  # set by app.create_window (scheduled syncs and the tray)
        self._closing_after_cancel = False
        self._profiles: dict[str, Profile] = {}
        self._profile_names: list[str] = []
        self.ctx = AppContext(runner, store, secrets, autosave=True, demo=demo, parent=self)
        # Ending with the application's display name: Qt adds it to a title that does not (once more).
        self.setWindowTitle(f"Demo — {APP_TITLE}" if demo else APP_TITLE)
        self.setAccessibleName("Main window")

        # -- header: profile switcher + menu + demo badge
        header = QWidget()
        header.setObjectName("header")
        hl = QHBoxLayout(header)
        hl.setContentsMargins(12, 8, 12, 8)
        profile_label = QLabel("Profile")
        self.profile_combo = QComboBox()
        self.profile_combo.setAccessibleName("Profile")
        self.profile_combo.setMinimumWidth(220)
        profile_label.setBuddy(self.profile_combo)
        self.profile_menu_button = QToolButton()
        self.profile_menu_button.setText("Profiles")
        self.profile_menu_button.setAccessibleName("Profile actions")
        self.profile_menu_button.setToolTip(
            f"New ({native_keys(QKeySequence.StandardKey.New)}), duplicate, rename, import, export or delete profiles"
        )
        self.profile_menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.profile_menu_button)
        self.new_action = menu.addAction("New profile…", self.new_profile)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.duplicate_action = menu.addAction("Duplicate…", self.duplicate_profile)
        self.rename_action = menu.addAction("Rename…", self.rename_profile)
        menu.addSeparator()
        self.import_action = menu.addAction("Import…", self.import_profile)
        self.export_action = menu.addAction("Export…", self.export_profile)
        menu.addSeparator()
        self.delete_action = menu.addAction("Delete…", self.delete_profile)
        self.profile_menu_button.setMenu(menu)
        self.addActions(menu.actions())
        self.demo_badge = QLabel("DEMO")
        self.demo_badge.setObjectName("demoBadge")
        self.demo_badge.setAccessibleName("Demo mode")
        self.demo_badge.setToolTip(
            "Demo mode: a local sandbox stands in for Hull and Customer.io. Nothing is sent anywhere."
        )
        self.demo_badge.setVisible(demo)
        self.demo_badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.header_status = StatusLine(name="Application status")
        hl.addWidget(profile_label)
        hl.addWidget(self.profile_combo)
        hl.addWidget(self.profile_menu_button)
        hl.addSpacing(12)
        hl.addWidget(self.demo_badge)
        hl.addSpacing(12)
        hl.addWidget(self.header_status, 1)
        hl.addStretch(0)

        # -- pages
        self.connect_page = ConnectPage(self.ctx)
        self.audience_page = AudiencePage(self.ctx)
        self.events_page = EventsPage(self.ctx)
        self.fields_page = FieldsPage(self.ctx)
        self.accounts_page = AccountsPage(self.ctx)
        self.preview_page = PreviewPage(self.ctx)
        self.sync_page = SyncPage(self.ctx)
        self.history_page = HistoryPage(self.ctx)
        self.webhook_page = self._make_webhook_page()
        widgets: tuple[QWidget, ...] = (
            self.connect_page,
            self.audience_page,
            self.events_page,
            self.fields_page,
            self.accounts_page,
            self.preview_page,
            self.sync_page,
            self.history_page,
            self.webhook_page,
        )
        pages = list(zip(PAGE_NAMES, widgets, strict=True))
        self.page_names = list(PAGE_NAMES)
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setAccessibleName("Pages")
        self.sidebar.setFixedWidth(170)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stack = QStackedWidget()
        for i, (name, widget) in enumerate(pages):
            self.sidebar.addItem(name)
            self.sidebar.item(i).setToolTip(f"{name} ({native_keys(page_key(i))})")
            self.stack.addWidget(widget)
            # Ctrl+1..9 jump to a page from anywhere.
            shortcut = QShortcut(QKeySequence(page_key(i)), self)
            shortcut.activated.connect(lambda i=i: self.show_page(i))
        self.sidebar.setToolTip(
            f"Pages: Up/Down arrows move between them here; {native_keys(page_key(0))} to "
            f"{native_keys(page_key(len(pages) - 1))} open one from anywhere. {native_keys(SYNC_KEY)} syncs changes, "
            f"{native_keys(CANCEL_KEY)} cancels a running sync, {native_keys(RELOAD_KEY)} reloads the page."
        )
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        # The main actions from any page; each page's buttons say their keys in their tooltips.
        self.sync_shortcut = QShortcut(QKeySequence(SYNC_KEY), self)
        self.sync_shortcut.activated.connect(self._sync_changes)
        self.cancel_shortcut = QShortcut(QKeySequence(CANCEL_KEY), self)
        self.cancel_shortcut.activated.connect(self.sync_page.cancel)
        self.reload_shortcut = QShortcut(QKeySequence(RELOAD_KEY), self)
        self.reload_shortcut.activated.connect(self.reload_current_page)

        body = QWidget()
        bl = QHBoxLayout(body)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(0)
        bl.addWidget(self.sidebar)
        bl.addWidget(self.stack, 1)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(header)
        self.onboarding = Onboarding(self)  # the welcome screen while there is no profile; then next steps
        cl.addWidget(self.onboarding.next_step)
        cl.addWidget(body, 1)
        self.setCentralWidget(self.onboarding.screens(central))
        # Settings are the profile's, edited on the Connect page.
        self.menu_actions = build_menu_bar(self, lambda: self.show_page("Connect"))
        QWidget.setTabOrder(self.profile_combo, self.profile_menu_button)
        QWidget.setTabOrder(self.profile_menu_button, self.sidebar)

        # -- status bar
        self.status_profile = QLabel()
        self.status_region = QLabel()
        self.status_keyring = QLabel()
        for w, name in (
            (self.status_profile, "Current profile"),
            (self.status_region, "Customer.io region"),
            (self.status_keyring, "Where secrets are kept"),
        ):
            w.setAccessibleName(name)
            self.statusBar().addPermanentWidget(w)
        self.statusBar().setSizeGripEnabled(True)

        self.profile_combo.activated.connect(self._profile_chosen)
        # Before _update_status: a new workspace resets the region text the status bar then shows.
        self._region_for: tuple[str, ...] = ()
        self._region_generation = 0
        self.ctx.profile_changed.connect(self._detect_region)
        self.ctx.profile_changed.connect(self._update_status)
        self.ctx.save_failed.connect(lambda m: self.header_status.show_status(ErrorKind.ERROR, m))
        self.ctx.saved.connect(lambda _p: self.header_status.clear_status())
        self.sync_page.run_started.connect(self._sync_started)
        self.sync_page.run_finished.connect(self._sync_finished)
        self.sync_page.run_ended.connect(self._sync_ended)
        self.history_page.deletions_approved.connect(self._run_approved_deletions)
        self._restore_settings()
        self._update_status(None)
        runner.submit("keyring-name", lambda _j: secrets.backend_name(), on_result=self._show_keyring, serial=True)

    # ------------------------------------------------------------------ pages
    def _make_webhook_page(self) -> WebhookPage:
        page = WebhookPage(runner=self.runner)
        shown: list[tuple[str, ...]] = []

        def profile_changed(p: Profile | None) -> None:
            # Only what the webhook page shows: other edits must not restart its receiver setup.
            key: tuple[str, ...] = (p.name, p.webhook_public_url, p.webhook_listen, p.cio_site_id) if p else ()
            if p is not None:  # the activity view's endpoint and retention settings
                key += (p.forward_url, p.forward_shape.value, str(p.activity_retention_days))
            if p is None or (shown and shown[-1] == key):
                return
            shown[:] = [key]
            page.set_context(p, self.secrets, demo=self.demo)

        self.ctx.profile_changed.connect(profile_changed)

        def settings_edited(changes: dict[str, str]) -> None:
            error = self.ctx.update(**changes)
            if error:
                page.show_settings_error(error)

        page.settings_edited.connect(settings_edited)

        def restore_url(name: str, url: str) -> None:
            store = self.store

            def work(_job: JobContext) -> Profile:
                restored = store.load(name).replace(webhook_public_url=url)
                store.save(restored)
                return restored

            def saved(restored: Profile) -> None:
                if name in self._profiles:  # opening it again must not bring the dead address back
                    self._profiles[name] = restored

            self.runner.submit(
                "webhook-restore-url",
                work,
                serial=True,
                on_result=saved,
                on_error=lambda e: log.warning("could not put back the public URL of %s: %s", name, e),
            )

        page.public_url_restore.connect(restore_url)
        return page

    def show_page(self, index_or_name: int | str) -> None:
        index = self.page_names.index(index_or_name) if isinstance(index_or_name, str) else index_or_name
        if 0 <= index < self.sidebar.count():
            self.sidebar.setCurrentRow(index)

    def _run_approved_deletions(self, mode: str, approval: DeletionApproval) -> None:
        self.show_page("Sync")  # the approved run shows its progress and outcome there
        if self.sync_page.running:
            self.sync_page.summary.show_status(
                ErrorKind.WARNING, "A sync is running: approve the deletions again from History once it has finished."
            )
            return
        self.sync_page.start(RunMode.INCREMENTAL if mode == RunMode.INCREMENTAL else RunMode.FULL, approval)

    def _sync_changes(self) -> None:
        self.show_page("Sync")  # the progress and any "nobody chosen" warning are shown there
        self.sync_page.request(RunMode.INCREMENTAL)

    def reload_current_page(self) -> None:
        """F5: read again what the current page shows (segments, event names, preview, history)."""
        page = self.current_page_name()
        if page in ("Audience", "Events", "Fields") and self.ctx.profile is not None:
            self.ctx.load_catalog()
        elif page == "Preview":
            self.preview_page.load()
        elif page == "History":
            self.history_page.refresh()

    def current_page_name(self) -> str:
        return self.page_names[self.stack.currentIndex()]

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = gui_settings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(default_window_size(self.screen().availableGeometry()))
        page = s.value("window/page", "Connect")
        self.show_page(self.page_names.index(page) if page in self.page_names else 0)

    def save_settings(self) -> None:
        s = gui_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/page", self.current_page_name())
        if self.ctx.profile is not None and not self.demo:
            s.setValue("profile/last", self.ctx.profile.name)
        s.sync()

    # ------------------------------------------------------------------ profiles
    def load_profiles(self, preferred: str | None = None) -> None:
        """Read the profile list off the GUI thread; open ``preferred`` (or the last used, or the first)."""
        store = self.store

        def work(_job: JobContext) -> tuple[list[Profile], list[ProfileLoadError]]:
            return store.load_all()

        def loaded(result: tuple[list[Profile], list[ProfileLoadError]]) -> None:
            profiles, errors = result
            if errors:
                self.header_status.show_status(
                    ErrorKind.WARNING, " ".join(str(e) for e in errors[:2]) + (" …" if len(errors) > 2 else "")
                )
            self._set_profile_list(profiles)
            self.profiles_loaded.emit([p.name for p in profiles])
            if not profiles:
                self.ctx.set_profile(None)  # the welcome screen takes over (Onboarding)
                return
            last = preferred or str(gui_settings().value("profile/last", "") or "")
            chosen = next((p for p in profiles if p.name == last), profiles[0])
            if preferred and chosen.name != preferred:
                known = ", ".join(p.name for p in profiles)
                self.header_status.show_status(
                    ErrorKind.WARNING,
                    f"There is no profile named “{preferred}” (profiles: {known}); opened “{chosen.name}”.",
                )
            self.open_profile(chosen)

        self.runner.submit(
            "profiles",
            work,
            on_result=loaded,
            on_error=lambda e: self.header_status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )

    def _set_profile_list(self, profiles: list[Profile]) -> None:
        self._profiles = {p.name: p for p in profiles}
        self._profile_names = [p.name for p in profiles]
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        for p in profiles:
            self.profile_combo.addItem(p.name)
        self.profile_combo.blockSignals(False)
        has = bool(profiles)
        for a in (self.duplicate_action, self.rename_action, self.export_action, self.delete_action):
            a.setEnabled(has)

    def open_profile(self, profile: Profile) -> None:
        if self.ctx.sync_running:
            self.header_status.show_status(ErrorKind.WARNING, "A sync is running: switch profiles when it ends.")
            return
        pos = self.profile_combo.findText(profile.name)
        if pos >= 0:
            self.profile_combo.setCurrentIndex(pos)
        self._region_for = ()  # a profile opened afresh has its region checked afresh (_detect_region)
        self.ctx.set_profile(profile)
        self.connect_page.load_secrets()

    def _profile_chosen(self, index: int) -> None:
        name = self.profile_combo.itemText(index)
        if self.ctx.profile is not None and name == self.ctx.profile.name:
            return
        profile = self._profiles.get(name)
        if profile is not None:
            self.open_profile(profile)

    def open_wizard(self, source: SourceKind = SourceKind.HULL_API) -> None:
        from cio_desktop.gui.wizard import SetupWizard

        if self.wizard is not None:
            self.wizard.raise_()
            return
        self.wizard = SetupWizard(
            self.runner, self.store, self.secrets, list(self._profile_names), source=source, parent=self
        )
        self.wizard.profile_created.connect(lambda p: self.load_profiles(p.name))
        self.wizard.finished.connect(self._wizard_closed)
        self.wizard_opened.emit(self.wizard)
        self.wizard.open()

    def _wizard_closed(self, _result: int) -> None:
        self.wizard = None  # cancelled without a profile: the welcome screen is still there

    def new_profile(self) -> None:
        self.open_wizard()

    # ------------------------------------------------------------------ status
    def _update_status(self, profile: Profile | None) -> None:
        self.status_profile.setText(f"Profile: {profile.name}" if profile else "No profile")
        region = self.ctx.region_text or (
            profile.cio_region.value.upper() if profile and profile.cio_region.value != "auto" else "auto"
        )
        self.status_region.setText(f"Region: {region}")

    def _detect_region(self, profile: Profile | None) -> None:
        """With 'Detect automatically', ask Customer.io for the workspace's region in the background.

        Runs when another workspace opens (profile, Site ID, region setting or Track host changed); an
        answer that arrives after the next such change is dropped, so it never labels the wrong workspace.
        """
        key = (
            (profile.name, profile.cio_site_id, profile.cio_region.value, profile.endpoints.cio_track)
            if profile is not None
            else ()
        )
        if key == self._region_for:
            return  # an edit elsewhere (segments, fields…): same workspace, same answer
        self._region_for = key
        self._region_generation += 1
        generation = self._region_generation
        self.ctx.region_text = ""
        self.status_region.setToolTip("")
        if profile is None or profile.cio_region is not Region.AUTO or not profile.cio_site_id:
            return
        self.ctx.region_text = "auto (detecting…)"
        secrets, secret_name = self.secrets, self.ctx.secret_name

        def current() -> bool:
            return generation == self._region_generation

        def found(region: Region | None) -> None:
            if not current():
                return
            # No API key saved yet: nothing to ask with; "Test connection" detects it once one is entered.
            self.ctx.region_text = f"{region.value.upper()} (detected)" if region is not None else ""
            self._update_status(self.ctx.profile)

        def failed(exc: BaseException) -> None:
            if not current():
                return
            self.ctx.region_text = "unknown (check the connection)"
            # The reason stays one hover away: a background check must not pop a dialog at the user.
            self.status_region.setToolTip(
                f"Could not detect the region: {backend.error_text(exc)} Use “Test connection” on the Connect page."
            )
            self._update_status(self.ctx.profile)

        self.runner.submit(
            self.ctx.key("region"),
            lambda job: backend.detect_region(profile, secrets, secret_name, job),
            on_result=found,
            on_error=failed,
        )

    def _show_keyring(self, name: str) -> None:
        self.status_keyring.setText(f"Secrets: {name}")

    def _sync_started(self, _mode: RunMode) -> None:
        self.profile_combo.setEnabled(False)
        self.profile_menu_button.setEnabled(False)

    def _sync_finished(self, _status: RunStatus, _summary: RunSummary | None) -> None:
        self.profile_combo.setEnabled(True)
        self.profile_menu_button.setEnabled(True)
        self.history_page.refresh()

    def _sync_ended(self) -> None:
        if self._closing_after_cancel:
            QTimer.singleShot(0, self.close)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.sync_page.running and not self._closing_after_cancel:
            answer = QMessageBox.question(
                self,
                "A sync is running",
                "A sync is running. Cancel it and quit? People already sent stay sent; the next sync continues "
                "where this one stopped.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self._closing_after_cancel = True
            self.sync_page.cancel()
            self.header_status.show_status(ErrorKind.BUSY, "Cancelling the sync, then quitting…")
            event.ignore()
            return
        if self.sync_page.running:
            event.ignore()  # still cancelling: _sync_ended closes again
            return
        self.save_settings()
        self.webhook_page.shutdown()
        self.runner.shutdown(10000)
        event.accept()
