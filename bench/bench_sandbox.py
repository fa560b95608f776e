"""Benchmark the sandbox: organization generation, Hull user search and v2 batch throughput.

Run: ``.venv/bin/python bench/bench_sandbox.py [--users 200000] [--seconds 5]``.
The sandbox runs in a child process (``cio-desktop sandbox --json``), as in the engine benchmarks,
so server and client each get a core; the client speaks HTTP/1.1 keep-alive with ``http.client``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import time
from base64 import b64encode
from typing import Any
from urllib.parse import urlsplit

from cio_desktop.sandbox.data import FakeOrg


def bench_generation(n: int) -> None:
    t0 = time.perf_counter()
    org = FakeOrg(n, seed=1)
    t1 = time.perf_counter()
    counts = org.segment_counts()
    t2 = time.perf_counter()
    sample = min(n, 20_000)
    for i in range(sample):
        org._generate_json(i)
    t3 = time.perf_counter()
    print(f"generate {n:,} users' metadata: {t1 - t0:.3f} s; segment counts {counts[:3]}...: {t2 - t1:.3f} s")
    print(f"full documents: {sample / (t3 - t2):,.0f} users/s (first {sample:,})")


def start_child(users: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_desktop", "sandbox", "--json", "--users", str(users)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def _conn(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60), parts.path


# What a sync asks for: the demo profile's mapped attributes plus the fields the engine needs.
INCLUDE = [
    "id", "email", "external_id", "name", "created_at", "updated_at", "segment_ids", "account.name",
    "account.domain", "traits_clearbit/given_name", "traits_clearbit/family_name", "traits_clearbit/company",
    "traits_plan", "traits_mrr", "traits_intercom/tags", "traits_customerio/created_at", "traits_customerio/hash",
]  # fmt: skip


def bench_user_search(info: dict[str, Any], seconds: float, include: list[str] | None = None) -> None:
    conn, path = _conn(info["hull_api"])
    headers = {
        "Hull-App-Id": info["hull_connector_id"],
        "Hull-Access-Token": info["hull_secret"],
        "Hull-Organization": info["hull_organization"],
        "Content-Type": "application/json",
    }
    conn.request("GET", path + "/users_segments", headers=headers)
    segments = json.loads(conn.getresponse().read())
    biggest = max(segments, key=lambda s: s["stats"]["users"])
    last = ""
    users = requests_made = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        filters: list[Any] = [{"terms": {"segment_ids": [biggest["id"]]}}]
        if last:
            filters.append({"range": {"id": {"gt": last}}})
        body: dict[str, Any] = {
            "query": {"bool": {"filter": filters}},
            "page": 1,
            "per_page": 500,
            "sort": {"id": "asc"},
        }
        if include is not None:
            body["include"] = include
        conn.request("POST", path + "/search/user_reports", body=json.dumps(body), headers=headers)
        page = json.loads(conn.getresponse().read())
        requests_made += 1
        if not page["data"]:
            break
        users += len(page["data"])
        last = page["data"][-1]["id"]
    elapsed = time.perf_counter() - t0
    print(
        f"Hull user search ({biggest['name']!r}, {biggest['stats']['users']:,} users, keyset, 500/page, "
        f"{'whole users' if include is None else f'{len(include)} fields'}): "
        f"{users / elapsed:,.0f} users/s ({requests_made} requests in {elapsed:.1f} s)"
    )


def _batch_body(first_serial: int) -> tuple[bytes, int]:
    ops = []
    size = 20
    serial = first_serial
    while True:
        serial += 1
        op = {
            "type": "person",
            "identifiers": {"id": f"cust-{serial:08d}"},
            "action": "identify",
            "attributes": {
                "email": f"person{serial}@example.com",
                "created_at": 1_700_000_000 + serial,
                "plan": "pro",
                "mrr": 99.5,
                "clearbit-given_name": "Zoë",
                "clearbit-family_name": "Müller",
                "clearbit-company": "Acme",
                "newsletter": True,
                "intercom-tags": ["beta", "vip"],
                "hull_segments": ["Active", "Paying Customers"],
            },
        }
        encoded = json.dumps(op, separators=(",", ":"), ensure_ascii=False)
        if size + len(encoded.encode()) + 1 > 450_000:
            break
        ops.append(encoded)
        size += len(encoded.encode()) + 1
    return ('{"batch":[' + ",".join(ops) + "]}").encode(), len(ops)


def bench_batch(info: dict[str, Any], seconds: float) -> None:
    """Bodies are built before the clock starts: this measures the sandbox, not the client's encoding."""
    conn, path = _conn(info["cio_track"])
    auth = b64encode(f"{info['cio_site_id']}:{info['cio_api_key']}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    bodies = [_batch_body(k * 10_000) for k in range(40)]
    ops_done = requests_made = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        body, n_ops = bodies[requests_made % len(bodies)]
        conn.request("POST", path + "/api/v2/batch", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        ops_done += n_ops
        requests_made += 1
    elapsed = time.perf_counter() - t0
    print(
        f"v2 batch identify: {ops_done / elapsed:,.0f} operations/s "
        f"({requests_made} requests of ~{ops_done // max(1, requests_made)} ops, ~450 KB, in {elapsed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--generate", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    bench_generation(args.generate)
    proc, info = start_child(args.users)
    try:
        bench_user_search(info, args.seconds)
        bench_user_search(info, args.seconds, INCLUDE)
        bench_batch(info, args.seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
