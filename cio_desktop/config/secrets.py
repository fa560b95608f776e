"""Secrets (connector secret, API keys, webhook keys) in the OS keyring, never in files.

One keyring entry per profile and key: service ``cio-desktop``, user name ``"<profile>:<key>"``.
Every value this store hands out or stores is registered with the log redactor first, so it can
never reach a log file. When no keyring works, every operation raises
:class:`KeyringUnavailableError`, whose message says how to fix that with the keyring in use
(Secret Service, macOS Keychain, Windows Credential Manager), for the error it gave when known.

Profile names reach this store in their stored spelling (:meth:`ProfileStore.resolve
<cio_desktop.config.store.ProfileStore.resolve>`): Credential Manager ignores case in its entry names.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import uuid
from enum import StrEnum
from typing import Any

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.compat import properties

from cio_desktop.config.logs import redact, register_secret

SERVICE = "cio-desktop"

# Exceptions from these packages mean the keyring (Secret Service and its D-Bus, Credential Manager
# through pywin32-ctypes or pywin32) is missing, locked or broken.
_KEYRING_STACK_PACKAGES = frozenset(
    {"keyring", "secretstorage", "jeepney", "dbus", "gi", "win32ctypes", "pywintypes", "win32cred"}
)

# Windows error of CredRead/CredWrite: the process has no logon session with credentials.
_ERROR_NO_SUCH_LOGON_SESSION = 1312
# macOS Security framework statuses (errSec...).
_MAC_USER_DENIED = -128  # errSecUserCanceled: someone chose Deny when macOS asked
_MAC_AUTH_FAILED = (-25293, -67030)  # errSecAuthFailed, errSecCSInfoPlistFailed
_MAC_NO_INTERACTION = -25308  # errSecInteractionNotAllowed: locked, and macOS cannot ask here


class SecretKey(StrEnum):
    """The secrets one profile can hold."""

    HULL_SECRET = "hull_secret"  # noqa: S105 - key name, not a value. Hull connector secret
    CIO_API_KEY = "cio_api_key"  # Customer.io Track API key (Basic auth with the site id)
    CIO_APP_KEY = "cio_app_key"  # Customer.io App API key (Bearer)
    WEBHOOK_SIGNING_KEY = "webhook_signing_key"  # Customer.io reporting webhook signing key
    WEBHOOK_TOKEN = "webhook_token"  # noqa: S105 - key name. Random path token of the webhook URL
    FORWARD_HMAC_KEY = "forward_hmac_key"  # Signs what is forwarded to the profile's own HTTPS endpoint


def fix_instructions(platform: str | None = None, code: int | None = None) -> str:
    """What the user can do to get a working keyring on ``platform`` (default: this one), for the
    error ``code`` the keyring gave (Windows error, macOS status) when there is one."""
    platform = platform or sys.platform
    if platform == "darwin":
        if code == _MAC_USER_DENIED:
            return (
                "macOS was told not to let cio-desktop use its Keychain items. In Keychain Access, find the"
                " 'cio-desktop' items in the login keychain and allow cio-desktop under Access Control (or"
                " delete them and enter the secrets again), then choose Always Allow when macOS asks."
            )
        if code in _MAC_AUTH_FAILED:
            return (
                "macOS could not check this copy of cio-desktop or the keychain password. Use a signed copy"
                " of the app (from the release page, not a local build), and in Keychain Access unlock the"
                ' login keychain (File > Unlock Keychain "login").'
            )
        if code == _MAC_NO_INTERACTION:
            return (
                "The login keychain is locked and macOS cannot ask to unlock it here (an SSH session, or a"
                " job that runs before you log in). Log in on the Mac first, or unlock it in this session with"
                " `security unlock-keychain ~/Library/Keychains/login.keychain-db`."
            )
        return (
            "Open Keychain Access and unlock the login keychain (select 'login', choose File > Unlock Keychain),"
            " then allow cio-desktop to use it when macOS asks."
        )
    if platform.startswith("win"):
        if code == _ERROR_NO_SUCH_LOGON_SESSION:
            return (
                "Windows gives this process no Credential Manager: it runs without your logon (a scheduled task"
                " set to 'Do not store password', or a service account). In Task Scheduler, choose 'Run only"
                " when user is logged on', or untick 'Do not store password', and run it as your own account."
            )
        return (
            "Windows Credential Manager did not answer. Sign in to Windows with your own account (not a service"
            " account), check in Control Panel > Credential Manager > Windows Credentials that you can add a"
            " generic credential, and that the 'Credential Manager' service is running."
        )
    return (
        "cio-desktop needs a Secret Service keyring (GNOME Keyring or KWallet) running and unlocked in your "
        "desktop session. Install one, e.g. `sudo apt install gnome-keyring` (or KDE's kwalletmanager), then "
        "log out and in again; if it is installed, unlock it (Seahorse, 'Passwords and Keys'). On a server "
        "without a desktop, run inside `dbus-run-session` with `gnome-keyring-daemon --unlock` started first."
    )


class KeyringUnavailableError(Exception):
    """No usable keyring: missing, locked, or its D-Bus service not answering.

    The message names the problem and the OS-specific fix; it never contains a secret.
    """

    def __init__(
        self, problem: str, *, backend: str = "", platform: str | None = None, code: int | None = None
    ) -> None:
        self.problem = problem
        self.backend = backend
        self.code = code
        self.fix = fix_instructions(platform, code)
        where = f" ({backend})" if backend else ""
        super().__init__(f"Cannot use the system keyring{where}: {problem}. {self.fix}")


class InMemoryKeyring(KeyringBackend):
    """A keyring backend kept in this process only: demo mode and tests.

    Never chosen automatically by ``keyring`` (its priority refuses), only when passed explicitly.
    """

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("the in-memory keyring is only used when chosen explicitly")

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], str] = {}

    def __str__(self) -> str:
        return "cio_desktop.config.secrets.InMemoryKeyring"

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock:
            return self._items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock:
            self._items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        with self._lock:
            if self._items.pop((service, username), None) is None:
                raise keyring.errors.PasswordDeleteError("No such password")


def _leaf_backend(backend: KeyringBackend) -> KeyringBackend | None:
    """The backend that really stores values (the first of a chain), or None when there is none."""
    if isinstance(backend, chainer.ChainerBackend):
        backends = list(backend.backends)
        return backends[0] if backends else None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    return backend


def _display_name(backend: KeyringBackend | None) -> str:
    if backend is None:
        return "no keyring"
    if isinstance(backend, InMemoryKeyring):
        return "in-memory (demo)"
    module = type(backend).__module__
    names = {
        "keyring.backends.SecretService": "Secret Service",
        "keyring.backends.libsecret": "Secret Service",
        "keyring.backends.kwallet": "KWallet",
        "keyring.backends.Windows": "Windows Credential Manager",
    }
    if module in names:
        return names[module]
    if module.startswith("keyring.backends.macOS"):
        return "macOS Keychain"
    return f"{module}.{type(backend).__name__}"


class SecretStore:
    """Reads and writes one profile's secrets in a keyring backend.

    ``backend=None`` uses keyring's default backend, looked up at each call (so ``keyring.set_keyring``
    applies). keyring's ``fail`` and ``null`` backends count as "no keyring".
    """

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    @classmethod
    def in_memory(cls) -> SecretStore:
        """A store that keeps secrets in memory only (demo mode, tests)."""
        return cls(InMemoryKeyring())

    # ------------------------------------------------------------------ where
    def _current_backend(self) -> KeyringBackend:
        if self._backend is not None:
            return self._backend
        try:
            return keyring.get_keyring()
        except Exception as exc:  # keyring's discovery itself can fail on a broken D-Bus
            raise self._unavailable(exc, "no backend") from exc

    def backend_name(self) -> str:
        """Where secrets go, for the UI: "Secret Service", "macOS Keychain", "in-memory (demo)", ..."""
        try:
            return _display_name(_leaf_backend(self._current_backend()))
        except KeyringUnavailableError:
            return "no keyring"

    def where_text(self) -> str:
        """One sentence for the UI saying where secrets are kept."""
        name = self.backend_name()
        if name == "in-memory (demo)":
            return "Kept in memory for this session only (demo mode): nothing is saved to disk"
        if name == "no keyring":
            return "No system keyring is available: secrets cannot be saved"
        if name == "macOS Keychain":
            return "Stored in your macOS Keychain"
        if name == "Windows Credential Manager":
            return "Stored in Windows Credential Manager"
        return f"Stored in your system keyring ({name})"

    def is_available(self) -> bool:
        """Whether a usable backend is configured (does not prove it is unlocked)."""
        try:
            return _leaf_backend(self._current_backend()) is not None
        except KeyringUnavailableError:
            return False

    # ------------------------------------------------------------------ operations
    def get(self, profile: str, key: SecretKey) -> str | None:
        """The stored value, or None when it was never set."""
        value: str | None = self._call("read", "get_password", _username(profile, key))
        if value:
            register_secret(value)
        return value

    def set(self, profile: str, key: SecretKey, value: str) -> None:
        """Store ``value``; an empty value deletes the entry (the user cleared the field)."""
        if not value:
            self.delete(profile, key)
            return
        register_secret(value)  # before the call: a failure must not be able to log it
        self._call("store", "set_password", _username(profile, key), value)

    def delete(self, profile: str, key: SecretKey) -> None:
        """Remove the entry; removing one that does not exist is not an error."""
        username = _username(profile, key)
        backend = self._usable_backend()
        try:
            backend.delete_password(SERVICE, username)
        except keyring.errors.PasswordDeleteError:
            # Real backends raise this for a missing entry; check it is really gone.
            if self._call("read", "get_password", username) is not None:
                raise KeyringUnavailableError(
                    "the keyring refused to delete an entry", backend=_display_name(_leaf_backend(backend))
                ) from None
        except Exception as exc:
            if _is_keyring_failure(exc):
                raise self._unavailable(exc, "delete") from exc
            raise

    def status(self, profile: str) -> dict[SecretKey, bool]:
        """Which of the profile's secrets are set (values are not returned)."""
        return {key: self.get(profile, key) is not None for key in SecretKey}

    def delete_profile(self, profile: str) -> None:
        """Remove every secret of ``profile``."""
        for key in SecretKey:
            self.delete(profile, key)

    def rename_profile(self, old: str, new: str) -> None:
        """Move every secret of ``old`` to ``new`` (copy first, then delete, so a failure loses nothing).

        A change of case only goes through a temporary name: to Credential Manager ``Acme:key`` and
        ``acme:key`` are one entry, so deleting the old spelling after the copy would delete the copy."""
        if old == new:
            return
        if old.casefold() != new.casefold():
            self._move_secrets(old, new)
            return
        temp = f".renaming-{uuid.uuid4().hex[:8]}"  # no profile name starts with a dot
        self._move_secrets(old, temp)
        try:
            self._move_secrets(temp, new)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is the one to report
                self._move_secrets(temp, old)
            raise

    def _move_secrets(self, old: str, new: str) -> None:
        values = {key: self.get(old, key) for key in SecretKey}
        for key, value in values.items():
            if value is not None:
                self.set(new, key, value)
        for key, value in values.items():
            if value is not None:
                self.delete(old, key)

    # ------------------------------------------------------------------ plumbing
    def _usable_backend(self) -> KeyringBackend:
        backend = self._current_backend()
        if _leaf_backend(backend) is None:
            raise KeyringUnavailableError("no keyring backend is installed or running", backend="no keyring")
        return backend

    def _call(self, what: str, method: str, username: str, *args: str) -> Any:
        backend = self._usable_backend()
        try:
            return getattr(backend, method)(SERVICE, username, *args)
        except Exception as exc:
            if _is_keyring_failure(exc):
                raise self._unavailable(exc, what) from exc
            raise

    def _unavailable(self, exc: BaseException, what: str) -> KeyringUnavailableError:
        name = self.backend_name()
        code = _error_code(exc)
        if isinstance(exc, keyring.errors.NoKeyringError):
            problem = "no keyring backend is installed or running"
        elif (isinstance(exc, keyring.errors.KeyringLocked) or "locked" in str(exc).lower()) and code is None:
            problem = f"the keyring is locked (could not {what} a secret)"
        else:
            detail = redact(str(exc))[:200]
            problem = f"could not {what} a secret ({type(exc).__name__}: {detail})"
        return KeyringUnavailableError(problem, backend=name, platform=_PLATFORM_OF.get(name), code=code)


# Whose fix text applies follows the keyring in use (the platform's own, unless chosen otherwise).
_PLATFORM_OF = {
    "macOS Keychain": "darwin",
    "Windows Credential Manager": "win32",
    "Secret Service": "linux",
    "KWallet": "linux",
}


def _error_code(exc: BaseException) -> int | None:
    """The Windows error (pywintypes.error.winerror) or macOS status (keyring's macOS api errors carry it
    as their first argument, as the cause of keyring's own error) behind ``exc``, if any."""
    # The Security API module keyring's macOS backend uses (only loaded on a Mac).
    mac_api = getattr(sys.modules.get("keyring.backends.macOS"), "api", None)
    mac_error = getattr(mac_api, "Error", None)
    seen: BaseException | None = exc
    while seen is not None:
        winerror = getattr(seen, "winerror", None)
        if isinstance(winerror, int):
            return winerror
        if isinstance(mac_error, type) and isinstance(seen, mac_error) and seen.args and isinstance(seen.args[0], int):
            return seen.args[0]
        seen = seen.__cause__
    return None


def _username(profile: str, key: SecretKey) -> str:
    if not profile:
        raise ValueError("profile name is empty")
    return f"{profile}:{SecretKey(key)}"


def _is_keyring_failure(exc: BaseException) -> bool:
    if isinstance(exc, keyring.errors.KeyringError | OSError):
        return True
    # pywintypes.error (pywin32 or pywin32-ctypes) is no OSError but carries the Windows error code.
    if isinstance(getattr(exc, "winerror", None), int):
        return True
    return type(exc).__module__.split(".")[0] in _KEYRING_STACK_PACKAGES


__all__ = [
    "SERVICE",
    "InMemoryKeyring",
    "KeyringUnavailableError",
    "SecretKey",
    "SecretStore",
    "fix_instructions",
]
