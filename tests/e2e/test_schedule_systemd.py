"""systemd checks our units, and `schedule install` for real into the user's systemd where one runs (Linux desktops)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cio_desktop.cli import main
from cio_desktop.config.profile import Profile, ScheduleKind, ScheduleSettings
from cio_desktop.config.store import ProfileStore
from cio_desktop.schedule import install as system
from cio_desktop.schedule import units
from cio_desktop.schedule.units import Job


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


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Linux with systemd)")
@pytest.mark.parametrize(
    "settings",
    [
        ScheduleSettings(ScheduleKind.EVERY, every_hours=1),
        ScheduleSettings(ScheduleKind.EVERY, every_hours=6, full=True),
        ScheduleSettings(ScheduleKind.DAILY, daily_at="07:30"),
    ],
)
def test_generated_units_pass_systemd_analyze_verify(tmp_path: Path, settings: ScheduleSettings) -> None:
    # systemd's own checker, offline: unit syntax, calendar spec, and that ExecStart's program exists.
    job = Job.for_profile("Acme EU", settings, environ={"CIO_DESKTOP_HOME": str(tmp_path / "home 100%")})
    base = tmp_path / units.systemd_unit_name("Acme EU")
    service, timer = base.with_name(base.name + ".service"), base.with_name(base.name + ".timer")
    service.write_text(units.systemd_service(job))
    timer.write_text(units.systemd_timer(job))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(timer), str(service)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "acme" not in done.stderr.lower(), done.stderr  # no warning about our units
