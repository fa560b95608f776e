"""What the users pass needs of each user before it asks the ledger (pure, Qt-free, cheap to import).

A *digest* of a user is ``(hull id, material fingerprint, line, user)``:

- the Hull id as text (the ledger's key);
- the **material fingerprint** (:func:`material_fp`): a short hash of what a person's payload is made
  of (the sync settings' fingerprint, Hull's ``updated_at``, the user's segments and the account values
  the mappings read). A person whose stored fingerprint equals it is unchanged without being mapped
  again. ``None`` when the user has no update time to the second; :data:`NOT_COMPUTED` when the pass
  computes it only if the ledger holds a fingerprint to compare with;
- one line that tells a person who this user is (:func:`user_line`);
- the user itself, or its pickled bytes when a reading process made the digest
  (:mod:`~cio_desktop.sync.read_ahead`): the run unpickles only the people it must map.

The same functions run in the run's process and in the reading process, so both give the same digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from cio_desktop import __version__
from cio_desktop.hull.source import HullUser
from cio_desktop.sync.mapping import parse_date
from cio_desktop.sync.model import MappingContext

# A user updated less than this long ago is always mapped again (see UsersPass.fingerprint).
FINGERPRINT_SETTLE_S = 300.0

# Not a hex fingerprint, so it never equals a stored one: "work it out when there is one to compare".
NOT_COMPUTED = "\x00later"

# (Hull id, material fingerprint, line, the user or its pickled bytes)
Digest = tuple[str, str | None, str, Any]

# Profile settings that do not change what a person's payload is.
_NOT_IN_PAYLOAD = frozenset(
    {
        "name",
        "concurrency",
        "rate_limit",
        "webhook_public_url",
        "webhook_listen",
        "endpoints",
        "events",
        "deletion_guard_percent",
        "deletion_guard_max",
        "objects",  # accounts go out as objects in their own step (sync/objects_step.py)
    }
)

# Hours, minutes and seconds in an update time's text: a date alone, or a time to the minute, would let
# two changes within that day or minute look the same to the fingerprint.
_SECONDS = re.compile(r"\d:\d\d:\d\d")


def hull_id_of(user: HullUser) -> str:
    """The user's Hull id as text ("" when it has none)."""
    i = user.get("id", "")
    return i if type(i) is str else str(i)


def to_the_second(updated: object) -> bool:
    """Whether ``updated`` (a user's ``updated_at``) tells changes apart to the second: epoch numbers
    do, and text that holds a time with seconds."""
    if isinstance(updated, bool) or updated is None:
        return False
    if isinstance(updated, int | float):
        return True
    if (
        type(updated) is str  # ISO 8601 with seconds, the common case, without the regular expression
        and len(updated) >= 19
        and updated[13] == ":"
        and updated[16] == ":"
        and updated[11:13].isdecimal()  # what \d matches
        and updated[14:16].isdecimal()
        and updated[17:19].isdecimal()
    ):
        return True
    return isinstance(updated, str) and (_SECONDS.search(updated) is not None or updated.strip().isdigit())


def material_fp(ctx_fp: str | None, account_keys: tuple[str, ...], user: HullUser) -> str | None:
    """The user's material fingerprint under the settings fingerprint ``ctx_fp`` (None: no fingerprint,
    the person is always mapped). ``account_keys``: the account values the mappings read."""
    if ctx_fp is None:
        return None
    updated = user.get("updated_at")
    if not to_the_second(updated):  # also for fingerprints stored before this check existed
        return None
    segments = user.get("segment_ids")
    if not isinstance(segments, list):
        seg_text = ""
    else:
        try:
            seg_text = ",".join(segments)
        except TypeError:  # odd input: the ids that are text
            seg_text = ",".join(s for s in segments if isinstance(s, str))
    text = f"{ctx_fp}|{updated}|{seg_text}"
    if account_keys:
        account = user.get("account")
        values = [account.get(k) for k in account_keys] if isinstance(account, dict) else None
        text += f"|{values!r}"  # any value; a different order of an object's keys only maps again
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def settled_fp(
    ctx_fp: str | None, account_keys: tuple[str, ...], user: HullUser, now: float, material: str | None = NOT_COMPUTED
) -> str | None:
    """The fingerprint to store for ``user`` (``material``: its :func:`material_fp`, when already worked
    out), or None (always map): no update time to the second, or an update less than
    :data:`FINGERPRINT_SETTLE_S` ago (two changes within one clock tick would look the same)."""
    if material is NOT_COMPUTED:
        material = material_fp(ctx_fp, account_keys, user)
    if material is None:
        return None
    ts = parse_date(user.get("updated_at"))
    if ts is None or ts > now - FINGERPRINT_SETTLE_S:
        return None
    return material


def user_line(user: HullUser) -> str:
    """One line that tells a person who this user is: name, email and Hull id."""
    name = user.get("name")
    email = user.get("email")
    parts = [str(name)] if isinstance(name, str) and name else []
    if isinstance(email, str) and email:
        parts.append(f"<{email}>")
    parts.append(f"(Hull id {user.get('id', '?')})")
    return " ".join(parts)


def context_fingerprint(ctx: MappingContext) -> str:
    """Everything besides the user's own data that shapes a payload: settings, segment names,
    attribute types, and this program's version (a new mapping may send differently)."""
    settings = {k: v for k, v in ctx.profile.to_dict().items() if k not in _NOT_IN_PAYLOAD}
    material = json.dumps(
        [__version__, settings, dict(ctx.segment_names), dict(ctx.attribute_types)],
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(material.encode(), digest_size=8).hexdigest()


def account_keys_of(ctx: MappingContext) -> tuple[str, ...]:
    """Mapped attributes read from the user's account: an account changes without the user's
    ``updated_at`` changing, so their values are part of the fingerprint."""
    return tuple(dict.fromkeys(f.account_key for f in ctx.fields if f.account_key is not None))


__all__ = [
    "FINGERPRINT_SETTLE_S",
    "NOT_COMPUTED",
    "Digest",
    "account_keys_of",
    "context_fingerprint",
    "hull_id_of",
    "material_fp",
    "settled_fp",
    "to_the_second",
    "user_line",
]
