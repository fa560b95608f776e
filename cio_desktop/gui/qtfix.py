"""Work around a PySide6 6.12.0 reference-count bug before any signal is emitted.

In PySide6 6.12.0 (CPython 3.11, where ``True`` is still reference counted) ``SignalInstance.emit``
and ``SignalInstance.disconnect`` return ``True`` without taking a reference to it. Every call from
Python then removes one reference from ``True``; after a few hundred signals the interpreter aborts
("Fatal Python error: bool_dealloc"), at exit or in the middle of a sync. Hence: probe once whether
this Qt binding has the bug, and if so give back the missing reference after each call.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None
_PROBES = 8


class _Probe(QObject):
    ping = Signal()


def _emit_loses_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(0, lost)):
        _incref(True)  # give back what the probe itself took
    return lost >= _PROBES


def _patched(original: Any) -> Any:
    def call(self: SignalInstance, *args: Any) -> Any:
        result = original(self, *args)
        if result is True:
            _incref(True)
        return result

    call.__name__ = original.__name__
    call.__doc__ = original.__doc__
    return call


def install() -> bool:
    """Patch the signal methods when needed; returns whether the bug was found. Safe to call twice."""
    if getattr(SignalInstance, "_cio_desktop_refcount_fix", False):
        return True
    if sys.version_info >= (3, 12) or not _emit_loses_a_reference():
        return False  # immortal True (3.12+), or a fixed binding
    SignalInstance.emit = _patched(SignalInstance.emit)  # type: ignore[method-assign]
    SignalInstance.disconnect = _patched(SignalInstance.disconnect)  # type: ignore[method-assign]
    SignalInstance._cio_desktop_refcount_fix = True  # type: ignore[attr-defined]
    return True
