"""Table models: checkable lists (segments, events), and lazy tables for thousands of rows.

Lazy means: the model holds the plain rows, computes display text only for the cells the view
asks for, and hands rows to the view in chunks (``canFetchMore``/``fetchMore``), so 10,000 rows
appear at once and scroll smoothly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
Row = TypeVar("Row")


@dataclass(frozen=True)
class CheckItem:
    key: str
    name: str
    count: int | None


class CheckListModel(QAbstractTableModel):
    """Name (checkable) and count columns. Signals: ``checked_changed()``."""

    checked_changed = Signal()

    def __init__(self, count_header: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[CheckItem] = []
        self._checked: set[str] = set()
        self._headers = ("Name", count_header)

    def set_items(self, items: Iterable[CheckItem], checked: Iterable[str]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._checked = set(checked)
        # Chosen keys the source no longer offers stay visible (and checked) so nothing is lost silently.
        known = {i.key for i in self._items}
        for key in sorted(self._checked - known):
            self._items.append(CheckItem(key, key, None))
        self.endResetModel()

    def set_checked(self, keys: Iterable[str]) -> None:
        self._checked = set(keys)
        if self._items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._items) - 1, 0))

    def checked_keys(self) -> list[str]:
        return [i.key for i in self._items if i.key in self._checked]

    def item(self, row: int) -> CheckItem:
        return self._items[row]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else 2

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return item.name
            return "—" if item.count is None else f"{item.count:,}"
        if role == Qt.ItemDataRole.CheckStateRole and col == 0:
            return Qt.CheckState.Checked if item.key in self._checked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == 0 and item.name != item.key:
            return item.key
        if role == Qt.ItemDataRole.UserRole:
            return item.key
        if role == Qt.ItemDataRole.AccessibleTextRole and col == 0:
            state = "chosen" if item.key in self._checked else "not chosen"
            return f"{item.name}, {state}"
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.column() != 0 or role != Qt.ItemDataRole.CheckStateRole:
            return False
        key = self._items[index.row()].key
        on = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
        if on:
            self._checked.add(key)
        else:
            self._checked.discard(key)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.checked_changed.emit()
        return True

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 0:
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base


def filter_proxy(model: QAbstractTableModel, parent: QObject | None = None) -> QSortFilterProxyModel:
    """Case-insensitive "contains" search over the first column, sortable."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(0)
    return proxy


@dataclass(frozen=True)
class Column(Generic[Row]):
    """A column of a :class:`LazyTableModel`: header and how to get the cell text from a row."""

    header: str
    text: Callable[[Row], str]
    align_right: bool = False
    # The cell's tooltip (e.g. the whole text of a cell that may be elided); else the model's.
    tooltip: Callable[[Row], str | None] | None = None


class LazyTableModel(QAbstractTableModel, Generic[Row]):
    """Read-only rows shown in chunks; cells are computed only when the view paints them.

    ``set_filter`` keeps a list of the matching rows' indexes, computed once per filter change.
    """

    CHUNK = 500

    def __init__(self, columns: Sequence[Column[Row]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[Row] = []
        self._visible: list[int] | None = None  # indexes into _rows when filtered
        self._keep: Callable[[Row], bool] | None = None
        self._shown = 0
        self.tooltip: Callable[[Row], str | None] | None = None

    def set_rows(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._visible = None
        self._keep = None
        self._shown = min(self.CHUNK, len(self._rows))
        self.endResetModel()

    def set_filter(self, keep: Callable[[Row], bool] | None) -> None:
        self.beginResetModel()
        self._keep = keep
        self._visible = None if keep is None else [i for i, r in enumerate(self._rows) if keep(r)]
        self._shown = min(self.CHUNK, self._total())
        self.endResetModel()

    def append_rows(self, rows: Sequence[Row]) -> None:
        """Add rows at the end (a search streaming its matches) without resetting the view, so the
        selection and scroll position stay where the user put them."""
        start = len(self._rows)
        self._rows.extend(rows)
        if self._visible is not None and self._keep is not None:
            keep = self._keep
            self._visible.extend(i for i in range(start, len(self._rows)) if keep(self._rows[i]))
        # Rows past the shown chunk arrive through fetchMore as the user scrolls.
        extra = min(self.CHUNK, self._total()) - self._shown
        if extra > 0:
            self.beginInsertRows(QModelIndex(), self._shown, self._shown + extra - 1)
            self._shown += extra
            self.endInsertRows()

    def _total(self) -> int:
        return len(self._rows) if self._visible is None else len(self._visible)

    def total_rows(self) -> int:
        return self._total()

    def all_rows(self) -> list[Row]:
        return self._rows

    def find(self, wanted: Callable[[Row], bool]) -> int:
        """The view row of the first visible row ``wanted`` accepts (fetched into the view), or -1."""
        order = range(len(self._rows)) if self._visible is None else self._visible
        for pos, i in enumerate(order):
            if wanted(self._rows[i]):
                while self._shown <= pos and self.canFetchMore(_ROOT):
                    self.fetchMore(_ROOT)
                return pos
        return -1

    def row(self, r: int) -> Row:
        return self._rows[r if self._visible is None else self._visible[r]]

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else self._shown

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._columns)

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and self._shown < self._total()

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid():
            return
        extra = min(self.CHUNK, self._total() - self._shown)
        if extra <= 0:
            return
        self.beginInsertRows(QModelIndex(), self._shown, self._shown + extra - 1)
        self._shown += extra
        self.endInsertRows()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section].header
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        col = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(self.row(index.row()))
        if role == Qt.ItemDataRole.TextAlignmentRole and col.align_right:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = col.tooltip or self.tooltip
            return tip(self.row(index.row())) if tip is not None else None
        return None
