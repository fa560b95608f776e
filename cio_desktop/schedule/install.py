"""Install, list and remove a profile's scheduled sync in the operating system's own scheduler.

One class per scheduler (systemd user units, launchd agents, Task Scheduler). Each writes the files
of :mod:`cio_desktop.schedule.units` (private, atomically) and runs the scheduler's own command
through ``run``, which tests replace. A scheduler command that fails leaves the files in place and
says what to run by hand; nothing here raises for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import plistlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cio_desktop.config import paths
from cio_desktop.config.private import write_atomic
from cio_desktop.config.profile import Profile, SourceKind
from cio_desktop.config.secrets import SecretKey
from cio_desktop.schedule import units
from cio_desktop.schedule.units import Job

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str


Runner = Callable[[Sequence[str]], Completed]


def run_command(argv: Sequence[str]) -> Completed:
    """Run a scheduler command (never through a shell), with a timeout; a missing program is rc 127."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return Completed(127, f"{argv[0]} is not installed")
    except subprocess.TimeoutExpired:
        return Completed(124, f"{argv[0]} did not answer within {COMMAND_TIMEOUT_S:.0f} s")
    return Completed(done.returncode, (done.stdout + done.stderr).strip())


@dataclass(frozen=True)
class Installed:
    """A scheduled sync found in the operating system's scheduler."""

    profile: str
    schedule: str  # as the file says it ("every 2 hours, sync changes")
    state: str  # "enabled", "not enabled", ...
    where: str  # file or task name

    @property
    def active(self) -> bool:
        """The system will run it (enabled, loaded)."""
        return self.state in ("enabled", "loaded")


@dataclass
class Outcome:
    """What install/remove did: ``notes`` for the user (warnings and what to run by hand)."""

    where: list[str] = field(default_factory=list)
    enabled: bool = False
    notes: list[str] = field(default_factory=list)


class SystemScheduler(Protocol):
    name: str

    def install(self, job: Job, *, enable: bool) -> Outcome: ...
    def remove(self, profile: str) -> Outcome | None: ...
    def installed(self) -> list[Installed]: ...


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _marked(path: Path, encoding: str = "utf-8") -> str | None:
    try:
        return units.profile_from_marker(path.read_text(encoding=encoding, errors="replace"))
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------- Linux
def systemd_user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


class SystemdUser:
    name = "systemd user timer"

    def __init__(self, unit_dir: Path | None = None, run: Runner = run_command) -> None:
        self.unit_dir = unit_dir or systemd_user_dir()
        self.run = run

    def _paths(self, profile: str) -> tuple[Path, Path]:
        base = self.unit_dir / units.systemd_unit_name(profile)
        return base.with_name(base.name + ".service"), base.with_name(base.name + ".timer")

    def _systemctl(self, *args: str) -> Completed:
        return self.run(["systemctl", "--user", *args])

    def install(self, job: Job, *, enable: bool) -> Outcome:
        service, timer = self._paths(job.profile)
        write_atomic(service, units.systemd_service(job).encode())
        write_atomic(timer, units.systemd_timer(job).encode())
        out = Outcome(where=[str(service), str(timer)])
        by_hand = f"systemctl --user daemon-reload && systemctl --user enable --now {timer.name}"
        reload = self._systemctl("daemon-reload")
        if reload.returncode != 0:
            out.notes.append(f"systemd did not reload the units ({reload.output or reload.returncode}); run: {by_hand}")
            return out
        if not enable:
            out.notes.append(f"Not enabled (--no-enable). To start it: systemctl --user enable --now {timer.name}")
            return out
        # restart, not just start: an installed timer picks up a changed schedule.
        for args in (("enable", timer.name), ("restart", timer.name)):
            done = self._systemctl(*args)
            if done.returncode != 0:
                out.notes.append(f"systemctl --user {' '.join(args)} failed ({done.output or done.returncode}).")
                return out
        out.enabled = True
        return out

    def remove(self, profile: str) -> Outcome | None:
        service, timer = self._paths(profile)
        if not timer.exists() and not service.exists():
            return None
        self._systemctl("disable", "--now", timer.name)  # fails harmlessly when it was never enabled
        out = Outcome(where=[str(p) for p in (service, timer) if _unlink(p)])
        self._systemctl("daemon-reload")
        return out

    def installed(self) -> list[Installed]:
        found = []
        for timer in sorted(self.unit_dir.glob(f"{units.SYSTEMD_PREFIX}*.timer")):
            profile = _marked(timer)
            if profile is None:
                continue
            text = timer.read_text(encoding="utf-8", errors="replace")
            schedule = (
                text.split(f"profile {profile}: ", 1)[1].split("\n", 1)[0] if f"profile {profile}: " in text else ""
            )
            state = self._systemctl("is-enabled", timer.name)
            found.append(
                Installed(profile, schedule, state.output.splitlines()[0] if state.output else "unknown", str(timer))
            )
        return found


# ---------------------------------------------------------------------------------------------- macOS
class Launchd:
    name = "launchd agent"

    def __init__(self, agents_dir: Path | None = None, run: Runner = run_command, uid: int | None = None) -> None:
        self.agents_dir = agents_dir or Path.home() / "Library" / "LaunchAgents"
        self.run = run
        self.domain = f"gui/{uid if uid is not None else os.getuid()}"  # type: ignore[attr-defined,unused-ignore]

    def _path(self, profile: str) -> Path:
        return self.agents_dir / f"{units.launchd_label(profile)}.plist"

    def install(self, job: Job, *, enable: bool) -> Outcome:
        path = self._path(job.profile)
        label = units.launchd_label(job.profile)
        self.run(["launchctl", "bootout", f"{self.domain}/{label}"])  # an older version of it, if loaded
        write_atomic(path, units.launchd_plist(job))
        out = Outcome(where=[str(path)])
        if not enable:
            out.notes.append(f"Not loaded (--no-enable). To load it: launchctl bootstrap {self.domain} {path}")
            return out
        done = self.run(["launchctl", "bootstrap", self.domain, str(path)])
        if done.returncode != 0:
            out.notes.append(f"launchctl bootstrap failed ({done.output or done.returncode}).")
            return out
        out.enabled = True
        return out

    def remove(self, profile: str) -> Outcome | None:
        path = self._path(profile)
        if not path.exists():
            return None
        self.run(["launchctl", "bootout", f"{self.domain}/{units.launchd_label(profile)}"])
        return Outcome(where=[str(path)] if _unlink(path) else [])

    def installed(self) -> list[Installed]:
        found = []
        for path in sorted(self.agents_dir.glob(f"{units.LAUNCHD_PREFIX}*.plist")):
            try:
                document = plistlib.loads(path.read_bytes())
            except (OSError, plistlib.InvalidFileException, ValueError):
                continue
            profile = units.profile_from_arguments(document.get("ProgramArguments", []))
            if profile is None:
                continue
            loaded = self.run(["launchctl", "print", f"{self.domain}/{document.get('Label', '')}"]).returncode == 0
            found.append(Installed(profile, _intervals_text(document), "loaded" if loaded else "not loaded", str(path)))
        return found


def _intervals_text(document: dict[str, object]) -> str:
    intervals = document.get("StartCalendarInterval")
    times = (
        [f"{i.get('Hour', '*')}:{i.get('Minute', 0):02d}" for i in (intervals or []) if isinstance(i, dict)]
        if isinstance(intervals, list)
        else []
    )
    arguments = document.get("ProgramArguments")
    full = isinstance(arguments, list) and "--full" in arguments
    return f"at {', '.join(times)}, {'full sync' if full else 'sync changes'}"


# ---------------------------------------------------------------------------------------------- Windows
def task_copies_dir() -> Path:
    """Where the task XML we handed to schtasks is kept (so `schedule list` can say what it holds)."""
    return paths.data_dir() / "schedules"


class TaskScheduler:
    name = "Task Scheduler task"

    def __init__(self, copies_dir: Path | None = None, run: Runner = run_command) -> None:
        self.copies_dir = copies_dir or task_copies_dir()
        self.run = run

    def _path(self, profile: str) -> Path:
        return self.copies_dir / f"{units.slug(profile)}.xml"

    def install(self, job: Job, *, enable: bool) -> Outcome:
        path = self._path(job.profile)
        name = units.windows_task_name(job.profile)
        write_atomic(path, units.windows_task_xml(job).encode("utf-16"))
        out = Outcome(where=[name])
        done = self.run(["schtasks", "/Create", "/TN", name, "/XML", str(path), "/F"])
        if done.returncode != 0:
            out.notes.append(f"schtasks /Create failed ({done.output or done.returncode}).")
            return out
        if not enable:
            self.run(["schtasks", "/Change", "/TN", name, "/DISABLE"])
            out.notes.append(f'Created disabled (--no-enable). To enable it: schtasks /Change /TN "{name}" /ENABLE')
            return out
        out.enabled = True
        return out

    def remove(self, profile: str) -> Outcome | None:
        path = self._path(profile)
        name = units.windows_task_name(profile)
        deleted = self.run(["schtasks", "/Delete", "/TN", name, "/F"]).returncode == 0
        copied = _unlink(path)
        return Outcome(where=[name]) if deleted or copied else None

    def installed(self) -> list[Installed]:
        found = []
        for path in sorted(self.copies_dir.glob("*.xml")):
            profile = _marked(path, "utf-16")
            if profile is None:
                continue
            name = units.windows_task_name(profile)
            query = self.run(["schtasks", "/Query", "/TN", name, "/FO", "LIST"])
            state = "missing" if query.returncode != 0 else ("disabled" if "Disabled" in query.output else "enabled")
            found.append(Installed(profile, "see Task Scheduler", state, name))
        return found


def for_this_system(platform: str = sys.platform) -> SystemScheduler:
    if platform == "darwin":
        return Launchd()
    if platform == "win32":
        return TaskScheduler()
    return SystemdUser()


# ---------------------------------------------------------------------------------------------- keyring
def required_secrets(profile: Profile) -> list[str]:
    """The keyring entries a sync of ``profile`` cannot run without."""
    needed = [SecretKey.CIO_API_KEY.value]
    if profile.source is SourceKind.HULL_API:
        needed.insert(0, SecretKey.HULL_SECRET.value)
    return needed


def install_for_profile(profile: Profile, scheduler: SystemScheduler, *, enable: bool = True) -> Outcome:
    """Install ``profile``'s schedule in ``scheduler``; the outcome's notes include keyring warnings."""
    job = Job.for_profile(profile.name, profile.schedule)
    outcome = scheduler.install(job, enable=enable)
    outcome.notes += keyring_warnings(profile.name, required_secrets(profile), scheduler, job)
    return outcome


def keyring_warnings(profile: str, needed: Sequence[str], scheduler: SystemScheduler, job: Job) -> list[str]:
    """Whether the scheduled run will be able to read the profile's credentials, as warnings that say
    what to do (empty when it will). On Linux the check runs in systemd's user manager (where the
    timer's run will be), through ``systemd-run``; elsewhere the scheduled run shares this session."""
    if isinstance(scheduler, SystemdUser):
        done = scheduler.run(
            [
                "systemd-run",
                "--user",
                "--wait",
                "--pipe",
                "--quiet",
                *(f"--setenv={k}={v}" for k, v in job.environment),
                *job.command[: job.command.index("sync")],
                "profiles",
                "show",
                profile,
            ]
        )
        where = "from systemd's user session (where the timer runs)"
        if done.returncode != 0:
            why = done.output.splitlines()[-1] if done.output else f"exit code {done.returncode}"
            return [
                f"Could not check the keyring {where} ({why})."
                " If the scheduled sync fails with exit code 2, make the keyring reachable there, e.g. run"
                " `systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS` in your desktop session."
            ]
        return _secrets_warnings(profile, needed, done.output, where)
    from cio_desktop.config.secrets import KeyringUnavailableError, SecretStore

    try:
        status = {k.value: "set" if v else "missing" for k, v in SecretStore().status(profile).items()}
    except KeyringUnavailableError as exc:
        return [f"The keyring cannot be read: {exc} Scheduled syncs will fail (exit code 2) until it can."]
    return _secrets_warnings(profile, needed, json.dumps({"secrets": status}), "from this session")


def _secrets_warnings(profile: str, needed: Sequence[str], shown: str, where: str) -> list[str]:
    secrets: object = None
    with contextlib.suppress(ValueError):
        secrets = json.loads(shown[shown.find("{") :]).get("secrets")
    if not isinstance(secrets, dict):
        return [
            f"The keyring cannot be read {where}, so scheduled syncs will fail (exit code 2). Unlock it for"
            " background use (on Linux: `systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS` in your"
            " desktop session), or store the credentials where that session can read them."
        ]
    missing = [k for k in needed if secrets.get(k) != "set"]
    return [
        f"The profile's {k} cannot be read {where}: scheduled syncs will fail (exit code 2)."
        f" Store it with: cio-desktop profiles set-secret {profile} {k}"
        for k in missing
    ]


__all__ = [
    "Completed",
    "Installed",
    "Launchd",
    "Outcome",
    "SystemScheduler",
    "SystemdUser",
    "TaskScheduler",
    "for_this_system",
    "install_for_profile",
    "keyring_warnings",
    "required_secrets",
    "run_command",
]
