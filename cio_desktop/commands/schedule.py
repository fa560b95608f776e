"""``cio-desktop schedule install|list|remove``: scheduled syncs run by the operating system.

Linux: a systemd user service + timer; macOS: a launchd agent; Windows: a Task Scheduler task. The
profile's schedule setting is saved too, so the app shows the same schedule.
"""

from __future__ import annotations

import argparse
import re

from cio_desktop.commands.common import EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, Subparsers, err
from cio_desktop.config.profile import EVERY_HOURS_CHOICES, ProfileError, ScheduleKind, ScheduleSettings
from cio_desktop.config.store import ProfileLoadError, ProfileNotFoundError, ProfileStore
from cio_desktop.schedule import install as system


def _every(text: str) -> int:
    m = re.fullmatch(r"\s*(\d{1,2})\s*h?\s*", text)
    hours = int(m.group(1)) if m else None
    if hours not in EVERY_HOURS_CHOICES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use 1h, 2h, 3h, 4h, 6h, 8h or 12h (runs fall at the same times every day); for once a day"
            " use --daily HH:MM"
        )
    return int(hours)


def _daily(text: str) -> str:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day: use HH:MM on a 24-hour clock, e.g. 07:30")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def add_parser(subparsers: Subparsers) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "schedule",
        help="run a profile's sync on a schedule, by the operating system, even when the app is closed",
        description="Scheduled syncs by the operating system (systemd user timer, launchd agent or Task"
        " Scheduler task). Each runs `sync --profile NAME` with this same cio-desktop; a time missed while the"
        " computer slept or was off runs once when it is back.",
    )
    sub = parser.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    inst = sub.add_parser("install", help="install (or change) a profile's scheduled sync")
    inst.add_argument("--profile", required=True, metavar="NAME")
    when = inst.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--every", type=_every, metavar="Nh", help="every N hours from midnight: 1h, 2h, 3h, 4h, 6h, 8h, 12h"
    )
    when.add_argument("--daily", type=_daily, metavar="HH:MM", help="once a day at this local time")
    inst.add_argument("--full", action="store_true", help="full syncs (with deletions) instead of changes only")
    inst.add_argument("--no-enable", action="store_true", help="write the files but do not start the schedule")
    sub.add_parser("list", help="list the scheduled syncs installed in the operating system")
    rem = sub.add_parser("remove", help="remove a profile's scheduled sync (and turn its schedule off)")
    rem.add_argument("--profile", required=True, metavar="NAME")


def run(args: argparse.Namespace, scheduler: system.SystemScheduler | None = None) -> int:
    target = scheduler or system.for_this_system()
    store = ProfileStore()
    try:
        if args.schedule_command == "install":
            return _install(store, target, args)
        if args.schedule_command == "list":
            return _list(target)
        if args.schedule_command == "remove":
            return _remove(store, target, args.profile)
    except (ProfileNotFoundError, ProfileLoadError, ProfileError) as exc:
        err(str(exc))
        return EXIT_CONFIG
    except OSError as exc:
        err(f"{exc.filename or 'file'}: {exc.strerror or exc}")
        return EXIT_CONFIG
    raise AssertionError(f"unhandled action {args.schedule_command!r}")  # argparse restricts the choices


def _install(store: ProfileStore, target: system.SystemScheduler, args: argparse.Namespace) -> int:
    profile = store.load(args.profile)
    if args.every is not None:
        settings = ScheduleSettings(ScheduleKind.EVERY, every_hours=args.every, full=args.full)
    else:
        settings = ScheduleSettings(ScheduleKind.DAILY, daily_at=args.daily, full=args.full)
    profile = profile.replace(schedule=settings)
    outcome = system.install_for_profile(profile, target, enable=not args.no_enable)
    store.save(profile)
    state = "installed and enabled" if outcome.enabled else "installed, not running yet"
    print(f"Scheduled sync of {profile.name!r} ({settings.describe()}): {target.name} {state}.")
    for where in outcome.where:
        print(f"  {where}")
    for note in outcome.notes:
        print(f"warning: {note}")
    print("Each run is in the app's History and log; deletions the guard holds back wait for approval there.")
    return EXIT_PARTIAL if args.no_enable is False and not outcome.enabled else EXIT_OK


def _list(target: system.SystemScheduler) -> int:
    found = target.installed()
    if not found:
        print(
            f"No scheduled syncs installed ({target.name}s)."
            " Add one: cio-desktop schedule install --profile NAME --every 1h"
        )
        return EXIT_OK
    rows = [("PROFILE", "SCHEDULE", "STATE", "WHERE")]
    rows += [(i.profile, i.schedule, i.state, i.where) for i in found]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _remove(store: ProfileStore, target: system.SystemScheduler, name: str) -> int:
    # The profile may be gone already: its units are still removed (they are named after it).
    try:
        profile = store.load(name)
    except ProfileNotFoundError:
        profile = None
    outcome = target.remove(profile.name if profile else name)
    if profile is not None and profile.schedule.enabled:
        store.save(profile.replace(schedule=ScheduleSettings()))
    if outcome is None:
        print(f"No scheduled sync of {name!r} was installed ({target.name}).")
        return EXIT_OK
    print(f"Removed the scheduled sync of {name!r}:")
    for where in outcome.where:
        print(f"  {where}")
    return EXIT_OK
