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
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]


def wait_until(app: object, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def shoot_welcome(app: object, path: Path, width: int, height: int) -> None:
    """The first launch: a window with no profile shows the welcome screen (in an empty temporary home)."""
    import tempfile

    from cio_desktop.config import paths
    from cio_desktop.gui.app import create_window

    with tempfile.TemporaryDirectory(prefix="cio-desktop-shots-") as home:
        before = os.environ.get(paths.HOME_ENV)
        os.environ[paths.HOME_ENV] = home
        try:
            window = create_window()
            window.resize(width, height)
            window.show()
            wait_until(app, lambda: window.onboarding.welcome_shown, 30, "the welcome screen")
            app.processEvents()  # type: ignore[attr-defined]
            window.grab().save(str(path))
            print(f"wrote {path}")
            window.close()
        finally:
            if before is None:
                os.environ.pop(paths.HOME_ENV, None)
            else:
                os.environ[paths.HOME_ENV] = before


def shoot_typo(app: object, fields: Any, out: Path, suffix: str, shoot: Callable[[str], None]) -> None:
    """A typo in a Hull attribute: the confirmation it asks for, then the flagged row (not kept)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, answer)
            return
        box.grab().save(str(out / f"fields-unknown-attribute{suffix}.png"))
        print(f"wrote {out / f'fields-unknown-attribute{suffix}.png'}")
        next(b for b in box.buttons() if b.text() == "Fix it").click()

    QTimer.singleShot(0, answer)
    row = fields.model.add("")
    fields.model.setData(fields.model.index(row, 0), "traits_plann")
    wait_until(
        app,
        lambda: not QApplication.activeModalWidget() and "Not saved" in fields.mapping_status.text(),
        30,
        "the typo check",
    )
    fields.table.scrollToBottom()
    shoot("Fields-typo")
    fields.model.remove(row)


def shoot_activity(app: Any, page: Any, path: Path) -> None:
    """The email activity view, with a month of sample Customer.io activity in the demo's inbox."""
    import json
    import random

    from cio_desktop.webhooks.events import map_payload

    wait_until(app, lambda: page.service is not None, 30, "the webhook inbox")
    rnd = random.Random(7)
    now = time.time()
    metrics = ["sent"] * 6 + ["delivered"] * 6 + ["opened"] * 5 + ["clicked"] * 2 + ["bounced", "unsubscribed"]
    campaigns = ["March report", "Welcome series", "Spring sale", "Win-back", "Product update"]
    for i in range(800):
        n = rnd.randint(1000, 1300)
        payload = {
            "event_id": f"demo-activity-{i}",
            "object_type": "email",
            "metric": rnd.choice(metrics),
            "timestamp": int(now - rnd.random() * 45 * 86400),
            "data": {
                "identifiers": {"id": f"u-{n}", "email": f"person{n}@example.com"},
                "campaign_name": rnd.choice(campaigns),
                "subject": "Hello from the demo",
            },
        }
        body = json.dumps(payload).encode()
        page.service.inbox.accept(
            map_payload(payload, body, customer_id_attribute="external_id", received_at=now), body
        )
    view = page.activity
    view.period_combo.setCurrentText("Last 30 days")
    wait_until(app, lambda: view.chart.counts is not None and view.chart.counts.total > 0, 30, "the activity counts")
    wait_until(app, lambda: view.table.rowCount() > 0, 30, "the activity table")
    app.processEvents()
    view.resize(1180, 820)
    view.grab().save(str(path))
    print(f"wrote {path}")


def shoot_tunnel(app: object, window: object, shoot: Callable[[str], None]) -> None:
    """The Webhook page with "Get a public URL" running.

    cloudflared may not be installed where screenshots are made, so the tests' stand-in (which prints
    what cloudflared prints, and forwards nothing) is put on PATH for this shot only.
    """
    import tempfile

    page = window.webhook_page  # type: ignore[attr-defined]
    folder = Path(tempfile.mkdtemp(prefix="cio-shots-"))
    standin = folder / "cloudflared"
    standin.write_text(f"#!{sys.executable}\n" + (ROOT / "tests/fixtures/tunnels/standin.py").read_text("utf-8"))
    standin.chmod(0o755)
    saved_path = os.environ.get("PATH", "")
    os.environ.update(PATH=f"{folder}{os.pathsep}{saved_path}", STANDIN_LOG=str(folder / "log"))
    os.environ.update(STANDIN_MODE="ok", STANDIN_WORDS="sunny-garden-lemon-river")
    try:
        page.tunnel_button.click()
        wait_until(app, lambda: page.tunnel_status.status in ("ok", "error"), 30, "the tunnel")
        wait_until(app, lambda: "trycloudflare.com" in page.url_edit.text(), 10, "the tunnel's webhook URL")
        shoot("Webhook-tunnel")
        page.stop_receiver()
        wait_until(app, lambda: page.start_button.isEnabled(), 30, "the receiver to stop")
    finally:
        os.environ["PATH"] = saved_path


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
    shoot_welcome(app, out / f"welcome{suffix}.png", width, height)
    window = create_window(demo=True)
    window.resize(width, height)
    window.show()
    ctx = window.ctx
    wait_until(app, lambda: ctx.profile is not None, 60, "the demo profile")
    wait_until(app, lambda: ctx.catalog is not None, 60, "segments and attributes")
    app.processEvents()
    # The demo organization serves from its own process; the same seed makes the same people here.
    from cio_desktop.gui.app import DEMO_SEED, DEMO_USERS
    from cio_desktop.sandbox.data import FakeOrg

    demo_org = FakeOrg(DEMO_USERS, DEMO_SEED)
    session = window.demo_session
    assert session is not None and session.sandbox is not None and session.sandbox.info is not None
    base_url = session.sandbox.info.base_url

    def shoot(name: str) -> None:
        app.processEvents()
        time.sleep(0.05)
        app.processEvents()
        path = out / f"{name.lower()}{suffix}.png"
        window.grab().save(str(path))
        print(f"wrote {path}")

    for name in ("Connect", "Audience", "Events", "Accounts"):
        window.show_page(name)
        shoot(name)
    window.show_page("Fields")
    fields = window.fields_page
    id_status = fields.id_status
    wait_until(app, lambda: id_status.status not in ("", "busy"), 60, "the customerId check")
    wait_until(app, lambda: fields.model.sample is not None, 60, "the attribute sample")
    shoot("Fields")
    shoot_typo(app, fields, out, suffix, shoot)

    window.show_page("Preview")
    preview = window.preview_page
    wait_until(app, lambda: preview.model.total_rows() > 0, 120, "preview rows")
    preview.table.selectRow(0)
    shoot("Preview")
    # The search reads the whole audience: someone far past the rows loaded.
    far = [u for seg in ctx.profile.segment_ids for u in demo_org.iter_segment(seg)][-1]
    searched: list[int] = []
    preview.search_finished.connect(searched.append)
    preview.search.setText(str(far.get("name") or far["id"]))
    wait_until(app, lambda: bool(searched), 60, "the audience search")
    preview.table.selectRow(0)
    shoot("Preview-search")
    preview.search.clear()

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

    # The schedule controls: daily at 07:30, changes only (the demo cannot hand it to the system).
    from cio_desktop.gui.schedule_panel import SchedulePanel

    panel = sync.findChild(SchedulePanel)
    panel.daily.setTime(panel.daily.time().fromString("07:30", "HH:mm"))
    panel.kind.setCurrentIndex(panel.kind.findData("daily"))
    wait_until(app, lambda: "07:30" in panel.next_label.text(), 30, "the next scheduled sync")
    shoot("Sync-schedule")
    panel.grab().save(str(out / f"schedule-panel{suffix}.png"))
    print(f"wrote {out / f'schedule-panel{suffix}.png'}")
    panel.kind.setCurrentIndex(panel.kind.findData("off"))

    # A second, incremental run after some people changed in Hull, so History shows more than one bar.
    members = [u["id"] for seg in ctx.profile.segment_ids[:1] for u in demo_org.iter_segment(seg)]
    for hull_id in members[:60]:
        # The demo organization runs in its own process: changed through its control API.
        answer = requests.post(f"{base_url}/_sandbox/users/{hull_id}", json={"traits_plan": "enterprise"}, timeout=10)
        answer.raise_for_status()
    sync.start("incremental")
    wait_until(app, lambda: not sync.running, 300, "the incremental sync")

    window.show_page("History")
    history = window.history_page
    history.refresh()
    wait_until(app, lambda: history.runs_model.total_rows() > 1, 60, "the run history")
    # The selected run's people and errors load on workers: shoot once they are the newest run's.
    wait_until(app, lambda: f"Run #{history.selected_run_id()}:" in history.status.text(), 60, "the run's details")
    time.sleep(0.3)
    app.processEvents()  # type: ignore[attr-defined]
    shoot("History")
    # The plan behind the first Full sync: every number of its row and its details reads as planned.
    plan_row = next(i for i, r in enumerate(history.runs_model.all_rows()) if r.plan_of)
    history.runs.selectRow(plan_row)
    wait_until(app, lambda: "Nothing was sent" in history.status.text(), 60, "the plan's details")
    time.sleep(0.3)
    app.processEvents()  # type: ignore[attr-defined]
    shoot("History-plan")

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
        shoot_activity(app, window.webhook_page, out / f"activity{suffix}.png")
        if os.name == "posix":
            shoot_tunnel(app, window, shoot)

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
