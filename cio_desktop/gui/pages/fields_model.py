"""The Fields page's attribute table: rows of (Hull attribute, Customer.io name), checked live.

Each row says what is wrong with it in the Problem column: a bad Customer.io name (blocks saving)
or a Hull attribute the source does not have (a typo: blocks saving until the user confirms it).
Rows also show how many users of a sample have a value and a few example values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QCompleter, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from cio_desktop.config.profile import MAX_ATTRIBUTE_NAME_BYTES, AttributeMapping, default_cio_name
from cio_desktop.hull.attribute_catalog import AttributeSample, closest, suggest

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

# Names Customer.io reserves for identifiers and flags. (email, created_at and hull_segments may be
# mapped: a mapping overrides the base attribute of the same name.)
RESERVED_NAMES = frozenset({"id", "cio_id", "_update"})

COL_HULL, COL_TYPE, COL_CIO, COL_FILLED, COL_SAMPLES, COL_PROBLEM = range(6)
ERROR_COLOR = QColor("#d64545")
WARNING_COLOR = QColor("#b7791f")
# Suggestions shown under the Hull attribute cell while typing.
SUGGESTIONS = 15


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
    HEADERS = ("Hull attribute", "Type", "Customer.io name", "Users with a value", "Sample values", "Problem")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[list[str]] = []
        self.types: dict[str, str] = {}
        # The source's attribute names; None until its catalogue is loaded (then nothing is flagged).
        self.known: frozenset[str] | None = None
        self._knows_accounts = False
        # Unknown attributes the user chose to keep anyway (this session).
        self.confirmed: set[str] = set()
        self.sample: AttributeSample | None = None

    def set_rows(self, mappings: tuple[AttributeMapping, ...]) -> None:
        self.beginResetModel()
        self.rows = [[m.hull, m.cio] for m in mappings]
        self.endResetModel()

    def set_types(self, types: dict[str, str], *, judge: bool = True) -> None:
        """The source's attributes and types; ``judge`` False when they cannot be trusted to be complete."""
        self.types = types
        self.known = frozenset(types) if types and judge else None
        # A catalogue without account attributes (an API schema may leave them out) cannot judge them.
        self._knows_accounts = any(k.startswith("account.") for k in types)
        self._changed_all()

    def set_sample(self, sample: AttributeSample | None) -> None:
        self.sample = sample
        self._changed_all()

    def confirm(self, names: Iterable[str]) -> None:
        self.confirmed.update(names)
        self._changed_all()

    def _changed_all(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, COL_PROBLEM))

    # ------------------------------------------------------------------ checks
    def is_unknown(self, hull: str) -> bool:
        """Whether the source's catalogue lacks ``hull`` (always False before the catalogue loads)."""
        if not hull or self.known is None or hull in self.known:
            return False
        return self._knows_accounts or not hull.startswith("account.")

    def blocking_problem(self, row: int) -> str:
        """What must be fixed before the table can be saved ("" if nothing)."""
        names = [r[1] for i, r in enumerate(self.rows) if i != row]
        hull, cio = self.rows[row]
        if not hull:
            return "Choose a Hull attribute."
        return validate_cio_name(cio, names)

    def unknown_problem(self, row: int) -> str:
        hull = self.rows[row][0]
        if not self.is_unknown(hull):
            return ""
        if hull in self.confirmed:
            return f"Kept on purpose: your Hull users have no “{hull}” yet, so it is not sent."
        guess = closest(hull, sorted(self.known or ()))
        if guess:
            return f"No such Hull attribute: did you mean “{guess}”? As it is, it is never sent."
        return "No such Hull attribute: your users have no value for it, so it is never sent."

    def problem(self, row: int) -> str:
        return self.blocking_problem(row) or self.unknown_problem(row)

    def problems(self) -> list[tuple[int, str]]:
        """The rows that block saving, with what is wrong."""
        return [(i, p) for i in range(len(self.rows)) if (p := self.blocking_problem(i))]

    def unconfirmed_unknown(self) -> list[str]:
        """Hull attributes the source does not have and the user has not confirmed, in row order."""
        out: list[str] = []
        for hull, _cio in self.rows:
            if self.is_unknown(hull) and hull not in self.confirmed and hull not in out:
                out.append(hull)
        return out

    def mappings(self) -> tuple[AttributeMapping, ...]:
        return tuple(AttributeMapping(h, c) for h, c in self.rows)

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Vertical:
            return str(section + 1) if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole and section in (COL_FILLED, COL_SAMPLES):
            users = self.sample.users if self.sample is not None else 0
            return f"From the first {users:,} users of the chosen segments." if users else "Loading a sample…"
        return None

    def _sample_text(self, hull: str, col: int) -> str:
        if self.sample is None or not hull:
            return ""
        filled, examples = self.sample.describe(hull)
        return filled if col == COL_FILLED else examples

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = index.row()
        hull, cio = self.rows[row]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if col == COL_HULL:
                return hull
            if col == COL_TYPE:
                return self.types.get(hull, "")
            if col == COL_CIO:
                return cio
            if col in (COL_FILLED, COL_SAMPLES):
                return self._sample_text(hull, col) if role == Qt.ItemDataRole.DisplayRole else None
            problem = self.problem(row)
            return problem if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_PROBLEM:
            blocking = self.blocking_problem(row) or (self.is_unknown(hull) and hull not in self.confirmed)
            return ERROR_COLOR if blocking else WARNING_COLOR
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_HULL and self.is_unknown(hull):
            return ERROR_COLOR
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_FILLED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (COL_HULL, COL_CIO, COL_PROBLEM):
                return self.problem(row) or (hull if col == COL_HULL else None)
            if col == COL_SAMPLES:
                return self._sample_text(hull, col) or None
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() in (COL_HULL, COL_CIO):
            base |= Qt.ItemFlag.ItemIsEditable
        return base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole or index.column() not in (COL_HULL, COL_CIO):
            return False
        text = str(value)
        row = self.rows[index.row()]
        if index.column() == COL_HULL:
            text = text.strip()
            # A new Hull attribute brings its default name, unless the user had typed their own.
            if not row[1] or row[1] == default_cio_name(row[0]):
                row[1] = default_cio_name(text) if text else ""
            row[0] = text
        else:
            row[1] = text
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), COL_PROBLEM))
        # Another row's duplicate warning may have appeared or gone.
        self._changed_all()
        self.edited.emit()
        return True

    def add(self, hull: str) -> int:
        row = len(self.rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self.rows.append([hull, default_cio_name(hull) if hull else ""])
        self.endInsertRows()
        self.edited.emit()
        return row

    def add_many(self, hulls: Iterable[str]) -> tuple[int, int]:
        """Add rows for ``hulls`` not mapped yet whose default Customer.io name is free (one edit).
        Returns (added, left out because already mapped or their name is taken)."""
        mapped = {h for h, _ in self.rows}
        taken = {c for _, c in self.rows}
        new: list[list[str]] = []
        skipped = 0
        for hull in hulls:
            cio = default_cio_name(hull)
            if hull in mapped or cio in taken or validate_cio_name(cio, []):
                skipped += 1
                continue
            new.append([hull, cio])
            mapped.add(hull)
            taken.add(cio)
        if new:
            start = len(self.rows)
            self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
            self.rows.extend(new)
            self.endInsertRows()
            self.edited.emit()
        return len(new), skipped

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.rows[row]
        self.endRemoveRows()
        self._changed_all()
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
    """Edits the Hull attribute column with a combo box whose suggestions, as you type, are the
    source's attributes ranked by similarity (so a typo still finds the attribute)."""

    def __init__(self, items: Callable[[], list[tuple[str, str]]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items = items  # (key, type) of every attribute of the source, sorted

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        combo = QComboBox(parent)
        combo.setEditable(True)
        combo.setAccessibleName("Hull attribute")
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setMaxVisibleItems(15)
        items = self.items()
        for key, typ in items:
            combo.addItem(f"{key}  ({typ})" if typ else key, key)
        keys = [key for key, _ in items]
        suggestions = QStringListModel(combo)
        completer = QCompleter(suggestions, combo)
        # The list is ranked here (difflib), not filtered by Qt: show it as it is.
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setMaxVisibleItems(SUGGESTIONS)
        combo.setCompleter(completer)
        edit = combo.lineEdit()
        assert edit is not None

        def typed(text: str) -> None:
            ranked = suggest(text, keys, limit=SUGGESTIONS)
            suggestions.setStringList(ranked)
            if ranked and text.strip():
                completer.complete()

        edit.textEdited.connect(typed)
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


__all__ = ["AttributeDelegate", "MappingModel", "validate_cio_name"]
