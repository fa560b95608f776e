"""The sandbox over real loopback sockets: HTTP behaviour, faults on the wire, control endpoints, CLI."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cio_desktop.sandbox import Sandbox

pytestmark = pytest.mark.e2e
TIMEOUT = 10


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(users=12_000, seed=7) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def healthy(sb: Sandbox) -> Iterator[None]:
    yield
    for api in ("hull", "firehose", "cio_track", "cio_app"):
        sb.set_faults(api)
    sb.reset_cio()


def hull_headers(sb: Sandbox) -> dict[str, str]:
    c = sb.credentials
    return {
        "Hull-App-Id": c.hull_connector_id,
        "Hull-Access-Token": c.hull_secret,
        "Hull-Organization": c.hull_organization,
    }


def track_auth(sb: Sandbox) -> tuple[str, str]:
    return (sb.credentials.cio_site_id, sb.credentials.cio_api_key)


def test_keyset_paging_over_http_reads_the_big_segment_exactly_once(sb: Sandbox) -> None:
    big_id, _, size = max(sb.segments(), key=lambda s: s[2])
    assert size > 10_000
    session = requests.Session()
    seen: list[str] = []
    while True:
        filters: list[Any] = [{"terms": {"segment_ids": [big_id]}}]
        if seen:
            filters.append({"range": {"id": {"gt": seen[-1]}}})
        body = {"query": {"bool": {"filter": filters}}, "raw": True, "page": 1, "per_page": 500, "sort": {"id": "asc"}}
        r = session.post(
            sb.urls.hull_api + "/search/user_reports", json=body, headers=hull_headers(sb), timeout=TIMEOUT
        )
        assert r.status_code == 200
        data = r.json()["data"]
        if not data:
            break
        seen.extend(u["id"] for u in data)
    assert len(seen) == size == len(set(seen))


def test_hulls_node_client_header_naming_the_host_it_talks_to_is_accepted(sb: Sandbox) -> None:
    # Hull's node client sends its configured host as Hull-Organization, here the sandbox's own.
    host = sb.urls.hull_api.split("//", 1)[1].split("/", 1)[0]
    for org in (host, host.rsplit(":", 1)[0]):
        headers = {**hull_headers(sb), "Hull-Organization": org}
        assert requests.get(sb.urls.hull_api + "/app", headers=headers, timeout=TIMEOUT).status_code == 200
    other = {**hull_headers(sb), "Hull-Organization": "other.hullapp.io"}
    assert requests.get(sb.urls.hull_api + "/app", headers=other, timeout=TIMEOUT).status_code == 401


def test_keep_alive_serves_many_requests_on_one_connection(sb: Sandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", int(sb.urls.base.rsplit(":", 1)[1]), timeout=TIMEOUT)
    for _ in range(5):
        conn.request("GET", "/hull/api/v1/app", headers=hull_headers(sb))
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["type"] == "ship"
    conn.close()


def test_dropped_connections_surface_as_connection_errors_and_apply_nothing(sb: Sandbox) -> None:
    sb.set_faults("cio_track", drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        requests.put(sb.urls.cio_track + "/api/v1/customers/x", json={}, auth=track_auth(sb), timeout=TIMEOUT)
    assert sb.cio_people() == {}


def test_429_with_retry_after_and_5xx_arrive_over_http(sb: Sandbox) -> None:
    sb.set_faults("cio_track", rate_429=1.0, retry_after=1.5)
    r = requests.post(sb.urls.cio_track + "/api/v2/batch", json={"batch": []}, auth=track_auth(sb), timeout=TIMEOUT)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1.5"
    sb.set_faults("hull", rate_5xx=1.0)
    r = requests.get(sb.urls.hull_api + "/app", headers=hull_headers(sb), timeout=TIMEOUT)
    assert r.status_code in (500, 502, 503)


def test_slow_bodies_take_their_time_but_arrive_whole(sb: Sandbox) -> None:
    sb.set_faults("hull", slow_body_ms=300)
    t0 = time.perf_counter()
    r = requests.get(sb.urls.hull_api + "/users_segments", headers=hull_headers(sb), timeout=TIMEOUT)
    assert time.perf_counter() - t0 >= 0.28
    assert r.status_code == 200 and len(r.json()) == len(sb.segments())


def test_control_endpoints_report_state_and_detail(sb: Sandbox) -> None:
    ops = [
        {"type": "person", "identifiers": {"id": f"p{n}"}, "action": "identify", "attributes": {"n": n}}
        for n in range(5)
    ]
    r = requests.post(sb.urls.cio_track + "/api/v2/batch", json={"batch": ops}, auth=track_auth(sb), timeout=TIMEOUT)
    assert r.status_code == 200
    state = requests.get(sb.urls.base + "/_sandbox/state", timeout=TIMEOUT).json()
    assert state["people"] == 5 and state["requests"]["cio_track"] >= 1 and state["users"] == 12_000
    page = requests.get(sb.urls.base + "/_sandbox/cio/people?page=2&per_page=2", timeout=TIMEOUT).json()
    assert page["total"] == 5 and [p["id"] for p in page["data"]] == ["p2", "p3"]
    counts = requests.get(sb.urls.base + "/_sandbox/cio/requests", timeout=TIMEOUT).json()
    assert counts["POST /api/v2/batch"] >= 1
    assert requests.post(sb.urls.base + "/_sandbox/reset", timeout=TIMEOUT).json()["people"] == 0
    assert requests.get(sb.urls.base + "/_sandbox/hull/received", timeout=TIMEOUT).json()["total"] == 0


def test_users_can_be_changed_through_the_control_endpoint(sb: Sandbox) -> None:
    uid = sb.org.id_of(5)
    vip = next(s for s in sb.segments() if s[1] == "VIP")[0]
    r = requests.post(
        sb.urls.base + f"/_sandbox/users/{uid}",
        json={"traits_plan": "enterprise", "segment_ids": [vip]},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200 and r.json()["traits_plan"] == "enterprise" and r.json()["segment_ids"] == [vip]
    assert sb.user(uid)["traits_plan"] == "enterprise"
    assert requests.post(sb.urls.base + "/_sandbox/users/" + "0" * 24, json={}, timeout=TIMEOUT).status_code == 404


def test_unknown_paths_and_chunked_bodies_are_refused_cleanly(sb: Sandbox) -> None:
    assert requests.get(sb.urls.base + "/nowhere", timeout=TIMEOUT).status_code == 404

    def chunks() -> Iterator[bytes]:
        yield b'{"batch": []}'

    r = requests.post(sb.urls.cio_track + "/api/v2/batch", data=chunks(), auth=track_auth(sb), timeout=TIMEOUT)
    assert r.status_code == 411


def test_stop_closes_the_port_and_kept_alive_connections() -> None:
    sandbox = Sandbox(users=10).start()
    session = requests.Session()
    c = sandbox.credentials
    headers = {
        "Hull-App-Id": c.hull_connector_id,
        "Hull-Access-Token": c.hull_secret,
        "Hull-Organization": c.hull_organization,
    }
    assert session.get(sandbox.urls.hull_api + "/app", headers=headers, timeout=TIMEOUT).status_code == 200
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(sandbox.urls.hull_api + "/app", headers=headers, timeout=TIMEOUT)


def test_only_loopback_addresses_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


@pytest.mark.posix_only  # SIGTERM: Windows can only terminate the process
def test_cli_prints_one_json_line_serves_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_desktop", "sandbox", "--json", "--users", "50", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["cio_track"].startswith("http://127.0.0.1:") and info["hull_connector_id"]
        assert info["credentials"]["cio_api_key"] == info["cio_api_key"]
        auth = base64.b64encode(f"{info['cio_site_id']}:{info['cio_api_key']}".encode()).decode()
        r = requests.get(
            info["cio_track"] + "/api/v1/accounts/region", headers={"Authorization": f"Basic {auth}"}, timeout=TIMEOUT
        )
        assert r.json()["region"] == "us"
        assert requests.get(info["base"] + "/_sandbox/state", timeout=TIMEOUT).json()["users"] == 50
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
