"""Identity and fields: the customerId attribute and which Hull attributes Customer.io receives."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QStringListModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.config.profile import MAX_ATTRIBUTE_NAME_BYTES, AttributeMapping, Profile, default_cio_name
from cio_desktop.gui import backend
from cio_desktop.gui.context import AppContext, Catalog
from cio_desktop.gui.status import ErrorKind
from cio_desktop.gui.widgets import Page, StatusLine, compact_rows, hint, tab_chain

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

ID_RECOMMENDATION = (
    "The customerId is how Customer.io recognises a person, so it must never change. Use "
    "<b>external_id</b> if you give your users your own identifier in Hull, otherwise the Hull "
    "<b>id</b>. People without a value are not sent."
)
EMAIL_ID_HINT = (
    "Only when the customerId is the email. Customer.io workspaces are set to identify people by "
    "<b>ID only</b> or by <b>email or ID</b> (Workspace Settings). Hull's hosted connector sent the "
    "email as the ID: in an ID-only workspace those people have their email as their ID, so choose "
    "<i>their email as their ID</i> to keep updating the same people."
)
# Above this share of the preview sample without a customerId, the choice is probably wrong.
MISSING_WARN_SHARE = 0.2
SAMPLE_SIZE = 200
# Names Customer.io reserves for identifiers and flags. (email, created_at and hull_segments may be
# mapped: a mapping overrides the base attribute of the same name.)
RESERVED_NAMES = frozenset({"id", "cio_id", "_update"})


def validate_cio_name(name: str, others: list[str]) -> str:
    """The problem with a Customer.io attribute name, or "" when it is fine."""
    if not name.strip():
        return "Give the Customer.io attribute a name."
    size = len(name.encode("utf-8"))
    if size > MAX_ATTRIBUTE_NAME_BYTES:
        return f"Too long: {size} bytes, Customer.io allows {MAX_ATTRIBUTE_NAME_BYTES}."
    if name != name.strip():
        return "Remove the spaces at the start or end."
    if name in others:
        return f"“{name}” is already used by another row."
    if name in RESERVED_NAMES:
        return f"“{name}” is reserved by Customer.io; choose another name."
    return ""


class MappingModel(QAbstractTableModel):
    """Rows of (Hull attribute, Customer.io name). Signals: ``edited()`` after any change."""

    edited = Signal()
    HEADERS = ("Hull attribute", "Type", "Customer.io name", "Problem")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[list[str]] = []
        self.types: dict[str, str] = {}

    def set_rows(self, mappings: tuple[AttributeMapping, ...]) -> None:
        self.beginResetModel()
        self.rows = [[m.hull, m.cio] for m in mappings]
        self.endResetModel()

    def set_types(self, types: dict[str, str]) -> None:
        self.types = types
        if self.rows:
            self.dataChanged.emit(self.index(0, 1), self.index(len(self.rows) - 1, 1))

    def problem(self, row: int) -> str:
        names = [r[1] for i, r in enumerate(self.rows) if i != row]
        hull, cio = self.rows[row]
        if not hull:
            return "Choose a Hull attribute."
        return validate_cio_name(cio, names)

    def problems(self) -> list[tuple[int, str]]:
        return [(i, p) for i in range(len(self.rows)) if (p := self.problem(i))]

    def mappings(self) -> tuple[AttributeMapping, ...]:
        return tuple(AttributeMapping(h, c) for h, c in self.rows)

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else 4

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return str(section + 1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        hull, cio = self.rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == 0:
                return hull
            if col == 1:
                return self.types.get(hull, "")
            if col == 2:
                return cio
            problem = self.problem(index.row())
            return problem if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.ForegroundRole and col == 3:
            return QColor("#d64545")
        if role == Qt.ItemDataRole.ToolTipRole and col in (2, 3):
            return self.problem(index.row()) or None
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() in (0, 2):
            base |= Qt.ItemFlag.ItemIsEditable
        return base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole or index.column() not in (0, 2):
            return False
        text = str(value)
        row = self.rows[index.row()]
        if index.column() == 0:
            text = text.strip()
            # A new Hull attribute brings its default name, unless the user had typed their own.
            if not row[1] or row[1] == default_cio_name(row[0]):
                row[1] = default_cio_name(text) if text else ""
            row[0] = text
        else:
            row[1] = text
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), 3))
        # Another row's duplicate warning may have appeared or gone.
        if self.rows:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.rows) - 1, 3))
        self.edited.emit()
        return True

    def add(self, hull: str) -> int:
        row = len(self.rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self.rows.append([hull, default_cio_name(hull) if hull else ""])
        self.endInsertRows()
        self.edited.emit()
        return row

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.rows[row]
        self.endRemoveRows()
        if self.rows:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.rows) - 1, 3))
        self.edited.emit()

    def move(self, row: int, delta: int) -> int:
        target = row + delta
        if not 0 <= target < len(self.rows):
            return row
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), target + (1 if delta > 0 else 0))
        self.rows[row], self.rows[target] = self.rows[target], self.rows[row]
        self.endMoveRows()
        self.edited.emit()
        return target


class AttributeDelegate(QStyledItemDelegate):
    """Edits the Hull attribute column with a searchable (type to filter, "contains") combo box."""

    def __init__(self, page: FieldsPage) -> None:
        super().__init__(page)
        self.page = page

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        combo = QComboBox(parent)
        combo.setEditable(True)
        combo.setAccessibleName("Hull attribute")
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setMaxVisibleItems(15)
        for key, typ in self.page.attribute_items():
            combo.addItem(f"{key}  ({typ})" if typ else key, key)
        completer = QCompleter(self.page.attribute_keys_model, combo)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        combo.setCompleter(completer)
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        assert isinstance(editor, QComboBox)
        value = index.data(Qt.ItemDataRole.EditRole) or ""
        pos = editor.findData(value)
        if pos >= 0:
            editor.setCurrentIndex(pos)
        editor.setEditText(value)

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: Index) -> None:
        assert isinstance(editor, QComboBox)
        text = editor.currentText().strip()
        pos = editor.findText(text)
        key = editor.itemData(pos) if pos >= 0 else text.split("  (")[0]
        model.setData(index, key, Qt.ItemDataRole.EditRole)


class FieldsPage(Page):
    """Signals: ``sample_checked(int, int)``: missing customerIds, sample size."""

    sample_checked = Signal(int, int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            "Identity and fields",
            "Choose how people are identified in Customer.io and which Hull attributes they receive.",
            parent,
        )
        self.ctx = ctx
        self._loading = False
        self._types: dict[str, str] = {}
        self.attribute_keys_model = QStringListModel(self)

        # -- identity
        id_box = QGroupBox("customerId")
        idl = QVBoxLayout(id_box)
        form = QFormLayout()
        self.id_combo = QComboBox()
        self.id_combo.setEditable(True)
        self.id_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.id_combo.setAccessibleName("customerId attribute")
        # Attribute names can be 150+ characters: never let one widen the page.
        self.id_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.id_combo.setMinimumContentsLength(28)
        id_completer = QCompleter(self.attribute_keys_model, self.id_combo)
        id_completer.setFilterMode(Qt.MatchFlag.MatchContains)
        id_completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.id_combo.setCompleter(id_completer)
        form.addRow("Hull attribute", self.id_combo)
        idl.addLayout(form)
        idl.addWidget(hint(ID_RECOMMENDATION))
        self.id_status = StatusLine(name="customerId check")
        idl.addWidget(self.id_status)
        self.email_id_combo = QComboBox()
        self.email_id_combo.addItem("their email (workspace set to “Email or ID”)", False)
        self.email_id_combo.addItem("their email as their ID (workspace set to “ID only”)", True)
        self.email_id_combo.setAccessibleName("Identify people by")
        email_form = QFormLayout()
        email_form.addRow("Identify people by", self.email_id_combo)
        idl.addLayout(email_form)
        idl.addWidget(hint(EMAIL_ID_HINT))
        self.body_layout.addWidget(id_box)

        # -- mapping
        map_box = QGroupBox("Attributes sent to Customer.io")
        ml = QVBoxLayout(map_box)
        ml.addWidget(
            hint(
                "Every person also gets email, created_at and hull_segments (a row below with the same name "
                "replaces them). Double-click a cell to change it; "
                "type in the Hull attribute cell to search."
            )
        )
        self.model = MappingModel(self)
        self.table = QTableView()
        self.table.setAccessibleName("Attribute mapping")
        compact_rows(self.table, padding=14)  # room for the searchable combo box editor
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(0, AttributeDelegate(self))
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(
            QTableView.EditTrigger.DoubleClicked
            | QTableView.EditTrigger.EditKeyPressed
            | QTableView.EditTrigger.AnyKeyPressed
        )
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(220)
        ml.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add attribute")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        for b, name in (
            (self.add_button, "Add a mapped attribute"),
            (self.remove_button, "Remove the selected attribute"),
            (self.up_button, "Move the selected attribute up"),
            (self.down_button, "Move the selected attribute down"),
        ):
            b.setAccessibleName(name)
            buttons.addWidget(b)
        buttons.addStretch(1)
        ml.addLayout(buttons)
        self.mapping_status = StatusLine(name="Mapping problems")
        ml.addWidget(self.mapping_status)
        self.body_layout.addWidget(map_box, 1)

        # -- options
        self.require_email = QCheckBox("Only send people who have an email address")
        self.require_email.setAccessibleName("Require email")
        self.send_nulls = QCheckBox("Clear attributes in Customer.io when they are empty in Hull (send nulls)")
        self.send_nulls.setAccessibleName("Send nulls")
        self.body_layout.addWidget(self.require_email)
        self.body_layout.addWidget(self.send_nulls)
        self.error_line = StatusLine(name="Fields problem")
        self.body_layout.addWidget(self.error_line)

        self._sample_timer = QTimer(self)
        self._sample_timer.setSingleShot(True)
        self._sample_timer.setInterval(400)
        self._sample_timer.timeout.connect(self.check_sample)

        self.id_combo.activated.connect(lambda _i: self._id_changed())
        id_edit = self.id_combo.lineEdit()
        assert id_edit is not None
        id_edit.editingFinished.connect(self._id_changed)
        self.model.edited.connect(self._mapping_edited)
        self.add_button.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(1))
        self.email_id_combo.activated.connect(lambda i: self._set(email_as_id=bool(self.email_id_combo.itemData(i))))
        self.require_email.toggled.connect(lambda on: self._set(require_email=on))
        self.send_nulls.toggled.connect(lambda on: self._set(send_nulls=on))
        ctx.profile_changed.connect(self._profile_changed)
        ctx.catalog_changed.connect(self._catalog_changed)
        chain: list[QWidget] = [
            self.id_combo,
            self.email_id_combo,
            self.table,
            self.add_button,
            self.remove_button,
            self.up_button,
            self.down_button,
            self.require_email,
            self.send_nulls,
        ]
        tab_chain(chain)
        self._profile_changed(ctx.profile)
        self._catalog_changed(ctx.catalog)

    # ------------------------------------------------------------------ data
    def attribute_items(self) -> list[tuple[str, str]]:
        return sorted(self._types.items())

    def _catalog_changed(self, catalog: Catalog | None) -> None:
        if catalog is None:
            return
        self._types = {a.key: a.type for a in catalog.attributes}
        # The top-level user fields are attributes too, even when the schema leaves them out.
        for key, typ in (("id", "string"), ("external_id", "string"), ("email", "string"), ("name", "string")):
            self._types.setdefault(key, typ)
        keys = sorted(self._types)
        self.attribute_keys_model.setStringList(keys)
        current = self.id_combo.currentText()
        self.id_combo.blockSignals(True)
        self.id_combo.clear()
        preferred = ["external_id", "id", "email"]
        for key in preferred + [k for k in keys if k not in preferred]:
            label = {"external_id": "external_id (recommended)", "id": "id (Hull id)"}.get(key, key)
            self.id_combo.addItem(label, key)
        self._select_id(current if current else (self.ctx.profile.customer_id_attribute if self.ctx.profile else ""))
        self.id_combo.blockSignals(False)
        self.model.set_types(self._types)
        self._sample_timer.start()

    def _select_id(self, key: str) -> None:
        pos = self.id_combo.findData(key)
        if pos >= 0:
            self.id_combo.setCurrentIndex(pos)
        else:
            self.id_combo.setEditText(key)

    def _profile_changed(self, profile: Profile | None) -> None:
        if profile is None or self._loading:
            return
        self._loading = True
        try:
            if not self.id_combo.hasFocus():
                self._select_id(profile.customer_id_attribute)
            if self.model.mappings() != profile.mappings and self.model.problems() == []:
                self.model.set_rows(profile.mappings)
            self.require_email.setChecked(profile.require_email)
            self.send_nulls.setChecked(profile.send_nulls)
            self.email_id_combo.setCurrentIndex(1 if profile.email_as_id else 0)
            self.email_id_combo.setEnabled(profile.customer_id_attribute == "email")
        finally:
            self._loading = False
        self._update_mapping_status()

    def _current_id(self) -> str:
        text = self.id_combo.currentText().strip()
        pos = self.id_combo.findText(text)
        if pos >= 0:
            return str(self.id_combo.itemData(pos))
        return text

    def _id_changed(self) -> None:
        if self._loading:
            return
        key = self._current_id()
        if self.ctx.profile is not None and key == self.ctx.profile.customer_id_attribute:
            return
        self._set(customer_id_attribute=key)
        self._sample_timer.start()

    def _set(self, **changes: object) -> None:
        if self._loading:
            return
        err = self.ctx.update(**changes)
        if err:
            self.error_line.show_status(ErrorKind.ERROR, err)
        else:
            self.error_line.clear_status()

    def _mapping_edited(self) -> None:
        self._update_mapping_status()
        # Only a valid table reaches the profile; while a row is wrong, the saved mapping stays as it was.
        if not self.model.problems():
            self._set(mappings=self.model.mappings())

    def _update_mapping_status(self) -> None:
        problems = self.model.problems()
        if problems:
            row, text = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            self.mapping_status.show_status(ErrorKind.ERROR, f"Row {row + 1}: {text}{more} Not saved until fixed.")
        else:
            n = len(self.model.rows)
            self.mapping_status.show_status(ErrorKind.OK, f"{n} attribute{'s' if n != 1 else ''} mapped.")

    def _selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _add(self) -> None:
        row = self.model.add("")
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.edit(index)

    def _remove(self) -> None:
        row = self._selected_row()
        if row >= 0:
            self.model.remove(row)

    def _move(self, delta: int) -> None:
        row = self._selected_row()
        if row >= 0:
            target = self.model.move(row, delta)
            self.table.selectRow(target)

    # ------------------------------------------------------------------ sample check
    def check_sample(self) -> None:
        """Count users of the preview sample without the chosen customerId attribute (off the GUI thread)."""
        profile = self.ctx.profile
        if profile is None or not profile.segments or not backend.has_source_settings(profile):
            self.id_status.clear_status()
            return
        attribute = self._current_id()
        secrets, secret_name = self.ctx.secrets, self.ctx.secret_name
        self.id_status.show_status(ErrorKind.BUSY, "Checking a sample of your users…")

        def done(result: tuple[int, int]) -> None:
            missing, total = result
            self.sample_checked.emit(missing, total)
            if total == 0:
                self.id_status.show_status(ErrorKind.WARNING, "The chosen segments have no users to check yet.")
            elif missing / total > MISSING_WARN_SHARE:
                self.id_status.show_status(
                    ErrorKind.WARNING,
                    f"{missing} of the first {total} users have no “{attribute}”: they would not be sent. "
                    "Consider the Hull id or external_id.",
                )
            else:
                self.id_status.show_status(
                    ErrorKind.OK, f"{total - missing} of the first {total} users have “{attribute}”."
                )

        self.ctx.runner.submit(
            self.ctx.key("id-sample"),
            lambda job: backend.count_missing(profile, secrets, secret_name, attribute, SAMPLE_SIZE, job),
            on_result=done,
            on_error=lambda e: self.id_status.show_status(ErrorKind.ERROR, backend.error_text(e)),
        )


# Kept importable for tests that check the live validation without a window.
__all__ = ["FieldsPage", "MappingModel", "validate_cio_name"]
