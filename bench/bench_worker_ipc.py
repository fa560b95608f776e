"""Benchmark: would planning people in worker processes pay? Per-user cost of planning a person in the
run's own process, against what handing that work to a worker process costs the run's process alone.

    .venv/bin/python bench/bench_worker_ipc.py                 # 20,000 users, 3 rounds
    .venv/bin/python bench/bench_worker_ipc.py --users 5000

A worker needs the user (sent to it) and the run needs the decision back (planning needs the ledger's
view of the person, and the decision feeds the ledger, the sender and the run's list). Measured, in one
process, for users of the sandbox's seeded export file with the 20 mapped attributes of bench_sync.py:

- ``plan``: ``plan_user`` of every user (mapping, validation, encoding, the connector-hash check);
- ``ship``: encoding the users for the worker (orjson, the cheapest way; the worker decodes them);
- ``receive``: unpickling the decisions the worker would send back (what ``multiprocessing`` does).

Planning in workers only helps the run's process when ``ship + receive`` is well under ``plan``;
whatever the number of cores, the run's process cannot go faster than ``read + ship + receive +
bookkeeping`` per user.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_file_sync import _generate  # noqa: E402
from bench_sync import MAPPED  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from cio_desktop.config.profile import AttributeMapping, Profile, SegmentRef, default_cio_name
    from cio_desktop.hull.files import FileSource
    from cio_desktop.sync.model import MappingContext
    from cio_desktop.sync.planner import plan_user

    with tempfile.TemporaryDirectory(prefix="bench-worker-ipc-") as tmp:
        path = _generate(Path(tmp), args.users)
        source = FileSource(str(path))
        segments = source.segments()
        everyone = next(s.id for s in segments if s.name == "All Users")
        users = list(itertools.islice(source.iter_users(None), args.users))
        types = {a.key: a.type for a in source.attributes()}
    profile = Profile(
        name="bench-ipc",
        segments=(SegmentRef(everyone, "All Users"),),
        mappings=tuple(AttributeMapping(k, default_cio_name(k)) for k in MAPPED),
    )
    ctx = MappingContext(profile, {s.id: s.name for s in segments}, types)
    n = len(users)
    plan_us, ship_us, receive_us = [], [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        decisions = [plan_user(u, ctx, None, now=1.9e9) for u in users]
        t1 = time.perf_counter()
        shipped = orjson.dumps(users)
        t2 = time.perf_counter()
        answer = pickle.dumps(decisions, protocol=pickle.HIGHEST_PROTOCOL)
        t3 = time.perf_counter()
        pickle.loads(answer)  # our own bytes
        t4 = time.perf_counter()
        del shipped
        plan_us.append((t1 - t0) / n * 1e6)
        ship_us.append((t2 - t1) / n * 1e6)
        receive_us.append((t4 - t3) / n * 1e6)
    plan, ship, receive = (statistics.median(x) for x in (plan_us, ship_us, receive_us))
    print(f"{n:,} users, {args.rounds} rounds (median µs per user, in the run's own process):")
    print(f"  plan in process          {plan:6.1f} µs")
    handed = ship + receive
    print(
        f"  hand to a worker         {handed:6.1f} µs  (ship the user {ship:.1f}, receive the decision {receive:.1f})"
    )
    share = handed / plan
    print(f"  saved per planned user   {plan - handed:6.1f} µs (handing over costs {share:.0%} of planning)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
