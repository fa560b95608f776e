"""Subcommands of ``cio-desktop``. Each module defines ``add_parser(subparsers)`` and ``run(args) -> int``.

They sit beside ``cli.py`` (the top layer) and call the Qt-free core; none of them imports Qt.
"""
