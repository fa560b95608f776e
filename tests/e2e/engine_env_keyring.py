"""A read-only keyring backend for child processes of the e2e tests.

``PYTHON_KEYRING_BACKEND=tests.e2e.engine_env_keyring.EnvKeyring`` makes ``keyring`` (and so
``SecretStore()``) read secrets from the JSON in ``CIO_TEST_KEYRING`` instead of the user's keyring,
so a real ``cio-desktop sync --profile P`` process can run against the sandbox.
"""

from __future__ import annotations

import json
import os

import keyring.errors
from keyring.backend import KeyringBackend

ENV = "CIO_TEST_KEYRING"


class EnvKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        value = json.loads(os.environ.get(ENV, "{}")).get(f"{service}\n{username}")
        return value if isinstance(value, str) else None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("the test keyring is read-only")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("the test keyring is read-only")


class RecordingKeyring(KeyringBackend):
    """Collects what a SecretStore writes, to hand it to EnvKeyring in a child's environment."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.items: dict[str, str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get(f"{service}\n{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[f"{service}\n{username}"] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop(f"{service}\n{username}", None)

    def env(self) -> dict[str, str]:
        return {"PYTHON_KEYRING_BACKEND": f"{__name__}.EnvKeyring", ENV: json.dumps(self.items)}
