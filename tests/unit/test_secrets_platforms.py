"""Secrets in the macOS and Windows keyrings, through keyring's own backends over faithful fakes.

Windows: keyring's WinVaultKeyring over a fake ``win32cred`` that keeps Credential Manager's rules:
target names are compared ignoring case, CredRead of a missing target fails with error 1168, blobs
come back as UTF-16 bytes. macOS: keyring's macOS Keyring over a fake Security ``api`` raising its
errors for the statuses the Security framework returns.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from keyring.backends import Windows, macOS

from cio_desktop.config import paths
from cio_desktop.config.profile import Profile
from cio_desktop.config.secrets import KeyringUnavailableError, SecretKey, SecretStore
from cio_desktop.config.store import ProfileStore

ERROR_NOT_FOUND = 1168


class FakeWinError(Exception):
    """pywintypes.error: (winerror, funcname, strerror)."""

    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror = winerror
        self.funcname = funcname
        self.strerror = strerror


class FakeCredentialManager:
    """The part of win32cred keyring uses, over one store whose target names ignore case."""

    CRED_TYPE_GENERIC = 1
    CRED_PERSIST_SESSION = 1
    CRED_PERSIST_LOCAL_MACHINE = 2
    CRED_PERSIST_ENTERPRISE = 3

    def __init__(self) -> None:
        self.creds: dict[str, dict[str, Any]] = {}
        self.fail_with: int | None = None  # a Windows error every call gives

    def _check(self, funcname: str) -> None:
        if self.fail_with is not None:
            raise FakeWinError(self.fail_with, funcname, "A specified logon session does not exist.")

    def CredRead(self, Type: int, TargetName: str) -> dict[str, Any]:
        self._check("CredRead")
        cred = self.creds.get(TargetName.casefold())
        if cred is None:
            raise FakeWinError(ERROR_NOT_FOUND, "CredRead", "Element not found.")
        return {**cred, "CredentialBlob": cred["CredentialBlob"].encode("utf-16-le")}

    def CredWrite(self, Credential: dict[str, Any], Flags: int) -> None:
        self._check("CredWrite")
        self.creds[Credential["TargetName"].casefold()] = dict(Credential)

    def CredDelete(self, Type: int, TargetName: str) -> None:
        self._check("CredDelete")
        if self.creds.pop(TargetName.casefold(), None) is None:
            raise FakeWinError(ERROR_NOT_FOUND, "CredDelete", "Element not found.")


@pytest.fixture
def credential_manager(monkeypatch: pytest.MonkeyPatch) -> FakeCredentialManager:
    fake = FakeCredentialManager()
    monkeypatch.setattr(Windows, "win32cred", fake, raising=False)
    monkeypatch.setattr(Windows, "pywintypes", types.SimpleNamespace(error=FakeWinError), raising=False)
    return fake


@pytest.fixture
def windows_secrets(credential_manager: FakeCredentialManager) -> SecretStore:
    return SecretStore(Windows.WinVaultKeyring())


def test_the_windows_backend_is_named_credential_manager(windows_secrets: SecretStore) -> None:
    assert windows_secrets.backend_name() == "Windows Credential Manager"
    assert windows_secrets.where_text() == "Stored in Windows Credential Manager"


def test_a_case_only_rename_keeps_every_secret_in_credential_manager(windows_secrets: SecretStore) -> None:
    values = {key: f"acme-{key.value}-value" for key in SecretKey}
    for key, value in values.items():
        windows_secrets.set("Acme", key, value)
    windows_secrets.set("Other", SecretKey.CIO_API_KEY, "other-api-key")
    windows_secrets.rename_profile("Acme", "acme")
    assert {key: windows_secrets.get("acme", key) for key in SecretKey} == values
    assert windows_secrets.get("Other", SecretKey.CIO_API_KEY) == "other-api-key"


def test_copying_then_deleting_a_case_only_rename_is_what_fails_in_credential_manager(
    windows_secrets: SecretStore,
) -> None:
    # The fake reproduces the reported failure of the direct route (which the rename no longer takes).
    for key in SecretKey:
        windows_secrets.set("Acme", key, f"acme-{key.value}-value")
    with pytest.raises(KeyringUnavailableError, match="refused to delete"):
        windows_secrets._move_secrets("Acme", "acme")


def test_renaming_a_profile_only_in_case_moves_its_credentials_file_and_folder(
    windows_secrets: SecretStore,
) -> None:
    store = ProfileStore()
    store.save(Profile(name="Acme"))
    windows_secrets.set("Acme", SecretKey.HULL_SECRET, "hull-secret-1")
    renamed = store.rename("acme", "ACME", windows_secrets)  # the old name as typed, in any case
    assert renamed.name == "ACME" and store.names() == ["ACME"]
    assert windows_secrets.get("ACME", SecretKey.HULL_SECRET) == "hull-secret-1"
    assert paths.profile_data_dir("ACME").is_dir()


def test_credential_manager_errors_name_the_windows_fix(
    windows_secrets: SecretStore, credential_manager: FakeCredentialManager
) -> None:
    credential_manager.fail_with = 1312  # ERROR_NO_SUCH_LOGON_SESSION: a task without stored password
    for call in (
        lambda: windows_secrets.set("Acme", SecretKey.CIO_API_KEY, "api-key-0007"),
        lambda: windows_secrets.get("Acme", SecretKey.CIO_API_KEY),
        lambda: windows_secrets.delete("Acme", SecretKey.CIO_API_KEY),
    ):
        with pytest.raises(KeyringUnavailableError) as err:
            call()
        text = str(err.value)
        assert "Windows Credential Manager" in text and "Task Scheduler" in text
        assert err.value.code == 1312
        assert "api-key-0007" not in text
    credential_manager.fail_with = 5  # any other Windows error: the general Credential Manager advice
    with pytest.raises(KeyringUnavailableError, match=r"Control Panel > Credential Manager"):
        windows_secrets.get("Acme", SecretKey.CIO_API_KEY)


# ---------------------------------------------------------------------------- macOS
def fake_security_api(status: int) -> types.SimpleNamespace:
    """keyring.backends.macOS.api's errors and calls, every call failing with the Security ``status``."""

    class Error(Exception):
        @classmethod
        def raise_for_status(cls, status: int) -> None:
            if status == -25300:
                raise NotFound(status, "Item not found")
            if status == -128:
                raise KeychainDenied(status, "Keychain Access Denied")
            if status in (-25293, -67030):
                raise SecAuthFailure(status, "Security Auth Failure")
            raise cls(status, "Unknown Error")

    class NotFound(Error):
        pass

    class KeychainDenied(Error):
        pass

    class SecAuthFailure(Error):
        pass

    def call(*_args: object) -> None:
        Error.raise_for_status(status)

    return types.SimpleNamespace(
        Error=Error,
        NotFound=NotFound,
        KeychainDenied=KeychainDenied,
        SecAuthFailure=SecAuthFailure,
        set_generic_password=call,
        find_generic_password=call,
        delete_generic_password=call,
    )


@pytest.mark.parametrize(
    ("status", "fix"),
    [
        (-25308, "security unlock-keychain"),  # locked, and macOS cannot ask (SSH, launchd)
        (-128, "Access Control"),  # someone chose Deny
        (-25293, "signed copy"),  # unsigned or changed build
        (-25291, "Open Keychain Access and unlock the login keychain"),  # anything else
    ],
)
def test_keychain_errors_name_the_macos_fix(monkeypatch: pytest.MonkeyPatch, status: int, fix: str) -> None:
    monkeypatch.setattr(macOS, "api", fake_security_api(status), raising=False)
    secrets = SecretStore(macOS.Keyring())
    assert secrets.backend_name() == "macOS Keychain"
    calls: list[Callable[[], object]] = [
        lambda: secrets.set("Acme", SecretKey.CIO_API_KEY, "api-key-0008"),
        lambda: secrets.get("Acme", SecretKey.CIO_API_KEY),
    ]
    for call in calls:
        with pytest.raises(KeyringUnavailableError) as err:
            call()
        assert fix in str(err.value) and "macOS Keychain" in str(err.value)
        assert err.value.code == status
        assert "api-key-0008" not in str(err.value)


def test_a_missing_keychain_item_reads_as_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(macOS, "api", fake_security_api(-25300), raising=False)
    assert SecretStore(macOS.Keyring()).get("Acme", SecretKey.CIO_API_KEY) is None
