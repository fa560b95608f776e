"""The suite's own strictness stays switched on: warnings and Qt warnings fail tests, hung tests dump stacks."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import warnings


def test_python_warning():
    warnings.warn("deprecated thing", DeprecationWarning)


def test_qt_warning(qtbot):
    from PySide6.QtCore import qWarning

    qWarning("qt complains")


def test_clean():
    pass
"""


def test_pytest_settings_keep_the_hang_guards() -> None:
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert ini["timeout"] > ini["faulthandler_timeout"] > 0  # the stack dump comes before the kill
    assert ini["xfail_strict"] is True


def test_python_and_qt_warnings_fail_tests(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    config = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *config, "-q", str(tmp_path / "test_probe.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert "2 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "DeprecationWarning: deprecated thing" in proc.stdout
    assert "qt complains" in proc.stdout
