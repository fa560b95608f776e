"""Private storage: every file cio-desktop writes is 0600, every folder it creates 0700.

Everything the app writes holds people's data or its configuration, so everything goes through here:

* :func:`private_dir` creates folders 0700 (each missing level) and tightens the app's own folders that
  an older version left open. A folder outside the app's own (say the one a user exports a CSV into)
  is created 0700 when missing but never changed;
* :func:`atomic_writer` / :func:`write_atomic`, the one atomic writer: temp file (0600 from the start),
  fsync, rename, fsync of the folder, so a crash leaves the old or the new file, never a mix;
* :func:`private_opener` for ``open(..., opener=private_opener)`` when a file is written in place;
* :func:`open_private_sqlite`, the one SQLite opener (the ledger's and the inbox's), which creates the
  file 0600 before SQLite does and refuses a database written by a newer cio-desktop.

On Windows, modes mean little (only the read-only flag): the per-user AppData folders platformdirs
gives are private by their ACL already, so the chmod calls are POSIX-only and nothing fails there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, overload

from cio_desktop.config import paths

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
_POSIX = os.name == "posix"
# Windows refuses to replace a file another program holds open (Excel keeps an open CSV locked).
_WINDOWS = os.name == "nt"
# SQLite's side files, which it creates with the main file's mode (checked by the tests).
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class StorageError(Exception):
    """A private file cannot be used. The message names the file, says why and what to do."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class NewerDatabaseError(StorageError):
    """The database was written by a newer cio-desktop; it is left untouched."""

    def __init__(self, path: Path, what: str, found: int, known: int) -> None:
        super().__init__(
            path,
            f"The {what} {path} was written by a newer cio-desktop (schema {found}, this version knows {known}):"
            " update cio-desktop to use it. The file was left as it is.",
        )
        self.found = found
        self.known = known


class NotADatabaseError(StorageError):
    """The file is not an SQLite database (or its header is damaged); it is left untouched."""


class FileInUseError(StorageError, PermissionError):
    """The atomic writer could not put the new file in place of ``path``, which is left as it was.

    ``open_elsewhere``: on Windows this means another program has the file open. Still a
    PermissionError, so callers that go on after a failed write (caches) keep doing so.
    """

    def __init__(self, path: Path, exc: OSError, *, message: str | None = None) -> None:
        self.open_elsewhere = _WINDOWS
        if message is None and self.open_elsewhere:
            message = f"{path.name} is open in another program: close it there and try again ({path})."
        elif message is None:
            message = f"{path} cannot be replaced ({exc.strerror or exc}): check that you may change it."
        super().__init__(path, message)


# ---------------------------------------------------------------------------- folders and files
def _app_roots() -> list[Path]:
    return [paths.config_dir(), paths.data_dir(), paths.log_dir()]


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))  # lexical: "a/../b" compares equal to "b", no symlinks resolved


def _tighten(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` if it is more open; a folder someone else owns is left (and logged)."""
    if not _POSIX:
        return
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            os.chmod(path, mode)
    except PermissionError:
        log.warning("cannot make %s private (mode %s): it belongs to another user", path, oct(mode))


def private_dir(path: Path) -> Path:
    """``path`` as a private folder, created if missing; returns it.

    Every missing level is created 0700. Existing levels are tightened to 0700 only inside the app's
    own folders (config, data, logs), from that folder down: a user's folder (where a CSV is exported,
    their home) is never changed.
    """
    missing: list[Path] = []
    level = path
    while not level.exists() and level != level.parent:
        missing.append(level)
        level = level.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile by another thread or process
            folder.mkdir(mode=DIR_MODE)
        _tighten(folder, DIR_MODE)  # mkdir's mode is masked by the umask, never widened; be exact
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    where = _absolute(path)
    for root in map(_absolute, _app_roots()):
        if where == root or root in where.parents:
            for folder in [where, *where.parents]:
                _tighten(folder, DIR_MODE)
                if folder == root:
                    break
            break
    return path


def tighten_app_folders() -> None:
    """Close (0700) the app's own folders that exist: after an older version made them 0755, that keeps
    everything inside from other users at once, before each file is rewritten 0600."""
    for root in _app_roots():
        with contextlib.suppress(FileNotFoundError):
            _tighten(root, DIR_MODE)


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """``opener`` for :func:`open`: a file it creates is 0600 from its first byte (existing ones keep theirs)."""
    return os.open(path, flags, FILE_MODE)


def private_file(path: Path) -> Path:
    """Make ``path`` exist as a private file: created empty (0600, in a private folder) if missing,
    tightened to 0600 if it exists. Content is never changed."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def fsync_dir(directory: Path) -> None:
    """Make a rename or delete in ``directory`` durable (folders cannot be opened like this on Windows)."""
    if not _POSIX:
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _atomic(path: Path, encoding: str | None, newline: str | None) -> Iterator[IO[Any]]:
    directory = private_dir(path.parent)
    # mkstemp creates the file 0600 whatever the umask; os.replace keeps that mode.
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w" if encoding else "wb", encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except PermissionError as exc:
            raise FileInUseError(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)


@overload
def atomic_writer(path: Path) -> contextlib.AbstractContextManager[IO[bytes]]: ...
@overload
def atomic_writer(
    path: Path, *, encoding: str, newline: str | None = None
) -> contextlib.AbstractContextManager[IO[str]]: ...
def atomic_writer(
    path: Path, *, encoding: str | None = None, newline: str | None = None
) -> contextlib.AbstractContextManager[IO[Any]]:
    """A private (0600) file that replaces ``path`` when the block ends without an exception.

    Binary unless ``encoding`` is given. An exception inside the block leaves ``path`` as it was, and
    so does :class:`FileInUseError` when ``path`` cannot be replaced (Windows: open in another program).
    """
    return _atomic(path, encoding, newline)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (0600) so that a crash leaves the old or the new content, never a mix."""
    with atomic_writer(path) as fh:
        fh.write(data)


# ---------------------------------------------------------------------------- SQLite
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the database in WAL mode. Switching needs the database to itself, and SQLite answers
    "database is locked" at once, without waiting, when another connection opens the new file at
    that moment (two jobs of the app creating a profile's ledger together): look again until one of
    them switched it, up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def open_private_sqlite(
    path: Path, *, schema_version: int, what: str, timeout: float, if_damaged: str = ""
) -> tuple[sqlite3.Connection, int]:
    """Open (creating if needed) the SQLite database ``path`` as a private WAL file.

    Returns the connection (autocommit, usable from any thread) and the ``user_version`` found, which
    is 0 for a new file: callers set their other PRAGMAs and run their own migrations. ``what`` names
    the file for the user ("sync ledger"); ``if_damaged`` says what to do when it is not a database.

    Raises :class:`NewerDatabaseError` if a newer cio-desktop wrote it, :class:`NotADatabaseError` if
    it is not a database (both leave the file untouched), :class:`StorageError` for anything else.
    """
    try:
        private_dir(path.parent)
        # Created here, 0600, before SQLite creates it with its own default mode (0644).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except OSError as exc:
        raise StorageError(path, f"The {what} {path} cannot be created: {exc.strerror or exc}.") from exc
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(path, f"The {what} {path} cannot be opened ({exc}).") from exc
    try:
        # Reading the header first: a file that is not a database, or a newer one, is refused before
        # anything (WAL mode, a chmod) is written to it.
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > schema_version:
            raise NewerDatabaseError(path, what, found, schema_version)
        _tighten(path, FILE_MODE)  # an older version created it 0644
        _use_wal(conn, timeout)
        # SQLite creates -wal/-shm with the main file's mode; older versions' side files may be open.
        for suffix in _SQLITE_SIDE_FILES:
            side = path.with_name(path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                _tighten(side, FILE_MODE)
    except sqlite3.DatabaseError as exc:
        conn.close()
        code = getattr(exc, "sqlite_errorcode", None)
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            message = f"The {what} {path} is not a database or is damaged ({exc}); it was left untouched."
            raise NotADatabaseError(path, f"{message} {if_damaged}".rstrip()) from exc
        raise StorageError(path, f"The {what} {path} cannot be opened ({exc}).") from exc
    except BaseException:
        conn.close()
        raise
    return conn, found


__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "FileInUseError",
    "NewerDatabaseError",
    "NotADatabaseError",
    "StorageError",
    "atomic_writer",
    "fsync_dir",
    "open_private_sqlite",
    "private_dir",
    "private_file",
    "private_opener",
    "tighten_app_folders",
    "write_atomic",
]
