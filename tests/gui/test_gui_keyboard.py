"""Keyboard use of the main window: Tab reaches every control of each page in visual order, every
control has an accessible name, the sidebar follows the arrow keys and the main actions have shortcuts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QWidget,
)

from cio_desktop.gui.main_window import PAGE_NAMES

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]

INTERACTIVE = (QLineEdit, QAbstractButton, QComboBox, QAbstractSpinBox, QAbstractItemView, QPlainTextEdit)
ROW_TOLERANCE = 8  # px: widgets of one form row may sit a few pixels apart vertically


def _interactive(page: QWidget) -> list[QWidget]:
    """The page's own controls: visible, enabled, not a part of another control (a combo's line edit)."""
    found = []
    for w in page.findChildren(QWidget):
        if not isinstance(w, INTERACTIVE) or isinstance(w, QHeaderView):
            continue
        if not (w.isVisible() and w.isEnabled()):
            continue
        parent = w.parentWidget()
        inner = False
        while parent is not None and parent is not page:
            if isinstance(parent, INTERACTIVE):
                inner = True
                break
            parent = parent.parentWidget()
        if not inner:
            found.append(w)
    return found


def _describe(w: QWidget) -> str:
    return f"{type(w).__name__}({w.accessibleName() or w.objectName() or getattr(w, 'text', lambda: '')()!r})"


def _tab_walk(window: Any, page: QWidget, first: QWidget) -> list[QWidget]:
    """Press Tab from ``first`` until focus leaves the page or comes back; the widgets focused, in order."""
    first.setFocus(Qt.FocusReason.TabFocusReason)
    QApplication.processEvents()
    order: list[QWidget] = []
    for _ in range(200):
        focused = QApplication.focusWidget()
        if focused is None or not page.isAncestorOf(focused) or focused in order:
            break
        order.append(focused)
        QTest.keyClick(focused, Qt.Key.Key_Tab)
        QApplication.processEvents()
    return order


def _radio_sibling_reached(w: QWidget, order: list[QWidget]) -> bool:
    if not isinstance(w, QRadioButton) or not w.autoExclusive():
        return False
    group = w.group()
    return any(
        isinstance(o, QRadioButton)
        and o is not w
        and (o.group() is group if group is not None else o.parentWidget() is w.parentWidget())
        for o in order
    )


def _has_name(w: QWidget, page: QWidget) -> bool:
    if w.accessibleName().strip():
        return True
    return any(label.buddy() is w and label.text().strip() for label in page.findChildren(QLabel))


def _pos(w: QWidget, window: QWidget) -> QPoint:
    return w.mapTo(window, QPoint(0, 0))


@pytest.mark.parametrize("page_name", PAGE_NAMES)
def test_tab_reaches_every_control_of_the_page_in_visual_order_and_each_has_a_name(
    qtbot, make_sandbox, make_window, page_name: str
) -> None:
    sb = make_sandbox(users=120, seed=21)
    window = make_window(sb)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.show_page(page_name)
    page = window.stack.currentWidget()
    if page_name == "Preview":  # with rows: Tab must leave a filled table, not walk its cells
        qtbot.waitUntil(lambda: window.preview_page.model.rowCount() > 0, timeout=20000)
    qtbot.wait(50)
    controls = _interactive(page)
    assert controls, f"{page_name}: no controls found"

    unnamed = [_describe(w) for w in controls if not _has_name(w, page)]
    assert not unnamed, f"{page_name}: controls without an accessible name: {unnamed}"

    # The page's first focusable control in the focus chain.
    w = page.nextInFocusChain()
    while not (page.isAncestorOf(w) and w in controls):
        w = w.nextInFocusChain()
        assert w is not page, f"{page_name}: nothing on the page takes focus"
    order = _tab_walk(window, page, w)
    # Radio buttons of one exclusive group are one Tab stop (the checked one); arrow keys move inside.
    missing = [_describe(c) for c in controls if c not in order and not _radio_sibling_reached(c, order)]
    assert not missing, f"{page_name}: Tab never reaches {missing}; order: {[_describe(o) for o in order]}"

    positions = [(_pos(o, window), o) for o in order if o in controls]
    for (a, wa), (b, wb) in itertools.pairwise(positions):
        same_row = abs(a.y() - b.y()) <= ROW_TOLERANCE
        ok = a.x() < b.x() if same_row else a.y() < b.y()
        assert ok, f"{page_name}: Tab goes from {_describe(wa)} at {a.toTuple()} to {_describe(wb)} at {b.toTuple()}"


def _press(window: Any, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    target = QApplication.focusWidget() or window
    QTest.keyClick(target, key, modifier)
    QApplication.processEvents()


def test_arrow_keys_in_the_sidebar_change_the_page_and_ctrl_digits_open_a_page(
    qtbot, make_sandbox, make_window
) -> None:
    window = make_window(make_sandbox(users=50, seed=22))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.show_page("Connect")
    window.sidebar.setFocus(Qt.FocusReason.TabFocusReason)
    for expected in PAGE_NAMES[1:]:
        _press(window, Qt.Key.Key_Down)
        assert window.current_page_name() == expected
    _press(window, Qt.Key.Key_Up)
    assert window.current_page_name() == PAGE_NAMES[-2]
    _press(window, Qt.Key.Key_Home)
    assert window.current_page_name() == "Connect"
    for i, name in enumerate(PAGE_NAMES):
        _press(window, Qt.Key(Qt.Key.Key_1 + i), Qt.KeyboardModifier.ControlModifier)
        assert window.current_page_name() == name
        assert f"Ctrl+{i + 1}" in window.sidebar.item(i).toolTip()
    assert "Ctrl+R" in window.sidebar.toolTip() and "Ctrl+." in window.sidebar.toolTip()


def test_ctrl_r_starts_a_sync_from_any_page_and_ctrl_period_cancels_it(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=2000, seed=23)
    sb.set_faults("hull", latency_ms=150)
    window = make_window(sb)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.show_page("Audience")
    window.audience_page.search.setFocus()
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_started, timeout=10000):
        _press(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page_name() == "Sync" and sync.running
    window.show_page("History")
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        _press(window, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert finished.args[0] == "cancelled"


def test_escape_on_the_sync_page_cancels_the_running_sync(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=2000, seed=24)
    sb.set_faults("hull", latency_ms=150)
    window = make_window(sb)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.show_page("Sync")
    sync = window.sync_page
    sync.mode_buttons["dry_run"].setFocus()
    with qtbot.waitSignal(sync.run_started, timeout=10000) as started:
        _press(window, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)  # the Dry run button's mnemonic
    assert started.args == ["dry_run"]
    sync.log_view.setFocus()
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        _press(window, Qt.Key.Key_Escape)
    assert finished.args[0] == "cancelled"


def test_sync_buttons_have_mnemonics_and_say_their_keys(qapp) -> None:
    from cio_desktop.gui.pages.sync import BUTTON_TEXT, shortcut_text

    keys = {mode: QKeySequence.mnemonic(text).toString() for mode, text in BUTTON_TEXT.items()}
    assert keys == {"incremental": "Alt+S", "full": "Alt+F", "dry_run": "Alt+D"}
    assert all(keys[m] in shortcut_text(m) for m in BUTTON_TEXT)


@pytest.mark.parametrize("page_name", ["Connect", "Audience", "Sync"])
def test_tab_goes_from_the_header_through_the_sidebar_into_the_open_page(
    qtbot, make_sandbox, make_window, page_name: str
) -> None:
    window = make_window(make_sandbox(users=50, seed=25))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.show_page(page_name)
    page = window.stack.currentWidget()
    window.profile_combo.setFocus(Qt.FocusReason.TabFocusReason)
    seen = []
    for _ in range(3):
        _press(window, Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    assert seen[:2] == [window.profile_menu_button, window.sidebar]
    assert page.isAncestorOf(seen[2]), f"Tab from the sidebar went to {_describe(seen[2])}"
    _press(window, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is window.sidebar


def test_f5_reloads_what_the_current_page_shows(qtbot, make_sandbox, make_window, monkeypatch) -> None:
    window = make_window(make_sandbox(users=50, seed=26))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    calls: list[str] = []
    monkeypatch.setattr(window.history_page, "refresh", lambda: calls.append("history"))
    monkeypatch.setattr(window.preview_page, "load", lambda: calls.append("preview"))
    monkeypatch.setattr(window.ctx, "load_catalog", lambda: calls.append("catalog"))
    pressed = {}
    for page in ("History", "Preview", "Audience", "Sync"):
        window.show_page(page)  # some pages load when shown: only what F5 does counts
        window.sidebar.setFocus()
        qtbot.wait(20)
        calls.clear()
        _press(window, Qt.Key.Key_F5)
        pressed[page] = list(calls)
    assert pressed == {"History": ["history"], "Preview": ["preview"], "Audience": ["catalog"], "Sync": []}
