"""`cio-desktop sync`: run a sync headless (cron, schedulers), with a progress bar on a terminal.

Exit codes: 0 everyone sent, 1 some people failed (or a service failed mid-run), 2 configuration or
credentials wrong (the reason is printed), 3 deletions withheld by the deletion guard (everything else
was sent; ``--allow-deletions N`` approves up to N), 4 some records of the source could not be read
(the rest was sent), 5 another sync of the profile is running, 130 cancelled (Ctrl-C stops between
batches, cleanly).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import TextIO

from cio_desktop.commands.common import (
    EXIT_BUSY,
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_DELETIONS_WITHHELD,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_PARTIAL,
    Subparsers,
    add_profile_arguments,
    open_for_args,
)
from cio_desktop.sync.engine import Problem, RunMode, RunSummary
from cio_desktop.sync.factory import ConfigurationError
from cio_desktop.sync.guard import DeletionApproval
from cio_desktop.sync.progress import Progress
from cio_desktop.sync.runs import RunStatus

CONFIG_PROBLEMS = frozenset({Problem.CREDENTIALS, Problem.CONFIGURATION, Problem.NOT_FOUND})


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "sync",
        help="send the chosen Hull users and events to Customer.io",
        description=(
            "Send the profile's Hull users and events to Customer.io. Without --full, only users changed"
            " since the last run are read (the first run of a profile is always full)."
        ),
    )
    add_profile_arguments(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--full", action="store_true", help="everyone in the chosen segments, plus deletions")
    which.add_argument("--incremental", action="store_true", help="users updated since the last run (default)")
    p.add_argument("--dry-run", action="store_true", help="plan a full run and report; send nothing")
    p.add_argument(
        "--plan",
        action="store_true",
        help=(
            "print what this sync would do (workspace, people created, updated, unchanged, skipped by reason,"
            " deleted, events) and send nothing; the app asks for the same plan before a full sync"
        ),
    )
    p.add_argument(
        "--allow-deletions",
        type=_count,
        metavar="N",
        help=(
            "approve up to N deletions past the deletion guard (a run that would delete more deletes nobody;"
            " never past a source that could not be read completely)"
        ),
    )
    p.add_argument(
        "--scheduled",
        action="store_true",
        help=(
            "started by the operating system's scheduler (schedule install adds it): runs only while the"
            " profile's schedule is on, so a job left behind never syncs a profile nobody scheduled"
        ),
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the outcome, nothing else")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of people") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


# ---------------------------------------------------------------------------------------------- output
def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _counts_text(counts: Mapping[str, int], limit: int = 4) -> str:
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{k} {v:,}" for k, v in items[:limit])
    if len(items) > limit:
        text += ", ..."
    return text


class ProgressPrinter:
    """A one-line progress bar on a terminal; plain lines (every few seconds) otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool, plain_every_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = tty
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self._last_phase = ""
        self._width = 0

    def __call__(self, p: Progress) -> None:
        total = f"/{p.total:,}" if p.total is not None else ""
        rate = f"{p.rate:,.0f}/s" if p.rate else ""
        counts = _counts_text(p.counts)
        failed = f" | failed {p.failed:,}" if p.failed else ""
        if self.tty:
            if p.phase == "done":
                # The summary follows: leave a clean line for it.
                self.stream.write("\r" + " " * self._width + "\r")
                self._width = 0
                self.stream.flush()
                return
            frac = p.fraction
            bar = ""
            if frac is not None:
                filled = int(frac * 20)
                bar = "[" + "#" * filled + "-" * (20 - filled) + f"] {frac * 100:3.0f}% "
            eta = f" ETA {_fmt_duration(p.eta_s)}" if p.eta_s is not None else ""
            line = f"{bar}{p.phase} {p.done:,}{total} {rate}{eta} | {counts}{failed}"
            line = line[:160]
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            return
        now = time.monotonic()
        if p.phase != self._last_phase or p.phase == "done" or now - self._last_plain >= self.plain_every_s:
            self._last_phase = p.phase
            self._last_plain = now
            msg = f" - {p.message}" if p.message else ""
            self.stream.write(f"{p.phase}: {p.done:,}{total} {rate} | {counts}{failed}{msg}\n")
            self.stream.flush()

    def log(self, line: str) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(line + "\n")
        self.stream.flush()


def exit_code(summary: RunSummary) -> int:
    """The process's exit code for a run: 0 only for a run that completed without a failure."""
    if summary.status is RunStatus.CANCELLED:
        return EXIT_CANCELLED
    if summary.problem is Problem.BUSY:
        return EXIT_BUSY
    if summary.problem in CONFIG_PROBLEMS:
        return EXIT_CONFIG
    if summary.status is RunStatus.DELETIONS_WITHHELD:
        return EXIT_DELETIONS_WITHHELD
    if summary.status is RunStatus.INCOMPLETE:
        return EXIT_INCOMPLETE
    if summary.status is not RunStatus.COMPLETED or summary.failed:
        return EXIT_PARTIAL
    return EXIT_OK


def print_summary(summary: RunSummary, label: str, out: TextIO) -> None:
    mode = summary.mode.value.replace("_", " ")
    took = f"{summary.duration_s:.1f} s" if summary.duration_s < 60 else _fmt_duration(summary.duration_s)
    out.write(f"{mode} sync of {label}: {summary.status.value} in {took}\n")
    for key, value in sorted(summary.counts.items()):
        out.write(f"  {key:<36} {value:>10,}\n")
    out.write(
        f"  people sent {summary.people_sent:,}, events sent {summary.events_sent:,},"
        f" Customer.io requests {summary.requests:,}, failed {summary.failed:,}\n"
    )
    if summary.objects_sent or summary.relationships_sent:
        out.write(
            f"  accounts sent as objects: {summary.objects_sent:,} object"
            f"{'' if summary.objects_sent == 1 else 's'} and {summary.relationships_sent:,} relationship"
            f"{'' if summary.relationships_sent == 1 else 's'} to people\n"
        )
    if summary.message:
        out.write(f"  {summary.message}\n")
    for line in summary.errors_sample:
        out.write(f"  error: {line}\n")
    if summary.failed and summary.run_id is not None:
        out.write(f"  Failed people are sent again by the next run. Run id {summary.run_id}.\n")


# ---------------------------------------------------------------------------------------------- run
@contextlib.contextmanager
def _sigint_sets(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C asks the run to stop between batches; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> int:
    if args.plan:
        return run_plan(args)
    if args.dry_run:
        mode = RunMode.DRY_RUN
    elif args.full:
        mode = RunMode.FULL
    else:
        mode = RunMode.INCREMENTAL
    err = sys.stderr
    try:
        with open_for_args(args, need_track=mode is not RunMode.DRY_RUN) as opened:
            schedule = opened.services.profile.schedule
            if args.scheduled and not schedule.enabled:
                raise ConfigurationError(
                    f"the profile {opened.label} has no schedule any more, so this scheduled sync does not run;"
                    f" remove the operating system's job: cio-desktop schedule remove --profile {opened.label}"
                )
            printer = ProgressPrinter(err, tty=err.isatty())
            cancel = threading.Event()
            with _sigint_sets(cancel):
                approval = None if args.allow_deletions is None else DeletionApproval(args.allow_deletions)
                summary = opened.services.engine().run(
                    mode,
                    on_progress=None if args.json else printer,
                    on_log=None if args.json else printer.log,
                    cancel=cancel,
                    allow_deletions=approval,
                )
            if args.json:
                payload = summary.to_dict()
                payload["profile"] = opened.label
                sys.stdout.write(json.dumps(payload) + "\n")
            else:
                print_summary(summary, opened.label, sys.stdout)
            return exit_code(summary)
    except ConfigurationError as exc:
        if args.json:
            sys.stdout.write(json.dumps({"status": "failed", "problem": "configuration", "message": str(exc)}) + "\n")
        else:
            err.write(f"cio-desktop sync: {exc}\n")
        return EXIT_CONFIG


def run_plan(args: argparse.Namespace) -> int:
    """``sync --plan``: the plan of the run ``sync`` (or ``sync --full``) would make; never sends."""
    from cio_desktop.sync.plan import PlanError, compute_plan

    mode = RunMode.FULL if args.full or args.dry_run else RunMode.INCREMENTAL
    try:
        with open_for_args(args, need_track=False) as opened:
            cancel = threading.Event()
            with _sigint_sets(cancel):
                try:
                    plan = compute_plan(opened.services.engine(), mode, cancel=cancel, app=opened.services.app)
                except InterruptedError:
                    return EXIT_CANCELLED
                except PlanError as exc:
                    code = (
                        EXIT_BUSY
                        if exc.problem is Problem.BUSY
                        else (EXIT_CONFIG if exc.problem in CONFIG_PROBLEMS else EXIT_PARTIAL)
                    )
                    _fail(args, str(exc), exc.problem.value if exc.problem else "source")
                    return code
            if args.json:
                sys.stdout.write(json.dumps({**plan.to_dict(), "profile": opened.label}) + "\n")
            else:
                sys.stdout.write("\n".join(plan.lines()) + "\n")
            return EXIT_OK
    except ConfigurationError as exc:
        _fail(args, str(exc), "configuration")
        return EXIT_CONFIG


def _fail(args: argparse.Namespace, message: str, problem: str) -> None:
    if args.json:
        sys.stdout.write(json.dumps({"status": "failed", "problem": problem, "message": message}) + "\n")
    else:
        sys.stderr.write(f"cio-desktop sync: {message}\n")
