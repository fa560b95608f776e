"""Log files shared by processes: one file per kind of process, and a rotation that survives others.

Windows refuses to rename a file that another handle holds open. Here that rule is enforced on
``os.rename`` by looking at the files this process really has open (``/proc/self/fd``), and two
handlers on one file stand in for two processes writing the same log.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config import logs, paths
from cio_desktop.config.logs import LogKind, SharedRotatingFileHandler, log_kind_for

needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads open files from /proc")


def open_files() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return found


@pytest.fixture
def windows_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.rename

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if os.path.abspath(src) in open_files():
            raise PermissionError(32, "The process cannot access the file because it is being used by another process")
        real(src, dst)

    monkeypatch.setattr(os, "rename", rename)


@pytest.fixture
def errors_reported(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What logging would print as '--- Logging error ---' (a record it lost)."""
    seen: list[str] = []
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: seen.append(record.getMessage()))
    yield seen


def record(text: str) -> logging.LogRecord:
    return logging.LogRecord("cio_desktop.test", logging.INFO, __file__, 1, text, None, None)


def all_lines(folder: Path) -> list[str]:
    return [line for p in sorted(folder.iterdir()) for line in p.read_text().splitlines()]


@needs_proc
def test_two_writers_of_one_log_rotate_it_under_windows_rules_and_lose_no_line(
    tmp_path: Path, windows_rename: None, errors_reported: list[str]
) -> None:
    path = tmp_path / "cli.log"
    first, second = (SharedRotatingFileHandler(path, max_bytes=300, backups=50) for _ in range(2))
    for i in range(60):
        (first if i % 2 else second).handle(record(f"line {i:02d} from a scheduled sync"))
    assert errors_reported == []
    assert (tmp_path / "cli.log.1").exists(), "it rotated"
    assert sorted(all_lines(tmp_path)) == [f"line {i:02d} from a scheduled sync" for i in range(60)]


@needs_proc
def test_a_handler_that_keeps_its_log_open_is_what_breaks_rotation_under_those_rules(
    tmp_path: Path, windows_rename: None, errors_reported: list[str]
) -> None:
    # The rule the test above runs under is real: logging's own handler, holding the file, fails.
    path = tmp_path / "cli.log"
    holder = logging.FileHandler(path, encoding="utf-8")
    rotating = logging.handlers.RotatingFileHandler(path, maxBytes=100, backupCount=2, encoding="utf-8")
    try:
        for i in range(10):
            holder.handle(record(f"held {i}"))
            rotating.handle(record(f"rotating {i}"))
    finally:
        holder.close()
        rotating.close()
    assert errors_reported, "logging lost records to the failed renames"


def test_a_rotation_that_cannot_rename_keeps_writing_and_is_retried_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errors_reported: list[str]
) -> None:
    now = [0.0]
    path = tmp_path / "gui.log"
    handler = SharedRotatingFileHandler(path, max_bytes=100, backups=3, retry_s=30, clock=lambda: now[0])
    real = os.rename
    refused: list[str] = []

    def busy_rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        refused.append(str(src))
        raise PermissionError(32, "being used by another process")

    monkeypatch.setattr(os, "rename", busy_rename)
    for i in range(10):
        handler.handle(record(f"kept {i} while another process holds the log"))
    assert errors_reported == []
    assert len(all_lines(tmp_path)) == 10 and not (tmp_path / "gui.log.1").exists()
    assert len(refused) == 1, "not retried at every record"
    monkeypatch.setattr(os, "rename", real)
    now[0] = 31.0
    handler.handle(record("after the other process let go"))
    assert (tmp_path / "gui.log.1").exists()
    assert path.read_text().splitlines() == ["after the other process let go"]


def test_each_kind_of_process_writes_its_own_log(isolated_home: Path) -> None:
    assert [log_kind_for(c) for c in (None, "sync", "preview", "webhook", "profiles")] == [
        LogKind.GUI,
        LogKind.CLI,
        LogKind.CLI,
        LogKind.WEBHOOK,
        LogKind.CLI,
    ]
    for kind in LogKind:
        path = logs.setup_logging(kind=kind)
        logging.getLogger("cio_desktop.test").info("from the %s", kind.value)
        assert path == paths.log_dir() / f"{kind.value}.log"
    logs.shutdown_logging()
    for kind in LogKind:
        assert (paths.log_dir() / kind.file_name).read_text().strip().endswith(f"from the {kind.value}")
