"""Nothing outside cio_desktop.gui loads Qt: the CLI, the engine and servers must run headless."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys, traceback
    import cio_desktop

    imported, failed = [], {}
    for info in pkgutil.walk_packages(cio_desktop.__path__, "cio_desktop."):
        name = info.name
        # gui/ is the one place Qt belongs; __main__ would start the app.
        if name == "cio_desktop.gui" or name.startswith("cio_desktop.gui.") or name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception:
            failed[name] = traceback.format_exc(limit=3)
    qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "PyQt5", "PyQt6"))
    print(json.dumps({"imported": imported, "failed": failed, "qt": qt}))
    """
)


def test_no_module_outside_gui_imports_qt() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}, "modules that failed to import:\n" + "\n".join(result["failed"].values())
    assert "cio_desktop.config.store" in result["imported"]  # the walk really covered the package
    assert result["qt"] == [], f"Qt was loaded by a non-GUI module: {result['qt']}"
