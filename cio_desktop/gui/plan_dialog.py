"""The confirmation before a sync: what it will do, from its plan, and the user's go-ahead.

Shown by the Sync page once a plan is made (on a worker): the workspace, how many people will be
created, updated, merged (their customerId changed), left unchanged, skipped (by reason) and deleted,
and the events. Each number opens
the people behind it. Confirming is also the deletion guard's approval of exactly the deletions shown
(:meth:`~cio_desktop.sync.plan.Plan.approval`); refusing sends nothing.

Signals: ``confirmed(Plan)`` once the user agreed (the dialog is then closed).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.gui.context import AppContext
from cio_desktop.gui.run_people_view import PeopleDialog
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import StatusLine
from cio_desktop.sync.plan import FIRST_SYNC_NOTE, MERGE_LABEL, MERGED_TEXT, Plan
from cio_desktop.sync.run_people import Category
from cio_desktop.sync.words import label_text, mode_text

ROWS = (
    (Category.CREATE, "will be created in Customer.io"),
    (Category.UPDATE, "will be updated (their data changed)"),
    (Category.UNCHANGED, "unchanged: nothing to send"),
    (Category.SKIP, "will be skipped"),
    (Category.DELETE, "will be deleted from Customer.io (they left the chosen segments)"),
    (Category.WITHHELD, "deletions the guard withholds (they cannot be approved: see below)"),
)


def _people(n: int) -> str:
    return f"{'person' if n == 1 else 'people'}"


class PlanDialog(QDialog):
    confirmed = Signal(object)

    def __init__(self, ctx: AppContext, plan: Plan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.plan = plan
        # Named as the button that asked for it (sync/words.py): "Confirm: Full sync".
        self.setWindowTitle(f"Confirm: {mode_text(plan.mode)}")
        self.setMinimumWidth(640)
        layout = QVBoxLayout(self)
        head = QLabel(
            f"<b>Customer.io workspace {plan.site_id or '(no site id)'}</b> ({plan.region})<br>"
            f"From {plan.source}. Planned in {plan.seconds:.1f} s; nothing has been sent yet."
        )
        head.setAccessibleName("Workspace and source")
        head.setWordWrap(True)
        layout.addWidget(head)

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        self.count_buttons: dict[Category, QPushButton] = {}
        self.merged_button: QPushButton | None = None
        row = 0
        for category, text in ROWS:
            n = plan.count(category)
            if category is Category.WITHHELD and not n:
                continue
            button = self._count_row(grid, row, n, text)
            button.clicked.connect(lambda _c=False, c=category, t=text: self.show_people(c, t))
            self.count_buttons[category] = button
            row += 1
            if category is Category.UPDATE and plan.merged:
                # Merges are listed under their decision: the run's list keeps them with the updates.
                self.merged_button = self._count_row(grid, row, plan.merged, MERGED_TEXT)
                self.merged_button.clicked.connect(self.show_merged)
                row += 1
            if category is Category.SKIP:
                for reason, k in sorted(plan.skipped.items(), key=lambda kv: -kv[1]):
                    detail = QLabel(f"    {k:,} {label_text(reason)}")
                    detail.setToolTip("Why these people are not sent")
                    grid.addWidget(detail, row, 1)
                    row += 1
        for label_key, k in sorted(plan.events.items(), key=lambda kv: -kv[1]):
            number = QLabel(f"{k:,}")
            number.setToolTip("Events are not listed one by one")
            grid.addWidget(number, row, 0)
            grid.addWidget(QLabel(label_text(label_key, planned=True)), row, 1)
            row += 1
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)

        self.notes = StatusLine(name="Plan notes")
        notes = [n for n in (plan.guard_note, *plan.warnings) if n]
        if notes:
            self.notes.show_status(ErrorKind.WARNING, " ".join(notes))
        layout.addWidget(self.notes)
        if plan.first_sync:
            first = QLabel("\n".join((FIRST_SYNC_NOTE, *plan.existing_lines())))
            first.setWordWrap(True)
            first.setAccessibleName("First sync")
            layout.addWidget(first)

        layout.addStretch(1)  # extra height goes below the text, not between its lines
        buttons = QDialogButtonBox()
        self.send_button = QPushButton(self._send_text())
        self.send_button.setObjectName("primary")
        self.send_button.setAccessibleName("Confirm and send")
        self.send_button.setToolTip("Send exactly this to Customer.io; deletions are limited to those shown")
        role = QDialogButtonBox.ButtonRole.DestructiveRole if plan.deletions else QDialogButtonBox.ButtonRole.AcceptRole
        buttons.addButton(self.send_button, role)
        self.cancel_button = buttons.addButton("Don't send", QDialogButtonBox.ButtonRole.RejectRole)
        self.cancel_button.setToolTip("Close without sending anything")
        self.send_button.clicked.connect(self.confirm)
        self.cancel_button.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.people_dialog: PeopleDialog | None = None

    def _count_row(self, grid: QGridLayout, row: int, n: int, text: str) -> QPushButton:
        """A number that opens the list of its people, and what they are."""
        button = QPushButton(f"{n:,}")
        button.setFlat(True)
        button.setEnabled(bool(n))
        if n:  # looks like what it does: opens the list
            button.setStyleSheet("QPushButton { color: palette(link); text-decoration: underline; }")
        button.setAccessibleName(f"{n:,} {_people(n)} {text}: show them")
        button.setToolTip(f"List these {_people(n)}: search them, export them to CSV")
        grid.addWidget(button, row, 0)
        label = QLabel(f"{_people(n)} {text}")
        label.setWordWrap(True)  # the merge line is long: wrapped, not cut
        label.setToolTip(f"Click the number to list these {_people(n)}, search them and export them to CSV.")
        grid.addWidget(label, row, 1)
        return button

    def _send_text(self) -> str:
        p = self.plan
        sends = p.count(Category.CREATE) + p.count(Category.UPDATE) + p.merged
        parts = [f"send {sends:,} {_people(sends)}"] if sends else []
        if p.deletions:
            parts.append(f"delete {p.deletions:,}")
        return ("Sync: " + " and ".join(parts)) if parts else "Sync (nothing to send)"

    def show_people(self, category: Category, text: str) -> None:
        n = self.plan.count(category)
        title = f"{n:,} {_people(n)} {text}"
        if category is Category.UPDATE and self.plan.merged:
            title += f", listed with the {self.plan.merged:,} to be merged"
        self.people_dialog = PeopleDialog(self.ctx, self.plan.run_id, self.plan.categories(category), title, self)
        self.people_dialog.open()

    def show_merged(self) -> None:
        """The people to be merged: the updates' list, searched for the merge decision."""
        n = self.plan.merged
        title = f"{n:,} {_people(n)} {MERGED_TEXT}"
        self.people_dialog = PeopleDialog(self.ctx, self.plan.run_id, (Category.UPDATE,), title, self)
        self.people_dialog.view.search.setText(MERGE_LABEL)
        self.people_dialog.open()

    def confirm(self) -> None:
        self.confirmed.emit(self.plan)
        self.accept()
