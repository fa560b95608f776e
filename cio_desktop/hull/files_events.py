"""Events of an export file oldest first, in bounded memory, whatever the size of the file.

A file already in time order (the usual export) is streamed as it is and never comes here. Otherwise
sorted runs of ``EVENT_SORT_CHUNK`` events are spilled to a private temporary folder and merged; ties
keep file order, so a re-run yields the same sequence.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cio_desktop.config.private import private_opener
from cio_desktop.hull.source import HullEvent

EVENT_SORT_CHUNK = 50_000

# (created_at, position in the file, event): sorting on the first two keeps ties in file order.
_Entry = tuple[float, int, HullEvent]


def sorted_by_time(events: Iterable[HullEvent], chunk: int = EVENT_SORT_CHUNK) -> Iterator[HullEvent]:
    """Events oldest first in bounded memory: sorted runs of ``chunk`` events spilled to temporary
    files, then merged. Ties keep file order."""
    with tempfile.TemporaryDirectory(prefix="cio-desktop-events-") as folder:
        runs: list[Path] = []
        buffer: list[_Entry] = []
        for seq, event in enumerate(events):
            buffer.append((event.created_at, seq, event))
            if len(buffer) >= chunk:
                runs.append(spill_run(sorted(buffer, key=_sort_key), Path(folder), len(runs)))
                buffer = []
        buffer.sort(key=_sort_key)
        if not runs:
            for _, _, event in buffer:
                yield event
            return
        if buffer:
            runs.append(spill_run(buffer, Path(folder), len(runs)))
            buffer = []
        for _, _, event in heapq.merge(*(_read_run(run) for run in runs), key=_sort_key):
            yield event


def _sort_key(item: _Entry) -> tuple[float, int]:
    return item[0], item[1]


def spill_run(items: list[_Entry], folder: Path, index: int) -> Path:
    """Write one sorted run to ``folder``; the file is private (0600): it holds people's events."""
    path = folder / f"run-{index}.pickle"
    with open(path, "wb", opener=private_opener) as out:
        for item in items:
            pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: Path) -> Iterator[_Entry]:
    # Only ever reads files this process just wrote into its own temporary folder.
    with path.open("rb") as run:
        while True:
            try:
                yield pickle.load(run)  # noqa: S301
            except EOFError:
                return


__all__ = ["EVENT_SORT_CHUNK", "sorted_by_time", "spill_run"]
