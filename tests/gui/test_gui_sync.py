"""Syncs started from the GUI: live progress, cancel, History, and the errors CSV."""

from __future__ import annotations

import csv
from types import MappingProxyType

import pytest
from PySide6.QtCore import Qt

from cio_desktop.gui import backend
from cio_desktop.sandbox.cio_checks import Problem, Reason, Rejected
from cio_desktop.sync.eta import Eta, EtaState
from cio_desktop.sync.progress import Progress

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def test_a_sync_from_the_gui_shows_progress_and_lands_in_history(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=400)
    window = make_window(sb)
    window.show_page("Sync")
    sync = window.sync_page
    progress: list[object] = []
    real_show = sync.show_progress
    sync.show_progress = lambda p: (progress.append(p), real_show(p))  # type: ignore[method-assign]
    with qtbot.waitSignal(sync.plan_ready, timeout=60000):
        qtbot.mouseClick(sync.mode_buttons["full"], Qt.MouseButton.LeftButton)
        assert not sync.mode_buttons["full"].isEnabled() and sync.cancel_button.isEnabled()
    assert sync.plan_dialog is not None and sb.cio_people() == {}, "nothing is sent before the confirmation"
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        qtbot.mouseClick(sync.plan_dialog.send_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "completed"
    summary = finished.args[1]
    assert progress, "no progress reached the page"
    assert any(getattr(p, "counts", None) for p in progress)
    assert sync.summary.status == "ok"
    assert f"Sent {summary.people_sent:,} people" in sync.summary.text()
    assert summary.people_sent == len(sb.cio_people()) > 0
    assert "created in Customer.io" in sync.counts_label.text()
    assert sync.mode_buttons["full"].isEnabled() and not sync.cancel_button.isEnabled()

    history = window.history_page
    window.show_page("History")
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 2, timeout=10000)  # the plan, then the run
    run = history.runs_model.row(0)
    assert run.status.value == "completed"
    assert backend.run_totals(run)["sent"] == summary.people_sent
    assert history.chart.bars and history.chart.bars[-1][1]["sent"] == summary.people_sent


def test_cancelling_a_running_sync_stops_it_and_history_says_cancelled(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=3000, seed=11)
    sb.set_faults("hull", latency_ms=150)  # slow pages: the run is still going when we cancel
    window = make_window(sb)
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        sync.start("full")
        qtbot.waitUntil(lambda: sync.last_progress is not None and sync.last_progress.done > 0, timeout=30000)
        qtbot.mouseClick(sync.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == "cancelled"
    assert "Cancelled" in sync.summary.text()
    assert len(sb.cio_people()) < 2000  # it did stop early
    history = window.history_page
    history.refresh()
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 1, timeout=10000)
    assert history.runs_model.row(0).status.value == "cancelled"


def test_rejected_people_are_listed_searchable_and_exported_to_csv(
    qtbot, make_sandbox, make_window, tmp_path, monkeypatch
) -> None:
    sb = make_sandbox(users=300, seed=4)
    window = make_window(sb)
    members = [u for seg in window.ctx.profile.segment_ids for u in sb.users_in_segment(seg)]
    bad = sorted({u["external_id"] for u in members if u.get("external_id") and u.get("email")})[:3]
    identify = sb.cio.identify

    def refuse_some(kind: str, value: str, attrs: dict) -> None:
        if value in bad:
            raise Rejected(Problem(Reason.INVALID, "attributes.plan", f"plan of {value} refused by the test"))
        identify(kind, value, attrs)

    monkeypatch.setattr(sb.cio, "identify", refuse_some)
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as finished:
        sync.start("full")
    assert finished.args[1].failed == 3
    assert sync.summary.status == "warning" and "3 failed" in sync.summary.text()

    history = window.history_page
    window.show_page("History")
    qtbot.waitUntil(lambda: history.errors_model.total_rows() == 3, timeout=10000)
    assert sorted(e.customer_id for e in history.errors_model.all_rows()) == bad
    assert history.export_button.isEnabled()

    with qtbot.waitSignal(history.errors_loaded, timeout=10000):
        history.search.setText(bad[1])
    assert [e.customer_id for e in history.errors_model.all_rows()] == [bad[1]]
    with qtbot.waitSignal(history.errors_loaded, timeout=10000):
        history.search.clear()

    out = tmp_path / "errors.csv"
    with qtbot.waitSignal(history.exported, timeout=10000) as exported:
        history.export_csv(str(out))
    assert exported.args[0] == 3
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert sorted(r["customer_id"] for r in rows) == bad
    assert all("refused by the test" in r["message"] for r in rows)


def test_a_dry_run_from_the_gui_plans_everything_and_sends_nothing(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=150, seed=6)
    window = make_window(sb)
    sync = window.sync_page
    seen: list[tuple[str, str]] = []  # (phase, the phase line shown)
    show = sync.show_progress

    def recorded(p: Progress) -> None:
        show(p)
        seen.append((p.phase, sync.phase_label.text()))

    sync.show_progress = recorded  # type: ignore[method-assign]
    with qtbot.waitSignal(sync.run_finished, timeout=30000) as finished:
        qtbot.mouseClick(sync.mode_buttons["dry_run"], Qt.MouseButton.LeftButton)
    assert finished.args[0] == "completed"
    assert seen and all(text.startswith("Dry run: ") for _phase, text in seen), seen
    assert not [text for _phase, text in seen if "Sending" in text or "Deleting" in text], "nothing is sent"
    sync.show_progress = show  # type: ignore[method-assign]
    assert sb.cio_people() == {}
    assert "Dry run" in sync.summary.text() and "Nothing was sent" in sync.summary.text()
    assert "people in Customer.io" in sync.counts_label.text(), "what it would create, not that it did"
    assert "created in Customer.io" not in sync.counts_label.text()
    for phase in ("users", "deletions", "objects", "events"):  # every phase, whether this run had it or not
        recorded(Progress(phase, 1, 2, 1.0, None, MappingProxyType({})))
        assert sync.phase_label.text().startswith("Dry run: ") and "Sending" not in sync.phase_label.text()


def test_withheld_deletions_are_explained_reviewed_and_approved_from_history(qtbot, make_sandbox, make_window) -> None:
    sb = make_sandbox(users=400)
    window = make_window(sb, delete_on_leave=True, write_back=False, events=())
    sync = window.sync_page
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as first:
        sync.start("full")
    assert first.args[0] == "completed"
    before = len(sb.cio_people())
    profile = window.ctx.profile
    assert profile is not None and len(profile.segments) > 1
    window.ctx.update(segments=profile.segments[2:])  # the marketer unticks segments: many people leave

    with qtbot.waitSignal(sync.run_finished, timeout=60000) as held:
        sync.start("full")
    assert held.args[0] == "deletions_withheld"
    withheld = held.args[1].withheld
    assert withheld > 5 and len(sb.cio_people()) == before, "nobody was deleted"
    assert sync.summary.status == "warning" and sync.summary.text().startswith("\u26a0 Deletions withheld:")

    history = window.history_page
    window.show_page("History")
    qtbot.waitUntil(lambda: history.runs_model.total_rows() == 2, timeout=10000)
    run = history.runs_model.row(0)
    assert run.status_text == "Deletions withheld" and run.withheld == withheld
    qtbot.waitUntil(lambda: history.review_button.isVisible(), timeout=10000)
    qtbot.waitUntil(lambda: "Deletions withheld:" in history.status.text(), timeout=10000)
    history.runs.selectRow(1)
    qtbot.waitUntil(lambda: not history.review_button.isVisible(), timeout=10000)
    history.runs.selectRow(0)
    qtbot.waitUntil(lambda: history.review_button.isVisible(), timeout=10000)

    qtbot.mouseClick(history.review_button, Qt.MouseButton.LeftButton)
    dialog = history.withheld_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.approve_button.isEnabled(), timeout=10000)
    assert dialog.model.total_rows() == withheld
    assert dialog.approve_button.text() == f"Delete {withheld:,} people…"
    with qtbot.waitSignal(sync.run_finished, timeout=60000) as approved:
        dialog.confirm()
    assert approved.args[0] == "completed", approved.args[1].message
    assert window.current_page_name() == "Sync"
    assert len(sb.cio_people()) == before - withheld


def test_the_time_left_is_the_cores_estimate_with_what_follows_people(qtbot, make_sandbox, make_window) -> None:
    window = make_window(make_sandbox(users=50), events=("Signed Up",))
    sync = window.sync_page
    profile = window.ctx.profile
    then = " and ".join(n for n, on in (("accounts", profile.objects.enabled), ("events", True)) if on)

    def show(eta: Eta, phase: str = "users", total: int | None = 31_000) -> str:
        sync.show_progress(Progress(phase, 5000, total, 1200.0, eta.seconds, MappingProxyType({}), eta=eta))
        return sync.eta_label.text()

    assert show(Eta(EtaState.ESTIMATING)) == "estimating…"
    assert show(Eta(EtaState.KNOWN, 68.0)) == f"about 1 min 08 s for people, then {then}"
    assert show(Eta(EtaState.KNOWN, 20.0, rate_limited=True), "events") == "about 20 s (Customer.io's rate limit)"
    assert show(Eta(EtaState.UNKNOWN_SIZE), "events", None) == "sending events… (how many is not known ahead)"
    assert show(Eta(EtaState.KNOWN, 12.0, rough=True), "objects", None) == "roughly 12 s for accounts, then events"
    assert "rate limit" in sync.eta_label.toolTip()
