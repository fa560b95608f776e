"""Find the files under ``resources/`` (source tree, installed package or PyInstaller bundle)."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


@cache
def resources_dir() -> Path | None:
    """The ``resources`` folder, or None when it was not shipped (the app still runs, plainer)."""
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)  # PyInstaller one-folder bundle
    if frozen_root:
        candidates.append(Path(frozen_root) / "resources")
    here = Path(__file__).resolve()
    candidates += [here.parents[2] / "resources", here.parents[1] / "resources"]
    for c in candidates:
        if (c / "style.qss").is_file():
            return c
    return None


def app_icon() -> QIcon:
    """The app icon with every PNG size plus the SVG, so it stays sharp at any device pixel ratio."""
    icon = QIcon()
    root = resources_dir()
    if root is None:
        return icon
    icons = root / "icons"
    for size in ICON_SIZES:
        png = icons / f"cio-desktop-{size}.png"
        if png.is_file():
            icon.addFile(str(png), QSize(size, size))
    svg = icons / "cio-desktop.svg"
    if svg.is_file():
        icon.addFile(str(svg))
    return icon


def stylesheet() -> str:
    root = resources_dir()
    if root is None:
        return ""
    return (root / "style.qss").read_text(encoding="utf-8")
