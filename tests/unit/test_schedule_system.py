"""Scheduled syncs by the operating system: the files for every platform (contents), the install, list
and remove commands over a fake scheduler command runner, and the keyring check's warnings."""

from __future__ import annotations

import json
import plistlib
import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from cio_desktop.cli import main
from cio_desktop.config.profile import Profile, ScheduleKind, ScheduleSettings, SegmentRef
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.schedule import install as system
from cio_desktop.schedule import units
from cio_desktop.schedule.units import Job

EXE = ["/opt/my apps/venv/bin/python", "-m", "cio_desktop"]
EVERY_6_FULL = ScheduleSettings(ScheduleKind.EVERY, every_hours=6, full=True)
DAILY = ScheduleSettings(ScheduleKind.DAILY, daily_at="07:30")


class FakeRunner:
    """Records scheduler commands; answers from ``answers`` (by the command's first words) or rc 0."""

    def __init__(self, answers: dict[str, system.Completed] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = answers or {}

    def __call__(self, argv: Sequence[str]) -> system.Completed:
        self.calls.append(list(argv))
        for prefix, answer in self.answers.items():
            if " ".join(argv).startswith(prefix):
                return answer
        return system.Completed(0, "enabled")


def job(settings: ScheduleSettings = EVERY_6_FULL, name: str = "Acme EU") -> Job:
    return Job.for_profile(name, settings, EXE, environ={"CIO_DESKTOP_HOME": "/srv/cio 100%", "HOME": "/x"})


# ---------------------------------------------------------------------------------------------- files
def test_systemd_service_runs_the_same_executable_headless_with_quoted_arguments() -> None:
    text = units.systemd_service(job())
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line == (
        'ExecStart="/opt/my apps/venv/bin/python" "-m" "cio_desktop" "sync" "--profile" "Acme EU" "--full"'
        ' "--scheduled"'
    )
    assert 'Environment="CIO_DESKTOP_HOME=/srv/cio 100%%"' in text  # % is a specifier in units: doubled
    assert "HOME=/x" not in text  # only the app's own settings are passed on
    assert "Type=oneshot" in text
    assert units.profile_from_marker(text) == "Acme EU"


@pytest.mark.parametrize(
    ("settings", "calendar"),
    [
        (ScheduleSettings(ScheduleKind.EVERY, every_hours=1), "*-*-* *:00:00"),
        (EVERY_6_FULL, "*-*-* 00/6:00:00"),
        (DAILY, "*-*-* 07:30:00"),
    ],
)
def test_systemd_timer_fires_at_the_schedules_slots_and_catches_up_once(
    settings: ScheduleSettings, calendar: str
) -> None:
    text = units.systemd_timer(job(settings))
    assert f"OnCalendar={calendar}\n" in text
    assert "Persistent=true\n" in text
    assert "Unit=cio-desktop-sync-acme_20eu.service\n" in text
    assert "WantedBy=timers.target" in text


def test_launchd_plist_lists_every_slot_and_the_command_as_separate_arguments() -> None:
    document = plistlib.loads(units.launchd_plist(job()))
    assert document["Label"] == "io.github.cio-desktop.sync.acme_20eu"
    assert document["ProgramArguments"] == [*EXE, "sync", "--profile", "Acme EU", "--full", "--scheduled"]
    assert document["StartCalendarInterval"] == [{"Hour": h, "Minute": 0} for h in (0, 6, 12, 18)]
    assert document["EnvironmentVariables"] == {"CIO_DESKTOP_HOME": "/srv/cio 100%"}
    assert plistlib.loads(units.launchd_plist(job(DAILY)))["StartCalendarInterval"] == [{"Hour": 7, "Minute": 30}]
    hourly = plistlib.loads(units.launchd_plist(job(ScheduleSettings(ScheduleKind.EVERY, every_hours=1))))
    assert hourly["StartCalendarInterval"] == [{"Minute": 0}]


def test_windows_task_repeats_from_midnight_and_starts_a_missed_run_when_available() -> None:
    xml = units.windows_task_xml(job())
    assert "<StartBoundary>2024-01-01T00:00:00</StartBoundary>" in xml
    assert "<Interval>PT6H</Interval>" in xml and "<Duration>P1D</Duration>" in xml
    assert "<StartWhenAvailable>true</StartWhenAvailable>" in xml
    assert "<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>" in xml
    assert "<Command>/opt/my apps/venv/bin/python</Command>" in xml
    assert '<Arguments>-m cio_desktop sync --profile "Acme EU" --full --scheduled</Arguments>' in xml
    assert units.profile_from_marker(xml) == "Acme EU"
    daily = units.windows_task_xml(job(DAILY))
    assert "<StartBoundary>2024-01-01T07:30:00</StartBoundary>" in daily and "<Repetition>" not in daily


def test_windows_arguments_survive_the_c_runtime_parser() -> None:
    assert units._windows_quote('C:\\My "odd" dir\\') == '"C:\\My \\"odd\\" dir\\\\"'
    assert units._windows_quote("plain") == "plain"


def test_profile_names_map_to_distinct_file_names_ignoring_case() -> None:
    assert units.slug("Acme EU") == units.slug("acme eu") == "acme_20eu"
    assert len({units.slug(n) for n in ("a b", "a-b", "a_b", "a.b")}) == 4


def test_the_executable_is_this_python_with_the_module_when_not_frozen() -> None:
    command = units.executable_command()
    assert command[1:] == ["-m", "cio_desktop"]
    assert Path(command[0]).is_absolute() and Path(command[0]).exists()


# ---------------------------------------------------------------------------------------------- installers
def test_systemd_install_writes_private_units_enables_and_restarts_the_timer(tmp_path: Path) -> None:
    runner = FakeRunner()
    outcome = system.SystemdUser(tmp_path, runner).install(job(), enable=True)
    timer = tmp_path / "cio-desktop-sync-acme_20eu.timer"
    assert outcome.enabled and outcome.where == [str(timer.with_suffix(".service")), str(timer)]
    assert (timer.stat().st_mode & 0o777) == 0o600
    assert runner.calls == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", timer.name],
        ["systemctl", "--user", "restart", timer.name],
    ]


def test_systemd_install_without_a_user_manager_keeps_the_files_and_says_what_to_run(tmp_path: Path) -> None:
    runner = FakeRunner({"systemctl --user daemon-reload": system.Completed(1, "Failed to connect to bus")})
    outcome = system.SystemdUser(tmp_path, runner).install(job(), enable=True)
    assert not outcome.enabled
    assert "Failed to connect to bus" in outcome.notes[0]
    assert "systemctl --user enable --now cio-desktop-sync-acme_20eu.timer" in outcome.notes[0]
    assert (tmp_path / "cio-desktop-sync-acme_20eu.service").exists()


def test_systemd_list_and_remove_touch_only_our_units(tmp_path: Path) -> None:
    scheduler = system.SystemdUser(tmp_path, FakeRunner())
    scheduler.install(job(), enable=False)
    (tmp_path / "cio-desktop-sync-handmade.timer").write_text("[Timer]\nOnCalendar=hourly\n")
    [found] = scheduler.installed()
    assert (found.profile, found.schedule, found.state) == ("Acme EU", "every 6 hours, full sync", "enabled")
    assert scheduler.remove("acme eu") is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cio-desktop-sync-handmade.timer"]
    assert scheduler.remove("Acme EU") is None


def test_launchd_install_bootstraps_into_the_gui_domain(tmp_path: Path) -> None:
    runner = FakeRunner()
    scheduler = system.Launchd(tmp_path, runner, uid=501)
    outcome = scheduler.install(job(), enable=True)
    plist = tmp_path / "io.github.cio-desktop.sync.acme_20eu.plist"
    assert outcome.enabled and plistlib.loads(plist.read_bytes())["Label"] == plist.stem
    assert runner.calls[-1] == ["launchctl", "bootstrap", "gui/501", str(plist)]
    [found] = scheduler.installed()
    assert (found.profile, found.schedule) == ("Acme EU", "at 0:00, 6:00, 12:00, 18:00, full sync")
    scheduler.remove("Acme EU")
    assert runner.calls[-1] == ["launchctl", "bootout", "gui/501/io.github.cio-desktop.sync.acme_20eu"]
    assert not plist.exists()


def test_windows_install_creates_the_task_from_utf16_xml_and_disables_it_on_request(tmp_path: Path) -> None:
    runner = FakeRunner()
    scheduler = system.TaskScheduler(tmp_path, runner)
    outcome = scheduler.install(job(DAILY), enable=False)
    copy = tmp_path / "acme_20eu.xml"
    assert copy.read_text(encoding="utf-16").startswith('<?xml version="1.0" encoding="UTF-16"?>')
    name = "\\cio-desktop\\Sync acme_20eu"
    assert runner.calls == [
        ["schtasks", "/Create", "/TN", name, "/XML", str(copy), "/F"],
        ["schtasks", "/Change", "/TN", name, "/DISABLE"],
    ]
    assert not outcome.enabled and "/ENABLE" in outcome.notes[0]
    assert [i.profile for i in scheduler.installed()] == ["Acme EU"]
    assert scheduler.remove("Acme EU") is not None and not copy.exists()


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def linux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[system.SystemdUser, FakeRunner]:
    runner = FakeRunner()
    scheduler = system.SystemdUser(tmp_path / "units", runner)
    monkeypatch.setattr(system, "for_this_system", lambda: scheduler)
    ProfileStore().save(Profile(name="Acme", cio_site_id="site1", segments=(SegmentRef("s1", "A"),)))
    return scheduler, runner


def answer_secrets(runner: FakeRunner, **secrets: str) -> None:
    shown = json.dumps({"name": "Acme", "secrets": secrets})
    runner.answers["systemd-run"] = system.Completed(0, shown)


def test_install_saves_the_schedule_in_the_profile_and_checks_the_keyring_where_the_timer_runs(
    linux: tuple[system.SystemdUser, FakeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    scheduler, runner = linux
    answer_secrets(runner, hull_secret="set", cio_api_key="set", cio_app_key="missing")
    assert main(["schedule", "install", "--profile", "acme", "--daily", "7:05", "--full"]) == 0
    out = capsys.readouterr().out
    assert "Scheduled sync of 'Acme' (daily at 07:05, full sync): systemd user timer installed and enabled." in out
    assert "warning" not in out
    assert ProfileStore().load("Acme").schedule == ScheduleSettings(ScheduleKind.DAILY, daily_at="07:05", full=True)
    check = next(c for c in runner.calls if c[0] == "systemd-run")
    assert check[:5] == ["systemd-run", "--user", "--wait", "--pipe", "--quiet"]
    assert check[-3:] == ["profiles", "show", "Acme"]
    assert any(a.startswith("--setenv=CIO_DESKTOP_HOME=") for a in check)
    assert "OnCalendar=*-*-* 07:05:00" in (scheduler.unit_dir / "cio-desktop-sync-acme.timer").read_text()


def test_install_warns_with_the_fix_when_the_timer_cannot_read_a_credential(
    linux: tuple[system.SystemdUser, FakeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    _scheduler, runner = linux
    answer_secrets(runner, hull_secret="missing", cio_api_key="set")
    assert main(["schedule", "install", "--profile", "Acme", "--every", "2h"]) == 0
    out = capsys.readouterr().out
    assert "warning: The profile's hull_secret cannot be read from systemd's user session" in out
    assert "cio-desktop profiles set-secret Acme hull_secret" in out


def test_install_warns_when_no_keyring_is_reachable_from_the_timer(
    linux: tuple[system.SystemdUser, FakeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    _scheduler, runner = linux
    runner.answers["systemd-run"] = system.Completed(0, json.dumps({"secrets": "unknown (no usable keyring)"}))
    assert main(["schedule", "install", "--profile", "Acme", "--every", "1h"]) == 0
    assert "import-environment DBUS_SESSION_BUS_ADDRESS" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--every", "5h"], "use 1h, 2h, 3h, 4h, 6h, 8h or 12h"),
        (["--every", "soon"], "use 1h, 2h"),
        (["--daily", "25:00"], "is not a time of day"),
        (["--daily", "7"], "is not a time of day"),
        (["--every", "1h", "--daily", "07:00"], "not allowed with argument"),
        ([], "one of the arguments --every --daily is required"),
    ],
)
def test_install_refuses_bad_timing_and_changes_nothing(
    linux: tuple[system.SystemdUser, FakeRunner], capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    scheduler, _runner = linux
    with pytest.raises(SystemExit) as caught:
        main(["schedule", "install", "--profile", "Acme", *argv])
    assert caught.value.code == 2
    assert words in capsys.readouterr().err
    assert not scheduler.unit_dir.exists()
    assert ProfileStore().load("Acme").schedule == ScheduleSettings()


def test_install_of_an_unknown_profile_exits_2_and_writes_nothing(
    linux: tuple[system.SystemdUser, FakeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    scheduler, _runner = linux
    assert main(["schedule", "install", "--profile", "Nope", "--every", "1h"]) == 2
    assert "No profile named 'Nope'" in capsys.readouterr().err
    assert not scheduler.unit_dir.exists()


def test_list_and_remove_through_the_cli(
    linux: tuple[system.SystemdUser, FakeRunner], capsys: pytest.CaptureFixture[str]
) -> None:
    _scheduler, runner = linux
    answer_secrets(runner, hull_secret="set", cio_api_key="set")
    assert main(["schedule", "list"]) == 0
    assert "No scheduled syncs installed" in capsys.readouterr().out
    main(["schedule", "install", "--profile", "Acme", "--every", "12h", "--no-enable"])
    assert "Not enabled (--no-enable)" in capsys.readouterr().out
    assert main(["schedule", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == ["PROFILE", "SCHEDULE", "STATE", "WHERE"]
    assert rows[1].startswith("Acme") and "every 12 hours, sync changes" in rows[1]
    assert main(["schedule", "remove", "--profile", "Acme"]) == 0
    assert "Removed the scheduled sync of 'Acme'" in capsys.readouterr().out
    assert ProfileStore().load("Acme").schedule == ScheduleSettings()
    assert main(["schedule", "remove", "--profile", "Acme"]) == 0
    assert "No scheduled sync of 'Acme' was installed" in capsys.readouterr().out


def test_macos_and_windows_check_the_keyring_in_this_session(tmp_path: Path) -> None:
    SecretStore().set("Acme", SecretKey.CIO_API_KEY, "k")
    warnings = system.keyring_warnings(
        "Acme", ["hull_secret", "cio_api_key"], system.Launchd(tmp_path, FakeRunner(), uid=1), job(name="Acme")
    )
    assert warnings == [
        "The profile's hull_secret cannot be read from this session: scheduled syncs will fail (exit code 2)."
        " Store it with: cio-desktop profiles set-secret Acme hull_secret"
    ]


def test_the_generated_command_line_round_trips_through_a_shell_parser() -> None:
    # What systemd runs is what we meant: its quoting matches POSIX shell words for these characters.
    exec_line = units.systemd_service(job()).split("ExecStart=", 1)[1].splitlines()[0]
    assert shlex.split(exec_line) == [*EXE, "sync", "--profile", "Acme EU", "--full", "--scheduled"]


def test_the_frozen_app_schedules_its_console_twin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = tmp_path / "Hull to Customer.io" / "cio-desktop"
    app.parent.mkdir()
    app.touch()
    monkeypatch.setattr(units.sys, "frozen", True, raising=False)
    monkeypatch.setattr(units.sys, "executable", str(app))
    assert units.executable_command() == [str(app)]  # no twin beside it: the app itself
    (app.parent / "cio-desktop-cli").touch()
    assert units.executable_command() == [str(app.parent / "cio-desktop-cli")]


def test_the_windows_task_is_well_formed_xml_in_the_task_scheduler_namespace() -> None:
    from xml.etree import ElementTree

    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    task = ElementTree.fromstring(units.windows_task_xml(job()).encode("utf-16"))
    assert task.findtext("t:Actions/t:Exec/t:Command", namespaces=ns) == EXE[0]
    assert task.findtext("t:Triggers/t:CalendarTrigger/t:Repetition/t:Interval", namespaces=ns) == "PT6H"
    assert task.findtext("t:Settings/t:StartWhenAvailable", namespaces=ns) == "true"
