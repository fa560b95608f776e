"""The email activity view on the Webhook page, and Preview's per-person activity line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.gui.pages.activity import PersonActivity
from cio_desktop.gui.pages.webhook import WebhookPage
from cio_desktop.gui.workers import JobRunner
from cio_desktop.webhooks.events import MappedEvent, PayloadFormat
from cio_desktop.webhooks.export import ExportFormat
from cio_desktop.webhooks.inbox import Inbox

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]


def ev(event_id: str, name: str, customer: str, campaign: str, days_ago: float) -> MappedEvent:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days_ago * 86400))
    return MappedEvent(
        event_id=event_id,
        format=PayloadFormat.CURRENT,
        object_type="email",
        metric=name.split()[-1].lower(),
        name=name,
        known=True,
        created_at=when,
        properties={"campaign_name": campaign},
        as_user={"external_id": customer, "email": f"{customer}@example.com"},
    )


EVENTS = (
    ev("a1", "Email Opened", "ada", "March report", 1),
    ev("a2", "Email Opened", "ada", "March report", 2),
    ev("a3", "Email Link Clicked", "ada", "March report", 2),
    ev("b1", "Email Opened", "bob", "Welcome", 3),
    ev("b2", "Email Bounced", "bob", "Welcome", 60),
)


@pytest.fixture
def page(qtbot):
    p = WebhookPage()
    qtbot.addWidget(p)
    p.show()
    p.set_context(Profile(name="Acme", webhook_listen="127.0.0.1:0"), SecretStore.in_memory())
    qtbot.waitUntil(lambda: p.service is not None, timeout=5000)
    assert p.service is not None
    for e in EVENTS:
        p.service.inbox.accept(e, b"{}")
    yield p
    p.shutdown()
    p.runner.wait_all(5000)


def test_search_by_person_campaign_event_and_period_narrows_the_table(qtbot, page: WebhookPage) -> None:
    view = page.activity
    view.refresh(full=True)
    qtbot.waitUntil(lambda: view.table.rowCount() == 5, timeout=5000)
    view.person_edit.setText("ADA@example.com")
    view.person_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: view.table.rowCount() == 3, timeout=5000)
    view.person_edit.setText("")
    view.campaign_edit.setText("welc")
    view.campaign_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: view.table.rowCount() == 2, timeout=5000)
    view.period_combo.setCurrentText("Last 30 days")
    qtbot.waitUntil(lambda: view.table.rowCount() == 1, timeout=5000)
    assert view.table.item(0, 2).text() == "Email Opened" and view.table.item(0, 6).text() == "Welcome"
    view.campaign_edit.setText("")
    view.campaign_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: view.metric_combo.findText("Email Link Clicked") > 0, timeout=5000)
    view.metric_combo.setCurrentText("Email Link Clicked")
    qtbot.waitUntil(lambda: view.table.item(0, 5).text() == "a3", timeout=5000)
    assert view.table.rowCount() == 1


def test_chart_counts_the_period_and_the_page_says_how_much_is_stored(qtbot, page: WebhookPage) -> None:
    view = page.activity
    view.period_combo.setCurrentText("Last 30 days")
    qtbot.waitUntil(lambda: view.chart.counts is not None and view.chart.counts.total == 4, timeout=5000)
    assert view.chart.counts.per_metric[0] == ("Email Opened", 3)  # type: ignore[union-attr]
    assert dict(view.chart.counts.per_campaign) == {"March report": 3, "Welcome": 1}  # type: ignore[union-attr]
    assert "Email Opened 3" in view.chart.accessibleDescription()
    assert view.stored_label.text().startswith("5 events stored")
    assert "kept for 90 days" in view.stored_label.text()


def test_without_hull_the_view_says_events_are_kept_not_pending(qtbot, page: WebhookPage) -> None:
    page.refresh()
    qtbot.waitUntil(lambda: "receiver is stopped" in page.activity.mode_status.text(), timeout=5000)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Hull is not connected" in page.activity.mode_status.text(), timeout=5000)
    page.activity.refresh(full=True)
    qtbot.waitUntil(lambda: page.activity.table.item(0, 1) is not None, timeout=5000)
    qtbot.waitUntil(lambda: page.activity.table.item(0, 1).text() == "kept", timeout=5000)
    assert "kept 5" in page.counts_label.text() and "pending 0" in page.counts_label.text()


def test_export_from_the_page_writes_what_matches_the_search(qtbot, page: WebhookPage, tmp_path: Path) -> None:
    view = page.activity
    view.person_edit.setText("bob")
    out = tmp_path / "bob.jsonl"
    with qtbot.waitSignal(view.exported, timeout=10000) as signal:
        view.export_to(str(out), ExportFormat.JSONL)
    assert signal.args == [2, str(out)]
    assert [json.loads(line)["event_id"] for line in out.read_text().splitlines()] == ["b2", "b1"]
    assert "Wrote 2 events" in view.inbox_status.text()


def test_preview_line_summarises_a_persons_last_30_days(qtbot, tmp_path: Path) -> None:
    with Inbox.for_profile("Acme") as inbox:
        for e in EVENTS:
            inbox.accept(e, b"{}")
    runner = JobRunner()
    label = PersonActivity(runner)
    qtbot.addWidget(label)
    label.show_person(Profile(name="Acme"), ["ada"], None)
    qtbot.waitUntil(lambda: "last 30 days" in label.text(), timeout=5000)
    assert label.text() == "Email activity: opened 2, clicked 1 in the last 30 days"
    label.show_person(Profile(name="Other"), ["ada"], None)
    qtbot.waitUntil(lambda: "none received yet" in label.text(), timeout=5000)
    runner.wait_all(5000)


def test_endpoint_settings_refuse_plain_http_and_keep_the_key_in_the_keyring(qtbot, page: WebhookPage) -> None:
    settings = page.activity.forward_settings
    edited: list[dict[str, object]] = []
    page.settings_edited.connect(edited.append)
    settings.url_edit.setText("http://collector.example.com/events")
    settings.url_edit.editingFinished.emit()
    assert "must use https" in settings.status.text() and edited == []
    settings.url_edit.setText("https://collector.example.com/events")
    settings.url_edit.editingFinished.emit()
    assert edited[-1]["forward_url"] == "https://collector.example.com/events"
    assert edited[-1]["activity_retention_days"] == 90
    settings.key_field.setText("short")
    qtbot.mouseClick(settings.save_key_button, Qt.MouseButton.LeftButton)
    assert "too short" in settings.status.text()
    settings.key_field.setText("a-long-enough-hmac-key")
    qtbot.mouseClick(settings.save_key_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "HMAC key saved" in settings.status.text(), timeout=5000)
    assert page.secrets is not None
    assert page.secrets.get("Acme", SecretKey.FORWARD_HMAC_KEY) == "a-long-enough-hmac-key"
    assert settings.key_field.text() == ""
