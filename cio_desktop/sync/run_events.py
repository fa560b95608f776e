"""The events pass of a run: read the events newer than the checkpoint, plan each one, queue the sends.

Each event is registered with the run's :class:`~cio_desktop.sync.checkpoint.EventCheckpoint` in
stream order and finished once handled (sent, refused or skipped), so the checkpoint saved in the
ledger never passes an event that still has to go out. Events of a person whose own update failed in
this run are held back for the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cio_desktop.hull.source import HullEvent
from cio_desktop.sync.batching import BatchPacker
from cio_desktop.sync.checkpoint import EventCheckpoint
from cio_desktop.sync.events import event_label, plan_event
from cio_desktop.sync.ledger import Checkpoint
from cio_desktop.sync.model import EventRoute, KnownPerson, MappingContext
from cio_desktop.sync.prefetch import PAGE_SIZE, Prefetch
from cio_desktop.sync.progress import Phase
from cio_desktop.sync.run_people import Category
from cio_desktop.sync.sender import Entry, Job, Sender
from cio_desktop.sync.state import RunState

EVENT_HELD = "event held: user failed"


@dataclass
class _Page:
    """What the ledger knows about the events and people of one page of events."""

    sent: set[str]  # event ids already accepted by Customer.io
    by_hull: dict[str, KnownPerson]
    by_cid: dict[str, KnownPerson] = field(default_factory=dict)
    # Members of the synced segments without a customerId: the only users whose events may go out
    # anonymously (besides anonymous visitors, events naming no user at all).
    anonymous: dict[str, str | None] = field(default_factory=dict)


class EventsPass:
    def __init__(self, state: RunState, sender: Sender, ctx: MappingContext) -> None:
        self.s = state
        self.sender = sender
        self.ctx = ctx
        # Export files may name the user by external_id or email only: that is the customerId when the
        # profile uses that attribute.
        self.alt_key = {"external_id": "external_id", "email": "email"}.get(ctx.id_attribute)

    def run(self) -> None:
        s = self.s
        if self.sender.failed_overflow:
            s.say("Too many people failed in this run: their events are sent by the next run.")
            return
        since = s.ledger.checkpoint_float(Checkpoint.EVENTS)
        s.progress.phase(Phase.EVENTS, message="Reading new events")
        ckpt = s.event_ckpt = EventCheckpoint(since)
        packer: BatchPacker[Entry] = BatchPacker(max_ops=s.e.batch_max_ops)
        seq = 0
        s.read_source = True
        s.people.flush()  # a dry run reads its own decisions back (see _as_if_sent)
        s.events_read = True
        feed = Prefetch(lambda: s.e.source.iter_events(list(s.profile.events), since=since), PAGE_SIZE, s.stop)
        try:
            for chunk in feed:
                if s.stopped():
                    return
                seq = self._plan_page(chunk, packer, since, seq)
                s.save_counts()
        finally:
            feed.join()
        if s.stopped():
            return
        ckpt.stream_done()
        self.sender.flush(packer)
        self.sender.drain()
        s.save_event_checkpoint(force=True)

    def _lookup(self, chunk: list[HullEvent]) -> _Page:
        ledger = self.s.ledger
        page = _Page(
            sent=ledger.sent_event_ids(e.event_id for e in chunk),
            by_hull=ledger.known_by_hull_id(e.user_id for e in chunk if e.user_id),
        )
        alt_key = self.alt_key
        if alt_key is not None:
            page.by_cid = ledger.known_by_customer_id(
                getattr(e, alt_key) for e in chunk if not e.user_id and getattr(e, alt_key)
            )
        if self.s.profile.anonymous_events:
            page.anonymous = ledger.anonymous_users(e.user_id for e in chunk if e.user_id)
        if self.s.dry:
            self._as_if_sent(page, [e.user_id for e in chunk if e.user_id])
        return page

    def _as_if_sent(self, page: _Page, hull_ids: list[str]) -> None:
        """A dry run (a plan) sent nobody, yet the run it plans sends its people before their events:
        count the events as that run would, from this run's decisions (created or updated people are
        synced, deleted ones are not, members without a customerId may go out anonymously)."""
        s = self.s
        if s.run_id is None:
            return
        for hid, (category, cid) in s.ledger.run_people_decisions(s.run_id, hull_ids).items():
            if category in (Category.CREATE, Category.UPDATE):
                page.by_hull[hid] = KnownPerson(cid, hid)
            elif category is Category.DELETE:
                page.by_hull.pop(hid, None)
            elif category is Category.SKIP and not cid and s.profile.anonymous_events:
                page.anonymous.setdefault(hid, None)

    def _identity(self, event: HullEvent, page: _Page) -> tuple[str | None, str | None, bool]:
        """The event's person as Customer.io may know them: (customerId, anonymous id, may be anonymous)."""
        known = page.by_hull.get(event.user_id) if event.user_id else None
        if known is None and self.alt_key is not None and not event.user_id:
            known = page.by_cid.get(getattr(event, self.alt_key))
        customer_id = known.customer_id if known is not None and known.deleted_at is None else None
        if event.user_id:
            return customer_id, page.anonymous.get(event.user_id), event.user_id in page.anonymous
        # A user named by external_id or email has an identity; never send them anonymously.
        return customer_id, None, not (event.external_id or event.email)

    def _plan_page(self, chunk: list[HullEvent], packer: BatchPacker[Entry], since: float | None, seq: int) -> int:
        s = self.s
        ckpt = s.event_ckpt
        assert ckpt is not None
        page = self._lookup(chunk)
        failed_hull_ids = self.sender.failed_hull_ids
        labels: dict[str, int] = {}
        for event in chunk:
            customer_id, anonymous_id, anonymous_allowed = self._identity(event, page)
            ckpt.add(seq, event.created_at)
            if event.user_id and event.user_id in failed_hull_ids:
                # The user's own update failed this run: keep the event for the next run.
                labels[EVENT_HELD] = labels.get(EVENT_HELD, 0) + 1
                ckpt.finish(seq, ok=False)
                seq += 1
                continue
            decision = plan_event(
                event,
                self.ctx,
                customer_id=customer_id,
                anonymous_id=anonymous_id,
                already_sent=event.event_id in page.sent,
                checkpoint=since,
                anonymous_allowed=anonymous_allowed,
            )
            label = event_label(decision)
            labels[label] = labels.get(label, 0) + 1
            if decision.operation is not None and not s.dry:
                entry = Entry(event=decision, seq=seq, hull_id=event.user_id)
                if decision.route is EventRoute.V1_ANONYMOUS:
                    self.sender.submit(Job([], anonymous=entry))
                else:
                    batch = packer.add(decision.operation, entry)
                    if batch is not None:
                        self.sender.submit(Job(list(batch.items), body=batch.body))
            else:
                # Skipped events are handled; in a dry run nothing is, so the checkpoint stays.
                ckpt.finish(seq, ok=not s.dry)
            seq += 1
        for label, n in labels.items():
            s.progress.advance(n, label=label)
        s.save_event_checkpoint()
        return seq
