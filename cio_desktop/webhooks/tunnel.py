"""A one-click public URL for the receiver, through a tunnel tool the user already has installed.

Customer.io must reach the receiver from the internet, and a laptop has no public address. Two free
tools give one without any network setup: Cloudflare's ``cloudflared`` (a "quick tunnel", no account)
and ``ngrok`` (a free account). Neither can be shipped with the app, so we look for them on PATH,
run one as a child process for the receiver's port and read the public https URL from its output:

* ``cloudflared tunnel --url http://127.0.0.1:PORT`` logs to stderr and prints
  ``https://<words>.trycloudflare.com`` inside a box of ``|`` and ``+---+`` lines;
* ``ngrok http 127.0.0.1:PORT --log stdout --log-format json`` logs one JSON object a line, among
  them ``{"msg": "started tunnel", "url": "https://..."}``.

A reader thread drains the child's output for its whole life (a full pipe would block the tool),
keeping only the URL and the last few lines for error messages, so memory stays bounded. ``stop()``
terminates the child and kills it if it does not exit; an ``atexit`` hook stops every tunnel still
running when Python exits, on every platform.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import IO

START_TIMEOUT = 30.0  # cloudflared usually answers in 3-8 s; a slow network can take longer
STOP_TIMEOUT = 5.0
MAX_LINE_BYTES = 4096  # a longer output line is read in pieces: memory stays bounded
TAIL_LINES = 6

# "<words>.trycloudflare.com": hyphenated words, so api.trycloudflare.com in an error line never matches.
_CLOUDFLARE_URL = re.compile(r"https://[a-z0-9]+(?:-[a-z0-9]+)+\.trycloudflare\.com(?![\w.-])")
_BOX_LINE = re.compile(r"\+-{3,}|\|\s*$")  # cloudflared's box around the URL: no news in it
# cloudflared's "2024-05-01T10:00:00Z INF " before each message.
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z (?:DBG|INF|WRN|ERR|FTL) ")
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console window for the child


class TunnelKind(StrEnum):
    CLOUDFLARED = "cloudflared"
    NGROK = "ngrok"


_LABELS = {TunnelKind.CLOUDFLARED: "Cloudflare Tunnel (cloudflared)", TunnelKind.NGROK: "ngrok"}


@dataclass(frozen=True)
class TunnelTool:
    """An installed tunnel program."""

    kind: TunnelKind
    path: str

    @property
    def label(self) -> str:
        return _LABELS[self.kind]


class TunnelState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class TunnelStatus:
    """What the page shows about the tunnel: its state, public URL and a sentence saying so."""

    state: TunnelState
    kind: TunnelKind
    public_url: str | None
    message: str


class TunnelError(RuntimeError):
    """The tunnel could not start; the message says why in words a user can act on."""


def known_install_dirs(platform: str = sys.platform) -> list[str]:
    """Where installers put these tools, for when they are not on the app's PATH: an app opened from
    Finder gets a minimal PATH without Homebrew's folders, and winget's PATH change only reaches
    programs started after it."""
    if platform.startswith("win"):
        env = os.environ
        roots = [(env.get("ProgramFiles"), "cloudflared"), (env.get("ProgramFiles(x86)"), "cloudflared")]
        roots.append((env.get("LOCALAPPDATA"), os.path.join("Microsoft", "WinGet", "Links")))
        return [os.path.join(root, sub) for root, sub in roots if root]
    home = os.path.expanduser("~")
    return ["/opt/homebrew/bin", "/usr/local/bin", os.path.join(home, ".local", "bin"), "/snap/bin"]


def find_tunnel_tools(search_path: str | None = None, *, extra_dirs: list[str] | None = None) -> list[TunnelTool]:
    """The tunnel programs on PATH (or ``search_path``), then in the usual install folders; cloudflared
    first (it needs no account)."""
    dirs = (os.environ.get("PATH", "") if search_path is None else search_path).split(os.pathsep)
    dirs += known_install_dirs() if extra_dirs is None else extra_dirs
    path = os.pathsep.join(d for d in dirs if d)
    found: list[TunnelTool] = []
    for kind in TunnelKind:
        exe = shutil.which(kind.value, path=path)
        if exe:
            found.append(TunnelTool(kind, exe))
    return found


def install_help(platform: str = sys.platform) -> str:
    """How to install a tunnel tool on this system, for when none is found."""
    if platform == "darwin":
        cloudflared = "in Terminal: brew install cloudflared"
    elif platform.startswith("win"):
        cloudflared = "in PowerShell: winget install --id Cloudflare.cloudflared"
    else:
        cloudflared = (
            "the package for your system from developers.cloudflare.com/cloudflare-one/connections/"
            "connect-networks/downloads/"
        )
    return (
        "No tunnel program is installed, so this computer has no public address for Customer.io. Install "
        f"Cloudflare's free cloudflared (no account needed): {cloudflared}. Or install ngrok from "
        "ngrok.com/download and sign in once with: ngrok config add-authtoken <your token>. Then click "
        "\u201cGet a public URL\u201d again."
    )


def target_address(host: str, port: int) -> str:
    """``host:port`` the tunnel forwards to (a wildcard listen address is reached on loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tunnel_command(tool: TunnelTool, host: str, port: int) -> list[str]:
    target = target_address(host, port)
    if tool.kind is TunnelKind.CLOUDFLARED:
        return [tool.path, "tunnel", "--no-autoupdate", "--url", f"http://{target}"]
    return [tool.path, "http", target, "--log", "stdout", "--log-format", "json"]


def parse_public_url(kind: TunnelKind, line: str) -> str | None:
    """The public https URL announced on this output line, if any."""
    if kind is TunnelKind.CLOUDFLARED:
        match = _CLOUDFLARE_URL.search(line)
        return match.group(0) if match else None
    record = _json_line(line)
    if record is None or record.get("msg") != "started tunnel":
        return None
    url = record.get("url")
    return url if isinstance(url, str) and url.startswith("https://") and len(url) < 200 else None


def readable_line(line: str) -> str:
    """An output line as a person reads it: ngrok's JSON log lines become their message and error."""
    record = _json_line(line)
    if record is not None:
        parts = [str(record[k]) for k in ("msg", "err") if record.get(k) not in (None, "", "<nil>")]
        line = ": ".join(parts)
    return _LOG_PREFIX.sub("", line.strip())[:200]


def _json_line(line: str) -> dict[str, object] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Tunnel:
    """One running tunnel program for ``host:port``. ``start()`` blocks (call it from a worker thread)."""

    def __init__(
        self,
        tool: TunnelTool,
        host: str,
        port: int,
        *,
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.tool = tool
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._url: str | None = None
        self._settled = threading.Event()  # set when the URL is known or the output ended
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._stopped = False
        self._failure: str | None = None

    @property
    def public_url(self) -> str | None:
        return self._url

    @property
    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def start(self) -> str:
        """Run the tool and return its public https URL; raise :class:`TunnelError` if it gives none."""
        label = self.tool.label
        try:
            proc = subprocess.Popen(
                tunnel_command(self.tool, self.host, self.port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                creationflags=_NO_WINDOW,
            )
        except OSError as exc:
            raise TunnelError(f"Could not run {label} ({self.tool.path}): {exc.strerror or exc}.") from None
        assert proc.stdout is not None
        with self._lock:
            self._proc = proc
        _running.add(self)
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,), name="tunnel-output", daemon=True)
        self._reader.start()
        started = time.monotonic()
        self._settled.wait(self.start_timeout)
        if self._url is not None:
            return self._url
        if self._settled.is_set():  # the output ended: the program exited (or is exiting) without a URL
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(self.stop_timeout)
            code = proc.poll()
            self.stop()
            raise TunnelError(
                f"{label} stopped before giving a public address"
                + (f" (exit code {code})" if code is not None else "")
                + self._last_words()
            )
        self.stop()
        raise TunnelError(
            f"{label} gave no public address within {time.monotonic() - started:.0f} seconds, so it was stopped. "
            "Check this computer's internet connection and try again" + self._last_words()
        )

    def stop(self) -> None:
        """Stop the program (terminate, then kill after ``stop_timeout``); safe to call twice."""
        with self._lock:
            proc, self._stopped = self._proc, True
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(self.stop_timeout)
            if self._reader is not None:
                self._reader.join(self.stop_timeout)
            if proc.stdout is not None:
                proc.stdout.close()
        _running.discard(self)

    def status(self) -> TunnelStatus:
        label = self.tool.label
        proc = self._proc
        code = proc.poll() if proc is not None else None
        if proc is not None and code is None:
            if self._url is None:
                return TunnelStatus(TunnelState.STARTING, self.tool.kind, None, f"Starting {label}…")
            return TunnelStatus(TunnelState.RUNNING, self.tool.kind, self._url, f"Public URL from {label}: {self._url}")
        if self._stopped or proc is None:
            return TunnelStatus(TunnelState.STOPPED, self.tool.kind, None, f"{label} is stopped.")
        return TunnelStatus(
            TunnelState.FAILED,
            self.tool.kind,
            None,
            f"{label} stopped by itself (exit code {code}); Customer.io cannot reach this computer until it runs "
            "again" + self._last_words(),
        )

    def _read(self, stream: IO[bytes]) -> None:
        kind = self.tool.kind
        try:
            for raw in iter(lambda: stream.readline(MAX_LINE_BYTES), b""):
                line = raw.decode("utf-8", "replace")
                if self._url is None:
                    url = parse_public_url(kind, line)
                    if url is not None:
                        self._url = url
                        self._settled.set()
                        continue
                text = readable_line(line)
                if text and not _BOX_LINE.search(text):
                    self._tail.append(text)
        except (OSError, ValueError):  # the pipe was closed by stop()
            pass
        finally:
            self._settled.set()

    def _last_words(self) -> str:
        lines = list(self._tail)[-3:]
        return (". It said: " + " / ".join(lines)) if lines else "."


# Tunnels still running, stopped when Python exits so no tool outlives the app.
_running: set[Tunnel] = set()


def _stop_all() -> None:
    for tunnel in list(_running):
        with contextlib.suppress(Exception):
            tunnel.stop()


atexit.register(_stop_all)


__all__ = [
    "START_TIMEOUT",
    "Tunnel",
    "TunnelError",
    "TunnelKind",
    "TunnelState",
    "TunnelStatus",
    "TunnelTool",
    "find_tunnel_tools",
    "install_help",
    "known_install_dirs",
    "parse_public_url",
    "target_address",
    "tunnel_command",
]
