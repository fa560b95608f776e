"""``cio-desktop selfcheck``: prove an installed or frozen app is complete before a user needs it.

Checks that every module imports (PyInstaller misses modules imported by name), that a keyring
backend answers, that the sandbox serves, that a worker process starts and answers (a frozen build
starts them through ``freeze_support``), and that the main window opens and closes offscreen.
Prints one line per check; exits 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import tempfile
import traceback
from collections.abc import Callable

from cio_desktop.commands.common import EXIT_OK, EXIT_PARTIAL, Subparsers

CHECKS_HELP = "check imports, keyring backend, sandbox, a worker process and the main window (offscreen)"


def add_parser(sub: Subparsers) -> None:
    p = sub.add_parser("selfcheck", help=CHECKS_HELP, description=CHECKS_HELP)
    p.add_argument("--no-window", action="store_true", help="skip the main window check (no Qt platform at all)")


def _imports() -> str:
    import cio_desktop

    count = 0
    problems: list[str] = []

    def onerror(name: str) -> None:
        problems.append(name)

    for info in pkgutil.walk_packages(cio_desktop.__path__, "cio_desktop.", onerror=onerror):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
            count += 1
        except Exception as exc:
            problems.append(f"{info.name} ({type(exc).__name__}: {exc})")
    if problems:
        raise RuntimeError("cannot import " + ", ".join(problems))
    if count < 20:
        # A frozen app whose archive cannot be listed would "pass" by importing nothing.
        raise RuntimeError(f"only {count} modules were found; the package is incomplete")
    return f"{count} modules"


def _keyring() -> str:
    from cio_desktop.config.secrets import SecretKey, SecretStore

    store = SecretStore()
    # Reading a missing entry is harmless and still makes a locked or absent Secret Service fail.
    store.get("selfcheck", SecretKey.HULL_SECRET)
    return store.backend_name()


def _sandbox() -> str:
    import requests

    from cio_desktop.sandbox import Sandbox

    with Sandbox(users=50, seed=1) as sb:
        answer = requests.get(f"{sb.urls.base}/_sandbox/state", timeout=5)
        answer.raise_for_status()
    return "answers on loopback"


def _worker() -> str:
    from cio_desktop.parallel import check_worker

    return check_worker()


def _window() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cio_desktop.gui.selfcheck import open_and_close_main_window

    return open_and_close_main_window()


def run(args: argparse.Namespace) -> int:
    from cio_desktop.config import paths

    # Nothing here may touch the user's profiles, ledgers or logs.
    home = tempfile.mkdtemp(prefix="cio-desktop-selfcheck-")
    os.environ[paths.HOME_ENV] = home
    checks: list[tuple[str, Callable[[], str]]] = [
        ("imports", _imports),
        ("keyring", _keyring),
        ("sandbox", _sandbox),
        ("worker process", _worker),
    ]
    if not args.no_window:
        checks.append(("main window", _window))
    failed = 0
    for name, check in checks:
        try:
            detail = check()
            print(f"ok    {name}: {detail}", flush=True)
        except Exception as exc:
            failed += 1
            print(f"FAIL  {name}: {exc}", flush=True)
            if os.environ.get("CIO_DESKTOP_DEBUG"):
                traceback.print_exc()
    print("selfcheck passed" if not failed else f"selfcheck: {failed} check(s) failed", flush=True)
    return EXIT_OK if not failed else EXIT_PARTIAL
