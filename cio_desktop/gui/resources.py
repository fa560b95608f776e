"""Find the files under ``resources/`` (source tree, installed package or PyInstaller bundle)."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from string import Template

from PySide6.QtCore import QSize
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication, QIcon

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
    """style.qss with its font sizes and monospace family filled in for this platform."""
    root = resources_dir()
    if root is None:
        return ""
    text = (root / "style.qss").read_text(encoding="utf-8")
    return Template(text).safe_substitute(font_values(QGuiApplication.font(), monospace_family()))


def font_values(base: QFont, mono_family: str) -> dict[str, str]:
    """Sizes relative to the application font, never below it (macOS's 13 pt must not shrink to 9).

    At Linux's usual 9 pt these are the sizes the stylesheet always had (sidebar 10.5, titles 15).
    """
    size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
    return {
        "sidebar_size": f"{max(size, 10.5):g}pt",
        "title_size": f"{size + 6:g}pt",
        "mono_size": f"{size:g}pt",
        "mono_family": mono_family,
    }


def monospace_family() -> str:
    """The platform's own fixed-pitch family (Menlo/SF Mono, Consolas, DejaVu Sans Mono via fontconfig).

    Naming a family the system lacks (e.g. "DejaVu Sans Mono" on a Mac) makes Qt stall while it
    populates font aliases to find a substitute; the theme's fixed font always exists.
    """
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
