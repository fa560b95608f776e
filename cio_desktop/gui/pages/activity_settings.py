"""The activity view's settings: the profile's own HTTPS endpoint, its HMAC key, and retention.

Profile fields are checked here before they are emitted (``settings_edited``), so a bad URL is
explained next to the field; the HMAC key goes to the keyring on a worker, never to a file.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from cio_desktop.config.profile import ForwardShape, Profile, ProfileError
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import SecretField, StatusLine, hint
from cio_desktop.gui.workers import JobContext, JobRunner

SHAPES = ((ForwardShape.SEGMENT, "Segment track calls"), (ForwardShape.HULL, "Hull events"))


class ForwardSettings(QGroupBox):
    """Where else email activity goes, and how long it is kept."""

    settings_edited = Signal(dict)

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__("Forward to your own endpoint, and keep", parent)
        self.runner = runner
        self.profile: Profile | None = None
        self.secrets: SecretStore | None = None
        grid = QGridLayout(self)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://collector.example.com/events (empty: none)")
        self.url_edit.setAccessibleName("HTTPS endpoint URL")
        self.shape_combo = QComboBox()
        self.shape_combo.setAccessibleName("What the endpoint receives")
        for _shape, label in SHAPES:
            self.shape_combo.addItem(label)
        self.key_field = SecretField("HMAC key")
        self.key_field.setPlaceholderText("A long random key you also give the endpoint")
        self.save_key_button = QPushButton("Save key")
        self.save_key_button.setAccessibleName("Save HMAC key")
        self.retention_spin = QSpinBox()
        self.retention_spin.setRange(7, 3650)
        self.retention_spin.setSuffix(" days")
        self.retention_spin.setAccessibleName("Keep activity for")
        grid.addWidget(QLabel("Endpoint"), 0, 0)
        grid.addWidget(self.url_edit, 0, 1)
        grid.addWidget(self.shape_combo, 0, 2)
        grid.addWidget(QLabel("HMAC key"), 1, 0)
        grid.addWidget(self.key_field, 1, 1)
        grid.addWidget(self.save_key_button, 1, 2)
        grid.addWidget(QLabel("Keep activity"), 2, 0)
        grid.addWidget(self.retention_spin, 2, 1, Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(
            hint(
                'Every event is also sent to this address, signed with the HMAC key (see the README, "Email'
                ' activity without Hull"). Changes apply when the receiver starts next. Older activity is'
                " deleted when the receiver starts."
            ),
            3,
            0,
            1,
            3,
        )
        self.status = StatusLine(name="Endpoint settings result")
        grid.addWidget(self.status, 4, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        self.url_edit.editingFinished.connect(self._edited)
        self.shape_combo.currentIndexChanged.connect(self._edited)
        self.retention_spin.editingFinished.connect(self._edited)
        self.save_key_button.clicked.connect(self.save_key)

    def set_context(self, profile: Profile, secrets: SecretStore) -> None:
        self.profile, self.secrets = profile, secrets
        for w in (self.url_edit, self.shape_combo, self.retention_spin):
            w.blockSignals(True)
        if not self.url_edit.hasFocus():
            self.url_edit.setText(profile.forward_url)
        self.shape_combo.setCurrentIndex([s for s, _ in SHAPES].index(profile.forward_shape))
        self.retention_spin.setValue(profile.activity_retention_days)
        for w in (self.url_edit, self.shape_combo, self.retention_spin):
            w.blockSignals(False)

    def _edited(self, *_: object) -> None:
        if self.profile is None:
            return
        changes = {
            "forward_url": self.url_edit.text().strip(),
            "forward_shape": SHAPES[max(0, self.shape_combo.currentIndex())][0],
            "activity_retention_days": self.retention_spin.value(),
        }
        try:
            new = self.profile.replace(**changes)
        except ProfileError as exc:
            self.status.show_status(
                ErrorKind.ERROR, f"Endpoint URL {exc.problem}" if exc.field == "forward_url" else str(exc)
            )
            return
        if new != self.profile:
            self.status.show_status(ErrorKind.OK, "Saved. It applies when the receiver starts next.")
            self.profile = new
            self.settings_edited.emit(changes)

    def save_key(self) -> None:
        profile, secrets = self.profile, self.secrets
        if profile is None or secrets is None:
            return
        value = self.key_field.text()
        if value and len(value) < 16:
            self.status.show_status(ErrorKind.ERROR, "The HMAC key is too short: use at least 16 characters.")
            return

        def work(_job: JobContext) -> str:
            secrets.set(profile.name, SecretKey.FORWARD_HMAC_KEY, value)
            return secrets.backend_name()

        def done(backend: str) -> None:
            self.key_field.setText("")
            if value:
                self.status.show_status(ErrorKind.OK, f"HMAC key saved in {backend}.")
            else:
                self.status.show_status(ErrorKind.WARNING, "HMAC key removed: nothing is sent to the endpoint.")

        self.runner.submit(
            "activity-hmac-key",
            work,
            on_result=done,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, f"Could not save the HMAC key: {e}"),
            serial=True,
        )


__all__ = ["ForwardSettings"]
