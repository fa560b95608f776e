# Windows twin of scripts/bootstrap.sh: creates .venv with Python 3.11+ (the py launcher) when missing and
# installs the app into it (editable), with the extras named in $args[0] ("test"). Used by demo.ps1, test.ps1.
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
$python = Join-Path $root ".venv\Scripts\python.exe"
if (-not (Test-Path $python)) {
    # $env:PYTHON picks an interpreter (as in bootstrap.sh); otherwise the py launcher's newest Python 3.
    if ($env:PYTHON) { & $env:PYTHON -m venv (Join-Path $root ".venv") } else { py -3 -m venv (Join-Path $root ".venv") }
    if ($LASTEXITCODE -ne 0) { [Console]::Error.WriteLine("Could not create .venv: install Python 3.11 or newer from python.org"); exit 2 }
}
& $python -c "import sys; sys.exit(sys.version_info < (3, 11))"
if ($LASTEXITCODE -ne 0) { [Console]::Error.WriteLine("cio-desktop needs Python 3.11 or newer: delete .venv and install a newer Python from python.org"); exit 2 }
$spec = if ($args.Count -gt 0 -and $args[0]) { "$root[$($args[0])]" } else { "$root" }
& $python -m pip install -q --disable-pip-version-check -e $spec
if ($LASTEXITCODE -ne 0) { [Console]::Error.WriteLine("Installing cio-desktop into .venv failed (see above)"); exit 2 }
