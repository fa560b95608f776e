"""The status bar's Customer.io region: detected in the background when the profile says 'Detect automatically'."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QMessageBox

from cio_desktop.config.profile import Region
from cio_desktop.gui import backend

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


@pytest.fixture
def no_dialogs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any message box: a background check must never pop one."""
    shown: list[str] = []
    for name in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, name, lambda *a, _n=name, **k: shown.append(_n))
    return shown


def test_an_auto_region_profile_shows_the_region_detected_off_the_gui_thread(
    qtbot, make_sandbox, make_window, monkeypatch, no_dialogs
) -> None:
    threads: list[bool] = []
    real = backend.detect_region

    def recording(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(backend, "detect_region", recording)
    window = make_window(make_sandbox(users=20, seed=31), cio_region=Region.AUTO)
    qtbot.waitUntil(lambda: window.status_region.text() == "Region: US (detected)", timeout=20000)
    assert threads == [False]
    assert no_dialogs == []


def test_a_failed_region_check_says_unknown_without_a_dialog(
    qtbot, make_sandbox, make_window, monkeypatch, no_dialogs
) -> None:
    sb = make_sandbox(users=20, seed=32)
    window = make_window(sb, cio_region=Region.AUTO, cio_site_id="notthisworkspace1")
    qtbot.waitUntil(lambda: window.status_region.text() == "Region: unknown (check the connection)", timeout=20000)
    tip = window.status_region.toolTip()
    assert "Connect page" in tip
    assert sb.credentials.cio_api_key not in tip
    assert no_dialogs == []


def test_a_profile_with_a_fixed_region_is_not_checked(qtbot, make_sandbox, make_window, monkeypatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(backend, "detect_region", lambda *a, **k: calls.append(a))
    window = make_window(make_sandbox(users=20, seed=33), cio_region=Region.EU)
    qtbot.wait(200)
    assert window.status_region.text() == "Region: EU"
    assert calls == []


def test_a_region_answer_for_a_profile_no_longer_open_is_dropped(qtbot, make_sandbox, make_window, monkeypatch) -> None:
    release = threading.Event()
    asked = threading.Event()
    real = backend.detect_region

    def slow(*args, **kwargs):
        asked.set()
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(backend, "detect_region", slow)
    sb = make_sandbox(users=20, seed=34)
    window = make_window(sb, cio_region=Region.AUTO)
    qtbot.waitUntil(asked.is_set, timeout=10000)
    assert window.status_region.text() == "Region: auto (detecting…)"
    other = window.ctx.profile.replace(name="Other", cio_region=Region.EU)
    window.open_profile(other)
    assert window.status_region.text() == "Region: EU"
    release.set()
    window.runner.wait_all(20000)
    qtbot.wait(100)  # the late answer's queued delivery has run
    assert window.ctx.profile.name == "Other"
    assert window.status_region.text() == "Region: EU"
