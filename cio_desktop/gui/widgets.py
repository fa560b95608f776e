"""Small widgets shared by the pages: page header, inline status line, search field, secret field."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cio_desktop.gui.status import MARK, ErrorKind


class Page(QWidget):
    """A page: a title, a one-line intro, then the content (scrolls when the window is small)."""

    def __init__(self, title: str, intro: str, parent: QWidget | None = None, scroll: bool = True) -> None:
        super().__init__(parent)
        self.setAccessibleName(f"{title} page")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        header = QWidget()
        hl = QVBoxLayout(header)
        hl.setContentsMargins(20, 16, 20, 4)
        self.title_label = QLabel(title)
        self.title_label.setObjectName("pageTitle")
        self.title_label.setAccessibleName(f"{title} title")
        self.intro_label = QLabel(intro)
        self.intro_label.setObjectName("pageIntro")
        self.intro_label.setWordWrap(True)
        hl.addWidget(self.title_label)
        hl.addWidget(self.intro_label)
        outer.addWidget(header)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(20, 8, 20, 16)
        self.body_layout.setSpacing(10)
        if scroll:
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setWidget(self.body)
            outer.addWidget(area, 1)
        else:
            outer.addWidget(self.body, 1)


class StatusLine(QLabel):
    """An inline result of an :class:`ErrorKind`, marked and coloured by the stylesheet, read by screen readers."""

    def __init__(self, text: str = "", parent: QWidget | None = None, name: str = "Result") -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAccessibleName(name)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.status = ErrorKind.PLAIN
        self.setVisible(bool(text))

    def show_status(self, kind: ErrorKind, text: str) -> None:
        self.status = kind
        self.setProperty("status", kind.value)  # the stylesheet's QLabel[status="..."] selectors
        self.setText(MARK.get(kind, "") + text if text else "")
        self.setVisible(bool(text))
        self.setAccessibleDescription(text)
        self.style().unpolish(self)
        self.style().polish(self)

    def clear_status(self) -> None:
        self.show_status(ErrorKind.PLAIN, "")


class SearchField(QLineEdit):
    def __init__(self, placeholder: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setClearButtonEnabled(True)
        self.setAccessibleName(name)


class SecretField(QWidget):
    """A masked input with a show/hide toggle. Never logs or echoes its value anywhere else."""

    editingFinished = Signal()
    textChanged = Signal(str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setAccessibleName(name)
        self.edit.setInputMethodHints(Qt.InputMethodHint.ImhHiddenText | Qt.InputMethodHint.ImhSensitiveData)
        self.toggle = QToolButton()
        self.toggle.setText("Show")
        self.toggle.setCheckable(True)
        self.toggle.setAccessibleName(f"Show {name}")
        self.toggle.toggled.connect(self._toggled)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.toggle)
        self.edit.editingFinished.connect(self.editingFinished)
        self.edit.textChanged.connect(self.textChanged)
        self.setFocusProxy(self.edit)

    def _toggled(self, shown: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.toggle.setText("Hide" if shown else "Show")

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, value: str) -> None:
        self.edit.setText(value)

    def setPlaceholderText(self, value: str) -> None:
        self.edit.setPlaceholderText(value)


class HowTo(QWidget):
    """A collapsed "How to find these" text under a form."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.button = QToolButton()
        self.button.setText("How to find these")
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setArrowType(Qt.ArrowType.RightArrow)
        self.button.setAutoRaise(True)
        self.button.setAccessibleName("How to find these")
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setObjectName("hint")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setOpenExternalLinks(True)
        self.label.setVisible(False)
        self.button.toggled.connect(self._toggled)
        lay.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.label)

    def _toggled(self, on: bool) -> None:
        self.label.setVisible(on)
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)


def hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def compact_rows(table: QTableView, padding: int = 8) -> None:
    """Fixed, text-high rows: denser tables, and no per-row height computation while scrolling."""
    header = table.verticalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    header.setDefaultSectionSize(table.fontMetrics().height() + padding)


def tab_chain(widgets: Iterable[QWidget]) -> None:
    """Tab visits ``widgets`` in this order (their visual order). Tables and text views give Tab back:
    arrow keys move inside them, Tab and Shift+Tab leave them (no keyboard trap in a 10,000-row table)."""
    chain = list(widgets)
    for w in chain:
        if isinstance(w, QAbstractItemView):
            w.setTabKeyNavigation(False)
        elif isinstance(w, QPlainTextEdit):
            w.setTabChangesFocus(True)
    for first, second in itertools.pairwise(chain):
        QWidget.setTabOrder(first, second)
