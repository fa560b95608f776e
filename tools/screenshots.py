"""Open every page of the app on the demo organization and save one PNG per page.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--size 1280x820]

Runs offscreen by default (no display needed). The Sync page is captured after a real sync of the
demo organization, and History after it, so both show real numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_until(app: object, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--size", default="1280x820")
    parser.add_argument("--dark", action="store_true", help="dark colour scheme (file names get a -dark suffix)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    width, height = (int(x) for x in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from cio_desktop.gui.app import create_window, make_app

    app = make_app([sys.argv[0]])
    suffix = ""
    if args.dark:
        from cio_desktop.gui.app import dark_palette
        from cio_desktop.gui.resources import stylesheet

        # What follow_color_scheme() applies when the OS is dark (offscreen has no OS scheme).
        app.setPalette(dark_palette())
        app.setStyleSheet(stylesheet())
        suffix = "-dark"
    window = create_window(demo=True)
    window.resize(width, height)
    window.show()
    ctx = window.ctx
    wait_until(app, lambda: ctx.profile is not None, 60, "the demo profile")
    wait_until(app, lambda: ctx.catalog is not None, 60, "segments and attributes")
    app.processEvents()

    def shoot(name: str) -> None:
        app.processEvents()
        time.sleep(0.05)
        app.processEvents()
        path = out / f"{name.lower()}{suffix}.png"
        window.grab().save(str(path))
        print(f"wrote {path}")

    for name in ("Connect", "Audience", "Events"):
        window.show_page(name)
        shoot(name)
    window.show_page("Fields")
    id_status = window.fields_page.id_status
    wait_until(app, lambda: id_status.status not in ("", "busy"), 60, "the customerId check")
    shoot("Fields")

    window.show_page("Preview")
    preview = window.preview_page
    wait_until(app, lambda: preview.model.total_rows() > 0, 120, "preview rows")
    preview.table.selectRow(0)
    shoot("Preview")

    window.show_page("Sync")
    sync = window.sync_page
    # Full sync asks first: the plan's confirmation, and the people behind one of its numbers.
    sync.request("full")
    wait_until(app, lambda: sync.plan_dialog is not None and sync.plan_dialog.isVisible(), 300, "the plan")
    plan_dialog = sync.plan_dialog
    assert plan_dialog is not None
    app.processEvents()
    plan_dialog.grab().save(str(out / f"plan-confirmation{suffix}.png"))
    print(f"wrote {out / f'plan-confirmation{suffix}.png'}")
    from cio_desktop.sync.run_people import Category

    plan_dialog.count_buttons[Category.SKIP].click()
    people = plan_dialog.people_dialog
    assert people is not None
    wait_until(app, lambda: people.view.model.total_rows() > 0, 60, "the plan's skipped people")
    people.resize(900, 480)
    app.processEvents()
    people.grab().save(str(out / f"plan-people{suffix}.png"))
    print(f"wrote {out / f'plan-people{suffix}.png'}")
    people.reject()
    plan_dialog.confirm()
    wait_until(app, lambda: not sync.running and sync.summary.status != "busy", 300, "the demo sync")
    shoot("Sync")

    # A second, incremental run after some people changed in Hull, so History shows more than one bar.
    sandbox = window.demo_session.sandbox
    members = [u["id"] for seg in ctx.profile.segment_ids[:1] for u in sandbox.users_in_segment(seg)]
    for hull_id in members[:60]:
        sandbox.update_user(hull_id, {"traits_plan": "enterprise"})
    sync.start("incremental")
    wait_until(app, lambda: not sync.running, 300, "the incremental sync")

    window.show_page("History")
    history = window.history_page
    history.refresh()
    wait_until(app, lambda: history.runs_model.total_rows() > 1, 60, "the run history")
    shoot("History")

    # The deletion guard: the marketer turns deletion on and unticks segments, so many people would
    # leave at once. The run withholds the deletions; History offers the review.
    ctx.update(delete_on_leave=True, segments=ctx.profile.segments[2:])
    window.show_page("Sync")
    sync.start("full")
    wait_until(app, lambda: not sync.running, 300, "the guarded sync")
    shoot("Sync-withheld")
    window.show_page("History")
    history.refresh()
    wait_until(app, lambda: history.review_button.isVisible(), 60, "the withheld run in History")
    shoot("History-withheld")
    history.review_button.click()
    dialog = history.withheld_dialog
    assert dialog is not None
    wait_until(app, lambda: dialog.approve_button.isEnabled(), 60, "the withheld people")
    app.processEvents()
    dialog.grab().save(str(out / f"withheld-review{suffix}.png"))
    print(f"wrote {out / f'withheld-review{suffix}.png'}")
    dialog.reject()

    if "Webhook" in window.page_names:
        window.show_page("Webhook")
        shoot("Webhook")

    window.open_wizard()
    wizard = window.wizard
    wizard.resize(width - 200, height - 100)
    secrets_line = wizard.connect_page.secrets_line
    wait_until(app, lambda: bool(secrets_line.text()), 10, "the wizard's keyring line")
    wizard.grab().save(str(out / f"wizard{suffix}.png"))
    print(f"wrote {out / f'wizard{suffix}.png'}")
    wizard.reject()
    window.close()
    if window.demo_session is not None:
        window.demo_session.stop()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
