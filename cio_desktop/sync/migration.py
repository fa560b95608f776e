"""Moving over from Hull's hosted connector: find the people it created who left the segments.

The hosted connector marked everyone it created with ``customerio/created_at`` (and ``customerio/id``,
the identifier it used). A full run reads only the members of the chosen segments, and this laptop's
ledger never saw the connector's people, so someone who left the segments while the connector ran,
or since, would never be deleted. With deletion on, a full run therefore also reads the people
outside the segments who carry ``customerio/created_at`` and no ``customerio/deleted_at``:

- Hull API: one search on the trait (:meth:`HullApiSource.iter_connector_created`);
- export files: every row, keeping those outside the segments; no row at all when the file's
  metadata shows nobody outside them carries the mark (:meth:`FileSource.iter_connector_created`);
- any other source without that search: every row.

Each is planned like any user (:func:`~cio_desktop.sync.planner.plan_user`: deleted as
``customerio/id``; without a usable one nobody is deleted, the id is never guessed) and held with the
run's other deletions, so the deletion guard counts them all before anyone is deleted: a read that
lost rows, or too many deletions, withholds them like any other.
People the ledger knows are left to it (it deletes them by its own record); so is anyone once deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cio_desktop.hull.source import HullUser, ReadReport, Stream, UserSource
from cio_desktop.sync.deletions import defer_row
from cio_desktop.sync.ledger import Ledger
from cio_desktop.sync.model import TRAIT_CREATED_AT, TRAIT_DELETED_AT, TRAIT_ID, Action, MappingContext
from cio_desktop.sync.planner import plan_user
from cio_desktop.sync.progress import Phase
from cio_desktop.sync.state import RunState

_PAGE = 500


def _outside(user: HullUser, segments: frozenset[str]) -> bool:
    ids = user.get("segment_ids")
    return not (isinstance(ids, list) and any(isinstance(s, str) and s in segments for s in ids))


def _marked(user: HullUser) -> bool:
    return user.get(TRAIT_CREATED_AT) not in (None, "") and user.get(TRAIT_DELETED_AT) in (None, "")


def connector_created_outside(source: UserSource, segment_ids: Sequence[str]) -> Iterator[HullUser]:
    """Users outside ``segment_ids`` marked as created in Customer.io and not deleted."""
    search: Callable[[Sequence[str]], Iterator[HullUser]] | None = getattr(source, "iter_connector_created", None)
    segments = frozenset(segment_ids)
    users = search(segment_ids) if search is not None else source.iter_users(None)
    # The search already filters; checking again costs little and keeps members safe from any source.
    return (u for u in users if _outside(u, segments) and _marked(u))


def _pages(users: Iterator[HullUser]) -> Iterator[list[HullUser]]:
    page: list[HullUser] = []
    for user in users:
        page.append(user)
        if len(page) >= _PAGE:
            yield page
            page = []
    if page:
        yield page


@dataclass(frozen=True)
class ConnectorDeletions:
    """What the look outside the segments found: deletions held, people left alone because their
    ``customerio/id`` is missing or unusable (never guessed), and what the read could not use."""

    held: int
    no_id: int
    read: ReadReport


def defer_connector_deletions(
    source: UserSource,
    ledger: Ledger,
    ctx: MappingContext,
    segment_ids: Sequence[str],
    *,
    now: float,
    stopped: Callable[[], bool],
) -> ConnectorDeletions | None:
    """Hold a delete for each person the hosted connector created who is outside the segments and
    unknown to the ledger, addressed by its ``customerio/id``. None when the run stopped meanwhile."""
    found = no_id = 0
    for page in _pages(connector_created_outside(source, segment_ids)):
        if stopped():
            return None
        hids = [str(u.get("id") or "") for u in page]
        known_h = ledger.known_by_hull_id([h for h in hids if h])
        known_c = ledger.known_by_customer_id([c for c in map(_trait_id, page) if c])
        rows: list[tuple[str, str, str, bool]] = []
        for user, hid in zip(page, hids, strict=True):
            trait_id = _trait_id(user)
            if hid in known_h or trait_id in known_c:
                continue  # the ledger's own record decides (it may have deleted them already)
            if trait_id is None:
                no_id += 1  # whom the connector created under which id is unknown: delete nobody
                continue
            decision = plan_user(user, ctx, None, now=now)
            if decision.action is Action.DELETE:
                rows.append(defer_row(decision, known=False))
        ledger.defer_deletions(rows)
        found += len(rows)
    if stopped():
        return None
    return ConnectorDeletions(found, no_id, source.read_report(Stream.USERS))


def _trait_id(user: HullUser) -> str | None:
    value = user.get(TRAIT_ID)
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def connector_deletions_step(s: RunState, ctx: MappingContext, segment_ids: Sequence[str]) -> bool:
    """A full run's look for the hosted connector's people who left the segments, before its deletion
    step; a read that lost rows becomes the run's users read, so the guard withholds every deletion.
    False when the run stopped meanwhile."""
    s.progress.phase(
        Phase.DELETIONS, message="Looking for people Hull's hosted connector created who left the segments"
    )
    result = defer_connector_deletions(s.e.source, s.ledger, ctx, segment_ids, now=s.e.clock(), stopped=s.stopped)
    if result is None:
        return False
    if result.held:
        s.say(
            f"{_people(result.held)} created in Customer.io by Hull's hosted connector left the chosen"
            " segments (the deletion guard decides whether they are deleted)."
        )
    if result.no_id:
        s.say(
            f"{_people(result.no_id)} outside the chosen segments carry customerio/created_at but no usable"
            " customerio/id, so cio-desktop cannot tell whom to delete in Customer.io: left alone."
        )
    if s.users_read.clean and not result.read.clean:
        s.users_read = result.read
    return True


def _people(n: int) -> str:
    return f"{n:,} {'person' if n == 1 else 'people'}"


__all__ = ["ConnectorDeletions", "connector_created_outside", "connector_deletions_step", "defer_connector_deletions"]
