"""Benchmark: how honest the Sync page's "time left" is, the new estimate against the old one in the same run.

    .venv/bin/python bench/bench_eta.py                                # 30,000 users, 20 requests/s, 100 per request
    .venv/bin/python bench/bench_eta.py --users 10000 --rate-limit 10  # quick

A full sync of the sandbox's organization (Hull API and Customer.io over loopback, in this process)
with a profile whose rate limit makes sending the slow part, as Customer.io's Track API does. Every
progress report of the users phase is kept with the time it arrived; once the phase is over, each
report's estimate is compared with the time the phase really had left:

- new: ``Progress.eta_s`` (sync/eta.py: phase, what went out, the rate limit; None while "estimating…");
- old: what the page showed before, (total - done) / users-per-second of the last seconds.

Both read the same reports of the same run, so machine noise hits both alike. Printed: the estimates
at 10%, 25% and 50% of the phase, and the median of |estimate - actual| / actual over every report
from 10% of the phase on (lower is better), with their ratio old / new.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=30_000)
    ap.add_argument("--rate-limit", type=float, default=20.0, help="the profile's requests per second")
    ap.add_argument("--per-request", type=int, default=100, help="people per batch request")
    args = ap.parse_args()

    from cio_desktop.config.paths import HOME_ENV

    home = tempfile.mkdtemp(prefix="cio-bench-eta-")
    os.environ[HOME_ENV] = home  # a throw-away home: no real profile or ledger is touched
    from cio_desktop.config.secrets import SecretKey, SecretStore
    from cio_desktop.sandbox import Sandbox
    from cio_desktop.sync.factory import open_services
    from cio_desktop.sync.progress import Progress
    from cio_desktop.sync.summary import RunMode

    reports: list[tuple[float, Progress]] = []
    with Sandbox(users=args.users, seed=5) as sb:
        profile = sb.demo_profile("Eta").replace(rate_limit=args.rate_limit, events=(), write_back=False)
        secrets = SecretStore.in_memory()
        for key, value in sb.credentials.secrets().items():
            secrets.set(profile.name, SecretKey(key), value)
        with open_services(profile, secrets) as services:
            engine = services.engine(batch_max_ops=args.per_request)
            started = time.monotonic()
            summary = engine.run(RunMode.FULL, on_progress=lambda p: reports.append((time.monotonic(), p)))
            ended = time.monotonic()
    users = [(t, p) for t, p in reports if p.phase == "users"]
    after = [t for t, p in reports if p.phase not in ("starting", "users")]
    if not users or not after:
        raise SystemExit("the run reported no users phase")
    phase_start, phase_end = users[0][0], min(after)
    length = phase_end - phase_start

    def old(p: Progress) -> float | None:
        return (p.total - p.done) / p.rate if p.total is not None and p.rate > 0 else None

    def at(share: float) -> dict[str, Any]:
        t, p = min(users, key=lambda tp: abs(tp[0] - (phase_start + share * length)))
        return {
            "at_s": round(t - phase_start, 1),
            "actual_left_s": round(phase_end - t, 1),
            "new_s": None if p.eta_s is None else round(p.eta_s, 1),
            "new_text": p.eta.state.value,
            "old_s": None if old(p) is None else round(old(p) or 0.0, 1),
        }

    def median_error(estimate: Any) -> float | None:
        errors = []
        for t, p in users:
            actual = phase_end - t
            value = estimate(p)
            if t - phase_start >= 0.1 * length and actual > 0.5 and value is not None:
                errors.append(abs(value - actual) / actual)
        return statistics.median(errors) if errors else None

    first_known = next((t - phase_start for t, p in users if p.eta_s is not None), None)
    new_err, old_err = median_error(lambda p: p.eta_s), median_error(old)
    result = {
        "users": args.users,
        "rate_limit_per_s": args.rate_limit,
        "per_request": args.per_request,
        "status": summary.status.value,
        "run_s": round(ended - started, 1),
        "users_phase_s": round(length, 1),
        "first_estimate_after_s": None if first_known is None else round(first_known, 1),
        "at_10%": at(0.10),
        "at_25%": at(0.25),
        "at_50%": at(0.50),
        "median_relative_error_new": None if new_err is None else round(new_err, 3),
        "median_relative_error_old": None if old_err is None else round(old_err, 3),
        "old_over_new": None if not new_err or old_err is None else round(old_err / new_err, 1),
    }
    phases: dict[str, float] = {}
    for t, p in reports:
        phases.setdefault(p.phase, round(t - started, 1))
    result["phases_started_at_s"] = phases
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
