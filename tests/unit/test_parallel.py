"""How many worker processes a run uses, and that a spawned worker starts and answers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cio_desktop.parallel import (
    MAX_DEFAULT,
    WORKERS_ENV,
    WorkersSettingError,
    check_worker,
    default_workers,
    scan_workers,
    worker_count,
)


@pytest.mark.parametrize(
    ("cpus", "workers"), [(None, 0), (1, 0), (2, 0), (3, 1), (4, 2), (8, MAX_DEFAULT), (64, MAX_DEFAULT)]
)
def test_the_default_leaves_two_cores_to_the_run_and_the_network(cpus: int | None, workers: int) -> None:
    assert default_workers(cpus) == workers


def test_the_setting_wins_over_the_machine_default() -> None:
    assert worker_count({WORKERS_ENV: "3"}, cpus=2) == 3
    assert worker_count({WORKERS_ENV: " 0 "}, cpus=16) == 0
    assert worker_count({WORKERS_ENV: ""}, cpus=6) == default_workers(6)
    assert worker_count({}, cpus=6) == default_workers(6)


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 1), (3, 1), (4, 2), (8, MAX_DEFAULT)])
def test_a_scan_uses_the_second_core_of_a_two_core_machine(cpus: int, workers: int) -> None:
    # Nothing is sent while a file is scanned: the core a run leaves to sending is free.
    assert scan_workers({}, cpus=cpus) == workers
    assert scan_workers({WORKERS_ENV: "0"}, cpus=cpus) == 0, "the setting wins"
    assert scan_workers({WORKERS_ENV: "3"}, cpus=cpus) == 3


@pytest.mark.parametrize("raw", ["two", "-1", "17", "1.5"])
def test_a_bad_setting_is_refused_with_what_it_accepts(raw: str) -> None:
    with pytest.raises(
        WorkersSettingError, match=rf"{WORKERS_ENV}='{raw}' is not a number of worker processes from 0 to 16"
    ):
        worker_count({WORKERS_ENV: raw}, cpus=8)


def test_a_spawned_worker_process_answers() -> None:
    assert "a worker process (pid" in check_worker()


def test_the_entry_point_a_spawned_process_imports_again_is_light() -> None:
    # A spawned process (reading or scanning worker, the window's sync process) imports the program's main
    # script again, which imports cio_desktop.cli: that must not load the sync core (0.17 s a process).
    script = (
        "import sys, cio_desktop.cli as cli;"
        " heavy = sorted(m for m in sys.modules if m.startswith(('cio_desktop.sync', 'cio_desktop.hull', 'requests')));"
        " print(heavy, cli.EXIT_PARTIAL)"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] 1"


def _interrupts_ignored() -> bool:
    import signal

    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_pool_workers_leave_ctrl_c_to_the_run() -> None:
    # A terminal's Ctrl-C reaches every process of the group: the run cancels, its workers carry on
    # until it stops them (a worker's own KeyboardInterrupt would end the run as an error).
    from cio_desktop.parallel import process_pool

    with process_pool(1) as pool:
        assert pool.submit(_interrupts_ignored).result(timeout=60) is True
