"""The PySide6 desktop app. Nothing outside this package imports Qt."""

from cio_desktop.gui import qtfix

qtfix.install()
