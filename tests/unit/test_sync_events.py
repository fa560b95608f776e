"""Event planning and deterministic ULIDs."""

from __future__ import annotations

import math
from typing import Any

import pytest
import ulid as python_ulid

from cio_desktop.config.profile import Profile, SegmentRef
from cio_desktop.hull.source import HullEvent
from cio_desktop.sync.events import event_action, plan_event
from cio_desktop.sync.model import EventDecision, EventReason, EventRoute, MappingContext
from cio_desktop.sync.ulid import event_ulid, ulid_timestamp_ms
from cio_desktop.sync.validation import check_event

T = 1522420682.25


def make_ctx(**profile: Any) -> MappingContext:
    settings: dict[str, Any] = {"segments": (SegmentRef("s1", "Customers"),), "events": ("Signed Up", "page")}
    settings.update(profile)
    return MappingContext(Profile(name="t", **settings), {}, {})


def event(**fields: Any) -> HullEvent:
    values: dict[str, Any] = {
        "event_id": "ev-1",
        "name": "Signed Up",
        "created_at": T,
        "user_id": "5a1b2c3d4e5f60718293a4b5",
        "anonymous_id": "anon-1",
        "properties": {"plan": "pro", "seats": 3},
    }
    values.update(fields)
    return HullEvent(**values)


def decide(e: HullEvent, customer_id: str | None = "u-1", **kw: Any) -> EventDecision:
    profile = kw.pop("profile", {})
    return plan_event(e, make_ctx(**profile), customer_id=customer_id, **kw)


# ------------------------------------------------------------------ ULIDs


def test_event_ulid_is_a_valid_ulid_with_the_event_time() -> None:
    text = event_ulid("ev-1", T)
    parsed = python_ulid.ULID.from_str(text)
    assert len(text) == 26
    assert parsed.milliseconds == int(T * 1000)
    assert ulid_timestamp_ms(text) == int(T * 1000)


def test_event_ulid_is_deterministic_and_differs_per_event() -> None:
    assert event_ulid("ev-1", T) == event_ulid("ev-1", T)
    assert event_ulid("ev-1", T) != event_ulid("ev-2", T)
    assert event_ulid("ev-1", T)[10:] == event_ulid("ev-1", T + 5)[10:]


@pytest.mark.parametrize("when", [-5.0, 0.0, 1e20, math.inf, math.nan])
def test_event_ulid_clamps_times_outside_the_ulid_range(when: float) -> None:
    python_ulid.ULID.from_str(event_ulid("ev", when))


def test_event_ulids_sort_by_time() -> None:
    assert event_ulid("zzz", T) < event_ulid("aaa", T + 1)


# ------------------------------------------------------------------ planning


def test_event_of_a_synced_user_becomes_a_v2_event_operation() -> None:
    d = decide(event())
    assert d.reason is EventReason.SEND
    assert d.route is EventRoute.BATCH
    assert d.operation == {
        "type": "person",
        "identifiers": {"id": "u-1"},
        "action": "event",
        "name": "Signed Up",
        "id": event_ulid("ev-1", T),
        "timestamp": 1522420682,
        "attributes": {"plan": "pro", "seats": 3},
    }


def test_page_events_have_type_page_and_screen_events_type_screen() -> None:
    assert decide(event(name="page", event_type="page")).operation["action"] == "page"  # type: ignore[index]
    screen = decide(event(event_type="screen"))
    assert screen.operation is not None and screen.operation["action"] == "screen"


@pytest.mark.parametrize(
    ("name", "event_type", "action"),
    [
        ("page", "track", "page"),  # a real Hull page view: named page, event_type track
        ("screen", "track", "screen"),
        ("Viewed Pricing", "page", "page"),
        ("Opened App", "screen", "screen"),
        ("Signed Up", "track", "event"),
        ("Page", "track", "event"),  # names are exact, as the hosted connector compared them
        ("pageview", "track", "event"),
    ],
)
def test_event_type_follows_the_event_name_page_or_screen_and_else_the_event_type(
    name: str, event_type: str, action: str
) -> None:
    assert event_action(name, event_type) == action


PAGE_PROPS = {"url": "https://www.example.com/pricing", "path": "/pricing", "title": "Pricing", "referrer": ""}


def test_a_real_hull_page_view_goes_out_as_a_page_named_by_its_url() -> None:
    d = decide(event(name="page", event_type="track", properties=PAGE_PROPS))
    assert d.reason is EventReason.SEND and d.operation is not None
    assert d.operation["action"] == "page"
    assert d.operation["name"] == "https://www.example.com/pricing"
    assert d.operation["attributes"] == PAGE_PROPS


def test_an_anonymous_page_view_goes_to_v1_as_type_page_named_by_its_url() -> None:
    d = decide(event(name="page", properties=PAGE_PROPS), customer_id=None, profile={"anonymous_events": True})
    assert d.route is EventRoute.V1_ANONYMOUS and d.operation is not None
    assert d.operation["type"] == "page"
    assert d.operation["name"] == "https://www.example.com/pricing"


@pytest.mark.parametrize("url", [None, "", "   ", 42, "https://example.com/" + "x" * 120])
def test_a_page_view_without_a_usable_url_keeps_its_hull_name(url: Any) -> None:
    props = {"title": "Home"} if url is None else {"url": url}
    d = decide(event(name="page", properties=props))
    assert d.reason is EventReason.SEND and d.operation is not None
    assert (d.operation["action"], d.operation["name"]) == ("page", "page")


def test_a_screen_view_keeps_its_hull_name() -> None:
    d = decide(event(name="screen", properties={"url": "app://home"}), profile={"events": ("screen",)})
    assert d.operation is not None and (d.operation["action"], d.operation["name"]) == ("screen", "screen")


def test_event_not_whitelisted_is_skipped() -> None:
    d = decide(event(name="Viewed Pricing"))
    assert (d.reason, d.operation) == (EventReason.NOT_WHITELISTED, None)


def test_event_already_sent_is_never_sent_twice() -> None:
    assert decide(event(), already_sent=True).reason is EventReason.ALREADY_SENT


def test_events_up_to_the_checkpoint_are_skipped() -> None:
    assert decide(event(), checkpoint=T).reason is EventReason.BEFORE_CHECKPOINT
    assert decide(event(), checkpoint=T + 1).reason is EventReason.BEFORE_CHECKPOINT
    assert decide(event(), checkpoint=T - 0.001).reason is EventReason.SEND


def test_event_of_a_user_not_synced_is_skipped_when_anonymous_events_are_off() -> None:
    d = decide(event(), customer_id=None)
    assert (d.reason, d.operation) == (EventReason.USER_NOT_SYNCED, None)


def test_anonymous_events_go_to_the_v1_anonymous_endpoint_with_the_hull_anonymous_id() -> None:
    d = decide(event(), customer_id=None, profile={"anonymous_events": True})
    assert d.reason is EventReason.SEND_ANONYMOUS
    assert d.route is EventRoute.V1_ANONYMOUS
    assert d.anonymous_id == "anon-1"
    assert d.operation == {
        "name": "Signed Up",
        "anonymous_id": "anon-1",
        "id": event_ulid("ev-1", T),
        "timestamp": 1522420682,
        "type": "event",
        "data": {"plan": "pro", "seats": 3},
    }


def test_anonymous_id_passed_by_the_engine_wins_over_the_events_own() -> None:
    d = decide(event(), customer_id=None, anonymous_id="anon-user", profile={"anonymous_events": True})
    assert d.anonymous_id == "anon-user"


def test_anonymous_event_without_any_anonymous_id_is_skipped() -> None:
    d = decide(event(anonymous_id=""), customer_id=None, profile={"anonymous_events": True})
    assert d.reason is EventReason.NO_IDENTITY


def test_synced_user_events_are_not_anonymous_even_with_anonymous_events_on() -> None:
    assert decide(event(), profile={"anonymous_events": True}).route is EventRoute.BATCH


def test_email_identifier_profiles_send_events_by_email() -> None:
    d = decide(event(), customer_id="jane@example.com", profile={"customer_id_attribute": "email"})
    assert d.operation is not None and d.operation["identifiers"] == {"email": "jane@example.com"}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"properties": {"blob": "x" * 100_001}}, "(event data)"),
        ({"properties": {"score": math.nan}}, "(event data)"),
        ({"properties": {"name": "\ud800"}}, "(event data)"),
        ({"created_at": math.nan}, "(event time)"),
    ],
)
def test_invalid_events_are_not_sent(fields: dict[str, Any], where: str) -> None:
    d = decide(event(**fields))
    assert (d.reason, d.operation) == (EventReason.INVALID, None)
    assert [v.attribute for v in d.violations] == [where]


def test_event_name_over_100_bytes_is_invalid() -> None:
    # Profiles cannot whitelist such names, so the check is pinned at the validation level.
    (violation,) = check_event("é" * 51, 10)
    assert violation.attribute == "(event name)"
    assert "100 bytes" in violation.message
    assert check_event("é" * 50, 100_000) == []


def test_event_operation_over_32_kb_is_invalid() -> None:
    d = decide(event(properties={f"k{i}": "v" * 900 for i in range(40)}))
    assert d.reason is EventReason.INVALID
    assert "32000" in d.message
