"""Preview: what the next sync would do with the first N users, and the exact JSON Customer.io gets.

Rows come from the engine's preview on a worker; the table model is lazy, so 10,000 rows show at
once and scroll smoothly. Changing the segments (or anything else) while a preview loads makes that
load stale: its rows are dropped, not shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import Profile
from cio_desktop.gui import backend
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.keys import RELOAD_KEY
from cio_desktop.gui.models import Column, LazyTableModel
from cio_desktop.gui.pages.activity import PersonActivity
from cio_desktop.gui.platform import native_keys
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, SearchField, StatusLine, compact_rows, tab_chain

if TYPE_CHECKING:
    from cio_desktop.sync.engine import PreviewRow

ALL = "All decisions"


class PreviewPage(Page):
    """Signals: ``rows_shown(int)`` after rows reached the table; ``sent(bool, str)`` after "Send now"."""

    rows_shown = Signal(int)
    sent = Signal(bool, str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            "Preview",
            "What the next sync would do with the first users of your segments. Nothing is sent until you "
            "run a sync or press “Send this person now”.",
            parent,
            scroll=False,
        )
        self.ctx = ctx
        self._dirty = True
        self._shown_for = ""

        top = QHBoxLayout()
        top.addWidget(QLabel("First"))
        self.limit = QSpinBox()
        self.limit.setRange(10, 100_000)
        self.limit.setSingleStep(100)
        self.limit.setValue(1000)
        self.limit.setGroupSeparatorShown(True)
        self.limit.setAccessibleName("Number of users to preview")
        top.addWidget(self.limit)
        top.addWidget(QLabel("users"))
        self.refresh = QPushButton("Refresh preview")
        self.refresh.setObjectName("primary")
        self.refresh.setAccessibleName("Refresh preview")
        self.refresh.setToolTip(f"Load the preview again with the current settings ({native_keys(RELOAD_KEY)})")
        top.addWidget(self.refresh)
        top.addSpacing(16)
        self.decision_filter = QComboBox()
        self.decision_filter.setAccessibleName("Filter by decision")
        self.decision_filter.addItem(ALL)
        self.decision_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        top.addWidget(self.decision_filter)
        self.search = SearchField("Search customerId, name or email", "Search preview")
        top.addWidget(self.search, 1)
        self.body_layout.addLayout(top)
        self.status = StatusLine(name="Preview status")
        self.body_layout.addWidget(self.status)

        self.model: LazyTableModel[PreviewRow] = LazyTableModel(
            [
                Column("customerId", backend.row_customer_id),
                Column("Decision", backend.row_label),
                Column("Person", backend.row_user),
                Column("Segments", backend.row_segments),
            ],
            self,
        )
        self.model.tooltip = backend.row_message
        self.table = QTableView()
        self.table.setAccessibleName("Preview rows")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        compact_rows(self.table)  # fixed heights: scrolling 10,000 rows stays cheap
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        for col, width in enumerate((190, 170, 300)):
            self.table.setColumnWidth(col, width)
        self.table.setAlternatingRowColors(True)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        self.detail_title = QLabel("Select a person to see what Customer.io will receive.")
        self.detail_title.setWordWrap(True)
        self.detail_title.setAccessibleName("Selected person")
        dl.addWidget(self.detail_title)
        self.person_activity = PersonActivity(ctx.runner)  # "opened 3, clicked 1 in the last 30 days"
        dl.addWidget(self.person_activity)
        self.json_view = QPlainTextEdit()
        self.json_view.setObjectName("json")
        self.json_view.setReadOnly(True)
        self.json_view.setAccessibleName("JSON sent to Customer.io")
        self.json_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        dl.addWidget(QLabel("Sent to Customer.io"))
        dl.addWidget(self.json_view, 4)
        dl.addWidget(QLabel("Changed since the last sync"))
        self.changes_view = QPlainTextEdit()
        self.changes_view.setObjectName("json")
        self.changes_view.setReadOnly(True)
        self.changes_view.setAccessibleName("Changes since the last sync")
        dl.addWidget(self.changes_view, 1)
        send_row = QHBoxLayout()
        self.send_button = QPushButton("Send this person now")
        self.send_button.setAccessibleName("Send this person now")
        self.send_button.setEnabled(False)
        send_row.addWidget(self.send_button)
        send_row.addStretch(1)
        dl.addLayout(send_row)
        self.send_status = StatusLine(name="Send result")
        dl.addWidget(self.send_status)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        self.body_layout.addWidget(split, 1)

        self.refresh.clicked.connect(self.load)
        self.decision_filter.currentIndexChanged.connect(self._apply_filter)
        self.search.textChanged.connect(self._apply_filter)
        self.table.selectionModel().currentRowChanged.connect(self._row_selected)
        self.send_button.clicked.connect(self._send_now)
        ctx.profile_changed.connect(self._profile_changed)
        tab_chain(
            (
                self.limit,
                self.refresh,
                self.decision_filter,
                self.search,
                self.table,
                self.json_view,
                self.changes_view,
                self.send_button,
            )
        )

    # ------------------------------------------------------------------ loading
    def _profile_changed(self, profile: Profile | None) -> None:
        # Any change can alter decisions: a load in flight is stale, and the page reloads when shown.
        self._dirty = True
        name = profile.name if profile is not None else ""
        if name != self._shown_for:
            # Rows of another profile must never be shown under this one.
            self._shown_for = name
            self.model.set_rows([])
            self.json_view.clear()
            self.changes_view.clear()
            self.send_button.setEnabled(False)
            self.status.clear_status()
        if self.ctx.runner.is_running(self.ctx.key("preview")):
            self.ctx.runner.cancel(self.ctx.key("preview"))
            self.load()
        elif self.isVisible():
            self.status.show_status(ErrorKind.WARNING, "Settings changed: refresh to see the new decisions.")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty and self.ctx.profile is not None and backend.has_source_settings(self.ctx.profile):
            self.load()

    def load(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            return
        if not profile.segments:
            self.model.set_rows([])
            self.status.show_status(ErrorKind.WARNING, "No segment chosen on the Audience page: nobody will be sent.")
            return
        self._dirty = False
        limit = self.limit.value()
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self.status.show_status(ErrorKind.BUSY, f"Preparing a preview of the first {limit:,} users…")
        self.refresh.setEnabled(False)
        self.ctx.runner.submit(
            self.ctx.key("preview"),
            lambda job: backend.preview(profile, secrets, secret_name, limit, job),
            on_result=self.show_rows,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
            on_finished=lambda: self.refresh.setEnabled(True),
        )

    def show_rows(self, rows: list[PreviewRow]) -> None:
        """Put ``rows`` in the table (GUI thread)."""
        self.model.set_rows(rows)
        labels = sorted({backend.row_label(r) for r in rows})
        current = self.decision_filter.currentText()
        self.decision_filter.blockSignals(True)
        self.decision_filter.clear()
        self.decision_filter.addItem(ALL)
        for label in labels:
            self.decision_filter.addItem(label)
        pos = self.decision_filter.findText(current)
        self.decision_filter.setCurrentIndex(max(0, pos))
        self.decision_filter.blockSignals(False)
        self._apply_filter()
        counts: dict[str, int] = {}
        for r in rows:
            key = backend.row_action(r)
            counts[key] = counts.get(key, 0) + 1
        parts = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items()))
        self.status.show_status(ErrorKind.OK, f"{len(rows):,} users previewed: {parts}." if rows else "No users found.")
        self.table.viewport().update()
        self.rows_shown.emit(len(rows))

    def _apply_filter(self, *_: object) -> None:
        label = self.decision_filter.currentText()
        text = self.search.text().strip().lower()
        if label in ("", ALL) and not text:
            self.model.set_filter(None)
            return

        def keep(row: PreviewRow) -> bool:
            if label not in ("", ALL) and backend.row_label(row) != label:
                return False
            if text and text not in backend.row_customer_id(row).lower() and text not in backend.row_user(row).lower():
                return False
            return True

        self.model.set_filter(keep)

    # ------------------------------------------------------------------ details
    def _row_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.send_button.setEnabled(False)
            return
        row = self.model.row(current.row())
        who = backend.row_customer_id(row) or "(no customerId)"
        self.detail_title.setText(f"<b>{who}</b> — {backend.row_message(row)}")
        self.json_view.setPlainText(backend.row_json(row))
        self.changes_view.setPlainText(backend.row_changes(row))
        self.person_activity.show_row(self.ctx.profile, row)
        self.send_button.setEnabled(backend.row_sendable(row) and not self.ctx.sync_running)
        self.send_status.clear_status()

    def _send_now(self) -> None:
        index = self.table.currentIndex()
        profile = self.ctx.profile
        if not index.isValid() or profile is None:
            return
        if self.ctx.sync_running:
            self.send_status.show_status(ErrorKind.WARNING, "A sync is running: send this person when it ends.")
            return
        row = self.model.row(index.row())
        hull_id = backend.row_hull_id(row)
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self.send_button.setEnabled(False)
        self.send_status.show_status(ErrorKind.BUSY, "Sending…")

        def ok(message: str) -> None:
            self.send_status.show_status(ErrorKind.OK, message)
            self.sent.emit(True, message)

        def failed(exc: BaseException) -> None:
            message = backend.error_text(exc)
            self.send_status.show_status(ErrorKind.ERROR, message)
            self.sent.emit(False, message)

        self.ctx.runner.submit(
            self.ctx.key("send-one"),
            lambda job: backend.send_one(profile, secrets, secret_name, hull_id, job),
            on_result=ok,
            on_error=failed,
            on_finished=lambda: self.send_button.setEnabled(True),
        )
