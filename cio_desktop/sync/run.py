"""One run, start to end: open it in the ledger, start the senders, the users pass (with the deletion
step), the events pass, then decide the outcome and write it to the run's record.

A run never raises for problems of the data or the services: whatever stops it early (cancel, refused
credentials, Hull or Customer.io down, a bug) ends up in the summary's ``status``, ``problem`` and
``message``, and the ledger is left consistent: what it holds was accepted, nothing else.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import MappingProxyType

from cio_desktop.hull.source import SourceError, Stream
from cio_desktop.net.errors import (
    AuthenticationError,
    NotFoundError,
    OrganizationDisabledError,
    ServiceError,
)
from cio_desktop.sync.ledger import Checkpoint, ErrorWrite, LedgerBusyError, LedgerError, RunRecord, RunStatus
from cio_desktop.sync.objects_step import ObjectsStep
from cio_desktop.sync.progress import Phase
from cio_desktop.sync.read_ahead import EarlyReaders, reading_processes
from cio_desktop.sync.run_events import EventsPass
from cio_desktop.sync.run_users import UsersPass
from cio_desktop.sync.sender import Sender
from cio_desktop.sync.state import RunState, Stop
from cio_desktop.sync.summary import Problem, RunMode, RunSummary

log = logging.getLogger(__name__)


class Run:
    """One run (one instance per :meth:`SyncEngine.run <cio_desktop.sync.engine.SyncEngine.run>` call)."""

    def __init__(self, state: RunState) -> None:
        self.s = state
        self.sender = Sender(state)
        state.accepted = lambda: (self.sender.people_sent, self.sender.events_sent)

    def execute(self, hull_id: str | None) -> RunSummary:
        s = self.s
        started = s.e.clock()
        writer = s.e.hull_writer
        write_back_failed_before = writer.failed if writer else 0
        try:
            s.run_id = s.ledger.start_run(RunMode.DRY_RUN.value if s.dry else s.mode.value)
        except LedgerBusyError as exc:  # another run of the profile holds its run lock
            return self._summary(started, RunStatus.FAILED, Problem.BUSY, str(exc))
        except LedgerError as exc:  # the run lock cannot be taken at all (say, a file system without locks)
            return self._summary(started, RunStatus.FAILED, Problem.CONFIGURATION, str(exc))
        s.progress.phase(Phase.STARTING, message=f"Starting a {s.mode.value.replace('_', ' ')} sync")
        s.ledger.prune_run_people(s.run_id)
        self.sender.start()
        try:
            self._body(hull_id)
        except Stop:
            pass
        except SourceError as exc:
            s.fatal(_classify_source_error(exc), str(exc))
        except AuthenticationError as exc:
            s.fatal(Problem.CREDENTIALS, str(exc))
        except ServiceError as exc:
            s.fatal(Problem.SERVICE, str(exc))
        except Exception as exc:  # a bug: record the run as failed instead of leaving it "running"
            log.exception("sync run failed")
            s.fatal(Problem.INTERNAL, f"The sync stopped on an unexpected error: {type(exc).__name__}: {exc}")
        finally:
            self.sender.stop()
            s.ledger.end_seen()
            s.people.flush()
        s.save_event_checkpoint(force=True)
        if writer is not None and not s.dry:
            s.progress.phase(Phase.FINISHING, message="Writing sync traits back to Hull")
            writer.flush()
        write_back_failed = (writer.failed if writer else 0) - write_back_failed_before
        bad_rows, duplicate_rows = self._record_bad_rows()
        failed = s.progress.failed
        status, message = self._outcome(failed, bad_rows)
        message = self._message(message, failed, write_back_failed, bad_rows, duplicate_rows)
        record = s.ledger.finish_run(
            s.run_id,
            status,
            counts=s.progress.counts,
            failed=failed,
            message=message,
            unreadable=bad_rows,
            audience=s.audience if status is not RunStatus.FAILED else None,
            withheld=s.withheld,
            withheld_reason=s.withheld_reason.value if s.withheld_reason else None,
            people_sent=self.sender.people_sent,
            events_sent=self.sender.events_sent,
            problem=s.problem.value if s.problem is not None and status is RunStatus.FAILED else None,
            objects_sent=s.objects_sent,
            relationships_sent=s.relationships_sent,
        )
        s.progress.phase(Phase.DONE, message=message or status.value)
        return self._summary(
            started,
            status,
            s.problem,
            message,
            write_back_failed=write_back_failed,
            bad_rows=bad_rows,
            duplicate_rows=duplicate_rows,
            record=record,
        )

    def _body(self, hull_id: str | None) -> None:
        s = self.s
        # The reading processes of a large export file start now, while the file is scanned.
        decides = not s.profile.objects.enabled  # with accounts as objects, the run decides itself
        readers = 0 if s.mode is RunMode.SINGLE else reading_processes(s.e.source, dry=s.dry, decides=decides)
        early = EarlyReaders(readers) if readers else None
        try:
            self._pass(hull_id, early)
        finally:
            if early is not None:
                early.close()

    def _pass(self, hull_id: str | None, early: EarlyReaders | None) -> None:
        s = self.s
        ctx = s.e.context()
        users = UsersPass(s, self.sender, ctx)
        users.early = early
        if s.mode is RunMode.SINGLE:
            assert hull_id is not None
            users.single(hull_id)
            return
        since = s.ledger.checkpoint_float(Checkpoint.USERS_UPDATED) if s.mode is RunMode.INCREMENTAL else None
        if s.mode is RunMode.INCREMENTAL and since is None:
            s.say("No earlier complete run of this profile: this incremental run covers everyone (full).")
        users_started = s.e.clock()
        objects = ObjectsStep(s, ctx, full=since is None) if s.profile.objects.enabled else None
        users.objects = objects
        if since is not None:
            users.run(None, updated_since=since - s.e.incremental_overlap_s, full=False)
        else:
            users.run(s.profile.segment_ids, updated_since=None, full=True)
        if s.stopped():
            return
        if objects is not None:
            objects.run()
            if s.stopped():
                return
        if not s.dry and self.sender.transient_failures == 0 and not s.withheld and s.users_read.clean:
            # Failed people (Customer.io refused them) are retried by the next full run or when they change;
            # unreadable rows and withheld deletions are found again by the next incremental run.
            s.ledger.set_checkpoint(Checkpoint.USERS_UPDATED, users_started)
        if s.profile.events:
            EventsPass(s, self.sender, ctx).run()

    # ------------------------------------------------------------------ outcome
    def _outcome(self, failed: int, bad_rows: int) -> tuple[RunStatus, str]:
        """The run's status, and the sentence that explains it when it is not plain success."""
        s = self.s
        if s.problem is not None:
            return RunStatus.FAILED, s.problem_message
        if s.cancel.is_set():
            return RunStatus.CANCELLED, "Cancelled; the next run continues where this one stopped"
        if s.withheld or s.objects_withheld:
            both = [m for m in (s.withheld_message, s.objects_withheld_message) if m]
            return RunStatus.DELETIONS_WITHHELD, " ".join(both)
        if bad_rows:
            return RunStatus.INCOMPLETE, ""
        if failed:
            return RunStatus.PARTIAL, ""
        return RunStatus.COMPLETED, ""

    def _message(self, message: str, failed: int, write_back_failed: int, bad_rows: int, duplicate_rows: int) -> str:
        """The run's message: ``message`` then a sentence for each kind of loss or warning."""
        source = self.s.e.source
        notes = [message] if message else []
        if failed:
            notes.append(
                f"Customer.io did not accept {failed:,} {'person or event' if failed == 1 else 'people or events'}"
                " (they are in the run's errors and are sent again by the next run)"
            )
        if write_back_failed:
            notes.append(
                f"{write_back_failed} write-backs to Hull failed (they are sent again when the person next changes)"
            )
        if bad_rows:
            notes.append(
                f"{bad_rows:,} unreadable {'record was' if bad_rows == 1 else 'records were'} skipped in"
                f" {source.describe()} (file, line and reason are in the run's errors)"
            )
        if duplicate_rows:
            notes.append(
                f"{duplicate_rows:,} {'user appears' if duplicate_rows == 1 else 'users appear'} more than once in"
                f" {source.describe()}: the later row is used"
            )
        return " ".join(_sentence(n) for n in notes)

    def _record_bad_rows(self) -> tuple[int, int]:
        """Put the records the source skipped (export files: broken lines) and the duplicate rows it
        passed over in the run's errors. Returns (unreadable, duplicates) in all (file sources keep
        the first 1,000 of each kind, and count them all)."""
        s = self.s
        if not s.read_source:
            return 0, 0  # what the source reports is from an earlier read (a preview), not this run
        try:
            reports = [s.users_read]
            if s.events_read:
                reports.append(s.e.source.read_report(Stream.EVENTS))
        except Exception:  # reporting must not fail a run that synced
            log.exception("reading the source's problems failed")
            return 0, 0
        rows: list[ErrorWrite] = []
        for report in reports:
            shown = {"bad_row": 0, "duplicate_row": 0}
            for p in report.problems:
                kind = "bad_row" if p.lost else "duplicate_row"
                shown[kind] += 1
                text = f"{Path(p.file).name} line {p.line}: {p.reason}"
                rows.append(ErrorWrite(kind, text, field=f"{p.file}:{p.line}"))
            for kind, total, what in (
                ("bad_row", report.unreadable, "unreadable records"),
                ("duplicate_row", report.duplicates, "duplicate rows"),
            ):
                if total > shown[kind]:
                    rows.append(ErrorWrite(kind, f"{total - shown[kind]:,} more {what} (only the first are listed)"))
        # Lost records first: duplicates never crowd them out of the sample.
        rows.sort(key=lambda r: r.kind != "bad_row")
        if rows and s.run_id is not None:
            s.ledger.record_errors(s.run_id, rows)
            s.sample_errors((row.message for row in rows), first=True)
        return sum(r.unreadable for r in reports), sum(r.duplicates for r in reports)

    def _summary(
        self,
        started: float,
        status: RunStatus,
        problem: Problem | None,
        message: str,
        *,
        write_back_failed: int = 0,
        bad_rows: int = 0,
        duplicate_rows: int = 0,
        record: RunRecord | None = None,
    ) -> RunSummary:
        """The run's summary; what Customer.io accepted is read from ``record`` (the stored run), so the
        Sync page says what History and the CLI say of the run."""
        s = self.s
        ended = s.e.clock()
        people_sent, events_sent, objects_sent, relationships_sent = _accepted(record)
        return RunSummary(
            run_id=s.run_id,
            mode=s.mode,
            status=status,
            started_at=started,
            ended_at=ended,
            duration_s=max(0.0, ended - started),
            counts=MappingProxyType(s.progress.counts),
            failed=s.progress.failed,
            errors_sample=tuple(s.errors_sample),
            message=message,
            problem=problem,
            people_sent=people_sent,
            events_sent=events_sent,
            objects_sent=objects_sent,
            relationships_sent=relationships_sent,
            requests=self.sender.requests + s.object_requests,
            write_back_failed=write_back_failed,
            bad_rows=bad_rows,
            duplicate_rows=duplicate_rows,
            withheld=s.withheld,
            objects_withheld=s.objects_withheld,
        )


def _classify_source_error(exc: SourceError) -> Problem:
    cause = exc.__cause__
    if isinstance(cause, AuthenticationError | OrganizationDisabledError | NotFoundError):
        return Problem.CREDENTIALS
    return Problem.SOURCE


def _accepted(record: RunRecord | None) -> tuple[int, int, int, int]:
    """People, events, account objects and relationship changes Customer.io accepted, as the run's
    record stores them (a run that could not open its record sent nothing)."""
    if record is None:
        return 0, 0, 0, 0
    return (
        record.people_sent or 0,
        record.events_sent or 0,
        record.objects_sent or 0,
        record.relationships_sent or 0,
    )


def _sentence(text: str) -> str:
    """``text`` as one sentence of a run's message: capitalised, ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
