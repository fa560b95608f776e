"""Webhook page: set up Customer.io's reporting webhook and watch email activity flow into Hull.

Everything slow (keyring, SQLite, sockets, the test request, the tunnel program) runs on worker threads
through :class:`JobRunner`; the GUI thread only updates widgets. A QTimer asks a worker for the receiver
status and the inbox once a second while the page is visible or the receiver runs; the same tick notices
when the computer slept (:class:`WakeDetector`) and brings the receiver and its tunnel back.

Signals:
    receiver_state_changed(bool): the receiver started (True) or stopped (False).
    settings_edited(dict): the user changed the public URL or listen address (profile fields to update).
    public_url_restore(str, str): a profile left while its tunnel ran gets back its earlier public URL.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.gui.pages.activity import ActivityView
from cio_desktop.gui.pages.webhook_actions import ReceiverActions
from cio_desktop.gui.pages.webhook_receiver import ReceiverPanel
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, SecretField, StatusLine, hint
from cio_desktop.gui.workers import JobContext, JobRunner
from cio_desktop.webhooks.service import WebhookService, WebhookStatus
from cio_desktop.webhooks.setup import WebhookUrlError, ensure_token, setup_instructions, webhook_url
from cio_desktop.webhooks.wake import WakeDetector

REFRESH_MS = 1000


class WebhookPage(ReceiverActions, Page):
    """The Webhook page. Call :meth:`set_context` with the open profile and the secret store."""

    receiver_state_changed = Signal(bool)
    settings_edited = Signal(dict)
    public_url_restore = Signal(str, str)  # (profile name, URL): another profile's pre-tunnel URL to save

    def __init__(self, parent: QWidget | None = None, runner: JobRunner | None = None) -> None:
        super().__init__(
            "Webhook",
            "Customer.io reports email activity (sent, opened, clicked, bounced, ...) to a URL. Run the receiver "
            "here and those events arrive in Hull as track events on the person.",
            parent,
        )
        self.runner = runner or JobRunner(self)
        self.profile: Profile | None = None
        self.secrets: SecretStore | None = None
        self.demo = False
        self.service: WebhookService | None = None
        self._url = ""
        self._token = ""
        self._instructions = ""
        self._local_url = ""
        self._generation = 0
        self._url_before_tunnel: str | None = None  # the public URL to put back when the tunnel stops
        self._watched_test: tuple[str, str] | None = None  # (event id, person) of the demo test event
        self.wake = WakeDetector()
        self._shut_down = False

        # -- receiver first: its controls and status are what people come back to look at
        self.receiver_panel = ReceiverPanel()
        panel = self.receiver_panel
        self.start_button, self.stop_button, self.test_button = panel.start_button, panel.stop_button, panel.test_button
        self.tunnel_button, self.tunnel_status = panel.tunnel_button, panel.tunnel_status
        self.receiver_status, self.forwarding_status = panel.receiver_status, panel.forwarding_status
        self.counts_label, self.last_event_label, self.test_status = (
            panel.counts_label,
            panel.last_event_label,
            panel.test_status,
        )
        self.body_layout.addWidget(panel)

        # -- where Customer.io reaches this computer (profile settings)
        reach_box = QGroupBox("Where Customer.io reaches this computer")
        reach = QGridLayout(reach_box)
        self.public_url_edit = QLineEdit()
        self.public_url_edit.setPlaceholderText("https://hooks.example.com")
        self.public_url_edit.setAccessibleName("Public URL")
        self.public_url_edit.setToolTip(
            "The public HTTPS address of a tunnel or reverse proxy that forwards to the listen address. "
            "“Get a public URL” fills it in."
        )
        self.listen_edit = QLineEdit()
        self.listen_edit.setPlaceholderText("127.0.0.1:8765")
        self.listen_edit.setAccessibleName("Listen address")
        reach.addWidget(QLabel("Public URL"), 0, 0)
        reach.addWidget(self.public_url_edit, 0, 1)
        reach.addWidget(QLabel("Listen address"), 1, 0)
        reach.addWidget(self.listen_edit, 1, 1)
        self.settings_status = StatusLine(name="Webhook settings problem")
        reach.addWidget(self.settings_status, 2, 0, 1, 2)
        self.body_layout.addWidget(reach_box)

        # -- URL
        url_box = QGroupBox("1. The webhook URL to paste into Customer.io")
        ul = QVBoxLayout(url_box)
        row = QHBoxLayout()
        self.url_edit = QLineEdit()
        self.url_edit.setReadOnly(True)
        self.url_edit.setAccessibleName("Webhook URL")
        # The token in the URL is a secret: shown masked (and so in screenshots) unless asked for.
        self.show_token_button = QPushButton("Show")
        self.show_token_button.setCheckable(True)
        self.show_token_button.setAccessibleName("Show the secret token in the webhook URL")
        self.show_token_button.toggled.connect(self._token_toggled)
        self.copy_url_button = QPushButton("Copy")
        self.copy_url_button.setAccessibleName("Copy webhook URL")
        self.copy_url_button.setEnabled(False)
        row.addWidget(self.url_edit, 1)
        row.addWidget(self.show_token_button)
        row.addWidget(self.copy_url_button)
        ul.addLayout(row)
        self.url_status = StatusLine(name="Webhook URL problem")
        ul.addWidget(self.url_status)
        ul.addWidget(
            hint(
                "The URL contains a secret token: anyone with it can post events. Customer.io must reach this "
                "computer at the profile's public URL (a tunnel or reverse proxy to the listen address)."
            )
        )
        self.body_layout.addWidget(url_box)

        # -- instructions
        steps_box = QGroupBox("2. Set it up in Customer.io")
        sl = QVBoxLayout(steps_box)
        self.instructions = QPlainTextEdit()
        self.instructions.setTabChangesFocus(True)  # Tab moves on; the steps are read, not typed
        self.instructions.setReadOnly(True)
        self.instructions.setAccessibleName("Setup instructions")
        self.instructions.setMinimumHeight(170)
        self.copy_steps_button = QPushButton("Copy instructions")
        self.copy_steps_button.setAccessibleName("Copy setup instructions")
        self.copy_steps_button.setEnabled(False)
        sl.addWidget(self.instructions)
        sl.addWidget(self.copy_steps_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.body_layout.addWidget(steps_box)

        # -- signing key
        key_box = QGroupBox("3. Signing key")
        kl = QGridLayout(key_box)
        self.key_field = SecretField("Webhook signing key")
        self.key_field.setPlaceholderText("Paste the webhook signing key from Customer.io")
        self.save_key_button = QPushButton("Save key")
        self.save_key_button.setAccessibleName("Save webhook signing key")
        self.key_where = QLabel("")
        self.key_where.setObjectName("hint")
        self.key_where.setWordWrap(True)
        self.key_where.setAccessibleName("Where the signing key is kept")
        self.key_status = StatusLine(name="Signing key result")
        kl.addWidget(self.key_field, 0, 0)
        kl.addWidget(self.save_key_button, 0, 1)
        kl.addWidget(self.key_where, 1, 0, 1, 2)
        kl.addWidget(self.key_status, 2, 0, 1, 2)
        self.body_layout.addWidget(key_box)

        # -- email activity (search, counts, export, retry): gui/pages/activity.py
        self.activity = ActivityView(self.runner)
        self.table, self.filter_combo = self.activity.table, self.activity.filter_combo
        self.retry_button, self.inbox_status = self.activity.retry_button, self.activity.inbox_status
        self.activity.forward_settings.settings_edited.connect(self.settings_edited)
        self.body_layout.addWidget(self.activity, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.timeout.connect(self._tick)

        self.copy_url_button.clicked.connect(self.copy_url)
        self.public_url_edit.editingFinished.connect(self._settings_edited)
        self.listen_edit.editingFinished.connect(self._settings_edited)
        self.copy_steps_button.clicked.connect(self.copy_instructions)
        self.save_key_button.clicked.connect(self.save_signing_key)
        self.start_button.clicked.connect(self.start_receiver)
        self.stop_button.clicked.connect(self.stop_receiver)
        self.test_button.clicked.connect(self.send_test)
        self.tunnel_button.clicked.connect(self.toggle_tunnel)
        app = QGuiApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ context
    def set_context(self, profile: Profile, secrets: SecretStore, demo: bool = False) -> None:
        """Show ``profile``'s webhook. A running receiver of another profile is stopped first."""
        if self._shut_down:
            return  # quitting: the edit that puts the public URL back must not open the inbox again
        same = self.profile is not None and self.profile.name == profile.name and self.secrets is secrets
        if not same and self.profile is not None and self._url_before_tunnel is not None:
            # The old profile's tunnel stops with its service: its address dies, so that profile gets the
            # public URL it had before the tunnel back (the main window saves it, on a worker).
            self.public_url_restore.emit(self.profile.name, self._url_before_tunnel)
        if not self.public_url_edit.hasFocus():
            self.public_url_edit.setText(profile.webhook_public_url)
        if not self.listen_edit.hasFocus():
            self.listen_edit.setText(profile.webhook_listen)
        self.settings_status.clear_status()
        self.profile = profile
        self.secrets = secrets
        self.demo = demo
        self._generation += 1
        generation = self._generation
        old = self.service if not same else None
        need_service = not same or self.service is None
        if not same:
            self.service = None
            self._show_stopped()
            # The old profile's tunnel stops with its service below; nothing of it applies here.
            self._url_before_tunnel = self._watched_test = None
            self.receiver_panel.show_tunnel(None)
            self.tunnel_status.clear_status()
            self.test_status.clear_status()
            self.activity.set_service(None)

        def work(_job: JobContext) -> tuple[str, str, str, str | None, WebhookService | None, str]:
            if old is not None:
                old.close()
            token = ensure_token(profile.name, secrets)
            signing = secrets.get(profile.name, SecretKey.WEBHOOK_SIGNING_KEY)
            where = secrets.where_text()
            try:
                url = webhook_url(profile, token)
                problem = None
            except WebhookUrlError as exc:
                url, problem = "", str(exc)
            instructions = setup_instructions(profile, url or None, signing_key_set=bool(signing))
            service = WebhookService(profile, secrets) if need_service else None
            return url, instructions, where, problem, service, token

        def done(result: tuple[str, str, str, str | None, WebhookService | None, str]) -> None:
            url, instructions, where, problem, service, token = result
            if generation != self._generation:
                if service is not None:
                    self.runner.submit("webhook-close-stale", lambda _j: service.close(), serial=True)
                return
            if service is not None:
                self.service = service
            if self.service is not None:
                self.service.profile = profile
            self.activity.set_service(self.service)
            self._url, self._token, self._instructions = url, token, instructions
            self._render()
            self.copy_url_button.setEnabled(bool(url))
            if problem:
                self.url_status.show_status(ErrorKind.WARNING, problem)
            else:
                self.url_status.clear_status()
            self.copy_steps_button.setEnabled(True)
            self.tunnel_button.setEnabled(self.service is not None)
            self.receiver_panel.set_demo(self.demo)
            self.key_where.setText(f"Never written to a file. {where}.")
            self.retry_button.setEnabled(True)
            self.refresh()

        # One key per generation: a superseded job's result must still arrive so its service gets closed.
        self.runner.submit(
            f"webhook-context-{generation}",
            work,
            on_result=done,
            on_error=lambda e: self.url_status.show_status(ErrorKind.ERROR, str(e)),
            serial=True,
        )

    @property
    def webhook_url(self) -> str:
        """The full URL (with its token) that Copy puts on the clipboard; empty without a public URL."""
        return self._url

    def _token_toggled(self, on: bool) -> None:
        self.show_token_button.setText("Hide" if on else "Show")
        self._render()

    def _render(self) -> None:
        """Show the URL and instructions, the token masked unless "Show" is pressed."""
        show = self.show_token_button.isChecked() or not self._token

        def masked(text: str) -> str:
            return text if show else text.replace(self._token, "\u25cf" * 12)

        self.url_edit.setText(masked(self._url))
        self.instructions.setPlainText(masked(self._instructions))

    def show_settings_error(self, message: str) -> None:
        """The profile refused an edit of the public URL or listen address (shown under the fields)."""
        self.settings_status.show_status(ErrorKind.ERROR, message)

    def _set_public_url(self, url: str) -> None:
        """Use ``url`` as the profile's public URL (the main window saves it and calls set_context)."""
        if self.profile is None:
            return
        self.public_url_edit.setText(url)
        self.settings_edited.emit({"webhook_public_url": url, "webhook_listen": self.profile.webhook_listen})

    def _announce_receiver(self, running: bool) -> None:
        self.receiver_state_changed.emit(running)

    def _settings_edited(self) -> None:
        if self.profile is None:
            return
        url = self.public_url_edit.text().strip()
        listen = self.listen_edit.text().strip() or "127.0.0.1:8765"
        if (url, listen) != (self.profile.webhook_public_url, self.profile.webhook_listen):
            self.settings_edited.emit({"webhook_public_url": url, "webhook_listen": listen})

    # ------------------------------------------------------------------ actions
    def copy_url(self) -> None:
        if self._url:
            QGuiApplication.clipboard().setText(self._url)
            self.url_status.show_status(ErrorKind.OK, "URL copied.")

    def copy_instructions(self) -> None:
        if not self._url:
            # Pasted without the URL the steps cannot be followed: say what is missing instead.
            self.url_status.show_status(
                ErrorKind.WARNING,
                "Nothing copied: the instructions need the webhook URL, and there is none until this computer has "
                "a public URL. Click “Get a public URL” (or enter one under “Where Customer.io reaches "
                "this computer”), then copy again.",
            )
            return
        QGuiApplication.clipboard().setText(self._instructions)
        self.url_status.show_status(ErrorKind.OK, "Instructions copied.")

    def save_signing_key(self) -> None:
        profile, secrets = self.profile, self.secrets
        if profile is None or secrets is None:
            return
        value = self.key_field.text()
        service = self.service

        def work(_job: JobContext) -> str:
            secrets.set(profile.name, SecretKey.WEBHOOK_SIGNING_KEY, value)
            if service is not None:
                service.set_signing_key(value or None)
            return secrets.backend_name()

        def done(backend: str) -> None:
            self.key_field.setText("")
            if value:
                self.key_status.show_status(
                    ErrorKind.OK, f"Signing key saved in {backend}; signatures are now checked."
                )
            else:
                self.key_status.show_status(ErrorKind.WARNING, "Signing key removed: only the URL's token is checked.")

        self.key_status.show_status(ErrorKind.BUSY, "Saving…")
        self.runner.submit(
            "webhook-key",
            work,
            on_result=done,
            on_error=lambda e: self.key_status.show_status(ErrorKind.ERROR, f"Could not save the signing key: {e}"),
            serial=True,
        )

    def refresh(self) -> None:
        """Fetch the status on a worker, then show it; the activity view searches the inbox."""
        service = self.service
        if service is None:
            return

        def done(status: WebhookStatus) -> None:
            if service is not self.service:
                return
            self._show_status(status)
            self.activity.show_destinations(status)

        self.runner.submit("webhook-refresh", lambda _j: service.status(), on_result=done)
        self.activity.refresh()

    def release(self) -> WebhookService | None:
        """Let go of the profile's receiver and inbox for a rename or delete: the caller closes the
        returned service on a worker before the files move (on Windows an open inbox blocks moving
        its folder). The next :meth:`set_context` opens the profile's webhook afresh."""
        service, self.service = self.service, None
        self.profile = None
        self._generation += 1  # a refresh still under way must not bring the old service back
        self._show_stopped()
        return service

    def shutdown(self) -> None:
        """Stop the receiver and close the inbox (the main window calls this on quit)."""
        self.timer.stop()
        self._shut_down = True
        previous, self._url_before_tunnel = self._url_before_tunnel, None
        if previous is not None:
            # The tunnel's address dies with it: the saved profile keeps the public URL it had before.
            self._set_public_url(previous)
        service, self.service = self.service, None
        if service is not None:
            service.close()

    # ------------------------------------------------------------------ display
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._start_timer()
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        # Keep polling while the receiver runs so the counts are current when the user comes back.
        if self.service is None or self.service.receiver is None:
            self.timer.stop()

    def _show_status(self, status: WebhookStatus) -> None:
        self.receiver_panel.show_status(status)


__all__ = ["WebhookPage"]
