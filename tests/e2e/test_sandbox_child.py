"""The demo window's sandbox in its own process: it serves, stops when asked, and does not outlive a
window process that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cio_desktop.config.secrets import SecretKey
from cio_desktop.sandbox.child import SandboxProcess
from tests.tunnel_standins import pid_alive

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_the_sandbox_process_serves_the_demo_profile_and_stops_when_asked() -> None:
    sandbox = SandboxProcess(users=60, seed=7)
    info = sandbox.start()
    pid = sandbox._proc.pid
    try:
        state = requests.get(f"{info.base_url}/_sandbox/state", timeout=10).json()
        assert state["users"] == 60
        assert info.profile.name == "Demo" and info.profile.segments
        assert {SecretKey(k) for k in info.secrets} >= {SecretKey.HULL_SECRET, SecretKey.CIO_API_KEY}
    finally:
        sandbox.stop()
    assert not pid_alive(pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{info.base_url}/_sandbox/state", timeout=5)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of the window's process is a POSIX test")
def test_a_killed_window_process_takes_its_sandbox_with_it() -> None:
    code = (
        "import sys, time\n"
        "from cio_desktop.sandbox.child import SandboxProcess\n"
        "if __name__ == '__main__':\n"
        "    s = SandboxProcess(users=30, seed=1); s.start()\n"
        "    print(s._proc.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) as window:
        assert window.stdout is not None
        child_pid = int(window.stdout.readline())
        assert pid_alive(child_pid)
        os.kill(window.pid, signal.SIGKILL)
        window.wait(10)
    deadline = time.monotonic() + 15
    while pid_alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(child_pid), "the sandbox outlived the window's process"
