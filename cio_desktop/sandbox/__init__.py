"""Local emulators of the Hull and Customer.io APIs, for demo mode, tests and benchmarks.

``Sandbox`` serves Hull's REST API and firehose and Customer.io's Track (v1 + v2) and App APIs on
one loopback port, over a deterministic fake organization; see :mod:`cio_desktop.sandbox.server`.
The product may start it (demo mode) but never depends on it.
"""

from cio_desktop.sandbox.faults import Faults
from cio_desktop.sandbox.server import Sandbox, SandboxCredentials, SandboxUrls

__all__ = ["Faults", "Sandbox", "SandboxCredentials", "SandboxUrls"]
