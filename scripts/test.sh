#!/usr/bin/env bash
# Quick start: install what the suite needs, run the quality gates, then every test.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -k profile).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/system-deps.sh test
scripts/bootstrap.sh test
echo "== ruff" && .venv/bin/ruff check cio_desktop tests bench
echo "== mypy" && .venv/bin/mypy
export QT_QPA_PLATFORM=offscreen
echo "== pytest"
# A private D-Bus session with an unlocked gnome-keyring: the real Secret Service tests use it,
# and nothing touches the user's own keyring.
if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
    export CIO_TEST_PRIVATE_DBUS=1
    exec dbus-run-session -- scripts/pytest-in-session.sh "$@"
fi
exec scripts/pytest-in-session.sh "$@"
