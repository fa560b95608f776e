"""Profiles on disk: one JSON file per profile in the profiles folder, never with secrets.

Files carry ``schema_version``; older versions are migrated on load, newer ones are refused (and left
alone). Writes go through the one atomic writer (:func:`cio_desktop.config.private.write_atomic`: 0600,
temp file, fsync, rename, fsync of the folder), so a crash leaves either the old or the new file. A
file that cannot be read is moved aside to ``<name>.corrupt-<timestamp>.json`` and reported, never
overwritten silently.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cio_desktop.config import paths
from cio_desktop.config.private import fsync_dir, private_dir, write_atomic
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

    def _existing_spelling(self, name: str) -> str | None:
        folded = name.casefold()
        return next((n for n in self.names() if n.casefold() == folded), None)

    def load(self, name: str) -> Profile:
        """Read, migrate and validate one profile.

        Raises ProfileNotFoundError, NewerSchemaError (file left alone), or ProfileLoadError after
        moving an unreadable file aside. The file name is the profile's name.
        """
        path = self.path_for(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
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
        path = self.path_for(name)
        if not path.exists():
            raise ProfileNotFoundError(name, self.names())
        if secrets is not None:
            secrets.delete_profile(name)
        path.unlink()
        fsync_dir(self.directory)

    def rename(self, old: str, new: str, secrets: SecretStore | None = None) -> Profile:
        """Rename a profile: its file, its secrets and its data folder (ledger) move to ``new``."""
        profile = self.load(old)
        if new == old:
            return profile
        renamed = profile.replace(name=new)
        self._check_file_name(new)
        existing = self._existing_spelling(new)
        if existing is not None and existing.casefold() != old.casefold():
            raise ProfileError("name", f"a profile named {existing!r} already exists")
        # Secrets first: when the keyring is unavailable the rename fails before any file changed.
        if secrets is not None:
            secrets.rename_profile(old, new)
        old_path = self.path_for(old)
        try:
            if old.casefold() == new.casefold():
                # Case-only rename: on case-insensitive file systems both names are one file.
                write_atomic(old_path, _encode(profile_document(renamed)))
                os.replace(old_path, self.path_for(new))
            else:
                write_atomic(self.path_for(new), _encode(profile_document(renamed)))
                old_path.unlink()
        except OSError:
            if secrets is not None:
                secrets.rename_profile(new, old)
            raise
        fsync_dir(self.directory)
        old_data, new_data = paths.profile_data_dir(old), paths.profile_data_dir(new)
        if old_data.is_dir() and not new_data.exists():
            shutil.move(old_data, new_data)
        return renamed

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


__all__ = [
    "MIGRATIONS",
    "NewerSchemaError",
    "ProfileLoadError",
    "ProfileNotFoundError",
    "ProfileStore",
    "migrate",
    "profile_document",
]
