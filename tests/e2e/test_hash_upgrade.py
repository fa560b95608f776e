"""End to end: a ledger written before the payload hash changed kind resends nobody.

Versions before ``v2:`` hashes hashed the standard library's sorted ASCII JSON of
``[identifiers, attributes]`` and stored the attributes as the standard library's compact JSON. A
new version also changes every source fingerprint (they include the program's version), so each
person is mapped again and compared by payload hash: the old kind must still count as "already sent".
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

import pytest

from cio_desktop.sandbox import Sandbox
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.ledger import RunStatus

pytestmark = pytest.mark.e2e


def _old_hash(customer_id: str, attributes: dict[str, Any]) -> str:
    """The hash as the earlier versions computed it (written out here, independently of the code)."""
    canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode
    material = f"[{canonical({'id': customer_id})},{canonical(attributes)}]"
    return hashlib.blake2b(material.encode("ascii"), digest_size=8).hexdigest()


def _rewrite_as_before(path: str) -> int:
    """Turn the ledger into what the earlier version wrote for the same sync; how many people."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT customer_id, attributes FROM people WHERE attributes IS NOT NULL").fetchall()
        conn.executemany(
            "UPDATE people SET payload_hash=?, attributes=?, source_fp=NULL WHERE customer_id=?",
            [
                (_old_hash(cid, json.loads(attrs)), json.dumps(json.loads(attrs), separators=(",", ":")), cid)
                for cid, attrs in rows
            ],
        )
    return len(rows)


def test_people_synced_by_the_earlier_version_are_unchanged_after_the_upgrade() -> None:
    with Sandbox(users=400, seed=15) as sandbox:
        profile = sandbox.demo_profile().replace(write_back=False, events=())
        with demo_services(sandbox, profile=profile) as services:
            first = services.engine().run(RunMode.FULL)
            assert first.status is RunStatus.COMPLETED and first.people_sent > 200
            path = str(services.ledger.path)
        assert _rewrite_as_before(path) == first.people_sent

        with demo_services(sandbox, profile=profile) as services:
            before = sandbox.cio_request_count().get("POST /api/v2/batch", 0)
            again = services.engine().run(RunMode.FULL)
            assert again.status is RunStatus.COMPLETED
            assert again.requests == 0 and again.counts.get("skip: unchanged") == first.people_sent
            assert sandbox.cio_request_count().get("POST /api/v2/batch", 0) == before
        with sqlite3.connect(path) as conn:
            kinds = {h[:3] for (h,) in conn.execute("SELECT payload_hash FROM people")}
            fingerprints = conn.execute("SELECT COUNT(*) FROM people WHERE source_fp IS NULL").fetchone()[0]
        # Upgraded on the way: the next runs compare the new kind (and skip by fingerprint).
        assert kinds == {"v2:"} and fingerprints == 0
