"""Two real processes, one profile: while one holds the profile's run lock, `cio-desktop sync` of that
profile exits at once as busy, naming the process and run that hold it; once that process is killed
(SIGKILL: no cleanup runs), the kernel has released the lock and the next sync goes ahead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cio_desktop.cli import EXIT_BUSY, EXIT_OK
from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.profile import FileSourceSettings, Profile, SegmentRef, SourceKind
from cio_desktop.config.store import ProfileStore
from cio_desktop.sync.ledger import Ledger, RunStatus, ledger_path
from tests.e2e.engine_env_keyring import RecordingKeyring

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_a_second_sync_of_a_profile_exits_busy_at_once_and_runs_once_the_holder_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    users = tmp_path / "users.jsonl"
    users.write_text('{"id": "u1", "email": "a@example.com", "segment_ids": ["seg1"]}\n', encoding="utf-8")
    profile = Profile(
        name="Acme",
        source=SourceKind.FILES,
        files=FileSourceSettings(str(users)),
        segments=(SegmentRef("seg1", "Paying"),),
        write_back=False,
    )
    ProfileStore().save(profile)
    # No secret is needed for a dry run of export files; the child must not reach a real keyring.
    env = {**os.environ, **RecordingKeyring().env(), HOME_ENV: str(home), "PYTHONPATH": str(REPO)}

    def sync(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cio_desktop", "sync", "--profile", name, "--dry-run", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    holder_code = (
        "import time; from cio_desktop.sync.ledger import Ledger, ledger_path;"
        "l = Ledger(ledger_path('Acme')); print(l.start_run('full'), flush=True); time.sleep(120)"
    )
    with subprocess.Popen([sys.executable, "-c", holder_code], env=env, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            run_id = int(holder.stdout.readline())
            began = time.monotonic()
            busy = sync("acme")  # the name as typed, in another case: the same profile, the same lock
            took = time.monotonic() - began
        finally:
            holder.kill()
            holder.wait(timeout=10)
    assert busy.returncode == EXIT_BUSY, busy.stdout + busy.stderr
    result = json.loads(busy.stdout)
    assert result["problem"] == "busy" and result["profile"] == "Acme"
    assert f"Another sync of this profile is running (process {holder.pid}, full sync run {run_id} started " in str(
        result["message"]
    )
    assert took < 20, f"a busy sync must not wait for the other one (took {took:.1f} s)"

    after = sync("Acme")
    assert after.returncode == EXIT_OK, after.stdout + after.stderr
    with Ledger(ledger_path("Acme")) as ledger:
        runs = {r.id: r for r in ledger.runs()}
    assert runs[run_id].status is RunStatus.INTERRUPTED, "the killed holder's run"
    assert [r.status for r in runs.values() if r.id != run_id] == [RunStatus.COMPLETED]
