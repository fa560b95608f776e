"""``cio-desktop profiles list|show|delete|export|import|set-secret``: the same stores the app uses."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from cio_desktop.commands.common import EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, Subparsers, err
from cio_desktop.config.profile import ProfileError
from cio_desktop.config.secrets import KeyringUnavailableError, SecretKey, SecretStore
from cio_desktop.config.store import ProfileLoadError, ProfileNotFoundError, ProfileStore, profile_document


def add_parser(subparsers: Subparsers) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "profiles", help="list, show, delete, export or import connection profiles"
    )
    sub = parser.add_subparsers(dest="profiles_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="list the profiles")
    show = sub.add_parser("show", help="print a profile's settings as JSON and which secrets are set")
    show.add_argument("name")
    delete = sub.add_parser("delete", help="delete a profile and its secrets (sync history is kept)")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    export = sub.add_parser("export", help="write a profile's settings (never its secrets) to a JSON file")
    export.add_argument("name")
    export.add_argument("file", help="target file, or - for standard output")
    imp = sub.add_parser("import", help="create a profile from an exported JSON file")
    imp.add_argument("file")
    imp.add_argument("--name", help="import under this name instead of the one in the file")
    secret = sub.add_parser(
        "set-secret",
        help="store a credential in the system keyring (asked for, or read from standard input)",
        description="Store a credential of a profile in the system keyring, e.g. on a server without the app. "
        "The value is asked for without echo, or read from standard input when it is not a terminal; "
        "it never goes on the command line. An empty value removes the credential.",
    )
    secret.add_argument("name")
    secret.add_argument("key", choices=[k.value for k in SecretKey])


def run(args: argparse.Namespace) -> int:
    store = ProfileStore()
    action = args.profiles_command
    try:
        if action == "list":
            return _list(store)
        if action == "show":
            return _show(store, args.name)
        if action == "delete":
            return _delete(store, args.name, yes=args.yes)
        if action == "export":
            return _export(store, args.name, args.file)
        if action == "import":
            return _import(store, Path(args.file), args.name)
        if action == "set-secret":
            return _set_secret(store, args.name, SecretKey(args.key))
    except (ProfileNotFoundError, ProfileLoadError, ProfileError, KeyringUnavailableError) as exc:
        err(str(exc))
        return EXIT_CONFIG
    except OSError as exc:
        err(f"{exc.filename or 'file'}: {exc.strerror or exc}")
        return EXIT_CONFIG
    raise AssertionError(f"unhandled action {action!r}")  # argparse restricts the choices


def _set_secret(store: ProfileStore, name: str, key: SecretKey) -> int:
    # The stored spelling: `acme` and `Acme` are one profile, and its secrets live under one name.
    # Raises ProfileNotFoundError for a profile that does not exist.
    name = store.load(name).name
    if sys.stdin.isatty():
        value = getpass.getpass(f"{key.value} for profile {name!r} (input hidden): ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    secrets = SecretStore()
    secrets.set(name, key, value.strip())
    print(f"{key.value} {'stored' if value.strip() else 'removed'}: {secrets.where_text()}")
    return EXIT_OK


def _list(store: ProfileStore) -> int:
    profiles, errors = store.load_all()
    for error in errors:
        err(str(error))
    if not profiles:
        if not errors:
            print("No profiles yet. Create one in the app, or run: cio-desktop profiles import FILE")
        return EXIT_PARTIAL if errors else EXIT_OK
    rows = [("NAME", "SOURCE", "HULL ORGANIZATION", "CUSTOMER.IO SITE", "SEGMENTS")]
    for p in profiles:
        rows.append((p.name, p.source.value, p.hull_organization or "-", p.cio_site_id or "-", str(len(p.segments))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_PARTIAL if errors else EXIT_OK


def _show(store: ProfileStore, name: str) -> int:
    profile = store.load(name)
    document: dict[str, Any] = profile_document(profile)
    try:
        status = SecretStore().status(profile.name)
        document["secrets"] = {key.value: "set" if present else "missing" for key, present in status.items()}
    except KeyringUnavailableError as exc:
        err(str(exc))
        document["secrets"] = "unknown (no usable keyring)"
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return EXIT_OK


def _delete(store: ProfileStore, name: str, *, yes: bool) -> int:
    name = store.resolve(name)  # matched ignoring case; ProfileNotFoundError if none
    if not yes:
        if not sys.stdin.isatty():
            err(f"not deleting {name!r} without confirmation: add --yes")
            return EXIT_CONFIG
        answer = input(f"Delete profile {name!r} and its secrets from the keyring? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return EXIT_OK
    store.delete(name, SecretStore())
    print(f"Deleted profile {name!r} and its secrets.")
    return EXIT_OK


def _export(store: ProfileStore, name: str, target: str) -> int:
    if target == "-":
        print(json.dumps(profile_document(store.load(name)), indent=2, ensure_ascii=False))
        return EXIT_OK
    path = store.export(name, Path(target))
    print(f"Exported profile {name!r} to {path} (settings only: secrets are never exported).", file=sys.stderr)
    return EXIT_OK


def _import(store: ProfileStore, path: Path, name: str | None) -> int:
    profile = store.import_file(path, name=name)
    print(
        f"Imported profile {profile.name!r}. Enter its secrets in the app, or with "
        f"'cio-desktop profiles set-secret {profile.name} KEY', before syncing."
    )
    return EXIT_OK
