"""`cio-desktop sync --demo` and `preview --demo` as a user runs them: a real process, a real sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIO_DESKTOP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "cio_desktop", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_demo_sync_prints_one_json_object_and_exits_0(tmp_path: Path) -> None:
    proc = cli("sync", "--demo", "--full", "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed" and result["failed"] == 0
    # "changed": people Hull's hosted connector created before (the sandbox carries its traits).
    counts = result["counts"]
    assert counts["identify (new)"] + counts.get("identify (changed)", 0) == result["people_sent"] > 0
    assert result["events_sent"] > 0
    # The demo never touches the user's own folders (here: the given home stays empty).
    assert not any(tmp_path.iterdir())


def test_demo_sync_on_a_pipe_prints_plain_progress_and_a_summary(tmp_path: Path) -> None:
    proc = cli("sync", "--demo", "--dry-run", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "users:" in proc.stderr and "\r" not in proc.stderr
    assert "dry run sync of demo" in proc.stdout
    assert "Customer.io requests 0" in proc.stdout


def test_demo_preview_shows_decisions_and_exact_payloads(tmp_path: Path) -> None:
    proc = cli("preview", "--demo", "--limit", "5", "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 5
    sent = [r for r in rows if r["operations"]]
    assert sent and all(r["operations"][0]["type"] == "person" for r in sent)
    assert {"hull_id", "customer_id", "action", "reason", "label", "message", "changes"} <= set(rows[0])
    text = cli("preview", "--demo", "--limit", "2", home=tmp_path)
    assert text.returncode == 0 and '"action": "identify"' in text.stdout


def test_output_is_utf8_even_where_the_platform_would_write_a_code_page(tmp_path: Path) -> None:
    # Windows writes cp1252 to a redirected stdout; PYTHONIOENCODING reproduces that here.
    profile = {"schema_version": 2, "name": "Acme", "segments": [{"id": "s1", "name": "Ayşe and Zoë 🎉"}]}
    source = tmp_path / "acme.json"
    source.write_text(json.dumps(profile), encoding="utf-8")
    env = {**os.environ, "CIO_DESKTOP_HOME": str(tmp_path / "home"), "PYTHONIOENCODING": "cp1252"}
    run = [sys.executable, "-m", "cio_desktop", "profiles"]
    assert subprocess.run([*run, "import", str(source)], env=env, capture_output=True, timeout=60).returncode == 0
    proc = subprocess.run([*run, "export", "Acme", "-"], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert json.loads(proc.stdout.decode("utf-8"))["segments"][0]["name"] == "Ayşe and Zoë 🎉"
