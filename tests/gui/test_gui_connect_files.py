"""The Connect page with Hull export files: dropped files are checked and their segments offered."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui.main_window import MainWindow
from cio_desktop.gui.workers import JobRunner
from cio_desktop.sandbox.export import export_organization

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_dropped_export_files_are_checked_and_their_segments_listed(qtbot, make_sandbox, tmp_path) -> None:
    sb = make_sandbox(users=120)
    files = export_organization(sb, tmp_path, formats=("jsonl",))
    store = ProfileStore()
    store.save(Profile(name="Files"))
    window = MainWindow(JobRunner(), store, SecretStore.in_memory())
    qtbot.addWidget(window)
    window.show()
    window.load_profiles("Files")
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=5000)
    page = window.connect_page
    page.files_radio.setChecked(True)
    assert page.files_box.isVisible() and not page.hull_box.isVisible()

    page.files_box.files_dropped.emit([str(files["jsonl"]), str(files["events"])])
    assert window.ctx.profile.files.users_path == str(files["jsonl"])
    qtbot.mouseClick(page.files_test, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.files_status.status in ("ok", "error"), timeout=20000)
    assert page.files_status.status == "ok", page.files_status.text()
    assert "120 users" in page.files_status.text()

    # A successful check loads the catalog: the Audience page lists the export's segments.
    qtbot.waitUntil(lambda: window.audience_page.model.rowCount() == len(sb.segments()), timeout=20000)
    qtbot.waitUntil(lambda: store.load("Files").files.users_path == str(files["jsonl"]), timeout=5000)


def test_a_missing_file_is_reported_inline(qtbot, tmp_path) -> None:
    store = ProfileStore()
    store.save(Profile(name="Files"))
    window = MainWindow(JobRunner(), store, SecretStore.in_memory())
    qtbot.addWidget(window)
    window.load_profiles("Files")
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=5000)
    page = window.connect_page
    page.files_radio.setChecked(True)
    page.users_edit.setText(str(tmp_path / "nope.jsonl"))
    page.users_edit.editingFinished.emit()
    page.check_files()
    qtbot.waitUntil(lambda: page.files_status.status == "error", timeout=10000)
    assert "nope.jsonl" in page.files_status.text()
