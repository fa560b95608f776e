"""`cio-desktop preview`: what a sync would do to each user, with the exact Customer.io payload."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cio_desktop.commands.common import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_PARTIAL,
    Subparsers,
    add_profile_arguments,
    open_for_args,
)
from cio_desktop.hull.source import SourceError
from cio_desktop.sync.engine import PreviewRow
from cio_desktop.sync.factory import ConfigurationError


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "preview",
        help="show the decision, reason and exact payload for the first users of the segments",
        description="Plan the first users of the profile's segments and show what Customer.io would receive.",
    )
    add_profile_arguments(p)
    p.add_argument("--limit", type=int, default=20, metavar="N", help="how many users (default 20)")
    p.add_argument("--json", action="store_true", help="one JSON array, one object per user")


def row_dict(row: PreviewRow) -> dict[str, Any]:
    d = row.decision
    return {
        "hull_id": d.hull_id,
        "customer_id": d.customer_id,
        "action": d.action.value,
        "reason": d.reason.value,
        "label": d.label,
        "message": d.message,
        "user": row.user,
        "operations": json.loads(row.payload) if row.payload else [],
        "changes": {
            "added": list(row.changes.added),
            "changed": list(row.changes.changed),
            "removed": list(row.changes.removed),
        },
    }


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        sys.stderr.write("cio-desktop preview: --limit must be at least 1\n")
        return EXIT_CONFIG
    try:
        with open_for_args(args, need_track=False) as opened:
            rows = opened.services.engine().preview(args.limit)
    except ConfigurationError as exc:
        sys.stderr.write(f"cio-desktop preview: {exc}\n")
        return EXIT_CONFIG
    except SourceError as exc:
        sys.stderr.write(f"cio-desktop preview: {exc}\n")
        return EXIT_PARTIAL
    if args.json:
        sys.stdout.write(json.dumps([row_dict(r) for r in rows], ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    out = sys.stdout
    if not rows:
        out.write(f"No users in the chosen segments of {opened.label}.\n")
    for row in rows:
        d = row.decision
        out.write(f"{row.user}\n  {d.label}" + (f": {d.message}" if d.message else "") + "\n")
        if row.changes.any:
            parts = []
            for name, keys in (("added", row.changes.added), ("changed", row.changes.changed)):
                if keys:
                    parts.append(f"{name} {', '.join(keys)}")
            if row.changes.removed:
                parts.append(f"removed {', '.join(row.changes.removed)}")
            out.write(f"  changes: {'; '.join(parts)}\n")
        if row.payload:
            pretty = json.dumps(json.loads(row.payload), ensure_ascii=False, indent=2)
            out.write("".join(f"    {line}\n" for line in pretty.splitlines()))
    return EXIT_OK
