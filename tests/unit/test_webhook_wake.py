"""After a sleep the receiver and its tunnel come back by themselves (clocks injected: no sleeping)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretStore
from cio_desktop.webhooks.receiver import HEALTH_PATH
from cio_desktop.webhooks.service import WebhookService
from cio_desktop.webhooks.tunnel import TunnelState, find_tunnel_tools
from cio_desktop.webhooks.wake import WakeDetector
from tests.tunnel_standins import StandIns, make_standins, pid_alive


class Clocks:
    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 5_000.0

    def tick(self, seconds: float = 1.0) -> None:
        self.wall += seconds
        self.mono += seconds

    def sleep_laptop(self, seconds: float) -> None:
        self.wall += seconds  # the monotonic clock stands still while the machine sleeps


def detector(clocks: Clocks) -> WakeDetector:
    return WakeDetector(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)


def test_regular_checks_see_no_sleep() -> None:
    clocks = Clocks()
    wake = detector(clocks)
    for _ in range(100):
        clocks.tick(1.0)
        assert wake.check() is None
    clocks.tick(20.0)  # a busy machine, a late check: still awake
    assert wake.check() is None


def test_a_wall_clock_jump_past_the_monotonic_clock_is_a_wake() -> None:
    clocks = Clocks()
    wake = detector(clocks)
    clocks.sleep_laptop(3600)
    clocks.tick(1)
    assert wake.check() == pytest.approx(3601)
    clocks.tick(1)
    assert wake.check() is None  # reported once


def test_a_long_gap_on_both_clocks_is_a_wake_too_and_reset_forgets_a_pause() -> None:
    clocks = Clocks()
    wake = detector(clocks)
    clocks.tick(600)  # Windows: the monotonic clock may count through sleep
    assert wake.check() == pytest.approx(600)
    clocks.tick(600)
    wake.reset()  # the checks were off on purpose
    clocks.tick(1)
    assert wake.check() is None


def test_setting_the_clock_back_is_not_a_wake() -> None:
    clocks = Clocks()
    wake = detector(clocks)
    clocks.wall -= 3600
    clocks.tick(1)
    assert wake.check() is None


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    return make_standins(tmp_path, monkeypatch)


@pytest.fixture
def service():
    svc = WebhookService(Profile(name="Acme", webhook_listen="127.0.0.1:0"), SecretStore.in_memory(), forward=False)
    yield svc
    svc.close()


def healthy(svc: WebhookService) -> bool:
    assert svc.receiver is not None
    try:
        return requests.get(f"http://{svc.receiver.address}{HEALTH_PATH}", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.mark.posix_only
def test_after_a_sleep_a_dead_receiver_and_tunnel_are_restarted_and_a_new_address_is_reported(
    standins: StandIns, service: WebhookService
) -> None:
    standins.install("cloudflared", words="first-tunnel-words")
    [tool] = find_tunnel_tools()
    service.start()
    assert service.start_tunnel(tool, start_timeout=10) == "https://first-tunnel-words.trycloudflare.com"
    [(pid, _)] = standins.starts()
    # What a night can do: the tool died and the receiver's thread ended.
    os.kill(pid, signal.SIGKILL)
    assert service.receiver is not None
    service.receiver.stop()
    assert not service.receiver.running
    standins.mode("ok", words="second-tunnel-words")

    clocks = Clocks()
    wake = detector(clocks)
    clocks.sleep_laptop(8 * 3600)
    assert wake.check() is not None
    report = service.resume()

    assert report.problem is None and report.receiver_restarted and report.tunnel_restarted
    assert report.url_changed and report.new_url == "https://second-tunnel-words.trycloudflare.com"
    assert healthy(service)
    status = service.status()
    assert status.running and status.tunnel is not None and status.tunnel.state is TunnelState.RUNNING
    assert not pid_alive(pid) and len(standins.starts()) == 2


@pytest.mark.posix_only
def test_resume_leaves_a_running_receiver_and_tunnel_alone(standins: StandIns, service: WebhookService) -> None:
    standins.install("ngrok")
    [tool] = find_tunnel_tools()
    service.start()
    url = service.start_tunnel(tool, start_timeout=10)
    report = service.resume()
    assert not report.receiver_restarted and not report.tunnel_restarted and report.problem is None
    assert service.tunnel is not None and service.tunnel.public_url == url and len(standins.starts()) == 1


def test_resume_does_nothing_when_nothing_was_started(service: WebhookService) -> None:
    report = service.resume()
    assert not report.receiver_restarted and not report.tunnel_restarted and service.receiver is None


@pytest.mark.posix_only
def test_stopping_the_receiver_stops_its_tunnel_and_nothing_comes_back_on_wake(
    standins: StandIns, service: WebhookService
) -> None:
    standins.install("cloudflared")
    [tool] = find_tunnel_tools()
    service.start()
    service.start_tunnel(tool, start_timeout=10)
    [(pid, _)] = standins.starts()
    service.stop()
    assert not pid_alive(pid) and service.tunnel is None
    report = service.resume()
    assert not report.receiver_restarted and not report.tunnel_restarted and len(standins.starts()) == 1


@pytest.mark.posix_only
def test_a_tunnel_needs_a_running_receiver(standins: StandIns, service: WebhookService) -> None:
    standins.install("ngrok")
    [tool] = find_tunnel_tools()
    with pytest.raises(Exception, match="Start the receiver first"):
        service.start_tunnel(tool)
    assert standins.starts() == []


@pytest.mark.posix_only
def test_a_tunnel_that_cannot_restart_yet_stays_wanted_and_the_next_resume_retries(
    standins: StandIns, service: WebhookService
) -> None:
    standins.install("ngrok")
    [tool] = find_tunnel_tools()
    service.start()
    first = service.start_tunnel(tool, start_timeout=10)
    [(pid, _)] = standins.starts()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while service.tunnel is not None and service.tunnel.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    standins.mode("exit")
    report = service.resume()
    assert report.tunnel_pending and "authentication failed" in (report.problem or "")
    standins.mode("ok")
    report = service.resume()
    assert report.tunnel_restarted and report.new_url == first and not report.url_changed
