"""cio-desktop: sync a Hull organization to a Customer.io workspace from the desktop."""

__version__ = "0.1.0"
APP_NAME = "cio-desktop"
APP_TITLE = "Hull to Customer.io"
