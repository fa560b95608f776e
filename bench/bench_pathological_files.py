"""Benchmark: peak memory of reading pathological Hull export files (issue 11, bounded memory).

    .venv/bin/python bench/bench_pathological_files.py                 # 1024 MB line / element
    .venv/bin/python bench/bench_pathological_files.py --record-mb 200 # quicker
    .venv/bin/python bench/bench_pathological_files.py --record-mb 2048 --cases line.jsonl.gz
    # the code before the record limit, from a temporary checkout of an older commit:
    PYTHONPATH=/tmp/readers-base .venv/bin/python bench/bench_pathological_files.py

Files (generated streamed into a temporary folder; the gzip ones stay small on disk):
- ``line.jsonl.gz``: a user, one ``--record-mb`` line of "a" inside a JSON string, a user;
- ``element.json.gz``: the same as a pretty-printed JSON array with one huge element;
- ``events.jsonl.gz``: a one-user users file with such a line in the events file;
- ``header.csv``: a header of 1,000,000 columns and one row;
- ``row.csv``: a normal header and a row of 1,000,000 fields between two good rows.

Each file is read in a fresh subprocess (metadata scan, then every user and event) with the
default record limit; the table shows its peak RSS (VmHWM, Linux), time and outcome. The child's
address space is capped at ``--max-memory-mb`` so the old code fails with MemoryError instead of
pushing a shared machine into swap.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MB = 1 << 20
COLUMNS = 1_000_000


def _user(n: int) -> bytes:
    return json.dumps({"id": f"{n:024x}", "email": f"u{n}@example.com"}).encode()


def _huge_string(out: gzip.GzipFile, record_mb: int) -> None:
    block = b"a" * MB
    for _ in range(record_mb):
        out.write(block)


def make_line(path: Path, record_mb: int) -> None:
    with gzip.GzipFile(path, "wb", compresslevel=6) as out:
        out.write(_user(1) + b'\n{"id": "huge", "traits_blob": "')
        _huge_string(out, record_mb)
        out.write(b'"}\n' + _user(3) + b"\n")


def make_element(path: Path, record_mb: int) -> None:
    with gzip.GzipFile(path, "wb", compresslevel=6) as out:
        out.write(b"[\n  " + _user(1) + b',\n  {"id": "huge", "traits_blob": "')
        _huge_string(out, record_mb)
        out.write(b'"},\n  ' + _user(3) + b"\n]\n")


def make_events(path: Path, record_mb: int) -> None:
    event = {"event": "Paid", "created_at": "2024-01-01T00:00:00Z", "user_id": f"{1:024x}"}
    with gzip.GzipFile(path, "wb", compresslevel=6) as out:
        out.write(json.dumps(event).encode() + b'\n{"event": "Paid", "properties": {"blob": "')
        _huge_string(out, record_mb)
        out.write(b'"}}\n' + json.dumps(event).encode() + b"\n")


def make_header(path: Path, record_mb: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(f"c{n}" for n in range(COLUMNS)) + "\n")
        out.write(",".join("1" for _ in range(COLUMNS)) + "\n")


def make_row(path: Path, record_mb: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("id,email\na1,a@example.com\n")
        out.write(",".join(str(n) for n in range(COLUMNS)) + "\n")
        out.write("a3,c@example.com\n")


CASES: dict[str, Callable[[Path, int], None]] = {
    "line.jsonl.gz": make_line,
    "element.json.gz": make_element,
    "events.jsonl.gz": make_events,
    "header.csv": make_header,
    "row.csv": make_row,
}


def child(folder: Path, case: str, max_memory_mb: int) -> dict[str, object]:
    resource.setrlimit(resource.RLIMIT_AS, (max_memory_mb * MB, max_memory_mb * MB))
    from cio_desktop.hull.files import FileSource

    started = time.perf_counter()
    try:
        if case == "events.jsonl.gz":
            source = FileSource(folder / "one-user.jsonl", folder / case)
            source.scan()
            records = sum(1 for _ in source.iter_events(["Paid"]))
        else:
            source = FileSource(folder / case)
            source.scan()
            records = sum(1 for _ in source.iter_users(None))
        problems = source.problems()
        outcome = f"{records} records read, {len(problems)} skipped" + (
            f": line {problems[0].line}: {problems[0].reason}" if problems else ""
        )
    except MemoryError:
        outcome = "MemoryError"
    except Exception as exc:  # the outcome is what the table reports
        outcome = f"{type(exc).__name__}: {exc}"
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_rss_mb(), "outcome": outcome}


def _peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's size at fork.
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status (this benchmark measures on Linux)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record-mb", type=int, default=1024, help="size of the huge line / element")
    parser.add_argument("--max-memory-mb", type=int, default=6144, help="address-space cap of each reading child")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES), help="files to read")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], int(args.child[2]))))
        return 0
    with tempfile.TemporaryDirectory(prefix="cio-bench-pathological-") as tmp:
        folder = Path(tmp)
        (folder / "one-user.jsonl").write_bytes(_user(1) + b"\n")
        env = {**os.environ, "CIO_DESKTOP_HOME": str(folder / "home")}
        print(f"{'file':17} {'on disk':>10} {'peak RSS':>10} {'seconds':>8}  outcome")
        for case in args.cases:
            make, path = CASES[case], folder / case
            make(path, args.record_mb)
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(folder), case, str(args.max_memory_mb)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                print(f"{case:17} {path.stat().st_size / MB:8.1f}MB {'-':>10} {'-':>8}  child failed: {tail}")
                continue
            result = json.loads(done.stdout)
            print(
                f"{case:17} {path.stat().st_size / MB:8.1f}MB {result['peak_rss_mb']:8.0f}MB "
                f"{result['seconds']:8.2f}  {str(result['outcome'])[:110]}"
            )
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
