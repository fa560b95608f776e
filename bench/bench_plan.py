"""Benchmark: time to compute the plan of a full sync (what the app shows before sending) of 100,000 users.

    .venv/bin/python bench/bench_plan.py                   # 100,000 users from a Hull export file
    .venv/bin/python bench/bench_plan.py --users 20000     # quick

Steps (the sandbox's Customer.io runs in its own process, over loopback):
1. generate: the sandbox's seeded organization written as JSON lines;
2. in one child process, with the export as the profile's source (11 mapped attributes, segment
   "All Users"): the metadata scan the app has done before anyone presses Full sync, then
   a. peer: reading every user of the file (``iter_users``), nothing else;
   b. the plan of a first full sync (empty ledger: everyone will be created);
   c. a real full sync to the sandbox (fills the ledger);
   d. the plan of a full sync after it (everyone unchanged, the everyday case);
   d'. (d) with the file read on a thread of the plan's own process (``CIO_DESKTOP_WORKERS=0``), as
      before plans had a reading process (sync/read_ahead.py): the lever's before and after, one run;
   e. the plan of "Sync changes" after it;
   f. (d) again as the app window makes it: in a spawned child process, its start-up included.
Target: (b) and (d) under 3 s. Each plan lists every person in the ledger (run_people).
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

TARGET_S = 3.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child_generate(folder: Path, users: int) -> dict[str, Any]:
    from cio_desktop.sandbox.data import FakeOrg
    from cio_desktop.sandbox.export import export_organization

    out = export_organization(FakeOrg(users, seed=20260101), folder, formats=("jsonl",), events=False)
    return {"path": str(out["jsonl"])}


def child_plan(path: Path, sandbox_info: str) -> dict[str, Any]:
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
    from cio_desktop.sync.plan import compute_plan
    from cio_desktop.sync.run_people import Category

    info = json.loads(sandbox_info)
    creds, urls = info["credentials"], info["urls"]
    everyone = [SegmentRef(s.id, s.name) for s in FileSource(path).segments() if s.name == "All Users"]
    attributes = (
        "id", "name", "created_at", "traits_clearbit/company", "traits_clearbit/title", "traits_plan",
        "traits_mrr", "traits_score", "traits_newsletter", "traits_intercom/tags", "account.domain",
    )  # fmt: skip
    profile = Profile(
        name="bench-plan",
        source=SourceKind.FILES,
        files=FileSourceSettings(str(path), ""),
        cio_site_id=creds["cio_site_id"],
        cio_region=Region.US,
        rate_limit=3000.0,
        segments=tuple(everyone),
        mappings=tuple(AttributeMapping(a, default_cio_name(a)) for a in attributes),
        write_back=False,
        delete_on_leave=True,
        endpoints=Endpoints(cio_track=urls["cio_track"], cio_app=urls["cio_app"]),
    )
    secrets = SecretStore.in_memory()
    secrets.set(profile.name, SecretKey.CIO_API_KEY, creds["cio_api_key"])
    out: dict[str, Any] = {}
    with open_services(profile, secrets) as services:
        source = services.source
        source.count_users(profile.segment_ids)  # the metadata scan (done when the profile was set up)
        started = time.perf_counter()
        read = sum(1 for _ in source.iter_users(profile.segment_ids))
        out["read"] = {"users": read, "seconds": time.perf_counter() - started}

        def plan(name: str, mode: RunMode) -> None:
            started = time.perf_counter()
            p = compute_plan(services.engine(), mode)
            seconds = time.perf_counter() - started
            out[name] = {"seconds": seconds, "people": {c.value: p.count(c) for c in Category}}

        plan("first_plan", RunMode.FULL)
        started = time.perf_counter()
        summary = services.engine().run(RunMode.FULL)
        out["sync"] = {
            "status": summary.status.value,
            "sent": summary.people_sent,
            "seconds": time.perf_counter() - started,
        }
        plan("plan_after_sync", RunMode.FULL)
        saved = os.environ.get("CIO_DESKTOP_WORKERS")
        os.environ["CIO_DESKTOP_WORKERS"] = "0"
        plan("plan_after_sync_in_process", RunMode.FULL)
        if saved is None:
            del os.environ["CIO_DESKTOP_WORKERS"]
        else:
            os.environ["CIO_DESKTOP_WORKERS"] = saved
        plan("plan_changes", RunMode.INCREMENTAL)
    # The window plans in a child process (sync/child_run.py): the same everyday plan, as the user
    # waits for it there, start-up of the child included.
    from cio_desktop.sync.child_run import ChildRequest, Task, run_in_child

    request = ChildRequest(Task.PLAN, profile, {SecretKey.CIO_API_KEY: creds["cio_api_key"]}, RunMode.FULL)
    started = time.perf_counter()
    p = run_in_child(request)
    out["plan_in_child"] = {
        "seconds": time.perf_counter() - started,
        "people": {c.value: p.count(c) for c in Category},
    }
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def _start_sandbox(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
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
        [sys.executable, __file__, "--child", step, *args], check=True, capture_output=True, text=True, env=env
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, *rest = args.child
        result = (
            child_generate(Path(rest[0]), int(rest[1])) if step == "generate" else child_plan(Path(rest[0]), rest[1])
        )
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        env = {**os.environ, "CIO_DESKTOP_HOME": str(Path(tmp) / "home")}
        path = _run_child("generate", str(Path(tmp) / "export"), str(args.users), env=env)["path"]
        sandbox, info = _start_sandbox(env)
        try:
            r = _run_child("plan", path, info, env=env)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
    read = r["read"]
    print(f"peer: reading {read['users']:,} users of the export: {read['seconds']:.2f} s")
    ok = True
    for key, title in (
        ("first_plan", "plan of a first full sync"),
        ("plan_after_sync", "plan of a full sync after a full sync"),
        ("plan_after_sync_in_process", "(the same, the file read in the plan's own process)"),
        ("plan_changes", "plan of 'Sync changes' after a full sync"),
        ("plan_in_child", "the same everyday plan as the window makes it (in a child process)"),
    ):
        p = r[key]
        people = ", ".join(f"{k} {v:,}" for k, v in p["people"].items() if v)
        ratio = p["seconds"] / read["seconds"] if read["seconds"] else 0.0
        print(f"{title}: {p['seconds']:.2f} s ({ratio:.1f}x the read) [{people}]")
        ok = ok and (key in ("plan_changes", "plan_in_child", "plan_after_sync_in_process") or p["seconds"] < TARGET_S)
    print(
        f"(full sync between: {r['sync']['sent']:,} people sent in {r['sync']['seconds']:.1f} s, {r['sync']['status']})"
    )
    verdict = "met" if ok else "NOT met"
    print(
        f"peak RSS of the child: {r['peak_rss_mb']:.0f} MB; target (full-sync plans under {TARGET_S:.0f} s): {verdict}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
