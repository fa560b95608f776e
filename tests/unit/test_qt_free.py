"""Nothing outside cio_desktop.gui loads Qt: the CLI, the engine and servers must run headless."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import importlib, json, pathlib, sys, traceback
    import cio_desktop

    # Found on disk rather than with pkgutil.walk_packages, which would import cio_desktop.gui
    # (and so Qt) just to look inside it.
    root = pathlib.Path(cio_desktop.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    imported, failed = [], {}
    for name in names:
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
