#!/usr/bin/env bash
# Quick start: install what the suite needs, run the quality gates (ruff, mypy), then every test.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -k profile). CIO_SKIP_GATES=1 skips
# ruff and mypy for a quick focused run. Exit status: 0 only when every gate and every test passed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/system-deps.sh test
scripts/bootstrap.sh test
failed=""
if [ "${CIO_SKIP_GATES:-0}" != "1" ]; then
    # Each gate reports everything it finds, and pytest still runs, so one run shows all problems.
    echo "== ruff"
    .venv/bin/ruff check cio_desktop tests bench || failed="$failed ruff"
    echo "== mypy"
    .venv/bin/mypy || failed="$failed mypy"
fi
export QT_QPA_PLATFORM=offscreen
echo "== pytest"
rc=0
# A private D-Bus session with a throw-away unlocked gnome-keyring: the real Secret Service tests use
# it, and nothing touches the user's own keyring.
if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
    CIO_TEST_PRIVATE_DBUS=1 dbus-run-session -- scripts/pytest-in-session.sh "$@" || rc=$?
else
    echo "dbus-run-session or gnome-keyring-daemon missing: the real keyring tests will be skipped" >&2
    scripts/pytest-in-session.sh "$@" || rc=$?
fi
[ "$rc" -ne 0 ] && failed="$failed pytest"
if [ -n "$failed" ]; then
    echo "FAILED:$failed" >&2
    [ "$rc" -ne 0 ] && exit "$rc"
    exit 1
fi
echo "All checks passed."
