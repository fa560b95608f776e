"""The worker layer: results come back on the GUI thread, throttled, and stale jobs are dropped."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from cio_desktop.gui.workers import JobCancelled, JobContext, JobRunner

pytestmark = pytest.mark.gui


def test_result_and_error_are_delivered_on_the_gui_thread(qtbot) -> None:
    runner = JobRunner()
    seen: list[tuple[str, bool]] = []
    gui_thread = QApplication.instance().thread()

    def on_result(v: int) -> None:
        seen.append(("result", QThread.currentThread() is gui_thread))

    def on_error(e: BaseException) -> None:
        seen.append(("error:" + str(e), QThread.currentThread() is gui_thread))

    runner.submit("a", lambda _j: 42, on_result=on_result)
    runner.submit("b", lambda _j: (_ for _ in ()).throw(ValueError("boom")), on_error=on_error)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert sorted(seen) == [("error:boom", True), ("result", True)]


def test_a_newer_job_with_the_same_key_makes_the_older_result_stale(qtbot) -> None:
    runner = JobRunner()
    release = threading.Event()
    results: list[str] = []

    def slow(job: JobContext) -> str:
        release.wait(5)
        return "old"

    old = runner.submit("preview", slow, on_result=results.append)
    runner.submit("preview", lambda _j: "new", on_result=results.append)
    qtbot.waitUntil(lambda: results == ["new"], timeout=5000)
    assert old.context.cancel.is_set()  # the stale job was asked to stop
    release.set()
    qtbot.waitUntil(lambda: not runner.is_running("preview"), timeout=5000)
    qtbot.wait(50)
    assert results == ["new"]


def test_progress_is_throttled_and_the_last_value_always_arrives(qtbot) -> None:
    runner = JobRunner()
    values: list[int] = []
    done: list[bool] = []

    def busy(job: JobContext) -> None:
        for i in range(20_000):
            job.progress(i)
        time.sleep(0.05)

    runner.submit("sync", busy, on_progress=values.append, on_finished=lambda: done.append(True), interval_s=0.2)
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    assert values[-1] == 19_999
    assert len(values) <= 5


def test_log_lines_arrive_in_batches_in_order(qtbot) -> None:
    runner = JobRunner()
    lines: list[str] = []
    done: list[bool] = []

    def chatty(job: JobContext) -> None:
        for i in range(500):
            job.log(f"line {i}")

    runner.submit("log", chatty, on_log=lines.extend, on_finished=lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    assert lines == [f"line {i}" for i in range(500)]


def test_cancel_reaches_the_job_and_reports_cancelled(qtbot) -> None:
    runner = JobRunner()
    errors: list[BaseException] = []

    def loop(job: JobContext) -> None:
        while True:
            job.check_cancelled()
            time.sleep(0.01)

    runner.submit("sync", loop, on_error=errors.append)
    runner.cancel("sync")
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], JobCancelled)


def test_after_shutdown_no_new_job_runs(qtbot) -> None:
    runner = JobRunner()
    ran: list[int] = []
    runner.shutdown()
    job = runner.submit("late", lambda _j: ran.append(1))
    qtbot.wait(100)
    assert job.stale and ran == [] and not runner.is_running("late")
