"""Render resources/icons/cio-desktop.svg to the PNG sizes desktops and PyInstaller need.

Run with the project's virtualenv: ``.venv/bin/python resources/generate_icons.py``. Uses Qt's own
SVG renderer (no extra dependency) and works offscreen. Also writes ``cio-desktop.ico`` (Windows)
and ``cio-desktop.icns`` (macOS), both embedding the PNGs.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
HERE = Path(__file__).resolve().parent
SVG = HERE / "icons" / "cio-desktop.svg"


def render(size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"could not write {out}")


def write_ico(pngs: list[tuple[int, Path]], out: Path) -> None:
    """An .ico that embeds PNG images (supported since Windows Vista)."""
    entries = [(s, p.read_bytes()) for s, p in pngs if s <= 256]
    header = struct.pack("<HHH", 0, 1, len(entries))
    offset = 6 + 16 * len(entries)
    directory = b""
    blobs = b""
    for size, data in entries:
        dim = 0 if size == 256 else size  # 0 means 256 in the ICO directory
        directory += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    out.write_bytes(header + directory + blobs)


# macOS icon types that hold PNG data, by pixel size (the @2x types reuse the bigger renders).
_ICNS_TYPES = (
    (b"ic11", 32),
    (b"ic12", 64),
    (b"ic07", 128),
    (b"ic13", 256),
    (b"ic08", 256),
    (b"ic14", 512),
    (b"ic09", 512),
)


def write_icns(pngs: dict[int, Path], out: Path) -> None:
    body = b""
    for kind, size in _ICNS_TYPES:
        data = pngs[size].read_bytes()
        body += kind + struct.pack(">I", 8 + len(data)) + data
    out.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    written: list[tuple[int, Path]] = []
    for size in SIZES:
        out = HERE / "icons" / f"cio-desktop-{size}.png"
        render(size, out)
        written.append((size, out))
    write_ico(written, HERE / "icons" / "cio-desktop.ico")
    write_icns(dict(written), HERE / "icons" / "cio-desktop.icns")
    print(f"wrote {len(written)} PNGs, cio-desktop.ico and cio-desktop.icns to {HERE / 'icons'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
