"""The users pass of a run: read the members (or the users changed since the last run), plan each one,
queue what Customer.io must receive; once every user was read, the deletion step. Also the single
send (one person, as a test).

Planning happens on the run's calling thread, one page at a time: one ledger query per page, then
:func:`~cio_desktop.sync.planner.plan_user` per user. A user whose Hull data and sync settings are the
same as when Customer.io accepted them (same fingerprint) is not even mapped again. Pages come as
digests (:mod:`~cio_desktop.sync.digest`): from a reading process for a large export file
(:mod:`~cio_desktop.sync.read_ahead`), else made here from the users a prefetch thread reads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cio_desktop.hull.files import FileSource
from cio_desktop.hull.source import HullUser, SourceError, Stream
from cio_desktop.sync.batching import BatchPacker
from cio_desktop.sync.decide import PageOutcome, decide_page, unship
from cio_desktop.sync.deletions import DeletionStep
from cio_desktop.sync.digest import (
    NOT_COMPUTED,
    Digest,
    account_keys_of,
    context_fingerprint,
    hull_id_of,
    user_line,
)
from cio_desktop.sync.mapping import identify_operation
from cio_desktop.sync.migration import connector_deletions_step
from cio_desktop.sync.model import Action, Decision, MappingContext, Reason
from cio_desktop.sync.objects_step import ObjectsStep
from cio_desktop.sync.pass_tuning import tuned_for_pass
from cio_desktop.sync.planner import plan_user
from cio_desktop.sync.prefetch import PAGE_SIZE, Prefetch
from cio_desktop.sync.progress import Phase
from cio_desktop.sync.read_ahead import DecideSpec, EarlyReaders, Users, digest_pages, reading_processes
from cio_desktop.sync.sender import Entry, Sender
from cio_desktop.sync.state import RunState
from cio_desktop.sync.summary import Problem, RunMode

# Page writes (seen members, anonymous users) go to the ledger once this many wait, and after the read.
PAGE_WRITES_FLUSH = 10 * PAGE_SIZE


class UsersPass:
    """The users pass of one run (and its deletion step), or the single send."""

    def __init__(self, state: RunState, sender: Sender, ctx: MappingContext) -> None:
        self.s = state
        self.sender = sender
        self.ctx = ctx
        # Fingerprints would not save a single send anything: it always maps and sends its person.
        self.ctx_fp = context_fingerprint(ctx) if state.mode is not RunMode.SINGLE else None
        # Mapped attributes read from the user's account: an account changes without the user's
        # updated_at changing, so their values are part of the fingerprint.
        self._account_keys = account_keys_of(ctx)
        # Set by the run when accounts go out as objects: sees each page's people in Customer.io.
        self.objects: ObjectsStep | None = None
        # Members seen (Hull ids, customer ids) and changes to the anonymous users, written to the
        # ledger a few pages at a time: each write waits for the ledger, which sender threads hold
        # while they record a request.
        self._seen: list[str] = []
        self._seen_customers: list[str] = []
        self._anon_record: dict[str, str | None] = {}
        self._anon_forget: set[str] = set()
        # Gets users back from digests (sync/read_ahead.py) while the pass reads.
        self._users = Users(None, self.ctx_fp, self._account_keys)
        # Reading processes the run started while it scanned the file (the pass takes them).
        self.early: EarlyReaders | None = None

    def run(self, segment_ids: Sequence[str] | None, *, updated_since: float | None, full: bool) -> None:
        s = self.s
        nobody = full and not segment_ids
        if nobody:
            s.say("No segments are chosen: nobody is sent (choose segments in the profile).")
        what = "users in the chosen segments" if full else "users updated since the last run"
        total = None if nobody or updated_since is not None else self._count(segment_ids)
        s.progress.phase(Phase.USERS, total=total, message=f"Reading {what}")
        packer: BatchPacker[Entry] = BatchPacker(max_ops=s.e.batch_max_ops)
        if full:
            s.ledger.begin_seen()
        members = 0
        if not nobody:
            read = self._read(segment_ids, updated_since, packer, full=full)
            if read is None:
                return
            members = read
        if full and s.users_read.clean:
            s.audience = members
        self.sender.flush(packer)
        if full and not s.dry:
            # Every member was seen: anonymous users who left the segments are not anonymous members any more.
            s.ledger.forget_anonymous_not_seen()
        if s.profile.delete_on_leave:
            # Only once every user was read, and every update of this pass is answered and recorded:
            # a partial member list, or a person whose new Hull id the ledger does not know yet,
            # would delete people still in.
            self.sender.drain()
            # Full runs also hold the hosted connector's people outside the segments (False: stopped).
            if not (full and segment_ids) or connector_deletions_step(s, self.ctx, segment_ids):
                self._deletions(packer, full=full)
        self.sender.drain()

    def _count(self, segment_ids: Sequence[str] | None) -> int | None:
        try:
            return self.s.e.source.count_users(segment_ids)
        except SourceError:
            return None

    def _read(
        self, segment_ids: Sequence[str] | None, updated_since: float | None, packer: BatchPacker[Entry], *, full: bool
    ) -> int | None:
        """Read and plan every user; how many were read, or None when the run stopped meanwhile."""
        s = self.s
        s.read_source = True
        members = 0
        source = s.e.source
        self._users = Users(
            source.users_path if isinstance(source, FileSource) else None, self.ctx_fp, self._account_keys
        )
        readers = reading_processes(source, dry=s.dry, decides=self.objects is None)
        if isinstance(source, FileSource) and readers:
            # Pages of digests from a reading process (sync/read_ahead.py): the same users, in the same order.
            closed = threading.Event()
            feed = Prefetch(
                lambda: digest_pages(
                    source,
                    segment_ids,
                    updated_since=updated_since,
                    ctx_fp=self.ctx_fp,
                    account_keys=self._account_keys,
                    page_size=PAGE_SIZE,
                    users=self._users,
                    wanted=lambda: not (s.stop.is_set() or closed.is_set()),
                    readers=readers,
                    decide=self._decide_spec(),
                    started_early=self.early,
                ),
                PAGE_SIZE,
                s.stop,
                paged=True,
                closed=closed,
            )
            digested = True
        else:
            feed = Prefetch(lambda: source.iter_users(segment_ids, updated_since=updated_since), PAGE_SIZE, s.stop)
            digested = False
        try:
            with tuned_for_pass():
                for chunk in feed:
                    if s.stopped():
                        break
                    members += len(chunk.ids) if isinstance(chunk, PageOutcome) else len(chunk)
                    self._plan_page(chunk if digested else [_digest(u) for u in chunk], packer, full=full)
                    s.save_counts()
        finally:
            feed.join()
            self._users.close()
        self._flush_page_writes()  # also when stopped: what was read stays recorded
        if s.stopped():
            return None
        self._users.verify()  # the users read again from the file were read from the same file
        s.users_read = s.e.source.read_report(Stream.USERS)
        return members

    def _decide_spec(self) -> DecideSpec | None:
        """What reading processes need to decide the pages themselves; not with accounts as objects
        (their step needs the users here)."""
        s = self.s
        if self.objects is not None:
            return None
        return DecideSpec(
            self.ctx.profile,
            dict(self.ctx.segment_names),
            dict(self.ctx.attribute_types),
            str(s.ledger.path),
            s.e.clock(),
            s.people.sample_left(),
            dry=s.dry,
        )

    def _flush_page_writes(self) -> None:
        """Write the members seen and the anonymous users' changes waiting since the last flush."""
        ledger = self.s.ledger
        if self._seen:
            ledger.mark_seen(self._seen)
        if self._seen_customers:
            ledger.mark_seen_customers(self._seen_customers)
        if self._anon_record or self._anon_forget:
            ledger.update_anonymous_users(list(self._anon_record.items()), list(self._anon_forget))
        self._seen, self._seen_customers = [], []
        self._anon_record, self._anon_forget = {}, set()

    def _plan_page(self, chunk: list[Digest] | PageOutcome, packer: BatchPacker[Entry], *, full: bool) -> None:
        """Decide a page of digests (or take a page a reading process decided, sync/decide.py), then
        record it: the run's list first (a "sent" mark never comes before its row), then what to send."""
        s = self.s
        ledger = s.ledger
        if isinstance(chunk, PageOutcome):
            out = chunk
        else:
            out = decide_page(
                chunk,
                ledger.known_with_fingerprints([d[0] for d in chunk]),
                self.ctx,
                ctx_fp=self.ctx_fp,
                account_keys=self._account_keys,
                now=s.e.clock(),
                dry=s.dry,
                objects=self.objects is not None,
                user_of=self._users.user,
                sample_left=s.people.sample_left(),
            )
        ids = out.ids
        if full:
            self._seen.extend(ids)
        s.people.add_rows(out.rows)
        s.people.add_sample(out.sample)
        for decision, fp in unship(out.send):
            self.sender.pack_person(packer, decision, fp)
        if out.refresh and not s.dry:
            ledger.set_fingerprints(out.refresh)
        ledger.defer_deletions(out.deferred)
        if full:
            self._seen_customers.extend(out.planned)
        for label, n in out.labels.items():
            s.progress.advance(n, label=label)
        if not s.dry:
            self._update_anonymous(ids, out.anonymous)
        if self.objects is not None:
            self.objects.observe(out.in_cio, out.members_only)
        if len(self._seen) + len(self._anon_record) + len(self._anon_forget) >= PAGE_WRITES_FLUSH:
            self._flush_page_writes()

    def _update_anonymous(self, ids: list[str], anonymous: dict[str, str | None]) -> None:
        """Keep the ledger's anonymous users in step with this page: members of the synced segments
        without a customerId are recorded (their events may go out anonymously), everyone else on the
        page is forgotten (they got a customerId or left the segments). Writes only what changed."""
        stored = self.s.ledger.anonymous_users(ids)
        record, forget = self._anon_record, self._anon_forget
        for h in ids:
            # (recorded, anonymous id): what the ledger holds once the waiting writes are made, and
            # what it should hold.
            if h in record:
                now: tuple[bool, str | None] = (True, record[h])
            else:
                now = (h in stored and h not in forget, stored.get(h) if h not in forget else None)
            want = (True, anonymous[h]) if h in anonymous else (False, None)
            if now == want:
                continue
            if want[0]:
                forget.discard(h)
                record[h] = want[1]
            else:
                record.pop(h, None)
                forget.add(h)

    def _deletions(self, packer: BatchPacker[Entry], *, full: bool) -> None:
        s = self.s
        s.progress.phase(Phase.DELETIONS, message="Looking for people who left the segments")

        def send(decision: Decision) -> None:
            if not s.dry:
                self.sender.pack_person(packer, decision)

        step = DeletionStep(
            ledger=s.ledger,
            ctx=self.ctx,
            run_id=s.run_id,
            now=s.e.clock(),
            full=full,
            read=s.users_read,
            audience=s.audience,
            approval=s.approval,
            dry=s.dry,
            send=send,
            count=lambda label: s.progress.advance(1, label=label),
            stopped=s.stopped,
            record=s.people.decided,
        )
        outcome = step.run()
        if outcome is None:
            return
        if outcome.withheld:
            s.withheld = outcome.withheld
            s.withheld_message = outcome.verdict.message
            s.withheld_reason = outcome.verdict.reason
            s.say(outcome.verdict.message)
        self.sender.flush(packer)

    # ------------------------------------------------------------------ the single send
    def single(self, hull_id: str) -> None:
        s = self.s
        s.progress.phase(Phase.USERS, total=1, message=f"Looking for Hull user {hull_id}")
        s.read_source = True
        found = s.e.source.get_user(hull_id)
        user = found if isinstance(found, dict) else None
        if user is None:
            s.fatal(Problem.NOT_FOUND, f"There is no Hull user with id {hull_id!r} in {s.e.source.describe()}.")
            return
        known = s.ledger.known_by_hull_id([hull_id]).get(hull_id)
        decision = plan_user(user, self.ctx, known, now=s.e.clock())
        if decision.reason is Reason.UNCHANGED and decision.person is not None:
            # A test send sends even when nothing changed: that is the point of it.
            decision = Decision(
                hull_id=decision.hull_id,
                customer_id=decision.customer_id,
                action=Action.IDENTIFY,
                reason=Reason.UNCHANGED,
                operations=(identify_operation(decision.person),),
                person=decision.person,
                message="sent again on request (unchanged since the last sync)",
            )
        if decision.action is Action.DELETE:
            # A test send never deletes: only a full or incremental run does, after a clean read of
            # the whole source and within the deletion guard.
            decision = Decision(
                decision.hull_id,
                decision.customer_id,
                Action.SKIP,
                Reason.NOT_IN_SEGMENTS,
                message="no longer in the chosen segments; a test send never deletes anyone (a sync does,"
                " once it has read every row, within the deletion guard)",
            )
        s.progress.advance(1, label=decision.label)
        s.people.decided(decision, user_line(user))
        s.say(f"{user_line(user)}: {decision.label}" + (f" ({decision.message})" if decision.message else ""))
        packer: BatchPacker[Entry] = BatchPacker(max_ops=s.e.batch_max_ops)
        if decision.operations:
            self.sender.pack_person(packer, decision)
        self.sender.flush(packer)
        self.sender.drain()


def _digest(user: HullUser) -> Digest:
    """A user read on the run's own thread: the fingerprint is worked out only when the ledger has one."""
    return (hull_id_of(user), NOT_COMPUTED, user_line(user), user)


__all__ = ["UsersPass"]
