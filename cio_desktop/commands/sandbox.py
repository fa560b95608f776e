"""``cio-desktop sandbox``: serve the Hull + Customer.io emulators on loopback until interrupted.

With ``--json`` the first line on stdout is one JSON object with the base URLs and the demo
credentials (flat, and again under ``urls`` / ``credentials``), so a parent process (benchmarks,
end-to-end tests) can read it and connect.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import asdict
from types import FrameType

from cio_desktop.commands.common import EXIT_CONFIG, EXIT_OK, Subparsers


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "sandbox",
        help="run local emulators of the Hull and Customer.io APIs (demo, tests, benchmarks)",
        description="Serve Hull's REST API + firehose and Customer.io's Track + App APIs on 127.0.0.1.",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--users", type=int, default=2000, help="users in the fake Hull organization (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fake data (same seed, same data)")
    p.add_argument("--cio-rate-limit", type=float, default=None, help="answer 429 above this many Track requests/s")
    p.add_argument("--json", action="store_true", help="print one JSON line with URLs and credentials")


def run(args: argparse.Namespace) -> int:
    from cio_desktop.sandbox import Sandbox

    if args.users < 0 or not 0 <= args.port <= 65535:
        print("sandbox: --users must be >= 0 and --port between 0 and 65535", file=sys.stderr)
        return EXIT_CONFIG
    if args.cio_rate_limit is not None and args.cio_rate_limit <= 0:
        print("sandbox: --cio-rate-limit must be > 0 requests per second", file=sys.stderr)
        return EXIT_CONFIG
    try:
        sb = Sandbox(users=args.users, seed=args.seed, port=args.port, cio_rate_limit=args.cio_rate_limit).start()
    except OSError as e:
        print(f"sandbox: cannot listen on 127.0.0.1:{args.port} ({e.strerror}); choose another --port", file=sys.stderr)
        return EXIT_CONFIG
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if args.json:
            urls, creds = asdict(sb.urls), asdict(sb.credentials)
            print(json.dumps({**urls, **creds, "urls": urls, "credentials": creds}), flush=True)
        else:
            print(f"Sandbox serving {args.users} users (seed {args.seed}) at {sb.urls.base}")
            for name, url in asdict(sb.urls).items():
                print(f"  {name:14} {url}")
            for name, value in asdict(sb.credentials).items():
                print(f"  {name:18} {value}")
            print("State: GET /_sandbox/state. Stop with Ctrl-C.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sb.stop()
    return EXIT_OK
