from __future__ import annotations

import csv
import json
import sqlite3
import stat
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.cli import EXIT_CONFIG, EXIT_OK, main
from cio_desktop.config.profile import Profile
from cio_desktop.config.store import ProfileStore
from cio_desktop.hull.files_normalize import normalize_event
from cio_desktop.net.errors import Cancelled
from cio_desktop.webhooks.activity import ActivityFilter, parse_date
from cio_desktop.webhooks.events import MappedEvent, PayloadFormat
from cio_desktop.webhooks.export import ExportFormat, csv_cell, export_activity
from cio_desktop.webhooks.inbox import Inbox


def ev(event_id: str, name: str = "Email Opened", *, day: int = 1, **props: str) -> MappedEvent:
    return MappedEvent(
        event_id=event_id,
        format=PayloadFormat.CURRENT,
        object_type="email",
        metric="opened",
        name=name,
        known=name != "Webhook test event",
        created_at=f"2026-03-{day:02d}T10:00:00Z",
        properties={"campaign_name": "March report", "email_subject": "Your report", **props},
        as_user={"external_id": "u1", "email": "ada@example.com"},
    )


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    box = Inbox(tmp_path / "inbox.sqlite3")
    yield box
    box.close()


def bulk_fill(inbox: Inbox, n: int) -> None:
    """``n`` opened events, inserted directly (the receiver's path is tested elsewhere; this is about size)."""
    conn = sqlite3.connect(inbox.path)
    conn.executemany(
        "INSERT INTO events (event_id, status, name, format, object_type, metric, created_at, received_at,"
        " as_user, properties, body, person_id, email, campaign, created_ts) VALUES"
        " (?, 'kept', 'Email Opened', 'current', 'email', 'opened', '2026-03-01T10:00:00Z', 1.0,"
        " '{\"external_id\": \"u1\"}', ?, x'7b7d', 'u1', NULL, 'March report', ?)",
        (
            (f"e{i:08d}", json.dumps({"delivery_id": f"d{i}", "href": "https://example.com/" + "x" * 80}), i)
            for i in range(n)
        ),
    )
    conn.commit()
    conn.close()


def test_jsonl_is_hulls_event_shape_and_reads_back_as_hull_events(inbox: Inbox, tmp_path: Path) -> None:
    inbox.accept(ev("o1", day=1), b"{}")
    inbox.accept(ev("c1", "Email Link Clicked", day=2, href="https://example.com/a"), b"{}")
    inbox.accept(ev("t1", "Webhook test event"), b"{}")  # not email activity: left out
    out = tmp_path / "activity.jsonl"
    assert export_activity(inbox.path, out, ExportFormat.JSONL) == 2
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert lines[0] == {
        "event": "Email Opened",
        "event_id": "o1",
        "created_at": "2026-03-01T10:00:00Z",
        "event_type": "track",
        "source": "customerio",
        "properties": {"campaign_name": "March report", "email_subject": "Your report"},
        "external_id": "u1",
        "email": "ada@example.com",
    }
    back = normalize_event(lines[1])
    assert not isinstance(back, str)
    assert (back.name, back.external_id, back.event_id) == ("Email Link Clicked", "u1", "c1")
    if sys.platform != "win32":
        assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_csv_escapes_formulas_and_keeps_every_property(inbox: Inbox, tmp_path: Path) -> None:
    inbox.accept(ev("o1", email_subject='=HYPERLINK("http://evil")', href="+1 (555) 0100"), b"{}")
    out = tmp_path / "activity.csv"
    assert export_activity(inbox.path, out, ExportFormat.CSV) == 1
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["subject"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["link"] == "'+1 (555) 0100"
    assert rows[0]["customer_id"] == "u1" and rows[0]["campaign"] == "March report"
    assert json.loads(rows[0]["properties"])["campaign_name"] == "March report"
    assert [csv_cell(v) for v in ("@x", "-1", "\tx", "ok", None)] == ["'@x", "'-1", "'\tx", "ok", ""]


def test_export_keeps_to_the_dates_asked_for(inbox: Inbox, tmp_path: Path) -> None:
    for day in (1, 2, 3, 4):
        inbox.accept(ev(f"d{day}", day=day), b"{}")
    out = tmp_path / "a.jsonl"
    flt = ActivityFilter(since=parse_date("2026-03-02"), until=parse_date("2026-03-03", end=True))
    assert export_activity(inbox.path, out, ExportFormat.JSONL, flt) == 2
    assert [json.loads(x)["event_id"] for x in out.read_text().splitlines()] == ["d2", "d3"]


def test_a_cancelled_export_leaves_the_previous_file_untouched(inbox: Inbox, tmp_path: Path) -> None:
    bulk_fill(inbox, 3000)
    out = tmp_path / "a.jsonl"
    out.write_text("previous export\n")
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        export_activity(inbox.path, out, ExportFormat.JSONL, progress=None, cancel=_set_after(cancel))
    assert out.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".a.jsonl")] == []


def _set_after(cancel: threading.Event) -> threading.Event:
    cancel.set()
    return cancel


def _peak_export(inbox: Inbox, out: Path, fmt: ExportFormat) -> int:
    tracemalloc.start()
    try:
        export_activity(inbox.path, out, fmt)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_memory_does_not_grow_with_the_inbox(tmp_path: Path, fmt: ExportFormat) -> None:
    # Four times the events, about the same peak: rows stream through a page at a time.
    # (bench/webhook_export_memory.py measures a million.)
    small, large = Inbox(tmp_path / "small.sqlite3"), Inbox(tmp_path / "large.sqlite3")
    try:
        bulk_fill(small, 2_500)
        bulk_fill(large, 10_000)
        peak_small = _peak_export(small, tmp_path / f"small.{fmt.value}", fmt)
        peak_large = _peak_export(large, tmp_path / f"large.{fmt.value}", fmt)
    finally:
        small.close()
        large.close()
    assert peak_large < 1.3 * peak_small + 64 * 1024, (peak_small, peak_large)


def test_cli_export_writes_the_file_and_refuses_bad_dates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ProfileStore().save(Profile(name="Acme"))
    with Inbox.for_profile("Acme") as box:
        box.accept(ev("o1", day=5), b"{}")
    out = tmp_path / "out.csv"
    assert main(["webhook", "export", "--profile", "Acme", "--since", "2026-03-01", str(out)]) == EXIT_OK
    assert "1 event(s) written" in capsys.readouterr().out
    assert out.read_text("utf-8-sig").splitlines()[0].startswith("created_at,event,customer_id")
    assert main(["webhook", "export", "--profile", "Acme", "--since", "5 March", str(out)]) == EXIT_CONFIG
    assert "YYYY-MM-DD" in capsys.readouterr().err
    code = main(["webhook", "export", "--profile", "Acme", "--since", "2026-03-05", "--until", "2026-03-01", str(out)])
    assert code == EXIT_CONFIG
    assert "before --since" in capsys.readouterr().err
    assert main(["webhook", "export", "--profile", "Acme", str(tmp_path)]) == EXIT_CONFIG
    assert "is a folder" in capsys.readouterr().err
