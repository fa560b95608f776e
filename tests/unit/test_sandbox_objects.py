"""Customer.io objects in the sandbox: identify, relationships from both sides, delete, and the
answers a strict workspace gives (unknown object type, missing object, identifier limits)."""

from __future__ import annotations

from typing import Any

import pytest

from cio_desktop.sandbox import Sandbox
from tests.unit.test_sandbox_customerio import Track, identify


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(users=10, seed=1)


@pytest.fixture
def track(sb: Sandbox) -> Track:
    return Track(sb)


def obj(object_id: str, action: str = "identify", type_id: Any = "1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "identifiers": {"object_type_id": type_id, "object_id": object_id},
        "action": action,
        **extra,
    }


def person_rel(pid: str, object_id: str, action: str = "add_relationships") -> dict[str, Any]:
    rel = {"identifiers": {"object_type_id": "1", "object_id": object_id}}
    return {"type": "person", "identifiers": {"id": pid}, "action": action, "cio_relationships": [rel]}


def objects(sb: Sandbox) -> dict[str, dict[str, Any]]:
    return {o["object_id"]: o for o in sb.cio.objects_detail()}


def test_an_object_is_created_updated_and_related_to_people(sb: Sandbox, track: Track) -> None:
    status, _ = track.batch(
        [
            identify("p1", email="p1@example.com"),
            identify("p2", email="p2@example.com"),
            obj("acme.com", attributes={"name": "Acme", "plan": "pro"}),
            person_rel("p1", "acme.com"),
            obj("acme.com", "add_relationships", cio_relationships=[{"identifiers": {"email": "p2@example.com"}}]),
        ]
    )
    assert status == 200
    track.batch([obj("acme.com", attributes={"plan": "enterprise", "name": None})])
    acme = objects(sb)["acme.com"]
    assert acme["attributes"] == {"plan": "enterprise"}  # null removes an attribute, as for people
    assert acme["people"] == ["p1", "p2"]


def test_numeric_type_ids_are_accepted_and_unknown_types_refused_per_operation(sb: Sandbox, track: Track) -> None:
    status, body = track.batch([obj("a", type_id=1), obj("b", type_id="7"), obj("c", type_id="accounts")])
    assert status == 207
    errors = {e["batch_index"]: e for e in body["errors"]}
    assert set(errors) == {1, 2}
    assert "object type 7 does not exist" in errors[1]["message"]
    assert errors[2]["message"] == "object_type_id must be a numeric id"
    assert set(objects(sb)) == {"a"}


def test_a_relationship_to_an_object_that_does_not_exist_is_refused(sb: Sandbox, track: Track) -> None:
    status, body = track.batch([identify("p1"), person_rel("p1", "ghost.com")])
    assert status == 207
    assert body["errors"][0]["batch_index"] == 1 and body["errors"][0]["reason"] == "not_found"
    assert sb.cio.objects_detail() == []


def test_object_ids_over_150_bytes_and_missing_people_are_refused(sb: Sandbox, track: Track) -> None:
    status, body = track.batch(
        [
            obj("x" * 151),
            obj("ok.com"),
            obj("ok.com", "add_relationships", cio_relationships=[{"identifiers": {"id": "nobody"}}]),
            obj("ok.com", "add_relationships", cio_relationships=[]),
        ]
    )
    assert status == 207
    assert [(e["batch_index"], e["reason"]) for e in body["errors"]] == [
        (0, "too_long"),
        (2, "not_found"),
        (3, "required"),
    ]


def test_deleting_an_object_removes_its_relationships_and_is_recorded(sb: Sandbox, track: Track) -> None:
    track.batch([identify("p1"), obj("acme.com"), person_rel("p1", "acme.com")])
    assert track.batch([obj("acme.com", "delete")])[0] == 200
    assert sb.cio.objects_detail() == []
    person = next(p for p in sb.cio.people_detail() if p["key"] == "p1")
    assert person["relationships"] == []
    assert [d["object_id"] for d in sb.cio.object_deletions()] == ["acme.com"]
    status, body = track.batch([obj("acme.com", "delete")])
    assert status == 207 and body["errors"][0]["reason"] == "not_found"


def test_removing_a_relationship_from_the_person_side(sb: Sandbox, track: Track) -> None:
    track.batch([identify("p1"), obj("a.com"), obj("b.com"), person_rel("p1", "a.com")])
    track.batch([person_rel("p1", "a.com", "delete_relationships"), person_rel("p1", "b.com")])
    assert objects(sb)["a.com"]["people"] == [] and objects(sb)["b.com"]["people"] == ["p1"]


def test_the_objects_inspection_endpoint_is_paged_like_the_others(sb: Sandbox, track: Track) -> None:
    track.batch([obj(f"o{i}.com") for i in range(3)])
    reply = sb.dispatch("GET", "/_sandbox/cio/objects?page=1&per_page=2", {}, b"")
    assert reply.status == 200
    assert b"o0.com" in reply.body and b"o2.com" not in reply.body
