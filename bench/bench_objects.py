"""Benchmark: what sending accounts as Customer.io objects costs a full sync (objects off vs on, same run).

    .venv/bin/python bench/bench_objects.py                    # 100,000 users, 2 pairs
    .venv/bin/python bench/bench_objects.py --users 20000 --pairs 1   # quick

The sandbox runs in another process (as in bench_sync.py, whose profile this uses: Hull API source,
segment "All Users", 20 mapped attributes, 100 requests/s). Each sync runs in a fresh subprocess with a
fresh ledger, objects off and on alternating (A B A B), so the machine's drift hits both alike. With
objects on, each account is one object identify and each person one add_relationships operation; a
re-sync with objects on must then make 0 requests. Reported: seconds, requests, the on/off time ratio
per pair, and the unchanged re-sync's requests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench_sync import _cio_requests, _peak_rss_mb, _profile, _reset, _start_sandbox


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"objects {args[0]} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def child_sync(objects: str, info: dict[str, Any], home: str) -> dict[str, Any]:
    os.environ["CIO_DESKTOP_HOME"] = home
    from cio_desktop.config.profile import ObjectSettings
    from cio_desktop.config.secrets import SecretKey, SecretStore
    from cio_desktop.sync.engine import RunMode
    from cio_desktop.sync.factory import open_services

    profile = _profile(info).replace(objects=ObjectSettings(enabled=objects == "on"))
    secrets = SecretStore.in_memory()
    secrets.set(profile.name, SecretKey.HULL_SECRET, info["credentials"]["hull_secret"])
    secrets.set(profile.name, SecretKey.CIO_API_KEY, info["credentials"]["cio_api_key"])
    with open_services(profile, secrets) as services:
        started = time.perf_counter()
        summary = services.engine().run(RunMode.FULL)
        seconds = time.perf_counter() - started
    return {
        "status": summary.status.value,
        "seconds": seconds,
        "requests": summary.requests,
        "people_sent": summary.people_sent,
        "objects_sent": summary.objects_sent,
        "relationships_sent": summary.relationships_sent,
        "peak_rss_mb": _peak_rss_mb(),
        "message": summary.message,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        objects, info_json, home = args.child
        print(json.dumps(child_sync(objects, json.loads(info_json), home)))
        return 0

    proc, info = _start_sandbox(args.users)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.path.dirname(__file__), os.environ.get("PYTHONPATH")])),
    }
    ratios: list[float] = []
    try:
        print(f"full sync of {args.users:,} users, objects off vs on, {args.pairs} pair(s)")
        last_home = ""
        for pair in range(args.pairs):
            times: dict[str, float] = {}
            for objects in ("off", "on"):
                _reset(info)
                home = tempfile.mkdtemp(prefix=f"bench-objects-{objects}-")
                result = _child(env, objects, json.dumps(info), home)
                if result["status"] != "completed":
                    raise RuntimeError(f"objects {objects}: {result['status']}: {result['message']}")
                times[objects] = result["seconds"]
                print(
                    f"  pair {pair + 1} objects {objects:<3}: {result['seconds']:6.2f} s,"
                    f" {result['requests']:>5,} requests, {result['people_sent']:,} people,"
                    f" {result['objects_sent']:,} objects, {result['relationships_sent']:,} relationships,"
                    f" peak RSS {result['peak_rss_mb']:.0f} MB"
                )
                last_home = home
            ratios.append(times["on"] / times["off"])
            print(f"  pair {pair + 1}: objects on takes {ratios[-1]:.2f}x the time of objects off")
        before = _cio_requests(info)
        again = _child(env, "on", json.dumps(info), last_home)
        print(
            f"re-sync with objects on, nothing changed: {again['seconds']:.2f} s,"
            f" {_cio_requests(info) - before} Customer.io requests (must be 0)"
        )
        print(f"objects on / off time, median of {len(ratios)} pair(s): {statistics.median(ratios):.2f}x")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
