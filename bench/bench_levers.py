"""Benchmark: the same file full sync by several versions of cio-desktop, in one run, lever by lever.

    for c in 0f9b846 4b0f281 f7ae9ca b3afa30; do
        mkdir -p /tmp/levers/$c && git archive $c cio_desktop | tar -x -C /tmp/levers/$c
    done
    .venv/bin/python bench/bench_levers.py base=/tmp/levers/0f9b846 orjson=/tmp/levers/4b0f281 \\
        gc=/tmp/levers/f7ae9ca seen=/tmp/levers/b3afa30 now=.

Each ``label=DIR`` is a cio_desktop source tree (``.``: this checkout) run with ``PYTHONPATH=DIR``. Every
round runs each version once, in turn, as a whole fresh process with an empty home (so the metadata
scan is included), into the same sandbox (reset before each). Reported per version: wall seconds and
CPU seconds of the sync process (user + system, from the kernel), min and median over the rounds.
CPU time is what a shared, loaded machine distorts least; wall time is what a user waits.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_file_sync import _generate, _people_in_sandbox, _reset, _start_sandbox  # noqa: E402


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(env: dict[str, str], path: Path, raw: str, segment: str) -> tuple[float, float, dict[str, Any]]:
    cpu = _cpu_of_children()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / "bench_file_sync.py"), "--child", "cio", str(path), raw, segment],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return wall, _cpu_of_children() - cpu, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("versions", nargs="+", help="label=DIR (DIR . is this checkout)")
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    versions = [(label, str(Path(d).resolve())) for label, _, d in (v.partition("=") for v in args.versions)]

    print(f"bench_levers: {args.users:,} users, {args.rounds} rounds; machine load {os.getloadavg()}")
    walls: dict[str, list[float]] = {label: [] for label, _ in versions}
    cpus: dict[str, list[float]] = {label: [] for label, _ in versions}
    with tempfile.TemporaryDirectory(prefix="bench-levers-") as tmp:
        path = _generate(Path(tmp) / "export", args.users)
        with path.open(encoding="utf-8") as f:
            everyone = next(s["id"] for s in json.loads(f.readline())["segments"] if s["name"] == "All Users")
        proc, info = _start_sandbox()
        raw = json.dumps(info)
        try:
            for i in range(args.rounds):
                for label, tree in versions:
                    env = {**os.environ, "CIO_DESKTOP_HOME": str(Path(tmp) / f"home-{label}-{i}"), "PYTHONPATH": tree}
                    _reset(info)
                    wall, cpu, result = _run(env, path, raw, everyone)
                    held = _people_in_sandbox(info)
                    walls[label].append(wall)
                    cpus[label].append(cpu)
                    print(
                        f"round {i + 1} {label}: {wall:.2f} s wall, {cpu:.2f} s CPU, {result['people_sent']:,} people"
                        f" in {result['requests']} requests, sandbox holds {held:,}, status {result['status']}"
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    first = versions[0][0]
    print(f"{'version':<10} {'wall min':>9} {'wall med':>9} {'CPU min':>8} {'CPU med':>8} {'CPU vs ' + first:>12}")
    for label, _ in versions:
        cpu_med = statistics.median(cpus[label])
        print(
            f"{label:<10} {min(walls[label]):>8.2f}s {statistics.median(walls[label]):>8.2f}s"
            f" {min(cpus[label]):>7.2f}s {cpu_med:>7.2f}s {statistics.median(cpus[first]) / cpu_med:>11.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
