"""A run's objects step: Hull accounts as Customer.io objects, and each person's relationship to theirs.

While the users pass plans each page, :meth:`ObjectsStep.observe` notes the account of every person
who is (or stays) in Customer.io: one row per account, one per person, in the ledger's temp tables.
After the users pass (every identify answered and recorded, deletions done), :meth:`ObjectsStep.run`:

1. identifies each account seen once, however many of its people the run read; an object whose
   hash matches what Customer.io accepted before is not sent (unchanged = no request);
2. adds each person's relationship to their account's object, moves it when their account changed
   (delete the old, add the new), removes it when they have no account any more; people deleted in
   this run lose theirs with them, as in Customer.io. A relationship waits when its object is not in
   Customer.io (refused or invalid): it is added by the run that gets the object in;
3. with ``objects.delete_objects`` on, in a full run, deletes the objects this tool created that no
   member belongs to any more, under the same deletion guard as people (clean read, thresholds,
   ``--allow-deletions N``); withheld object deletions make the run ``deletions_withheld``.

Requests go out from the run's own thread in batches of the usual limits; a 207 fails exactly the
operations it names, which stay out of the ledger and are sent again by the next run. The ledger only
records what Customer.io accepted, so a killed run resumes without duplicates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cio_desktop.hull.source import HullUser
from cio_desktop.net.errors import Cancelled, RejectedError
from cio_desktop.sync.batching import Batch, BatchPacker
from cio_desktop.sync.guard import GuardInput, WithheldReason, check_deletions
from cio_desktop.sync.ledger import ErrorWrite
from cio_desktop.sync.model import MappingContext
from cio_desktop.sync.objects import (
    RelationshipChange,
    account_of,
    map_object,
    object_delete_operation,
    object_id_of,
)
from cio_desktop.sync.progress import Phase
from cio_desktop.sync.state import RunState, Stop
from cio_desktop.sync.validation import describe

log = logging.getLogger(__name__)

OBJECT_UNCHANGED = "object unchanged"
RELATIONSHIP_UNCHANGED = "relationship unchanged"
RELATIONSHIP_WAITING = "relationship waiting: account not in Customer.io"
# The run's sentence about object deletions the guard held back (the plan tells it from the people's).
OBJECTS_WITHHELD_PREFIX = "Object deletions withheld: "
OBJECT_DELETE_LABEL = "object delete (no member left)"


@dataclass(slots=True)
class _Tag:
    kind: str  # "object", "delete" or "relationship"
    key: str  # object id, or customer id
    value: str | None = None  # object hash, or the relationship's new object id
    ops: int = 1  # operations of this change (a moved relationship has two)
    # A relationship change the plan counts as one (added, removed or moved): what "relationships sent"
    # counts, so a run's number is its plan's. The removal a waiting relationship still sends is not one.
    counted: bool = True
    answered: int = 0  # of its operations Customer.io answered so far (they may span requests)
    failed: list[str] = field(default_factory=list)


class ObjectsStep:
    """Objects and relationships of one run (see the module docstring)."""

    def __init__(self, state: RunState, ctx: MappingContext, *, full: bool) -> None:
        self.s = state
        self.ctx = ctx
        self.settings = state.profile.objects
        self.full = full
        self.type_id = self.settings.type_id
        self._planned: set[str] = set()  # dry runs: objects this run would identify
        # The account keys an object is made of: the mapped attributes and the identifier.
        self._keys = {m.hull[len("account.") :] for m in self.settings.mappings}
        self._keys.add(self.settings.identifier[len("account.") :])
        state.ledger.begin_objects()

    # ------------------------------------------------------------------ during the users pass
    def observe(self, people: Sequence[tuple[HullUser, str]], members: Sequence[HullUser] = ()) -> None:
        """From one page: (user, customer id) of people who are or stay in Customer.io (their account is
        identified and they are related to it), and other members read (skipped: their account is only
        kept from deletion)."""
        accounts: dict[str, tuple[str, int]] = {}  # object id -> (account JSON, 1 when related)
        rows = [(cid, self._note(accounts, user, related=1)) for user, cid in people]
        for user in members:
            self._note(accounts, user, related=0)
        self.s.ledger.observe_objects([(oid, text, rel) for oid, (text, rel) in accounts.items()], rows)

    def _note(self, accounts: dict[str, tuple[str, int]], user: HullUser, *, related: int) -> str | None:
        """Note the user's account (a related sighting wins over a members-only one); its object id."""
        account = account_of(user)
        oid = object_id_of(account, self.settings)
        if oid is not None and account is not None and (related or oid not in accounts):
            kept = {k: account[k] for k in self._keys if k in account}
            accounts[oid] = (json.dumps(kept, sort_keys=True, default=str), related)
        return oid

    # ------------------------------------------------------------------ after the users pass
    def run(self) -> None:
        s = self.s
        # The source cannot count this step; the accounts noted while reading people give its likely size.
        s.progress.phase(
            Phase.OBJECTS,
            expected=s.ledger.objects_step_size(),
            message="nothing is sent: counting the accounts Customer.io would receive"
            if s.dry
            else "Sending accounts as Customer.io objects",
        )
        try:
            if not s.dry:
                s.ledger.forget_relationships_of_deleted()
            self._objects()
            if s.stopped():
                return
            self._relationships()
            if s.stopped():
                return
            if self.full and self.settings.delete_objects and s.profile.delete_on_leave:
                self._deletions()
        except Cancelled:
            raise Stop from None
        finally:
            s.ledger.end_objects()

    def _objects(self) -> None:
        s = self.s
        packer: BatchPacker[_Tag] = BatchPacker(max_ops=s.e.batch_max_ops)
        errors: list[ErrorWrite] = []
        for oid, account_json, stored_hash, deleted_at in s.ledger.seen_objects(self.type_id):
            if s.stopped():
                return
            mapped = map_object(json.loads(account_json), oid, self.settings)
            if not mapped.valid:
                s.progress.advance(1, label="object skip: invalid")
                errors.append(ErrorWrite("object_invalid", f"account {oid}: {describe(mapped.violations)}"))
                continue
            if stored_hash == mapped.payload_hash and deleted_at is None:
                s.progress.advance(1, label=OBJECT_UNCHANGED)
                continue
            new = stored_hash is None or deleted_at is not None
            s.progress.advance(1, label="object identify (new)" if new else "object identify (changed)")
            if s.dry:
                self._planned.add(oid)
                continue
            op: dict[str, Any] = json.loads(mapped.wire)
            self._add(packer, _Tag("object", oid, mapped.payload_hash), [op], mapped.wire)
        self._flush(packer)
        self._errors(errors)

    def _relationships(self) -> None:
        s = self.s
        packer: BatchPacker[_Tag] = BatchPacker(max_ops=s.e.batch_max_ops)
        unchanged = s.ledger.relationships_unchanged()
        if unchanged:
            s.progress.advance(unchanged, label=RELATIONSHIP_UNCHANGED)
        for cid, old_type, old_oid, new_oid in s.ledger.relationship_changes(self.type_id, include_unknown=s.dry):
            if s.stopped():
                return
            waiting = new_oid is not None and not self._object_in_customerio(new_oid)
            change = RelationshipChange(cid, old_oid, None if waiting else new_oid)
            if waiting:
                # It still removes the old relationship when there is one (one operation to send).
                removes = old_oid is not None and old_oid != new_oid
                s.progress.advance(1, label=RELATIONSHIP_WAITING, sending=int(removes))
                if old_oid is None or old_oid == new_oid:
                    continue
            else:
                s.progress.advance(1, label=change.label)
            if s.dry:
                continue
            ops = change.operations(self.ctx.id_key, self.type_id, old_type)
            self._add(packer, _Tag("relationship", cid, change.new, ops=len(ops), counted=not waiting), ops)
        self._flush(packer)

    def _object_in_customerio(self, object_id: str) -> bool:
        return object_id in self._planned or self.s.ledger.object_present(self.type_id, object_id)

    def _deletions(self) -> None:
        s = self.s
        count = sum(1 for _ in s.ledger.objects_not_seen(self.type_id))
        if count == 0:
            return
        created = s.ledger.created_objects_count(self.type_id)
        verdict = check_deletions(
            GuardInput(
                deletions=count,
                created=created,
                read=s.users_read,
                percent=s.profile.deletion_guard_percent,
                max_count=s.profile.deletion_guard_max,
                # Only a count approved for this run's deletions as such (--allow-deletions N) applies to
                # objects: a History list names people, and a confirmed plan counts people.
                approval=s.approval
                if s.approval is not None and s.approval.from_run is None and not s.approval.planned
                else None,
                full=True,
            )
        )
        planned = s.approval.objects if s.approval is not None and s.approval.planned else None
        if s.withheld:
            # People's deletions were held back: those people are still in Customer.io, and the accounts
            # seen this run do not include theirs, so any of these objects may still have members.
            why = (
                f"{count:,} account objects would be deleted, but this run held back people's deletions and"
                " those people may still belong to them; they go with the first run whose deletions go through"
            )
        elif verdict.reason is WithheldReason.INCOMPLETE_READ:
            why = f"{s.users_read.describe_loss()}; fix the file or run again"
        elif planned is not None and count > planned:
            # The plan bounds how many objects go, as it does people (it lists objects by count only).
            why = (
                f"{count:,} account objects would be deleted, more than the {planned:,} in the plan you confirmed;"
                " plan again to see them"
            )
        elif verdict.allowed:
            why = ""
        else:
            why = (
                f"the deletion guard holds back deleting {count:,} of the {created:,} account objects this tool"
                f" created; run `cio-desktop sync --full --allow-deletions {count}` to approve"
            )
        if why:
            s.objects_withheld = count
            s.objects_withheld_message = f"{OBJECTS_WITHHELD_PREFIX}{why}."
            s.progress.advance(count, label=f"withheld: {OBJECT_DELETE_LABEL}")
            s.say(s.objects_withheld_message)
            return
        packer: BatchPacker[_Tag] = BatchPacker(max_ops=s.e.batch_max_ops)
        for oid in list(s.ledger.objects_not_seen(self.type_id)):
            s.progress.advance(1, label=OBJECT_DELETE_LABEL)
            if not s.dry:
                self._add(packer, _Tag("delete", oid), [object_delete_operation(self.type_id, oid)])
        self._flush(packer)

    # ------------------------------------------------------------------ sending
    def _add(self, packer: BatchPacker[_Tag], tag: _Tag, ops: list[dict[str, Any]], wire: bytes | None = None) -> None:
        for op in ops:
            batch = packer.add(op, tag, wire if len(ops) == 1 else None)
            if batch is not None:
                self._send(batch)

    def _flush(self, packer: BatchPacker[_Tag]) -> None:
        batch = packer.flush()
        if batch is not None:
            self._send(batch)

    def _send(self, batch: Batch[_Tag]) -> None:
        s = self.s
        track = s.e.track
        if track is None or s.stopped():
            return
        try:
            result = track.batch(batch.operations, cancel=s.cancel, body=batch.body)
            answers = []
            for i, (tag, _op) in enumerate(batch.items):
                # A 200 answers nothing per operation: every one was accepted.
                r = result.results[i] if i < len(result.results) else None
                answers.append((tag, r is None or r.ok, "" if r is None else r.message or r.reason))
        except RejectedError as exc:
            if len(batch) > 1:
                # Customer.io refused the whole request: find the operation it refuses, one by one (their
                # answers settle its operations, not this one).
                s.progress.answered(0)
                for tag, op in batch.items:
                    single: BatchPacker[_Tag] = BatchPacker(max_ops=1)
                    one = single.add(op, tag) or single.flush()
                    if one is not None:
                        self._send(one)
                return
            answers = [(batch.items[0][0], False, str(exc))]
        with s.lock:
            s.object_requests += 1
        s.progress.answered(len(batch))  # the time left counts a request once answered
        self._record(answers)

    def _record(self, answers: list[tuple[_Tag, bool, str]]) -> None:
        """Record the changes whose every operation is now answered (accepted, or the first refusal)."""
        s = self.s
        done: dict[int, _Tag] = {}
        for tag, ok, message in answers:
            tag.answered += 1
            if not ok:
                tag.failed.append(message or "refused by Customer.io")
            if tag.answered == tag.ops:
                done[id(tag)] = tag
        identified: list[tuple[str, str]] = []
        deleted: list[str] = []
        related: list[tuple[str, str | None]] = []
        errors: list[ErrorWrite] = []
        sent_objects = sent_relationships = 0
        for tag in done.values():
            if tag.failed:
                s.progress.fail()
                what = "account" if tag.kind != "relationship" else "relationship of"
                who = tag.key if tag.kind == "relationship" else ""
                errors.append(ErrorWrite(f"{tag.kind}_failed", f"{what} {tag.key}: {tag.failed[0]}", customer_id=who))
                continue
            if tag.kind == "object":
                identified.append((tag.key, tag.value or ""))
                sent_objects += 1
            elif tag.kind == "delete":
                deleted.append(tag.key)
                sent_objects += 1
            else:
                related.append((tag.key, tag.value))
                sent_relationships += tag.counted  # one per person's relationship change, as planned
        if identified or deleted:
            s.ledger.record_objects(self.type_id, identified, deleted)
        if related:
            s.ledger.record_relationships(self.type_id, related)
        with s.lock:
            s.objects_sent += sent_objects
            s.relationships_sent += sent_relationships
        self._errors(errors)

    def _errors(self, errors: list[ErrorWrite]) -> None:
        s = self.s
        if errors and s.run_id is not None and not s.dry:
            s.ledger.record_errors(s.run_id, errors)
        if errors:
            s.sample_errors(e.message for e in errors)


__all__ = [
    "OBJECTS_WITHHELD_PREFIX",
    "OBJECT_UNCHANGED",
    "RELATIONSHIP_UNCHANGED",
    "RELATIONSHIP_WAITING",
    "ObjectsStep",
]
