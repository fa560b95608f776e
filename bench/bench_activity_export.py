"""Benchmark: exporting a webhook inbox of 1,000,000 events, and the activity view's queries on it.

    .venv/bin/python bench/bench_activity_export.py                  # 1,000,000 events
    .venv/bin/python bench/bench_activity_export.py --events 100000  # smaller

Steps, each in a fresh subprocess so ru_maxrss is that step's own peak:
1. fill: an inbox (schema from ``Inbox``) with N email events over 90 days, 5,000 people, 20 campaigns;
2. baseline: the same imports and an open inbox, nothing exported (the peer the exports compare to);
3. export-jsonl / export-csv: ``export_activity`` of every event, peak RSS, events/s;
4. tracemalloc-jsonl / tracemalloc-csv: the same with tracemalloc on (Python allocations' peak);
5. queries: the view's search of one person, counts of 30 days, a campaign search, stored size.
Targets: export RSS within 30 MB of the baseline and a tracemalloc peak under 5 MB, whatever N.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAMES = ("Email Sent", "Email Delivered", "Email Opened", "Email Link Clicked", "Email Bounced", "Unsubscribed")
WEIGHTS = (30, 29, 25, 10, 4, 2)  # per 100 events
NOW = 1_780_000_000.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child_fill(path: Path, events: int) -> dict[str, Any]:
    from cio_desktop.webhooks.inbox import Inbox

    Inbox(path).close()  # creates the current schema and its indexes
    names = [n for n, w in zip(NAMES, WEIGHTS, strict=True) for _ in range(w)]
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # filling is setup, not what is measured

    def rows(lo: int, hi: int) -> Any:
        for i in range(lo, hi):
            person = f"u-{i % 5000:05d}"
            name = names[i % len(names)]
            created = NOW - (i * 7919 % (90 * 86400))
            campaign = f"Campaign {i % 20:02d}"
            props = {
                "campaign_name": campaign,
                "campaign_id": i % 20,
                "delivery_id": f"RMehBAAAAXE7r_{i:010d}==",
                "email_subject": "Your monthly report is ready",
                "customer_id": person,
            }
            if name == "Email Link Clicked":
                props["href"] = f"https://example.com/report?utm_source=cio&id={i}"
            as_user = json.dumps({"external_id": person, "email": f"{person}@example.com"})
            iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
            yield (
                f"ev-{i:09d}",
                name,
                iso,
                created,
                as_user,
                json.dumps(props),
                person,
                f"{person}@example.com",
                campaign,
                created,
            )

    step = 50_000
    for lo in range(0, events, step):
        conn.executemany(
            "INSERT INTO events (event_id, status, name, format, object_type, metric, created_at, received_at,"
            " as_user, properties, body, person_id, email, campaign, created_ts) VALUES"
            " (?, 'kept', ?, 'current', 'email', 'x', ?, ?, ?, ?, x'7b7d', ?, ?, ?, ?)",
            rows(lo, min(events, lo + step)),
        )
        conn.commit()
    conn.close()
    return {
        "events": events,
        "seconds": round(time.perf_counter() - started, 1),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def child_baseline(path: Path) -> dict[str, Any]:
    from cio_desktop.webhooks.activity import ActivityFilter
    from cio_desktop.webhooks.export import iter_rows

    next(iter_rows(path, ActivityFilter()))
    return {"peak_rss_mb": round(_peak_rss_mb(), 1)}


def child_export(path: Path, fmt: str, trace: bool) -> dict[str, Any]:
    import tracemalloc

    from cio_desktop.webhooks.export import ExportFormat, export_activity

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"activity.{fmt}"
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        count = export_activity(path, out, ExportFormat(fmt))
        seconds = time.perf_counter() - started
        result: dict[str, Any] = {"events": count, "seconds": round(seconds, 1), "events_per_s": round(count / seconds)}
        if trace:
            result["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
            tracemalloc.stop()
        else:
            result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
        result["file_mb"] = round(out.stat().st_size / 1e6, 1)
    return result


def child_queries(path: Path) -> dict[str, Any]:
    from cio_desktop.webhooks.activity import (
        ActivityFilter,
        ReadOnlyInbox,
        activity_counts,
        person_activity,
        search,
        stored_size,
    )

    inbox = ReadOnlyInbox(path)
    timings: dict[str, Any] = {}

    def timed(name: str, fn: Any) -> Any:
        started = time.perf_counter()
        value = fn()
        timings[name + "_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return value

    timed("newest_500", lambda: search(inbox, ActivityFilter(), limit=500))
    timed("person_by_email", lambda: search(inbox, ActivityFilter(person="u-00042@example.com")))
    timed("person_30_days_summary", lambda: person_activity(inbox, ["u-00042"], None, days=30, now=NOW))
    timed("campaign_search", lambda: search(inbox, ActivityFilter(campaign="Campaign 07"), limit=500))
    timed("counts_30_days", lambda: activity_counts(inbox, ActivityFilter(since=NOW - 30 * 86400)))
    timed("counts_all_time", lambda: activity_counts(inbox, ActivityFilter()))
    timed("stored_size", lambda: stored_size(inbox))
    inbox.close()
    return timings


def run_child(step: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, *args], check=True, capture_output=True, text=True
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, *rest = args.child
        path = Path(rest[0])
        if step == "fill":
            result = child_fill(path, int(rest[1]))
        elif step == "baseline":
            result = child_baseline(path)
        elif step == "export":
            result = child_export(path, rest[1], rest[2] == "trace")
        else:
            result = child_queries(path)
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="cio-bench-activity-") as tmp:
        path = Path(tmp) / "inbox.sqlite3"
        report: dict[str, Any] = {"fill": run_child("fill", str(path), str(args.events))}
        report["baseline"] = run_child("baseline", str(path))
        for fmt in ("jsonl", "csv"):
            report[f"export_{fmt}"] = run_child("export", str(path), fmt, "rss")
            report[f"tracemalloc_{fmt}"] = run_child("export", str(path), fmt, "trace")
            report[f"export_{fmt}"]["rss_over_baseline_mb"] = round(
                report[f"export_{fmt}"]["peak_rss_mb"] - report["baseline"]["peak_rss_mb"], 1
            )
        report["queries"] = run_child("queries", str(path))
    print(json.dumps(report, indent=2))
    ok = all(
        report[f"export_{f}"]["rss_over_baseline_mb"] < 30 and report[f"tracemalloc_{f}"]["tracemalloc_peak_mb"] < 5
        for f in ("jsonl", "csv")
    )
    print("bounded memory:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
