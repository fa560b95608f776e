"""Who a run decided about: a searchable list of its people with the decision and the reason, and
their export to CSV ("why isn't Jane in Customer.io?"). Used by History (every run) and by the plan
confirmation (each of its numbers opens the people behind it).

The list is read from the ledger on a worker, at most ``PEOPLE_SHOWN`` rows at a time (the search
narrows it); the CSV export streams the whole list. Signals: ``loaded(int)`` rows shown,
``exported(int, str)`` rows written and the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.gui import backend, plan_backend
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.models import Column, LazyTableModel
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import SearchField, StatusLine, compact_rows, tab_chain
from cio_desktop.sync.run_people import Category, RunPerson
from cio_desktop.sync.words import label_text


def _person(p: RunPerson) -> str:
    """Name and email (the Hull id has its own column)."""
    suffix = f"(Hull id {p.hull_id})"
    who = p.who.removesuffix(suffix).strip()
    return who or "—"


class RunPeopleView(QWidget):
    """The people of one run (``show_run``), optionally of some categories only."""

    loaded = Signal(int)
    exported = Signal(int, str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *, name: str = "people") -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._job = f"run-people-{name}"
        self.run_id: int | None = None
        self.categories: tuple[Category, ...] | None = None
        self.dry = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.search = SearchField("Search people (name, email, customerId, Hull id, reason…)", "Search people")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setAccessibleName("Export these people as CSV")
        self.export_button.setToolTip("Write every person of this list (matching the search) to a CSV file")
        self.export_button.setEnabled(False)
        row.addWidget(self.search, 1)
        row.addWidget(self.export_button)
        layout.addLayout(row)
        self.model = LazyTableModel[RunPerson](
            [
                Column("Person", _person),
                Column("Decision", lambda p: p.outcome(dry=self.dry)),
                Column("customerId", lambda p: p.customer_id),
                Column("Hull id", lambda p: p.hull_id),
            ],
            self,
        )
        self.model.tooltip = lambda p: (
            f"{p.outcome(dry=self.dry)}\n{label_text(p.decision, planned=self.dry)}\nHull id {p.hull_id}"
        )
        self.table = QTableView()
        self.table.setAccessibleName("People of the run")
        compact_rows(self.table)
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # the reason can be long
        header.resizeSection(1, 380)
        layout.addWidget(self.table, 1)
        self.status = StatusLine(name="People status")
        layout.addWidget(self.status)
        self.search.textChanged.connect(lambda _t: self.reload())
        self.export_button.clicked.connect(self._export_clicked)
        tab_chain((self.search, self.export_button, self.table))

    def show_run(self, run_id: int | None, categories: Sequence[Category] | None = None, *, dry: bool = False) -> None:
        self.run_id = run_id
        self.categories = tuple(categories) if categories is not None else None
        self.dry = dry
        self.reload()

    def reload(self) -> None:
        profile = self.ctx.profile
        run_id = self.run_id
        if profile is None or run_id is None:
            self.model.set_rows([])
            self.export_button.setEnabled(False)
            return
        name, cats, search = profile.name, self.categories, self.search.text().strip() or None

        def shown(people: list[RunPerson]) -> None:
            self.model.set_rows(people)
            self.export_button.setEnabled(bool(people))
            n = len(people)
            if n >= plan_backend.PEOPLE_SHOWN:
                text = f"Showing the first {n:,} people: search to narrow, or export them all."
            elif n == 0:
                text = (
                    "Nobody matches the search."
                    if search
                    else "No people listed for this run (its list is kept for the last few runs only)."
                )
            else:
                text = f"{n:,} {'person' if n == 1 else 'people'}" + (" matching the search." if search else ".")
            self.status.show_status(ErrorKind.PLAIN, text)
            self.loaded.emit(n)

        self.ctx.runner.submit(
            self.ctx.key(self._job),
            lambda _j: plan_backend.list_run_people(name, run_id, cats, search),
            on_result=shown,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )

    def _export_clicked(self) -> None:
        if self.run_id is None:
            return
        default = str(Path.home() / f"cio-desktop-run-{self.run_id}-people.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export people", default, "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write every person of the list (matching the search) to ``path``, off the GUI thread."""
        profile = self.ctx.profile
        run_id = self.run_id
        if profile is None or run_id is None:
            return
        name, cats, search, dry = profile.name, self.categories, self.search.text().strip() or None, self.dry

        def done(count: int) -> None:
            self.status.show_status(ErrorKind.OK, f"Wrote {count:,} people to {path}.")
            self.exported.emit(count, path)

        self.ctx.runner.submit(
            self.ctx.key(self._job + "-export"),
            lambda _j: plan_backend.export_run_people(name, run_id, path, cats, search, dry=dry),
            on_result=done,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )


class PeopleDialog(QDialog):
    """The people behind one number of a plan (or of a run)."""

    def __init__(
        self,
        ctx: AppContext,
        run_id: int,
        categories: Sequence[Category],
        title: str,
        parent: QWidget | None = None,
        *,
        dry: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumSize(720, 440)
        layout = QVBoxLayout(self)
        self.view = RunPeopleView(ctx, self, name=f"dialog-{run_id}")
        layout.addWidget(self.view, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.view.show_run(run_id, categories, dry=dry)
