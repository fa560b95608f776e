#!/usr/bin/env bash
# Runs pytest inside the private D-Bus session made by scripts/test.sh, with a throw-away unlocked
# gnome-keyring so the real Secret Service tests run. pytest's "no tests collected" (5) counts as
# success so a deliberately narrow selection does not fail the run.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
# Only inside the session scripts/test.sh created: never unlock or fill the user's own keyring.
if [ "${CIO_TEST_PRIVATE_DBUS:-}" = "1" ] && [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] \
    && command -v gnome-keyring-daemon >/dev/null 2>&1; then
    keyring_home="$(mktemp -d "${TMPDIR:-/tmp}/cio-test-keyring.XXXXXX")"
    trap 'rm -rf "$keyring_home"' EXIT
    # The keyring files go to a temp folder (XDG_DATA_HOME), not ~/.local/share/keyrings. The password
    # must be non-empty: with an empty one gnome-keyring does not create the login collection.
    if daemon_env="$(printf 'cio-desktop-tests' | XDG_DATA_HOME="$keyring_home" XDG_RUNTIME_DIR="$keyring_home" \
        gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"; then
        eval "$(printf '%s\n' "$daemon_env" | sed -n 's/^\([A-Z_]*=.*\)$/export \1/p')"
        export CIO_TEST_REAL_KEYRING=1
    else
        echo "gnome-keyring-daemon did not start: the real keyring tests will be skipped" >&2
    fi
fi
.venv/bin/python -m pytest "$@"
rc=$?
[ "$rc" -eq 5 ] && { echo "pytest collected no tests (exit 5): treated as success"; rc=0; }
exit "$rc"
