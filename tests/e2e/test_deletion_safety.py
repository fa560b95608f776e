"""The data-loss report of issue 11, replayed as a user ran it: a profile that deletes people who
leave, one clean full sync of a JSON-lines export, then the same file broken (lines, or a gzip cut
in half). The real `cio-desktop sync` process deletes nobody, says why in one sentence, and exits 3;
the approval flag works only on a clean read, and never deletes past the number approved."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.profile import FileSourceSettings, Profile, SourceKind
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.sandbox import Sandbox
from cio_desktop.sandbox.export import export_organization
from tests.e2e.engine_env_keyring import RecordingKeyring

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    with Sandbox(users=300, seed=11) as sb:
        yield sb


class Cli:
    """`cio-desktop sync` in a child process, for a saved profile whose secrets the child can read."""

    def __init__(self, sandbox: Sandbox, users_file: Path, tmp_path: Path) -> None:
        self.profile: Profile = sandbox.demo_profile("Deleting").replace(
            source=SourceKind.FILES,
            files=FileSourceSettings(str(users_file)),
            delete_on_leave=True,
            write_back=False,
            events=(),
        )
        ProfileStore().save(self.profile)
        recorder = RecordingKeyring()
        secrets = SecretStore(recorder)
        for key, value in sandbox.credentials.secrets().items():
            secrets.set(self.profile.name, SecretKey(key), value)
        self.env = {**os.environ, **recorder.env(), "PYTHONPATH": str(REPO)}

    def sync(self, *args: str) -> tuple[int, dict[str, object], str]:
        proc = subprocess.run(
            [sys.executable, "-m", "cio_desktop", "sync", "--profile", self.profile.name, "--full", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        json_out = "--json" in args
        return proc.returncode, json.loads(proc.stdout) if json_out else {}, proc.stdout + proc.stderr


def people_in_cio(sandbox: Sandbox) -> set[str]:
    return {str(attrs.get("hull_id")) for attrs in sandbox.cio_people().values()}


def test_broken_lines_delete_nobody_and_the_run_exits_3(sandbox: Sandbox, tmp_path: Path) -> None:
    exported = export_organization(sandbox, tmp_path / "export", formats=("jsonl",))
    users = tmp_path / "users.jsonl"
    lines = exported["jsonl"].read_bytes().splitlines(keepends=True)
    users.write_bytes(b"".join(lines))
    cli = Cli(sandbox, users, tmp_path)
    code, first, _ = cli.sync("--json")
    assert code == 0 and first["status"] == "completed", first
    before = people_in_cio(sandbox)
    assert len(before) > 100

    broken = [i for i, line in enumerate(lines) if json.loads(line)["id"] in before][:11]
    for i in broken:
        lines[i] = b'{"id": "broken", \n'
    users.write_bytes(b"".join(lines))
    code, result, _ = cli.sync("--json")
    assert code == 3, result
    assert result["status"] == "deletions_withheld" and result["deletions_withheld"] == 11
    assert str(result["message"]).startswith(
        "Deletions withheld: 11 rows of users.jsonl could not be read; fix the file or run again"
    )
    assert people_in_cio(sandbox) == before, "nobody was deleted"
    assert sandbox.cio_deletions() == []

    code, _, text = cli.sync()  # the plain summary says the same sentence
    assert code == 3 and "Deletions withheld: 11 rows of users.jsonl could not be read" in text
    code, result, _ = cli.sync("--json", "--allow-deletions", "1000")
    assert code == 3 and sandbox.cio_deletions() == [], "no approval passes an unreadable file"


def test_a_gzip_cut_in_half_deletes_nobody(sandbox: Sandbox, tmp_path: Path) -> None:
    exported = export_organization(sandbox, tmp_path / "export", formats=("jsonl",))
    users = tmp_path / "users.jsonl.gz"
    whole = gzip.compress(exported["jsonl"].read_bytes())
    users.write_bytes(whole)
    cli = Cli(sandbox, users, tmp_path)
    assert cli.sync("--json")[0] == 0
    before = people_in_cio(sandbox)
    users.write_bytes(whole[: len(whole) // 2])
    code, result, _ = cli.sync("--json")
    assert code == 3 and result["status"] == "deletions_withheld"
    assert "users.jsonl.gz is cut short or corrupt" in str(result["message"])
    assert people_in_cio(sandbox) == before and sandbox.cio_deletions() == []


def test_a_mass_deletion_on_a_clean_file_waits_for_the_flag(sandbox: Sandbox, tmp_path: Path) -> None:
    exported = export_organization(sandbox, tmp_path / "export", formats=("jsonl",))
    users = tmp_path / "users.jsonl"
    lines = exported["jsonl"].read_bytes().splitlines(keepends=True)
    users.write_bytes(b"".join(lines))
    cli = Cli(sandbox, users, tmp_path)
    assert cli.sync("--json")[0] == 0
    before = people_in_cio(sandbox)
    # Half of the people synced are gone from the export: a clean file, a suspicious change.
    gone = set(sorted(before)[: len(before) // 2])
    users.write_bytes(b"".join(line for line in lines if json.loads(line)["id"] not in gone))
    code, result, _ = cli.sync("--json")
    assert code == 3 and result["deletions_withheld"] == len(gone)
    assert f"--allow-deletions {len(gone)}" in str(result["message"])
    assert people_in_cio(sandbox) == before
    code, result, _ = cli.sync("--json", "--allow-deletions", str(len(gone) - 1))
    assert code == 3 and people_in_cio(sandbox) == before, "one short of the approval deletes nobody"
    code, result, _ = cli.sync("--json", "--allow-deletions", str(len(gone)))
    assert code == 0 and result["status"] == "completed", result
    assert people_in_cio(sandbox) == before - gone
