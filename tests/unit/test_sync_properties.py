"""Property tests: the pure core never raises on JSON-like input and never emits an operation over a limit."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_desktop.config.profile import AttributeMapping, Profile, SegmentRef
from cio_desktop.customerio.sizes import dumps
from cio_desktop.hull.source import HullEvent
from cio_desktop.sync.batching import BatchPacker
from cio_desktop.sync.events import plan_event
from cio_desktop.sync.mapping import map_user
from cio_desktop.sync.model import Action, EventReason, KnownPerson, MappingContext
from cio_desktop.sync.planner import plan_missing, plan_user
from cio_desktop.sync.ulid import event_ulid, ulid_timestamp_ms

SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

WIDE = tuple(f"traits_w/f{i}" for i in range(305))
POOL = (
    "traits_a/name",
    "traits_a/seen_at",
    "traits_a/score",
    "traits_a/tags",
    "traits_a/obj",
    "traits_a/typed_date",
    "account.domain",
    "id",
    "name",
)

bad_text = st.sampled_from(["\ud800", "ok \udfff", "😀", "é" * 400, "x" * 1001, " ", ""])
text = st.text(max_size=20) | st.text(min_size=900, max_size=1100) | bad_text
dates = st.sampled_from(["2018-03-30T14:38:02Z", "2018-03-30 14:38:02 UTC", "2018-03-30", "soon", "1522420682000"])
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text | dates
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | bad_text, inner, max_size=4),
    max_leaves=12,
)
segment_ids = st.lists(st.sampled_from(["s1", "s2", "s9"]) | st.integers() | st.none(), max_size=4)


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    u: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "id": st.text(max_size=30) | json_like,
                "email": st.emails() | json_like,
                "external_id": st.text(max_size=40) | st.integers() | json_like,
                "created_at": dates | json_like,
                "segment_ids": segment_ids | json_like,
                "anonymous_ids": st.lists(st.text(max_size=10) | json_like, max_size=3) | json_like,
                "account": st.dictionaries(st.sampled_from(["id", "domain"]), json_like) | json_like,
                "traits_customerio/id": st.text(max_size=10) | json_like,
                "traits_customerio/created_at": dates | json_like,
                "traits_customerio/deleted_at": dates | json_like,
                "traits_customerio/hash": st.text(max_size=16) | json_like,
                **{key: json_like for key in POOL},
            },
        )
    )
    if draw(st.booleans()):
        filler = draw(scalars)
        u.update(dict.fromkeys(WIDE, filler))
    return u


@st.composite
def contexts(draw: st.DrawFn) -> MappingContext:
    keys = draw(st.lists(st.sampled_from(POOL), unique=True))
    mappings = [AttributeMapping(k, k.replace("traits_", "").replace("/", "-").replace(".", "_")) for k in keys]
    if draw(st.booleans()):
        mappings += [AttributeMapping(k, k.replace("traits_w/", "w_")) for k in WIDE]
    profile = Profile(
        name="p",
        segments=tuple(SegmentRef(s, s) for s in draw(st.lists(st.sampled_from(["s1", "s2"]), unique=True))),
        customer_id_attribute=draw(st.sampled_from(["external_id", "id", "email", "traits_a/name", "account.domain"])),
        mappings=tuple(mappings),
        send_nulls=draw(st.booleans()),
        require_email=draw(st.booleans()),
        delete_on_leave=draw(st.booleans()),
        write_back=draw(st.booleans()),
        anonymous_events=draw(st.booleans()),
        events=("Signed Up", "page"),
    )
    return MappingContext(profile, {"s1": "One", "s2": "Two", "s9": "Nine"}, {"traits_a/typed_date": "date"})


known_people = st.none() | st.builds(
    KnownPerson,
    customer_id=st.text(max_size=20) | bad_text,
    hull_id=st.text(max_size=5),
    payload_hash=st.none() | st.text(max_size=16),
    created_at=st.none() | st.floats(allow_nan=False),
    deleted_at=st.none() | st.floats(allow_nan=False),
)


def utf8(value: str) -> int:
    return len(value.encode("utf-8"))  # raises on lone surrogates: those must never reach an operation


def assert_within_limits(op: dict[str, Any]) -> None:
    assert len(dumps(op)) <= 32_000  # also proves the operation is valid JSON and valid UTF-8
    for ident in [op.get("identifiers"), op.get("primary"), op.get("secondary")]:
        if ident is not None:
            ((_key, value),) = ident.items()
            assert isinstance(value, str) and 0 < utf8(value) <= 150
    if op["action"] == "identify":
        attributes = op["attributes"]
        assert len(attributes) <= 300
        for name, value in attributes.items():
            assert 0 < utf8(name) <= 150
            if isinstance(value, str):
                assert utf8(value) <= 1000
            elif isinstance(value, list | dict):
                assert len(dumps(value)) <= 1000
            elif isinstance(value, float):
                assert math.isfinite(value)


@SETTINGS
@given(user=users(), ctx=contexts(), known=known_people)
def test_planning_never_raises_and_never_emits_an_operation_over_a_limit(
    user: dict[str, Any], ctx: MappingContext, known: KnownPerson | None
) -> None:
    map_user(user, ctx)
    decision = plan_user(user, ctx, known, now=1_700_000_000.0)
    if decision.action is Action.SKIP:
        assert decision.operations == ()
    else:
        assert decision.operations
    for op in decision.operations:
        assert_within_limits(op)
    if known is not None:
        for op in plan_missing(known, ctx, now=1_700_000_000.0).operations:
            assert_within_limits(op)


@SETTINGS
@given(user=users(), ctx=contexts())
def test_mapping_is_deterministic(user: dict[str, Any], ctx: MappingContext) -> None:
    a = map_user(user, ctx)
    b = map_user(dict(reversed(list(user.items()))), ctx)
    assert a.payload_hash == b.payload_hash
    assert a.violations == b.violations


@SETTINGS
@given(
    ctx=contexts(),
    name=st.sampled_from(["Signed Up", "page", "Other"]),
    created_at=st.floats(),
    properties=st.dictionaries(st.text(max_size=8) | bad_text, json_like, max_size=6),
    event_type=st.sampled_from(["track", "page", "screen", "weird"]),
    customer_id=st.none() | st.text(min_size=1, max_size=40),
    anonymous_id=st.none() | st.text(max_size=20) | bad_text,
    checkpoint=st.none() | st.floats(allow_nan=False),
)
def test_event_planning_never_raises_and_never_emits_an_operation_over_a_limit(
    ctx: MappingContext,
    name: str,
    created_at: float,
    properties: dict[str, Any],
    event_type: str,
    customer_id: str | None,
    anonymous_id: str | None,
    checkpoint: float | None,
) -> None:
    e = HullEvent("ev", name, created_at, event_type=event_type, properties=properties)
    d = plan_event(e, ctx, customer_id=customer_id, anonymous_id=anonymous_id, checkpoint=checkpoint)
    if d.reason in (EventReason.SEND, EventReason.SEND_ANONYMOUS):
        assert d.operation is not None
        body = dumps(d.operation)
        assert len(body) <= 32_000
        assert len(dumps(d.operation.get("attributes", d.operation.get("data")))) <= 100_000
        assert utf8(d.operation["name"]) <= 100
        assert isinstance(d.operation["timestamp"], int)
    else:
        assert d.operation is None


@settings(max_examples=200, deadline=None)
@given(event_id=st.text(), created_at=st.floats(min_value=0, max_value=2**47 / 1000))
def test_event_ulids_are_deterministic_and_carry_the_event_time(event_id: str, created_at: float) -> None:
    a = event_ulid(event_id, created_at)
    assert a == event_ulid(event_id, created_at)
    assert len(a) == 26 and a[0] in "01234567"
    assert ulid_timestamp_ms(a) == int(created_at * 1000)


@settings(max_examples=150, deadline=None)
@given(
    pads=st.lists(st.integers(min_value=0, max_value=31_900), max_size=60),
    max_ops=st.integers(min_value=1, max_value=10),
)
def test_batch_packer_never_exceeds_the_limits_and_keeps_order(pads: list[int], max_ops: int) -> None:
    packer: BatchPacker[int] = BatchPacker(max_ops=max_ops)
    batches = []
    for i, pad in enumerate(pads):
        op = {"type": "person", "identifiers": {"id": str(i)}, "action": "identify", "attributes": {"p": "x" * pad}}
        if (batch := packer.add(op, i)) is not None:
            batches.append(batch)
    if (last := packer.flush()) is not None:
        batches.append(last)
    assert [t for b in batches for t in b.tags] == list(range(len(pads)))
    for b in batches:
        assert 0 < len(b) <= max_ops
        assert len(b.body) <= 500_000
        assert b.body == dumps({"batch": b.operations})
