"""What the subcommands share: exit codes (defined in :mod:`~cio_desktop.commands.exit_codes`, which
explains them), ``--profile``/``--demo``, and opening a profile's services."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from cio_desktop.commands import exit_codes as _codes
from cio_desktop.config.paths import HOME_ENV
from cio_desktop.config.profile import Profile
from cio_desktop.sync.factory import ConfigurationError, Services, open_services

if TYPE_CHECKING:
    from cio_desktop.config.secrets import SecretStore

# The exit codes, for the commands (defined in exit_codes, which cli imports without the rest of this).
EXIT_OK = _codes.EXIT_OK
EXIT_PARTIAL = _codes.EXIT_PARTIAL
EXIT_CONFIG = _codes.EXIT_CONFIG
EXIT_DELETIONS_WITHHELD = _codes.EXIT_DELETIONS_WITHHELD
EXIT_INCOMPLETE = _codes.EXIT_INCOMPLETE
EXIT_BUSY = _codes.EXIT_BUSY
EXIT_CANCELLED = _codes.EXIT_CANCELLED

# What each command's add_parser(subparsers) receives: the `cio-desktop` parser's subparsers.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def err(message: str) -> None:
    """A problem, on stderr, prefixed with the program's name."""
    print(f"cio-desktop: {message}", file=sys.stderr)


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group()
    who.add_argument("--profile", metavar="P", help="profile name (default: the only profile, if there is one)")
    who.add_argument(
        "--demo", action="store_true", help="use a built-in demo organization and workspace (touches nothing real)"
    )


@dataclass
class Opened:
    services: Services
    label: str


def load_profile(name: str | None) -> Profile:
    """The named profile, or the only one. Raises ConfigurationError saying what to do."""
    from cio_desktop.config.store import ProfileLoadError, ProfileNotFoundError, ProfileStore

    store = ProfileStore()
    if name is None:
        names = store.names()
        if len(names) != 1:
            listed = ", ".join(repr(n) for n in names) if names else "none yet"
            raise ConfigurationError(
                f"Choose a profile with --profile (profiles: {listed}), or try --demo. Profiles are created in"
                " the app or with `cio-desktop profiles import`.",
                setting="profile",
            )
        name = names[0]
    try:
        return store.load(name)
    except (ProfileNotFoundError, ProfileLoadError) as exc:
        raise ConfigurationError(str(exc), setting="profile") from exc


@contextlib.contextmanager
def open_for_args(args: argparse.Namespace, *, need_track: bool) -> Iterator[Opened]:
    """Services for ``--profile``/``--demo``. The demo runs an in-process sandbox with its own home
    folder and an in-memory secret store, so it never touches real profiles, ledgers or keyrings."""
    if args.demo:
        from cio_desktop.sandbox import Sandbox
        from cio_desktop.sync.factory import demo_services

        with tempfile.TemporaryDirectory(prefix="cio-desktop-demo-") as home, _env(HOME_ENV, home), Sandbox() as sb:
            services = demo_services(sb)
            try:
                yield Opened(services, f"demo ({sb.urls.base})")
            finally:
                services.close()
        return
    profile = load_profile(args.profile)
    services = open_services(profile, _secret_store(), need_track=need_track)
    try:
        yield Opened(services, profile.name)
    finally:
        services.close()


def _secret_store() -> SecretStore:
    from cio_desktop.config.secrets import SecretStore

    return SecretStore()


@contextlib.contextmanager
def _env(key: str, value: str) -> Iterator[None]:
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old
