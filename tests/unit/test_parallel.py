"""How many worker processes a run uses, and that a spawned worker starts and answers."""

from __future__ import annotations

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
