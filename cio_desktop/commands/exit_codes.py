"""Exit codes shared by all subcommands (importing this loads nothing else).

0 success, 1 partial failure (some people failed, or a service failed mid-run), 2 configuration or
credentials wrong (the reason is printed), 3 deletions withheld by the deletion guard (everything else
was sent), 4 some records of the source could not be read (the rest was sent), 5 another sync of the
same profile is running, 130 cancelled (Ctrl-C).

Kept apart from :mod:`cio_desktop.commands.common` so that :mod:`cio_desktop.cli` stays light: a
spawned process (a reading or scanning worker, the window's sync process) imports the program's main
script again, which imports ``cli``; through ``common`` that was the whole sync core, 0.17 s of
imports in every such process.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_CONFIG = 2
EXIT_DELETIONS_WITHHELD = 3
EXIT_INCOMPLETE = 4
EXIT_BUSY = 5  # another sync of the profile is running (its run lock is held)
EXIT_CANCELLED = 130

__all__ = [
    "EXIT_BUSY",
    "EXIT_CANCELLED",
    "EXIT_CONFIG",
    "EXIT_DELETIONS_WITHHELD",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_PARTIAL",
]
