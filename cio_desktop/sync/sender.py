"""The sending side of a run: a bounded queue of requests, sender threads, and what gets recorded.

The run's calling thread packs planned operations into v2 batches (:meth:`Sender.pack_person`) and
queues them (:meth:`Sender.submit`); ``profile.concurrency`` sender threads post them (the Track
client rate-limits and retries). Only once Customer.io has answered is anything recorded: the answer
is sorted into accepted and failed entries (:func:`classify`), then written to the ledger in one
transaction (:meth:`Sender._write`), after which write-back traits go to Hull's firehose.

Failures: a 207 fails exactly the operations it names; a 400 on a whole batch is bisected until the
bad operation is alone; a request that fails for any other reason (credentials, Customer.io down)
goes through the one handler, :meth:`Sender._send_failed`. What is not accepted is recorded per person
in ``run_errors`` and, because the ledger was not updated for them, sent again by the next run.

Merges (a changed customerId): the identify of the new person goes in a batch like any other; only
once Customer.io accepted it does the merge of the old person into it go out, in a later request
(Customer.io may ignore a merge whose primary does not exist yet, and does not document that a batch
is applied in order). The ledger records the person only when the merge is accepted.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from cio_desktop.customerio.track import BatchResult, EventType
from cio_desktop.net.errors import AuthenticationError, Cancelled, RejectedError, ServiceError
from cio_desktop.sync.batching import BatchPacker
from cio_desktop.sync.ledger import ErrorWrite, EventWrite, PersonWrite
from cio_desktop.sync.model import Action, Decision, EventDecision
from cio_desktop.sync.state import RunState, Stop
from cio_desktop.sync.summary import Problem

log = logging.getLogger(__name__)

# After this many requests in a row (batches or anonymous events) failed even after retries,
# Customer.io is considered down.
MAX_CONSECUTIVE_BATCH_FAILURES = 3
# Hull ids of people that failed this run are kept to hold back their events; above this many the
# events phase is skipped altogether (and retried next run) instead of using more memory.
MAX_TRACKED_FAILURES = 100_000


@dataclass(eq=False, slots=True)
class Entry:
    """One person decision or one event decision travelling through the send queue."""

    person: Decision | None = None
    event: EventDecision | None = None
    seq: int = -1  # events: position in the event stream (checkpoint bookkeeping)
    hull_id: str = ""
    fp: str | None = None  # people: source fingerprint, stored once accepted
    # People: operations sent in a later request once this entry's first one was accepted (a
    # merge waits for the identify of its new primary).
    followup: tuple[dict[str, Any], ...] = ()


Item = tuple[Entry, dict[str, Any]]  # an entry and one of its operations (v2, or the v1 anonymous body)


@dataclass(eq=False, slots=True)
class Job:
    items: list[Item]  # (entry, v2 operation), an entry's ops adjacent
    anonymous: Entry | None = None  # or one v1 anonymous event
    body: bytes | None = None  # the packer's encoded request for ``items``, sent as is


class Failure(NamedTuple):
    entry: Entry
    kind: str  # "rejected" (Customer.io refused it) or "unavailable" (it could not be delivered)
    message: str
    field: str


@dataclass(slots=True)
class Results:
    """What Customer.io's answer to one request means for its entries."""

    accepted: list[Entry]  # recorded now
    failed: list[Failure]  # one per entry, the first of its operations that failed
    merges: list[Entry]  # accepted first steps of merges: recorded once their merge is accepted


def classify(items: list[Item], result: BatchResult | None, failure: tuple[str, str] | None) -> Results:
    """Sort a request's entries by Customer.io's answer: ``failure`` (kind, message) fails them all;
    otherwise an entry fails with its first refused operation, and without ``result`` all passed."""
    accepted: dict[int, Entry] = {}
    failed: dict[int, Failure] = {}
    answers = result.results if result is not None and failure is None else ()
    for index, (entry, _op) in enumerate(items):
        key = id(entry)
        r = answers[index] if index < len(answers) else None
        if failure is not None:
            failed.setdefault(key, Failure(entry, failure[0], failure[1], ""))
        elif r is not None and not r.ok:
            message = r.message or r.reason or "refused by Customer.io"
            failed.setdefault(key, Failure(entry, "rejected", message, r.field))
        else:
            accepted.setdefault(key, entry)
    done: list[Entry] = []
    merges: list[Entry] = []
    for key, entry in accepted.items():
        if key in failed:
            continue
        # Nothing is recorded for the first step of a merge until the merge itself is accepted (a crash
        # in between plans the merge again next run; identify is idempotent).
        (merges if entry.person is not None and entry.followup else done).append(entry)
    return Results(done, list(failed.values()), merges)


class Sender:
    """The request queue and sender threads of one run, and the totals of what they sent."""

    def __init__(self, state: RunState) -> None:
        self.s = state
        # Batches waiting for a sender: enough to keep them busy, few enough to keep memory flat even
        # with many senders (each batch holds up to 1,000 operations).
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=min(2 * state.profile.concurrency, 8))
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()  # the totals below are written by the sender threads
        self.requests = 0
        self.people_sent = 0
        self.events_sent = 0
        self.transient_failures = 0
        self.consecutive_failures = 0
        self.failed_hull_ids: set[str] = set()
        self.failed_overflow = False

    # ------------------------------------------------------------------ queueing (calling thread)
    def pack_person(self, packer: BatchPacker[Entry], decision: Decision, fp: str | None = None) -> None:
        entry = Entry(person=decision, hull_id=decision.hull_id, fp=fp)
        ops = decision.operations
        if decision.action is Action.MERGE and len(ops) > 1:
            # The merge goes in a later request, once Customer.io accepted the identify of the new
            # primary (see _send_merges).
            entry.followup = tuple(ops[1:])
            ops = ops[:1]
        person = decision.person
        for op in ops:
            # The identify operation was encoded while mapping (with the hash): send those bytes.
            wire = person.wire if person is not None and op.get("attributes") is person.attributes else None
            batch = packer.add(op, entry, wire or None)
            if batch is not None:
                self.submit(Job(list(batch.items), body=batch.body))

    def flush(self, packer: BatchPacker[Entry]) -> None:
        batch = packer.flush()
        if batch is not None:
            self.submit(Job(list(batch.items), body=batch.body))

    def submit(self, job: Job) -> None:
        while True:
            if self.s.stopped():
                raise Stop
            try:
                self.jobs.put(job, timeout=0.1)
                return
            except queue.Full:
                continue

    def drain(self) -> None:
        """Wait until every submitted job is done (or the run stops)."""
        while self.jobs.unfinished_tasks:
            if self.s.stopped():
                raise Stop
            self.s.save_counts()
            time.sleep(0.01)

    # ------------------------------------------------------------------ threads
    def start(self) -> None:
        if self.s.dry:
            return
        for i in range(self.s.profile.concurrency):
            t = threading.Thread(target=self._work, name=f"sync-sender-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self) -> None:
        if not self.threads:
            return
        # Queued jobs that were never sent are dropped: nothing about them is recorded, so the next
        # run sends them. Jobs being sent finish (or stop at their next wait) and are recorded.
        if self.s.stopped():
            with contextlib.suppress(queue.Empty):
                while True:
                    self.jobs.get_nowait()
                    self.jobs.task_done()
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join()
        self.threads.clear()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is None:
                    return
                if self.s.stopped():
                    continue
                if job.anonymous is not None:
                    self._send_anonymous(job.anonymous)
                else:
                    self._send_batch(job.items, job.body)
            except Cancelled:
                self.s.stop.set()
            except Exception as exc:
                log.exception("sender thread failed")
                self.s.fatal(Problem.INTERNAL, f"Sending stopped on an unexpected error: {type(exc).__name__}: {exc}")
            finally:
                self.jobs.task_done()

    # ------------------------------------------------------------------ sending (sender threads)
    def _send_batch(self, items: list[Item], body: bytes | None = None) -> None:
        track = self.s.e.track
        assert track is not None
        ops = [op for _, op in items]
        try:
            with self.lock:
                self.requests += 1
            # The packer already encoded the request: sending its bytes saves encoding every op again.
            result = track.batch(ops, cancel=self.s.cancel, body=body)
        except RejectedError as exc:
            groups = _entry_groups(items)
            if len(groups) > 1:
                # The whole request was refused: split it to find the operation(s) at fault. Its operations
                # are settled by the answers to the halves, not this one.
                self.s.progress.answered(0)
                half = len(groups) // 2
                self._send_batch([it for g in groups[:half] for it in g])
                self._send_batch([it for g in groups[half:] for it in g])
                return
            self._record(items, None, failure=("rejected", "; ".join(exc.messages) or str(exc)))
            return
        except (AuthenticationError, ServiceError) as exc:
            self._send_failed(items, exc)
            return
        self._send_succeeded()
        self._record(items, result)

    def _send_anonymous(self, entry: Entry) -> None:
        track = self.s.e.track
        assert track is not None and entry.event is not None
        body = entry.event.operation or {}
        try:
            with self.lock:
                self.requests += 1
            track.track_anonymous(
                str(body.get("anonymous_id") or ""),
                str(body.get("name")),
                event_id=str(body.get("id")),
                timestamp=body.get("timestamp"),
                data=body.get("data") or {},
                type=_event_type(body.get("type")),
            )
        except RejectedError as exc:
            self._record([(entry, body)], None, failure=("rejected", "; ".join(exc.messages) or str(exc)))
            return
        except (AuthenticationError, ServiceError) as exc:
            self._send_failed([(entry, body)], exc)
            return
        self._send_succeeded()
        self._record([(entry, body)], None)

    def _send_failed(self, items: list[Item], exc: AuthenticationError | ServiceError) -> None:
        """The one handler of a request that failed for a reason other than its content (batch and
        anonymous sends alike): wrong credentials stop the run; a service still failing after the
        client's retries (5xx, 429, network) fails these items for the next run, and after
        MAX_CONSECUTIVE_BATCH_FAILURES such requests in a row, stops the run."""
        if isinstance(exc, AuthenticationError):
            self.s.fatal(Problem.CREDENTIALS, str(exc))
            return
        with self.lock:
            self.transient_failures += 1
            self.consecutive_failures += 1
            down = self.consecutive_failures >= MAX_CONSECUTIVE_BATCH_FAILURES
        self._record(items, None, failure=("unavailable", str(exc)))
        if down:
            self.s.fatal(Problem.SERVICE, f"Customer.io kept failing, the sync stopped: {exc}")

    def _send_succeeded(self) -> None:
        with self.lock:
            self.consecutive_failures = 0

    # ------------------------------------------------------------------ recording (sender threads)
    def _record(self, items: list[Item], result: BatchResult | None, *, failure: tuple[str, str] | None = None) -> None:
        results = classify(items, result, failure)
        # The time left counts a request once answered; a merge whose first step failed never sends its merge.
        self.s.progress.answered(len(items) + sum(len(f.entry.followup) for f in results.failed))
        self._write(results)
        if results.merges:
            self._send_merges(results.merges)

    def _write(self, results: Results) -> None:
        """Write what Customer.io accepted (and the per-person errors) in one ledger transaction, then
        the bookkeeping that follows from it: a crash before the commit resends, never loses."""
        people: list[PersonWrite] = []
        events: list[EventWrite] = []
        for entry in results.accepted:
            if entry.person is not None:
                people.append(_person_write(entry.person, entry.fp))
            elif entry.event is not None:
                events.append(EventWrite(entry.event.event_id, entry.event.ulid))
        errors = [_error_write(f) for f in results.failed]
        self.s.ledger.record_sent(self.s.run_id, people=people, events=events, errors=errors)
        self.s.people.sent((p.hull_id, p.customer_id) for p in people)  # the run's list says who went out
        with self.lock:
            self.people_sent += len(people)
            self.events_sent += len(events)
        if results.failed:
            self._note_failures(results.failed)
        self._finish_events(results)
        self._write_back(results.accepted)

    def _note_failures(self, failed: list[Failure]) -> None:
        self.s.sample_errors(f"{_who(f.entry)}: {f.message}" for f in failed)
        with self.lock:
            for f in failed:
                if f.entry.person is None or not f.entry.hull_id:
                    continue
                if len(self.failed_hull_ids) < MAX_TRACKED_FAILURES:
                    self.failed_hull_ids.add(f.entry.hull_id)
                else:
                    self.failed_overflow = True
        self.s.progress.fail(len(failed))

    def _finish_events(self, results: Results) -> None:
        ckpt = self.s.event_ckpt
        if ckpt is None:
            return
        for entry in results.accepted:
            if entry.event is not None:
                ckpt.finish(entry.seq, ok=True)
        for f in results.failed:
            if f.entry.event is not None:
                # Customer.io refusing the event itself is final (recorded in run_errors); only an event
                # that could not be delivered holds the checkpoint back for the next run.
                ckpt.finish(f.entry.seq, ok=f.kind == "rejected")

    def _write_back(self, accepted: list[Entry]) -> None:
        writer = self.s.e.hull_writer
        if writer is None or not self.s.e.write_back:
            return
        for entry in accepted:
            sent = entry.person
            if sent is not None and sent.traits and sent.hull_id:
                writer.traits({"id": sent.hull_id}, sent.traits)

    def _send_merges(self, merges: list[Entry]) -> None:
        """Now that the new primaries exist, their merges go in one request of their own."""
        packer: BatchPacker[Entry] = BatchPacker(max_ops=self.s.e.batch_max_ops)
        for entry in merges:
            ops, entry.followup = entry.followup, ()
            for op in ops:
                full = packer.add(op, entry)
                if full is not None:
                    self._send_batch(list(full.items), full.body)
        rest = packer.flush()
        if rest is not None:
            self._send_batch(list(rest.items), rest.body)


def _person_write(d: Decision, fp: str | None = None) -> PersonWrite:
    """What the ledger keeps of a person Customer.io accepted."""
    if d.action is Action.DELETE:
        return PersonWrite(customer_id=d.customer_id or "", hull_id=d.hull_id, deleted=True)
    person = d.person
    return PersonWrite(
        customer_id=d.customer_id or "",
        hull_id=d.hull_id,
        payload_hash=person.payload_hash if person else None,
        attributes=person.attributes if person else None,
        merged_from=d.previous_customer_id if d.action is Action.MERGE else None,
        source_fp=fp,
        attributes_json=_attributes_json(person.wire) if person else None,
    )


_ATTRIBUTES_KEY = b',"action":"identify","attributes":'


def _attributes_json(wire: bytes) -> bytes | None:
    """The attributes part of an encoded identify operation (no need to encode them again). The key
    cannot occur earlier: a quote inside the identifiers' text is escaped."""
    at = wire.find(_ATTRIBUTES_KEY)
    return wire[at + len(_ATTRIBUTES_KEY) : -1] if at >= 0 and wire.endswith(b"}") else None


def _error_write(f: Failure) -> ErrorWrite:
    if f.entry.person is not None:
        d = f.entry.person
        return ErrorWrite(f.kind, f.message, d.customer_id or "", d.hull_id, f.field)
    ev = f.entry.event
    assert ev is not None
    return ErrorWrite(f.kind, f"event {ev.event_id}: {f.message}", ev.customer_id or "", f.entry.hull_id, f.field)


def _who(entry: Entry) -> str | None:
    """Who an error is about, in the summary's sample: the customerId, or the event's id."""
    if entry.person is not None:
        return entry.person.customer_id
    return entry.event.event_id if entry.event else ""


def _event_type(value: Any) -> EventType:
    """The v1 event type of a planned anonymous event body (page and screen keep theirs)."""
    if value == "page":
        return "page"
    if value == "screen":
        return "screen"
    return "event"


def _entry_groups(items: list[Item]) -> list[list[Item]]:
    """Items grouped by entry (an entry's operations are adjacent), in order."""
    groups: list[list[Item]] = []
    for item in items:
        if groups and groups[-1][0][0] is item[0]:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups
