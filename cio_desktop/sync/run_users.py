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
from cio_desktop.sync.deletions import DeletionStep, defer_row
from cio_desktop.sync.digest import (
    FINGERPRINT_SETTLE_S,
    NOT_COMPUTED,
    Digest,
    account_keys_of,
    context_fingerprint,
    hull_id_of,
    material_fp,
    user_line,
)
from cio_desktop.sync.mapping import identify_operation, parse_date
from cio_desktop.sync.migration import connector_deletions_step
from cio_desktop.sync.model import Action, Decision, MappingContext, Reason
from cio_desktop.sync.objects_step import ObjectsStep
from cio_desktop.sync.pass_tuning import tuned_for_pass
from cio_desktop.sync.planner import plan_user
from cio_desktop.sync.prefetch import PAGE_SIZE, Prefetch
from cio_desktop.sync.progress import Phase
from cio_desktop.sync.read_ahead import Users, digest_pages, reading_processes
from cio_desktop.sync.run_people import Category
from cio_desktop.sync.sender import Entry, Sender
from cio_desktop.sync.state import RunState
from cio_desktop.sync.summary import Problem, RunMode

# Skips of users who are not members of the chosen segments (their account has no member in them).
_NOT_MEMBERS = frozenset({Reason.NOT_IN_SEGMENTS, Reason.LEFT_SEGMENTS})
# Page writes (seen members, anonymous users) go to the ledger once this many wait, and after the read.
PAGE_WRITES_FLUSH = 10 * PAGE_SIZE
UNCHANGED_LABEL = Decision("", None, Action.SKIP, Reason.UNCHANGED).label
UNCHANGED_WHY = "same data as the last sync"
_UNCHANGED = Category.UNCHANGED.value


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
        readers = reading_processes(source, dry=s.dry)
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
                    members += len(chunk)
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

    def _plan_page(self, chunk: list[Digest], packer: BatchPacker[Entry], *, full: bool) -> None:
        s = self.s
        ledger = s.ledger
        ids = [d[0] for d in chunk]
        known = ledger.known_with_fingerprints(ids)
        if full:
            self._seen.extend(ids)
        now = s.e.clock()
        labels: dict[str, int] = {}
        refresh: list[tuple[str, str | None, str | None]] = []
        deferred: list[tuple[str, str, str, bool]] = []
        planned: list[str] = []  # customer ids of members (never counted as gone, see mark_seen_customers)
        anonymous: dict[str, str | None] = {}  # Hull id -> first anonymous id, members without customerId
        in_cio: list[tuple[HullUser, str]] = []  # people who are (or stay) in Customer.io, for the objects step
        # Other members (skipped: no email, invalid...): their account still has a member, so the objects
        # step never deletes it, though it relates nobody to it.
        members_only: list[HullUser] = []
        same: list[tuple[str, str, str, str, str, str]] = []  # the unchanged people's rows of the run's list
        objects = self.objects is not None
        for digest in chunk:
            hid, material, line, packed = digest
            kp, stored_fp = known.get(hid, (None, None))
            if stored_fp is not None and kp is not None and kp.deleted_at is None:
                if material is NOT_COMPUTED:
                    material = material_fp(self.ctx_fp, self._account_keys, packed)
                if material == stored_fp:
                    # Same Hull data and settings as when Customer.io accepted them: no need to map again.
                    if objects:
                        in_cio.append((self._users.user(digest), kp.customer_id))
                    same.append((hid, kp.customer_id, _UNCHANGED, UNCHANGED_LABEL, UNCHANGED_WHY, line))
                    continue
            user = self._users.user(digest)
            # A plan stores nothing: the fingerprint of someone the ledger does not know would go unused.
            fp = self.fingerprint(user, now, material) if kp is not None or not s.dry else None
            decision = plan_user(user, self.ctx, kp, now=now)
            if decision.action is not Action.DELETE:  # deletions are listed by the deletion step
                s.people.decided(decision, line)
            if decision.action is Action.DELETE:
                # Counted, guarded and sent (or withheld) by the deletion step, once every user was read.
                deferred.append(defer_row(decision, known=kp is not None))
                continue
            labels[decision.label] = labels.get(decision.label, 0) + 1
            sent_or_kept = decision.action is not Action.SKIP or decision.reason is Reason.UNCHANGED
            if decision.customer_id:
                planned.append(decision.customer_id)
                if sent_or_kept:
                    in_cio.append((user, decision.customer_id))
            if not (decision.customer_id and sent_or_kept) and decision.reason not in _NOT_MEMBERS:
                members_only.append(user)
            if decision.reason is Reason.NO_CUSTOMER_ID and hid:
                anonymous[hid] = decision.person.anonymous_id if decision.person else None
            if decision.operations:
                if not s.dry:
                    self.sender.pack_person(packer, decision, fp)
            elif (
                decision.reason is Reason.UNCHANGED
                and kp is not None
                and decision.customer_id == kp.customer_id
                and decision.person is not None
                and (fp != stored_fp or decision.person.payload_hash != kp.payload_hash)
            ):
                # Found unchanged the slow way: store the fingerprint (and the hash in this version's
                # kind, when the ledger held an older one) so the next run knows it cheaply.
                refresh.append((kp.customer_id, fp, decision.person.payload_hash))
        if refresh and not s.dry:
            ledger.set_fingerprints(refresh)
        ledger.defer_deletions(deferred)
        if full:
            self._seen_customers.extend(planned)
        if same:
            s.people.add_rows(same)
            labels[UNCHANGED_LABEL] = labels.get(UNCHANGED_LABEL, 0) + len(same)
        for label, n in labels.items():
            s.progress.advance(n, label=label)
        if not s.dry:
            self._update_anonymous(ids, anonymous)
        if self.objects is not None:
            self.objects.observe(in_cio, members_only)
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

    def fingerprint(self, user: HullUser, now: float, material: str | None = NOT_COMPUTED) -> str | None:
        """What the person's payload is made of, cheaply (:func:`~cio_desktop.sync.digest.material_fp`,
        given as ``material`` when already worked out): the sync settings (``self.ctx_fp``), Hull's
        ``updated_at`` and the user's segments. None (always map) without an update time, or when the
        update is recent: two changes within one clock tick would look the same."""
        if material is NOT_COMPUTED:
            material = material_fp(self.ctx_fp, self._account_keys, user)
        if material is None:
            return None
        ts = parse_date(user.get("updated_at"))
        if ts is None or ts > now - FINGERPRINT_SETTLE_S:
            return None
        return material

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


__all__ = ["FINGERPRINT_SETTLE_S", "UsersPass", "context_fingerprint", "user_line"]
