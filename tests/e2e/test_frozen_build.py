"""The PyInstaller build works: one folder with a windowed GUI executable and a console CLI twin; the
CLI answers --version and passes its selfcheck, the GUI is marked windowed where the platform shows it."""

from __future__ import annotations

import os
import plistlib
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cio_desktop import APP_TITLE, __version__

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SUFFIX = ".exe" if sys.platform == "win32" else ""
WINDOWS_GUI_SUBSYSTEM = 2  # IMAGE_SUBSYSTEM_WINDOWS_GUI; a console executable has 3


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Builds cio-desktop.spec once for every test in this module; returns the dist folder."""
    tmp = tmp_path_factory.mktemp("frozen")
    pyinstaller = shutil.which("pyinstaller", path=str(Path(sys.executable).parent))
    assert pyinstaller, "PyInstaller is part of the test extra"
    build = subprocess.run(
        [
            pyinstaller, "--noconfirm", "--log-level", "WARN",
            "--distpath", str(tmp / "dist"), "--workpath", str(tmp / "work"),
            str(ROOT / "cio-desktop.spec"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    return tmp / "dist"


def frozen_env(tmp_path: Path) -> dict[str, str]:
    # The frozen app must not find the source tree: run it from elsewhere, with its own home.
    env = {**os.environ, "CIO_DESKTOP_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)
    return env


def pe_subsystem(exe: Path) -> int:
    data = exe.read_bytes()
    pe_offset = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe_offset : pe_offset + 4] == b"PE\0\0"
    # The optional header follows the 4-byte signature and the 20-byte COFF header; Subsystem is at +68.
    return int(struct.unpack_from("<H", data, pe_offset + 24 + 68)[0])


@pytest.mark.skipif(
    os.environ.get("CIO_TEST_REAL_KEYRING") != "1",
    reason="the frozen selfcheck needs the Secret Service that scripts/test.sh starts",
)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the selfcheck's keyring is checked on Linux")
def test_frozen_cli_reports_its_version_and_passes_selfcheck(dist: Path, tmp_path: Path) -> None:
    cli = dist / "cio-desktop" / f"cio-desktop-cli{SUFFIX}"
    assert cli.is_file()
    env = frozen_env(tmp_path)
    version = subprocess.run([str(cli), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"cio-desktop {__version__}"
    check = subprocess.run([str(cli), "selfcheck"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert check.returncode == 0, check.stdout + check.stderr
    for line in (
        "ok    imports",
        "ok    keyring",
        "ok    sandbox",
        "ok    worker process",
        "ok    main window",
        "selfcheck passed",
    ):
        assert line in check.stdout


def test_frozen_gui_executable_sits_beside_the_cli_and_is_windowed_where_the_platform_shows_it(
    dist: Path, tmp_path: Path
) -> None:
    gui = dist / "cio-desktop" / f"cio-desktop{SUFFIX}"
    assert gui.is_file()
    if sys.platform == "win32":
        # A windowed executable has no stdout to answer --version on: check its PE header instead.
        assert pe_subsystem(gui) == WINDOWS_GUI_SUBSYSTEM
        assert pe_subsystem(dist / "cio-desktop" / "cio-desktop-cli.exe") != WINDOWS_GUI_SUBSYSTEM
        return
    if sys.platform == "darwin":
        app = dist / f"{APP_TITLE}.app" / "Contents"
        info = plistlib.loads((app / "Info.plist").read_bytes())
        assert info["CFBundleExecutable"] == "cio-desktop"
        assert info["LSBackgroundOnly"] is False
        assert info["LSMinimumSystemVersion"] == "13.0"
        assert (app / "MacOS" / "cio-desktop-cli").is_file()
    # On Linux (and macOS) console=False changes nothing visible: the GUI executable still answers.
    version = subprocess.run(
        [str(gui), "--version"], cwd=tmp_path, env=frozen_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.strip() == f"cio-desktop {__version__}"


def test_windowed_gui_runs_a_headless_command_without_stdout_or_stderr(dist: Path, tmp_path: Path) -> None:
    gui = dist / "cio-desktop" / f"cio-desktop{SUFFIX}"
    if os.name == "posix":
        # Closed descriptors make sys.stdout and sys.stderr None, as a windowed Windows executable has them.
        command = ["/bin/sh", "-c", 'exec "$0" sync --demo >&- 2>&-', str(gui)]
    else:
        command = [str(gui), "sync", "--demo"]
    env = frozen_env(tmp_path)
    sync = subprocess.run(command, cwd=tmp_path, env=env, timeout=180, check=False)
    assert sync.returncode == 0  # without the runtime hook: AttributeError writing the summary, exit 1


def test_frozen_folder_carries_only_the_qt_it_uses(dist: Path) -> None:
    folder = dist / "cio-desktop"
    names = {p.name for p in folder.rglob("*")}
    assert not any(n.startswith(("QtQml", "QtQuick", "QtPdf", "libQt6Qml", "libQt6Quick", "libQt6Pdf")) for n in names)
    assert not (folder / "_internal" / "PySide6" / "Qt" / "translations").exists()
