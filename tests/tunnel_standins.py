"""Put stand-ins for cloudflared / ngrok (tests/fixtures/tunnels/standin.py) on PATH for a test."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cio_desktop.webhooks import tunnel

STANDIN = Path(__file__).parent / "fixtures" / "tunnels" / "standin.py"


@dataclass
class StandIns:
    folder: Path
    log: Path
    monkeypatch: pytest.MonkeyPatch

    def install(self, *tools: str, mode: str = "ok", words: str = "seasonal-deck-organisms-sf") -> None:
        """Make ``tools`` (cloudflared, ngrok) the only programs on PATH, behaving as ``mode``."""
        for tool in tools:
            script = self.folder / tool
            script.write_text(f"#!{sys.executable}\n" + STANDIN.read_text(encoding="utf-8"), encoding="utf-8")
            script.chmod(0o755)
        self.mode(mode, words=words)

    def mode(self, mode: str, *, words: str = "seasonal-deck-organisms-sf", exit_after: float | None = None) -> None:
        self.monkeypatch.setenv("STANDIN_MODE", mode)
        self.monkeypatch.setenv("STANDIN_WORDS", words)
        if exit_after is not None:
            self.monkeypatch.setenv("STANDIN_EXIT_AFTER", str(exit_after))

    def starts(self) -> list[tuple[int, list[str]]]:
        """(pid, arguments) of every start so far."""
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            pid, *args = line.split()
            out.append((int(pid), args))
        return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def make_standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    """An empty PATH folder for stand-ins (call from a fixture: PATH and the log are per test)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "standin.log"
    monkeypatch.setenv("PATH", str(folder))
    # Only the stand-ins: a real cloudflared or ngrok in the usual install folders must not be found.
    monkeypatch.setattr(tunnel, "known_install_dirs", lambda platform=None: [])
    monkeypatch.setenv("STANDIN_LOG", str(log))
    return StandIns(folder, log, monkeypatch)
