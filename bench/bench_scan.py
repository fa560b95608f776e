"""Benchmark: the cold metadata scan of a users export file without workers and with 1, 2 and 4.

    .venv/bin/python bench/bench_scan.py                           # 60,000 and 100,000 users, 5 rounds
    .venv/bin/python bench/bench_scan.py --users 60000 --rounds 3
    .venv/bin/python bench/bench_scan.py --users 60000 --duplicates 5000   # a second pass (last row wins)
    # also an older cio_desktop tree as a peer, e.g. the commit before the scan work (no workers, or @N):
    mkdir -p /tmp/before && git archive 84c4cb3 cio_desktop | tar -x -C /tmp/before
    .venv/bin/python bench/bench_scan.py --peer before=/tmp/before

The sandbox's seeded organization is written as JSON lines (uncompressed: the format the parallel
scan splits). Every round runs each setting once, in turn, as a fresh process with an empty home (so
no cached metadata): ``FileSource(path).scan()`` with ``CIO_DESKTOP_WORKERS`` = 0, 1, 2, 4 (0: the
scanning process alone; the file is over 32 MB, so it is scanned range by range either way).
A peer tree runs the same child with ``PYTHONPATH`` at it (``label=DIR@2``: with 2 workers).
Reported per setting: wall seconds of the scan (worker start-up included) and CPU seconds of the
scanning process plus its workers, min and median over the rounds, and the median of the per-round
ratios of the workers=0 wall time to this setting's (same round, so the machine's load at that moment is
shared). The file is in the page cache after it is written: the figures are of parsing and
tallying, not of the disk. With workers, the scanning process scans ranges too (from the file's end).
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

# The same seeded export as bench_file_sync.py (this folder is on sys.path when a bench script runs).
from bench_file_sync import _generate

WORKER_SETTINGS = (0, 1, 2, 4)


def child_scan(path: Path) -> dict[str, Any]:
    from cio_desktop.hull.files import FileSource

    cpu = time.process_time()
    started = time.perf_counter()
    summary = FileSource(path).scan()
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, reaped when the pool shut down
    return {
        "users": summary.users,
        "attributes": len(summary.attributes),
        "wall": wall,
        "cpu": time.process_time() - cpu + children.ru_utime + children.ru_stime,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _run(path: Path, workers: int, tree: str, home: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "CIO_DESKTOP_HOME": str(home),
        "CIO_DESKTOP_WORKERS": str(workers),
        "PYTHONPATH": str(Path(tree).resolve()),
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(path)], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[60_000, 100_000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--duplicates", type=int, default=0, help="append the first N rows again (the later rows win: a second pass)"
    )
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        help="label=DIR[@WORKERS]: another cio_desktop tree (no workers unless @)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_scan(Path(args.child))))
        return 0

    here = str(Path(__file__).resolve().parent.parent)
    settings: list[tuple[str, int, str]] = [(f"workers={w}", w, here) for w in WORKER_SETTINGS]
    for peer in args.peer:
        label, _, tree = peer.partition("=")
        tree, _, workers = tree.partition("@")
        settings.append((f"{label} (workers={workers or 0})", int(workers or 0), tree))
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        for users in args.users:
            path = _generate(Path(tmp) / f"export-{users}", users)
            if args.duplicates:
                with path.open("rb") as source, path.open("ab") as out:
                    out.writelines(line for _, line in zip(range(args.duplicates), source, strict=False))
            again = f" (+{args.duplicates:,} rows again)" if args.duplicates else ""
            print(f"\n{users:,} users{again}, {path.stat().st_size / 1e6:.0f} MB JSON lines, {args.rounds} rounds")
            results: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in settings}
            for round_no in range(args.rounds):
                # Rotate the order so no setting always runs right after the same one.
                shift = round_no % len(settings)
                for n, (label, workers, tree) in enumerate(settings[shift:] + settings[:shift]):
                    home = Path(tmp) / f"home-{users}-{round_no}-{n}"
                    result = _run(path, workers, tree, home)
                    if result["users"] != users:
                        raise RuntimeError(f"{label} scanned {result['users']} users, not {users}")
                    results[label].append(result)
            alone = [r["wall"] for r in results["workers=0"]]
            print(f"{'setting':<22} {'wall min':>9} {'wall med':>9} {'cpu med':>8} {'ratio med':>10}  peak RSS")
            for label, _, _ in settings:
                walls = [r["wall"] for r in results[label]]
                cpus = [r["cpu"] for r in results[label]]
                ratios = [a / w for a, w in zip(alone, walls, strict=True)]
                rss = max(r["peak_rss_mb"] for r in results[label])
                print(
                    f"{label:<22} {min(walls):>8.2f}s {statistics.median(walls):>8.2f}s "
                    f"{statistics.median(cpus):>7.2f}s {statistics.median(ratios):>9.2f}x  {rss:.0f} MB"
                )
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end (ratio: workers=0 wall / this wall, same round)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
