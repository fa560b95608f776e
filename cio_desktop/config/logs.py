"""Logging: a rotating file in the log folder, and redaction of secrets before any handler sees a record.

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
import re
import sys
import threading
from io import TextIOWrapper
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cio_desktop.config import paths
from cio_desktop.config.private import private_dir, private_file, private_opener

LOG_FILE_NAME = "cio-desktop.log"
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 5
MASK = "***"
# Shorter values are not credible secrets and masking them would shred ordinary log text.
MIN_SECRET_LENGTH = 4

_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

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


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Creates the log file 0600, at start and at every rollover (the base class uses the umask's 0644)."""

    def _open(self) -> TextIOWrapper:
        return open(self.baseFilename, "a", encoding=self.encoding, errors=self.errors, opener=private_opener)


def setup_logging(level: str | int = "INFO", *, console: bool = False) -> Path:
    """Log to a rotating file in the log folder (and stderr if ``console``); return the file's path.

    Calling it again replaces the handlers it installed before (e.g. after ``CIO_DESKTOP_HOME`` changed).
    """
    install_redaction()
    shutdown_logging()
    directory = private_dir(paths.log_dir())
    log_file = directory / LOG_FILE_NAME
    # Redacted, but still about the user's customers: private like everything else. Files an older
    # version left open are tightened; new ones (and each rollover's) are created 0600.
    for old in directory.glob(LOG_FILE_NAME + "*"):
        private_file(old)
    file_handler = _PrivateRotatingFileHandler(
        log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
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


def shutdown_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed."""
    root = logging.getLogger()
    while _handlers:
        handler = _handlers.pop()
        root.removeHandler(handler)
        handler.close()


__all__ = [
    "LOG_FILE_NAME",
    "MASK",
    "RedactingFilter",
    "install_redaction",
    "redact",
    "redact_record",
    "register_secret",
    "setup_logging",
    "shutdown_logging",
]
