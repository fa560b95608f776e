"""The Connect page's "Advanced" section: other base URLs for the Hull and Customer.io APIs.

For proxies and test environments. Empty fields mean the real services; what is typed is validated by
the profile (https, or plain http to this computer only) and the reason is shown inline.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLineEdit, QToolButton, QVBoxLayout, QWidget

from cio_desktop.config.profile import Profile, endpoint_problem
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import StatusLine, hint

# (Endpoints field, label: the same words backend.FIELD_LABELS uses in messages, placeholder)
FIELDS = (
    ("hull_api", "Hull API address", "https://<organization>/api/v1"),
    ("hull_firehose", "Hull firehose address", "https://firehose.hullapp.io"),
    ("cio_track", "Track API address", "https://track.customer.io (or track-eu, by region)"),
    ("cio_app", "App API address", "https://api.customer.io (or api-eu, by region)"),
)
LABELS = {field: label for field, label, _placeholder in FIELDS}
EXPLAINED = (
    "Only for a proxy or a test environment: send the API calls to other addresses. Leave a field empty "
    "to use the real service. Addresses must start with https:// (plain http:// only for this computer: "
    "127.0.0.1, ::1 or localhost)."
)


class EndpointsSection(QWidget):
    """A collapsed "Advanced: service addresses" toggle over four address fields and their problem line."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._invalid: set[str] = set()  # fields whose typed text was refused (kept on screen)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.button = QToolButton()
        self.button.setText("Advanced: service addresses")
        self.button.setAccessibleName("Advanced: service addresses")
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setArrowType(Qt.ArrowType.RightArrow)
        self.button.setAutoRaise(True)
        self.panel = QWidget()
        pl = QVBoxLayout(self.panel)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(hint(EXPLAINED))
        form = QFormLayout()
        self.edits: dict[str, QLineEdit] = {}
        for field, label, placeholder in FIELDS:
            edit = QLineEdit()
            edit.setAccessibleName(label)
            edit.setPlaceholderText(placeholder)
            edit.editingFinished.connect(self._edited)
            form.addRow(label, edit)
            self.edits[field] = edit
        pl.addLayout(form)
        self.status = StatusLine(name="Service address problem")
        pl.addWidget(self.status)
        self.panel.setVisible(False)
        self.in_use = StatusLine(name="Service addresses in use")
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.in_use)
        lay.addWidget(self.panel)
        self.button.toggled.connect(self._toggled)
        ctx.profile_changed.connect(self._profile_changed)
        self._profile_changed(ctx.profile)

    @property
    def problem(self) -> str:
        """Why an address typed here was refused ("" when none was): the wizard does not go on past it."""
        return self.status.text()[2:] if self.status.status == ErrorKind.ERROR else ""

    def focus_chain(self) -> list[QWidget]:
        return [self.button, *self.edits.values()]

    def _toggled(self, on: bool) -> None:
        self.panel.setVisible(on)
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None:
            return
        for field, edit in self.edits.items():
            value = getattr(profile.endpoints, field)
            if field not in self._invalid and not edit.hasFocus() and edit.text() != value:
                edit.setText(value)
        custom = [LABELS[field] for field in self.edits if getattr(profile.endpoints, field)]
        # Collapsed or not, a profile that does not talk to the real services says so.
        if custom:
            self.in_use.show_status(ErrorKind.WARNING, "Not the real services: custom " + ", ".join(custom) + ".")
        else:
            self.in_use.clear_status()

    def _edited(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            return
        # Field by field: a bad address keeps its text on screen (to fix it) and does not stop the others.
        endpoints, errors = profile.endpoints, []
        self._invalid.clear()
        for field, edit in self.edits.items():
            candidate = dataclasses.replace(endpoints, **{field: edit.text().strip()})
            problem = endpoint_problem(getattr(candidate, field)) if getattr(candidate, field) else ""
            if problem:
                errors.append(f"{LABELS[field]} {problem}.")
                self._invalid.add(field)
            else:
                endpoints = candidate
        error = self.ctx.update(endpoints=endpoints)
        if error:
            errors.append(error)
        if errors:
            self.status.show_status(ErrorKind.ERROR, " ".join(errors))
        else:
            self.status.clear_status()
