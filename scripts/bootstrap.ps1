# Windows twin of scripts/bootstrap.sh: creates .venv with Python 3.11+ (the py launcher) when missing and
# installs the app into it (editable), with the extras named in $args[0] ("test"). Used by demo.ps1, test.ps1.
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
$python = Join-Path $root ".venv\Scripts\python.exe"
if (-not (Test-Path $python)) {
    py -3.11 -m venv (Join-Path $root ".venv")
    if ($LASTEXITCODE -ne 0) { [Console]::Error.WriteLine("Could not create .venv: install Python 3.11 or newer from python.org"); exit 2 }
}
$spec = if ($args.Count -gt 0 -and $args[0]) { "$root[$($args[0])]" } else { "$root" }
& $python -m pip install -q --disable-pip-version-check -e $spec
if ($LASTEXITCODE -ne 0) { [Console]::Error.WriteLine("Installing cio-desktop into .venv failed (see above)"); exit 2 }
