"""Connect: where the users come from (Hull API or export files) and which Customer.io workspace.

Each service has its own "Test connection" with the result inline. Secrets are masked; they are kept
by the context's secret store (the OS keyring in the main window) and a line says where.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import Profile, Region, SourceKind
from cio_desktop.config.secrets import SecretKey
from cio_desktop.gui import backend
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.pages.endpoints import EndpointsSection
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import HowTo, Page, SecretField, StatusLine, hint, tab_chain
from cio_desktop.hull.source import SourceError
from cio_desktop.net.errors import NetworkError, NotFoundError, OrganizationDisabledError

HULL_HOWTO = (
    "In your Hull organization, open the <b>Connectors</b> page and open the Customer.io connector "
    "(or <i>Add Connector</i> &gt; <i>Install</i> on the Customer.io card). Its <b>Settings</b> tab lists the "
    "credentials: the <b>Organization</b> (a host like <tt>acme.hullapp.io</tt>), the connector <b>ID</b> "
    "(24 characters) and the <b>Secret</b>."
)
CIO_HOWTO = (
    "In your Customer.io dashboard, choose <b>Integrations</b> in the menu on the left and click "
    "<b>Settings</b> next to <i>Customer.io API</i> (newer accounts: <i>Settings &gt; Workspace Settings &gt; "
    "API and webhook credentials</i>). Note down the <b>Site ID</b> and the <b>API Key</b>. The optional "
    "<b>App API Key</b> (App API Keys tab) lets this app read people back to verify a sync. "
    "Workspaces in the EU data center are detected automatically."
)
HULL_GONE = (
    "Hull's platform was switched off at the end of 2022, so {org} no longer answers. If you kept Hull "
    "export files, choose “Hull export files” above."
)
RESULT_LINES = 3  # room kept for a test result, so showing it moves nothing under the mouse
FILES_HOWTO = (
    "Use the files of a Hull export: users as JSON lines (<tt>.jsonl</tt>), JSON or CSV (optionally "
    "<tt>.gz</tt>), and optionally the events as JSON lines. Drop the files here or choose them."
)


class _DropGroup(QGroupBox):
    """A group box that accepts dropped files (users file first, then events file)."""

    files_dropped = Signal(list)

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.files_dropped.emit(paths)
            event.acceptProposedAction()


class ConnectPage(Page):
    """Signals: ``tested(str, bool)``: a connection test ended (service "hull"/"cio"/"files", success)."""

    tested = Signal(str, bool)

    def __init__(self, ctx: AppContext, *, show_name: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(
            "Connect",
            "Tell the app where your people come from and which Customer.io workspace receives them.",
            parent,
        )
        self.ctx = ctx
        self._loading = False
        lay = self.body_layout

        # -- profile name (wizard only: the main window renames through the profile menu)
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Profile name")
        self.name_edit.setPlaceholderText("e.g. Acme production")
        self.name_status = StatusLine(name="Profile name problem")
        if show_name:
            box = QGroupBox("Profile")
            form = QFormLayout(box)
            form.addRow("Name", self.name_edit)
            form.addRow("", self.name_status)
            lay.addWidget(box)
            self.name_edit.editingFinished.connect(self._name_edited)

        # -- source choice
        self.api_radio = QRadioButton("Hull organization (live API)")
        self.files_radio = QRadioButton("Hull export files")
        self.api_radio.setAccessibleName("Use the Hull API")
        self.files_radio.setAccessibleName("Use Hull export files")
        self.source_group = QButtonGroup(self)
        self.source_group.addButton(self.api_radio)
        self.source_group.addButton(self.files_radio)
        row = QHBoxLayout()
        row.addWidget(self.api_radio)
        row.addWidget(self.files_radio)
        row.addStretch(1)
        lay.addLayout(row)
        self.api_radio.toggled.connect(self._source_toggled)

        # -- Hull API
        self.hull_box = QGroupBox("Hull")
        form = QFormLayout(self.hull_box)
        self.org_edit = QLineEdit()
        self.org_edit.setPlaceholderText("acme.hullapp.io")
        self.org_edit.setAccessibleName("Hull organization")
        self.connector_edit = QLineEdit()
        self.connector_edit.setPlaceholderText("24 characters, e.g. 5a1b2c3d4e5f60718293a4b5")
        self.connector_edit.setAccessibleName("Hull connector ID")
        self.hull_secret = SecretField("Hull connector secret")
        self.hull_test = QPushButton("Test connection")
        self.hull_test.setAccessibleName("Test the Hull connection")
        self.hull_status = _reserved(StatusLine(name="Hull connection result"))
        form.addRow("Organization", self.org_edit)
        form.addRow("Connector ID", self.connector_edit)
        form.addRow("Connector secret", self.hull_secret)
        form.addRow("", self._row(self.hull_test, self.hull_status))
        self.hull_howto = HowTo(HULL_HOWTO)
        form.addRow(self.hull_howto)
        lay.addWidget(self.hull_box)

        # -- export files
        self.files_box = _DropGroup("Hull export files")
        vf = QVBoxLayout(self.files_box)
        vf.addWidget(hint(FILES_HOWTO))
        fform = QFormLayout()
        self.users_edit = QLineEdit()
        self.users_edit.setAccessibleName("Users file")
        self.users_edit.setPlaceholderText("users.jsonl")
        self.events_edit = QLineEdit()
        self.events_edit.setAccessibleName("Events file (optional)")
        self.events_edit.setPlaceholderText("events.jsonl (optional)")
        self.users_browse = QPushButton("Choose…")
        self.users_browse.setAccessibleName("Choose the users file")
        self.events_browse = QPushButton("Choose…")
        self.events_browse.setAccessibleName("Choose the events file")
        self.users_browse.clicked.connect(lambda: self._browse(self.users_edit, "Choose the users export"))
        self.events_browse.clicked.connect(lambda: self._browse(self.events_edit, "Choose the events export"))
        fform.addRow("Users", self._row(self.users_edit, self.users_browse))
        fform.addRow("Events", self._row(self.events_edit, self.events_browse))
        vf.addLayout(fform)
        self.files_test = QPushButton("Check files")
        self.files_test.setAccessibleName("Check the export files")
        self.files_progress = QProgressBar()
        self.files_progress.setAccessibleName("File check progress")
        self.files_progress.setVisible(False)
        self.files_status = _reserved(StatusLine(name="File check result"))
        retain = self.files_progress.sizePolicy()
        retain.setRetainSizeWhenHidden(True)  # its row keeps its height while no check runs
        self.files_progress.setSizePolicy(retain)
        vf.addWidget(self._row(self.files_test, self.files_progress))
        vf.addWidget(self.files_status)
        self.files_box.files_dropped.connect(self._dropped)
        lay.addWidget(self.files_box)

        # -- Customer.io
        self.cio_box = QGroupBox("Customer.io")
        cform = QFormLayout(self.cio_box)
        self.site_edit = QLineEdit()
        self.site_edit.setAccessibleName("Customer.io Site ID")
        self.site_edit.setPlaceholderText("Site ID")
        self.api_key = SecretField("Customer.io API key")
        self.app_key = SecretField("Customer.io App API key (optional)")
        self.app_key.setPlaceholderText("optional")
        self.region_combo = QComboBox()
        self.region_combo.setAccessibleName("Customer.io region")
        for text, region in (("Detect automatically", Region.AUTO), ("US", Region.US), ("EU", Region.EU)):
            self.region_combo.addItem(text, region.value)  # plain str: QVariant does not keep the enum
        self.cio_test = QPushButton("Test connection")
        self.cio_test.setAccessibleName("Test the Customer.io connection")
        self.cio_status = _reserved(StatusLine(name="Customer.io connection result"))
        cform.addRow("Site ID", self.site_edit)
        cform.addRow("API key", self.api_key)
        cform.addRow("App API key", self.app_key)
        cform.addRow("Region", self.region_combo)
        cform.addRow("", self._row(self.cio_test, self.cio_status))
        self.cio_howto = HowTo(CIO_HOWTO)
        cform.addRow(self.cio_howto)
        lay.addWidget(self.cio_box)

        self.endpoints = EndpointsSection(ctx)
        lay.addWidget(self.endpoints)

        self.secrets_line = StatusLine(name="Where secrets are kept")
        lay.addWidget(self.secrets_line)
        # Where secrets go (from the store, read off the GUI thread) and whether one was kept yet: the line
        # says "Stored in …" only once a secret really was.
        self._where: tuple[ErrorKind, str] | None = None
        self._secret_kept = False
        # The export files' last check: running, or the reason they cannot be used ("" when they can).
        self.files_checking = False
        self.files_error = ""
        self.save_status = StatusLine(name="Save problem")
        lay.addWidget(self.save_status)
        lay.addStretch(1)

        # Edits are applied when a field is left (not per keystroke: no half-typed host is validated).
        for w in (self.org_edit, self.connector_edit, self.site_edit, self.users_edit, self.events_edit):
            w.editingFinished.connect(self._fields_edited)
        self.region_combo.currentIndexChanged.connect(self._fields_edited)
        # In backend.PROFILE_SECRETS order: commit() keeps them in this order.
        self.secret_fields = {
            SecretKey.HULL_SECRET: self.hull_secret,
            SecretKey.CIO_API_KEY: self.api_key,
            SecretKey.CIO_APP_KEY: self.app_key,
        }
        for key, field in self.secret_fields.items():
            field.editingFinished.connect(lambda k=key, f=field: self._keep_secret(k, f.text()))
        self.hull_test.clicked.connect(self.test_hull)
        self.cio_test.clicked.connect(self.test_cio)
        self.files_test.clicked.connect(self.check_files)
        ctx.profile_changed.connect(self._profile_changed)
        ctx.save_failed.connect(lambda msg: self.save_status.show_status(ErrorKind.ERROR, msg))
        QTimer.singleShot(0, self._show_backend)
        self._profile_changed(ctx.profile)
        self._apply_tab_order(show_name)

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        # Inputs and result lines take the room; buttons keep their natural size.
        for x in widgets:
            if isinstance(x, QPushButton):
                x.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            if isinstance(x, QPushButton):
                h.addWidget(x, 0, Qt.AlignmentFlag.AlignTop)  # stays put when the result beside it wraps
            else:
                h.addWidget(x, 1)
        h.addStretch(0)  # takes the room only while the result line is hidden
        return w

    def _apply_tab_order(self, with_name: bool) -> None:
        chain: list[QWidget] = [
            self.api_radio,
            self.files_radio,
            self.org_edit,
            self.connector_edit,
            self.hull_secret.edit,
            self.hull_secret.toggle,
            self.hull_test,
            self.hull_howto.button,
            self.users_edit,
            self.users_browse,
            self.events_edit,
            self.events_browse,
            self.files_test,
            self.site_edit,
            self.api_key.edit,
            self.api_key.toggle,
            self.app_key.edit,
            self.app_key.toggle,
            self.region_combo,
            self.cio_test,
            self.cio_howto.button,
        ]
        chain += self.endpoints.focus_chain()
        if with_name:
            chain.insert(0, self.name_edit)
        tab_chain(chain)

    # ------------------------------------------------------------------ load
    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None or self._loading:
            return
        self._loading = True
        try:
            if not self.name_edit.hasFocus():
                self.name_edit.setText(profile.name)
            (self.files_radio if profile.source is SourceKind.FILES else self.api_radio).setChecked(True)
            self._set_if_idle(self.org_edit, profile.hull_organization)
            self._set_if_idle(self.connector_edit, profile.hull_connector_id)
            self._set_if_idle(self.site_edit, profile.cio_site_id)
            self._set_if_idle(self.users_edit, profile.files.users_path)
            self._set_if_idle(self.events_edit, profile.files.events_path)
            self.region_combo.setCurrentIndex(max(0, self.region_combo.findData(profile.cio_region.value)))
            self._source_toggled()
        finally:
            self._loading = False

    def load_secrets(self) -> None:
        """Fill the masked fields from the secret store (read off the GUI thread)."""

        def fill(values: dict[SecretKey, str]) -> None:
            for key, field in self.secret_fields.items():
                field.setText(values.get(key, ""))
            self._secret_kept = any(values.values())
            self._show_where()

        self.ctx.get_secrets(fill)

    @staticmethod
    def _set_if_idle(edit: QLineEdit, value: str) -> None:
        if not edit.hasFocus() and edit.text() != value:
            edit.setText(value)

    def _show_backend(self) -> None:
        def shown(text: tuple[ErrorKind, str]) -> None:
            self._where = text
            self._show_where()

        self.ctx.runner.submit(
            self.ctx.key("keyring-where"),
            lambda _j: backend.secrets_where(self.ctx.display_secrets),
            on_result=shown,
            serial=True,
        )

    def _show_where(self) -> None:
        if self._where is None:
            return
        kind, message = self._where
        if kind is ErrorKind.OK and message.startswith("Stored in"):
            where = "s" + message[1:]  # "stored in your system keyring (…)."
            if self.ctx.secrets is not self.ctx.display_secrets:  # the wizard keeps them until Finish
                message = f"Your secrets will be {where[:-1]} when you click “Save and finish”."
            elif not self._secret_kept:
                message = f"Secrets you enter will be {where}"
                kind = ErrorKind.PLAIN
        self.secrets_line.show_status(kind, message)

    def _keep_secret(self, key: SecretKey, value: str, on_done: Callable[[], None] | None = None) -> None:
        def kept() -> None:
            if value:
                self._secret_kept = True
                self._show_where()
            if on_done is not None:
                on_done()

        self.ctx.set_secret(key, value, on_done=kept)

    # ------------------------------------------------------------------ edits
    def _source_toggled(self, *_: object) -> None:
        files = self.files_radio.isChecked()
        self.hull_box.setVisible(not files)
        self.files_box.setVisible(files)
        if not self._loading:
            self._fields_edited()

    def _name_edited(self) -> None:
        name = self.name_edit.text().strip()
        if self.ctx.profile is None or name == self.ctx.profile.name:
            return
        err = self.ctx.update(name=name)
        if err:
            self.name_status.show_status(ErrorKind.ERROR, err)
        else:
            self.name_status.clear_status()

    def _fields_edited(self, *_: object) -> None:
        if self._loading or self.ctx.profile is None:
            return
        files_before = self.ctx.profile.files
        changes = {
            "source": SourceKind.FILES if self.files_radio.isChecked() else SourceKind.HULL_API,
            "hull_organization": self.org_edit.text().strip(),
            "hull_connector_id": self.connector_edit.text().strip().lower(),
            "cio_site_id": self.site_edit.text().strip(),
            "cio_region": Region(self.region_combo.currentData() or Region.AUTO.value),
            # replace(): settings the page does not show (the record size limit) are kept.
            "files": dataclasses.replace(
                self.ctx.profile.files,
                users_path=self.users_edit.text().strip(),
                events_path=self.events_edit.text().strip(),
            ),
        }
        err = self.ctx.update(**changes)
        if err:
            self.save_status.show_status(ErrorKind.ERROR, err)
        else:
            self.save_status.clear_status()
        files = self.ctx.profile.files
        if (files.users_path, files.events_path) != (files_before.users_path, files_before.events_path):
            # Other files: the last check no longer applies; check the new ones right away.
            self.files_error = ""
            self.files_status.clear_status()
            if files.users_path and self.files_radio.isChecked():
                self.check_files()

    def commit(self, on_done: Callable[[], None] | None = None) -> None:
        """Apply every field and keep every secret now (leaving the page); ``on_done`` once all are kept."""
        self._fields_edited()
        self._name_edited()
        *first, (last_key, last_field) = self.secret_fields.items()
        for key, field in first:
            self._keep_secret(key, field.text())
        self._keep_secret(last_key, last_field.text(), on_done=on_done)  # kept after the others (serial)

    def _browse(self, edit: QLineEdit, title: str) -> None:
        start = str(Path(edit.text()).parent) if edit.text() else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, title, start, "Hull exports (*.jsonl *.json *.csv *.gz *.ndjson);;All files (*)"
        )
        if path:
            edit.setText(path)
            self._fields_edited()

    def _dropped(self, paths: list[str]) -> None:
        self.users_edit.setText(paths[0])
        if len(paths) > 1:
            self.events_edit.setText(paths[1])
        self._fields_edited()

    # ------------------------------------------------------------------ tests
    def test_hull(self) -> None:
        self._fields_edited()
        profile = self.ctx.profile
        if profile is None:
            return
        secret = self.hull_secret.text()
        missing = [
            n
            for n, v in (
                ("organization", profile.hull_organization),
                ("connector ID", profile.hull_connector_id),
                ("connector secret", secret),
            )
            if not v
        ]
        if missing:
            self.hull_status.show_status(ErrorKind.ERROR, "Fill in the " + ", ".join(missing) + " first.")
            self.tested.emit("hull", False)
            return
        self._keep_secret(SecretKey.HULL_SECRET, secret)
        self.hull_status.show_status(ErrorKind.BUSY, "Checking…")
        self.hull_test.setEnabled(False)
        self.ctx.runner.submit(
            self.ctx.key("test-hull"),
            lambda _j: backend.test_hull(profile, secret),
            on_result=lambda msg: self._tested(self.hull_status, "hull", True, msg),
            on_error=lambda e: self._tested(self.hull_status, "hull", False, hull_failure_text(profile, e)),
            on_finished=lambda: self.hull_test.setEnabled(True),
        )

    def test_cio(self) -> None:
        self._fields_edited()
        profile = self.ctx.profile
        if profile is None:
            return
        api_key, app_key = self.api_key.text(), self.app_key.text()
        if not profile.cio_site_id or not api_key:
            self.cio_status.show_status(ErrorKind.ERROR, "Fill in the Site ID and the API key first.")
            self.tested.emit("cio", False)
            return
        self._keep_secret(SecretKey.CIO_API_KEY, api_key)
        self._keep_secret(SecretKey.CIO_APP_KEY, app_key)
        self.cio_status.show_status(ErrorKind.BUSY, "Checking…")
        self.cio_test.setEnabled(False)

        def ok(result: tuple[str, Region | None]) -> None:
            message, region = result
            if region is not None:
                self.ctx.region_text = region.value.upper()
                self.ctx.profile_changed.emit(self.ctx.profile)
            self._tested(self.cio_status, "cio", True, message)

        self.ctx.runner.submit(
            self.ctx.key("test-cio"),
            lambda _j: backend.test_cio(profile, api_key, app_key),
            on_result=ok,
            on_error=lambda e: self._tested(self.cio_status, "cio", False, backend.error_text(e)),
            on_finished=lambda: self.cio_test.setEnabled(True),
        )

    def check_files(self) -> None:
        self._fields_edited()
        profile = self.ctx.profile
        if profile is None:
            return
        if not profile.files.users_path:
            self.files_error = "Choose the users file first."
            self.files_status.show_status(ErrorKind.ERROR, self.files_error)
            self.tested.emit("files", False)
            return
        self.files_checking = True
        self.files_status.show_status(ErrorKind.BUSY, "Reading the files…")
        self.files_progress.setVisible(True)
        self.files_progress.setRange(0, 0)
        self.files_test.setEnabled(False)

        def progress(value: tuple[int, int]) -> None:
            done, total = value
            if total:
                self.files_progress.setRange(0, 1000)
                self.files_progress.setValue(int(1000 * done / total))

        def finished() -> None:
            self.files_test.setEnabled(True)
            self.files_progress.setVisible(False)

        def checked(ok: bool, message: str) -> None:
            self.files_checking = False
            self.files_error = "" if ok else message
            self._tested(self.files_status, "files", ok, message)

        self.ctx.runner.submit(
            self.ctx.key("check-files"),
            lambda job: backend.check_files(profile, job),
            on_result=lambda msg: checked(True, msg),
            on_error=lambda e: checked(False, backend.error_text(e)),
            on_progress=progress,
            on_finished=finished,
        )

    def _tested(self, line: StatusLine, service: str, ok: bool, message: str) -> None:
        line.show_status(ErrorKind.OK if ok else ErrorKind.ERROR, message)
        self.tested.emit(service, ok)
        if ok:
            self.ctx.load_catalog()


def _reserved(line: StatusLine) -> StatusLine:
    """Keep ``RESULT_LINES`` lines of room for ``line`` whether or not it shows a result."""
    line.setMinimumHeight(line.fontMetrics().lineSpacing() * RESULT_LINES)
    line.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    policy = line.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    line.setSizePolicy(policy)
    return line


def hull_failure_text(profile: Profile, exc: BaseException) -> str:
    """Why the Hull test failed; an unreachable Hull-hosted organization points at export files."""
    text = backend.error_text(exc)
    cause = exc.__cause__ if isinstance(exc, SourceError) else exc  # the Hull source wraps the client's error
    gone = isinstance(cause, NetworkError | NotFoundError | OrganizationDisabledError)
    if gone and profile.hull_organization.lower().endswith(".hullapp.io"):
        text += " " + HULL_GONE.format(org=profile.hull_organization)
    return text
