"""GUI benchmarks (issue 5): cold start, preview of 10,000 users, GUI-thread stalls during a big sync.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_gui.py [--users 100000] [--preview 10000]

Targets: cold start to a visible main window < 1.5 s; first preview rows painted < 300 ms after the
data arrives; longest GUI-thread stall while a 100,000-user sync runs < 50 ms (a 5 ms heartbeat timer
measures the gaps between its ticks).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

COLD_START = textwrap.dedent(
    """
    import sys, time
    from PySide6.QtCore import QEvent, QObject, QTimer
    from cio_desktop.gui.app import create_window, make_app

    class Exposed(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                print("VISIBLE", time.time(), flush=True)
                app.quit()
            return False

    app = make_app()
    window = create_window(demo=False)
    window.installEventFilter(Exposed(window))
    window.centralWidget().installEventFilter(Exposed(window))
    window.show()
    QTimer.singleShot(10000, app.quit)
    app.exec()
    """
)


def bench_cold_start(runs: int = 3) -> list[float]:
    """Seconds from launching the interpreter to the first paint of the main window (a saved profile exists)."""
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {
                **os.environ,
                "CIO_DESKTOP_HOME": home,
                "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
            }
            from cio_desktop.config.profile import Profile
            from cio_desktop.config.store import ProfileStore

            os.environ["CIO_DESKTOP_HOME"] = home
            ProfileStore().save(Profile(name="Bench", hull_organization="bench.hullapp.io"))
            t0 = time.time()
            out = subprocess.run(
                [sys.executable, "-c", COLD_START], env=env, capture_output=True, text=True, timeout=60, check=True
            ).stdout
            visible = [line for line in out.splitlines() if line.startswith("VISIBLE")]
            if not visible:
                raise SystemExit("the window never painted")
            results.append(float(visible[0].split()[1]) - t0)
    return results


def _wait(app: Any, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.002)


SANDBOX_CHILD = textwrap.dedent(
    """
    import dataclasses, json, sys
    from cio_desktop.sandbox import Sandbox

    sb = Sandbox(users=int(sys.argv[1]), seed=7).start()
    print(json.dumps({"profile": sb.demo_profile().to_dict(), "credentials": dataclasses.asdict(sb.credentials),
                      "segments": sb.segments()}), flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin
    sb.stop()
    """
)


def _sandbox_window(users: int) -> tuple[Any, Any, subprocess.Popen[str]]:
    """A main window on a sandbox profile. The sandbox runs in its own process, as real services would:
    its growing in-memory Customer.io store must not be what the GUI thread's stalls measure."""
    import json

    from cio_desktop.config.profile import Profile, SegmentRef
    from cio_desktop.config.secrets import SecretKey, SecretStore
    from cio_desktop.config.store import ProfileStore
    from cio_desktop.gui.app import make_app
    from cio_desktop.gui.main_window import MainWindow
    from cio_desktop.gui.workers import JobRunner

    child = subprocess.Popen(
        [sys.executable, "-c", SANDBOX_CHILD, str(users)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    info = json.loads(child.stdout.readline())
    os.environ["CIO_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="bench-gui-")
    # Every user of the organization, so "a 100,000-user sync" means exactly that.
    everyone = next(SegmentRef(sid, name) for sid, name, _n in info["segments"] if name == "All Users")
    profile = Profile.from_dict(info["profile"]).replace(segments=(everyone,))
    store, secrets = ProfileStore(), SecretStore.in_memory()
    store.save(profile)
    for key in (SecretKey.HULL_SECRET, SecretKey.CIO_API_KEY, SecretKey.CIO_APP_KEY):
        secrets.set(profile.name, key, info["credentials"][key.value])
    app = make_app([sys.argv[0]])
    window = MainWindow(JobRunner(), store, secrets)
    window.resize(1280, 820)
    window.show()
    window.load_profiles(profile.name)
    _wait(app, lambda: window.ctx.catalog is not None, 300, "the profile and its segments")
    return app, window, child


def bench_preview(app: Any, window: Any, rows_wanted: int) -> dict[str, float]:
    """Time from handing 10,000 rows to the page until the table painted them; then scroll through."""
    from PySide6.QtCore import QEvent, QObject

    from cio_desktop.gui import backend

    profile, secrets = window.ctx.profile, window.ctx.secrets

    class _Job:
        cancel = __import__("threading").Event()

        def check_cancelled(self) -> None: ...

    rows = backend.preview(profile, secrets, profile.name, rows_wanted, _Job())  # type: ignore[arg-type]
    page = window.preview_page
    window.show_page("Preview")
    _wait(app, lambda: not window.runner.is_running(window.ctx.key("preview")), 120, "the page's own preview")
    painted: list[float] = []

    class PaintWatch(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append(time.perf_counter())
            return False

    watch = PaintWatch()
    page.table.viewport().installEventFilter(watch)
    painted.clear()
    t0 = time.perf_counter()
    page.show_rows(rows)
    _wait(app, lambda: bool(painted), 10, "the first paint")
    app.processEvents()
    first_ms = (painted[0] - t0) * 1000
    # Scroll to the end a page at a time, painting each step (what a user dragging the scrollbar sees).
    bar = page.table.verticalScrollBar()
    steps = []
    while True:
        painted.clear()
        s0 = time.perf_counter()
        bar.setValue(bar.value() + bar.pageStep())
        page.table.viewport().repaint()
        app.processEvents()
        steps.append((time.perf_counter() - s0) * 1000)
        if bar.value() >= bar.maximum() and not page.model.canFetchMore(page.table.rootIndex()):
            break
    return {
        "rows": float(len(rows)),
        "first_paint_ms": first_ms,
        "scroll_steps": float(len(steps)),
        "scroll_step_max_ms": max(steps),
        "scroll_step_median_ms": statistics.median(steps),
    }


def bench_stall(app: Any, window: Any) -> dict[str, float]:
    """Run a full sync of the demo organization from the Sync page while a 5 ms heartbeat measures stalls."""
    from PySide6.QtCore import QEventLoop, QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    window.show_page("Sync")
    sync = window.sync_page
    # A real event loop (not a processEvents() polling loop), as when the user watches the run.
    loop = QEventLoop()
    summaries: list[Any] = []
    sync.run_finished.connect(lambda _status, summary: (summaries.append(summary), loop.quit()))
    timer.start()
    t0 = time.perf_counter()
    sync.start("full")
    loop.exec()
    elapsed = time.perf_counter() - t0
    timer.stop()
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(ticks)]
    worst = sorted(((g, a - t0) for g, (a, _) in zip(gaps, itertools.pairwise(ticks), strict=True)), reverse=True)[:5]
    counts = dict(getattr(summaries[0], "counts", {}) or {}) if summaries else {}
    return {
        "sync_s": elapsed,
        "users": float(sum(n for label, n in counts.items() if not label.startswith("event"))),
        "ticks": float(len(ticks)),
        "max_stall_ms": max(gaps) if gaps else float("nan"),
        "p99_gap_ms": statistics.quantiles(gaps, n=100)[98] if len(gaps) > 100 else float("nan"),
        "summary": sync.summary.text(),  # type: ignore[dict-item]
        # The longest gaps and when they began (seconds into the run): a stall at the end is the
        # window taking in the result, one in the middle is the run itself.
        "worst": ", ".join(f"{g:.0f} ms at {at:.1f} s" for g, at in worst),  # type: ignore[dict-item]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000, help="users in the sandbox for the stall benchmark")
    parser.add_argument("--preview", type=int, default=10_000, help="preview rows")
    parser.add_argument("--skip", nargs="*", default=[], choices=["cold", "preview", "stall"])
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))

    if "cold" not in args.skip:
        cold = bench_cold_start()
        print(
            f"cold start to visible main window: best {min(cold):.2f} s, "
            f"runs {', '.join(f'{c:.2f}' for c in cold)} (target < 1.5 s)"
        )
    app, window, child = _sandbox_window(args.users)
    if "preview" not in args.skip:
        r = bench_preview(app, window, args.preview)
        print(
            f"preview of {int(r['rows']):,} rows: first rows painted {r['first_paint_ms']:.1f} ms after the data "
            "arrived "
            f"(target < 300 ms); scrolling {int(r['scroll_steps'])} pages: max {r['scroll_step_max_ms']:.1f} ms, "
            f"median {r['scroll_step_median_ms']:.1f} ms per page"
        )
    if "stall" not in args.skip:
        s = bench_stall(app, window)
        print(
            f"full sync of {int(s['users']):,} users from the GUI in {s['sync_s']:.1f} s: longest GUI-thread stall "
            f"{s['max_stall_ms']:.1f} ms, p99 heartbeat gap {s['p99_gap_ms']:.1f} ms (target < 50 ms)\n"
            f"  longest gaps: {s['worst']}\n  {s['summary']}"
        )
    window.close()
    assert child.stdin is not None
    child.stdin.close()
    child.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
