#!/usr/bin/env bash
# Creates .venv and installs the app into it (editable), with the extras named in $1 ("test", "test,build").
# Used by scripts/demo.sh and scripts/test.sh; safe to run again: it skips pip while pyproject.toml and
# the extras are unchanged since the last successful install (delete .venv/.cio-bootstrap-* to force it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
# $PYTHON, else python3, else a versioned name: on a Mac python3 is often Apple's 3.9 beside a 3.11+ from
# python.org or Homebrew that only answers to python3.12 and the like.
candidates=(python3 python3.14 python3.13 python3.12 python3.11)
[ -n "${PYTHON:-}" ] && candidates=("$PYTHON")
py=""
for candidate in "${candidates[@]}"; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        py="$candidate"
        break
    fi
done
if [ -z "$py" ]; then
    found="$("${PYTHON:-python3}" --version 2>/dev/null || echo "not found")"
    echo "cio-desktop needs Python 3.11 or newer (${PYTHON:-python3}: $found)." >&2
    if [ "$(uname -s)" = "Darwin" ]; then
        echo "On macOS: install Python 3.12 from python.org, or run: brew install python@3.12" >&2
    fi
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
[ -n "$extras" ] && spec="${root}[$extras]"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# pip's output only matters when it fails; an editable install is otherwise noisy.
if ! "$root/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$spec" >"$log" 2>&1; then
    cat "$log" >&2
    echo "Installing cio-desktop into .venv failed (see above)." >&2
    exit 2
fi
printf '%s\n' "$want" >"$stamp"
