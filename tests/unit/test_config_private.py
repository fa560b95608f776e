"""Private storage: 0600 files, 0700 folders, whatever the umask, and databases from newer versions refused."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.cli import main
from cio_desktop.config import logs, paths
from cio_desktop.config.private import (
    NewerDatabaseError,
    NotADatabaseError,
    atomic_writer,
    open_private_sqlite,
    private_dir,
    write_atomic,
)
from cio_desktop.config.profile import Profile
from cio_desktop.config.store import ProfileStore
from cio_desktop.hull.files_events import spill_run
from cio_desktop.hull.source import HullEvent
from cio_desktop.sync.ledger import SCHEMA_VERSION, Ledger, LedgerError, RunError
from cio_desktop.sync.report import write_errors_csv
from cio_desktop.webhooks.inbox import Inbox

posix_only = pytest.mark.posix_only  # skipped off POSIX by tests/conftest.py


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: anything created without an explicit private mode shows as 0666/0777."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _database_with_version(path: Path, version: int) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute(f"PRAGMA user_version={version}")
    conn.close()
    return path.read_bytes()


# ---------------------------------------------------------------------------- the SQLite opener
@posix_only
def test_new_database_and_its_wal_and_shm_files_are_0600_in_a_0700_folder(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "a" / "b" / "x.sqlite3"
    conn, found = open_private_sqlite(path, schema_version=1, what="test database", timeout=1)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    files = sorted(p.name for p in path.parent.iterdir())
    assert found == 0 and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert files == ["x.sqlite3", "x.sqlite3-shm", "x.sqlite3-wal"]
    assert {name: mode(path.parent / name) for name in files} == dict.fromkeys(files, 0o600)
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    conn.close()


@posix_only
def test_database_an_older_version_left_readable_is_tightened_with_its_side_files(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "x.sqlite3"
    old = sqlite3.connect(path)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE t (x)")
    for name in ("x.sqlite3", "x.sqlite3-wal", "x.sqlite3-shm"):
        os.chmod(tmp_path / name, 0o644)
    conn, found = open_private_sqlite(path, schema_version=1, what="test database", timeout=1)
    assert found == 0
    assert {name: mode(tmp_path / name) for name in ("x.sqlite3", "x.sqlite3-wal", "x.sqlite3-shm")} == {
        "x.sqlite3": 0o600,
        "x.sqlite3-wal": 0o600,
        "x.sqlite3-shm": 0o600,
    }
    conn.close()
    old.close()


def test_opener_returns_the_version_found_for_the_caller_to_migrate(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    _database_with_version(path, 2)
    conn, found = open_private_sqlite(path, schema_version=3, what="test database", timeout=1)
    assert found == 2
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # migrating is the caller's job
    conn.close()


def test_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    before = _database_with_version(path, 5)
    with pytest.raises(NewerDatabaseError) as err:
        open_private_sqlite(path, schema_version=4, what="test database", timeout=1)
    assert str(err.value) == (
        f"The test database {path} was written by a newer cio-desktop (schema 5, this version knows 4):"
        " update cio-desktop to use it. The file was left as it is."
    )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sqlite3"]  # not even switched to WAL


@pytest.mark.parametrize(
    "content",
    [b"hello", b"this is not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 200],
    ids=["tiny", "text", "damaged-header"],
)
def test_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.sqlite3"
    path.write_bytes(content)
    if os.name == "posix":
        os.chmod(path, 0o644)
    with pytest.raises(NotADatabaseError, match=r"is not a database or is damaged .* left untouched\. Do this"):
        open_private_sqlite(path, schema_version=1, what="test database", timeout=1, if_damaged="Do this.")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.sqlite3"]
    if os.name == "posix":
        assert mode(path) == 0o644  # not ours to change if it is not ours at all


def test_ledger_from_a_newer_version_is_refused_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    before = _database_with_version(path, SCHEMA_VERSION + 1)
    with pytest.raises(LedgerError) as err:
        Ledger(path)
    assert f"The sync ledger {path} was written by a newer cio-desktop" in str(err.value)
    assert f"(schema {SCHEMA_VERSION + 1}, this version knows {SCHEMA_VERSION}): update cio-desktop" in str(err.value)
    assert path.read_bytes() == before


def test_inbox_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    before = _database_with_version(path, 99)
    with pytest.raises(NewerDatabaseError, match=r"The webhook inbox .* newer cio-desktop \(schema 99, this version"):
        Inbox(path)
    assert path.read_bytes() == before


def test_inbox_that_is_not_a_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    path.write_bytes(b"not a database at all" * 50)
    with pytest.raises(NotADatabaseError, match=r"Move it aside .* creates a new, empty inbox"):
        Inbox(path)
    assert path.read_bytes() == b"not a database at all" * 50


def test_ledger_that_is_not_a_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"not a database at all" * 50)
    with pytest.raises(LedgerError, match=r"left untouched\. To start again, move it aside: the next full sync"):
        Ledger(path)
    assert path.read_bytes() == b"not a database at all" * 50


@posix_only
def test_inbox_files_are_private_with_both_connections_open(tmp_path: Path, open_umask: None) -> None:
    box = Inbox(tmp_path / "data" / "inbox.sqlite3")
    try:
        box.count_rejected()
        box.counts()
        files = sorted(p for p in (tmp_path / "data").iterdir())
        assert [p.name for p in files] == ["inbox.sqlite3", "inbox.sqlite3-shm", "inbox.sqlite3-wal"]
        assert {mode(p) for p in files} == {0o600} and mode(tmp_path / "data") == 0o700
    finally:
        box.close()


# ---------------------------------------------------------------------------- folders
@posix_only
def test_app_folders_an_older_version_left_open_are_tightened_from_the_app_folder_down(
    isolated_home: Path, open_umask: None
) -> None:
    profile_dir = paths.profile_data_dir("Acme")
    profile_dir.mkdir(parents=True, mode=0o755)
    os.chmod(paths.data_dir(), 0o755)
    os.chmod(isolated_home, 0o755)
    private_dir(profile_dir)
    assert mode(profile_dir) == mode(paths.data_dir()) == 0o700
    assert mode(isolated_home) == 0o755  # above the app's own folders: not ours to change


@posix_only
def test_a_users_existing_folder_is_never_changed_but_a_missing_one_is_created_private(
    tmp_path: Path, open_umask: None
) -> None:
    users = tmp_path / "Documents"
    users.mkdir(mode=0o755)
    os.chmod(users, 0o755)
    assert private_dir(users) == users and mode(users) == 0o755
    private_dir(users / "new" / "deeper")
    assert mode(users) == 0o755 and mode(users / "new") == mode(users / "new" / "deeper") == 0o700


@posix_only
def test_starting_the_app_closes_the_folders_an_older_version_left_open(isolated_home: Path) -> None:
    paths.profiles_dir().mkdir(parents=True)
    paths.profile_data_dir("Acme").mkdir(parents=True)
    for folder in (isolated_home, paths.config_dir(), paths.data_dir()):
        os.chmod(folder, 0o755)
    main(["profiles", "list"])
    assert mode(paths.config_dir()) == mode(paths.data_dir()) == mode(paths.log_dir()) == 0o700
    assert mode(isolated_home) == 0o755  # the folder above the app's own is not the app's to change


def test_a_file_where_a_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        private_dir(tmp_path / "f")


# ---------------------------------------------------------------------------- whole files
@posix_only
def test_atomic_write_is_0600_and_replaces_an_open_file(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o600


def test_failed_atomic_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(target, encoding="utf-8") as fh:
        fh.write("half")
        raise RuntimeError("stopped")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@posix_only
def test_errors_csv_is_private_and_the_users_folder_is_left_alone(tmp_path: Path, open_umask: None) -> None:
    users = tmp_path / "Desktop"
    users.mkdir()
    os.chmod(users, 0o755)
    error = RunError(1, "person", "bad email", "c1", "h1", "email", 0.0)
    assert write_errors_csv([error], users / "errors.csv") == 1
    assert mode(users / "errors.csv") == 0o600 and mode(users) == 0o755
    assert "bad email" in (users / "errors.csv").read_text(encoding="utf-8-sig")


@posix_only
def test_profile_export_is_private_and_the_users_folder_is_left_alone(tmp_path: Path, open_umask: None) -> None:
    store = ProfileStore()
    store.save(Profile(name="acme", hull_organization="acme.hullapp.io"))
    users = tmp_path / "exports"
    users.mkdir()
    os.chmod(users, 0o755)
    out = store.export("acme", users / "acme.json")
    assert mode(out) == 0o600 and mode(users) == 0o755


@posix_only
def test_event_sort_spill_files_are_private(tmp_path: Path, open_umask: None) -> None:
    spilled = spill_run([(1.0, 0, HullEvent("e1", "Signed up", 1.0, user_id="u1"))], tmp_path, 0)
    assert mode(spilled) == 0o600


# ---------------------------------------------------------------------------- logs
@posix_only
def test_log_files_are_private_including_after_a_rollover(
    isolated_home: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "LOG_MAX_BYTES", 200)
    path = logs.setup_logging("INFO")
    for i in range(20):
        logging.getLogger("cio_desktop.test").info("line %d of a log that rolls over", i)
    rolled = sorted(p.name for p in path.parent.iterdir())
    assert rolled[:2] == ["cli.log", "cli.log.1"]
    assert {mode(path.parent / name) for name in rolled} == {0o600} and mode(path.parent) == 0o700


@posix_only
def test_log_files_an_older_version_left_readable_are_tightened(isolated_home: Path) -> None:
    folder = paths.log_dir()
    folder.mkdir(parents=True)
    names = ("cio-desktop.log", "cio-desktop.log.1", "gui.log", "webhook.log.2")  # the one file of older versions
    for name in names:
        (folder / name).write_text("old\n")
        os.chmod(folder / name, 0o644)
    os.chmod(folder, 0o755)
    logs.setup_logging("INFO")
    assert mode(folder) == 0o700
    assert {mode(folder / name) for name in names} == {0o600}


def test_jobs_that_create_the_same_ledger_together_all_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "database is locked" at once to a second opener (it does not
    wait): the app's jobs opening a new profile's ledger together must all get it."""
    import threading

    failures: list[str] = []
    for attempt in range(60):
        path = tmp_path / f"p{attempt}" / "ledger.sqlite3"
        start = threading.Barrier(6)

        def open_it(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                Ledger(path).close()
            except LedgerError as exc:
                failures.append(str(exc))

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
