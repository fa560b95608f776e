"""Benchmark: a 1,000,000-user Hull export file through FileSource (and, optionally, a full sync).

    .venv/bin/python bench/bench_files.py                 # 1,000,000 users, stream only
    .venv/bin/python bench/bench_files.py --users 200000  # smaller
    .venv/bin/python bench/bench_files.py --sync          # also a full sync against the sandbox

Steps (each measured in a fresh subprocess so ru_maxrss is that step's own peak):
1. generate: the sandbox's seeded organization written as JSON lines (streamed to disk);
2. scan: the one metadata pass (segments, attribute types, duplicates), cold cache;
3. stream: ``iter_users(None)`` over the whole file (cache warm), users/s;
4. sync (``--sync``): ``cio-desktop``'s engine syncs the file to the sandbox's Customer.io.
Target: peak RSS of the sync under 300 MB (the sync's own process; its largest worker process's peak
is reported beside it: a reading process decides the pages while the sync's process sends).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_generate(folder: Path, users: int) -> dict[str, Any]:
    from cio_desktop.sandbox.data import FakeOrg
    from cio_desktop.sandbox.export import export_organization

    started = time.perf_counter()
    out = export_organization(FakeOrg(users, seed=20260101), folder, formats=("jsonl",), events=False)
    seconds = time.perf_counter() - started
    path = out["jsonl"]
    return {"path": str(path), "bytes": path.stat().st_size, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def child_scan(path: Path) -> dict[str, Any]:
    from cio_desktop.hull.files import FileSource

    started = time.perf_counter()
    summary = FileSource(path).scan()
    seconds = time.perf_counter() - started
    return {
        "users": summary.users,
        "segments": len(summary.segments),
        "attributes": len(summary.attributes),
        "seconds": seconds,
        "users_per_s": summary.users / seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_stream(path: Path) -> dict[str, Any]:
    from cio_desktop.hull.files import FileSource

    source = FileSource(path)
    source.count_users(None)  # metadata from the cache written by the scan step
    started = time.perf_counter()
    count = 0
    for _ in source.iter_users(None):
        count += 1
    seconds = time.perf_counter() - started
    return {"users": count, "seconds": seconds, "users_per_s": count / seconds, "peak_rss_mb": _peak_rss_mb()}


def child_sync(path: Path, sandbox_info: str) -> dict[str, Any]:
    from cio_desktop.config.profile import (
        AttributeMapping,
        Endpoints,
        FileSourceSettings,
        Profile,
        Region,
        SegmentRef,
        SourceKind,
        default_cio_name,
    )
    from cio_desktop.config.secrets import SecretKey, SecretStore
    from cio_desktop.hull.files import FileSource
    from cio_desktop.sync.engine import RunMode
    from cio_desktop.sync.factory import open_services

    info = json.loads(sandbox_info)
    creds, urls = info["credentials"], info["urls"]
    everyone = [SegmentRef(s.id, s.name) for s in FileSource(path).segments() if s.name == "All Users"]
    attributes = (
        "id", "name", "created_at", "traits_clearbit/company", "traits_clearbit/title", "traits_plan",
        "traits_mrr", "traits_score", "traits_newsletter", "traits_intercom/tags", "account.domain",
    )  # fmt: skip
    profile = Profile(
        name="bench-files",
        source=SourceKind.FILES,
        files=FileSourceSettings(str(path), ""),
        cio_site_id=creds["cio_site_id"],
        cio_region=Region.US,
        rate_limit=3000.0,
        segments=tuple(everyone),
        mappings=tuple(AttributeMapping(a, default_cio_name(a)) for a in attributes),
        write_back=False,
        endpoints=Endpoints(cio_track=urls["cio_track"], cio_app=urls["cio_app"]),
    )
    secrets = SecretStore.in_memory()
    secrets.set(profile.name, SecretKey.CIO_API_KEY, creds["cio_api_key"])
    started = time.perf_counter()
    with open_services(profile, secrets) as services:
        summary = services.engine().run(RunMode.FULL)
        problems = len(services.source.problems())
    seconds = time.perf_counter() - started
    return {
        "status": summary.status.value,
        "people_sent": summary.people_sent,
        "failed": summary.failed,
        "requests": summary.requests,
        "bad_rows": problems,
        "seconds": round(seconds, 1),
        "people_per_s": round(summary.people_sent / seconds),
        "peak_rss_mb": _peak_rss_mb(),
        # Its reading and scanning processes (the largest one's peak: they run side by side).
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }


def _start_sandbox(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """The sandbox in its own process, so its Customer.io store does not count in the sync's RSS."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_desktop", "sandbox", "--users", "10", "--json"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the sandbox did not start")
    return proc, line.strip()


def _run_child(step: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--sync", action="store_true", help="also run a full sync against the sandbox")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        step, *rest = args.child
        if step == "generate":
            result = child_generate(Path(rest[0]), int(rest[1]))
        elif step == "scan":
            result = child_scan(Path(rest[0]))
        elif step == "stream":
            result = child_stream(Path(rest[0]))
        else:
            result = child_sync(Path(rest[0]), rest[1])
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        env = {**os.environ, "CIO_DESKTOP_HOME": str(Path(tmp) / "home")}
        generated = _run_child("generate", str(Path(tmp) / "export"), str(args.users), env=env)
        print(
            f"generate: {args.users:,} users, {generated['bytes'] / 1e6:.0f} MB JSON lines "
            f"in {generated['seconds']:.1f} s (peak RSS {generated['peak_rss_mb']:.0f} MB)"
        )
        scanned = _run_child("scan", generated["path"], env=env)
        print(
            f"scan (metadata, cold cache): {scanned['users']:,} users, {scanned['segments']} segments, "
            f"{scanned['attributes']} attributes in {scanned['seconds']:.1f} s = "
            f"{scanned['users_per_s']:,.0f} users/s, peak RSS {scanned['peak_rss_mb']:.0f} MB"
        )
        streamed = _run_child("stream", generated["path"], env=env)
        print(
            f"stream iter_users(None): {streamed['users']:,} users in {streamed['seconds']:.1f} s = "
            f"{streamed['users_per_s']:,.0f} users/s, peak RSS {streamed['peak_rss_mb']:.0f} MB"
        )
        if args.sync:
            sandbox, info = _start_sandbox(env)
            try:
                synced = _run_child("sync", generated["path"], info, env=env)
                state = requests.get(json.loads(info)["urls"]["base"] + "/_sandbox/state", timeout=30).json()
            finally:
                sandbox.terminate()
                sandbox.wait(timeout=30)
            print(f"sandbox Customer.io now holds: { {k: v for k, v in state.items() if k != 'requests'} }")
            verdict = "OK" if synced["peak_rss_mb"] < 300 else "OVER the 300 MB target"
            details = ", ".join(f"{k}={v}" for k, v in synced.items() if not k.endswith("peak_rss_mb"))
            print(
                f"sync: {details}; peak RSS {synced['peak_rss_mb']:.0f} MB ({verdict}); its largest worker process"
                f" (reading and deciding, or scanning) peaked at {synced['worker_peak_rss_mb']:.0f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
