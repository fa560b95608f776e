"""What a real run sends crosses the pipe from a reading process packed (decide.ship) and comes back as the
decision the reading process made (decide.unship): same operations, same bytes sent, same ledger record."""

from __future__ import annotations

import pickle
from typing import Any

from cio_desktop.sync.batching import BatchPacker
from cio_desktop.sync.decide import ship, unship
from cio_desktop.sync.mapping import identify_operation
from cio_desktop.sync.model import Action, Decision, MappedPerson, Reason
from cio_desktop.sync.sender import Entry, _person_write
from tests.unit.test_sync_planner import created, plan, user


def _across(send: list[tuple[Any, str | None]]) -> list[tuple[Decision, str | None]]:
    """Through the pipe, as a reading process sends a page (pickled) and the run reads it."""
    return unship(pickle.loads(pickle.dumps(ship(send), pickle.HIGHEST_PROTOCOL)))


def test_a_new_person_comes_back_as_decided_and_sends_the_same_bytes() -> None:
    decision = plan(user(**{"traits_clearbit/given_name": "Zoë 张"}), write_back=True)
    assert decision.action is Action.IDENTIFY and decision.person is not None and decision.traits
    [(back, fp)] = _across([(decision, "f" * 16)])
    assert fp == "f" * 16
    assert back.operations == decision.operations and back.traits == decision.traits
    assert (back.hull_id, back.customer_id, back.action, back.reason, back.message) == (
        decision.hull_id,
        decision.customer_id,
        decision.action,
        decision.reason,
        decision.message,
    )
    assert back.person is not None
    assert back.person.wire == decision.person.wire and back.person.payload_hash == decision.person.payload_hash
    assert back.person.attributes == decision.person.attributes
    assert back.operations[0]["attributes"] is back.person.attributes, "the packer sends the person's bytes"
    # What goes out and what the ledger keeps are the same as for the decision made in the run's process.
    packers: list[BatchPacker[Entry]] = [BatchPacker(), BatchPacker()]
    for packer, d in zip(packers, (decision, back), strict=True):
        assert d.person is not None
        packer.add(d.operations[0], Entry(person=d), d.person.wire)
    bodies = [p.flush() for p in packers]
    assert bodies[0] is not None and bodies[1] is not None and bodies[0].body == bodies[1].body
    assert _person_write(back, "f" * 16) == _person_write(decision, "f" * 16)


def test_a_merge_keeps_its_merge_for_the_later_request() -> None:
    decision = plan(user(external_id="u-2"), created("u-1"))
    assert decision.action is Action.MERGE and len(decision.operations) == 2
    [(back, _fp)] = _across([(decision, None)])
    assert back.operations == decision.operations and back.previous_customer_id == "u-1"
    assert _person_write(back) == _person_write(decision)


def test_an_integer_past_64_bits_comes_back_exactly() -> None:
    big = 2**70 + 1
    decision = plan(user(**{"traits_clearbit/given_name": big}))
    assert decision.person is not None and str(big).encode() in decision.person.wire
    [(back, _fp)] = _across([(decision, None)])
    assert back.person is not None and back.person.attributes == decision.person.attributes
    assert back.operations == decision.operations


def test_a_decision_that_is_not_a_plain_identify_goes_as_it_is() -> None:
    person = MappedPerson("h1", "c1", {"id": "c1"}, {"email": "a@example.com"}, "0" * 16, wire=b"")
    unencoded = Decision("h1", "c1", Action.IDENTIFY, Reason.NEW, (identify_operation(person),), person)
    delete = Decision("h2", "c2", Action.DELETE, Reason.LEFT_SEGMENTS, ({"type": "person", "action": "delete"},))
    shipped = ship([(unencoded, None), (delete, "x")])
    assert shipped[0][0] is unencoded and shipped[1][0] is delete, "no bytes to send: nothing to pack"
    assert [d for d, _ in _across([(unencoded, None), (delete, "x")])] == [unencoded, delete]
