"""End to end: the engine against the sandbox over real loopback sockets.

Afterwards the sandbox's Customer.io must hold exactly the eligible people with exactly their mapped
attributes, no one else, and each whitelisted event of a synced person exactly once, whatever
happened on the way (faults, a cancel, a killed process).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.sandbox import Sandbox
from cio_desktop.sync.engine import Problem, RunMode
from cio_desktop.sync.events import event_action, sent_name
from cio_desktop.sync.factory import Services, demo_services, open_services
from cio_desktop.sync.ledger import Checkpoint, RunStatus, ledger_path
from cio_desktop.sync.model import Action, Reason
from cio_desktop.sync.planner import plan_user
from tests.e2e.engine_env_keyring import RecordingKeyring

pytestmark = pytest.mark.e2e


@dataclass
class Expected:
    people: dict[str, dict[str, Any]]  # customer id -> attributes as Customer.io stores them
    events: Counter[tuple[str, str, int]]  # (customer id, name, timestamp)


def expected_state(services: Services) -> Expected:
    """What a correct sync leaves in Customer.io, computed from the Hull data before syncing."""
    engine = services.engine()
    ctx = engine.context()
    profile = services.profile
    people: dict[str, dict[str, Any]] = {}
    by_hull: dict[str, str] = {}
    for user in services.source.iter_users(profile.segment_ids):
        d = plan_user(user, ctx, None, now=0.0)
        if d.action in (Action.IDENTIFY, Action.MERGE) or d.reason is Reason.UNCHANGED:
            assert d.person is not None and d.customer_id is not None
            # Customer.io drops null and empty-text attributes.
            people[d.customer_id] = {k: v for k, v in d.person.attributes.items() if v is not None and v != ""}
            by_hull[d.person.hull_id] = d.customer_id
    events: Counter[tuple[str, str, int]] = Counter()
    for ev in services.source.iter_events(list(profile.events)):
        cid = by_hull.get(ev.user_id)
        if cid is not None:
            # A page view is named by its URL in Customer.io.
            events[(cid, sent_name(ev, event_action(ev.name, ev.event_type)), int(ev.created_at // 1))] += 1
    return Expected(people, events)


def assert_cio_matches(sb: Sandbox, expected: Expected) -> None:
    people = sb.cio_people()
    assert set(people) == set(expected.people), "Customer.io holds exactly the eligible people"
    for cid, attrs in expected.people.items():
        assert people[cid] == attrs, f"attributes of {cid}"
    events = sb.cio_events()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "no event twice"
    got = Counter((e["person"]["id"], e["name"], e["timestamp"]) for e in events if e["person"])
    assert got == expected.events
    assert all(e["person"] for e in events), "no anonymous events unless enabled"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(users=600, seed=7) as sb:
        yield sb


def open_demo(sb: Sandbox, **changes: Any) -> Services:
    # Write-back off unless a test is about it: it keeps the Hull side out of the way.
    changes.setdefault("write_back", False)
    return demo_services(sb, profile=sb.demo_profile().replace(**changes))


def test_full_sync_leaves_exactly_the_eligible_people_and_each_event_once(sandbox: Sandbox) -> None:
    with open_demo(sandbox, write_back=True) as services:
        expected = expected_state(services)
        assert len(expected.people) > 100 and sum(expected.events.values()) > 100
        summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.COMPLETED and summary.failed == 0
        assert summary.people_sent == len(expected.people)
        assert_cio_matches(sandbox, expected)

        before = sandbox.cio_request_count().get("POST /api/v2/batch", 0)
        again = services.engine().run(RunMode.FULL)
        assert again.requests == 0
        assert sandbox.cio_request_count().get("POST /api/v2/batch", 0) == before
        unchanged = {"skip: unchanged", "object unchanged", "relationship unchanged"}
        assert set(again.counts) <= unchanged | {"skip: no customerId", "skip: no email", "skip: invalid"} | {
            k for k in again.counts if k.startswith("event skip")
        }
        quiet = services.engine().run(RunMode.INCREMENTAL)
        assert quiet.requests == 0 and quiet.duration_s < 2.0


def test_write_back_gives_each_person_sent_their_customerio_traits_in_hull(sandbox: Sandbox) -> None:
    with open_demo(sandbox, write_back=True) as services:
        summary = services.engine().run(RunMode.FULL)
        assert services.hull_writer is not None and services.hull_writer.failed == 0
        traits = {
            item["user_id"]: item["body"] for item in sandbox.hull_received() if "customerio/hash" in item["body"]
        }
        assert len(traits) == summary.people_sent
        known = services.ledger.known_by_hull_id(traits)
        for hull_id, body in traits.items():
            assert body["customerio/id"] == known[hull_id].customer_id
            assert body["customerio/hash"] == known[hull_id].payload_hash
            assert body["customerio/synced_at"]
            # Created now, or earlier by Hull's hosted connector (whose trait stays).
            assert body.get("customerio/created_at") or sandbox.user(hull_id).get("traits_customerio/created_at")


def test_faults_on_every_service_end_in_the_same_state(sandbox: Sandbox) -> None:
    for api in ("cio_track", "hull", "firehose"):
        sandbox.set_faults(api, rate_5xx=0.10, rate_429=0.05, drop_rate=0.05, seed=11)
    with open_demo(sandbox) as services:
        sandbox.set_faults("hull")  # the expectation is computed without faults
        expected = expected_state(services)
        sandbox.set_faults("hull", rate_5xx=0.10, rate_429=0.05, drop_rate=0.05, seed=12)
        summary = services.engine(batch_max_ops=40).run(RunMode.FULL)
        assert summary.status is RunStatus.COMPLETED, summary.message
        assert summary.failed == 0
        # Faults did happen: Customer.io saw more requests than the engine needed (the retries).
        assert sandbox.request_counts()["cio_track"] > summary.requests > 20
    assert_cio_matches(sandbox, expected)


def test_people_who_leave_the_segments_are_deleted_and_come_back(sandbox: Sandbox) -> None:
    with open_demo(sandbox, delete_on_leave=True) as services:
        services.engine().run(RunMode.FULL)
        seg_ids = set(services.profile.segment_ids)
        member = next(u for u in services.source.iter_users(services.profile.segment_ids) if u.get("external_id"))
        others = [s for s, _n, _c in sandbox.segments() if s not in seg_ids]
        sandbox.set_user_segments(member["id"], others[:1])
        cid = services.ledger.known_by_hull_id([member["id"]])[member["id"]].customer_id
        summary = services.engine().run(RunMode.FULL)
        assert summary.counts.get("delete (left the segments)") == 1
        assert cid not in sandbox.cio_people()
        sandbox.set_user_segments(member["id"], sorted(seg_ids))
        back = services.engine().run(RunMode.INCREMENTAL)
        assert back.counts.get("identify (new)") == 1
        assert cid in sandbox.cio_people()


def test_an_event_customer_io_refuses_is_reported_and_the_rest_is_delivered(sandbox: Sandbox) -> None:
    with open_demo(sandbox) as services:
        member = next(u for u in services.source.iter_users(services.profile.segment_ids) if u.get("external_id"))
        # A Hull event dated before 1970: Customer.io refuses negative timestamps (a 207 for that one operation).
        sandbox.add_event(member["id"], "Signed Up", created_at=-100.0, event_id="bad-event")
        summary = services.engine().run(RunMode.FULL)
        assert summary.failed == 1
        [error] = services.ledger.run_errors(summary.run_id or 0)
        assert error.kind == "rejected" and "bad-event" in error.message and error.field == "timestamp"
        assert all(e["timestamp"] >= 0 for e in sandbox.cio_events())
        assert services.ledger.sent_event_ids(["bad-event"]) == set()
        events_before = len(sandbox.cio_events())
        again = services.engine().run(RunMode.FULL)
        assert again.events_sent == 0 and len(sandbox.cio_events()) == events_before


def test_cancel_stops_cleanly_and_the_next_run_finishes_the_work(sandbox: Sandbox) -> None:
    sandbox.set_faults("cio_track", latency_ms=150)
    with open_demo(sandbox, concurrency=1) as services:
        sandbox.set_faults("cio_track")
        expected = expected_state(services)
        sandbox.set_faults("cio_track", latency_ms=150)
        cancel = threading.Event()
        threading.Timer(0.4, cancel.set).start()
        first = services.engine(batch_max_ops=40).run(RunMode.FULL, cancel=cancel)
        assert first.status is RunStatus.CANCELLED
        assert services.ledger.runs()[0].status is RunStatus.CANCELLED
        sandbox.set_faults("cio_track")
        second = services.engine().run(RunMode.FULL)
        assert second.status is RunStatus.COMPLETED
        assert first.people_sent + second.people_sent == len(expected.people)
    assert_cio_matches(sandbox, expected)


def _ledger_people(path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM people").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.posix_only  # SIGKILL
def test_sync_killed_mid_run_resumes_without_resending_or_duplicating() -> None:
    with Sandbox(users=2500, seed=5) as sb:
        _killed_and_resumed(sb)


def _killed_and_resumed(sandbox: Sandbox) -> None:
    profile: Profile = sandbox.demo_profile("Killed").replace(concurrency=1, write_back=False)
    ProfileStore().save(profile)
    recorder = RecordingKeyring()
    secrets = SecretStore(recorder)
    for key, value in sandbox.credentials.secrets().items():
        secrets.set(profile.name, SecretKey(key), value)
    with demo_services(sandbox, profile=profile) as services:
        expected = expected_state(services)
    # Slow Customer.io down so the run is still going when it is killed.
    sandbox.set_faults("cio_track", latency_ms=400)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, **recorder.env(), "PYTHONPATH": str(repo)}
    child = subprocess.Popen(
        [sys.executable, "-m", "cio_desktop", "sync", "--profile", profile.name, "--full"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    path = ledger_path(profile.name)
    deadline = time.monotonic() + 60
    while _ledger_people(path) == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, child.communicate()
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    sandbox.set_faults("cio_track")
    accepted_before = _ledger_people(path)
    assert 0 < accepted_before < len(expected.people)

    saved = ProfileStore().load(profile.name)
    with demo_services(sandbox, profile=saved) as services:
        assert services.ledger.runs()[0].status is RunStatus.INTERRUPTED
        resumed = services.engine().run(RunMode.FULL)
        assert resumed.status is RunStatus.COMPLETED
        # What the killed run got accepted is not sent again.
        assert resumed.people_sent == len(expected.people) - accepted_before
        assert services.ledger.checkpoint(Checkpoint.EVENTS) is not None
    assert_cio_matches(sandbox, expected)


def test_refused_credentials_fail_the_run_with_a_message_saying_what_to_fix(sandbox: Sandbox) -> None:
    profile = sandbox.demo_profile().replace(write_back=False)
    for key, expected_problem in (("hull_secret", "Hull refused"), ("cio_api_key", "Site ID")):
        secrets = SecretStore.in_memory()
        for name, value in sandbox.credentials.secrets().items():
            secrets.set(profile.name, SecretKey(name), "wrong-" + value if name == key else value)
        with open_services(profile, secrets) as services:
            summary = services.engine().run(RunMode.FULL)
        assert summary.status is RunStatus.FAILED
        assert summary.problem is Problem.CREDENTIALS
        assert expected_problem in summary.message
        assert "wrong-" not in summary.message
    assert sandbox.cio_people() == {}
