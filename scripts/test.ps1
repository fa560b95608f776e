# Windows twin of scripts/test.sh: install the test extra, run ruff and mypy, then pytest with Qt offscreen.
# Extra arguments go to pytest (scripts\test.ps1 tests\unit -k profile). CIO_SKIP_GATES=1 skips ruff and
# mypy. Exit status: 0 only when every gate and every test passed.
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
Set-Location $root
& (Join-Path $PSScriptRoot "bootstrap.ps1") test
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
$bin = Join-Path $root ".venv\Scripts"
$failed = @()
if ($env:CIO_SKIP_GATES -ne "1") {
    # Each gate reports everything it finds, and pytest still runs, so one run shows all problems.
    Write-Output "== ruff"
    & "$bin\ruff.exe" check cio_desktop tests bench
    if ($LASTEXITCODE -ne 0) { $failed += "ruff" }
    Write-Output "== mypy"
    & "$bin\mypy.exe"
    if ($LASTEXITCODE -ne 0) { $failed += "mypy" }
}
$env:QT_QPA_PLATFORM = "offscreen"
Write-Output "== pytest"
& "$bin\python.exe" -m pytest @args
$rc = $LASTEXITCODE
if ($rc -eq 5) { Write-Output "pytest collected no tests (exit 5): treated as success"; $rc = 0 }
if ($rc -ne 0) { $failed += "pytest" }
if ($failed.Count -gt 0) {
    Write-Output "FAILED: $($failed -join ' ')"
    if ($rc -ne 0) { exit $rc }
    exit 1
}
Write-Output "All checks passed."
