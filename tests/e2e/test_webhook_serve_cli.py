"""`cio-desktop webhook serve` output: the URL's secret token stays out of stdout (and so out of logs)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def serve_output(*extra: str) -> list[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cio_desktop",
            "webhook",
            "serve",
            "--demo",
            "--port",
            "0",
            "--status-every",
            "0",
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("received "):  # the first counters line ends the start-up output
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    return lines


def test_serve_masks_the_token_in_the_local_url_by_default() -> None:
    lines = serve_output()
    url = next(line for line in lines if line.startswith("Local webhook URL: "))
    assert re.fullmatch(r"Local webhook URL: http://127\.0\.0\.1:\d+/webhooks/customerio/…", url)
    assert any("--show-url" in line for line in lines)


def test_show_url_prints_the_whole_url() -> None:
    lines = serve_output("--show-url")
    url = next(line for line in lines if line.startswith("Local webhook URL: "))
    assert re.fullmatch(r"Local webhook URL: http://127\.0\.0\.1:\d+/webhooks/customerio/[\w-]{32}", url)
    assert not any("--show-url" in line for line in lines)
