"""Tunnel tools: found on PATH, started for the receiver's port, URL read, failures explained, stopped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cio_desktop.webhooks.tunnel import (
    Tunnel,
    TunnelError,
    TunnelKind,
    TunnelState,
    TunnelTool,
    find_tunnel_tools,
    install_help,
    known_install_dirs,
    parse_public_url,
    target_address,
)
from tests.tunnel_standins import StandIns, make_standins, pid_alive

pytestmark = pytest.mark.posix_only  # the stand-ins are scripts with a #! line


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    return make_standins(tmp_path, monkeypatch)


def only_tool(kind: TunnelKind) -> TunnelTool:
    return next(t for t in find_tunnel_tools() if t.kind is kind)


def test_no_tool_on_path_finds_none_and_install_help_names_both_tools(standins: StandIns) -> None:
    assert find_tunnel_tools() == []
    for platform, command in (("darwin", "brew install cloudflared"), ("win32", "winget install"), ("linux", "")):
        text = install_help(platform)
        assert "cloudflared" in text and "ngrok" in text and command in text


def test_tools_on_path_are_found_cloudflared_first(standins: StandIns) -> None:
    standins.install("ngrok", "cloudflared")
    assert [t.kind for t in find_tunnel_tools()] == [TunnelKind.CLOUDFLARED, TunnelKind.NGROK]


@pytest.mark.parametrize("kind", list(TunnelKind))
def test_tunnel_reads_the_public_url_and_stop_ends_the_program(standins: StandIns, kind: TunnelKind) -> None:
    standins.install(kind.value)
    tunnel = Tunnel(only_tool(kind), "127.0.0.1", 8765, start_timeout=10)
    url = tunnel.start()
    domain = "trycloudflare.com" if kind is TunnelKind.CLOUDFLARED else "ngrok-free.app"
    assert url == f"https://seasonal-deck-organisms-sf.{domain}"
    status = tunnel.status()
    assert status.state is TunnelState.RUNNING and status.public_url == url and url in status.message
    [(pid, args)] = standins.starts()
    if kind is TunnelKind.CLOUDFLARED:
        assert args == ["tunnel", "--no-autoupdate", "--url", "http://127.0.0.1:8765"]
    else:
        assert args == ["http", "127.0.0.1:8765", "--log", "stdout", "--log-format", "json"]
    tunnel.stop()
    assert not pid_alive(pid) and not tunnel.alive
    assert tunnel.status().state is TunnelState.STOPPED
    tunnel.stop()  # twice is harmless


@pytest.mark.parametrize(
    ("kind", "said"),
    [(TunnelKind.CLOUDFLARED, "no such host"), (TunnelKind.NGROK, "authentication failed")],
)
def test_a_tool_that_exits_early_is_an_error_quoting_what_it_said(
    standins: StandIns, kind: TunnelKind, said: str
) -> None:
    standins.install(kind.value, mode="exit")
    tunnel = Tunnel(only_tool(kind), "127.0.0.1", 8765, start_timeout=10)
    started = time.monotonic()
    with pytest.raises(TunnelError) as err:
        tunnel.start()
    assert time.monotonic() - started < 5  # not the start timeout
    assert "stopped before giving a public address (exit code 1)" in str(err.value) and said in str(err.value)
    assert not tunnel.alive


def test_a_tool_that_never_gives_a_url_is_stopped_after_the_timeout(standins: StandIns) -> None:
    standins.install("cloudflared", mode="no-url")
    tunnel = Tunnel(only_tool(TunnelKind.CLOUDFLARED), "127.0.0.1", 8765, start_timeout=0.8)
    with pytest.raises(TunnelError, match="gave no public address within 1 seconds") as err:
        tunnel.start()
    assert "Registered tunnel connection" in str(err.value)  # its last words, to help find out why
    [(pid, _args)] = standins.starts()
    assert not pid_alive(pid)


def test_a_tool_that_ignores_terminate_is_killed(standins: StandIns) -> None:
    standins.install("ngrok", mode="stubborn")
    tunnel = Tunnel(only_tool(TunnelKind.NGROK), "127.0.0.1", 8765, start_timeout=10, stop_timeout=0.5)
    tunnel.start()
    [(pid, _args)] = standins.starts()
    tunnel.stop()
    assert not pid_alive(pid)


def test_a_tool_that_dies_later_shows_as_failed_with_its_exit_code(standins: StandIns) -> None:
    standins.install("cloudflared")
    standins.mode("late-exit", exit_after=0.5)
    tunnel = Tunnel(only_tool(TunnelKind.CLOUDFLARED), "127.0.0.1", 8765, start_timeout=10)
    tunnel.start()
    deadline = time.monotonic() + 5
    while tunnel.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    status = tunnel.status()
    assert status.state is TunnelState.FAILED and "exit code 1" in status.message and status.public_url is None
    tunnel.stop()


def test_a_missing_program_is_an_error_not_a_crash(tmp_path) -> None:
    tunnel = Tunnel(TunnelTool(TunnelKind.NGROK, str(tmp_path / "gone" / "ngrok")), "127.0.0.1", 1)
    with pytest.raises(TunnelError, match="Could not run ngrok"):
        tunnel.start()


def test_url_parsing_ignores_api_hosts_http_urls_and_other_messages() -> None:
    cf = TunnelKind.CLOUDFLARED
    assert parse_public_url(cf, 'ERR failed: Post "https://api.trycloudflare.com/tunnel"') is None
    assert parse_public_url(cf, "INF |  https://a-b.trycloudflare.com   |") == "https://a-b.trycloudflare.com"
    ng = TunnelKind.NGROK
    assert parse_public_url(ng, '{"msg": "started tunnel", "url": "http://x.ngrok.io"}') is None
    assert parse_public_url(ng, '{"msg": "client session established"}') is None
    assert parse_public_url(ng, "not json {") is None
    assert parse_public_url(ng, '{"msg":"started tunnel","url":"https://x.ngrok.app"}') == "https://x.ngrok.app"


def test_wildcard_and_ipv6_listen_addresses_are_reached_on_loopback() -> None:
    assert target_address("0.0.0.0", 80) == "127.0.0.1:80"
    assert target_address("::", 80) == "[::1]:80"
    assert target_address("::1", 80) == "[::1]:80"


def test_tools_in_the_usual_install_folders_are_found_when_not_on_path(tmp_path: Path) -> None:
    brew = tmp_path / "opt-homebrew-bin"
    brew.mkdir()
    exe = brew / "cloudflared"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert find_tunnel_tools(search_path="/usr/bin", extra_dirs=[]) == []
    [tool] = find_tunnel_tools(search_path="/usr/bin", extra_dirs=[str(brew)])
    assert tool.kind is TunnelKind.CLOUDFLARED and tool.path == str(exe)


def test_usual_install_folders_include_homebrew_and_winget(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "/opt/homebrew/bin" in known_install_dirs("darwin")
    monkeypatch.setenv("LOCALAPPDATA", "C:/Users/ann/AppData/Local")
    monkeypatch.setenv("ProgramFiles", "C:/Program Files")
    monkeypatch.delenv("ProgramFiles(x86)", raising=False)
    assert known_install_dirs("win32") == [
        os.path.join("C:/Program Files", "cloudflared"),
        os.path.join("C:/Users/ann/AppData/Local", "Microsoft", "WinGet", "Links"),
    ]
