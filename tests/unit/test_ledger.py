"""The ledger remembers exactly what Customer.io accepted, across runs, threads and crashes."""

from __future__ import annotations

import contextlib
import csv
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_desktop.config import private
from cio_desktop.config.private import FileInUseError
from cio_desktop.sync.ledger import (
    SCHEMA_VERSION,
    Checkpoint,
    ErrorWrite,
    EventWrite,
    Ledger,
    LedgerBusyError,
    LedgerError,
    PersonWrite,
    RunStatus,
    ledger_path,
)
from cio_desktop.sync.model import KnownPerson


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite3", clock=clock)
    yield led
    led.close()


def test_ledger_of_a_profile_lives_in_the_profile_data_dir(isolated_home: Path) -> None:
    path = ledger_path("Acme")
    assert path == isolated_home / "data" / "Acme" / "ledger.sqlite3"
    with Ledger.for_profile("Acme") as led:
        assert led.path.exists()
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_identified_person_is_known_by_hull_id_with_hash_and_creation_time(ledger: Ledger, clock: Clock) -> None:
    ledger.record_sent(
        None, people=[PersonWrite("c1", "h1", payload_hash="aa", attributes={"email": "a@x.io", "n": 1})]
    )
    known = ledger.known_by_hull_id(["h1", "h2"])
    assert set(known) == {"h1"}
    person = known["h1"]
    assert (person.customer_id, person.payload_hash, person.created_at, person.deleted_at) == (
        "c1",
        "aa",
        clock.t,
        None,
    )
    assert ledger.last_attributes("c1") == {"email": "a@x.io", "n": 1}
    assert ledger.known_by_customer_id(["c1"])["c1"].hull_id == "h1"


def test_bulk_lookup_handles_more_ids_than_sqlite_allows_in_one_statement(ledger: Ledger) -> None:
    ledger.record_sent(None, people=[PersonWrite(f"c{i}", f"h{i}", payload_hash="x") for i in range(2500)])
    known = ledger.known_by_hull_id([f"h{i}" for i in range(0, 5000)])
    assert len(known) == 2500
    assert known["h2499"].customer_id == "c2499"


def test_changed_person_keeps_its_original_creation_time(ledger: Ledger, clock: Clock) -> None:
    ledger.record_sent(None, people=[PersonWrite("c1", "h1", payload_hash="v1")])
    created = clock.t
    clock.t += 100
    ledger.record_sent(None, people=[PersonWrite("c1", "h1", payload_hash="v2")])
    person = ledger.known_by_hull_id(["h1"])["h1"]
    assert person.payload_hash == "v2"
    assert person.created_at == created


def test_deleted_person_is_marked_and_recreated_later_with_a_new_creation_time(ledger: Ledger, clock: Clock) -> None:
    ledger.record_sent(None, people=[PersonWrite("c1", "h1", payload_hash="v1")])
    clock.t += 10
    ledger.record_sent(None, people=[PersonWrite("c1", "h1", deleted=True)])
    gone = ledger.known_by_hull_id(["h1"])["h1"]
    assert gone.deleted_at == clock.t
    assert gone.payload_hash is None
    clock.t += 10
    ledger.record_sent(None, people=[PersonWrite("c1", "h1", payload_hash="v1")])
    back = ledger.known_by_hull_id(["h1"])["h1"]
    assert back.deleted_at is None
    assert back.created_at == clock.t


def test_merge_replaces_the_old_customer_id(ledger: Ledger) -> None:
    ledger.record_sent(None, people=[PersonWrite("old", "h1", payload_hash="v1")])
    ledger.record_sent(None, people=[PersonWrite("new", "h1", payload_hash="v2", merged_from="old")])
    assert ledger.known_by_customer_id(["old", "new"]).keys() == {"new"}
    assert ledger.known_by_hull_id(["h1"])["h1"].customer_id == "new"


def test_current_person_wins_over_a_deleted_one_with_the_same_hull_id(ledger: Ledger, clock: Clock) -> None:
    ledger.record_sent(None, people=[PersonWrite("a", "h1", payload_hash="v1")])
    clock.t += 1
    ledger.record_sent(None, people=[PersonWrite("b", "h1", payload_hash="v2")])
    clock.t += 1
    ledger.record_sent(None, people=[PersonWrite("a", "h1", deleted=True)])
    assert ledger.known_by_hull_id(["h1"])["h1"].customer_id == "b"


def test_people_created_and_not_seen_among_members_are_deletion_candidates(ledger: Ledger) -> None:
    ledger.record_sent(None, people=[PersonWrite(f"c{i}", f"h{i}", payload_hash="x") for i in range(5)])
    ledger.record_sent(None, people=[PersonWrite("c4", "h4", deleted=True)])
    ledger.begin_seen()
    ledger.mark_seen(["h0", "h2", "unknown"])
    missing = [p.customer_id for p in ledger.known_not_seen(page_size=1)]
    assert missing == ["c1", "c3"]  # c4 already deleted
    ledger.end_seen()
    with pytest.raises(RuntimeError):
        list(ledger.known_not_seen())


def test_events_sent_are_remembered(ledger: Ledger) -> None:
    ledger.record_sent(None, events=[EventWrite("e1", "01H0000000000000000000000A")])
    ledger.record_sent(None, events=[EventWrite("e1", "01H0000000000000000000000A")])  # idempotent
    assert ledger.sent_event_ids(["e1", "e2"]) == {"e1"}
    assert ledger.events_sent_count() == 1


def test_a_batch_is_recorded_all_or_nothing(ledger: Ledger) -> None:
    bad_error = ErrorWrite("http", None)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        ledger.record_sent(
            1, people=[PersonWrite("c1", "h1", payload_hash="x")], events=[EventWrite("e1", "u")], errors=[bad_error]
        )
    assert ledger.known_by_hull_id(["h1"]) == {}
    assert ledger.sent_event_ids(["e1"]) == set()


def test_checkpoints_round_trip_floats_exactly(ledger: Ledger) -> None:
    assert ledger.checkpoint_float(Checkpoint.EVENTS) is None
    ledger.set_checkpoint(Checkpoint.EVENTS, 1700000000.123456)
    ledger.set_checkpoint(Checkpoint.EVENTS, 1700000001.654321)
    assert ledger.checkpoint_float(Checkpoint.EVENTS) == 1700000001.654321


def test_run_lifecycle_with_counts_and_errors(ledger: Ledger, clock: Clock) -> None:
    run_id = ledger.start_run("full")
    assert ledger.runs()[0].status is RunStatus.RUNNING
    ledger.record_sent(
        run_id,
        errors=[
            ErrorWrite("rejected", "value for attribute 'bio' cannot be longer than 1000 bytes", "c1", "h1", "bio"),
            ErrorWrite("http", "Customer.io answered 500", "c2", "h2"),
        ],
    )
    clock.t += 12.5
    run = ledger.finish_run(run_id, RunStatus.COMPLETED, counts={"identify (new)": 3}, failed=2, message="ok")
    assert run.status is RunStatus.COMPLETED
    assert run.duration_s == 12.5
    assert dict(run.counts) == {"identify (new)": 3}
    assert run.failed == 2
    assert [e.customer_id for e in ledger.run_errors(run_id)] == ["c1", "c2"]
    assert [e.field for e in ledger.run_errors(run_id, search="BIO")] == ["bio"]
    assert ledger.run_errors(run_id, search="100%") == []
    assert len(ledger.run_errors(run_id, limit=1)) == 1
    assert ledger.last_run(status=RunStatus.COMPLETED, modes=["full"]) == run
    assert ledger.last_run(modes=["incremental"]) is None


def test_errors_export_to_csv_safe_for_spreadsheets(ledger: Ledger, tmp_path: Path) -> None:
    run_id = ledger.start_run("full")
    ledger.record_errors(
        run_id,
        [
            ErrorWrite("rejected", '=HYPERLINK("http://evil")', "c1", "h1", "name"),
            ErrorWrite("rejected", 'accents éà, "quotes"', "c2", "h2"),
        ],
    )
    out = tmp_path / "errs" / "run.csv"
    assert ledger.export_errors_csv(run_id, out) == 2
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["time", "customer_id", "hull_id", "kind", "field", "message"]
    assert rows[1][5].startswith("'=")
    assert rows[2][5] == 'accents éà, "quotes"'
    assert rows[1][0].endswith("Z")


@pytest.mark.parametrize("windows", [True, False], ids=["windows", "posix"])
def test_exporting_over_a_csv_another_program_holds_open_says_so_and_keeps_the_file(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, windows: bool
) -> None:
    run_id = ledger.start_run("full")
    ledger.record_errors(run_id, [ErrorWrite("rejected", "too long", "c1", "h1")])
    out = tmp_path / "exports" / "errors of run 1.csv"
    assert ledger.export_errors_csv(run_id, out) == 1
    before = out.read_bytes()

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise PermissionError(13, "Permission denied", str(src), None, str(dst))

    monkeypatch.setattr(private, "_WINDOWS", windows)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(FileInUseError) as err:
        ledger.export_errors_csv(run_id, out)
    if windows:  # Excel keeps an open CSV locked: Windows refuses to replace it
        assert str(err.value).startswith(
            "errors of run 1.csv is open in another program (Excel?): close it and export again."
        )
    else:
        assert str(err.value) == f"{out} cannot be replaced (Permission denied): check that you may change it."
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == [out.name], "no temporary file left behind"


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted_at_next_open(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    code = (
        "import os; from cio_desktop.sync.ledger import Ledger;"
        f"l = Ledger({str(path)!r}); l.start_run('full'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with Ledger(path) as led:
        run = led.runs()[0]
        assert run.status is RunStatus.INTERRUPTED
        assert "stopped" in run.message
        # and a new run can start
        assert led.start_run("full") > run.id


def test_a_second_open_of_the_ledger_cannot_start_a_run_while_one_runs(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as first, Ledger(path) as second:
        rid = first.start_run("full")
        with pytest.raises(LedgerBusyError, match="Another sync of this profile is running") as busy:
            second.start_run("incremental")
        assert f"process {os.getpid()}, full sync run {rid} started " in str(busy.value)
        assert [r.status for r in second.runs()] == [RunStatus.RUNNING], "a busy start records nothing"
        first.finish_run(rid, RunStatus.COMPLETED, counts={}, failed=0)
        assert second.start_run("incremental") == rid + 1


def test_a_run_of_another_live_process_is_busy_and_not_taken_for_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    code = (
        "import time; from cio_desktop.sync.ledger import Ledger;"
        f"l = Ledger({str(path)!r}); print(l.start_run('full'), flush=True); time.sleep(60)"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            rid = int(child.stdout.readline())
            with Ledger(path) as led:
                run = led.run(rid)
                assert run is not None and run.status is RunStatus.RUNNING
                with pytest.raises(LedgerBusyError, match=f"process {child.pid}, full sync run {rid}"):
                    led.start_run("full")
        finally:
            child.kill()
            child.wait(timeout=10)
    with Ledger(path) as led:
        assert led.runs()[0].status is RunStatus.INTERRUPTED
        assert led.start_run("full") == rid + 1


def test_ledger_from_a_newer_version_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LedgerError, match="newer cio-desktop"):
        Ledger(path)


def test_damaged_ledger_file_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match="move it aside"):
        Ledger(path)


def test_concurrent_writers_and_readers_do_not_lose_records(ledger: Ledger) -> None:
    def writer(t: int) -> None:
        for i in range(50):
            ledger.record_sent(
                None,
                people=[PersonWrite(f"c{t}-{i}-{j}", f"h{t}-{i}-{j}", payload_hash="x") for j in range(10)],
                events=[EventWrite(f"e{t}-{i}", "u")],
            )
            ledger.known_by_hull_id([f"h{t}-{i}-0"])

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert ledger.people_count() == 4 * 50 * 10
    assert ledger.events_sent_count() == 200


def test_a_version_1_ledger_is_upgraded_in_place_keeping_its_people(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE people (customer_id TEXT PRIMARY KEY NOT NULL, hull_id TEXT, payload_hash TEXT,
            attributes BLOB, created_at REAL, deleted_at REAL, synced_at REAL);
        INSERT INTO people VALUES ('c1', 'h1', 'aa', NULL, 1.0, NULL, 2.0);
        PRAGMA user_version=1;
        """
    )
    conn.close()
    with Ledger(path) as led:
        person, fp = led.known_with_fingerprints(["h1"])["h1"]
        assert (person.customer_id, person.payload_hash, fp) == ("c1", "aa", None)
        led.record_sent(None, people=[PersonWrite("c1", "h1", payload_hash="bb", source_fp="f1")])
        assert led.known_with_fingerprints(["h1"])["h1"][1] == "f1"
        led.set_fingerprints([("c1", "f2", None)])
        assert led.known_with_fingerprints(["h1"])["h1"][1] == "f2"
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_version_3_ledger_gains_the_run_outcome_columns_and_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, mode TEXT NOT NULL, started_at REAL NOT NULL,"
            " ended_at REAL, status TEXT NOT NULL, counts TEXT NOT NULL DEFAULT '{}', failed INTEGER NOT NULL"
            " DEFAULT 0, message TEXT NOT NULL DEFAULT '', pid INTEGER);"
            "INSERT INTO runs (mode, started_at, ended_at, status, counts) VALUES"
            " ('full', 1.0, 2.0, 'completed', '{\"identify (new)\": 3}');"
            "PRAGMA user_version=3;"
        )
    with Ledger(path) as led:
        (old,) = led.runs()
        assert old.status is RunStatus.COMPLETED and old.counts == {"identify (new)": 3}
        assert old.withheld == 0 and old.unreadable == 0 and old.audience is None
        rid = led.start_run("full")
        led.record_withheld(rid, [("c1", "h1")])
        done = led.finish_run(rid, RunStatus.DELETIONS_WITHHELD, counts={}, failed=0, withheld=1, audience=10)
        assert done.withheld == 1 and [w.customer_id for w in led.withheld_deletions(rid)] == ["c1"]
        assert led.last_clean_audience() is None, "a run that withheld deletions is no baseline"


def test_a_version_4_ledger_gains_what_runs_sent_and_their_people_lists(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as led:
        rid = led.start_run("full")
        led.finish_run(rid, RunStatus.COMPLETED, counts={"identify (new)": 2}, failed=0)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "DROP TABLE run_people; ALTER TABLE runs DROP COLUMN people_sent; ALTER TABLE runs DROP COLUMN events_sent;"
            " ALTER TABLE runs DROP COLUMN problem;"
            " PRAGMA user_version=4;"
        )
    with Ledger(path) as led:
        (old,) = led.runs()
        assert old.counts == {"identify (new)": 2} and old.people_sent is None, "older runs: sent is not known"
        rid = led.start_run("full")
        led.record_run_people(rid, [("h1", "c1", "create", "identify (new)", "new person", "Jane <j@x.io>")])
        led.mark_run_people_sent(rid, [("h1", "c1")])
        done = led.finish_run(rid, RunStatus.COMPLETED, counts={"identify (new)": 1}, failed=0, people_sent=1)
        assert done.people_sent == 1
        (jane,) = led.iter_run_people(rid, search="jane")
        assert jane.sent and jane.outcome(dry=False) == "created"
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_only_the_last_runs_keep_their_people_lists(ledger: Ledger) -> None:
    from cio_desktop.sync.run_people import KEEP_RUN_PEOPLE_FOR_RUNS

    ids = []
    for _ in range(KEEP_RUN_PEOPLE_FOR_RUNS + 2):
        rid = ledger.start_run("full")
        ledger.prune_run_people(rid)
        ledger.record_run_people(rid, [("h1", "c1", "unchanged", "skip: unchanged", "", "")])
        ledger.finish_run(rid, RunStatus.COMPLETED, counts={}, failed=0)
        ids.append(rid)
    kept = [rid for rid in ids if ledger.run_people_counts(rid)]
    assert kept == ids[-KEEP_RUN_PEOPLE_FOR_RUNS:]


def test_lookups_do_not_wait_for_a_sender_transaction_in_progress(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        led.record_sent(None, people=[PersonWrite("c1", "h1", payload_hash="x")])
        found: dict[str, tuple[KnownPerson, str | None]] = {}
        done = threading.Event()

        def look() -> None:
            found.update(led.known_with_fingerprints(["h1"]))
            done.set()

        with led._tx():  # a sender thread recording a request holds the ledger meanwhile
            threading.Thread(target=look).start()
            assert done.wait(5), "the lookup waited for the transaction"
        assert found["h1"][0].customer_id == "c1"


def test_a_ledger_made_before_accepted_accounts_were_recorded_gains_them_on_open_without_a_new_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as led:
        rid = led.start_run("full")
        led.finish_run(rid, RunStatus.COMPLETED, counts={"object identify (new)": 3}, failed=0, people_sent=0)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "ALTER TABLE runs DROP COLUMN objects_sent; ALTER TABLE runs DROP COLUMN relationships_sent;"
        )
    with Ledger(path) as led:
        (old,) = led.runs()
        assert old.counts == {"object identify (new)": 3}
        assert old.objects_sent is None and old.relationships_sent is None, "older runs: accepted is not known"
        rid = led.start_run("full")
        done = led.finish_run(rid, RunStatus.CANCELLED, counts={}, failed=0, objects_sent=2, relationships_sent=4)
        assert (done.objects_sent, done.relationships_sent) == (2, 4)
        assert led.run(rid) == done
    with contextlib.closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_the_runs_list_marks_who_was_sent_whether_or_not_their_row_was_written_yet(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cio_desktop.sync import run_people
    from cio_desktop.sync.run_people import Category, PeopleLog

    monkeypatch.setattr(run_people, "_FLUSH_EVERY", 4)
    rid = ledger.start_run("full")
    log = PeopleLog(ledger, lambda: rid)
    log.add_rows([("h1", "c1", "create", "identify (new)", "new person", "One")])
    log.add("h2", "c2", Category.UNCHANGED, "skip: unchanged", "same data as the last sync", "Two")
    log.sent([("h1", "c1")])  # still buffered: written now, with its mark
    assert [(p.hull_id, p.sent) for p in ledger.iter_run_people(rid)] == [("h1", True)]
    log.add_rows([("h3", "c3", "create", "identify (new)", "new person", "Three")] * 2)  # the later row wins
    log.add("h4", "c4", Category.UPDATE, "identify (changed)", "data changed", "Four")
    log.add("h5", "", Category.SKIP, "skip: no customerId", "no value", "Five")  # 4 buffered: written
    log.sent([("h3", "c3"), ("h4", "c4")])  # written before they were accepted: marked
    log.flush()
    people = {p.hull_id: (p.sent, p.category) for p in ledger.iter_run_people(rid)}
    assert people == {
        "h1": (True, Category.CREATE),
        "h2": (False, Category.UNCHANGED),
        "h3": (True, Category.CREATE),
        "h4": (True, Category.UPDATE),
        "h5": (False, Category.SKIP),
    }
