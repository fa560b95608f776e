"""Syncs and plans from the app window run in a spawned child process: the result, progress and log
lines come back, cancel reaches the run, errors keep their type, a dead child is reported, and the
profile's secrets never touch a file on the way."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.secrets import SecretKey
from cio_desktop.sandbox import Sandbox
from cio_desktop.sync.child_run import (
    ChildFailure,
    ChildRequest,
    ChildRunError,
    Task,
    _portable,
    _relay,
    run_in_child,
)
from cio_desktop.sync.plan import Plan
from cio_desktop.sync.progress import Progress
from cio_desktop.sync.run_people import Category
from cio_desktop.sync.runs import RunStatus
from cio_desktop.sync.summary import RunMode, RunSummary

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    with Sandbox(users=400, seed=5) as sb:
        yield sb


def _request(sandbox: Sandbox, task: Task, mode: RunMode = RunMode.FULL, **kw: object) -> ChildRequest:
    secrets = {SecretKey(k): v for k, v in sandbox.credentials.secrets().items()}
    return ChildRequest(task=task, profile=sandbox.demo_profile("Child"), secrets=secrets, mode=mode, **kw)  # type: ignore[arg-type]


def test_a_sync_in_a_child_process_answers_with_its_summary_and_progress(sandbox: Sandbox) -> None:
    progress: list[Progress] = []
    summary = run_in_child(_request(sandbox, Task.RUN), on_progress=progress.append)
    assert isinstance(summary, RunSummary)
    assert summary.status is RunStatus.COMPLETED, summary
    assert summary.people_sent > 0 and summary.people_sent == len(sandbox.cio_people())
    assert progress and all(isinstance(p, Progress) for p in progress)
    assert progress[-1].counts, "the last progress carries the run's counts"


def test_the_runs_log_lines_reach_the_window(sandbox: Sandbox) -> None:
    request = _request(sandbox, Task.RUN)
    nobody = ChildRequest(Task.RUN, request.profile.replace(segments=()), request.secrets, RunMode.FULL)
    lines: list[str] = []
    summary = run_in_child(nobody, on_log=lines.append)
    assert isinstance(summary, RunSummary) and summary.people_sent == 0
    assert any("No segments are chosen: nobody is sent" in line for line in lines), lines


def test_a_plan_in_a_child_process_is_the_plan_and_sends_nothing(sandbox: Sandbox) -> None:
    plan = run_in_child(_request(sandbox, Task.PLAN))
    assert isinstance(plan, Plan)
    assert plan.count(Category.CREATE) > 0
    # Only reads (the App API sample of a first sync): not one Track API request.
    assert not any(endpoint.startswith(("POST /api/", "PUT /api/")) for endpoint in sandbox.cio_request_count())
    assert sandbox.cio_people() == {}
    # A confirmed plan crosses back into a child to bound the run.
    summary = run_in_child(_request(sandbox, Task.RUN, plan=plan))
    assert isinstance(summary, RunSummary)
    assert summary.people_sent == plan.count(Category.CREATE) + plan.count(Category.UPDATE)


def test_cancel_reaches_the_run_in_the_child(sandbox: Sandbox) -> None:
    sandbox.set_faults("cio_track", latency_ms=300)  # slow Customer.io: still sending when cancel comes
    cancel = threading.Event()
    summary = run_in_child(_request(sandbox, Task.RUN), on_progress=lambda _p: cancel.set(), cancel=cancel)
    assert isinstance(summary, RunSummary)
    assert summary.status is RunStatus.CANCELLED


def test_an_error_in_the_child_arrives_as_itself(sandbox: Sandbox) -> None:
    request = _request(sandbox, Task.RUN)
    without_track = ChildRequest(
        task=Task.RUN,
        profile=request.profile,
        secrets={k: v for k, v in request.secrets.items() if k is not SecretKey.CIO_API_KEY},
        mode=RunMode.FULL,
    )
    with pytest.raises(Exception) as raised:
        run_in_child(without_track)
    assert not isinstance(raised.value, ChildRunError | ChildFailure)
    assert "API key" in str(raised.value) or "api key" in str(raised.value).lower()


class _NeedsKeywords(Exception):
    def __init__(self, *, why: str) -> None:
        super().__init__(f"cannot go on: {why}")


def test_an_exception_that_cannot_cross_the_pipe_keeps_its_words() -> None:
    portable = _portable(_NeedsKeywords(why="the disk is full"))
    assert isinstance(portable, ChildFailure)
    assert str(portable) == "_NeedsKeywords: cannot go on: the disk is full"
    plain = ValueError("bad")
    assert _portable(plain) is plain


def test_a_child_that_dies_without_answering_is_reported_with_its_exit_code() -> None:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=os._exit, args=(3,))
    child.start()
    send.close()
    with pytest.raises(ChildRunError, match=r"stopped before it answered \(exit code 3\)"):
        _relay(receive, child, ctx.Event(), None, None, None)


def test_the_secrets_handed_to_the_child_never_reach_a_file(sandbox: Sandbox, tmp_path: Path) -> None:
    summary = run_in_child(_request(sandbox, Task.RUN))
    assert isinstance(summary, RunSummary) and summary.status is RunStatus.COMPLETED
    secrets = [v.encode() for v in sandbox.credentials.secrets().values() if len(v) >= 8]
    home = Path(os.environ[HOME_ENV])
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), f"a secret is in {path}"
