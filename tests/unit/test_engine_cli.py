"""The headless `sync` command: exit codes, Ctrl-C, progress output."""

from __future__ import annotations

import io
import os
import signal
import threading
from types import MappingProxyType

import pytest

from cio_desktop.cli import (
    EXIT_BUSY,
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_DELETIONS_WITHHELD,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_PARTIAL,
)
from cio_desktop.commands.sync import ProgressPrinter, _sigint_sets, exit_code, print_summary
from cio_desktop.sync.engine import Problem, RunMode, RunSummary
from cio_desktop.sync.ledger import RunStatus
from cio_desktop.sync.progress import Progress, ProgressTracker


def summary(status: RunStatus = RunStatus.COMPLETED, *, failed: int = 0, problem: Problem | None = None) -> RunSummary:
    return RunSummary(
        run_id=3,
        mode=RunMode.FULL,
        status=status,
        started_at=0.0,
        ended_at=65.0,
        duration_s=65.0,
        counts=MappingProxyType({"identify (new)": 1200, "skip: no email": 3}),
        failed=failed,
        errors_sample=("ext-3: value for attribute 'bio' cannot be longer than 1000 bytes",) if failed else (),
        problem=problem,
        message="boom" if problem else "",
        people_sent=1200 - failed,
    )


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (summary(), EXIT_OK),
        (summary(failed=2), EXIT_PARTIAL),
        (summary(RunStatus.CANCELLED), EXIT_CANCELLED),
        (summary(RunStatus.FAILED, problem=Problem.CREDENTIALS), EXIT_CONFIG),
        (summary(RunStatus.FAILED, problem=Problem.BUSY), EXIT_BUSY),
        (summary(RunStatus.DELETIONS_WITHHELD), EXIT_DELETIONS_WITHHELD),
        (summary(RunStatus.INCOMPLETE), EXIT_INCOMPLETE),
        (summary(RunStatus.PARTIAL, failed=1), EXIT_PARTIAL),
        (summary(RunStatus.FAILED, problem=Problem.SERVICE), EXIT_PARTIAL),
        (summary(RunStatus.FAILED, problem=Problem.SOURCE), EXIT_PARTIAL),
    ],
)
def test_exit_codes_follow_the_outcome(result: RunSummary, code: int) -> None:
    assert exit_code(result) == code


@pytest.mark.posix_only  # os.kill(pid, SIGINT) terminates the whole process on Windows
def test_first_ctrl_c_asks_the_run_to_stop_and_a_second_interrupts() -> None:
    cancel = threading.Event()
    with _sigint_sets(cancel):
        os.kill(os.getpid(), signal.SIGINT)
        assert cancel.wait(2)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(1)


def test_summary_lists_counts_failures_and_what_happens_next() -> None:
    out = io.StringIO()
    print_summary(summary(failed=2), "Acme", out)
    text = out.getvalue()
    assert "full sync of Acme: completed in 1:05" in text
    assert "identify (new)" in text and "1,200" in text
    assert "cannot be longer than 1000 bytes" in text
    assert "sent again by the next run" in text


def test_terminal_progress_is_one_rewritten_line_with_bar_rate_and_eta() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=True)
    printer(Progress("users", 500, 1000, 250.0, 2.0, MappingProxyType({"identify (new)": 500})))
    printer(Progress("done", 0, None, 0.0, None, MappingProxyType({"identify (new)": 1000})))
    text = out.getvalue()
    assert text.startswith("\r[##########----------]  50% users 500/1,000 250/s ETA 0:02")
    assert text.endswith("\r") and "\n" not in text  # cleared for the summary that follows


def test_plain_progress_prints_phase_changes_not_every_report() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=False, plain_every_s=3600)
    tracker = ProgressTracker(printer, max_per_second=1e9)
    tracker.phase("users", total=10)
    for _ in range(10):
        tracker.advance(label="identify (new)")
    tracker.phase("done")
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["users", "done"]
