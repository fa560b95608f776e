"""SecretStore over the in-memory backend, and how it fails when no keyring works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.compat import properties

from cio_desktop.config import logs
from cio_desktop.config.secrets import (
    SERVICE,
    InMemoryKeyring,
    KeyringUnavailableError,
    SecretKey,
    SecretStore,
    fix_instructions,
)


def test_stored_secret_reads_back(memory_secrets: SecretStore) -> None:
    memory_secrets.set("acme", SecretKey.CIO_API_KEY, "api-key-0001")
    assert memory_secrets.get("acme", SecretKey.CIO_API_KEY) == "api-key-0001"
    assert memory_secrets.get("acme", SecretKey.CIO_APP_KEY) is None


def test_entries_use_the_app_service_and_profile_colon_key() -> None:
    backend = InMemoryKeyring()
    SecretStore(backend).set("acme", SecretKey.HULL_SECRET, "hull-secret-1")
    assert backend.get_password(SERVICE, "acme:hull_secret") == "hull-secret-1"
    assert SERVICE == "cio-desktop"


def test_delete_removes_one_entry_and_tolerates_missing_ones(memory_secrets: SecretStore) -> None:
    memory_secrets.set("acme", SecretKey.CIO_API_KEY, "api-key-0001")
    memory_secrets.delete("acme", SecretKey.CIO_API_KEY)
    memory_secrets.delete("acme", SecretKey.CIO_API_KEY)
    assert memory_secrets.get("acme", SecretKey.CIO_API_KEY) is None


def test_setting_an_empty_value_clears_the_entry(memory_secrets: SecretStore) -> None:
    memory_secrets.set("acme", SecretKey.WEBHOOK_TOKEN, "token-abcdef")
    memory_secrets.set("acme", SecretKey.WEBHOOK_TOKEN, "")
    assert memory_secrets.get("acme", SecretKey.WEBHOOK_TOKEN) is None


def test_delete_profile_removes_all_its_secrets_and_no_others(memory_secrets: SecretStore) -> None:
    for key in SecretKey:
        memory_secrets.set("acme", key, f"acme-{key}")
    memory_secrets.set("other", SecretKey.CIO_API_KEY, "other-key-1")
    memory_secrets.delete_profile("acme")
    assert not any(memory_secrets.status("acme").values())
    assert memory_secrets.get("other", SecretKey.CIO_API_KEY) == "other-key-1"


def test_rename_profile_moves_every_secret(memory_secrets: SecretStore) -> None:
    memory_secrets.set("old", SecretKey.CIO_API_KEY, "api-key-0001")
    memory_secrets.set("old", SecretKey.WEBHOOK_SIGNING_KEY, "signing-0001")
    memory_secrets.rename_profile("old", "new")
    assert memory_secrets.get("new", SecretKey.CIO_API_KEY) == "api-key-0001"
    assert memory_secrets.get("new", SecretKey.WEBHOOK_SIGNING_KEY) == "signing-0001"
    assert not any(memory_secrets.status("old").values())


def test_status_says_which_secrets_are_set(memory_secrets: SecretStore) -> None:
    memory_secrets.set("acme", SecretKey.CIO_APP_KEY, "app-key-0001")
    status = memory_secrets.status("acme")
    assert status[SecretKey.CIO_APP_KEY] is True
    assert [k for k, v in status.items() if not v] == [k for k in SecretKey if k is not SecretKey.CIO_APP_KEY]


def test_values_handed_out_or_stored_are_masked_in_logs(memory_secrets: SecretStore) -> None:
    memory_secrets.set("acme", SecretKey.CIO_API_KEY, "stored-value-77")
    backend_only = InMemoryKeyring()
    backend_only.set_password(SERVICE, "acme:hull_secret", "read-value-88")
    assert "read-value-88" in logs.redact("read-value-88")  # not yet known to the redactor
    SecretStore(backend_only).get("acme", SecretKey.HULL_SECRET)
    assert logs.redact("a stored-value-77 b read-value-88") == "a *** b ***"


def test_in_memory_store_says_so_in_the_ui(memory_secrets: SecretStore) -> None:
    assert memory_secrets.backend_name() == "in-memory (demo)"
    assert "memory" in memory_secrets.where_text()


def test_default_backend_is_keyrings_current_one(isolated_keyring: InMemoryKeyring) -> None:
    store = SecretStore()
    store.set("acme", SecretKey.CIO_API_KEY, "api-key-0002")
    assert isolated_keyring.get_password(SERVICE, "acme:cio_api_key") == "api-key-0002"
    assert store.backend_name() == "in-memory (demo)"


def test_keyring_never_picks_the_in_memory_backend_by_itself() -> None:
    assert InMemoryKeyring not in set(KeyringBackend.get_viable_backends())


def test_unknown_key_is_a_programming_error_not_a_keyring_error(memory_secrets: SecretStore) -> None:
    with pytest.raises(ValueError, match="bogus"):
        memory_secrets.get("acme", "bogus")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
def test_no_backend_gives_the_specific_error_with_the_fix(backend: KeyringBackend) -> None:
    store = SecretStore(backend)
    for call in (
        lambda: store.get("acme", SecretKey.CIO_API_KEY),
        lambda: store.set("acme", SecretKey.CIO_API_KEY, "api-key-0003"),
        lambda: store.delete("acme", SecretKey.CIO_API_KEY),
    ):
        with pytest.raises(KeyringUnavailableError) as err:
            call()
        assert err.value.fix == fix_instructions()
        assert err.value.fix in str(err.value)
        assert "api-key-0003" not in str(err.value)
    assert store.backend_name() == "no keyring"
    assert not store.is_available()
    assert "No system keyring" in store.where_text()


def test_default_fail_backend_is_unavailable() -> None:
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(KeyringUnavailableError, match="no keyring backend"):
        SecretStore().get("acme", SecretKey.HULL_SECRET)


@pytest.mark.parametrize(
    ("platform", "words"),
    [("linux", "sudo apt install gnome-keyring"), ("darwin", "Keychain"), ("win32", "Credential Manager")],
)
def test_fix_text_fits_the_operating_system(platform: str, words: str) -> None:
    assert words in fix_instructions(platform)
    assert words in str(KeyringUnavailableError("locked", platform=platform))


class _Broken(KeyringBackend):
    """A backend whose every call fails with ``error`` (built per test)."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("only used explicitly")  # keeps keyring from ever choosing it

    error: Exception = RuntimeError()

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        # Some libraries put the failing value in their message; ours must still not show it.
        raise type(self.error)(f"{self.error} while storing {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


class _FakeDBusError(Exception):
    pass


_FakeDBusError.__module__ = "jeepney.wrappers"


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (keyring.errors.KeyringLocked("Failed to unlock the collection!"), "locked"),
        (keyring.errors.InitError("Failed to create the collection: Prompt dismissed.."), "InitError"),
        (keyring.errors.NoKeyringError("nothing"), "no keyring backend"),
        (_FakeDBusError("org.freedesktop.DBus.Error.ServiceUnknown"), "ServiceUnknown"),
        (ConnectionRefusedError("socket"), "ConnectionRefusedError"),
    ],
)
def test_backend_failures_become_keyring_unavailable_without_the_value(error: Exception, words: str) -> None:
    backend: Any = _Broken()
    backend.error = error
    store = SecretStore(backend)
    with pytest.raises(KeyringUnavailableError, match=words):
        store.get("acme", SecretKey.HULL_SECRET)
    with pytest.raises(KeyringUnavailableError) as err:
        store.set("acme", SecretKey.HULL_SECRET, "the-secret-value-9")
    assert "the-secret-value-9" not in str(err.value)
    with pytest.raises(KeyringUnavailableError):
        store.delete("acme", SecretKey.HULL_SECRET)


def test_secret_service_without_a_running_daemon_gives_the_specific_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keyring.backends import SecretService

    # A bus address nobody listens on: the real backend, but no Secret Service (and no user keyring).
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    store = SecretStore(SecretService.Keyring())
    with pytest.raises(KeyringUnavailableError) as err:
        store.set("acme", SecretKey.CIO_API_KEY, "api-key-0004")
    assert err.value.fix in str(err.value)
    assert "api-key-0004" not in str(err.value)
    assert store.backend_name() == "Secret Service"


@pytest.mark.parametrize(
    ("module", "name", "where"),
    [
        ("keyring.backends.SecretService", "Secret Service", "Stored in your system keyring (Secret Service)"),
        ("keyring.backends.libsecret", "Secret Service", "Stored in your system keyring (Secret Service)"),
        ("keyring.backends.kwallet", "KWallet", "Stored in your system keyring (KWallet)"),
        ("keyring.backends.macOS", "macOS Keychain", "Stored in your macOS Keychain"),
        ("keyring.backends.Windows", "Windows Credential Manager", "Stored in Windows Credential Manager"),
    ],
)
def test_backends_are_named_for_the_ui(module: str, name: str, where: str) -> None:
    fake = type("Keyring", (_Broken,), {"__module__": module})
    store = SecretStore(fake())
    assert store.backend_name() == name
    assert store.where_text() == where
