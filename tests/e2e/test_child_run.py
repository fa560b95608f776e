"""Syncs and plans from the app window run in a spawned child process: the result, progress and log
lines come back, cancel reaches the run, errors keep their type, a dead child is reported, and the
profile's secrets never touch a file on the way."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.secrets import SecretKey
from cio_desktop.sandbox import Sandbox
from cio_desktop.sync.child_boot import ChildStartError, boot
from cio_desktop.sync.child_run import (
    ChildFailure,
    ChildRequest,
    ChildRunError,
    Stop,
    Task,
    _portable,
    _Raised,
    _relay,
    run_in_child,
)
from cio_desktop.sync.ledger import Ledger
from cio_desktop.sync.plan import Plan
from cio_desktop.sync.progress import Progress
from cio_desktop.sync.run_people import Category
from cio_desktop.sync.runs import RunStatus
from cio_desktop.sync.summary import RunMode, RunSummary
from tests.tunnel_standins import pid_alive

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


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


class _Unbuildable(Exception):
    def __init__(self, *, why: str) -> None:
        super().__init__(why)
        self.handle = threading.Lock()  # state pickle cannot carry

    def __str__(self) -> str:
        return f"cannot go on: {self.args[0]}"


def _across_the_pipe(exc: BaseException) -> BaseException:
    sent = pickle.loads(pickle.dumps(_portable(exc)))
    return sent.rebuild() if isinstance(sent, _Raised) else sent


def test_an_exception_pickle_cannot_rebuild_keeps_its_type_and_words() -> None:
    back = _across_the_pipe(_NeedsKeywords(why="the disk is full"))
    assert type(back) is _NeedsKeywords and str(back) == "cannot go on: the disk is full"
    plain = ValueError("bad")
    assert _portable(plain) is plain


def test_an_exception_that_cannot_cross_the_pipe_keeps_its_words() -> None:
    back = _across_the_pipe(_Unbuildable(why="the disk is full"))
    assert isinstance(back, ChildFailure)
    assert str(back) == "_Unbuildable: cannot go on: the disk is full"


def test_a_child_that_dies_without_answering_is_reported_with_its_exit_code() -> None:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    _, control = ctx.Pipe(duplex=False)
    child = ctx.Process(target=os._exit, args=(3,))
    child.start()
    send.close()
    with pytest.raises(ChildRunError, match=r"stopped before it answered \(exit code 3\)"):
        _relay(receive, child, Stop(control), None, None, None)


def test_a_child_that_cannot_start_says_why(caplog: pytest.LogCaptureFixture) -> None:
    """What fails before the run starts (here: a request that cannot be read) is answered through the
    pipe: the window shows why, and logs where, instead of an exit code alone."""
    receive, send = multiprocessing.Pipe(duplex=False)
    _, control = multiprocessing.Pipe(duplex=False)
    boot(send, b"not a request", control)  # what the spawned child runs first, here

    class _Gone:  # the child, gone after answering
        exitcode = 0

        def is_alive(self) -> bool:
            return False

    with caplog.at_level("WARNING"), pytest.raises(ChildStartError, match=r"could not start \(UnpicklingError"):
        _relay(receive, _Gone(), Stop(control), None, None, None)
    assert "Traceback" in caplog.text and "in boot" in caplog.text, "where it failed goes to the log"


def test_the_secrets_handed_to_the_child_never_reach_a_file(sandbox: Sandbox, tmp_path: Path) -> None:
    summary = run_in_child(_request(sandbox, Task.RUN))
    assert isinstance(summary, RunSummary) and summary.status is RunStatus.COMPLETED
    secrets = [v.encode() for v in sandbox.credentials.secrets().values() if len(v) >= 8]
    home = Path(os.environ[HOME_ENV])
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), f"a secret is in {path}"


def _runs(profile: str = "Child") -> list[tuple[str, str]]:
    """(mode, status) of every run of ``profile``, from its ledger."""
    with Ledger.for_profile(profile) as ledger:
        return [(r.mode, r.status.value) for r in reversed(ledger.runs())]


def test_a_failure_on_the_windows_side_cancels_the_run_instead_of_killing_it(sandbox: Sandbox) -> None:
    sandbox.set_faults("cio_track", latency_ms=200)

    def broken(_progress: Progress) -> None:
        raise RuntimeError("the page that showed the progress is gone")

    with pytest.raises(RuntimeError, match="the page that showed the progress is gone"):
        run_in_child(_request(sandbox, Task.RUN), on_progress=broken)
    assert _runs() == [("full", "cancelled")]


@pytest.mark.skipif(sys.platform == "win32", reason="signals to a process are a POSIX test")
def test_ctrl_c_in_the_terminal_does_not_reach_the_run(sandbox: Sandbox) -> None:
    sandbox.set_faults("cio_track", latency_ms=100)
    sent: list[int] = []

    def interrupt_once(_progress: Progress) -> None:
        for child in multiprocessing.active_children():
            if child.name == "cio-desktop sync" and not sent:
                os.kill(child.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends the whole group
                sent.append(child.pid)

    summary = run_in_child(_request(sandbox, Task.RUN), on_progress=interrupt_once)
    assert sent and isinstance(summary, RunSummary) and summary.status is RunStatus.COMPLETED


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of the window's process is a POSIX test")
def test_a_killed_window_cancels_the_sync_it_started(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_faults("cio_track", latency_ms=300)  # still sending when the window dies
    request = _request(sandbox, Task.RUN)
    handoff = tmp_path / "request.pickle"
    handoff.write_bytes(pickle.dumps(request))
    code = (
        "import multiprocessing, pickle, sys\n"
        "from cio_desktop.sync.child_run import run_in_child\n"
        "if __name__ == '__main__':\n"
        "    request = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "    def first(_p, seen=[]):\n"
        "        if not seen:\n"
        "            seen.append(1)\n"
        "            print([c.pid for c in multiprocessing.active_children()][0], flush=True)\n"
        "    run_in_child(request, on_progress=first)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", code, str(handoff)], stdout=subprocess.PIPE, text=True, env=env) as w:
        assert w.stdout is not None
        child_pid = int(w.stdout.readline())
        handoff.unlink()  # the test's own copy of the secrets: gone before anything else happens
        os.kill(w.pid, signal.SIGKILL)
        w.wait(10)
    deadline = time.monotonic() + 30
    while pid_alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(child_pid), "the sync outlived the window that started it"
    assert _runs() == [("full", "cancelled")]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of the sync's process is a POSIX test")
def test_a_killed_run_shows_what_customer_io_accepted_not_what_it_planned(sandbox: Sandbox, tmp_path: Path) -> None:
    from cio_desktop.sync.run_text import run_cells

    sandbox.set_faults("cio_track", latency_ms=300)  # small batches, slowly: still sending at the kill
    handoff = tmp_path / "request.pickle"
    handoff.write_bytes(pickle.dumps(_request(sandbox, Task.RUN)))
    code = (
        "import pickle, sys\n"
        "from cio_desktop.config.secrets import SecretStore\n"
        "from cio_desktop.sync.factory import open_services\n"
        "from cio_desktop.sync.summary import RunMode\n"
        "request = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "secrets = SecretStore.in_memory()\n"
        "for key, value in request.secrets.items():\n"
        "    secrets.set(request.profile.name, key, value)\n"
        "with open_services(request.profile, secrets) as services:\n"
        "    print('started', flush=True)\n"
        "    services.engine(batch_max_ops=10).run(RunMode.FULL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", code, str(handoff)], stdout=subprocess.PIPE, text=True, env=env) as p:
        assert p.stdout is not None and p.stdout.readline().strip() == "started"
        handoff.unlink()
        deadline = time.monotonic() + 20
        while not sandbox.cio_people() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.5)  # past the first save of the run's counts (every 2 s)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    with Ledger.for_profile("Child") as ledger:  # opening it marks the killed run interrupted
        [run] = ledger.runs()
    assert run.status is RunStatus.INTERRUPTED
    # Saved every 2 s while the run went: at most what Customer.io holds, never what was planned.
    assert run.people_sent is not None and 0 < run.people_sent <= len(sandbox.cio_people())
    assert run_cells(run)["sent"] == f"{run.people_sent:,}"
