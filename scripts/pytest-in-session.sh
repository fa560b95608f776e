#!/usr/bin/env bash
# Runs pytest inside the D-Bus session made by scripts/test.sh. pytest's "no tests collected" (5)
# counts as success so a deliberately narrow selection does not fail the run.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && command -v gnome-keyring-daemon >/dev/null 2>&1; then
    # An empty password unlocks (and, on first use, creates) the login collection.
    eval "$(printf '' | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null | sed 's/^/export /')"
    export CIO_TEST_REAL_KEYRING=1
fi
.venv/bin/python -m pytest "$@"
rc=$?
[ "$rc" -eq 5 ] && { echo "pytest collected no tests (exit 5): treated as success"; rc=0; }
exit "$rc"
