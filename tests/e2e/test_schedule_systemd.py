"""`schedule install` for real into the user's systemd, where one runs (Linux desktops; not in CI containers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cio_desktop.cli import main
from cio_desktop.config.profile import Profile
from cio_desktop.config.store import ProfileStore
from cio_desktop.schedule import install as system


def _user_systemd() -> str | None:
    """Why the test cannot run here, or None when a user systemd answers."""
    if not sys.platform.startswith("linux") or shutil.which("systemctl") is None:
        return "needs Linux with systemctl"
    state = subprocess.run(
        ["systemctl", "--user", "is-system-running"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()
    return None if state in ("running", "degraded") else f"no user systemd here (is-system-running: {state or '?'})"


SKIP = _user_systemd()


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_install_enables_a_real_user_timer_and_remove_takes_it_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A unique profile name: the units go into the user's real systemd folder, and are removed at the end.
    name = f"pytest-{tmp_path.name[-12:]}".replace("_", "-")
    ProfileStore().save(Profile(name=name))
    timer = f"cio-desktop-sync-{name.lower()}.timer"
    try:
        assert main(["schedule", "install", "--profile", name, "--daily", "03:17"]) == 0
        assert "installed and enabled" in capsys.readouterr().out
        shown = subprocess.run(
            ["systemctl", "--user", "show", timer, "-p", "ActiveState", "-p", "UnitFileState"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        assert "ActiveState=active" in shown and "UnitFileState=enabled" in shown
        assert [i.profile for i in system.SystemdUser().installed() if i.profile == name] == [name]
    finally:
        assert main(["schedule", "remove", "--profile", name]) == 0
    assert not (system.systemd_user_dir() / timer).exists()
