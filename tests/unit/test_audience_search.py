"""Searching the whole audience: who is found, as a stream, bounded, cancellable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.sync.audience_search import SearchUpdate, search_audience, user_matcher
from cio_desktop.sync.engine import SyncEngine
from cio_desktop.sync.ledger import Ledger
from tests.unit.test_engine_pipeline import OTHER, FakeSource, make_user, profile


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def _engine(users: list[dict], ledger: Ledger, **kw: object) -> SyncEngine:
    return SyncEngine(profile(**kw), FakeSource(users), ledger, None)


def test_a_user_matches_on_id_external_id_email_name_or_the_customerid_attribute_ignoring_case() -> None:
    user = make_user(7) | {"name": "Jane Doe", "traits_crm_id": "CRM-42"}
    assert user_matcher("jane", "external_id")(user)
    assert user_matcher("USER7@EXAMPLE", "external_id")(user)
    assert user_matcher("ext-7", "external_id")(user)
    assert user_matcher(user["id"][-6:], "external_id")(user)
    assert user_matcher("crm-42", "traits_crm_id")(user)
    assert not user_matcher("crm-42", "external_id")(user)  # only the chosen customerId attribute is searched
    assert not user_matcher("free", "external_id")(user)  # other attributes are not


def test_search_finds_a_member_far_past_the_first_rows_and_plans_only_the_matches(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(5000)] + [make_user(90000, segments=(OTHER,))]
    updates: list[SearchUpdate] = []
    last = search_audience(_engine(users, ledger), "user4987@", updates.append)
    assert last.done and not last.truncated
    assert [r.decision.hull_id for r in last.matches] == [make_user(4987)["id"]]
    assert last.matches[0].label == "identify (new)" and last.matches[0].payload
    assert last.scanned == 5000  # every member read, the non-member never
    # The match was reported as soon as it was planned, before the end.
    first = next(u for u in updates if u.matches)
    assert not first.done


def test_nonmembers_are_not_found(ledger: Ledger) -> None:
    users = [make_user(1), make_user(2, segments=(OTHER,))]
    assert search_audience(_engine(users, ledger), "user2@", lambda u: None).matches == ()


def test_a_vague_query_stops_at_the_match_limit_and_says_so(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(300)]
    last = search_audience(_engine(users, ledger), "example.com", lambda u: None, max_matches=50)
    assert last.truncated and last.done
    assert len(last.matches) == 50


def test_a_cancelled_search_stops_without_a_final_update(ledger: Ledger) -> None:
    users = [make_user(i) for i in range(3000)]
    cancel = threading.Event()
    updates: list[SearchUpdate] = []

    def on_update(update: SearchUpdate) -> None:
        updates.append(update)
        cancel.set()  # the user typed something else after the first match

    last = search_audience(_engine(users, ledger), "example.com", on_update, cancel=cancel)
    assert not last.done
    assert len(updates) == 1 and not updates[0].done
    assert len(last.matches) == 1 and last.scanned < 3000
