#!/usr/bin/env bash
# Signs the macOS app with a Developer ID certificate (hardened runtime, secure timestamp), checks that the
# signed app still starts, notarizes it with Apple, staples the ticket and zips the app for download.
# Run on a Mac after `.venv/bin/pyinstaller --noconfirm cio-desktop.spec`. Without notarization Gatekeeper
# blocks the app on every Mac it is downloaded to; see README "Building a standalone app".
#
# Required:
#   CIO_MACOS_SIGN_IDENTITY  the certificate in your keychain, e.g.
#                            "Developer ID Application: Acme Inc (AB12CD34EF)"
#                            (list them: security find-identity -v -p codesigning)
# Notarization credentials, either
#   CIO_NOTARY_PROFILE       a keychain profile: xcrun notarytool store-credentials NAME --apple-id ... --team-id ...
# or an App Store Connect API key (for CI):
#   CIO_NOTARY_KEY (path to AuthKey_XXXXXXXXXX.p8), CIO_NOTARY_KEY_ID, CIO_NOTARY_ISSUER
# Optional:
#   CIO_APP                  the .app (default: "dist/Hull to Customer.io.app")
#   CIO_SKIP_NOTARIZE=1      sign and check only
set -euo pipefail

die() {
    echo "sign-macos: $*" >&2
    exit 2
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app="${CIO_APP:-$root/dist/Hull to Customer.io.app}"
entitlements="$root/scripts/macos-entitlements.plist"

[ "$(uname -s)" = "Darwin" ] || die "this signs a macOS app: it needs macOS (codesign, xcrun)"
[ -n "${CIO_MACOS_SIGN_IDENTITY:-}" ] ||
    die "set CIO_MACOS_SIGN_IDENTITY to your \"Developer ID Application: ...\" certificate (security find-identity -v -p codesigning lists them)"
[ -d "$app" ] || die "no app at $app: build it first (.venv/bin/pyinstaller --noconfirm cio-desktop.spec) or set CIO_APP"
notary=()
if [ "${CIO_SKIP_NOTARIZE:-0}" != "1" ]; then
    if [ -n "${CIO_NOTARY_PROFILE:-}" ]; then
        notary=(--keychain-profile "$CIO_NOTARY_PROFILE")
    elif [ -n "${CIO_NOTARY_KEY:-}" ] && [ -n "${CIO_NOTARY_KEY_ID:-}" ] && [ -n "${CIO_NOTARY_ISSUER:-}" ]; then
        [ -f "$CIO_NOTARY_KEY" ] || die "CIO_NOTARY_KEY: no file at $CIO_NOTARY_KEY"
        notary=(--key "$CIO_NOTARY_KEY" --key-id "$CIO_NOTARY_KEY_ID" --issuer "$CIO_NOTARY_ISSUER")
    else
        die "set CIO_NOTARY_PROFILE, or CIO_NOTARY_KEY, CIO_NOTARY_KEY_ID and CIO_NOTARY_ISSUER (or CIO_SKIP_NOTARIZE=1 to sign only)"
    fi
fi
identity="$CIO_MACOS_SIGN_IDENTITY"
security find-identity -v -p codesigning | grep -qF "\"$identity\"" ||
    die "no valid code-signing identity \"$identity\" in the keychain (security find-identity -v -p codesigning)"

contents="$app/Contents"
info="$contents/Info.plist"
main_exe="$(/usr/libexec/PlistBuddy -c 'Print :CFBundleExecutable' "$info")"
bundle_id="$(/usr/libexec/PlistBuddy -c 'Print :CFBundleIdentifier' "$info")"
version="$(/usr/libexec/PlistBuddy -c 'Print :CFBundleShortVersionString' "$info")"
sign=(codesign --force --timestamp --options runtime --sign "$identity")

# Inside out, each container after what it holds (codesign --deep would give libraries the executables'
# entitlements and is not meant for signing). 1: loose Mach-O files (Python extensions, dylibs, Qt
# plugins); .framework contents are sealed with their framework, the executables come later.
echo "Signing libraries and plugins..."
while IFS= read -r -d '' file; do
    case "$file" in
        *.framework/* | "$contents/MacOS/"*) continue ;;
    esac
    if file -b "$file" | grep -q '^Mach-O'; then
        "${sign[@]}" "$file"
    fi
done < <(find "$contents" -type f -print0)

# 2: frameworks (Qt, Python), the most deeply nested first.
while IFS= read -r framework; do
    "${sign[@]}" "$framework"
done < <(find "$contents" -type d -name '*.framework' | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2-)

# 3: the executables beside the main one (the console CLI), with the runtime's entitlements.
while IFS= read -r -d '' exe; do
    [ "$(basename "$exe")" = "$main_exe" ] && continue
    "${sign[@]}" --entitlements "$entitlements" --identifier "$bundle_id.$(basename "$exe")" "$exe"
done < <(find "$contents/MacOS" -type f -print0)

# 4: the bundle, which signs its main executable (the GUI) and seals every resource.
"${sign[@]}" --entitlements "$entitlements" "$app"
codesign --verify --deep --strict --verbose=2 "$app"

# The hardened runtime refuses what an ad-hoc build allowed (unsigned libraries, JIT memory): prove that
# both executables still start and pass their selfcheck before Apple sees the app.
echo "Selfcheck of the signed app..."
for exe in "$contents/MacOS/"*; do
    [ -f "$exe" ] || continue
    QT_QPA_PLATFORM=offscreen "$exe" selfcheck || die "$(basename "$exe") fails its selfcheck once signed (see above)"
done

if [ "${CIO_SKIP_NOTARIZE:-0}" = "1" ]; then
    echo "Signed (not notarized): $app"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
upload="$work/upload.zip"
ditto -c -k --sequesterRsrc --keepParent "$app" "$upload"
echo "Notarizing (this waits for Apple, usually a few minutes)..."
result="$work/notary.plist"
if ! xcrun notarytool submit "$upload" "${notary[@]}" --wait --output-format plist >"$result"; then
    cat "$result" >&2
    die "notarytool could not submit the app (see above)"
fi
status="$(/usr/libexec/PlistBuddy -c 'Print :status' "$result")"
submission="$(/usr/libexec/PlistBuddy -c 'Print :id' "$result")"
if [ "$status" != "Accepted" ]; then
    die "notarization ended \"$status\"; Apple's reasons: xcrun notarytool log $submission (with the same credentials)"
fi
xcrun stapler staple "$app"
xcrun stapler validate "$app"
spctl --assess --type execute --verbose=2 "$app"

# The stapled app, zipped: the ticket travels with it, so Gatekeeper accepts it even offline.
download="$root/dist/Hull-to-Customer.io-$version-macos.zip"
rm -f "$download"
ditto -c -k --sequesterRsrc --keepParent "$app" "$download"
echo "Signed, notarized and stapled: $download"
