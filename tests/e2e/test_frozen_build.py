"""The PyInstaller build works: the frozen app answers --version and passes its selfcheck."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cio_desktop import __version__

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(
    os.environ.get("CIO_TEST_REAL_KEYRING") != "1",
    reason="the frozen selfcheck needs the Secret Service that scripts/test.sh starts",
)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="built and checked on Linux in CI")
def test_frozen_app_reports_its_version_and_passes_selfcheck(tmp_path: Path) -> None:
    pyinstaller = shutil.which("pyinstaller", path=str(Path(sys.executable).parent))
    assert pyinstaller, "PyInstaller is part of the test extra"
    build = subprocess.run(
        [
            pyinstaller, "--noconfirm", "--log-level", "WARN",
            "--distpath", str(tmp_path / "dist"), "--workpath", str(tmp_path / "work"),
            str(ROOT / "cio-desktop.spec"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    exe = tmp_path / "dist" / "cio-desktop" / "cio-desktop"
    assert exe.is_file()
    # The frozen app must not find the source tree: run it from elsewhere, with its own home.
    env = {**os.environ, "CIO_DESKTOP_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)
    version = subprocess.run([str(exe), "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"cio-desktop {__version__}"
    check = subprocess.run([str(exe), "selfcheck"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert check.returncode == 0, check.stdout + check.stderr
    for line in ("ok    imports", "ok    keyring", "ok    sandbox", "ok    main window", "selfcheck passed"):
        assert line in check.stdout
