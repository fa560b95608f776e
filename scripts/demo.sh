#!/usr/bin/env bash
# Quick start: install what is needed into .venv and open the app on the seeded demo organization.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/system-deps.sh" runtime
"$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/cio-desktop" --demo "$@"
