"""Benchmark: the sync engine against the sandbox in ANOTHER process, over loopback.

    .venv/bin/python bench/bench_sync.py                      # 100,000 users, then 1,000,000 for RSS
    .venv/bin/python bench/bench_sync.py --users 20000 --million 0 --sdk-sample 1000   # quick
    .venv/bin/python bench/bench_sync.py --million 0 --sdk-sample 500 --rounds 3       # the ratio, 3 rounds

Each step runs in a fresh subprocess, so ``ru_maxrss`` is that step's own peak:
1. full sync of ``--users`` users (segment "All Users", 20 mapped attributes, 100 requests/s);
2. full re-sync with nothing changed (must make 0 Customer.io requests);
3. incremental run with nothing changed (must take < 2 s);
4. the same users sent with the official ``customerio`` package: (a) one ``identify`` per user,
   measured on ``--sdk-sample`` users and extrapolated; (b) ``batch()`` with 1,000 operations per call
   (and, since 1,000 operations of this size exceed the 500 KB request limit, (b') split under it);
5. ``--million`` users: full sync peak RSS (target < 300 MB).
With ``--rounds N``, N-1 more pairs of (full sync from an empty home, SDK batch split under 500 KB)
follow step 4; the ratio SDK seconds / cio-desktop seconds of each pair is reported (target >= 1.5).
``--baseline DIR`` adds, to every round, a full sync by cio-desktop from another source tree
(``PYTHONPATH=DIR``, e.g. ``git archive <commit> cio_desktop | tar -x -C /tmp/before``): before and
after a change in one run.
Write-back to Hull is off: this measures Hull -> Customer.io. Targets: >= 10,000 users/s (1),
>= 25,000 users/s and 0 requests (2), < 2 s (3), < 300 MB (5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import requests

MAPPED = (
    "name",
    "first_name",
    "last_name",
    "traits_clearbit/given_name",
    "traits_clearbit/family_name",
    "traits_clearbit/company",
    "traits_clearbit/title",
    "traits_clearbit/seniority",
    "traits_intercom/session_count",
    "traits_intercom/last_request_at",
    "traits_intercom/unsubscribed_from_emails",
    "traits_intercom/tags",
    "traits_plan",
    "traits_mrr",
    "traits_score",
    "traits_newsletter",
    "traits_signup_source",
    "traits_trial_ends_at",
    "account.name",
    "account.domain",
)
SEGMENT = "All Users"
MAX_REQUEST_BYTES = 500_000


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# ---------------------------------------------------------------------------------------------- children
def _profile(info: dict[str, Any]) -> Any:
    from cio_desktop.config.profile import AttributeMapping, Endpoints, Profile, Region, SegmentRef, default_cio_name
    from cio_desktop.hull.client import HullClient

    c, u = info["credentials"], info["urls"]
    with HullClient(c["hull_organization"], c["hull_connector_id"], c["hull_secret"], base_url=u["hull_api"]) as h:
        segment = next(s for s in h.segments() if s.name == SEGMENT)
    return Profile(
        name="bench",
        hull_organization=c["hull_organization"],
        hull_connector_id=c["hull_connector_id"],
        cio_site_id=c["cio_site_id"],
        cio_region=Region.US,
        rate_limit=100.0,
        segments=(SegmentRef(segment.id, segment.name),),
        mappings=tuple(AttributeMapping(k, default_cio_name(k)) for k in MAPPED),
        write_back=False,
        endpoints=Endpoints(
            hull_api=u["hull_api"], hull_firehose=u["hull_firehose"], cio_track=u["cio_track"], cio_app=u["cio_app"]
        ),
    )


def child_sync(mode: str, info: dict[str, Any]) -> dict[str, Any]:
    from cio_desktop.config.secrets import SecretKey, SecretStore
    from cio_desktop.sync.engine import RunMode
    from cio_desktop.sync.factory import open_services

    profile = _profile(info)
    secrets = SecretStore.in_memory()
    secrets.set(profile.name, SecretKey.HULL_SECRET, info["credentials"]["hull_secret"])
    secrets.set(profile.name, SecretKey.CIO_API_KEY, info["credentials"]["cio_api_key"])
    with open_services(profile, secrets) as services:
        started = time.perf_counter()
        summary = services.engine().run(RunMode(mode))
        seconds = time.perf_counter() - started
    users = sum(v for k, v in summary.counts.items() if not k.startswith("event"))
    return {
        "mode": mode,
        "status": summary.status.value,
        "users": users,
        "people_sent": summary.people_sent,
        "requests": summary.requests,
        "failed": summary.failed,
        "seconds": seconds,
        "users_per_s": users / seconds if seconds else 0.0,
        "peak_rss_mb": _peak_rss_mb(),
        "counts": dict(summary.counts),
        "message": summary.message,
    }


def _sdk(info: dict[str, Any]) -> Any:
    """The official SDK aimed at the sandbox: it only builds https URLs, so rewrite them to ours."""
    from customerio import CustomerIO

    c, base = info["credentials"], info["urls"]["cio_track"]
    sdk = CustomerIO(c["cio_site_id"], c["cio_api_key"])
    send = sdk.send_request

    def rewritten(method: str, url: str, data: Any) -> Any:
        return send(method, base + url[len("https://track.customer.io") :], data)

    sdk.send_request = rewritten
    return sdk


def _sdk_people(info: dict[str, Any], limit: int | None) -> list[tuple[str, dict[str, Any]]]:
    """The users, fetched with cio-desktop's Hull client, mapped the simple way such a script would."""
    from cio_desktop.config.profile import default_cio_name
    from cio_desktop.hull.client import HullClient
    from cio_desktop.sync.mapping import parse_date, read_attribute

    profile = _profile(info)
    c, u = info["credentials"], info["urls"]
    out: list[tuple[str, dict[str, Any]]] = []
    with HullClient(c["hull_organization"], c["hull_connector_id"], c["hull_secret"], base_url=u["hull_api"]) as h:
        for user in h.iter_users(profile.segment_ids):
            if not user.get("external_id") or not user.get("email"):
                continue
            attrs: dict[str, Any] = {"email": user["email"], "created_at": parse_date(user.get("created_at"))}
            for key in MAPPED:
                value = read_attribute(user, key)
                if value is not None:
                    attrs[default_cio_name(key)] = parse_date(value) if key.endswith("_at") else value
            out.append((str(user["external_id"]), attrs))
            if limit is not None and len(out) >= limit:
                break
    return out


def child_sdk_identify(info: dict[str, Any], sample: int) -> dict[str, Any]:
    people = _sdk_people(info, sample)
    sdk = _sdk(info)
    started = time.perf_counter()
    for cid, attrs in people:
        sdk.identify(id=cid, **attrs)
    seconds = time.perf_counter() - started
    return {"users": len(people), "seconds": seconds, "users_per_s": len(people) / seconds}


def child_sdk_batch(info: dict[str, Any], per_call: int, split: bool) -> dict[str, Any]:
    from customerio import CustomerIOException

    started_all = time.perf_counter()
    people = _sdk_people(info, None)
    fetched = time.perf_counter() - started_all
    sdk = _sdk(info)
    ops = [
        {"type": "person", "identifiers": {"id": cid}, "action": "identify", "attributes": attrs}
        for cid, attrs in people
    ]
    calls = rejected = 0
    started = time.perf_counter()
    for i in range(0, len(ops), per_call):
        chunk = ops[i : i + per_call]
        parts = [chunk]
        if split:
            # Measured as the SDK sends it (requests' json=: default separators, ASCII escapes).
            parts, current, size = [], [], len(json.dumps({"batch": []}))
            for op in chunk:
                n = len(json.dumps(op)) + 2
                if current and size + n > MAX_REQUEST_BYTES:
                    parts.append(current)
                    current, size = [], len(json.dumps({"batch": []}))
                current.append(op)
                size += n
            parts.append(current)
        for part in parts:
            calls += 1
            try:
                sdk.batch(part)
            except CustomerIOException:
                rejected += 1
    seconds = time.perf_counter() - started
    return {
        "users": len(ops),
        "calls": calls,
        "rejected_calls": rejected,
        "send_seconds": seconds,
        "fetch_seconds": fetched,
        "seconds": seconds + fetched,
        "users_per_s": len(ops) / (seconds + fetched),
    }


# ---------------------------------------------------------------------------------------------- parent
def _start_sandbox(users: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_desktop", "sandbox", "--users", str(users), "--seed", "2026", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the sandbox did not start")
    return proc, json.loads(line)


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"step {args[0]} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _cio_requests(info: dict[str, Any]) -> int:
    counts = requests.get(info["urls"]["base"] + "/_sandbox/cio/requests", timeout=30).json()
    return int(sum(counts.values()))


def _reset(info: dict[str, Any]) -> None:
    requests.post(info["urls"]["base"] + "/_sandbox/reset", data=b"{}", timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--million", type=int, default=1_000_000, help="users for the RSS run (0 = skip)")
    parser.add_argument("--sdk-sample", type=int, default=5_000, help="users sent one identify at a time")
    parser.add_argument("--skip-sdk", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="full sync / SDK split pairs for the ratio")
    parser.add_argument("--baseline", help="another cio_desktop source tree, timed in every round as well")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        step, info = args.child[0], json.loads(args.child[1])
        if step in ("full", "incremental"):
            result = child_sync(step, info)
        elif step == "sdk_identify":
            result = child_sdk_identify(info, int(args.child[2]))
        elif step == "sdk_batch":
            result = child_sdk_batch(info, int(args.child[2]), args.child[3] == "split")
        else:
            raise SystemExit(f"unknown step {step}")
        print(json.dumps(result))
        return 0

    print(f"bench_sync: {args.users:,} users, sandbox in another process; machine load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as home:
        env = {**os.environ, "CIO_DESKTOP_HOME": home}
        proc, info = _start_sandbox(args.users)
        raw = json.dumps(info)
        try:
            before = _cio_requests(info)
            full = _child(env, "full", raw)
            full["cio_requests"] = _cio_requests(info) - before
            print(
                f"1. full sync: {full['users']:,} users in {full['seconds']:.2f} s ="
                f" {full['users_per_s']:,.0f} users/s,"
                f" {full['people_sent']:,} people sent in {full['requests']} requests (target >= 10,000/s),"
                f" peak RSS {full['peak_rss_mb']:.0f} MB, status {full['status']}"
            )
            before = _cio_requests(info)
            resync = _child(env, "full", raw)
            resync["cio_requests"] = _cio_requests(info) - before
            print(
                f"2. full re-sync, nothing changed: {resync['users']:,} users in {resync['seconds']:.2f} s ="
                f" {resync['users_per_s']:,.0f} users/s, Customer.io requests {resync['cio_requests']}"
                " (target >= 25,000/s, 0 requests)"
            )
            before = _cio_requests(info)
            inc = _child(env, "incremental", raw)
            print(
                f"3. incremental, nothing changed: {inc['seconds']:.2f} s, {inc['users']} users read,"
                f" Customer.io requests {_cio_requests(info) - before} (target < 2 s)"
            )
            if not args.skip_sdk:
                _reset(info)
                ident = _child(env, "sdk_identify", raw, str(args.sdk_sample))
                ident_total = full["people_sent"] / ident["users_per_s"]
                print(
                    f"4a. official SDK, one identify per user: {ident['users']:,} users in {ident['seconds']:.2f} s ="
                    f" {ident['users_per_s']:,.0f} users/s -> {full['people_sent']:,} people would take"
                    f" ~{ident_total:,.0f} s (extrapolated from the sample; no rate limit applied; at 100"
                    f" requests/s it would be {full['people_sent'] / 100:,.0f} s)"
                )
                _reset(info)
                batch = _child(env, "sdk_batch", raw, "1000", "whole")
                print(
                    f"4b. official SDK, batch() with 1,000 operations per call: {batch['users']:,} users in"
                    f" {batch['seconds']:.2f} s (fetch {batch['fetch_seconds']:.2f} s + send"
                    f" {batch['send_seconds']:.2f} s); {batch['rejected_calls']} of {batch['calls']} calls refused"
                    " (request over 500 KB)"
                )
                _reset(info)
                split = _child(env, "sdk_batch", raw, "1000", "split")
                print(
                    f"4b'. the same, split under 500 KB: {split['users']:,} users in {split['seconds']:.2f} s ="
                    f" {split['users_per_s']:,.0f} users/s in {split['calls']} calls"
                )
                print(
                    f"ratios (cio-desktop full sync vs SDK): vs identify-per-user x{ident_total / full['seconds']:.1f},"
                    f" vs batch(1,000) x{batch['seconds'] / full['seconds']:.2f} (with"
                    f" {batch['rejected_calls']} refused calls), vs batch split under 500 KB"
                    f" x{split['seconds'] / full['seconds']:.2f}"
                )
                ratios = [split["seconds"] / full["seconds"]]
                base_ratios: list[float] = []
                current = full  # this round's cio-desktop full sync
                for i in range(1, args.rounds + 1):
                    if args.baseline:
                        _reset(info)
                        base_home = os.path.join(home, f"baseline-{i}")
                        base = _child({**env, "CIO_DESKTOP_HOME": base_home, "PYTHONPATH": args.baseline}, "full", raw)
                        base_ratios.append(base["seconds"] / current["seconds"])
                        print(
                            f"round {i} baseline: full sync {base['seconds']:.2f} s ({base['people_sent']:,} people),"
                            f" baseline / cio-desktop {base_ratios[-1]:.2f}"
                        )
                    if i == args.rounds:
                        break
                    # Another pair, cio-desktop from an empty home again: a first full sync each time.
                    _reset(info)
                    current = _child({**env, "CIO_DESKTOP_HOME": os.path.join(home, f"round-{i + 1}")}, "full", raw)
                    _reset(info)
                    peer = _child(env, "sdk_batch", raw, "1000", "split")
                    ratios.append(peer["seconds"] / current["seconds"])
                    print(
                        f"round {i + 1}: cio-desktop full sync {current['seconds']:.2f} s, SDK batch split under 500 KB"
                        f" {peer['seconds']:.2f} s, ratio {ratios[-1]:.2f}"
                    )
                print(
                    f"ratio SDK split / cio-desktop over {len(ratios)} round(s) (target >= 1.5):"
                    f" min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, max {max(ratios):.2f}"
                )
                if base_ratios:
                    print(
                        f"speed-up (baseline seconds / cio-desktop seconds, same round): min {min(base_ratios):.2f},"
                        f" median {statistics.median(base_ratios):.2f}, max {max(base_ratios):.2f}"
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        if args.million:
            proc, info = _start_sandbox(args.million)
            try:
                big = _child({**env, "CIO_DESKTOP_HOME": os.path.join(home, "million")}, "full", json.dumps(info))
                print(
                    f"5. full sync of {big['users']:,} users: {big['seconds']:.1f} s ="
                    f" {big['users_per_s']:,.0f} users/s, peak RSS {big['peak_rss_mb']:.0f} MB (target < 300 MB),"
                    f" status {big['status']}"
                )
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
