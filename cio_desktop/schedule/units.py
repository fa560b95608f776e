"""The files each operating system's scheduler reads for a profile's scheduled sync (pure text, no I/O).

Linux: a systemd user service + timer; macOS: a launchd agent plist; Windows: a Task Scheduler task
(XML, because only XML says "run as soon as possible after a missed start"). Each runs the headless
``sync --profile NAME [--full]`` with the absolute path of the executable that installed it, at the
slots of :mod:`cio_desktop.sync.schedule`, and each runs a missed slot once on wake.
"""

from __future__ import annotations

import os
import plistlib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from cio_desktop import APP_NAME
from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.profile import ScheduleKind, ScheduleSettings

# Marks the first line of every file we write, with the profile's name, so `schedule list` and
# `schedule remove` find ours and never touch anyone else's.
MARKER = f"{APP_NAME} scheduled sync of profile: "
LAUNCHD_PREFIX = "io.github.cio-desktop.sync."
SYSTEMD_PREFIX = f"{APP_NAME}-sync-"
WINDOWS_FOLDER = "\\cio-desktop\\"
# Passed on to the scheduled run when set where `schedule install` runs: another home for the app's
# files, or another keyring backend (tests and servers set these).
PASSED_ENV = (HOME_ENV, "PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")


def slug(profile: str) -> str:
    """A file-name-safe, case-insensitive spelling of a profile name ("Acme EU" -> "acme_20eu")."""
    return re.sub(r"[^a-z0-9-]", lambda m: f"_{ord(m[0]):02x}", profile.lower())


def executable_command() -> list[str]:
    """How to start this same cio-desktop again: the frozen app's console twin, or this Python with
    ``-m cio_desktop`` (a virtualenv's python is kept as it is: resolving its link leaves the venv)."""
    if getattr(sys, "frozen", False):
        exe = Path(sys.executable).absolute()
        twin = exe.with_name(f"{APP_NAME}-cli{exe.suffix}")
        return [str(twin if twin.exists() else exe)]
    return [str(Path(sys.executable).absolute()), "-m", "cio_desktop"]


def sync_arguments(profile: str, settings: ScheduleSettings) -> list[str]:
    # --scheduled: the job syncs only while the profile still has a schedule (a profile deleted and made
    # again under the same name, or whose schedule was turned off, is left alone).
    return ["sync", "--profile", profile, *(["--full"] if settings.full else []), "--scheduled"]


def passed_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: env[k] for k in PASSED_ENV if env.get(k)}


@dataclass(frozen=True)
class Job:
    """One profile's scheduled sync, as every platform's files describe it."""

    profile: str
    settings: ScheduleSettings
    command: tuple[str, ...]  # executable and its arguments, the sync arguments included
    environment: tuple[tuple[str, str], ...] = ()

    @classmethod
    def for_profile(
        cls,
        profile: str,
        settings: ScheduleSettings,
        executable: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Job:
        if not settings.enabled:
            raise ValueError("an OS schedule needs --every or --daily")
        command = [*(executable or executable_command()), *sync_arguments(profile, settings)]
        return cls(profile, settings, tuple(command), tuple(sorted(passed_environment(environ).items())))

    @property
    def hours(self) -> list[int]:
        if self.settings.kind is ScheduleKind.DAILY:
            return [int(self.settings.daily_at[:2])]
        return list(range(0, 24, self.settings.every_hours))

    @property
    def minute(self) -> int:
        return int(self.settings.daily_at[3:]) if self.settings.kind is ScheduleKind.DAILY else 0


# ---------------------------------------------------------------------------------------------- Linux
def systemd_unit_name(profile: str) -> str:
    return SYSTEMD_PREFIX + slug(profile)


def _systemd_quote(arg: str) -> str:
    # ExecStart: double quotes with C escapes; % starts a specifier and $ a variable, both doubled.
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def on_calendar(settings: ScheduleSettings) -> str:
    """systemd's spelling of the slots: ``*-*-* 00/6:00:00``, ``*-*-* *:00:00``, ``*-*-* 07:30:00``."""
    if settings.kind is ScheduleKind.DAILY:
        return f"*-*-* {settings.daily_at}:00"
    if settings.every_hours == 1:
        return "*-*-* *:00:00"
    return f"*-*-* 00/{settings.every_hours}:00:00"


def systemd_service(job: Job) -> str:
    env = "".join(f"Environment={_systemd_quote(f'{k}={v}')}\n" for k, v in job.environment)
    return (
        f"# {MARKER}{job.profile}\n"
        "[Unit]\n"
        f"Description=Sync Hull to Customer.io: profile {job.profile} ({job.settings.describe()})\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"{env}"
        f"ExecStart={' '.join(_systemd_quote(a) for a in job.command)}\n"
    )


def systemd_timer(job: Job) -> str:
    return (
        f"# {MARKER}{job.profile}\n"
        "[Unit]\n"
        f"Description=Scheduled sync of profile {job.profile}: {job.settings.describe()}\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={on_calendar(job.settings)}\n"
        # A slot missed while off or asleep runs once at the next boot or wake.
        "Persistent=true\n"
        f"Unit={systemd_unit_name(job.profile)}.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


# ---------------------------------------------------------------------------------------------- macOS
def launchd_label(profile: str) -> str:
    return LAUNCHD_PREFIX + slug(profile)


def launchd_plist(job: Job) -> bytes:
    """A launchd agent; launchd runs calendar jobs missed during sleep once on wake."""
    intervals = [{"Hour": h, "Minute": job.minute} for h in job.hours]
    if job.settings.kind is ScheduleKind.EVERY and job.settings.every_hours == 1:
        intervals = [{"Minute": 0}]
    document: dict[str, object] = {
        "Label": launchd_label(job.profile),
        "ProgramArguments": list(job.command),
        "StartCalendarInterval": intervals,
        "ProcessType": "Background",
        "RunAtLoad": False,
    }
    if job.environment:
        document["EnvironmentVariables"] = dict(job.environment)
    return plistlib.dumps(document, sort_keys=False)


# ---------------------------------------------------------------------------------------------- Windows
def windows_task_name(profile: str) -> str:
    return f"{WINDOWS_FOLDER}Sync {slug(profile)}"


def _windows_quote(arg: str) -> str:
    """One argument as the C runtime's command-line parser reads it back (CommandLineToArgvW rules)."""
    if arg and not re.search(r'[\s"]', arg):
        return arg
    out, backslashes = ['"'], 0
    for ch in arg:
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + ch)
        backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def windows_task_xml(job: Job, start_date: str = "2024-01-01") -> str:
    """Task Scheduler XML (write it UTF-16 for schtasks /XML). Environment variables cannot be set on
    a task: a scheduled run under another CIO_DESKTOP_HOME is not offered on Windows."""
    repetition = ""
    if job.settings.kind is ScheduleKind.EVERY:
        repetition = (
            f"      <Repetition><Interval>PT{job.settings.every_hours}H</Interval>"
            "<Duration>P1D</Duration><StopAtDurationEnd>false</StopAtDurationEnd></Repetition>\n"
        )
    start = f"{start_date}T{job.hours[0]:02d}:{job.minute:02d}:00"
    program, *arguments = job.command
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        f"<!-- {escape(MARKER + job.profile)} -->\n"
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
        "  <RegistrationInfo>\n"
        f"    <Description>{escape(f'Sync Hull to Customer.io: profile {job.profile} ({job.settings.describe()})')}"
        "</Description>\n"
        "  </RegistrationInfo>\n"
        "  <Triggers>\n"
        "    <CalendarTrigger>\n"
        f"{repetition}"
        f"      <StartBoundary>{start}</StartBoundary>\n"
        "      <Enabled>true</Enabled>\n"
        "      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>\n"
        "    </CalendarTrigger>\n"
        "  </Triggers>\n"
        "  <Principals><Principal><LogonType>InteractiveToken</LogonType>"
        "<RunLevel>LeastPrivilege</RunLevel></Principal></Principals>\n"
        "  <Settings>\n"
        # A start missed while off or asleep runs once as soon as possible.
        "    <StartWhenAvailable>true</StartWhenAvailable>\n"
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
        "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n"
        "    <Enabled>true</Enabled>\n"
        "  </Settings>\n"
        '  <Actions Context="Author">\n'
        "    <Exec>\n"
        f"      <Command>{escape(program)}</Command>\n"
        f"      <Arguments>{escape(' '.join(_windows_quote(a) for a in arguments))}</Arguments>\n"
        "    </Exec>\n"
        "  </Actions>\n"
        "</Task>\n"
    )


def profile_from_marker(text: str) -> str | None:
    """The profile a unit or task file we wrote belongs to (None: not one of ours)."""
    m = re.search(re.escape(MARKER) + r"([A-Za-z0-9][A-Za-z0-9 _.-]{0,63}?) ?(-->)?$", text, re.MULTILINE)
    return m.group(1) if m else None


def profile_from_arguments(arguments: Sequence[str]) -> str | None:
    """The profile of a command line we wrote (``... sync --profile NAME``)."""
    args = list(arguments)
    return args[args.index("--profile") + 1] if "--profile" in args[:-1] else None


__all__ = [
    "MARKER",
    "Job",
    "executable_command",
    "launchd_label",
    "launchd_plist",
    "on_calendar",
    "profile_from_arguments",
    "profile_from_marker",
    "slug",
    "systemd_service",
    "systemd_timer",
    "systemd_unit_name",
    "windows_task_name",
    "windows_task_xml",
]
