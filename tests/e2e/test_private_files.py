"""After real work (API and file syncs, a webhook received, logging), everything the app wrote is private:
every file 0600 and every folder 0700, even under the most permissive umask."""

from __future__ import annotations

import http.client
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config import logs
from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.profile import FileSourceSettings, Profile, SourceKind
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.sandbox import Sandbox
from cio_desktop.sandbox.export import export_organization
from cio_desktop.sync.engine import RunMode
from cio_desktop.sync.factory import demo_services
from cio_desktop.sync.ledger import RunStatus
from cio_desktop.webhooks.service import WebhookService
from cio_desktop.webhooks.signature import signed_headers

pytestmark = [pytest.mark.e2e, pytest.mark.posix_only]

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "current_email_clicked.json"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home the app creates itself, under umask 0: whatever is not made private explicitly shows."""
    root = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(root))
    old = os.umask(0)
    try:
        yield root
    finally:
        os.umask(old)


def _not_private(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            want = 0o700 if name in dirs else 0o600
            got = stat.S_IMODE(path.lstat().st_mode)
            if got != want:
                found.append(f"{path.relative_to(root)}: {oct(got)}")
    return found


def _sync(sandbox: Sandbox, profile: Profile) -> None:
    sandbox.cio.reset()
    with demo_services(sandbox, profile=profile) as services:
        summary = services.engine().run(RunMode.FULL)
    assert summary.status is RunStatus.COMPLETED and summary.people_sent > 0, summary.message


def _receive_one_webhook(sandbox: Sandbox, name: str) -> None:
    secrets = SecretStore.in_memory()
    secrets.set(name, SecretKey.WEBHOOK_SIGNING_KEY, "signing-key")
    service = WebhookService(sandbox.demo_profile(name), secrets, port=0, forward=False)
    try:
        service.start()
        assert service.receiver is not None
        body = SAMPLE.read_bytes()
        conn = http.client.HTTPConnection("127.0.0.1", service.receiver.port, timeout=5)
        conn.request("POST", service.receiver.webhook_path, body=body, headers=signed_headers("signing-key", body))
        response = conn.getresponse()
        assert response.status == 200 and b'"stored"' in response.read()
        conn.close()
        assert service.inbox.counts().received == 1
    finally:
        service.close()


def test_everything_written_by_syncs_webhooks_and_logs_is_private(home: Path, tmp_path: Path) -> None:
    log_file = logs.setup_logging("INFO")
    with Sandbox(users=150, seed=11) as sandbox:
        # Exported before any sync: an API run writes traits back into the organization.
        exported = export_organization(sandbox, tmp_path / "export" / "hull", formats=("jsonl",))
        api = sandbox.demo_profile("Api")
        ProfileStore().save(api)
        _sync(sandbox, api)
        files = api.replace(
            name="Files",
            source=SourceKind.FILES,
            files=FileSourceSettings(str(exported["jsonl"]), str(exported["events"])),
        )
        ProfileStore().save(files)
        _sync(sandbox, files)
        _receive_one_webhook(sandbox, "Api")
    logging.getLogger("cio_desktop.test").info("a line in the log")
    logs.shutdown_logging()

    written = {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()}
    assert {
        "config/profiles/Api.json",
        "config/profiles/Files.json",
        "data/Api/ledger.sqlite3",
        "data/Api/inbox.sqlite3",
        "data/Files/ledger.sqlite3",
        str(log_file.relative_to(home)),
    } <= written
    assert any(name.startswith("data/file-cache/") for name in written)
    assert _not_private(home) == []
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    # The sandbox's export stands in for a team's own Hull data: private too.
    assert _not_private(tmp_path / "export") == []
