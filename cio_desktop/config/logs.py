"""Logging: a rotating file in the log folder, and redaction of secrets before any handler sees a record.

One file per kind of process (``gui.log``, ``cli.log`` for syncs and other commands, ``webhook.log``
for the receiver), so the app window, a scheduled sync and a receiver do not share one. Processes
of one kind can still run at once (two scheduled syncs), and Windows refuses to rename a file another
process holds open, so :class:`SharedRotatingFileHandler` opens the file only while it writes a
record and, when a rotation cannot rename, keeps writing and tries again a little later.

Redaction happens in two places so nothing slips through:

* a log-record factory (installed on first use, process-wide) rewrites every record as it is created,
  whichever logger or handler it goes to (root filters alone would miss records from child loggers);
* a :class:`RedactingFilter` on every handler :func:`setup_logging` installs, for records made by
  code that bypasses the factory.

What is masked: every value passed to :func:`register_secret` (the secret store registers each value
it hands out or stores), ``Authorization: Basic/Bearer ...`` credentials, ``Hull-Access-Token``
values, JSON web tokens, and ``user:password@`` in URLs.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from io import TextIOWrapper
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cio_desktop.config import paths
from cio_desktop.config.private import private_dir, private_file, private_opener

LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 5
# After a rotation failed (another process was writing at that instant), try again this much later.
ROTATE_RETRY_S = 30.0
MASK = "***"
# Shorter values are not credible secrets and masking them would shred ordinary log text.
MIN_SECRET_LENGTH = 4

_FORMAT = "%(asctime)s %(levelname)-7s %(process)d %(threadName)s %(name)s: %(message)s"


class LogKind(StrEnum):
    """Which log file a process writes."""

    GUI = "gui"  # the app window (and the receiver it runs)
    CLI = "cli"  # sync, preview, profiles, ... from a terminal or a scheduler
    WEBHOOK = "webhook"  # `cio-desktop webhook ...`, the headless receiver above all

    @property
    def file_name(self) -> str:
        return f"{self.value}.log"


def log_kind_for(command: str | None) -> LogKind:
    """The log of a ``cio-desktop`` invocation: no subcommand opens the app window."""
    if command is None:
        return LogKind.GUI
    return LogKind.WEBHOOK if command == "webhook" else LogKind.CLI


_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None
_factory_installed = False
_handlers: list[logging.Handler] = []

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Basic xxx / 'Authorization': 'Bearer xxx' / authorization=Bearer xxx
    (
        re.compile(r"""(authorization['"]?\s*[:=]\s*['"]?\s*)(basic|bearer)\s+[^\s'",;}\]]+""", re.IGNORECASE),
        r"\1\2 " + MASK,
    ),
    (re.compile(r"""(hull-access-token['"]?\s*[:=]\s*['"]?\s*)[^\s'",;}\]]+""", re.IGNORECASE), r"\1" + MASK),
    # JSON web tokens (the firehose signs one per request with the connector secret).
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), MASK),
    # https://user:password@host/ -> https://***@host/
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s@'\"]+@"), r"\1" + MASK + "@"),
)


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-encoded form) in every log record from now on."""
    global _secret_re
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    install_redaction()
    forms = {value, quote(value, safe="")}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        # Longest first so a secret containing another one is masked whole.
        alternatives = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in alternatives))


def redact(text: str) -> str:
    """``text`` with registered secrets and credential-looking parts replaced by ``***``."""
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite ``record`` in place: message (with its arguments), exception and stack text."""
    # The marker is the redacted message itself: if anything replaced msg since, redact again.
    if record.args is None and getattr(record, "_cio_redacted", None) is record.msg:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a malformed call must not leak the raw arguments through logging's error path
        message = f"{record.msg} (log arguments did not match the format: {record.args!r})"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    setattr(record, "_cio_redacted", record.msg)  # noqa: B010 - LogRecord has no such attribute to type
    return record


class RedactingFilter(logging.Filter):
    """Redacts records in place; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_redaction() -> None:
    """Make every log record created in this process redacted at creation (idempotent)."""
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _factory_installed = True


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated log file that several processes may write and rotate (see the module docstring).

    The file is open only while a record is written, so a rotation by another process never meets
    it held open; a rotation that fails (Windows: another process is writing that instant) leaves
    the record in the current file and is retried ``retry_s`` later. Files are created 0600.
    """

    def __init__(
        self,
        filename: Path,
        *,
        max_bytes: int,
        backups: int,
        retry_s: float = ROTATE_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
        self._retry_s = retry_s
        self._clock = clock
        self._retry_at: float | None = None

    def _open(self) -> TextIOWrapper:
        return open(self.baseFilename, "a", encoding=self.encoding, errors=self.errors, opener=private_opener)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        finally:
            stream, self.stream = self.stream, None
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    self.handleError(record)

    def doRollover(self) -> None:
        now = self._clock()
        if self._retry_at is not None and now < self._retry_at:
            return
        try:
            if os.path.getsize(self.baseFilename) < self.maxBytes:
                return  # another process rotated it a moment ago
            super().doRollover()
        except OSError:
            self._retry_at = now + self._retry_s
            return
        self._retry_at = None


def setup_logging(level: str | int = "INFO", *, console: bool = False, kind: LogKind = LogKind.CLI) -> Path:
    """Log to the rotating file of this kind of process in the log folder (and stderr if ``console``);
    return the file's path.

    Calling it again replaces the handlers it installed before (e.g. after ``CIO_DESKTOP_HOME`` changed).
    """
    install_redaction()
    shutdown_logging()
    directory = private_dir(paths.log_dir())
    log_file = directory / kind.file_name
    # Redacted, but still about the user's customers: private like everything else. Files an older
    # version left open are tightened; new ones (and each rollover's) are created 0600.
    for old in directory.glob("*.log*"):
        if old.is_file():
            private_file(old)
    private_file(log_file)  # there from the start, though opened only to write a record
    file_handler = SharedRotatingFileHandler(log_file, max_bytes=LOG_MAX_BYTES, backups=LOG_BACKUPS)
    handlers: list[logging.Handler] = [file_handler]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    _handlers.extend(handlers)
    return log_file


def file_logging_level() -> int | None:
    """The root level when :func:`setup_logging` installed its handlers in this process, else None
    (demo mode and tests log to no file): a child process the app starts logs likewise."""
    return logging.getLogger().level if _handlers else None


def logging_to_console() -> bool:
    """Whether :func:`setup_logging` also logs to stderr in this process (``--verbose``)."""
    return any(type(h) is logging.StreamHandler for h in _handlers)


def shutdown_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed."""
    root = logging.getLogger()
    while _handlers:
        handler = _handlers.pop()
        root.removeHandler(handler)
        handler.close()


__all__ = [
    "MASK",
    "LogKind",
    "RedactingFilter",
    "SharedRotatingFileHandler",
    "file_logging_level",
    "install_redaction",
    "log_kind_for",
    "logging_to_console",
    "redact",
    "redact_record",
    "register_secret",
    "setup_logging",
    "shutdown_logging",
]
