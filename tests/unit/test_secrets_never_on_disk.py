"""After a session that stored secrets and logged them every which way, no file of ours contains one."""

from __future__ import annotations

import base64
import logging
import os
import uuid
from pathlib import Path

import keyring
import pytest

from cio_desktop.cli import main
from cio_desktop.config import logs
from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore

log = logging.getLogger("cio_desktop.test.session")


def run_session(home: Path, secrets: SecretStore, profile_name: str) -> dict[SecretKey, str]:
    logs.setup_logging("DEBUG")
    store = ProfileStore()
    store.save(Profile(name=profile_name, cio_site_id="site1", webhook_public_url="https://hooks.example.com"))
    values = {key: f"{key.value}-{uuid.uuid4().hex}" for key in SecretKey}
    for key, value in values.items():
        secrets.set(profile_name, key, value)
    api_key = secrets.get(profile_name, SecretKey.CIO_API_KEY)
    token = secrets.get(profile_name, SecretKey.WEBHOOK_TOKEN)
    basic = base64.b64encode(f"site1:{api_key}".encode()).decode()
    log.info("using key %s", api_key)
    log.debug(f"inline f-string {values[SecretKey.CIO_APP_KEY]}")
    log.warning("headers %r", {"Authorization": f"Basic {basic}", "Hull-Access-Token": values[SecretKey.HULL_SECRET]})
    log.info("webhook at https://hooks.example.com/webhooks/%s", token)
    log.info("track at https://site1:%s@track.customer.io/api/v1", api_key)
    try:
        raise ValueError(f"signature check failed with key {values[SecretKey.WEBHOOK_SIGNING_KEY]}")
    except ValueError:
        log.exception("webhook rejected")
    assert main(["profiles", "show", profile_name]) == 0
    assert main(["profiles", "export", profile_name, str(home / "exported.json")]) == 0
    store.duplicate(profile_name, profile_name + "-copy")
    store.rename(profile_name + "-copy", profile_name + "-renamed", secrets)
    logs.shutdown_logging()
    return {**values, SecretKey.CIO_API_KEY: api_key or "", "basic": basic}  # type: ignore[dict-item]


def scan(home: Path, needles: list[str]) -> list[str]:
    hits = []
    files = [Path(d) / f for d, _, names in os.walk(home) for f in names]
    assert any(p.name.endswith(".log") for p in files), "the session wrote no log file"
    for path in files:
        data = path.read_bytes()
        hits += [f"{path.relative_to(home)} contains {n[:12]}..." for n in needles if n.encode() in data]
    return hits


def test_no_secret_reaches_config_or_log_files(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = run_session(isolated_home, SecretStore(), "acme")
    assert scan(isolated_home, list(values.values())) == []
    assert "***" in (isolated_home / "logs" / logs.LogKind.CLI.file_name).read_text()
    out = capsys.readouterr()
    assert not any(v in out.out + out.err for v in values.values())


@pytest.mark.keyring_real
@pytest.mark.skipif(os.environ.get("CIO_TEST_REAL_KEYRING") != "1", reason="needs the keyring of scripts/test.sh")
def test_no_secret_reaches_files_with_the_real_keyring(isolated_home: Path) -> None:
    from keyring.backends import SecretService

    real = SecretService.Keyring()
    keyring.set_keyring(real)  # the CLI's own SecretStore() uses it too; conftest restores the in-memory one
    name = f"pytest-{uuid.uuid4().hex[:10]}"
    secrets = SecretStore(real)
    try:
        values = run_session(isolated_home, secrets, name)
        assert scan(isolated_home, list(values.values())) == []
    finally:
        for leftover in (name, name + "-copy", name + "-renamed"):
            secrets.delete_profile(leftover)
