#!/usr/bin/env bash
# Creates .venv and installs the app into it (editable), with the extras named in $1 ("test", "test,build").
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (pip skips what is installed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "cio-desktop needs Python 3.11 or newer ($py is $("$py" --version 2>&1))." >&2
    exit 2
fi
if [ ! -x "$root/.venv/bin/python" ]; then
    "$py" -m venv "$root/.venv"
fi
"$root/.venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
spec="$root"
[ -n "$extras" ] && spec="$root[$extras]"
"$root/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
