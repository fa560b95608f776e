"""Fault injection per API and the demo profile."""

from __future__ import annotations

import base64
import json
import time

import pytest

from cio_desktop.config.profile import Profile
from cio_desktop.sandbox import Sandbox
from cio_desktop.sandbox.faults import Faults, ServerRateLimit


def _put(sb: Sandbox, pid: str) -> tuple[int, dict[str, str]]:
    c = sb.credentials
    auth = base64.b64encode(f"{c.cio_site_id}:{c.cio_api_key}".encode()).decode()
    reply = sb.dispatch("PUT", f"/cio-track/api/v1/customers/{pid}", {"Authorization": f"Basic {auth}"}, b"{}")
    return reply.status, dict(reply.headers)


def test_429_faults_carry_retry_after_when_configured_and_change_nothing() -> None:
    sb = Sandbox(users=10)
    sb.set_faults("cio_track", rate_429=1.0, retry_after=2)
    assert _put(sb, "a") == (429, {"Retry-After": "2"})
    sb.set_faults("cio_track", rate_429=1.0)
    assert _put(sb, "a") == (429, {})
    assert sb.cio_people() == {}
    sb.set_faults("cio_track")
    assert _put(sb, "a")[0] == 200 and "a" in sb.cio_people()


def test_5xx_faults_answer_500_502_or_503_on_the_chosen_api_only() -> None:
    sb = Sandbox(users=10)
    sb.set_faults("cio_track", rate_5xx=1.0, seed=3)
    statuses = {_put(sb, f"p{n}")[0] for n in range(40)}
    assert statuses == {500, 502, 503}
    c = sb.credentials
    headers = {
        "Hull-App-Id": c.hull_connector_id,
        "Hull-Access-Token": c.hull_secret,
        "Hull-Organization": c.hull_organization,
    }
    assert sb.dispatch("GET", "/hull/api/v1/app", headers, b"").status == 200


def test_fault_rates_are_fractions_drawn_from_the_seed() -> None:
    runs = []
    for _ in range(2):
        sb = Sandbox(users=10)
        sb.set_faults("cio_track", rate_429=0.3, rate_5xx=0.2, seed=42)
        runs.append([_put(sb, f"p{n}")[0] for n in range(400)])
    assert runs[0] == runs[1]
    share_429 = runs[0].count(429) / 400
    share_5xx = sum(1 for s in runs[0] if s >= 500) / 400
    assert 0.22 < share_429 < 0.38 and 0.13 < share_5xx < 0.27


def test_latency_delays_answers() -> None:
    sb = Sandbox(users=10)
    sb.set_faults("cio_track", latency_ms=60)
    t0 = time.perf_counter()
    _put(sb, "x")
    assert time.perf_counter() - t0 >= 0.055


def test_drops_are_reported_as_a_dropped_reply_and_apply_nothing() -> None:
    sb = Sandbox(users=10)
    sb.set_faults("cio_track", drop_rate=1.0)
    assert _put(sb, "x")[0] == 0  # the HTTP layer closes the connection without an answer
    assert sb.cio_people() == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"rate_429": 1.5},
        {"rate_5xx": -0.1},
        {"rate_429": 0.6, "rate_5xx": 0.6},
        {"latency_ms": -1},
        {"retry_after": -2},
        {"drop_rate": True},
    ],
)
def test_impossible_fault_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Faults(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown api"):
        Sandbox(users=1).set_faults("mailchimp")


def test_faults_can_be_set_through_the_control_endpoint() -> None:
    sb = Sandbox(users=10)
    reply = sb.dispatch("POST", "/_sandbox/faults", {}, json.dumps({"api": "cio_track", "rate_429": 1.0}).encode())
    assert reply.status == 200
    assert _put(sb, "x")[0] == 429
    bad = sb.dispatch("POST", "/_sandbox/faults", {}, json.dumps({"api": "cio_track", "rate_9": 1}).encode())
    assert bad.status == 400 and b"rate_9" in bad.body


def test_server_rate_limit_admits_the_rate_with_a_one_second_burst() -> None:
    limit = ServerRateLimit(20)
    t0 = time.monotonic()
    assert sum(limit.admit() for _ in range(40)) == 20
    time.sleep(0.1)
    refilled = sum(limit.admit() for _ in range(40))
    assert 1 <= refilled <= (time.monotonic() - t0) * 20 + 1


def test_demo_profile_points_at_the_sandbox_and_is_valid() -> None:
    with Sandbox(users=300, seed=2) as sb:
        profile = sb.demo_profile("Demo")
        assert isinstance(profile, Profile)
        profile.validate()
        assert profile.endpoints.hull_api == sb.urls.hull_api and profile.endpoints.cio_track == sb.urls.cio_track
        assert profile.hull_connector_id == sb.credentials.hull_connector_id
        assert profile.cio_site_id == sb.credentials.cio_site_id
        assert 2 <= len(profile.segments) <= 3 and profile.write_back
        known_segments = {sid for sid, _, _ in sb.segments()}
        assert {s.id for s in profile.segments} <= known_segments
        event_names = {e["name"] for e in sb.org.event_stats()}
        assert set(profile.events) <= event_names
        keys = {a["key"] for a in sb.org.schema()}
        assert len(profile.mappings) >= 18 and all(m.hull in keys for m in profile.mappings)
        assert set(sb.credentials.secrets()) == {"hull_secret", "cio_api_key", "cio_app_key"}
