"""History: past runs with their counts, a chart of sent / skipped / failed, and for each run every
person it decided about (decision and reason, searchable, exportable) and its errors."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import Profile
from cio_desktop.gui import backend
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.keys import RELOAD_KEY
from cio_desktop.gui.models import Column, LazyTableModel
from cio_desktop.gui.platform import native_keys
from cio_desktop.gui.run_people_view import RunPeopleView
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, SearchField, StatusLine, compact_rows, tab_chain
from cio_desktop.gui.withheld import WithheldDialog
from cio_desktop.sync import run_text
from cio_desktop.sync.runs import RunError, RunRecord, RunStatus

# Unchanged people are not drawn: a run that sent one person beside 100,000 unchanged would not show.
SERIES = (
    ("sent", QColor("#2e9e50")),
    ("skipped", QColor("#8a8f98")),
    ("failed", QColor("#d64545")),
    ("withheld", QColor("#d98e04")),  # deletions the guard held back
)


class RunChart(QWidget):
    """Stacked bars of sent / skipped / failed / withheld per run, oldest on the left (QPainter)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Chart of sent, skipped and failed people and withheld deletions per run")
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.bars: list[tuple[str, dict[str, int]]] = []
        self.planned: frozenset[str] = frozenset()

    def sizeHint(self) -> QSize:
        return QSize(600, 170)

    def set_runs(self, bars: list[tuple[str, dict[str, int]]], planned: Collection[str] = ()) -> None:
        """``planned``: labels of bars of plans and dry runs, drawn as outlines: they sent nothing."""
        self.bars = bars
        self.planned = frozenset(planned)
        total = sum(sum(v.get(name, 0) for name, _c in SERIES) for _l, v in bars)
        outlined = f"; {len(self.planned)} of them plans or dry runs, which sent nothing" if self.planned else ""
        self.setAccessibleDescription(f"{len(bars)} runs, {total:,} people sent, skipped, failed or withheld{outlined}")
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text_color = pal.color(pal.ColorRole.WindowText)
        grid = pal.color(pal.ColorRole.Mid)
        fm = self.fontMetrics()
        legend_h = fm.height() + 6
        area = QRectF(40, legend_h + 4, self.width() - 50, self.height() - legend_h - fm.height() - 14)
        # legend
        x = 40.0
        for name, color in SERIES:
            p.fillRect(QRectF(x, 4, 10, 10), color)
            p.setPen(text_color)
            p.drawText(int(x + 14), 4 + fm.ascent() - 1, name)
            x += 14 + fm.horizontalAdvance(name) + 16
        if self.planned:
            p.setPen(text_color)
            p.drawRect(QRectF(x, 4, 10, 10))
            p.drawText(int(x + 14), 4 + fm.ascent() - 1, PLANNED_LEGEND)
        if not self.bars:
            p.setPen(text_color)
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "No runs yet.")
            return
        top = max(1, max(sum(v.get(name, 0) for name, _c in SERIES) for _l, v in self.bars))
        p.setPen(grid)
        p.drawLine(area.bottomLeft(), area.bottomRight())
        p.setPen(text_color)
        p.drawText(QRectF(0, area.top() - fm.height() / 2, 36, fm.height()), Qt.AlignmentFlag.AlignRight, _short(top))
        p.drawText(QRectF(0, area.bottom() - fm.height() / 2, 36, fm.height()), Qt.AlignmentFlag.AlignRight, "0")
        n = len(self.bars)
        slot = area.width() / n
        width = max(2.0, min(36.0, slot * 0.7))
        for i, (label, values) in enumerate(self.bars):
            cx = area.left() + slot * i + (slot - width) / 2
            y = area.bottom()
            for name, color in SERIES:
                value = values.get(name, 0)
                # Anything at all is at least a few pixels high: a one-person run stays visible.
                h = max(MIN_BAR_PX, area.height() * value / top) if value > 0 else 0.0
                if h > 0:
                    if label in self.planned:  # what it would have done: an outline, not a bar
                        p.setPen(color)
                        p.drawRect(QRectF(cx + 0.5, y - h + 0.5, width - 1, h - 1))
                    else:
                        p.fillRect(QRectF(cx, y - h, width, h), color)
                    y -= h
            if slot >= fm.horizontalAdvance(label) + 4:
                p.setPen(text_color)
                p.drawText(
                    QRectF(cx - slot / 2, area.bottom() + 2, width + slot, fm.height()),
                    Qt.AlignmentFlag.AlignHCenter,
                    label,
                )


MIN_BAR_PX = 3.0
PLANNED_LEGEND = "outline: plan or dry run, nothing sent"


def _short(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n // 1000}k"
    return str(n)


class HistoryPage(Page):
    """Signals: ``exported(int, str)``: rows written and the CSV path; ``deletions_approved(str, object)``:
    the user approved a run's withheld deletions (its mode and a DeletionApproval for the next sync)."""

    exported = Signal(int, str)
    deletions_approved = Signal(str, object)
    errors_loaded = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            "History",
            "Past syncs of this profile: who each one sent, left unchanged or skipped, and why.",
            parent,
            scroll=False,
        )
        self.ctx = ctx
        self.chart = RunChart()

        # The same cells as `cio-desktop history --json` shows under "display" (sync/run_text.py).
        self.runs_model = LazyTableModel[RunRecord](
            [Column(title, text, align_right=right) for title, _key, text, right in run_text.COLUMNS],
            self,
        )
        self.runs_model.tooltip = backend.run_tooltip
        self.runs = QTableView()
        self.runs.setAccessibleName("Runs")
        compact_rows(self.runs)
        self.runs.setModel(self.runs_model)
        self.runs.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.runs.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.runs.verticalHeader().setVisible(False)
        self.runs.horizontalHeader().setStretchLastSection(True)
        self.runs.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        errors = QWidget()
        el = QVBoxLayout(errors)
        el.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.search = SearchField("Search errors (customerId, message, field…)", "Search errors")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setAccessibleName("Export the errors as CSV")
        self.export_button.setEnabled(False)
        self.review_button = QPushButton("Review withheld deletions…")
        self.review_button.setAccessibleName("Review the deletions this run withheld")
        self.review_button.setToolTip("See who the deletion guard held back, and approve deleting them")
        self.review_button.setVisible(False)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh history")
        self.refresh_button.setToolTip(f"Read the runs again ({native_keys(RELOAD_KEY)})")
        row.addWidget(self.search, 1)
        row.addWidget(self.export_button)
        el.addLayout(row)
        self.errors_model = LazyTableModel[RunError](
            [
                Column("customerId", lambda e: e.customer_id),
                Column("Hull id", lambda e: e.hull_id),
                Column("Kind", lambda e: e.kind),
                Column("Field", lambda e: e.field),
                Column("Message", lambda e: e.message),
            ],
            self,
        )
        self.errors_model.tooltip = lambda e: e.message
        self.errors = QTableView()
        self.errors.setAccessibleName("Errors of the selected run")
        compact_rows(self.errors)
        self.errors.setModel(self.errors_model)
        self.errors.verticalHeader().setVisible(False)
        self.errors.horizontalHeader().setStretchLastSection(True)
        self.errors.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        el.addWidget(self.errors, 1)

        self.people = RunPeopleView(ctx, self, name="history")
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("The selected run's people and errors")
        self.tabs.addTab(self.people, "People")
        self.tabs.setTabToolTip(0, "Everyone the run decided about, with the decision and its reason")
        self.tabs.addTab(errors, "Errors")
        self.tabs.setTabToolTip(1, "What Customer.io refused, and records of the source that could not be read")
        below = QWidget()
        bl = QVBoxLayout(below)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.tabs, 1)
        self.status = StatusLine(name="History status")
        foot = QHBoxLayout()
        foot.addWidget(self.status, 1)
        foot.addWidget(self.review_button)
        foot.addWidget(self.refresh_button)
        bl.addLayout(foot)

        split = QSplitter(Qt.Orientation.Vertical)  # the chart shrinks first on a small window
        split.addWidget(self.chart)
        split.addWidget(self.runs)
        split.addWidget(below)
        split.setChildrenCollapsible(False)
        self.body_layout.addWidget(split, 1)

        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self._export_clicked)
        self.review_button.clicked.connect(self.review_withheld)
        self.search.textChanged.connect(lambda _t: self.load_errors())
        self.runs.selectionModel().currentRowChanged.connect(lambda _c, _p: self._run_selected())
        ctx.profile_changed.connect(self._profile_changed)
        self._profile_name = ""
        self._newest_id: int | None = None
        self._wanted_run: int | None = None  # a run to select on the next refresh (show_run)
        self.withheld_dialog: WithheldDialog | None = None
        tab_chain(
            (
                self.runs,
                self.tabs.tabBar(),
                self.people.search,
                self.people.export_button,
                self.people.table,
                self.search,
                self.export_button,
                self.errors,
                self.review_button,
                self.refresh_button,
            )
        )

    def _profile_changed(self, profile: Profile | None) -> None:
        name = profile.name if profile is not None else ""
        if name != self._profile_name:
            self._profile_name = name
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def selected_run(self) -> RunRecord | None:
        index = self.runs.currentIndex()
        return self.runs_model.row(index.row()) if index.isValid() else None

    def selected_run_id(self) -> int | None:
        run = self.selected_run()
        return None if run is None else run.id

    def show_run(self, run_id: int | None) -> None:
        """Reload and select run ``run_id`` (the newest if None), e.g. from a scheduled run's notification."""
        self._wanted_run = run_id
        self.refresh()

    def review_withheld(self) -> None:
        """Open the review of the selected run's withheld deletions."""
        run = self.selected_run()
        if run is None or not run.reviewable:
            return
        self.withheld_dialog = WithheldDialog(self.ctx, run, self)
        self.withheld_dialog.approved.connect(self.deletions_approved.emit)
        self.withheld_dialog.open()

    def refresh(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            return
        name = profile.name
        keep = self.selected_run_id()

        def shown(runs: list[RunRecord]) -> None:
            self.runs_model.set_rows(runs)
            shown_runs = list(reversed(runs[: backend.CHART_RUNS]))
            self.chart.set_runs(
                [(f"#{r.id}", _chart_values(r)) for r in shown_runs],
                planned=[f"#{r.id}" for r in shown_runs if run_text.is_planned(r)],
            )
            # Keep the user's selection, unless a new run arrived: then show the newest.
            newest = runs[0].id if runs else None
            target = 0
            if newest == self._newest_id:
                for i, r in enumerate(runs):
                    if r.id == keep:
                        target = i
            self._newest_id = newest
            wanted, self._wanted_run = self._wanted_run, None
            target = next((i for i, r in enumerate(runs) if r.id == wanted), target)
            if runs:
                self.runs.selectRow(target)
            else:
                self.errors_model.set_rows([])
                self.status.show_status(ErrorKind.PLAIN, "No runs yet: start one on the Sync page.")

        self.ctx.runner.submit(
            self.ctx.key("history-runs"),
            lambda _j: backend.list_runs(name),
            on_result=shown,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )

    def _run_selected(self) -> None:
        run = self.selected_run()
        self.people.show_run(None if run is None else run.id, dry=run is not None and run.mode == "dry_run")
        self.load_errors()

    def load_errors(self) -> None:
        run_id = self.selected_run_id()
        profile = self.ctx.profile
        if run_id is None or profile is None:
            return
        name, search = profile.name, self.search.text().strip() or None

        run = self.selected_run()
        self.review_button.setVisible(bool(run is not None and run.reviewable))

        def shown(errors: list[RunError]) -> None:
            self.errors_model.set_rows(errors)
            self.export_button.setEnabled(bool(errors))
            outcome = backend.run_outcome_text(run) if run is not None else ""
            count = f"{len(errors):,} error{'s' if len(errors) != 1 else ''}" + (
                " matching the search." if search else "."
            )
            # A failed run is about its problem: "0 errors" would read as if all went well.
            failed = run is not None and run.status is RunStatus.FAILED and not errors and not search
            self.status.show_status(
                backend.run_status_level(run) if run is not None else ErrorKind.PLAIN,
                f"Run #{run_id}: {outcome}" + ("" if failed else f" {count}"),
            )
            self.errors_loaded.emit(len(errors))

        self.ctx.runner.submit(
            self.ctx.key("history-errors"),
            lambda _j: backend.list_errors(name, run_id, search),
            on_result=shown,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )

    def _export_clicked(self) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            return
        default = str(Path.home() / f"cio-desktop-run-{run_id}-errors.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export errors", default, "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write the selected run's errors (matching the search) to ``path`` off the GUI thread."""
        run_id = self.selected_run_id()
        profile = self.ctx.profile
        if run_id is None or profile is None:
            return
        name, search = profile.name, self.search.text().strip() or None

        def done(count: int) -> None:
            self.status.show_status(ErrorKind.OK, f"Wrote {count:,} errors to {path}.")
            self.exported.emit(count, path)

        self.ctx.runner.submit(
            self.ctx.key("history-export"),
            lambda _j: backend.export_errors(name, run_id, path, search),
            on_result=done,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )


def _chart_values(run: RunRecord) -> dict[str, int]:
    """A run's bar: what it sent; a plan's (drawn as an outline) what it would have sent."""
    values = backend.run_totals(run)
    if run_text.is_planned(run):
        values["sent"] = values["planned"]
    return values
