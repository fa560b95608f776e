"""Command-line entry point: the GUI by default, headless subcommands for scripts and schedulers.

The subcommands live in :mod:`cio_desktop.commands`; their shared exit codes are defined (and
explained) in :mod:`cio_desktop.commands.exit_codes` and re-exported here. Importing this module loads
nothing of the sync core: spawned processes import the program's main script, and so this, again.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from cio_desktop import APP_NAME, __version__
from cio_desktop.commands.exit_codes import (
    EXIT_BUSY,
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_DELETIONS_WITHHELD,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_PARTIAL,
)

# Re-exported: scripts and tests import the exit codes from the entry point.
__all__ = [
    "EXIT_BUSY",
    "EXIT_CANCELLED",
    "EXIT_CONFIG",
    "EXIT_DELETIONS_WITHHELD",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "build_parser",
    "main",
]

# Subcommand modules under cio_desktop.commands, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = ("profiles", "sync", "history", "schedule", "preview", "webhook", "sandbox", "selfcheck")


def _command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"cio_desktop.commands.{name}") for name in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=APP_NAME,
        description="Sync a Hull organization to Customer.io. Without a subcommand, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument(
        "--demo", action="store_true", help="open the app on a seeded demo organization (no credentials needed)"
    )
    parser.add_argument("--profile", help="profile to open in the app")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug details to the terminal as well as the log file"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.add_parser(sub)
    return parser


def utf8_output() -> None:
    """Write UTF-8 to stdout and stderr whatever the platform: redirected on Windows, Python would
    write the ANSI code page (cp1252) and fail on a name like "Ayşe" in `preview > out.txt`."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # absent when a caller swapped the stream
        encoding = str(getattr(stream, "encoding", "") or "").lower().replace("-", "")
        if callable(reconfigure) and encoding != "utf8":
            reconfigure(encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    utf8_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.demo:
        # Demo mode runs under a throw-away home and leaves nothing in the user's folders, logs included.
        _start_logging(verbose=args.verbose, command=args.command)
        _tighten_folders()
    if args.command is None:
        # Imported here so headless commands never load Qt.
        from cio_desktop.gui.app import run_gui

        return run_gui(demo=args.demo, profile=args.profile)
    module = importlib.import_module(f"cio_desktop.commands.{args.command.replace('-', '_')}")
    try:
        result: int = module.run(args)
        return result
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED


def _start_logging(*, verbose: bool, command: str | None) -> None:
    from cio_desktop.config.logs import log_kind_for, setup_logging

    try:
        # One log per kind of process (app, CLI, receiver): on Windows a file another process holds
        # open cannot be rotated.
        setup_logging("DEBUG" if verbose else "INFO", console=verbose, kind=log_kind_for(command))
    except OSError as exc:
        # A read-only or full disk must not stop a sync; say where logging failed and go on.
        print(f"warning: cannot write the log file ({exc.strerror or exc}); continuing without it", file=sys.stderr)


def _tighten_folders() -> None:
    from cio_desktop.config.private import tighten_app_folders

    try:
        tighten_app_folders()
    except OSError as exc:  # like logging: a folder we cannot change must not stop the app
        print(f"warning: cannot make the app's folders private ({exc.strerror or exc})", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
