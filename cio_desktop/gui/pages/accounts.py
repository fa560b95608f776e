"""Accounts: Hull accounts as Customer.io objects, and which account attributes they carry."""

from __future__ import annotations

from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from cio_desktop.config.profile import (
    MAX_ATTRIBUTE_NAME_BYTES,
    OBJECT_IDENTIFIERS,
    AttributeMapping,
    ObjectSettings,
    Profile,
)
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, StatusLine, compact_rows, hint, tab_chain

INTRO = (
    "Send each person's company (their Hull account) to Customer.io as an object, and relate the person "
    "to it, so campaigns can reach \u201cevery admin of accounts on the Pro plan\u201d. Each account goes out "
    "once per sync; unchanged accounts and relationships cost nothing."
)
TYPE_EXPLAINED = (
    "Customer.io keeps objects by type. Create the type first in Customer.io (Data & Integrations > "
    "Objects, e.g. \u201cAccounts\u201d) and enter its numeric id here."
)
DELETE_EXPLAINED = (
    "Only accounts this app created are deleted, only after a complete read of your Hull data, and "
    "never more than the deletion guard allows (set under Audience)."
)
IDENTIFIER_TEXT = {
    "account.domain": "Domain (account.domain)",
    "account.external_id": "Your own account id (account.external_id)",
    "account.id": "Hull account id (account.id)",
}


def default_object_name(hull: str) -> str:
    """``account.name`` -> ``name``: an object's attributes are the account's own."""
    return hull[len("account.") :] if hull.startswith("account.") else hull


class AccountsPage(Page):
    """Turn objects on, choose the object type and identifier, map account attributes."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Accounts", INTRO, parent)
        self.ctx = ctx
        self._loading = False
        self.enabled_box = QCheckBox("Send accounts as Customer.io objects")
        self.enabled_box.setAccessibleName("Send accounts as Customer.io objects")
        self.body_layout.addWidget(self.enabled_box)

        form = QFormLayout()
        self.type_edit = QLineEdit()
        self.type_edit.setAccessibleName("Object type id")
        self.type_edit.setValidator(QIntValidator(0, 2_000_000_000, self))
        self.type_edit.setMaximumWidth(120)
        self.type_edit.setToolTip(TYPE_EXPLAINED)
        form.addRow("Object type id:", self.type_edit)
        self.identifier = QComboBox()
        self.identifier.setAccessibleName("Account identifier")
        self.identifier.setMaximumWidth(360)
        for key in OBJECT_IDENTIFIERS:
            self.identifier.addItem(IDENTIFIER_TEXT[key], key)
        self.identifier.setToolTip("The account attribute that names its object in Customer.io; it must never change.")
        form.addRow("Object id from:", self.identifier)
        self.body_layout.addLayout(form)
        self.body_layout.addWidget(hint(TYPE_EXPLAINED))

        self.table = QTableWidget(0, 2)
        self.table.setAccessibleName("Account attributes")
        self.table.setHorizontalHeaderLabels(["Account attribute", "Customer.io object attribute"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        compact_rows(self.table)
        self.table.setMinimumHeight(180)
        self.body_layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.add_combo = QComboBox()
        self.add_combo.setAccessibleName("Account attribute to add")
        self.add_combo.setEditable(True)
        self.add_combo.setMinimumWidth(220)
        self.add_button = QPushButton("Add")
        self.add_button.setAccessibleName("Add account attribute")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setAccessibleName("Remove account attribute")
        buttons.addWidget(self.add_combo, 1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        self.body_layout.addLayout(buttons)

        self.delete_box = QCheckBox("Delete accounts from Customer.io when none of their people is sent any more")
        self.delete_box.setAccessibleName("Delete emptied accounts")
        self.body_layout.addWidget(self.delete_box)
        self.body_layout.addWidget(hint(DELETE_EXPLAINED))
        self.summary = StatusLine(name="Accounts: settings")
        self.body_layout.addWidget(self.summary)

        self.enabled_box.toggled.connect(self._changed)
        self.delete_box.toggled.connect(self._changed)
        self.type_edit.editingFinished.connect(self._changed)
        self.identifier.currentIndexChanged.connect(self._changed)
        self.table.itemChanged.connect(self._changed)
        self.add_button.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        ctx.profile_changed.connect(self._profile_changed)
        ctx.catalog_changed.connect(self._catalog_changed)
        tab_chain(
            (
                self.enabled_box,
                self.type_edit,
                self.identifier,
                self.table,
                self.add_combo,
                self.add_button,
                self.remove_button,
                self.delete_box,
            )
        )
        self._profile_changed(ctx.profile)
        self._catalog_changed(ctx.catalog)

    # ------------------------------------------------------------------ profile -> widgets
    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None:
            return
        o = profile.objects
        self._loading = True
        try:
            self.enabled_box.setChecked(o.enabled)
            self.type_edit.setText(o.type_id)
            self.identifier.setCurrentIndex(max(0, self.identifier.findData(o.identifier)))
            if self._rows() != [(m.hull, m.cio) for m in o.mappings]:
                self.table.setRowCount(0)
                for m in o.mappings:
                    self._append(m.hull, m.cio)
            self.delete_box.setChecked(o.delete_objects)
            self.delete_box.setEnabled(profile.delete_on_leave)
            self.delete_box.setToolTip(
                "" if profile.delete_on_leave else "Turn on \u201cDelete people who leave\u201d under Audience first."
            )
        finally:
            self._loading = False
        self._enable(o.enabled)
        self._summarise(profile)

    def _catalog_changed(self, catalog: Catalog | None) -> None:
        names = sorted(a.key for a in catalog.attributes if a.key.startswith("account.")) if catalog else []
        current = self.add_combo.currentText()
        self.add_combo.clear()
        self.add_combo.addItems(names)
        self.add_combo.setCurrentText(current if current in names else (names[0] if names else "account."))

    def _enable(self, on: bool) -> None:
        for w in (self.type_edit, self.identifier, self.table, self.add_combo, self.add_button, self.remove_button):
            w.setEnabled(on)

    def _summarise(self, profile: Profile) -> None:
        o = profile.objects
        if not o.enabled:
            self.summary.show_status(ErrorKind.PLAIN, "Off: accounts are not sent.")
            return
        n = len(o.mappings)
        self.summary.show_status(
            ErrorKind.OK,
            f"Each account goes to object type {o.type_id}, named by its {o.identifier}, with {n} attribute"
            f"{'' if n == 1 else 's'}; each person is related to their account.",
        )

    # ------------------------------------------------------------------ widgets -> profile
    def _rows(self) -> list[tuple[str, str]]:
        rows = []
        for r in range(self.table.rowCount()):
            hull, cio = self.table.item(r, 0), self.table.item(r, 1)
            rows.append((hull.text().strip() if hull else "", cio.text().strip() if cio else ""))
        return rows

    def _append(self, hull: str, cio: str) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(hull))
        self.table.setItem(r, 1, QTableWidgetItem(cio))

    def _add(self) -> None:
        hull = self.add_combo.currentText().strip()
        if not hull.startswith("account."):
            hull = "account." + hull
        self._loading = True
        self._append(hull, default_object_name(hull))
        self._loading = False
        self.table.setCurrentCell(self.table.rowCount() - 1, 1)
        self._changed()

    def _remove(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)
            self._changed()

    def _problem(self) -> str:
        if not self.type_edit.text().strip():
            return "Enter the object type id (a number, e.g. 1) from Customer.io."
        seen: set[str] = set()
        for hull, cio in self._rows():
            if not hull.startswith("account.") or hull == "account.":
                return f"\u201c{hull}\u201d is not an account attribute (they start with account.)."
            if not cio:
                return f"Give {hull} a Customer.io name."
            if len(cio.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
                return f"\u201c{cio[:40]}\u2026\u201d is longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes."
            if cio in seen:
                return f"\u201c{cio}\u201d is used twice."
            seen.add(cio)
        return ""

    def _changed(self) -> None:
        if self._loading or self.ctx.profile is None:
            return
        self._enable(self.enabled_box.isChecked())
        problem = self._problem()
        if problem:
            self.summary.show_status(ErrorKind.ERROR, problem)
            return
        settings = ObjectSettings(
            enabled=self.enabled_box.isChecked(),
            type_id=self.type_edit.text().strip(),
            identifier=str(self.identifier.currentData()),
            mappings=tuple(AttributeMapping(h, c) for h, c in self._rows()),
            delete_objects=self.delete_box.isChecked(),
        )
        err = self.ctx.update(objects=settings)
        if err:
            self.summary.show_status(ErrorKind.ERROR, err)
        elif self.ctx.profile is not None:
            self._summarise(self.ctx.profile)


__all__ = ["AccountsPage", "default_object_name"]
