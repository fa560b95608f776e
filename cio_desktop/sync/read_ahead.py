"""Reading a large export file in reading processes while the run records and sends (the users pass of a
file source), and, unless accounts go out as objects, deciding its pages there too (:class:`DecideSpec`).

Reading an export file (decoding JSON, normalizing each user) and the per-user work before the ledger
is asked (fingerprint, the person's line) are pure Python: on a thread of the run's process they hold
the same GIL as the planning, so the two take turns on one core. A spawned **reading process** runs the
very same :meth:`FileSource.iter_users` (same order, filters, duplicates and problems) and makes each
user's :mod:`digest <cio_desktop.sync.digest>`; the run gets pages of digests through a pipe and
decodes only the users it must map. A digest carries the user (:class:`Users` gets it back):

- for a line that ``orjson.loads`` alone reads (the common case, :meth:`FileSource.iter_users_raw`):
  where the line is in the file, ``(offset, length)``; the run reads those bytes itself when it needs
  the user, and decoding them again gives the same user. Nothing of the user goes through the pipe,
  which would cost more than the decoding saves (a 1.6 KB line per person);
- the line's bytes, for such a line of a gzip file (no offsets to read it by);
- the user pickled, for any other line (pickle's header byte, 0x80, never starts text orjson reads).

An everyday plan, where nearly everyone is unchanged, then maps almost nobody and decodes almost
nothing itself. A file changed while it is read is noticed when a line read again is not the person
it was (another Hull id, line or fingerprint, or not JSON any more), or when the file's size or
modification time moved by the end of the pass: the run stops with a source error, as when the file
cannot be read, and deletes nobody.

When (:func:`reading_processes`): only for an export file of at least :data:`PROCESS_MIN_BYTES`
(below that, starting a process costs more than it saves), never when ``CIO_DESKTOP_WORKERS``
is 0; as many processes as :func:`cio_desktop.parallel.worker_count` gives (one per core beyond two),
and on a machine with 2 cores: 2 for plans and dry runs (they send nothing, so the core a run leaves
to sending and the network is free), 1 for a run whose reading process decides (the run's process
records and sends on the other core), none for a run with accounts as objects (a reading process that
only reads was measured not to pay there). Several processes each read a byte range of an
uncompressed JSON-lines file (:func:`digest_pages`).

Safety: a reading process only reads: the file, and when it decides the pages the ledger, through a
connection that cannot write (``query_only``); it never writes anything. It leaves Ctrl-C to the run
(:func:`~cio_desktop.parallel.ignore_interrupts`), which cancels and stops it. Memory stays bounded:
pages go through a pipe (the reading process waits while the run is behind) and at most a few wait
in the run's queue. A run that stops early (cancel, an error) stops the reading process; a reading
process whose run's process died ends at its next write to the pipe. Its problems with the file
come back with the last page, so the run's read report is the one an in-process read would give;
an error it raises is raised in the run, with its type and, as its cause, where the reading process
raised it (a :class:`ReaderError` stands in for an exception that cannot be sent back); a reading
process that dies says so instead of passing for the end of the file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

from cio_desktop import jsonfast
from cio_desktop.config.profile import Profile
from cio_desktop.hull.files import FileSource
from cio_desktop.hull.files_meta import ProblemLog, UsersMeta
from cio_desktop.hull.files_normalize import normalize_user
from cio_desktop.hull.files_readers import detect_format
from cio_desktop.hull.files_scan import can_split, split_ranges
from cio_desktop.hull.source import HullUser, SourceError, UserSource
from cio_desktop.parallel import WORKERS_ENV, WorkersSettingError, ignore_interrupts, worker_count
from cio_desktop.sync.decide import PageOutcome, decide_page, ship
from cio_desktop.sync.digest import NOT_COMPUTED, Digest, hull_id_of, material_fp, user_line
from cio_desktop.sync.ledger import known_with_fingerprints, open_for_reading
from cio_desktop.sync.model import MappingContext
from cio_desktop.sync.pass_tuning import tuned_for_pass

# Smaller files are read on a thread of the run's process: a process start (about 0.2 s) would not pay.
# Decided by the file's size, so the choice never waits for a metadata scan (32 MB: about 20,000 users
# of a Hull export's 1.6 KB lines).
PROCESS_MIN_BYTES = 32 << 20
# How often a reading thread waiting for the next page looks whether the run still wants it.
POLL_SECONDS = 0.1

_PICKLE = pickle.HIGHEST_PROTOCOL


@dataclass(frozen=True)
class ReaderSpec:
    """What the reading process needs: the users file, its metadata (so it scans nothing again), what
    to read and the fingerprint's settings."""

    users_path: str
    max_record_bytes: int
    meta_key: dict[str, Any]
    meta: UsersMeta
    segment_ids: tuple[str, ...] | None
    updated_since: float | None
    ctx_fp: str | None
    account_keys: tuple[str, ...]
    page_size: int
    byte_range: tuple[int, int] | None = None  # one range of the file (several reading processes)
    decide: DecideSpec | None = None  # a plan's pages are decided in the reading process


@dataclass(frozen=True)
class DecideSpec:
    """What a reading process needs to decide pages itself (:func:`~cio_desktop.sync.decide.decide_page`):
    the mapping context's parts, the ledger to look people up in (read only), the run's clock, the
    plan's sample size and whether the run is a plan or dry run. A real run's decisions to send come
    packed (:func:`~cio_desktop.sync.decide.ship`). The sample (people to be created, looked up in
    Customer.io to show what will change for them) is of the first people decided: with several reading
    processes, pages come range by range, so they are not the file's first people, but a sample all the
    same."""

    profile: Profile
    segment_names: dict[str, str]
    attribute_types: dict[str, str]
    ledger_path: str
    now: float
    sample_size: int
    dry: bool = True


def reading_processes(
    source: UserSource, *, dry: bool, decides: bool = False, environ: dict[str, str] | None = None
) -> int:
    """How many reading processes this users pass reads ``source`` with (0: on a thread of the run's
    process); ``decides``: they would decide the pages too (:class:`DecideSpec`). See the module
    docstring."""
    if not isinstance(source, FileSource):
        return 0
    env = dict(os.environ) if environ is None else environ
    try:
        workers = worker_count(env)
    except WorkersSettingError:
        return 0  # the source's own read reports the bad setting where it matters
    cpus = os.cpu_count() or 1
    if env.get(WORKERS_ENV, "").strip():
        count = workers
    elif workers >= 1:
        count = workers
    elif cpus < 2:
        count = 0
    elif dry:  # a plan sends nothing: on 2 cores both may read while the run records
        count = 2
    else:  # a run on 2 cores: one reads and decides, the other records and sends
        count = 1 if decides else 0
    if count < 1:
        return 0
    try:
        size = source.users_path.stat().st_size
    except OSError:
        return 0  # the in-process read finds and words the problem
    return count if size >= PROCESS_MIN_BYTES else 0


def digest_pages(
    source: FileSource,
    segment_ids: Sequence[str] | None,
    *,
    updated_since: float | None,
    ctx_fp: str | None,
    account_keys: tuple[str, ...],
    page_size: int,
    users: Users | None = None,
    wanted: Callable[[], bool] = lambda: True,
    readers: int = 1,
    decide: DecideSpec | None = None,
    started_early: EarlyReaders | None = None,
) -> Iterator[list[Digest] | PageOutcome]:
    """Pages of digests of ``source``'s users, read in spawned processes. Close the iterator (or let
    it end) to stop them; the source's read report is theirs once the pages end. ``users`` learns the
    state of the file the pages describe (:meth:`Users.verify`); while it waits for a page, the
    iterator stops (and stops the processes) as soon as ``wanted()`` is false.

    ``readers`` > 1 splits an uncompressed JSON-lines file without duplicate ids into that many byte
    ranges at line starts, one process each; their pages come in turn (a page of the first range,
    one of the second, ...), so the order is the same every time, though not the file's. Their
    problems are merged in file order with their line numbers counted from the file's start.

    With ``decide`` (accounts not sent as objects), the reading processes also
    look each page up in the ledger and decide it (:func:`~cio_desktop.sync.decide.decide_page`, the
    function a run uses): the pages are then :class:`PageOutcome` objects, and the run only records them.
    ``started_early``: reading processes the run started before (:class:`EarlyReaders`), used first."""
    key, meta = source.users_meta_for_reader()
    if users is not None:
        users.read_from(key)
    ranges: list[tuple[int, int] | None] = [None]
    if readers > 1 and not meta.duplicates and can_split(detect_format(source.users_path, "users file")):
        ranges = list(split_ranges(source.users_path, int(key["size"]), readers)) or [None]
    specs = [
        ReaderSpec(
            str(source.users_path),
            source.max_record_bytes,
            key,
            meta,
            None if segment_ids is None else tuple(segment_ids),
            updated_since,
            ctx_fp,
            account_keys,
            page_size,
            byte_range,
            decide,
        )
        for byte_range in ranges
    ]
    source.reset_user_problems()
    name = source.users_path.name
    started: list[tuple[Connection, Any]] = []  # (pipe, process) of each range
    ends: dict[int, tuple[ProblemLog, int]] = {}
    try:
        ctx = multiprocessing.get_context("spawn")
        for spec in specs:
            waiting = started_early.take(spec) if started_early is not None else None
            if waiting is not None:  # started while the run scanned the file: told what to read
                started.append(waiting)
                continue
            receive, send = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_serve, args=(send, spec), name="cio-desktop file reader", daemon=True)
            try:
                process.start()
            except OSError as exc:
                receive.close()
                send.close()
                raise SourceError(
                    f"The process that reads {name} could not start ({exc.strerror or exc})."
                    f" Set {WORKERS_ENV}=0 to read it in the run's own process."
                ) from None
            send.close()
            started.append((receive, process))
        while len(ends) < len(started):
            for index, (receive, process) in enumerate(started):  # in turn: the same order every time
                if index in ends:
                    continue
                while not receive.poll(POLL_SECONDS):  # a filtered read may send rarely: stay stoppable
                    if not wanted():
                        return
                try:
                    kind, value = pickle.loads(receive.recv_bytes())  # noqa: S301 (our own reading process)
                except (EOFError, OSError):  # gone, perhaps in the middle of a message
                    process.join(5)
                    raise SourceError(
                        f"The process reading {name} stopped unexpectedly (exit code {process.exitcode})."
                        " Nothing was lost: run again."
                    ) from None
                if kind == "page":
                    yield value
                elif kind == "end":
                    ends[index] = value
                else:  # "error": what the read raised there, with where it was raised
                    error, where = value
                    raise error from RemoteTraceback(where)
        if wanted():  # a pass given up on leaves the source's report to whoever reads next
            source.adopt_user_problems(_merged([ends[i] for i in range(len(started))]))
    finally:
        for receive, _process in started:
            receive.close()
        for index, (_receive, reader) in enumerate(started):
            if index in ends:
                reader.join(5)
            if reader.is_alive():  # stopped early: the pages left are not wanted
                reader.kill()
                reader.join(5)


class EarlyReaders:
    """Reading processes started while the run scans the file, each waiting to be told what to read: a
    process start and its imports (about 0.2 s) then overlap with the scan instead of delaying the first
    page. :func:`digest_pages` takes them; :meth:`close` stops those nobody took (always call it)."""

    def __init__(self, count: int) -> None:
        self._waiting: list[tuple[Connection, Connection, Any]] = []  # (to tell it, its pages, process)
        ctx = multiprocessing.get_context("spawn")
        for _ in range(count):
            told, tell = ctx.Pipe(duplex=False)
            receive, send = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_serve_when_told, args=(told, send), name="cio-desktop file reader", daemon=True
            )
            try:
                process.start()
            except OSError:  # digest_pages starts its own, and words the failure if it fails again
                for conn in (told, tell, receive, send):
                    conn.close()
                break
            told.close()
            send.close()
            self._waiting.append((tell, receive, process))

    def __len__(self) -> int:
        return len(self._waiting)

    def take(self, spec: ReaderSpec) -> tuple[Connection, Any] | None:
        """A waiting process, told to read ``spec``: (its pages, the process); None when none waits."""
        while self._waiting:
            tell, receive, process = self._waiting.pop(0)
            try:
                tell.send_bytes(pickle.dumps(spec, _PICKLE))
            except OSError:  # it died waiting: the next one, or a new one
                receive.close()
                process.join(1)
                continue
            finally:
                tell.close()
            return receive, process
        return None

    def close(self) -> None:
        """Stop the processes nobody took."""
        for tell, receive, process in self._waiting:
            tell.close()  # it ends by itself on the closed pipe; killed if it does not at once
            receive.close()
            process.join(0.5)
            if process.is_alive():
                process.kill()
                process.join(5)
        self._waiting.clear()


def _serve_when_told(told: Connection, conn: Connection) -> None:
    """A reading process started early: waits for its :class:`ReaderSpec`, then reads (:func:`_serve`)."""
    ignore_interrupts()
    try:
        spec: ReaderSpec = pickle.loads(told.recv_bytes())  # noqa: S301 (our own run)
    except (EOFError, OSError):
        conn.close()
        return  # not needed after all
    finally:
        told.close()
    _serve(conn, spec)


class ReaderError(RuntimeError):
    """What a reading process raised, when that exception could not come back as it was."""


class RemoteTraceback(Exception):
    """Where in the reading process an error was raised (the cause of the error raised in the run)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n(in the reading process)\n{self.text}"


def _merged(ends: list[tuple[ProblemLog, int]]) -> ProblemLog:
    """The problem logs of consecutive ranges as one, in file order, lines counted from the file's start."""
    if len(ends) == 1:
        return ends[0][0]
    merged = ProblemLog(ends[0][0].keep)
    before = 0  # lines in the ranges before
    for log, lines in ends:
        for problem in (*log.items, *log.warnings):
            merged.add(replace(problem, line=problem.line + before))
        # Counted beyond those kept, as each range counted them.
        merged.count += log.count - len(log.items)
        merged.warning_count += log.warning_count - len(log.warnings)
        merged.truncated = merged.truncated or log.truncated
        before += lines
    return merged


class Users:
    """Gets the users of digests back in the run's process (see the module docstring); open while the
    pass reads (``close()`` after)."""

    def __init__(self, path: Path | None, ctx_fp: str | None = None, account_keys: tuple[str, ...] = ()) -> None:
        self.path = path  # the users file (None: every user is read in the run's process)
        self.ctx_fp = ctx_fp
        self.account_keys = account_keys
        self._file: BinaryIO | None = None
        self._stamp: tuple[int, int] | None = None  # (size, mtime_ns) of the file the digests describe

    def read_from(self, key: dict[str, Any]) -> None:
        """The digests describe the users file as it was at ``key`` (the metadata's cache key)."""
        self._stamp = (int(key["size"]), int(key["mtime_ns"]))

    def user(self, digest: Digest) -> HullUser:
        """The user of ``digest``. A user read again from the file must still be the person the digest
        describes (same Hull id, line and fingerprint), else the file changed under the run."""
        hull_id, material, line, packed = digest
        if type(packed) is tuple:
            raw = self._read(*packed)
        elif type(packed) is bytes and packed[:1] == b"\x80":
            user: HullUser = pickle.loads(packed)  # noqa: S301 (pickled by our own reading process)
            return user
        elif type(packed) is bytes:
            raw = packed
        else:
            assert isinstance(packed, dict)  # read on the run's own thread
            return packed
        try:
            normalized = normalize_user(jsonfast.fast_loads(raw))
        except jsonfast.DecodeError:
            normalized = "not JSON any more"
        if (
            isinstance(normalized, str)
            or hull_id_of(normalized[0]) != hull_id
            or user_line(normalized[0]) != line
            or (material is not None and material_fp(self.ctx_fp, self.account_keys, normalized[0]) != material)
        ):
            raise self._changed(f"user {hull_id} is not as it was")
        return normalized[0]

    def verify(self) -> None:
        """After the pass: the file is still the one the digests describe (not rewritten meanwhile)."""
        if self._stamp is None or self.path is None:
            return
        try:
            st = self.path.stat()
        except OSError:
            raise self._changed("it is gone") from None
        if (st.st_size, st.st_mtime_ns) != self._stamp:
            raise self._changed("it was written to")

    def _changed(self, why: str) -> SourceError:
        name = self.path.name if self.path else "The users file"
        return SourceError(
            f"{name} changed while it was read ({why}). Nobody was deleted: run again once the file is complete."
        )

    def _read(self, offset: int, length: int) -> bytes:
        if self.path is None:
            raise SourceError("A user read ahead has no file to be read from.")
        if self._file is None:
            try:
                self._file = open(self.path, "rb", buffering=0)
            except OSError as exc:
                raise SourceError(f"{self.path.name} cannot be read again: {exc.strerror or exc}.") from None
        try:
            if _pread is not None:
                data: bytes = _pread(self._file.fileno(), length, offset)
                return data
            self._file.seek(offset)
            return self._file.read(length)
        except OSError as exc:
            raise SourceError(f"{self.path.name} cannot be read again: {exc.strerror or exc}.") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# One system call per line where there is one (not on Windows).
_pread = getattr(os, "pread", None)


class _Decider:
    """A reading process's side of deciding: each page looked up in the ledger and decided."""

    def __init__(self, spec: ReaderSpec) -> None:
        assert spec.decide is not None
        d = spec.decide
        self.spec, self.d = spec, d
        self.ctx = MappingContext(d.profile, d.segment_names, d.attribute_types)
        self.ledger = open_for_reading(Path(d.ledger_path))
        self.sampled = 0

    def page(self, page: list[Digest]) -> PageOutcome:
        out = decide_page(
            page,
            known_with_fingerprints(self.ledger, [dg[0] for dg in page]),
            self.ctx,
            ctx_fp=self.spec.ctx_fp,
            account_keys=self.spec.account_keys,
            now=self.d.now,
            dry=self.d.dry,
            objects=False,
            user_of=_own_user,
            sample_left=self.d.sample_size - self.sampled,
        )
        self.sampled += len(out.sample)
        if out.send:
            out.send = ship(out.send)
        return out


def _own_user(digest: Digest) -> HullUser:
    user: HullUser = digest[3]
    return user


def _serve(conn: Connection, spec: ReaderSpec) -> None:
    """The reading process: pages of digests, then ("end", problems) or ("error", exception)."""
    ignore_interrupts()  # Ctrl-C is the run's to handle: it cancels, and stops this process
    with tuned_for_pass():  # the run's own pass settings: the cyclic collector would cost a sixth
        _serve_tuned(conn, spec)


def _serve_tuned(conn: Connection, spec: ReaderSpec) -> None:
    try:
        source = FileSource(spec.users_path, max_record_bytes=spec.max_record_bytes, workers=0)
        source.adopt_users_meta(spec.meta_key, spec.meta)
        by_offset = not detect_format(source.users_path, "users file").gzip
        send_page = _Decider(spec).page if spec.decide is not None else None
        page: list[Digest] = []
        packed: Any
        rows = source.iter_users_raw(spec.segment_ids, updated_since=spec.updated_since, byte_range=spec.byte_range)
        for user, raw, offset in rows:
            if send_page is not None:
                packed = user  # decided here: the user itself
            elif raw is None:
                packed = pickle.dumps(user, _PICKLE)
            elif by_offset and offset >= 0:
                packed = (offset, len(raw))
            else:
                packed = raw
            # Decided here, the fingerprint is worked out only for people the ledger has one for.
            material = NOT_COMPUTED if send_page is not None else material_fp(spec.ctx_fp, spec.account_keys, user)
            page.append((hull_id_of(user), material, user_line(user), packed))
            if len(page) >= spec.page_size:
                conn.send_bytes(pickle.dumps(("page", send_page(page) if send_page else page), _PICKLE))
                page = []
        if page:
            conn.send_bytes(pickle.dumps(("page", send_page(page) if send_page else page), _PICKLE))
        conn.send_bytes(pickle.dumps(("end", (source.user_problem_log(), source.range_lines)), _PICKLE))
    except (BrokenPipeError, ConnectionResetError, EOFError):
        return  # the run is gone or stopped reading: nobody waits for the rest
    except BaseException as exc:  # sent to the run, which raises it
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            where = traceback.format_exc()
            try:
                message = pickle.dumps(("error", (exc, where)), _PICKLE)
                pickle.loads(message)  # noqa: S301 (an exception that cannot come back is sent as its words)
            except Exception:
                # Not a problem with the source: a bug, which the run reports as one (with this traceback).
                stand_in = ReaderError(f"{type(exc).__name__} in the process reading the file: {exc}")
                message = pickle.dumps(("error", (stand_in, where)), _PICKLE)
            conn.send_bytes(message)
    finally:
        conn.close()


__all__ = [
    "PROCESS_MIN_BYTES",
    "DecideSpec",
    "EarlyReaders",
    "ReaderSpec",
    "Users",
    "digest_pages",
    "reading_processes",
]
