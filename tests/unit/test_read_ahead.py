"""Reading an export file in a second process (sync/read_ahead.py): the same users, in the same order,
with the same problems, as the run's own read; a file changed under it, a reading process that fails
or is no longer wanted, and the choice of when to use one."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cio_desktop.hull import files_readers
from cio_desktop.hull.files import FileSource
from cio_desktop.hull.files_readers import OpenedFile, Row, read_json_lines
from cio_desktop.hull.source import SourceError, Stream
from cio_desktop.parallel import WORKERS_ENV
from cio_desktop.sync import read_ahead
from cio_desktop.sync.digest import NOT_COMPUTED, material_fp, to_the_second, user_line
from cio_desktop.sync.read_ahead import Users, digest_pages, reading_processes

CTX_FP = "0123456789abcdef"
ACCOUNT_KEYS = ("domain",)


def _user(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"user-{n:04d}",  # not 19 digits in a row: those lines go the slow way
        "email": f"u{n}@example.com",
        "name": f"User {n}",
        "updated_at": f"2024-05-{1 + n % 28:02d}T10:{n % 60:02d}:07Z",
        "segment_ids": ["a"] if n % 3 else ["a", "b"],
        "account": {"domain": f"d{n % 4}.example"},
        **extra,
    }


def _messy_lines() -> list[bytes]:
    """Users the fast way, and every kind of line that is not: a byte order mark, a duplicate id (the
    later row counts), a bad row, a blank line, NaN (only the standard library reads it), an integer
    past 64 bits (orjson would read it as a float), CRLF line ends and non-ASCII text."""
    lines = [b"\xef\xbb\xbf" + json.dumps(_user(0)).encode()]
    lines += [json.dumps(_user(n)).encode() for n in range(1, 40)]
    lines.append(json.dumps(_user(5, name="Later row of 5")).encode())
    lines.append(b'{"id": broken')
    lines.append(b"")
    lines.append(json.dumps(_user(41)).encode().replace(b'"name"', b'"score": NaN, "name"'))
    lines.append(json.dumps(_user(42, big=123456789012345678901234567890)).encode())
    lines.append(json.dumps(_user(43, name="Zoë Ångström")).encode() + b"\r")
    lines += [json.dumps(_user(n)).encode() for n in range(44, 60)]
    return lines


def _write(path: Path, lines: list[bytes], *, gz: bool = False) -> Path:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (NaN is not equal to itself)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_each_fast_row_says_where_its_bytes_are_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(files_readers, "READ_BLOCK", block)  # lines cross many block boundaries
    lines = [*_messy_lines(), b"x" * 300, json.dumps(_user(70)).encode()]
    path = _write(tmp_path / "users.jsonl", lines)
    data = path.read_bytes()
    with OpenedFile(path, "users file") as opened:
        rows = [item for item in read_json_lines(opened, max_record=260) if isinstance(item, Row)]
    fast = [row for row in rows if row.raw is not None]
    assert len(fast) >= 55
    for row in fast:
        assert row.raw is not None
        assert data[row.offset : row.offset + len(row.raw)] == row.raw
        assert _same(json.loads(row.raw), row.value)
    # The lines the standard library reads (byte order mark, NaN, long integer) carry no bytes.
    assert {r.value["id"] for r in rows if r.raw is None} == {f"user-{n:04d}" for n in (0, 41, 42)}


@pytest.mark.parametrize(
    ("gz", "pread"), [(False, True), (False, False), (True, True)], ids=["plain", "windows", "gzip"]
)
def test_the_reading_process_gives_the_users_and_problems_of_the_runs_own_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool, pread: bool
) -> None:
    if not pread:  # Windows has no os.pread: the run seeks and reads
        monkeypatch.setattr(read_ahead, "_pread", None)
    path = _write(tmp_path / ("users.jsonl.gz" if gz else "users.jsonl"), _messy_lines(), gz=gz)
    source = FileSource(path, workers=0)
    expected = list(source.iter_users(["b"]))
    report = source.read_report(Stream.USERS)
    assert report.unreadable == 1 and report.duplicates == 1

    digests = [d for page in digest_pages(
        source, ["b"], updated_since=None, ctx_fp=CTX_FP, account_keys=ACCOUNT_KEYS, page_size=4
    ) for d in page]  # fmt: skip
    users = Users(source.users_path, CTX_FP, ACCOUNT_KEYS)
    try:
        got = [users.user(d) for d in digests]
        users.verify()
    finally:
        users.close()
    assert _same(got, expected) and len(got) == len(expected) > 5
    assert [d[0] for d in digests] == [u["id"] for u in expected]
    assert [d[1] for d in digests] == [material_fp(CTX_FP, ACCOUNT_KEYS, u) for u in expected]
    assert [d[2] for d in digests] == [user_line(u) for u in expected]
    assert source.read_report(Stream.USERS) == report, "the run's read report is the reading process's"
    # Plain files: the users go by where their line is, never through the pipe; gzip: by their bytes.
    kinds = {type(packed).__name__ for _h, _f, _l, packed in digests}
    assert kinds == ({"bytes"} if gz else {"tuple", "bytes"})


def test_a_line_that_changed_since_it_was_read_stops_the_run(tmp_path: Path) -> None:
    lines = [json.dumps(_user(n)).encode() for n in range(30)]
    path = _write(tmp_path / "users.jsonl", lines)
    source = FileSource(path, workers=0)
    digests = [d for page in digest_pages(
        source, None, updated_since=None, ctx_fp=CTX_FP, account_keys=(), page_size=10
    ) for d in page]  # fmt: skip
    users = Users(path, CTX_FP, ())
    assert users.user(digests[3])["id"] == "user-0003"
    # A new export, same layout: other people where these were.
    _write(path, [json.dumps(_user(n + 100)).encode() for n in range(30)])
    with pytest.raises(SourceError, match=r"users.jsonl changed while it was read .*Nobody was deleted"):
        users.user(digests[3])
    # The same person, same length, updated since (another fingerprint): not the person the digest describes.
    _write(path, [json.dumps(_user(n)).encode().replace(b"T10:", b"T11:") for n in range(30)])
    with pytest.raises(SourceError, match="changed while it was read"):
        users.user(digests[4])
    path.write_bytes(b"")
    with pytest.raises(SourceError, match="changed while it was read"):
        users.user(digests[5])
    users.close()


def test_a_file_written_to_during_the_pass_stops_the_run(tmp_path: Path) -> None:
    lines = [json.dumps(_user(n)).encode() for n in range(30)]
    path = _write(tmp_path / "users.jsonl", lines)
    source = FileSource(path, workers=0)
    users = Users(path, CTX_FP, ())
    for _page in digest_pages(
        source, None, updated_since=None, ctx_fp=CTX_FP, account_keys=(), page_size=10, users=users
    ):
        pass
    users.verify()  # untouched: fine
    with path.open("ab") as f:
        f.write(json.dumps(_user(99)).encode() + b"\n")
    with pytest.raises(SourceError, match=r"changed while it was read \(it was written to\)"):
        users.verify()
    path.unlink()
    with pytest.raises(SourceError, match=r"changed while it was read \(it is gone\)"):
        users.verify()


def test_a_filtered_read_given_up_on_stops_at_once(tmp_path: Path) -> None:
    # Only the first 3 users are in "b": after them the reading process sends nothing for a long time.
    lines = [json.dumps(_user(n, segment_ids=["b"] if n < 3 else ["a"])).encode() for n in range(60_000)]
    path = _write(tmp_path / "users.jsonl", lines)
    source = FileSource(path, workers=0)
    source.count_users(None)
    stop = threading.Event()
    pages = digest_pages(
        source, ["b"], updated_since=None, ctx_fp=None, account_keys=(), page_size=3, wanted=lambda: not stop.is_set()
    )
    assert len(next(pages)) == 3
    stop.set()
    started = time.monotonic()
    assert list(pages) == []
    assert time.monotonic() - started < 1.0, "it stopped without waiting for the rest of the file"
    assert not multiprocessing.active_children()
    assert source.read_report(Stream.USERS).unreadable == 0


def test_what_the_reading_process_raises_is_raised_in_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "users.jsonl", [json.dumps(_user(n)).encode() for n in range(5)])
    source = FileSource(path, workers=0)
    source.count_users(None)
    real = source.users_meta_for_reader

    def then_gone() -> Any:
        out = real()
        path.unlink()  # gone between the metadata and the reading process's read
        return out

    monkeypatch.setattr(source, "users_meta_for_reader", then_gone)
    with pytest.raises(SourceError, match="does not exist") as raised:
        for _page in digest_pages(source, None, updated_since=None, ctx_fp=None, account_keys=(), page_size=2):
            pass
    assert not multiprocessing.active_children()
    cause = raised.value.__cause__
    assert isinstance(cause, read_ahead.RemoteTraceback) and "in _serve" in cause.text, "where it was raised"


class _TwoArguments(Exception):
    def __init__(self, path: str, message: str) -> None:  # pickle cannot make it again from its args
        super().__init__(f"{path}: {message}")


def test_an_error_that_cannot_come_back_as_it_was_comes_back_as_a_reader_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: Any, **_k: Any) -> None:
        raise _TwoArguments("users.jsonl", "a bug")

    monkeypatch.setattr(read_ahead, "FileSource", broken)
    receive, send = multiprocessing.Pipe(duplex=False)
    spec = read_ahead.ReaderSpec("users.jsonl", 1000, {}, None, None, None, None, (), 10)  # type: ignore[arg-type]
    read_ahead._serve(send, spec)  # what the reading process does, here
    kind, (error, where) = pickle.loads(receive.recv_bytes())
    assert kind == "error" and isinstance(error, read_ahead.ReaderError) and not isinstance(error, SourceError)
    assert "_TwoArguments in the process reading the file: users.jsonl: a bug" in str(error)
    assert "broken" in where


def test_a_reading_process_no_longer_wanted_is_stopped(tmp_path: Path) -> None:
    path = _write(tmp_path / "users.jsonl", [json.dumps(_user(n)).encode() for n in range(3000)])
    source = FileSource(path, workers=0)
    pages = digest_pages(source, None, updated_since=None, ctx_fp=CTX_FP, account_keys=(), page_size=10)
    assert len(next(pages)) == 10
    assert multiprocessing.active_children(), "the reading process runs ahead"
    pages.close()  # the run stopped (cancel, an error): the rest is not wanted
    assert not multiprocessing.active_children()


def test_reading_processes_started_early_read_what_they_are_told_and_the_rest_are_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Started while the run scans the file, told what to read once the pass begins.
    path = _write(tmp_path / "users.jsonl", [json.dumps(_user(n)).encode() for n in range(1200)])
    source = FileSource(path, workers=0)
    early = read_ahead.EarlyReaders(2)
    assert len(early) == 2 and len(multiprocessing.active_children()) == 2
    spawned: list[Any] = []
    real = read_ahead.multiprocessing.get_context

    def counting(method: str) -> Any:
        ctx = real(method)

        class Counting:
            Pipe = staticmethod(ctx.Pipe)

            def Process(self, *args: Any, **kwargs: Any) -> Any:
                spawned.append(kwargs.get("name"))
                return ctx.Process(*args, **kwargs)

        return Counting()

    monkeypatch.setattr(read_ahead.multiprocessing, "get_context", counting)
    pages = list(
        digest_pages(
            source, None, updated_since=None, ctx_fp=CTX_FP, account_keys=(), page_size=500, started_early=early
        )
    )
    monkeypatch.undo()
    assert spawned == [], "the waiting process read the file: none was started"
    assert [d[0] for page in pages for d in page] == [f"user-{n:04d}" for n in range(1200)]
    assert len(early) == 1, "one read the file, one still waits"
    early.close()
    assert len(early) == 0 and not multiprocessing.active_children(), "the one nobody took is stopped"


@pytest.mark.posix_only
def test_a_reading_process_leaves_ctrl_c_to_the_run(tmp_path: Path) -> None:
    # A terminal's Ctrl-C reaches the reading process too: the run cancels (and stops it); the reading
    # process itself reads on, so it never ends the run with its own KeyboardInterrupt.
    import signal

    path = _write(tmp_path / "users.jsonl", [json.dumps(_user(n)).encode() for n in range(3000)])
    source = FileSource(path, workers=0)
    pages = digest_pages(source, None, updated_since=None, ctx_fp=CTX_FP, account_keys=(), page_size=10)
    first = next(pages)
    (reader,) = multiprocessing.active_children()
    assert reader.pid is not None
    os.kill(reader.pid, signal.SIGINT)
    rest = [d for page in pages for d in page]
    assert len(first) + len(rest) == 3000 and not multiprocessing.active_children()


def test_when_a_reading_process_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "users.jsonl", [json.dumps(_user(n)).encode() for n in range(50)])
    source = FileSource(path, workers=0)
    monkeypatch.setattr(read_ahead, "PROCESS_MIN_BYTES", path.stat().st_size)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert reading_processes(source, dry=True, environ={}) == 2, "a plan sends nothing: both cores may read"
    assert reading_processes(source, dry=False, decides=True, environ={}) == 1, "one core decides, one sends"
    assert reading_processes(source, dry=False, environ={}) == 0, "reading alone does not pay a run on 2 cores"
    assert reading_processes(source, dry=False, environ={WORKERS_ENV: "1"}) == 1
    assert reading_processes(source, dry=True, environ={WORKERS_ENV: "0"}) == 0, "0: in the run's own process"
    assert reading_processes(source, dry=True, environ={WORKERS_ENV: "lots"}) == 0
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert reading_processes(source, dry=False, environ={}) == 4
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert reading_processes(source, dry=True, environ={}) == 0
    monkeypatch.setattr(read_ahead, "PROCESS_MIN_BYTES", path.stat().st_size + 1)
    assert reading_processes(source, dry=True, environ={WORKERS_ENV: "4"}) == 0, "too small to pay a process start"


def _clean_lines() -> list[bytes]:
    """No duplicate ids (so it can be read in ranges), and bad rows all along the file."""
    lines: list[bytes] = []
    for n in range(90):
        if n % 17 == 5:
            lines.append(b'{"id": "broken row %d' % n)
        elif n % 29 == 7:
            lines.append(json.dumps(_user(n, segment_ids=7)).encode())  # not a list: a bad row
        else:
            lines.append(json.dumps(_user(n)).encode())
    return lines


def _read_ahead(source: FileSource, readers: int) -> list[Any]:
    users = Users(source.users_path, CTX_FP, ACCOUNT_KEYS)
    try:
        pages = digest_pages(
            source, ["a"], updated_since=None, ctx_fp=CTX_FP, account_keys=ACCOUNT_KEYS, page_size=4, readers=readers
        )
        return [(d[0], d[1], d[2], users.user(d)) for page in pages for d in page]
    finally:
        users.close()


def test_several_reading_processes_read_the_file_in_ranges_with_its_problems_in_file_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "users.jsonl", _clean_lines())
    source = FileSource(path, workers=0)
    expected = list(source.iter_users(["a"]))
    report = source.read_report(Stream.USERS)
    assert report.unreadable == 8

    got = _read_ahead(source, readers=3)
    # Pages come range by range in turn: the same people, each once, in the same order every time.
    assert sorted(d[0] for d in got) == sorted(u["id"] for u in expected) and len(got) == len(expected)
    assert [d[0] for d in got] != [u["id"] for u in expected], "three ranges' pages in turn, not file order"
    assert [d[0] for d in _read_ahead(source, readers=3)] == [d[0] for d in got]
    by_id = {u["id"]: u for u in expected}
    for hid, material, line, user in got:
        assert (
            _same(user, by_id[hid]) and material == material_fp(CTX_FP, ACCOUNT_KEYS, user) and line == user_line(user)
        )
    assert source.read_report(Stream.USERS) == report, "problems merged in file order, lines from the file's start"


def test_a_file_with_duplicate_ids_is_read_whole(tmp_path: Path) -> None:
    path = _write(tmp_path / "users.jsonl", [*_clean_lines(), json.dumps(_user(3, name="Later row of 3")).encode()])
    source = FileSource(path, workers=0)
    expected = list(source.iter_users(["a"]))
    got = _read_ahead(source, readers=3)
    assert [d[0] for d in got] == [u["id"] for u in expected], "one process, in file order: the later row counts"
    assert _same([d[3] for d in got], expected)


def test_the_iso_shortcut_of_to_the_second_answers_as_the_pattern() -> None:
    texts = ["2024-05-01T10:07:07Z", "2024-05-01 10:07:07", "2024-05-01T10:07Z", "2024-05-01T1a:07:07Z"]
    texts += ["2024-05-01T10:07:0", "xxxxxxxxxxx12:34:56", "2024-05-01T\u0661\u0662:07:07Z", "2024-05-01T\u00b2:07:07Z"]
    for text in texts:
        assert to_the_second(text) == (read_ahead_pattern(text)), text
    assert NOT_COMPUTED != material_fp(CTX_FP, (), _user(1))


def read_ahead_pattern(text: str) -> bool:
    import re

    return re.search(r"\d:\d\d:\d\d", text) is not None or text.strip().isdigit()
