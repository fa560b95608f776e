"""Write the sandbox's seeded organization as Hull export files (what a team that kept its data has).

``export_organization(sandbox_or_org, directory, formats=("jsonl", "json", "csv"), gzip=False)``
writes the users in each requested format, and the events as JSON lines, streaming (one user in
memory at a time), and returns ``{"jsonl": path, "json": path, "csv": path, "events": path}``.

- JSON lines / JSON array: each user exactly as Hull's search API answers it, plus ``segments``
  ``[{"id", "name"}]`` next to ``segment_ids`` (exports of the old platform carried both).
- CSV: the header convention of :mod:`cio_desktop.hull.files_readers`: numbers, booleans and JSON
  values get a ``:number``/``:boolean``/``:json`` suffix, columns mixing types are ``:json``,
  ``account`` becomes ``account.<key>`` columns, and ``segment_ids`` + ``segments`` (names) are
  ``;``-separated and paired in order. A CSV cannot tell an empty string or empty list from a
  missing value: those read back as absent.
- Events: one Hull event per line (``event_id``, ``event``, ``created_at``, ``event_type``,
  ``properties``, ``user_id``, ``anonymous_id``, ``context``), oldest first.
"""

from __future__ import annotations

import contextlib
import csv
import gzip as gzip_module
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cio_desktop.config.private import atomic_writer, private_dir
from cio_desktop.sandbox.data import FakeOrg
from cio_desktop.sandbox.events import public_event

if TYPE_CHECKING:
    from cio_desktop.sandbox.server import Sandbox

FORMATS = ("jsonl", "json", "csv")
_LEADING = ("id", "email", "external_id", "anonymous_ids", "name", "created_at", "updated_at")
_LIST_COLUMNS = ("anonymous_ids", "segment_ids", "segments")


def _org_of(source: FakeOrg | Sandbox) -> FakeOrg:
    """The FakeOrg of a Sandbox (or the FakeOrg itself)."""
    org = source if isinstance(source, FakeOrg) else getattr(source, "org", None)
    if not isinstance(org, FakeOrg):
        raise TypeError(f"cannot find the seeded organization in {type(source).__name__}")
    return org


@contextlib.contextmanager
def _export_file(path: Path, compress: bool) -> Iterator[IO[str]]:
    """One export file written atomically (temporary file, then rename): a half-written export never
    looks complete."""
    with atomic_writer(path) as raw:
        # mtime=0: the same organization always gives byte-identical files.
        packed = gzip_module.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if compress else None
        out = io.TextIOWrapper(packed or raw, encoding="utf-8", newline="")
        yield out
        out.flush()
        out.detach()  # the writer closes (and fsyncs) the file itself
        if packed is not None:
            packed.close()  # writes the gzip trailer; a GzipFile never closes the file it was given


def _users(org: FakeOrg) -> Iterator[dict[str, Any]]:
    names = dict(org.segments)
    for i in range(org.size):
        user = org.doc(i)
        user["segments"] = [{"id": sid, "name": names.get(sid, sid)} for sid in user.get("segment_ids", [])]
        yield user


def _write_jsonl(org: FakeOrg, out: IO[str]) -> None:
    for user in _users(org):
        out.write(json.dumps(user, ensure_ascii=False))
        out.write("\n")


def _write_json(org: FakeOrg, out: IO[str]) -> None:
    out.write("[")
    first = True
    for user in _users(org):
        out.write("\n" if first else ",\n")
        out.write(json.dumps(user, ensure_ascii=False))
        first = False
    out.write("\n]\n")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "json"


def _csv_columns(org: FakeOrg) -> list[tuple[str, str]]:
    """(column key, type) for every attribute any user has; a first pass over the users."""
    kinds: dict[str, set[str]] = {}
    for user in _users(org):
        for key, value in user.items():
            if value is None:
                continue
            if key == "account" and isinstance(value, dict):
                for akey, avalue in value.items():
                    if avalue is not None:
                        kinds.setdefault(f"account.{akey}", set()).add(_kind(avalue))
            else:
                kinds.setdefault(key, set()).add(_kind(value))
    ordered = [k for k in _LEADING if k in kinds] + [
        k for k in kinds if k not in _LEADING and k not in ("segment_ids", "segments")
    ]
    ordered += [k for k in ("segment_ids", "segments") if k in kinds]
    return [(key, next(iter(kinds[key])) if len(kinds[key]) == 1 else "json") for key in ordered]


def _header(key: str, kind: str) -> str:
    if key in _LIST_COLUMNS or kind == "string":
        return key
    return f"{key}:{kind}"


def _cell(key: str, kind: str, value: Any) -> str:
    if value is None:
        return ""
    if key in _LIST_COLUMNS and isinstance(value, list):
        if key == "segments":
            return ";".join(str(s.get("name", "")) if isinstance(s, dict) else str(s) for s in value)
        return ";".join(str(v) for v in value)
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "number":
        return repr(value)
    return str(value)


def _write_csv(org: FakeOrg, out: IO[str]) -> None:
    columns = _csv_columns(org)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_header(key, kind) for key, kind in columns])
    for user in _users(org):
        nested = user.get("account")
        account: dict[str, Any] = nested if isinstance(nested, dict) else {}
        row = []
        for key, kind in columns:
            value = account.get(key[len("account.") :]) if key.startswith("account.") else user.get(key)
            row.append(_cell(key, kind, value))
        writer.writerow(row)


def _write_events(org: FakeOrg, out: IO[str]) -> None:
    for event in org.events():
        public = public_event(event)
        record: dict[str, Any] = {"event_id": public.pop("id")}
        record.update((k, v) for k, v in public.items() if v is not None)
        out.write(json.dumps(record, ensure_ascii=False))
        out.write("\n")


_WRITERS = {"jsonl": _write_jsonl, "json": _write_json, "csv": _write_csv}


def export_organization(
    sandbox_or_its_data: FakeOrg | Sandbox,
    directory: str | Path,
    formats: Sequence[str] = FORMATS,
    gzip: bool = False,
    *,
    events: bool = True,
) -> dict[str, Path]:
    """Write users in each of ``formats`` (``users.jsonl``, ``users.json``, ``users.csv``, with
    ``.gz`` when ``gzip``) and, when ``events``, ``events.jsonl`` into ``directory``."""
    unknown = [f for f in formats if f not in _WRITERS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; use {', '.join(FORMATS)}")
    org = _org_of(sandbox_or_its_data)
    folder = private_dir(Path(directory))  # stands in for a team's Hull data: private like real exports
    suffix = ".gz" if gzip else ""
    written: dict[str, Path] = {}
    for fmt in formats:
        path = folder / f"users.{fmt}{suffix}"
        with _export_file(path, gzip) as out:
            _WRITERS[fmt](org, out)
        written[fmt] = path
    if events:
        path = folder / f"events.jsonl{suffix}"
        with _export_file(path, gzip) as out:
            _write_events(org, out)
        written["events"] = path
    return written
