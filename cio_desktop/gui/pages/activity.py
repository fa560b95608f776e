"""Email activity: the webhook inbox as a place to look, count and export (shown on the Webhook page).

Search by person (customerId or email), campaign, event and period; counts per event and per
campaign over the period as a small chart; how much is stored and for how long; export of what
matches to JSON lines (Hull's event shape) or CSV; "Retry failed" for Hull and the HTTPS endpoint.
Every query runs on a worker; the GUI thread only fills widgets.

:class:`PersonActivity` is the one-line summary Preview shows for the selected person.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QDate, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import Profile
from cio_desktop.gui.pages.activity_settings import ForwardSettings
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import SearchField, StatusLine
from cio_desktop.gui.workers import JobContext, JobRunner
from cio_desktop.sync.engine import PreviewRow
from cio_desktop.webhooks.activity import (
    DAY,
    ActivityCounts,
    ActivityFilter,
    ReadOnlyInbox,
    StoredSize,
    activity_counts,
    event_names,
    person_activity,
    search,
    stored_size,
    summary_text,
)
from cio_desktop.webhooks.export import ExportFormat, export_activity
from cio_desktop.webhooks.inbox import EventStatus, InboxRow
from cio_desktop.webhooks.service import WebhookService, WebhookStatus

ROWS = 500
COUNTS_EVERY = 10  # refreshes between two counts of a period (the table is refreshed every time)
PERSON_DAYS = 30
# Index order is kept from the older inbox filter: All, Pending, Forwarded, Failed, Unknown.
STATUS_FILTERS: tuple[tuple[str, tuple[EventStatus, ...] | None], ...] = (
    ("Any status", None),
    ("Waiting for Hull", (EventStatus.PENDING,)),
    ("Sent to Hull", (EventStatus.FORWARDED,)),
    ("Failed", (EventStatus.FAILED,)),
    ("Not recognised", (EventStatus.UNKNOWN,)),
    ("Kept (no Hull)", (EventStatus.KEPT,)),
)
PERIODS: tuple[tuple[str, int | None], ...] = (
    ("All time", None),
    ("Last 7 days", 7),
    ("Last 30 days", 30),
    ("Last 90 days", 90),
    ("Between dates", -1),
)
COLUMNS = ("When", "Status", "Event", "Person", "Reason", "Event ID", "Campaign", "HTTPS endpoint")
_STATUS_WORDS = {
    EventStatus.PENDING: "waiting for Hull",
    EventStatus.FORWARDED: "sent to Hull",
    EventStatus.FAILED: "failed",
    EventStatus.UNKNOWN: "unknown",
    EventStatus.KEPT: "kept",
}


@dataclass(frozen=True)
class _Snapshot:
    rows: list[InboxRow]
    counts: ActivityCounts | None
    size: StoredSize | None
    names: list[str] | None


class ActivityChart(QWidget):
    """Two small bar lists: events per type and per campaign over the chosen period (QPainter)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Chart of email activity per event and per campaign")
        self.setMinimumHeight(130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.counts: ActivityCounts | None = None

    def sizeHint(self) -> QSize:
        return QSize(600, 150)

    def set_counts(self, counts: ActivityCounts) -> None:
        self.counts = counts
        parts = [f"{name} {n:,}" for name, n in counts.per_metric]
        self.setAccessibleDescription(", ".join(parts) if parts else "No email activity in this period")
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        if self.counts is None or self.counts.total == 0:
            p.setPen(text)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No email activity in this period.")
            return
        half = self.width() / 2
        by_event, by_campaign = QRectF(0, 0, half - 8, self.height()), QRectF(half + 8, 0, half - 8, self.height())
        self._bars(p, by_event, "By event", self.counts.per_metric, QColor("#2f80c2"))
        self._bars(p, by_campaign, "By campaign", self.counts.per_campaign, QColor("#4c9a6a"))

    def _bars(self, p: QPainter, area: QRectF, title: str, items: tuple[tuple[str, int], ...], color: QColor) -> None:
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        fm = self.fontMetrics()
        line = fm.height() + 3
        p.setPen(text)
        p.drawText(QRectF(area.left(), area.top(), area.width(), line), Qt.AlignmentFlag.AlignLeft, title)
        if not items:
            p.drawText(QRectF(area.left(), area.top() + line, area.width(), line), Qt.AlignmentFlag.AlignLeft, "—")
            return
        label_w = min(area.width() * 0.45, max(fm.horizontalAdvance(n) for n, _ in items) + 8)
        number_w = fm.horizontalAdvance(f"{max(n for _, n in items):,}") + 8
        bar_w = max(10.0, area.width() - label_w - number_w)
        top = max(n for _, n in items)
        shown = max(1, int((area.height() - line) // line))
        for i, (name, n) in enumerate(items[:shown]):
            y = area.top() + line * (i + 1)
            p.setPen(text)
            label = fm.elidedText(name, Qt.TextElideMode.ElideRight, int(label_w - 8))
            p.drawText(QRectF(area.left(), y, label_w - 8, line), Qt.AlignmentFlag.AlignLeft, label)
            w = bar_w * n / top
            p.fillRect(QRectF(area.left() + label_w, y + 3, max(1.0, w), line - 6), color)
            p.drawText(QRectF(area.left() + label_w + w + 4, y, number_w, line), Qt.AlignmentFlag.AlignLeft, f"{n:,}")


class ActivityView(QGroupBox):
    """The inbox section of the Webhook page. :meth:`set_service` with the open profile's service."""

    exported = Signal(int, str)

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__("Email activity", parent)
        self.runner = runner
        self.service: WebhookService | None = None
        self._ticks = 0
        self._metric_names: list[str] = []
        layout = QVBoxLayout(self)

        self.mode_status = StatusLine(name="Where email activity goes")
        layout.addWidget(self.mode_status)

        filters = QGridLayout()
        self.person_edit = SearchField("customerId or email", "Search by person")
        self.campaign_edit = SearchField("Campaign name or id", "Search by campaign")
        self.metric_combo = QComboBox()
        self.metric_combo.setAccessibleName("Event")
        self.metric_combo.addItem("Any event")
        self.filter_combo = QComboBox()
        self.filter_combo.setAccessibleName("Show events with status")
        for label, _statuses in STATUS_FILTERS:
            self.filter_combo.addItem(label)
        self.period_combo = QComboBox()
        self.period_combo.setAccessibleName("Period")
        for label, _days in PERIODS:
            self.period_combo.addItem(label)
        today = QDate.currentDate()
        self.from_date = QDateEdit(today.addDays(-30))
        self.to_date = QDateEdit(today)
        for edit, name in ((self.from_date, "From date"), (self.to_date, "To date")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setAccessibleName(name)
            edit.setEnabled(False)
        filters.addWidget(QLabel("Person"), 0, 0)
        filters.addWidget(self.person_edit, 0, 1)
        filters.addWidget(QLabel("Campaign"), 0, 2)
        filters.addWidget(self.campaign_edit, 0, 3)
        filters.addWidget(QLabel("Event"), 0, 4)
        filters.addWidget(self.metric_combo, 0, 5)
        filters.addWidget(QLabel("Status"), 1, 0)
        filters.addWidget(self.filter_combo, 1, 1)
        filters.addWidget(QLabel("Period"), 1, 2)
        filters.addWidget(self.period_combo, 1, 3)
        dates = QHBoxLayout()
        dates.addWidget(self.from_date)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.to_date)
        filters.addLayout(dates, 1, 4, 1, 2)
        filters.setColumnStretch(1, 1)
        filters.setColumnStretch(3, 1)
        layout.addLayout(filters)

        self.chart = ActivityChart()
        layout.addWidget(self.chart)
        self.stored_label = QLabel("")
        self.stored_label.setObjectName("hint")
        self.stored_label.setWordWrap(True)
        self.stored_label.setAccessibleName("How much activity is stored")
        layout.addWidget(self.stored_label)

        tools = QHBoxLayout()
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.setAccessibleName("Retry failed events")
        self.retry_button.setToolTip("Send events that failed again, to Hull and to your HTTPS endpoint.")
        self.retry_button.setEnabled(False)
        self.export_button = QPushButton("Export…")
        self.export_button.setAccessibleName("Export the matching events")
        self.export_button.setToolTip("Write the events matching the search to a JSON lines (Hull) or CSV file.")
        self.export_button.setEnabled(False)
        tools.addWidget(self.retry_button)
        tools.addWidget(self.export_button)
        tools.addStretch(1)
        layout.addLayout(tools)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; arrow keys move inside it
        self.table.setAccessibleName("Received webhook events")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        for col, width in enumerate((140, 70, 150, 260, 160, 110, 130)):
            self.table.setColumnWidth(col, width)
        self.table.setMinimumHeight(220)
        layout.addWidget(self.table, 1)
        self.inbox_status = StatusLine(name="Inbox result")
        layout.addWidget(self.inbox_status)
        self.forward_settings = ForwardSettings(runner)
        layout.addWidget(self.forward_settings)

        for field in (self.person_edit, self.campaign_edit):
            field.editingFinished.connect(self._filters_changed)
        for combo in (self.metric_combo, self.filter_combo, self.period_combo):
            combo.currentIndexChanged.connect(self._filters_changed)
        for date in (self.from_date, self.to_date):
            date.dateChanged.connect(self._filters_changed)
        self.retry_button.clicked.connect(self.retry_failed)
        self.export_button.clicked.connect(self._choose_export_file)

    # ------------------------------------------------------------------ context
    def set_service(self, service: WebhookService | None) -> None:
        self.service = service
        self._ticks = 0
        self.table.setRowCount(0)
        self.retry_button.setEnabled(service is not None)
        self.export_button.setEnabled(service is not None)
        if service is not None:
            self.forward_settings.set_context(service.profile, service.secrets)
            self.refresh()

    def current_filter(self) -> ActivityFilter:
        since: float | None = None
        until: float | None = None
        days = PERIODS[max(0, self.period_combo.currentIndex())][1]
        if days == -1:
            since = _day_start(self.from_date.date())
            until = _day_start(self.to_date.date().addDays(1))
        elif days is not None:
            since = time.time() - days * DAY
        metric = self.metric_combo.currentText() if self.metric_combo.currentIndex() > 0 else ""
        return ActivityFilter(
            person=self.person_edit.text().strip(),
            campaign=self.campaign_edit.text().strip(),
            metric=metric,
            since=since,
            until=until,
            statuses=STATUS_FILTERS[max(0, self.filter_combo.currentIndex())][1],
        )

    def _filters_changed(self, *_: object) -> None:
        custom = PERIODS[max(0, self.period_combo.currentIndex())][1] == -1
        self.from_date.setEnabled(custom)
        self.to_date.setEnabled(custom)
        self.refresh(full=True)  # counts follow the filters at once

    # ------------------------------------------------------------------ loading
    def refresh(self, *, full: bool = False) -> None:
        """Search on a worker; the counts, the size and the event names only every COUNTS_EVERY calls
        (they group the whole period), or now with ``full``."""
        service = self.service
        if service is None:
            return
        flt = self.current_filter()
        full = full or self._ticks % COUNTS_EVERY == 0
        self._ticks += 1
        inbox = service.inbox

        def work(_job: JobContext) -> _Snapshot:
            rows = search(inbox, flt, limit=ROWS)
            if not full:
                return _Snapshot(rows, None, None, None)
            # The chart counts the period's activity; the status filter is about delivery, not activity.
            counted = ActivityFilter(
                person=flt.person, campaign=flt.campaign, metric=flt.metric, since=flt.since, until=flt.until
            )
            return _Snapshot(rows, activity_counts(inbox, counted), stored_size(inbox), event_names(inbox))

        def done(snap: _Snapshot) -> None:
            if service is not self.service:
                return
            self._fill_table(snap.rows)
            if snap.counts is not None:
                self.chart.set_counts(snap.counts)
            if snap.size is not None:
                self._show_size(snap.size, service.profile)
            if snap.names is not None and snap.names != self._metric_names:
                self._set_metric_names(snap.names)

        self.runner.submit(
            "activity-refresh",
            work,
            on_result=done,
            on_error=lambda e: self.inbox_status.show_status(ErrorKind.ERROR, f"Could not read the inbox: {e}"),
        )

    def show_destinations(self, status: WebhookStatus) -> None:
        """Say plainly where events go (the page passes its status once a second)."""
        c = status.counts
        hull = status.forwarder is not None
        if hull:
            text = "Events are sent to Hull as they arrive."
        elif status.running:
            text = (
                "Hull is not connected, so events are kept here, not sent to Hull: search them and export them below."
            )
        else:
            text = (
                "The receiver is stopped. Events received so far stay here to search and export; any waiting"
                " for Hull go out when it starts again."
            )
        kind = ErrorKind.OK if hull else ErrorKind.PLAIN
        if status.http_forwarder is not None and status.http_problem is None:
            text += (
                f" Also forwarded to your HTTPS endpoint: {c.http_forwarded:,} sent, {c.http_pending:,} waiting,"
                f" {c.http_failed:,} failed."
            )
            if status.http_forwarder.last_error:
                text += f" Last problem: {status.http_forwarder.last_error}"
                kind = ErrorKind.WARNING
        elif status.http_problem:
            text += f" {status.http_problem}"
            kind = ErrorKind.WARNING
        self.mode_status.show_status(kind, text)

    def _set_metric_names(self, names: list[str]) -> None:
        current = self.metric_combo.currentText()
        self._metric_names = names
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItem("Any event")
        self.metric_combo.addItems(names)
        index = self.metric_combo.findText(current)
        self.metric_combo.setCurrentIndex(max(0, index))
        self.metric_combo.blockSignals(False)

    def _show_size(self, size: StoredSize, profile: Profile) -> None:
        oldest = f", the oldest received {_local_day(size.oldest)}" if size.oldest is not None else ""
        self.stored_label.setText(
            f"{size.events:,} events stored ({_megabytes(size.bytes)}){oldest}. Activity is kept for"
            f" {profile.activity_retention_days} days, then deleted (events still waiting to be sent are kept)."
        )

    def _fill_table(self, rows: list[InboxRow]) -> None:
        self.table.setUpdatesEnabled(False)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            person = ", ".join(f"{k}: {v}" for k, v in (r.as_user or {}).items()) or "—"
            http = "" if r.http_status is None else _STATUS_WORDS.get(r.http_status, r.http_status.value)
            if r.http_reason:
                http += f" ({r.http_reason})"
            values = (
                _local_time(r.created_ts or r.received_at),
                r.status.value,
                r.name,
                person,
                r.reason or "",
                r.event_id,
                r.campaign or "",
                http,
            )
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                if j in (4, 7) and value:
                    item.setToolTip(value)
                if j == 1:
                    item.setToolTip(_STATUS_WORDS.get(r.status, ""))
                self.table.setItem(i, j, item)
        self.table.setUpdatesEnabled(True)
        more = " (the newest 500: narrow the search to see others)" if len(rows) == ROWS else ""
        self.table.setAccessibleDescription(f"{len(rows)} events shown{more}")

    # ------------------------------------------------------------------ actions
    def retry_failed(self) -> None:
        service = self.service
        if service is None:
            return

        def done(moved: int) -> None:
            where = "forwarding" if service.forwarder or service.http_forwarder else "keeping (no destination runs)"
            self.inbox_status.show_status(ErrorKind.OK, f"{moved} failed event(s) queued for {where} again.")
            self.refresh(full=True)

        self.runner.submit(
            "webhook-retry",
            lambda _j: service.retry_failed(),
            on_result=done,
            on_error=lambda e: self.inbox_status.show_status(ErrorKind.ERROR, str(e)),
            serial=True,
        )

    def _choose_export_file(self) -> None:
        default = str(Path.home() / "email-activity.jsonl")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export email activity", default, "JSON lines for Hull (*.jsonl);;CSV for a spreadsheet (*.csv)"
        )
        if path:
            fmt = ExportFormat.CSV if "csv" in chosen.lower() or path.lower().endswith(".csv") else ExportFormat.JSONL
            self.export_to(path, fmt)

    def export_to(self, path: str, fmt: ExportFormat) -> None:
        """Write the events matching the search (any status but unknown) to ``path`` on a worker."""
        service = self.service
        if service is None:
            return
        flt = self.current_filter()
        inbox_path = service.inbox.path
        self.export_button.setEnabled(False)
        self.inbox_status.show_status(ErrorKind.BUSY, "Exporting…")

        def work(job: JobContext) -> int:
            return export_activity(inbox_path, Path(path), fmt, flt, progress=job.progress, cancel=job.cancel)

        def done(count: int) -> None:
            self.export_button.setEnabled(True)
            self.inbox_status.show_status(ErrorKind.OK, f"Wrote {count:,} events to {path}.")
            self.exported.emit(count, path)

        def failed(exc: BaseException) -> None:
            self.export_button.setEnabled(True)
            self.inbox_status.show_status(ErrorKind.ERROR, f"Export failed, nothing was written: {exc}")

        self.runner.submit(
            "activity-export",
            work,
            on_result=done,
            on_error=failed,
            on_progress=lambda n: self.inbox_status.show_status(ErrorKind.BUSY, f"Exporting… {n:,} events"),
        )


class PersonActivity(QLabel):
    """Preview's line about the selected person: "opened 3, clicked 1 in the last 30 days"."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.runner = runner
        self.setObjectName("hint")
        self.setWordWrap(True)
        self.setAccessibleName("Email activity of the selected person")

    def show_row(self, profile: Profile | None, row: PreviewRow) -> None:
        person = row.decision.person
        email = person.attributes.get("email") if person is not None else None
        ids = [c for c in (row.decision.customer_id, row.decision.previous_customer_id) if c]
        self.show_person(profile, ids, email if isinstance(email, str) else None)

    def show_person(self, profile: Profile | None, customer_ids: list[str], email: str | None) -> None:
        if profile is None or (not customer_ids and not email):
            self.setText("")
            return
        self.setText("Email activity: looking…")
        name = profile.name

        def work(_job: JobContext) -> str:
            inbox = ReadOnlyInbox.for_profile(name)
            if inbox is None:
                return "Email activity: none received yet (see the Webhook page)."
            try:
                counts = person_activity(inbox, customer_ids, email, days=PERSON_DAYS, now=time.time())
            except sqlite3.OperationalError:  # an inbox from before activity search: not indexed yet
                return "Email activity: open the Webhook page once to make it searchable."
            finally:
                inbox.close()
            if not counts:
                return f"Email activity: none in the last {PERSON_DAYS} days."
            return "Email activity: " + summary_text(counts, PERSON_DAYS)

        self.runner.submit(
            "preview-person-activity",
            work,
            on_result=self.setText,
            on_error=lambda e: self.setText(f"Email activity: could not be read ({e})."),
        )


def _day_start(day: QDate) -> float:
    return datetime(day.year(), day.month(), day.day()).timestamp()


def _local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _local_day(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} kB"


__all__ = ["ActivityChart", "ActivityView", "PersonActivity"]
