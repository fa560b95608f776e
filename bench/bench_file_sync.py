"""Benchmark: a full sync of a Hull export file, cio-desktop against the plain script a capable engineer
would write instead, in the same run, as a ratio.

    .venv/bin/python bench/bench_file_sync.py                          # 60,000 users, 3 rounds
    .venv/bin/python bench/bench_file_sync.py --users 20000 --rounds 2  # quick

The peer (:func:`child_peer`) is the simplest correct script: read the JSON lines, rename the traits,
dates to Unix seconds, split under 500 KB (and 1,000 operations), send with the official
``customerio`` package's ``batch()``. cio-desktop does a full sync of the same file with the same 20
mapped attributes into the same sandbox (another process, reset before each client's turn, so both
write into an empty workspace). Every step is a whole fresh process timed from outside, imports and
start-up included; cio-desktop starts with an empty home each round: no ledger, no metadata cache.

Rounds alternate peer / cio-desktop so machine noise hits both alike; the ratio of each round is
peer seconds / cio-desktop seconds (> 1: cio-desktop is faster). Target: ratio >= 1.5.

The CPU seconds of each contestant (all its processes: reading and scanning workers too) and of the
sandbox while it ran are reported as well (the sandbox's from Linux's /proc): the sandbox shares this
machine's cores, so ``(own CPU + sandbox CPU) / cores`` is a floor no overlap of the two can beat.
cio-desktop's sync process is reported apart from its worker processes: its threads share one
interpreter lock (released only inside SQLite and socket calls, a small part), so its CPU seconds are
close to a floor on any machine, however many cores it has.

``--warm-cache`` scans the file (untimed) in each cio-desktop home before its timed sync, as the
Connect page does when a user picks the file: the sync then reads the metadata from the cache.

``--workers 0,1,2,4`` adds a contestant per count: cio-desktop with ``CIO_DESKTOP_WORKERS`` set to it
(0: everything in the sync's own process; on 2 cores the default is 1 reading process for a sync).

``--baseline DIR`` adds a third contestant to every round: cio-desktop from another source tree
(``PYTHONPATH=DIR``), e.g. the code before a change, so before and after are measured in one run:

    git archive <commit> cio_desktop | tar -x -C /tmp/before
    .venv/bin/python bench/bench_file_sync.py --baseline /tmp/before
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
from pathlib import Path
from typing import Any

import requests

# The same 20 attributes as bench_sync.py (this folder is on sys.path when a bench script runs).
from bench_sync import MAPPED


# ---------------------------------------------------------------------------------------------- the peer
def child_peer(path: str, info: dict[str, Any]) -> dict[str, Any]:
    """The plain script: no cio_desktop import, nothing but json, datetime and the official SDK."""
    from datetime import datetime

    from customerio import CustomerIO

    def unix(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return int(datetime.fromisoformat(value).timestamp())
            except ValueError:
                return value
        return value

    def cio_name(key: str) -> str:  # "traits_clearbit/given_name" -> "clearbit_given_name"
        return key.removeprefix("traits_").replace("/", "_").replace(".", "_")

    creds, base = info["credentials"], info["urls"]["cio_track"]
    cio = CustomerIO(creds["cio_site_id"], creds["cio_api_key"])
    send = cio.send_request
    # The SDK only builds https://track.customer.io URLs: aim them at the sandbox.
    cio.send_request = lambda method, url, data: send(method, base + url[len("https://track.customer.io") :], data)

    people = calls = 0
    ops: list[dict[str, Any]] = []
    size = len(json.dumps({"batch": []}))
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            user = json.loads(line)
            cid, email = user.get("external_id"), user.get("email")
            if not cid or not email:
                continue
            attrs = {"email": email, "created_at": unix(user.get("created_at"))}
            account = user.get("account") or {}
            for key in MAPPED:
                value = account.get(key[8:]) if key.startswith("account.") else user.get(key)
                if value is not None:
                    attrs[cio_name(key)] = unix(value) if key.endswith("_at") else value
            op = {"type": "person", "identifiers": {"id": str(cid)}, "action": "identify", "attributes": attrs}
            n = len(json.dumps(op)) + 2  # as the SDK sends it (requests' json=), with the ", " before it
            if ops and (size + n > 500_000 or len(ops) == 1000):
                cio.batch(ops)
                calls += 1
                ops, size = [], len(json.dumps({"batch": []}))
            ops.append(op)
            size += n
            people += 1
    if ops:
        cio.batch(ops)
        calls += 1
    return {"people_sent": people, "requests": calls}


# ---------------------------------------------------------------------------------------------- cio-desktop
def child_cio(path: str, info: dict[str, Any], segment_id: str) -> dict[str, Any]:
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
    from cio_desktop.sync.engine import RunMode
    from cio_desktop.sync.factory import open_services

    creds, urls = info["credentials"], info["urls"]
    profile = Profile(
        name="bench-file-sync",
        source=SourceKind.FILES,
        files=FileSourceSettings(path, ""),
        cio_site_id=creds["cio_site_id"],
        cio_region=Region.US,
        segments=(SegmentRef(segment_id, "All Users"),),  # as the Audience page saved it
        mappings=tuple(AttributeMapping(k, default_cio_name(k)) for k in MAPPED),
        write_back=False,
        endpoints=Endpoints(cio_track=urls["cio_track"], cio_app=urls["cio_app"]),
    )
    secrets = SecretStore.in_memory()
    secrets.set(profile.name, SecretKey.CIO_API_KEY, creds["cio_api_key"])
    with open_services(profile, secrets) as services:
        summary = services.engine().run(RunMode.FULL)
    return {
        "status": summary.status.value,
        "people_sent": summary.people_sent,
        "requests": summary.requests,
        "failed": summary.failed,
    }


# ---------------------------------------------------------------------------------------------- parent
def _start_sandbox() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cio_desktop", "sandbox", "--users", "10", "--json"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the sandbox did not start")
    return proc, json.loads(line)


# CPU seconds (user + system) of each contestant's whole process tree and of the sandbox, per round.
CPU: dict[str, list[tuple[float, float]]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the children waited for, and theirs
    return usage.ru_utime + usage.ru_stime


def _sandbox_cpu(pid: int) -> float | None:
    """The sandbox process's CPU seconds so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed_child(env: dict[str, str], *args: str, sandbox: int = 0) -> tuple[float, dict[str, Any]]:
    """Wall time of a whole child process (start-up and imports included) and what it printed; its CPU
    and the sandbox's meanwhile go to CPU[step]."""
    cpu, box = _children_cpu(), _sandbox_cpu(sandbox) if sandbox else None
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"step {args[0]} failed:\n{proc.stderr[-3000:]}")
    box_after = _sandbox_cpu(sandbox) if sandbox else None
    CPU.setdefault(args[0], []).append(
        (_children_cpu() - cpu, box_after - box if box is not None and box_after is not None else float("nan"))
    )
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def _generate(folder: Path, users: int) -> Path:
    code = (
        "import sys; from pathlib import Path; from cio_desktop.sandbox.data import FakeOrg;"
        " from cio_desktop.sandbox.export import export_organization;"
        " print(export_organization(FakeOrg(int(sys.argv[1]), seed=2026), Path(sys.argv[2]),"
        " formats=('jsonl',), events=False)['jsonl'])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(users), str(folder)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return Path(out.stdout.strip().splitlines()[-1])


def _reset(info: dict[str, Any]) -> None:
    requests.post(info["urls"]["base"] + "/_sandbox/reset", data=b"{}", timeout=60)


def _people_in_sandbox(info: dict[str, Any]) -> int:
    state = requests.get(info["urls"]["base"] + "/_sandbox/state", timeout=60).json()
    return int(state.get("people", -1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="another cio_desktop source tree, run as a third contestant")
    parser.add_argument("--warm-cache", action="store_true", help="scan the file (untimed) before each sync")
    parser.add_argument(
        "--workers",
        default="",
        help="also run cio-desktop with CIO_DESKTOP_WORKERS set to each of these counts, e.g. 0,1,2,4",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]

    if args.child:
        step, path = args.child[0], args.child[1]
        if step == "scan":
            from cio_desktop.hull.files import FileSource

            print(json.dumps({"users": FileSource(path).scan().users}))
            return 0
        info = json.loads(args.child[2])
        result = child_peer(path, info) if step == "peer" else child_cio(path, info, args.child[3])  # cio, cio-wN
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        result["cpu_own_process"] = own.ru_utime + own.ru_stime  # all its threads, imports included
        result["cpu_worker_processes"] = workers.ru_utime + workers.ru_stime
        print(json.dumps(result))
        return 0

    cache = "warm (scanned before, untimed)" if args.warm_cache else "cold (scan included)"
    print(
        f"bench_file_sync: {args.users:,} users, {args.rounds} rounds, metadata cache {cache};"
        f" machine load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-file-sync-") as tmp:
        path = _generate(Path(tmp) / "export", args.users)
        print(f"export file: {path.stat().st_size / 1e6:.0f} MB JSON lines")
        with path.open(encoding="utf-8") as f:
            everyone = next(s["id"] for s in json.loads(f.readline())["segments"] if s["name"] == "All Users")
        proc, info = _start_sandbox()
        raw = json.dumps(info)
        peer_s: list[float] = []
        cio_s: list[float] = []
        base_s: list[float] = []
        own_cpu: list[float] = []  # cio-desktop's sync process alone, per round
        worker_cpu: list[float] = []  # its reading and scanning processes
        by_workers: dict[int, list[float]] = {n: [] for n in counts}
        try:
            for i in range(args.rounds):
                env = {**os.environ, "CIO_DESKTOP_HOME": str(Path(tmp) / f"home-{i}")}
                _reset(info)
                ps, peer = _timed_child(env, "peer", str(path), raw, sandbox=proc.pid)
                peer_people = _people_in_sandbox(info)
                _reset(info)
                if args.warm_cache:
                    _timed_child(env, "scan", str(path))
                cs, cio = _timed_child(env, "cio", str(path), raw, everyone, sandbox=proc.pid)
                cio_people = _people_in_sandbox(info)
                peer_s.append(ps)
                cio_s.append(cs)
                own_cpu.append(cio["cpu_own_process"])
                worker_cpu.append(cio["cpu_worker_processes"])
                print(
                    f"round {i + 1}: plain script {ps:.2f} s ({peer['people_sent']:,} people, {peer['requests']}"
                    f" requests, sandbox holds {peer_people:,}) | cio-desktop {cs:.2f} s ({cio['people_sent']:,}"
                    f" people, {cio['requests']} requests, status {cio['status']}, sandbox holds {cio_people:,})"
                    f" | ratio {ps / cs:.2f}"
                )
                for n in counts:
                    _reset(info)
                    n_env = {**env, "CIO_DESKTOP_HOME": str(Path(tmp) / f"w{n}-{i}"), "CIO_DESKTOP_WORKERS": str(n)}
                    if args.warm_cache:
                        _timed_child(n_env, "scan", str(path))
                    ws, wres = _timed_child(n_env, f"cio-w{n}", str(path), raw, everyone, sandbox=proc.pid)
                    by_workers[n].append(ws)
                    print(
                        f"round {i + 1} CIO_DESKTOP_WORKERS={n}: {ws:.2f} s ({wres['people_sent']:,} people, status"
                        f" {wres['status']}, sandbox holds {_people_in_sandbox(info):,}) | ratio {ps / ws:.2f}"
                    )
                if args.baseline:
                    _reset(info)
                    base_env = {**env, "CIO_DESKTOP_HOME": str(Path(tmp) / f"base-{i}"), "PYTHONPATH": args.baseline}
                    if args.warm_cache:
                        _timed_child(base_env, "scan", str(path))
                    bs, base = _timed_child(base_env, "cio", str(path), raw, everyone)
                    base_s.append(bs)
                    print(
                        f"round {i + 1} baseline: {bs:.2f} s ({base['people_sent']:,} people, status {base['status']},"
                        f" sandbox holds {_people_in_sandbox(info):,}) | ratio plain script / baseline {ps / bs:.2f}"
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    ratios = [p / c for p, c in zip(peer_s, cio_s, strict=True)]
    print(
        f"plain script: min {min(peer_s):.2f} s, median {statistics.median(peer_s):.2f} s |"
        f" cio-desktop: min {min(cio_s):.2f} s, median {statistics.median(cio_s):.2f} s"
        f" = {args.users / statistics.median(cio_s):,.0f} users/s"
    )
    print(
        f"ratio (plain script time / cio-desktop time; target >= 1.5): min {min(ratios):.2f},"
        f" median {statistics.median(ratios):.2f}, max {max(ratios):.2f}"
    )
    cores = os.cpu_count() or 1
    for step, name in (("peer", "plain script"), ("cio", "cio-desktop")):
        own = statistics.median(c for c, _ in CPU[step])
        box = statistics.median(b for _, b in CPU[step])
        print(
            f"CPU ({name}, median): its processes {own:.2f} s, the sandbox meanwhile {box:.2f} s; on {cores} cores"
            f" no schedule runs both in under {(own + box) / cores:.2f} s"
        )
    own = statistics.median(own_cpu)
    print(
        f"CPU (cio-desktop, median): its sync process {own:.2f} s, its worker processes"
        f" {statistics.median(worker_cpu):.2f} s. The sync process's threads share one interpreter lock, so"
        f" on any number of cores the sync takes about {own:.2f} s at least: a ratio of about"
        f" {statistics.median(peer_s) / own:.2f} at most against this plain script"
    )
    for n, times in by_workers.items():
        own = statistics.median(c for c, _ in CPU[f"cio-w{n}"])
        box = statistics.median(b for _, b in CPU[f"cio-w{n}"])
        print(
            f"CIO_DESKTOP_WORKERS={n}: min {min(times):.2f} s, median {statistics.median(times):.2f} s;"
            f" ratio median {statistics.median(p / t for p, t in zip(peer_s, times, strict=True)):.2f};"
            f" CPU {own:.2f} s + sandbox {box:.2f} s"
        )
    if base_s:
        before = [p / b for p, b in zip(peer_s, base_s, strict=True)]
        print(
            f"baseline: min {min(base_s):.2f} s, median {statistics.median(base_s):.2f} s; ratio plain script /"
            f" baseline: min {min(before):.2f}, median {statistics.median(before):.2f}, max {max(before):.2f};"
            f" speed-up baseline / cio-desktop: median {statistics.median(base_s) / statistics.median(cio_s):.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
