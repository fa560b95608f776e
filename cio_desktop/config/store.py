"""Profiles on disk: one JSON file per profile in the profiles folder, never with secrets.

Files carry ``schema_version``; older versions are migrated on load, newer ones are refused (and left
alone). Writes go through the one atomic writer (:func:`cio_desktop.config.private.write_atomic`: 0600,
temp file, fsync, rename, fsync of the folder), so a crash leaves either the old or the new file. A
file that cannot be read is moved aside to ``<name>.corrupt-<timestamp>.json`` and reported, never
overwritten silently.

Names are matched ignoring case on every platform: ``--profile acme`` is the profile stored as
``Acme``, and its secrets, data folder and run lock always use the stored spelling. macOS and
Windows file systems (and Windows Credential Manager) ignore case, so two spellings would otherwise
reach one file but two keyring entries; doing the same on Linux keeps a profile's name meaning one
thing when profiles and scripts move between machines, and no two stored names differ only in case.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cio_desktop.config import paths
from cio_desktop.config.lock import profile_run_lock, read_holder
from cio_desktop.config.private import StorageError, fsync_dir, private_dir, write_atomic
from cio_desktop.config.profile import SCHEMA_VERSION, Profile, ProfileError, default_cio_name
from cio_desktop.config.secrets import SecretStore

log = logging.getLogger(__name__)

SUFFIX = ".json"
_CORRUPT_RE = re.compile(r"\.corrupt-\d{8}T\d{6}(-\d+)?$")
# Names Windows cannot use as file names, whatever the extension.
_RESERVED_NAMES = frozenset({"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)})
# Keys an imported file must not carry: profiles never hold secrets, so such a key means a mistake.
_SECRET_KEY_RE = re.compile(r"secret|password|passwd|token|api_?key|app_?key|signing|credential|private", re.I)


class ProfileNotFoundError(LookupError):
    """No profile of that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        hint = f"Known profiles: {', '.join(known)}." if known else "There are no profiles yet."
        super().__init__(f"No profile named {name!r}. {hint}")
        self.name = name


class ProfileInUseError(StorageError):
    """The profile cannot be renamed now: a sync runs, or a program holds its files open."""


class ProfileLoadError(Exception):
    """A profile file could not be used. ``set_aside`` is where it was moved (None if it was left in place)."""

    def __init__(self, path: Path, reason: str, set_aside: Path | None = None) -> None:
        self.path = path
        self.reason = reason
        self.set_aside = set_aside
        if set_aside is not None:
            message = (
                f"Profile file {path} could not be read: {reason}. It was moved to {set_aside} "
                "so nothing overwrites it; fix and rename it back, or create the profile again."
            )
        else:
            message = f"Profile file {path} could not be used: {reason}."
        super().__init__(message)


class NewerSchemaError(ProfileLoadError):
    """The file was written by a newer cio-desktop; it is left untouched."""

    def __init__(self, path: Path, version: int) -> None:
        super().__init__(
            path,
            f"it was written by a newer cio-desktop (profile schema {version}; this version reads up to "
            f"{SCHEMA_VERSION}). Update cio-desktop to use it",
        )
        self.version = version


# ---------------------------------------------------------------------------- migrations
def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 kept segment ids only, the org under "hull_org" and attributes as a list of Hull names.

    Segment names are filled in on the next segment refresh; attributes get the Customer.io names
    Hull's connector used (``default_cio_name``).
    """
    out = {k: v for k, v in data.items() if k not in ("hull_org", "segment_ids", "attributes")}
    if "hull_org" in data:
        out["hull_organization"] = data["hull_org"]
    if "segment_ids" in data:
        ids = data["segment_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ProfileError("segment_ids", "must be a list of segment ids")
        out["segments"] = [{"id": i, "name": i} for i in ids]
    if "attributes" in data:
        attrs = data["attributes"]
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise ProfileError("attributes", "must be a list of Hull attribute names")
        out["mappings"] = [{"hull": a, "cio": default_cio_name(a)} for a in attrs]
    return out


# MIGRATIONS[v] turns a version-v document into a version-(v+1) one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """``data`` brought to SCHEMA_VERSION (without the ``schema_version`` key).

    A missing ``schema_version`` means the current one (a hand-written file).
    """
    doc = dict(data)
    version = doc.pop("schema_version", SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProfileError("schema_version", "must be a whole number of 1 or more")
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(path, version)
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc


def profile_document(profile: Profile) -> dict[str, Any]:
    """The JSON object written for ``profile`` (current schema)."""
    return {"schema_version": SCHEMA_VERSION, **profile.to_dict()}


# ---------------------------------------------------------------------------- files
def _encode(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _secret_looking_keys(value: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, inner in value.items():
            dotted = f"{prefix}{key}"
            if _SECRET_KEY_RE.search(str(key)):
                found.append(dotted)
            found.extend(_secret_looking_keys(inner, dotted + "."))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found.extend(_secret_looking_keys(inner, f"{prefix}[{i}]."))
    return found


class ProfileStore:
    """The profiles folder (``paths.profiles_dir()`` unless ``directory`` is given)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else paths.profiles_dir()

    # ------------------------------------------------------------------ queries
    def path_for(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    def names(self) -> list[str]:
        """Profile names, sorted case-insensitively (set-aside and temporary files are not profiles)."""
        if not self.directory.is_dir():
            return []
        names = [
            p.name[: -len(SUFFIX)]
            for p in self.directory.iterdir()
            if p.name.endswith(SUFFIX) and not p.name.startswith(".") and p.is_file()
        ]
        return sorted((n for n in names if not _CORRUPT_RE.search(n)), key=lambda n: (n.casefold(), n))

    def exists(self, name: str) -> bool:
        """Whether a profile of that name exists, ignoring case (file names collide on macOS/Windows)."""
        return self._existing_spelling(name) is not None

    def resolve(self, name: str) -> str:
        """The stored spelling of profile ``name`` (matched ignoring case); ProfileNotFoundError if none.

        Secrets, the data folder and the run lock are keyed by this spelling, never by what was typed."""
        spelling = self._existing_spelling(name)
        if spelling is None:
            raise ProfileNotFoundError(name, self.names())
        return spelling

    def _existing_spelling(self, name: str) -> str | None:
        names = self.names()
        if name in names:  # two files differing only in case (made by hand on Linux): the exact one
            return name
        folded = name.casefold()
        return next((n for n in names if n.casefold() == folded), None)

    def load(self, name: str) -> Profile:
        """Read, migrate and validate one profile.

        Raises ProfileNotFoundError, NewerSchemaError (file left alone), or ProfileLoadError after
        moving an unreadable file aside. The file name is the profile's name, in its stored spelling.
        """
        name = self.resolve(name)
        path = self.path_for(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:  # deleted meanwhile
            raise ProfileNotFoundError(name, self.names()) from None
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ProfileError("(file)", "is not a JSON object")
            doc = migrate(data, path)
            doc["name"] = name
            return Profile.from_dict(doc)
        except NewerSchemaError:
            raise
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and ProfileError are ValueErrors
            reason = str(exc) if isinstance(exc, ProfileError) else f"not valid JSON ({exc})"
            aside = self._set_aside(path)
            log.warning("profile %r could not be read (%s); moved to %s", name, reason, aside)
            raise ProfileLoadError(path, reason, aside) from None

    def load_all(self) -> tuple[list[Profile], list[ProfileLoadError]]:
        """Every profile that loads, and the errors of those that did not."""
        profiles: list[Profile] = []
        errors: list[ProfileLoadError] = []
        for name in self.names():
            try:
                profiles.append(self.load(name))
            except ProfileLoadError as exc:
                errors.append(exc)
            except ProfileNotFoundError:
                continue  # deleted meanwhile
        return profiles, errors

    # ------------------------------------------------------------------ changes
    def save(self, profile: Profile) -> Path:
        """Validate and write ``profile`` atomically (mode 0600); return its file.

        Refuses a name that differs only in case from another profile's, and a file written by a newer
        version. An unreadable file in the way is moved aside first, not overwritten.
        """
        profile.validate()
        self._check_file_name(profile.name)
        existing = self._existing_spelling(profile.name)
        if existing is not None and existing != profile.name:
            raise ProfileError(
                "name", f"a profile named {existing!r} already exists (names are compared ignoring case)"
            )
        path = self.path_for(profile.name)
        if path.exists():
            self._protect_unreadable(path)
        self._ensure_directory()
        write_atomic(path, _encode(profile_document(profile)))
        return path

    def delete(self, name: str, secrets: SecretStore | None = None) -> None:
        """Delete the profile's file and (when ``secrets`` is given) its secrets; nothing else.

        Secrets go first: if the keyring is unavailable nothing is deleted and the error says why.
        """
        name = self.resolve(name)
        if secrets is not None:
            secrets.delete_profile(name)
        self.path_for(name).unlink()
        fsync_dir(self.directory)

    def rename(self, old: str, new: str, secrets: SecretStore | None = None) -> Profile:
        """Rename a profile: its data folder (ledger, inbox), its secrets and its file move to ``new``.

        ``old`` may be typed in any case. Raises ProfileInUseError while a sync of the profile runs or
        a program holds its files open (Windows cannot rename a folder with open files), ProfileError
        for a name taken or reserved, KeyringUnavailableError; in every case nothing has changed.
        A rename that changes only case goes through a temporary name at each step: to macOS and
        Windows file systems and to Credential Manager both spellings are one entry.
        """
        profile = self.load(old)
        old = profile.name
        if new == old:
            return profile
        renamed = profile.replace(name=new)
        renamed.validate()
        self._check_file_name(new)
        existing = self._existing_spelling(new)
        if existing is not None and existing.casefold() != old.casefold():
            raise ProfileError("name", f"a profile named {existing!r} already exists")
        old_data, new_data = paths.profile_data_dir(old), paths.profile_data_dir(new)
        if old.casefold() != new.casefold() and new_data.exists():
            raise ProfileError(
                "name",
                f"the folder {new_data} holds the sync history of an earlier profile named {new!r}: move it"
                " away or choose another name",
            )
        self._check_not_running(old)
        # The data folder first: it is what a running receiver or sync can hold open, so the step most
        # likely to fail fails before anything changed. Each later failure puts the earlier steps back.
        moved_data = old_data.is_dir()
        if moved_data:
            try:
                _move(old_data, new_data)
            except OSError as exc:
                raise ProfileInUseError(
                    old_data,
                    f"The data folder of profile {old!r} ({old_data}) cannot be renamed ({exc.strerror or exc}). A"
                    " program may have its files open: stop the webhook receiver and any sync of this profile (in"
                    " this window or another), then rename again.",
                ) from exc
        try:
            if secrets is not None:
                secrets.rename_profile(old, new)
            try:
                self._rename_file(old, new, renamed)
            except BaseException:
                if secrets is not None:
                    secrets.rename_profile(new, old)
                raise
        except BaseException:
            if moved_data:
                _move(new_data, old_data)
            raise
        return renamed

    def _check_not_running(self, name: str) -> None:
        lock = profile_run_lock(name)
        # Taken and let go at once: on Windows a folder cannot be renamed while a file in it is open.
        if not lock.try_acquire():
            holder = read_holder(lock.path)
            who = holder.describe() if holder else "another process"
            raise ProfileInUseError(
                lock.path,
                f"A sync of profile {name!r} is running ({who}): wait for it to finish (or stop it), then rename.",
            )
        lock.release()

    def _rename_file(self, old: str, new: str, renamed: Profile) -> None:
        old_path, new_path = self.path_for(old), self.path_for(new)
        if old.casefold() == new.casefold():
            write_atomic(old_path, _encode(profile_document(renamed)))
            _move(old_path, new_path)
        else:
            write_atomic(new_path, _encode(profile_document(renamed)))
            old_path.unlink()
        fsync_dir(self.directory)

    def duplicate(self, name: str, new_name: str) -> Profile:
        """Save a copy of profile ``name`` as ``new_name`` (settings only: no secrets, no sync history)."""
        copy = self.load(name).replace(name=new_name)
        if self.exists(new_name):
            raise ProfileError("name", f"a profile named {self._existing_spelling(new_name)!r} already exists")
        self.save(copy)
        return copy

    # ------------------------------------------------------------------ exchange
    def export(self, name: str, path: Path) -> Path:
        """Write profile ``name`` to ``path`` as JSON (settings only; secrets are never exported)."""
        write_atomic(path, _encode(profile_document(self.load(name))))
        return path

    def import_file(self, path: Path, *, name: str | None = None) -> Profile:
        """Create a profile from an exported file (under ``name`` if given) and save it.

        Refuses files with secret-looking keys, newer schemas, invalid settings and existing names
        (ProfileLoadError / ProfileError, naming the problem). The source file is never moved.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ProfileLoadError(path, f"cannot read it ({exc.strerror or exc})") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProfileLoadError(path, f"not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ProfileLoadError(path, "it is not a JSON object")
        suspicious = _secret_looking_keys(data)
        if suspicious:
            raise ProfileLoadError(
                path,
                f"it contains {', '.join(repr(k) for k in suspicious)}, which looks like a secret. Profiles never "
                "carry secrets: remove it from the file and enter secrets in the app after importing",
            )
        try:
            doc = migrate(data, path)
            if name is not None:
                doc["name"] = name
            profile = Profile.from_dict(doc)
        except ProfileError as exc:
            raise ProfileLoadError(path, str(exc)) from None
        if self.exists(profile.name):
            raise ProfileError(
                "name",
                f"a profile named {self._existing_spelling(profile.name)!r} already exists; import under another name",
            )
        self.save(profile)
        return profile

    # ------------------------------------------------------------------ helpers
    def _ensure_directory(self) -> None:
        private_dir(self.directory)

    @staticmethod
    def _check_file_name(name: str) -> None:
        if paths.is_reserved_name(name):
            raise ProfileError(
                "name",
                f"{name!r} is the name of a folder cio-desktop keeps for itself"
                f" ({', '.join(sorted(paths.RESERVED_NAMES))}, in any case): choose another name",
            )
        if _CORRUPT_RE.search(name):
            raise ProfileError("name", "must not end like a set-aside file ('.corrupt-<timestamp>')")
        if name.split(".")[0].strip().upper() in _RESERVED_NAMES or name.endswith((".", " ")):
            raise ProfileError("name", f"{name!r} cannot be used as a file name on Windows")

    def _protect_unreadable(self, path: Path) -> None:
        """Before overwriting ``path``: refuse if a newer version wrote it, move it aside if unusable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ProfileError("(file)", "is not a JSON object")
            doc = migrate(data, path)
            doc["name"] = path.name[: -len(SUFFIX)]
            Profile.from_dict(doc)
        except NewerSchemaError:
            raise
        except (OSError, ValueError, UnicodeDecodeError):
            aside = self._set_aside(path)
            log.warning("unusable profile file %s moved to %s before saving over it", path, aside)

    def _set_aside(self, path: Path) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        stem = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name
        target = path.with_name(f"{stem}.corrupt-{stamp}{SUFFIX}")
        n = 2
        while target.exists():  # two failures in one second: never overwrite an earlier one
            target = path.with_name(f"{stem}.corrupt-{stamp}-{n}{SUFFIX}")
            n += 1
        os.replace(path, target)
        fsync_dir(path.parent)
        return target


def _move(src: Path, dst: Path) -> None:
    """Rename a file or folder; a change of case only goes through a temporary name, since to a
    case-insensitive file system both names are one entry (and the temporary one is hidden)."""
    if src.name.casefold() == dst.name.casefold():
        temp = src.with_name(f".{src.name}.renaming-{uuid.uuid4().hex[:8]}")
        os.rename(src, temp)
        os.rename(temp, dst)
    else:
        os.rename(src, dst)
    fsync_dir(dst.parent)


__all__ = [
    "MIGRATIONS",
    "NewerSchemaError",
    "ProfileInUseError",
    "ProfileLoadError",
    "ProfileNotFoundError",
    "ProfileStore",
    "migrate",
    "profile_document",
]
