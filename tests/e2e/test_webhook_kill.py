"""Crash safety: SIGKILL `cio-desktop webhook serve` while a client posts and the forwarder drains.

Every event that got a 200 must reach the sandbox's Hull exactly once after a restart: stored
before the 200 (so nothing acknowledged is lost) and de-duplicated on event_id by Hull (so an
event forwarded just before the kill, but not yet marked forwarded, is not counted twice).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from cio_desktop.config.secrets import SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore
from cio_desktop.sandbox import Sandbox
from cio_desktop.webhooks.inbox import Inbox, inbox_path
from cio_desktop.webhooks.signature import signed_headers

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.posix_only]  # SIGKILL

REPO = Path(__file__).resolve().parents[2]
KEYRING_FILE_ENV = "CIO_TEST_WEBHOOK_KEYRING_FILE"
PROFILE = "KillTest"
SIGNING_KEY = "kill-test-signing-key"
SERVE = (sys.executable, "-m", "cio_desktop", "webhook", "serve")


class FileKeyring(KeyringBackend):
    """Test-only keyring in a JSON file, so the `serve` subprocess sees the secrets this test set."""

    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ[KEYRING_FILE_ENV])

    def _load(self) -> dict[str, str]:
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}|{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}|{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}|{username}", None)
        self._path().write_text(json.dumps(data))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(users=50, seed=7) as sb:
        yield sb


@pytest.fixture
def serve_env(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(KEYRING_FILE_ENV, str(tmp_path / "keyring.json"))
    profile = sandbox.demo_profile(PROFILE)
    ProfileStore().save(profile)
    secrets = SecretStore(FileKeyring())
    secrets.set(PROFILE, SecretKey.HULL_SECRET, sandbox.credentials.hull_secret)
    secrets.set(PROFILE, SecretKey.WEBHOOK_SIGNING_KEY, SIGNING_KEY)
    secrets.set(PROFILE, SecretKey.WEBHOOK_TOKEN, "kill-test-token-0123456789abcdef")
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = f"{__name__}.FileKeyring"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Server:
    """`cio-desktop webhook serve` in a subprocess; ``port`` is where it listens."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._stderr = log.open("a")
        self.proc = subprocess.Popen(
            [*SERVE, "--profile", PROFILE, "--port", "0", "--status-every", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.port:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"Listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        # Keep draining stdout so the child never blocks on a full pipe.
        self._drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self._drain.start()
        if not self.port:
            self.close(signal.SIGKILL)
            raise AssertionError(f"webhook serve did not start: {log.read_text()}")

    def close(self, sig: int) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self._drain.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()
        return code


class Poster(threading.Thread):
    """Posts distinct signed events as fast as it can; remembers which got a 200."""

    def __init__(self, port: int, prefix: str) -> None:
        super().__init__(daemon=True)
        self.port, self.prefix = port, prefix
        self.acknowledged: list[str] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        path = "/webhooks/customerio/kill-test-token-0123456789abcdef"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
        i = 0
        while not self.stop.is_set():
            event_id = f"{self.prefix}-{i}"
            i += 1
            body = json.dumps(
                {
                    "event_id": event_id,
                    "object_type": "email",
                    "metric": "opened",
                    "timestamp": int(time.time()),
                    "data": {"identifiers": {"id": f"user-{i % 40}"}, "delivery_id": f"d-{i}", "subject": "Hi"},
                }
            ).encode()
            try:
                conn.request("POST", path, body=body, headers={**signed_headers(SIGNING_KEY, body)})
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                self.failures += 1
                conn.close()
                if self.failures > 5:
                    return  # the server is gone
                time.sleep(0.05)
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3)
                continue
            if resp.status == 200:
                self.acknowledged.append(event_id)
        conn.close()


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sigkill_while_posting_and_forwarding_loses_nothing_and_duplicates_nothing(
    sandbox: Sandbox, serve_env: dict[str, str], tmp_path: Path
) -> None:
    # Hull answers slowly, so the forwarder is still behind the poster when the kill lands, however
    # fast this machine happens to be at the moment.
    sandbox.set_faults("firehose", latency_ms=150)
    log = tmp_path / "serve.log"
    server = Server(serve_env, log)
    poster = Poster(server.port, "first")
    poster.start()
    try:
        # Kill mid-flight: the client is posting and the forwarder has already sent some to Hull.
        wait_for(lambda: len(poster.acknowledged) >= 300, 30, "300 acknowledged events")
        wait_for(lambda: len(sandbox.hull_events_received()) >= 50, 30, "forwarding to have started")
    finally:
        assert server.close(signal.SIGKILL) == -signal.SIGKILL
        poster.stop.set()
        poster.join(timeout=10)
    acknowledged = list(poster.acknowledged)
    forwarded_before_restart = len(sandbox.hull_events_received())
    assert forwarded_before_restart < len(acknowledged), "the kill came too late to test anything"

    server = Server(serve_env, log)
    try:
        received_ids = lambda: {e["body"]["event_id"] for e in sandbox.hull_events_received()}  # noqa: E731
        wait_for(lambda: set(acknowledged) <= received_ids(), 60, "every acknowledged event to reach Hull")
        # Give the forwarder a moment more: nothing may arrive twice after catching up either.
        time.sleep(0.5)
    finally:
        code = server.close(signal.SIGTERM)
    assert code == 0, log.read_text()

    events = Counter(e["body"]["event_id"] for e in sandbox.hull_events_received())
    assert all(events[i] == 1 for i in acknowledged)
    # Events that never got their 200 may still have been stored; none may appear twice either.
    assert max(events.values()) == 1
    sample = next(e for e in sandbox.hull_events_received() if e["body"]["event_id"] == acknowledged[0])
    assert sample["body"]["event"] == "Email Opened" and sample["body"]["source"] == "customerio"
    assert sample["as_user"] == {"external_id": "user-1"}

    with Inbox(inbox_path(PROFILE)) as inbox:
        counts = inbox.counts()
    assert counts.forwarded == counts.received >= len(acknowledged)
    assert counts.pending == counts.failed == 0
