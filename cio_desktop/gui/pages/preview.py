"""Preview: what the next sync would do with the first N users, and the exact JSON Customer.io gets.

Rows come from the engine's preview on a worker; the table model is lazy, so 10,000 rows show at
once and scroll smoothly. Changing the segments (or anything else) while a preview loads makes that
load stale: its rows are dropped, not shown.

Typing in the search box searches the whole audience, not only the rows loaded: a worker streams
every member of the chosen segments and the matches appear as they are found. A new query cancels
the search in flight.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
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
from cio_desktop.gui import backend, backend_audience, preview_rows
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.keys import RELOAD_KEY
from cio_desktop.gui.models import Column, LazyTableModel
from cio_desktop.gui.pages.activity import PersonActivity
from cio_desktop.gui.platform import native_keys
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, SearchField, StatusLine, compact_rows, tab_chain

if TYPE_CHECKING:
    from cio_desktop.sync.audience_search import SearchUpdate
    from cio_desktop.sync.engine import PreviewRow

ALL = "All decisions"
SELECT_HINT = "Select a person to see what Customer.io will receive."
SEND_TIP = "Send this person to Customer.io now, even if nothing changed since the last sync."
# Typing pauses this long before a search of the whole audience starts.
SEARCH_DELAY_MS = 250
# The Person and customerId columns fit their text up to this width; longer text is elided (tooltip).
MAX_COLUMN_WIDTH = 420
# Columns are fitted to this many first rows (fitting to 100,000 would stall the GUI).
FIT_ROWS = 200


class PreviewPage(Page):
    """Signals: ``rows_shown(int)`` after rows reached the table; ``sent(bool, str)`` after "Send now";
    ``search_finished(int)`` with the number of matches when a search of the whole audience ended."""

    rows_shown = Signal(int)
    sent = Signal(bool, str)
    search_finished = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            "Preview",
            "What the next sync would do with the first users of your segments; the search finds anyone "
            "in them. Nothing is sent until you run a sync or press “Send this person now”.",
            parent,
            scroll=False,
        )
        self.ctx = ctx
        self._dirty = True
        self._shown_for = ""
        self._loaded: list[PreviewRow] = []  # the preview's rows; the table shows them or the search's
        self._found = 0  # matches of the running search already in the table
        self._selected_id: str | None = None  # Hull id of the person in the detail pane

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
        self.search = SearchField("Search everyone in the segments: id, name or email", "Search preview")
        top.addWidget(self.search, 1)
        self.body_layout.addLayout(top)
        self.status = StatusLine(name="Preview status")
        self.body_layout.addWidget(self.status)

        self.model: LazyTableModel[PreviewRow] = LazyTableModel(
            [
                Column("customerId", preview_rows.row_customer_id),
                Column("Decision", preview_rows.row_label),
                Column("Person", preview_rows.row_person, tooltip=preview_rows.row_user),
                Column("Segments", preview_rows.row_segments),
            ],
            self,
        )
        self.model.tooltip = preview_rows.row_message
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
        hh.setResizeContentsPrecision(FIT_ROWS)
        for col, width in enumerate((190, 170, 340)):
            self.table.setColumnWidth(col, width)
        # Long text keeps both ends ("Quentin Sch…@example.com"); the tooltip has all of it.
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setAlternatingRowColors(True)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        self.detail_title = QLabel(SELECT_HINT)
        self.detail_title.setWordWrap(True)
        self.detail_title.setTextFormat(Qt.TextFormat.RichText)
        self.detail_title.setAccessibleName("Selected person")
        dl.addWidget(self.detail_title)
        self.person_activity = PersonActivity(ctx.runner)  # "opened 3, clicked 1 in the last 30 days"
        dl.addWidget(self.person_activity)
        self.json_view = QPlainTextEdit()
        self.json_view.setObjectName("json")
        self.json_view.setReadOnly(True)
        self.json_view.setAccessibleName("JSON sent to Customer.io")
        self.json_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.json_title = QLabel("Sent to Customer.io")
        self.json_title.setWordWrap(True)
        dl.addWidget(self.json_title)
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
        self.send_button.setToolTip(SELECT_HINT)
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

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.start_search)

        self.refresh.clicked.connect(self.load)
        self.decision_filter.currentIndexChanged.connect(self._apply_filter)
        self.search.textChanged.connect(self._search_changed)
        self.table.selectionModel().currentRowChanged.connect(self._row_selected)
        # A reset (new rows, a filter) clears the view's current row without a signal: follow it.
        self.model.modelReset.connect(self._reselect)
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
            self._loaded = []
            self.ctx.runner.cancel(self.ctx.key("preview-search"))
            self.model.set_rows([])
            self.send_status.clear_status()
            self.status.clear_status()
        if self.ctx.runner.is_running(self.ctx.key("preview")):
            self.ctx.runner.cancel(self.ctx.key("preview"))
            self.load()  # (which searches again too)
        elif self.ctx.runner.is_running(self.ctx.key("preview-search")):
            self.start_search()  # its matches were of the old settings: search again with the new
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
            self._loaded = []
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
        if self.search.text().strip():
            self.start_search()  # the settings changed: the matches' decisions may have too

    def show_rows(self, rows: list[PreviewRow]) -> None:
        """Keep ``rows`` as the preview; put them in the table unless a search is showing (GUI thread)."""
        self._loaded = rows
        if self.search.text().strip():
            return  # the search's matches stay in the table; these show when the search is cleared
        self._show_loaded()
        self.rows_shown.emit(len(rows))

    def _show_loaded(self) -> None:
        rows = self._loaded
        self.model.set_rows(rows)
        self._update_labels(rows)
        self._apply_filter()
        self._fit_columns()
        counts: dict[str, int] = {}
        for r in rows:
            key = preview_rows.row_action(r)
            counts[key] = counts.get(key, 0) + 1
        parts = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items()))
        self.status.show_status(ErrorKind.OK, f"{len(rows):,} users previewed: {parts}." if rows else "No users found.")
        self.table.viewport().update()

    def _update_labels(self, rows: list[PreviewRow]) -> None:
        labels = sorted({preview_rows.row_label(r) for r in rows})
        current = self.decision_filter.currentText()
        self.decision_filter.blockSignals(True)
        self.decision_filter.clear()
        self.decision_filter.addItem(ALL)
        for label in labels:
            self.decision_filter.addItem(label)
        pos = self.decision_filter.findText(current)
        if pos < 0:
            self.decision_filter.addItem(current)  # keep the user's choice while no row has it yet
            pos = self.decision_filter.count() - 1
        self.decision_filter.setCurrentIndex(pos)
        self.decision_filter.blockSignals(False)

    def _fit_columns(self) -> None:
        for col in (0, 1, 2):
            self.table.resizeColumnToContents(col)
            if self.table.columnWidth(col) > MAX_COLUMN_WIDTH:
                self.table.setColumnWidth(col, MAX_COLUMN_WIDTH)

    def _apply_filter(self, *_: object) -> None:
        label = self.decision_filter.currentText()
        if label in ("", ALL):
            self.model.set_filter(None)
        else:
            self.model.set_filter(lambda row: preview_rows.row_label(row) == label)

    # ------------------------------------------------------------------ search the whole audience
    def _search_changed(self, text: str) -> None:
        if text.strip():
            self._search_timer.start()
            return
        self._search_timer.stop()
        self.ctx.runner.cancel(self.ctx.key("preview-search"))
        self._show_loaded()

    def start_search(self) -> None:
        """Search every member of the chosen segments for the text in the search box (on a worker)."""
        self._search_timer.stop()
        profile = self.ctx.profile
        query = self.search.text().strip()
        if profile is None or not query or not backend.has_source_settings(profile):
            return
        self._found = 0
        self.model.set_rows([])
        if not profile.segments:
            self.status.show_status(ErrorKind.WARNING, "No segment chosen on the Audience page: nobody to search.")
            return
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self.status.show_status(ErrorKind.BUSY, f"Searching everyone in the segments for “{query}”…")

        def finished(update: SearchUpdate) -> None:
            self._take(update)
            n = len(update.matches)
            if update.truncated:
                text = f"More than {n:,} people match “{query}”: showing the first {n:,}. Type more to narrow it."
                self.status.show_status(ErrorKind.WARNING, text)
            else:
                who = "Nobody matches" if n == 0 else f"{n:,} {'person matches' if n == 1 else 'people match'}"
                self.status.show_status(
                    ErrorKind.OK if n else ErrorKind.WARNING,
                    f"{who} “{query}” among all {update.scanned:,} people in the segments.",
                )
            self.search_finished.emit(n)

        self.ctx.runner.submit(
            self.ctx.key("preview-search"),
            lambda job: backend_audience.search_audience(profile, secrets, secret_name, query, job),
            on_progress=self._take,
            on_result=finished,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
            interval_s=0.1,
        )

    def _take(self, update: SearchUpdate) -> None:
        """Append the matches not in the table yet (updates carry every match so far, in order)."""
        new = list(update.matches[self._found :])
        self._found = len(update.matches)
        if new:
            self.model.append_rows(new)
            self._update_labels(list(self.model.all_rows()))
            if self._found - len(new) < FIT_ROWS:
                self._fit_columns()  # size the columns to the first matches (later ones scroll in)
        if not update.done:
            self.status.show_status(
                ErrorKind.BUSY,
                f"Searching everyone in the segments: {update.scanned:,} read, {self._found:,} found so far…",
            )

    # ------------------------------------------------------------------ details
    def _reselect(self) -> None:
        """After the rows changed, keep the same person selected if still shown, else clear the pane."""
        wanted = self._selected_id
        pos = -1 if wanted is None else self.model.find(lambda r: preview_rows.row_hull_id(r) == wanted)
        if pos >= 0:
            self.table.setCurrentIndex(self.model.index(pos, 0))
        else:
            self._show_detail(None)

    def _row_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_detail(self.model.row(current.row()) if current.isValid() else None)

    def _show_detail(self, row: PreviewRow | None) -> None:
        self.send_status.clear_status()
        if row is None:
            self._selected_id = None
            self.detail_title.setText(SELECT_HINT)
            self.json_title.setText("Sent to Customer.io")
            self.json_view.clear()
            self.changes_view.clear()
            self.person_activity.setText("")
            self.send_button.setEnabled(False)
            self.send_button.setToolTip(SELECT_HINT)
            return
        self._selected_id = preview_rows.row_hull_id(row)
        who = preview_rows.row_customer_id(row) or "(no customerId)"
        # Names and messages are the source's data: escaped, so "<b>" in a name is shown, not obeyed.
        self.detail_title.setText(
            f"<b>{escape(who)}</b> — {escape(preview_rows.row_user(row))}<br>{escape(preview_rows.row_message(row))}"
        )
        self.json_title.setText(preview_rows.row_json_title(row))
        json_text = preview_rows.row_json(row)
        # JSON keeps its lines; the sentence said when nothing is sent wraps to the pane.
        wrap = (
            QPlainTextEdit.LineWrapMode.NoWrap if json_text.startswith("[") else QPlainTextEdit.LineWrapMode.WidgetWidth
        )
        self.json_view.setLineWrapMode(wrap)
        self.json_view.setPlainText(json_text)
        self.changes_view.setPlainText(preview_rows.row_changes(row))
        self.person_activity.show_row(self.ctx.profile, row)
        self._update_send_button(row)

    def _update_send_button(self, row: PreviewRow) -> None:
        blocked = preview_rows.row_send_blocked(row)
        if not blocked and self.ctx.sync_running:
            blocked = "A sync is running: send this person when it ends."
        self.send_button.setEnabled(not blocked)
        self.send_button.setToolTip(blocked or SEND_TIP)

    def _send_now(self) -> None:
        index = self.table.currentIndex()
        profile = self.ctx.profile
        if not index.isValid() or profile is None:
            return
        if self.ctx.sync_running:
            self.send_status.show_status(ErrorKind.WARNING, "A sync is running: send this person when it ends.")
            return
        row = self.model.row(index.row())
        hull_id = preview_rows.row_hull_id(row)
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
            on_finished=self._send_finished,
        )

    def _send_finished(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self._update_send_button(self.model.row(index.row()))
