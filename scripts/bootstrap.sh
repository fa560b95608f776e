#!/usr/bin/env bash
# Creates .venv and installs the app into it (editable), with the extras named in $1 ("test", "test,build").
# Used by scripts/demo.sh and scripts/test.sh; safe to run again: it skips pip while pyproject.toml and
# the extras are unchanged since the last successful install (delete .venv/.cio-bootstrap-* to force it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "cio-desktop needs Python 3.11 or newer ($py is $("$py" --version 2>&1))." >&2
    exit 2
fi
if [ ! -x "$root/.venv/bin/python" ]; then
    if ! "$py" -m venv "$root/.venv"; then
        echo "Could not create $root/.venv. On Debian/Ubuntu: sudo apt install python3-venv" >&2
        exit 2
    fi
    "$root/.venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
fi
stamp="$root/.venv/.cio-bootstrap-${extras:-base}"
want="$("$root/.venv/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$root/pyproject.toml")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$root/.venv/bin/cio-desktop" ]; then
    exit 0
fi
spec="$root"
[ -n "$extras" ] && spec="$root[$extras]"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# pip's output only matters when it fails; an editable install is otherwise noisy.
if ! "$root/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$spec" >"$log" 2>&1; then
    cat "$log" >&2
    echo "Installing cio-desktop into .venv failed (see above)." >&2
    exit 2
fi
printf '%s\n' "$want" >"$stamp"
