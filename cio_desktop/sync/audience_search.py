"""Search the whole audience (every member of the chosen segments) for a person, as a stream.

The Preview loads only the first users of the segments; a marketer looking for "jane@acme.com" needs
the whole audience. :func:`search_audience` reads the source once, keeps the users whose Hull id,
external_id, email, name or customerId contains the query, and plans only those (the engine's
preview with a ``match`` filter). Matches are reported as they are found; memory stays bounded: at
most ``max_matches`` rows are kept, after which the search stops and says there were more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cio_desktop.hull.source import HullUser
from cio_desktop.sync.engine import PreviewRow, SyncEngine
from cio_desktop.sync.mapping import read_attribute

# Enough to scroll through; a query matching more is too vague to be a search for someone.
MAX_MATCHES = 1000
# The fields a person is found by (plus the profile's customerId attribute).
SEARCHED_FIELDS = ("id", "external_id", "email", "name")
# Between matches, say how far the search got every this many users read.
PROGRESS_EVERY = 2000


@dataclass(frozen=True)
class SearchUpdate:
    """Where a search stands: users read so far, every match so far (in source order), whether it
    ended (``done``) and whether it stopped early because more than ``max_matches`` matched."""

    scanned: int
    matches: tuple[PreviewRow, ...]
    done: bool = False
    truncated: bool = False


def user_matcher(query: str, id_attribute: str) -> Callable[[HullUser], bool]:
    """A case-insensitive "contains" test of ``query`` against the searched fields of a user."""
    needle = query.strip().casefold()
    fields = SEARCHED_FIELDS if id_attribute in SEARCHED_FIELDS else (*SEARCHED_FIELDS, id_attribute)
    nested = tuple(k for k in fields if k.startswith("account."))  # read from the account object

    def matches(user: HullUser) -> bool:
        # Called for every member of the audience: plain lookups, no allocation beyond casefold.
        if not needle:
            return True
        for key in fields:
            value = user.get(key)
            if value is None and key in nested:
                value = read_attribute(user, key)
            if type(value) is str:
                if needle in value.casefold():
                    return True
            elif type(value) is int and needle in str(value):
                return True
        return False

    return matches


def search_audience(
    engine: SyncEngine,
    query: str,
    on_update: Callable[[SearchUpdate], None],
    *,
    cancel: threading.Event | None = None,
    max_matches: int = MAX_MATCHES,
) -> SearchUpdate:
    """Stream the audience of ``engine``'s profile; call ``on_update`` with each new match (and
    between matches as pages are read, so a long search shows that it is moving). Returns the last
    update (``done`` unless cancelled)."""
    stop = cancel or threading.Event()
    wanted = user_matcher(query, engine.profile.customer_id_attribute)
    scanned = 0
    found: list[PreviewRow] = []

    def match(user: HullUser) -> bool:
        nonlocal scanned
        scanned += 1
        if scanned % PROGRESS_EVERY == 0:
            on_update(SearchUpdate(scanned, tuple(found)))
        return wanted(user)

    for row in engine.iter_preview(cancel=stop, match=match):
        if stop.is_set():
            break
        if len(found) >= max_matches:
            update = SearchUpdate(scanned, tuple(found), done=True, truncated=True)
            on_update(update)
            return update
        found.append(row)
        on_update(SearchUpdate(scanned, tuple(found)))
    if stop.is_set():
        return SearchUpdate(scanned, tuple(found))
    update = SearchUpdate(scanned, tuple(found), done=True)
    on_update(update)
    return update


__all__ = ["MAX_MATCHES", "SearchUpdate", "search_audience", "user_matcher"]
