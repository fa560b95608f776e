# Signs the Windows build with an Authenticode code-signing certificate (SHA-256 digests, RFC 3161
# timestamp) so SmartScreen can attribute it to you instead of warning "Windows protected your PC".
# Run on Windows after: .venv\Scripts\pyinstaller --noconfirm cio-desktop.spec
#
# Required:
#   CIO_WINDOWS_CERT_SHA1  thumbprint of the code-signing certificate in Cert:\CurrentUser\My or
#                          Cert:\LocalMachine\My (Get-ChildItem Cert:\CurrentUser\My -CodeSigningCert lists
#                          them). Its private key may be on a hardware token or a cloud HSM, as CAs issue them.
# Optional:
#   CIO_TIMESTAMP_URL      your CA's RFC 3161 timestamp server (default http://timestamp.digicert.com)
#   CIO_DIST               the folder to sign (default dist\cio-desktop)
#   CIO_SIGNTOOL           path to signtool.exe (default: on PATH, else the newest Windows 10/11 SDK's)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version 3.0
# Native commands' stderr is never redirected: see scripts\bootstrap.ps1.

function Fail([string]$message) {
    [Console]::Error.WriteLine("sign-windows: $message")
    exit 2
}

if ("$env:OS" -ne "Windows_NT") { Fail "this signs Windows executables: it needs Windows (signtool)" }
$root = Split-Path -Parent $PSScriptRoot
$thumbprint = "$env:CIO_WINDOWS_CERT_SHA1" -replace "\s", ""
if (-not $thumbprint) {
    Fail "set CIO_WINDOWS_CERT_SHA1 to your code-signing certificate's thumbprint (Get-ChildItem Cert:\CurrentUser\My -CodeSigningCert lists them)"
}
$cert = @(Get-ChildItem -Path "Cert:\CurrentUser\My", "Cert:\LocalMachine\My" -CodeSigningCert |
    Where-Object { $_.Thumbprint -eq $thumbprint })
if ($cert.Count -eq 0) {
    Fail "no code-signing certificate with thumbprint $thumbprint in Cert:\CurrentUser\My or Cert:\LocalMachine\My"
}
# signtool looks in the current user's store unless told /sm (the machine's).
$store = if ($cert[0].PSParentPath -like "*LocalMachine*") { @("/sm") } else { @() }
$timestamp = if ($env:CIO_TIMESTAMP_URL) { $env:CIO_TIMESTAMP_URL } else { "http://timestamp.digicert.com" }

$signtool = $env:CIO_SIGNTOOL
if (-not $signtool) {
    $onPath = Get-Command signtool.exe -ErrorAction SilentlyContinue
    if ($onPath) {
        $signtool = $onPath.Source
    } else {
        $kits = Join-Path ${env:ProgramFiles(x86)} "Windows Kits\10\bin"
        $newest = Get-ChildItem -Path $kits -Filter signtool.exe -Recurse -ErrorAction SilentlyContinue |
            Where-Object { $_.Directory.Name -eq "x64" -and $_.Directory.Parent.Name -match "^\d+(\.\d+)+$" } |
            Sort-Object { [version]$_.Directory.Parent.Name } -Descending |
            Select-Object -First 1
        if ($newest) { $signtool = $newest.FullName }
    }
}
if (-not $signtool -or -not (Test-Path $signtool)) {
    Fail "signtool.exe not found: install the Windows SDK's signing tools, or set CIO_SIGNTOOL to its path"
}

$dist = if ($env:CIO_DIST) { $env:CIO_DIST } else { Join-Path $root "dist\cio-desktop" }
$exes = @("cio-desktop.exe", "cio-desktop-cli.exe") | ForEach-Object { Join-Path $dist $_ }
foreach ($exe in $exes) {
    if (-not (Test-Path $exe)) {
        Fail "no ${exe}: build first (.venv\Scripts\pyinstaller --noconfirm cio-desktop.spec) or set CIO_DIST"
    }
}
# Both executables always; of the libraries, those nobody signed (Python's own DLLs keep their signature).
$libraries = @(Get-ChildItem -Path $dist -Recurse -File -Include "*.dll", "*.pyd" |
    Where-Object { (Get-AuthenticodeSignature $_.FullName).Status -ne "Valid" } |
    ForEach-Object { $_.FullName })
$files = @($exes) + $libraries
Write-Host "Signing $($files.Count) files with $($cert[0].Subject)..."
# A few dozen files per call keeps the command line short.
for ($i = 0; $i -lt $files.Count; $i += 40) {
    $chunk = @($files[$i..([Math]::Min($i + 40, $files.Count) - 1)])
    & $signtool sign /fd sha256 /tr $timestamp /td sha256 /sha1 $thumbprint @store @chunk
    if ($LASTEXITCODE -ne 0) { Fail "signtool could not sign (see above)" }
}
foreach ($exe in $exes) {
    & $signtool verify /pa $exe
    if ($LASTEXITCODE -ne 0) { Fail "$exe does not verify after signing (see above)" }
}
Write-Host "Signed: $dist"
exit 0
