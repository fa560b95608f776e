"""Benchmark: Preview search over a 100,000-user audience, time to the first match and to the end.

    .venv/bin/python bench/bench_preview_search.py                  # export file, 100,000 users
    .venv/bin/python bench/bench_preview_search.py --source sandbox # the sandbox's Hull API instead
    .venv/bin/python bench/bench_preview_search.py --users 20000    # smaller

The audience is the "All Users" segment of the sandbox's seeded organization (every user). Each query
runs through the same code the Preview page runs on its worker (``backend_audience.search_audience``:
open the engine, stream the source, plan only the matches). Queries:

- ``middle``: the email of the user halfway through the source (one match);
- ``last``: the email of one of the last users (one match: the first match is the whole read);
- ``name``: a first and last name several users share;
- ``broad``: "example", which most people match (stops at the 1,000-match limit).

Peer, measured in the same run: a plain read of the same audience (``iter_users``, no matching, no
planning). ``vs read`` is the search's time to the end over that read: the cost of searching on top
of reading the source, which does not depend on how noisy the shared machine is.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Job:
    """What ``search_audience`` needs of a worker's JobContext: progress and a cancel flag."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.started = time.perf_counter()
        self.first_match_s: float | None = None
        self.updates = 0

    def progress(self, update: Any) -> None:
        self.updates += 1
        if update.matches and self.first_match_s is None:
            self.first_match_s = time.perf_counter() - self.started

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise RuntimeError("cancelled")


def _queries(org: Any, users: int) -> dict[str, str]:
    def email_near(i: int) -> str:
        while True:
            email = org.doc(i).get("email")
            if isinstance(email, str) and email:
                return email
            i -= 1

    name = org.doc(users // 3).get("name") or "Garcia"
    return {
        "middle": email_near(users // 2),
        "last": email_near(users - 1),
        "name": str(name),
        "broad": "example",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--source", choices=("files", "sandbox"), default="files")
    parser.add_argument("--repeat", type=int, default=3, help="runs per query; the median is shown")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="bench-search-")
    os.environ["CIO_DESKTOP_HOME"] = home  # the ledger goes to a scratch folder, not the user's

    from cio_desktop.config.profile import (
        AttributeMapping,
        FileSourceSettings,
        Profile,
        SegmentRef,
        SourceKind,
        default_cio_name,
    )
    from cio_desktop.config.secrets import SecretKey, SecretStore
    from cio_desktop.gui import backend
    from cio_desktop.gui.backend_audience import search_audience
    from cio_desktop.sandbox import Sandbox
    from cio_desktop.sandbox.data import FakeOrg
    from cio_desktop.sandbox.export import export_organization

    seed = 20260101
    secrets = SecretStore.in_memory()
    sandbox: Sandbox | None = None
    started = time.perf_counter()
    if args.source == "files":
        org = FakeOrg(args.users, seed=seed)
        path = export_organization(org, Path(home) / "export", formats=("jsonl",), events=False)["jsonl"]
        attributes = (
            "id", "name", "created_at", "traits_clearbit/company", "traits_clearbit/title", "traits_plan",
            "traits_mrr", "traits_score", "traits_newsletter", "traits_intercom/tags", "account.domain",
        )  # fmt: skip
        profile = Profile(
            name="bench-search",
            source=SourceKind.FILES,
            files=FileSourceSettings(str(path), ""),
            mappings=tuple(AttributeMapping(a, default_cio_name(a)) for a in attributes),
        )
        backend.open_source(profile, secrets, profile.name).count_users(None)  # the one metadata scan
    else:
        sandbox = Sandbox(users=args.users, seed=seed).start()
        org = sandbox.org
        profile = sandbox.demo_profile("bench-search")
        secrets.set(profile.name, SecretKey.HULL_SECRET, sandbox.credentials.hull_secret)
    everyone = [s for s in backend.open_source(profile, secrets, profile.name).segments() if s.name == "All Users"]
    profile = profile.replace(segments=tuple(SegmentRef(s.id, s.name) for s in everyone), write_back=False)
    print(f"{args.users:,} users ({args.source}) ready in {time.perf_counter() - started:.1f} s", flush=True)

    try:
        reads = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            source = backend.open_source(profile, secrets, profile.name)
            audience = sum(1 for _ in source.iter_users(profile.segment_ids))
            reads.append(time.perf_counter() - t)
        read_s = statistics.median(reads)
        print(f"peer: plain read of the audience ({audience:,} users): {read_s:.2f} s")
        print(f"{'query':<8} {'text':<36} {'matches':>8} {'first match':>12} {'to the end':>11} {'vs read':>8}")
        for label, query in _queries(org, args.users).items():
            firsts, totals = [], []
            matches = 0
            for _ in range(args.repeat):
                job = _Job()
                update = search_audience(profile, secrets, profile.name, query, job)  # type: ignore[arg-type]
                totals.append(time.perf_counter() - job.started)
                firsts.append(job.first_match_s if job.first_match_s is not None else float("nan"))
                matches = len(update.matches)
                more = "+" if update.truncated else ""
            first, total = statistics.median(firsts), statistics.median(totals)
            shown = query if len(query) <= 36 else query[:35] + "…"
            print(
                f"{label:<8} {shown:<36} {matches:>7,}{more:1} {first:>10.3f} s {total:>9.2f} s {total / read_s:>7.2f}x"
            )
        print(f"peak RSS: {_peak_rss_mb():.0f} MB")
    finally:
        if sandbox is not None:
            sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
