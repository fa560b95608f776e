"""The Connect page with Hull export files: dropped files are checked and their segments offered."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from cio_desktop.config.profile import FileSourceSettings, Profile, SourceKind
from cio_desktop.config.secrets import SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.gui import backend
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


def test_picking_files_keeps_the_profiles_record_limit_and_the_check_applies_it(qtbot, tmp_path) -> None:
    users = tmp_path / "users.jsonl"
    users.write_text(
        json.dumps({"id": "a1", "email": "a@x.io"}) + "\n" + json.dumps({"id": "a2", "blob": "x" * (2 << 20)}) + "\n"
    )
    store = ProfileStore()
    store.save(Profile(name="Files", source=SourceKind.FILES, files=FileSourceSettings(max_record_mb=1)))
    window = MainWindow(JobRunner(), store, SecretStore.in_memory())
    qtbot.addWidget(window)
    window.load_profiles("Files")
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=5000)
    page = window.connect_page
    page.users_edit.setText(str(users))
    page.users_edit.editingFinished.emit()
    assert window.ctx.profile.files == FileSourceSettings(str(users), "", max_record_mb=1)
    page.check_files()
    qtbot.waitUntil(lambda: page.files_status.status in ("ok", "error"), timeout=10000)
    assert "1 user (" in page.files_status.text()
    assert "line 2: record is longer than 1 MB (the limit); skipped" in page.files_status.text()
    source = backend.open_source(window.ctx.profile, SecretStore.in_memory(), "Files")
    assert [u["id"] for u in source.iter_users(None)] == ["a1"]
