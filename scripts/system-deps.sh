#!/usr/bin/env bash
# Installs the Debian packages Qt and the test suite need, when they are missing and apt-get exists.
# $1 = "runtime" (Qt's libraries) or "test" (plus Xvfb, D-Bus and gnome-keyring for the real keyring tests).
set -euo pipefail
runtime="libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libglib2.0-0 libdbus-1-3
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0
libxcb-randr0 libxcb-xfixes0 libxcb-xkb1"
testing="xvfb xauth dbus dbus-x11 gnome-keyring binutils"
want="$runtime"
[ "${1:-runtime}" = "test" ] && want="$runtime $testing"
command -v dpkg-query >/dev/null 2>&1 || exit 0
# Newer Debian renamed some libraries (e.g. libglib2.0-0t64); the new package "provides" the old name.
provided=" $(dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null | sed -n 's/^ii *|//p' \
    | tr ',' '\n' | sed 's/ *(.*//; s/^ *//' | tr '\n' ' ') "
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
    case "$provided" in *" $p "*) continue ;; esac
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; }; then
    echo "Missing system packages:$missing. Install them (Debian/Ubuntu: apt-get install$missing);" \
        "until then Qt or the real keyring tests may fail." >&2
    exit 0
fi
echo "Installing system packages:$missing" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
