"""SecretStore against a real Secret Service (gnome-keyring in the private D-Bus session of scripts/test.sh).

Runs only when ``CIO_TEST_REAL_KEYRING=1`` (set by scripts/pytest-in-session.sh after it unlocked a
throw-away keyring); otherwise skipped, so a plain ``pytest`` never touches a developer's keyring.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from cio_desktop.config import logs
from cio_desktop.config.secrets import SecretKey, SecretStore

pytestmark = [
    pytest.mark.keyring_real,
    pytest.mark.skipif(
        os.environ.get("CIO_TEST_REAL_KEYRING") != "1",
        reason="needs the unlocked gnome-keyring that scripts/test.sh starts in a private D-Bus session",
    ),
]


@pytest.fixture
def real_store() -> SecretStore:
    from keyring.backends import SecretService

    return SecretStore(SecretService.Keyring())


@pytest.fixture
def profile(real_store: SecretStore) -> Iterator[str]:
    name = f"pytest-{uuid.uuid4().hex[:12]}"
    yield name
    real_store.delete_profile(name)
    real_store.delete_profile(name + "-renamed")


def test_real_keyring_stores_reads_and_deletes(real_store: SecretStore, profile: str) -> None:
    value = f"real-secret-{uuid.uuid4().hex}"
    real_store.set(profile, SecretKey.CIO_API_KEY, value)
    from keyring.backends import SecretService

    # A second store (as after an app restart) reads what the first one wrote.
    assert SecretStore(SecretService.Keyring()).get(profile, SecretKey.CIO_API_KEY) == value
    real_store.delete(profile, SecretKey.CIO_API_KEY)
    assert real_store.get(profile, SecretKey.CIO_API_KEY) is None
    real_store.delete(profile, SecretKey.CIO_API_KEY)  # deleting again is fine


def test_real_keyring_is_named_for_the_ui(real_store: SecretStore) -> None:
    assert real_store.backend_name() == "Secret Service"
    assert real_store.where_text() == "Stored in your system keyring (Secret Service)"


def test_real_keyring_profile_rename_and_delete(real_store: SecretStore, profile: str) -> None:
    for key in SecretKey:
        real_store.set(profile, key, f"{key}-{uuid.uuid4().hex}")
    before = {key: real_store.get(profile, key) for key in SecretKey}
    real_store.rename_profile(profile, profile + "-renamed")
    assert {key: real_store.get(profile + "-renamed", key) for key in SecretKey} == before
    assert not any(real_store.status(profile).values())
    real_store.delete_profile(profile + "-renamed")
    assert not any(real_store.status(profile + "-renamed").values())


def test_values_read_from_the_real_keyring_are_redacted(real_store: SecretStore, profile: str) -> None:
    value = f"redact-me-{uuid.uuid4().hex}"
    real_store.set(profile, SecretKey.HULL_SECRET, value)
    assert real_store.get(profile, SecretKey.HULL_SECRET) == value
    assert value not in logs.redact(f"connector secret is {value}")
