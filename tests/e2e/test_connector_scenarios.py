"""The hosted connector's own scenarios, replayed through the export-file source against the sandbox's
Customer.io over loopback, with the reference user:update message (tests/fixtures/connector): its
settings were customerId = email, no extra attributes, one whitelisted segment and the event "page"."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.profile import FileSourceSettings, SegmentRef, SourceKind
from cio_desktop.sandbox import Sandbox
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.ledger import RunStatus
from cio_desktop.sync.summary import RunSummary

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "connector"
MESSAGE = json.loads((FIXTURES / "user_update_message.json").read_text("utf-8"))
HASHES = json.loads((FIXTURES / "object_hash_reference.json").read_text("utf-8"))["hashes"]
EMAIL = MESSAGE["user"]["email"]
PAGE_URL = MESSAGE["events"][0]["properties"]["url"]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(users=10, seed=1) as sb:
        yield sb


def replay(sb: Sandbox, tmp_path: Path, *, segment: int = 0, **user_changes: Any) -> RunSummary:
    """One full sync of the reference user (and its page view) as Hull export files."""
    user = copy.deepcopy(MESSAGE["user"])
    user["segments"] = [{"id": s["id"], "name": s["name"]} for s in MESSAGE["segments"]]
    user.update(user_changes)
    users = tmp_path / "users.jsonl"
    events = tmp_path / "events.jsonl"
    users.write_text(json.dumps(user) + "\n", "utf-8")
    events.write_text(json.dumps(MESSAGE["events"][0]) + "\n", "utf-8")
    chosen = MESSAGE["segments"][segment]
    profile = sb.demo_profile().replace(
        source=SourceKind.FILES,
        files=FileSourceSettings(str(users), str(events)),
        segments=(SegmentRef(chosen["id"], chosen["name"]),),
        customer_id_attribute="email",
        mappings=(),
        events=("page",),
        write_back=False,
    )
    with demo_services(sb, profile=profile) as services:
        return services.engine().run(RunMode.FULL)


def test_insert_sends_the_person_by_email_and_the_page_view_as_a_page_named_by_its_url(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    summary = replay(sandbox, tmp_path)
    assert summary.status is RunStatus.COMPLETED and summary.counts.get("identify (new)") == 1
    person = sandbox.cio_people()[EMAIL]
    assert person["created_at"] == 1520954477
    assert person["hull_segments"] == sorted(s["name"] for s in MESSAGE["segments"])
    [event] = sandbox.cio_events()
    assert (event["type"], event["name"]) == ("page", PAGE_URL)
    assert event["data"] == MESSAGE["events"][0]["properties"]


def test_a_person_the_connector_synced_and_who_did_not_change_is_not_sent_again(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    traits = {
        "traits_customerio/id": EMAIL,
        "traits_customerio/created_at": 1520954477,
        "traits_customerio/hash": HASHES["connector_customer_email_only"],
    }
    summary = replay(sandbox, tmp_path, **traits)
    assert summary.status is RunStatus.COMPLETED
    assert summary.counts.get("skip: unchanged") == 1 and summary.people_sent == 0
    assert sandbox.cio_people() == {}


def test_a_person_outside_the_whitelisted_segment_is_skipped(sandbox: Sandbox, tmp_path: Path) -> None:
    user = copy.deepcopy(MESSAGE["user"])
    outside = [s for s in user["segment_ids"] if s != MESSAGE["segments"][0]["id"]]
    summary = replay(sandbox, tmp_path, segment_ids=outside, segments=[])
    assert summary.status is RunStatus.COMPLETED and summary.people_sent == 0
    assert sandbox.cio_people() == {} and sandbox.cio_events() == []
