"""PyInstaller runtime hook (cio-desktop.spec): give a process without stdout/stderr the null device.

A windowed executable on Windows starts with sys.stdout and sys.stderr set to None, and the commands
write to them directly (sys.stdout.write), so `cio-desktop sync ...` would sync and then crash on
its summary. Their output is lost either way; the log file keeps what matters.
"""

import os
import sys

for _name in ("stdout", "stderr"):
    if getattr(sys, _name) is None:
        setattr(sys, _name, open(os.devnull, "w", encoding="utf-8"))  # open for the life of the process
