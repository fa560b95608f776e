"""The review of deletions a run withheld: who they are, and the user's approval to delete them.

Opened from History for a run whose deletions the guard held back. Approving does not delete these
people directly: it starts a full sync that reads the source again and deletes exactly the approved
people who are still outside the segments, and only if every row can be read (see
:mod:`cio_desktop.sync.guard`). Anyone else who left since meets the guard on their own.

Signals: ``approved(str, DeletionApproval)``: the run's mode and the approval, once the user confirmed.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.gui import backend
from cio_desktop.gui.context import AppContext
from cio_desktop.gui.models import Column, LazyTableModel
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import StatusLine, compact_rows
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.runs import RunRecord, WithheldDeletion


def _state(w: WithheldDeletion) -> str:
    return "In Customer.io" if w.still_active else "Already deleted, or sent again since"


class WithheldDialog(QDialog):
    """Lists a run's withheld deletions (loaded on a worker) and asks for approval."""

    approved = Signal(str, object)

    def __init__(self, ctx: AppContext, run: RunRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.run = run
        self.setWindowTitle(f"Withheld deletions of run #{run.id}")
        self.setMinimumSize(640, 420)
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"{run.message}\n\nApproving starts a new run ({backend.mode_text(run.mode)}): it reads the source"
            " again and deletes from Customer.io only the people below who are still outside the chosen"
            " segments, and only if every row can be read. Deleting a person cannot be undone."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.model = LazyTableModel[WithheldDeletion](
            [
                Column("customerId", lambda w: w.customer_id),
                Column("Hull id", lambda w: w.hull_id),
                Column("Now", _state),
            ],
            self,
        )
        self.table = QTableView()
        self.table.setAccessibleName("People whose deletion was withheld")
        compact_rows(self.table)
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.status = StatusLine(name="Withheld deletions status")
        layout.addWidget(self.status)
        buttons = QDialogButtonBox()
        self.approve_button = QPushButton("Delete these people…")
        self.approve_button.setAccessibleName("Approve the withheld deletions")
        self.approve_button.setEnabled(False)
        buttons.addButton(self.approve_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.reject)
        self.approve_button.clicked.connect(self._approve_clicked)
        layout.addWidget(buttons)
        self.people: list[WithheldDeletion] = []
        self.active = 0
        self._load()

    def _load(self) -> None:
        profile = self.ctx.profile
        if profile is None:
            return
        name, run_id = profile.name, self.run.id
        self.status.show_status(ErrorKind.BUSY, "Loading…")

        def shown(result: tuple[list[WithheldDeletion], int, int]) -> None:
            rows, listed, active = result
            self.people, self.active = rows, active
            self.model.set_rows(rows)
            who = f"{active:,} {'person' if active == 1 else 'people'}"
            self.approve_button.setText(f"Delete {who}…" if active else "Nothing to delete")
            self.approve_button.setEnabled(bool(active))
            gone = listed - active
            text = f"{active:,} still in Customer.io" + (f"; {gone:,} deleted since this run." if gone else ".")
            if listed > len(rows):
                text += f" Showing the first {len(rows):,} of {listed:,}."
            if not listed:
                text = "This run's list is no longer kept: run a sync to find who would be deleted now."
            self.status.show_status(ErrorKind.PLAIN, text)

        self.ctx.runner.submit(
            self.ctx.key(f"withheld-{run_id}"),
            lambda _j: backend.list_withheld(name, run_id),
            on_result=shown,
            on_error=lambda e: self.status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )

    def approval(self) -> DeletionApproval:
        """Approve the people on this run's list who are still in Customer.io (all of them, not only
        those shown)."""
        return DeletionApproval(self.active, from_run=int(self.run.id))

    def _approve_clicked(self) -> None:
        approval = self.approval()
        answer = QMessageBox.warning(
            self,
            "Delete people from Customer.io?",
            f"Delete {approval.max_count:,} {'person' if approval.max_count == 1 else 'people'} from Customer.io?"
            " Their profiles and activity are removed there and cannot be restored.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.confirm()

    def confirm(self) -> None:
        """Approve without asking again (the confirmation box already asked)."""
        self.approved.emit(str(self.run.mode), self.approval())
        self.accept()
