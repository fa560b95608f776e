"""Log redaction: registered secrets and credential patterns are masked before any handler sees a record."""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
import uuid
from pathlib import Path

import pytest

from cio_desktop.config import logs, paths


def secret() -> str:
    return f"s3cret-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic c2l0ZTprZXk=", "Authorization: Basic ***"),
        ("{'Authorization': 'Bearer abc.def'}", "{'Authorization': 'Bearer ***'}"),
        ('"authorization": "bearer xyz"', '"authorization": "bearer ***"'),
        ("Hull-Access-Token: 0123abcd", "Hull-Access-Token: ***"),
        ("{'Hull-Access-Token': 'zzz', 'Hull-App-Id': 'abc'}", "{'Hull-Access-Token': '***', 'Hull-App-Id': 'abc'}"),
        ("GET https://site:apikey@track.customer.io/api/v1", "GET https://***@track.customer.io/api/v1"),
        ("jwt eyJhbGciOi.eyJpc3MiOi.c2lnbmF0dXJl end", "jwt *** end"),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_credential_patterns_are_masked(text: str, expected: str) -> None:
    assert logs.redact(text) == expected


def test_registered_secret_and_its_url_encoded_form_are_masked() -> None:
    value = f"tok/{uuid.uuid4().hex}+x"
    logs.register_secret(value)
    assert (
        logs.redact(f"POST /webhooks/{value} and /webhooks/tok%2F{value[4:-2]}%2Bx")
        == "POST /webhooks/*** and /webhooks/***"
    )


def test_too_short_values_are_not_registered() -> None:
    logs.register_secret("ab")
    assert logs.redact("tab about") == "tab about"


def test_records_are_redacted_at_creation_for_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    value = secret()
    logs.register_secret(value)
    child = logging.getLogger("cio_desktop.some.child")
    with caplog.at_level(logging.INFO):
        child.info("key=%s", value)
        child.warning("header %s", {"Authorization": "Basic Zm9vOmJhcg=="})
    assert value not in caplog.text and "Zm9vOmJhcg" not in caplog.text
    assert "key=***" in caplog.text
    assert all(r.args is None for r in caplog.records)


def test_exception_text_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    value = secret()
    logs.register_secret(value)
    with caplog.at_level(logging.ERROR):
        try:
            raise RuntimeError(f"request failed with token {value}")
        except RuntimeError:
            logging.getLogger("cio_desktop.x").exception("sending failed")
    assert "request failed with token ***" in caplog.text
    assert value not in caplog.text


def test_malformed_log_call_does_not_leak_its_arguments(caplog: pytest.LogCaptureFixture) -> None:
    value = secret()
    logs.register_secret(value)
    with caplog.at_level(logging.INFO):
        logging.getLogger("cio_desktop.x").info("count %d", value)
    assert value not in caplog.text
    assert "did not match" in caplog.text


def test_setup_logging_writes_a_private_rotating_file(isolated_home: Path) -> None:
    path = logs.setup_logging("DEBUG")
    assert path.parent == paths.log_dir() and path.name == "cli.log"
    logging.getLogger("cio_desktop.test").info("hello file")
    text = path.read_text()
    assert "INFO" in text and "hello file" in text
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "baseFilename", None) == str(path))
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert handler.maxBytes == logs.LOG_MAX_BYTES and handler.backupCount == logs.LOG_BACKUPS
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_handler_filter_redacts_records_made_without_the_factory() -> None:
    value = secret()
    logs.register_secret(value)
    path = logs.setup_logging()
    record = logging.LogRecord("raw", logging.WARNING, __file__, 1, "raw %s", (value,), None)
    for handler in logging.getLogger().handlers:
        handler.handle(record)
    assert value not in path.read_text()
    assert "raw ***" in path.read_text()


def test_setup_logging_again_replaces_its_handlers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = logs.setup_logging()
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    second = logs.setup_logging(console=True)
    logging.getLogger("cio_desktop.test").warning("only in the second")
    assert "only in the second" in second.read_text()
    assert "only in the second" not in first.read_text()


def test_records_rebuilt_from_a_dict_are_redacted_by_the_handler() -> None:
    value = secret()
    logs.register_secret(value)
    path = logs.setup_logging()
    # makeLogRecord (socket/queue receivers) builds a record through the factory, then overwrites msg.
    record = logging.makeLogRecord({"name": "remote", "levelno": logging.INFO, "levelname": "INFO", "msg": value})
    for handler in logging.getLogger().handlers:
        handler.handle(record)
    assert value not in path.read_text()
