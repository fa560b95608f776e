# Windows quick start: install into .venv and open the app on the seeded demo organization.
#   powershell -ExecutionPolicy Bypass -File scripts\demo.ps1
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
& (Join-Path $PSScriptRoot "bootstrap.ps1")
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
& (Join-Path $root ".venv\Scripts\cio-desktop.exe") --demo @args
exit $LASTEXITCODE
