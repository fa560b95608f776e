"""The webhook from a laptop: the demo tour's test event reaches Hull, a one-click tunnel, honest copy,
controls visible without scrolling, and the receiver and tunnel back after a sleep (clocks injected)."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
import requests
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QScrollArea, QWidget

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.gui.pages.webhook import WebhookPage
from cio_desktop.gui.pages.webhook_receiver import TUNNEL_BUTTON
from cio_desktop.gui.platform import DEFAULT_WINDOW_SIZE
from cio_desktop.webhooks.wake import WakeDetector
from tests.tunnel_standins import StandIns, make_standins, pid_alive

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")]
CLICK = Qt.MouseButton.LeftButton


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clocks:
    def __init__(self) -> None:
        self.wall, self.mono = 1_800_000_000.0, 1_000.0


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    return make_standins(tmp_path, monkeypatch)


@pytest.fixture
def page(qtbot):
    p = WebhookPage()
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()
    p.runner.wait_all(10000)


def open_profile(qtbot, page: WebhookPage, profile: Profile, secrets: SecretStore) -> list[dict[str, str]]:
    """Show ``profile``; the page's settings edits are applied as the main window applies them."""
    edits: list[dict[str, str]] = []

    def apply(changes: dict[str, str]) -> None:
        edits.append(changes)
        assert page.profile is not None
        page.set_context(page.profile.replace(**changes), secrets)

    page.settings_edited.connect(apply)
    page.set_context(profile, secrets)
    qtbot.waitUntil(lambda: page.service is not None and page.tunnel_button.isEnabled(), timeout=5000)
    return edits


def test_readme_tour_step_4_the_demo_test_event_lands_and_is_forwarded_to_the_demo_hull(qtbot) -> None:
    from cio_desktop.gui.app import create_window

    window = create_window(demo=True, demo_users=200)
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=30000)
        window.show_page("Webhook")  # 4. Webhook > Start receiver, then Send test event
        page = window.webhook_page
        qtbot.waitUntil(lambda: page.start_button.isEnabled() and page.service is not None, timeout=10000)
        assert "demo organization" in page.test_button.toolTip()
        qtbot.mouseClick(page.start_button, CLICK)
        qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=10000)
        qtbot.mouseClick(page.test_button, CLICK)
        qtbot.waitUntil(
            lambda: "delivered" in page.test_status.text() or page.test_status.status == "error", timeout=15000
        )
        assert page.test_status.status == "ok", page.test_status.text()
        assert "Hull accepted \u201cEmail Opened\u201d for" in page.test_status.text()
        qtbot.waitUntil(
            lambda: page.table.rowCount() == 1 and page.table.item(0, 1).text() == "forwarded", timeout=5000
        )
        assert page.table.item(0, 2).text() == "Email Opened"
        # The demo organization runs in its own process: ask it over its control API.
        sandbox = window.demo_session.sandbox
        assert sandbox is not None and sandbox.info is not None
        answer = requests.get(f"{sandbox.info.base_url}/_sandbox/hull/events", timeout=10).json()
        [event] = answer["data"]
        assert event["body"]["event"] == "Email Opened" and event["user_id"]  # a real person of the demo org
        assert page.service.receiver.stats().rejected == 0  # signed, and the signature checked out
        assert window.secrets.get("Demo", SecretKey.WEBHOOK_SIGNING_KEY)
    finally:
        window.close()
        window.demo_session.stop()


def test_a_real_profiles_test_event_is_kept_and_unknown_is_explained(qtbot, page: WebhookPage) -> None:
    port = free_port()
    profile = Profile(name="Acme", webhook_listen=f"127.0.0.1:{port}", webhook_public_url=f"http://127.0.0.1:{port}")
    open_profile(qtbot, page, profile, SecretStore.in_memory())
    assert not page.receiver_panel.unknown_hint.isVisible()
    assert "not sent to Hull" in page.test_button.toolTip()
    qtbot.mouseClick(page.start_button, CLICK)
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=5000)
    qtbot.mouseClick(page.test_button, CLICK)
    qtbot.waitUntil(lambda: page.test_status.status == "ok", timeout=10000)
    assert "not sent to Hull" in page.test_status.text()
    qtbot.waitUntil(lambda: "unknown 1" in page.counts_label.text(), timeout=5000)
    hint = page.receiver_panel.unknown_hint
    assert hint.isVisible() and "not sent to Hull" in hint.text() and "Nothing to do unless" in hint.text()


def test_copy_instructions_without_a_public_url_explains_instead_of_pasting(qtbot, page: WebhookPage) -> None:
    open_profile(qtbot, page, Profile(name="Acme"), SecretStore.in_memory())
    QGuiApplication.clipboard().setText("untouched")
    qtbot.mouseClick(page.copy_steps_button, CLICK)
    assert QGuiApplication.clipboard().text() == "untouched"
    assert page.url_status.status == "warning" and "Nothing copied" in page.url_status.text()
    assert "Get a public URL" in page.url_status.text()
    shown = page.instructions.toPlainText()
    assert "There is no URL yet" in shown and "above" not in shown


@pytest.mark.posix_only
def test_get_a_public_url_runs_cloudflared_fills_the_url_and_stops_with_the_receiver(
    qtbot, page: WebhookPage, standins: StandIns
) -> None:
    standins.install("cloudflared")
    edits = open_profile(
        qtbot, page, Profile(name="Acme", webhook_listen=f"127.0.0.1:{free_port()}"), SecretStore.in_memory()
    )
    qtbot.mouseClick(page.tunnel_button, CLICK)  # starts the receiver too
    qtbot.waitUntil(lambda: page.tunnel_status.status in ("ok", "error", "warning"), timeout=15000)
    assert page.tunnel_status.status == "ok", page.tunnel_status.text()
    tunnel_url = "https://seasonal-deck-organisms-sf.trycloudflare.com"
    assert tunnel_url in page.tunnel_status.text()
    assert edits[-1]["webhook_public_url"] == tunnel_url
    qtbot.waitUntil(lambda: page.webhook_url.startswith(tunnel_url + "/webhooks/customerio/"), timeout=5000)
    assert page.stop_button.isEnabled() and page.tunnel_button.text() == "Stop public URL"
    [(pid, args)] = standins.starts()
    assert args[-1] == f"http://{page.profile.webhook_listen}"

    qtbot.mouseClick(page.stop_button, CLICK)
    qtbot.waitUntil(lambda: page.start_button.isEnabled(), timeout=10000)
    assert not pid_alive(pid)
    assert edits[-1]["webhook_public_url"] == ""  # back to what it was: the tunnel's address is gone
    assert "no longer reach" in page.tunnel_status.text() and page.tunnel_button.text() == TUNNEL_BUTTON


@pytest.mark.posix_only
def test_quitting_stops_the_tunnel_and_puts_the_previous_public_url_back(
    qtbot, page: WebhookPage, standins: StandIns
) -> None:
    standins.install("ngrok")
    profile = Profile(name="Acme", webhook_listen="127.0.0.1:0", webhook_public_url="https://proxy.example.com")
    edits = open_profile(qtbot, page, profile, SecretStore.in_memory())
    qtbot.mouseClick(page.tunnel_button, CLICK)
    qtbot.waitUntil(lambda: page.tunnel_status.status == "ok", timeout=15000)
    assert edits[-1]["webhook_public_url"] == "https://seasonal-deck-organisms-sf.ngrok-free.app"
    [(pid, _)] = standins.starts()
    page.shutdown()
    assert edits[-1]["webhook_public_url"] == "https://proxy.example.com" and not pid_alive(pid)


@pytest.mark.posix_only
def test_opening_another_profile_stops_the_tunnel_and_forgets_its_state(
    qtbot, page: WebhookPage, standins: StandIns
) -> None:
    standins.install("cloudflared")
    secrets = SecretStore.in_memory()
    open_profile(qtbot, page, Profile(name="Acme", webhook_listen="127.0.0.1:0"), secrets)
    qtbot.mouseClick(page.tunnel_button, CLICK)
    qtbot.waitUntil(lambda: page.tunnel_status.status == "ok", timeout=15000)
    [(pid, _)] = standins.starts()
    page.set_context(Profile(name="Other", webhook_listen="127.0.0.1:0"), secrets)
    qtbot.waitUntil(lambda: not pid_alive(pid), timeout=10000)
    assert not page.tunnel_status.isVisible() and page.tunnel_button.text() == TUNNEL_BUTTON


@pytest.mark.posix_only
def test_without_a_tunnel_program_the_page_says_how_to_install_one(
    qtbot, page: WebhookPage, standins: StandIns
) -> None:
    open_profile(qtbot, page, Profile(name="Acme", webhook_listen="127.0.0.1:0"), SecretStore.in_memory())
    qtbot.mouseClick(page.tunnel_button, CLICK)
    qtbot.waitUntil(lambda: page.tunnel_status.status == "warning", timeout=5000)
    text = page.tunnel_status.text()
    assert "No tunnel program is installed" in text and "cloudflared" in text and "ngrok" in text
    assert page.tunnel_button.isEnabled() and page.service is not None and page.service.receiver is None


@pytest.mark.posix_only
def test_a_tunnel_program_that_fails_shows_what_it_said(qtbot, page: WebhookPage, standins: StandIns) -> None:
    standins.install("ngrok", mode="exit")
    edits = open_profile(qtbot, page, Profile(name="Acme", webhook_listen="127.0.0.1:0"), SecretStore.in_memory())
    qtbot.mouseClick(page.tunnel_button, CLICK)
    qtbot.waitUntil(lambda: page.tunnel_status.status == "error", timeout=15000)
    assert "authentication failed" in page.tunnel_status.text() and "exit code 1" in page.tunnel_status.text()
    assert edits == [] and page.tunnel_button.text() == TUNNEL_BUTTON and page.tunnel_button.isEnabled()


@pytest.mark.posix_only
def test_after_a_sleep_the_tunnel_comes_back_and_the_new_address_is_filled_in_and_announced(
    qtbot, page: WebhookPage, standins: StandIns
) -> None:
    standins.install("cloudflared", words="before-the-night")
    clocks = Clocks()
    page.wake = WakeDetector(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    edits = open_profile(qtbot, page, Profile(name="Acme", webhook_listen="127.0.0.1:0"), SecretStore.in_memory())
    qtbot.mouseClick(page.tunnel_button, CLICK)
    qtbot.waitUntil(lambda: page.tunnel_status.status == "ok", timeout=15000)
    [(pid, _)] = standins.starts()
    os.kill(pid, signal.SIGKILL)  # the tunnel did not survive the night
    qtbot.waitUntil(lambda: page.service is not None and not page.service.tunnel.alive, timeout=5000)
    standins.mode("ok", words="after-the-night")
    clocks.wall += 9 * 3600  # slept: the wall clock moved, the monotonic one did not
    page._tick()  # what the page's once-a-second timer does
    qtbot.waitUntil(lambda: page.tunnel_status.status == "warning", timeout=15000)
    assert "new address, https://after-the-night.trycloudflare.com" in page.tunnel_status.text()
    assert "copy the new webhook URL into Customer.io" in page.tunnel_status.text()
    assert edits[-1]["webhook_public_url"] == "https://after-the-night.trycloudflare.com"
    assert len(standins.starts()) == 2 and not pid_alive(pid)


def test_without_a_sleep_ticks_restart_nothing(qtbot, page: WebhookPage) -> None:
    clocks = Clocks()
    page.wake = WakeDetector(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    open_profile(qtbot, page, Profile(name="Acme", webhook_listen="127.0.0.1:0"), SecretStore.in_memory())
    for _ in range(5):
        clocks.wall += 1
        clocks.mono += 1
        page._tick()
    assert not page.runner.is_running("webhook-resume") and page.service.receiver is None


def visible_in_viewport(widget: QWidget, area: QScrollArea) -> bool:
    viewport = area.viewport()
    top = widget.mapTo(viewport, QPoint(0, 0)).y()
    bottom = widget.mapTo(viewport, QPoint(0, widget.height())).y()
    return widget.isVisible() and top >= 0 and bottom <= viewport.height()


@pytest.mark.parametrize("size", [(1280, 820), (DEFAULT_WINDOW_SIZE.width(), DEFAULT_WINDOW_SIZE.height())])
def test_receiver_controls_and_status_are_visible_without_scrolling(
    qtbot, make_sandbox, make_window, size: tuple[int, int]
) -> None:
    window = make_window(make_sandbox(users=50), webhook_listen="127.0.0.1:0")
    window.resize(*size)
    window.show_page("Webhook")
    page = window.webhook_page
    qtbot.waitUntil(lambda: page.service is not None, timeout=10000)
    qtbot.mouseClick(page.start_button, CLICK)
    qtbot.waitUntil(lambda: page.forwarding_status.isVisible(), timeout=10000)
    area = page.findChild(QScrollArea)
    assert area is not None and area.verticalScrollBar().value() == 0
    for w in (page.start_button, page.stop_button, page.test_button, page.tunnel_button, page.receiver_status,
              page.forwarding_status, page.counts_label):  # fmt: skip
        assert visible_in_viewport(w, area), w.accessibleName()


@pytest.mark.posix_only
def test_a_tunnel_that_cannot_start_right_after_waking_is_tried_again_until_it_does(
    qtbot, page: WebhookPage, standins: StandIns
) -> None:
    standins.install("cloudflared", words="before-the-night")
    clocks = Clocks()
    page.wake = WakeDetector(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    page.resume_retry_ms = 300
    open_profile(qtbot, page, Profile(name="Acme", webhook_listen="127.0.0.1:0"), SecretStore.in_memory())
    qtbot.mouseClick(page.tunnel_button, CLICK)
    qtbot.waitUntil(lambda: page.tunnel_status.status == "ok", timeout=15000)
    [(pid, _)] = standins.starts()
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: page.service is not None and not page.service.tunnel.alive, timeout=5000)
    standins.mode("exit")  # no network yet: cloudflared cannot reach Cloudflare
    clocks.wall += 3600
    page._tick()
    qtbot.waitUntil(lambda: "Trying again" in page.tunnel_status.text(), timeout=15000)
    assert "no such host" in page.tunnel_status.text()
    standins.mode("ok", words="after-the-night")  # the Wi-Fi is back
    qtbot.waitUntil(lambda: "new address, https://after-the-night" in page.tunnel_status.text(), timeout=15000)
    assert page.tunnel_button.text() == "Stop public URL"


@pytest.mark.posix_only
def test_leaving_a_profile_while_its_tunnel_runs_gives_it_back_its_earlier_public_url(
    qtbot, page: WebhookPage, standins: StandIns
) -> None:
    standins.install("cloudflared")
    secrets = SecretStore.in_memory()
    acme = Profile(name="Acme", webhook_listen="127.0.0.1:0", webhook_public_url="https://proxy.example.com")
    open_profile(qtbot, page, acme, secrets)
    qtbot.mouseClick(page.tunnel_button, CLICK)
    qtbot.waitUntil(lambda: page.tunnel_status.status == "ok", timeout=15000)
    assert page.profile is not None and page.profile.webhook_public_url.endswith(".trycloudflare.com")
    with qtbot.waitSignal(page.public_url_restore, timeout=5000) as restored:
        page.set_context(Profile(name="Other", webhook_listen="127.0.0.1:0"), secrets)
    # The tunnel's address dies with it: Acme is saved with the URL it had before, not a dead one.
    assert restored.args == ["Acme", "https://proxy.example.com"]
