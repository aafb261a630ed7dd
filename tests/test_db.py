"""The connection pool of `Database`: reuse without sharing, and nothing carried over from a
unit of work that failed or left a transaction open."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from conftest import wait_until

from assistant.db import IDLE_CONNECTIONS, Database
from assistant.errors import StorageError

ADD = "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, 'x', 'x')"


def test_a_connection_is_reused_with_the_same_pragmas(db_path):
    db = Database(db_path, busy_timeout=2.5)
    with db.connect() as conn:
        first = id(conn)
    with db.connect() as conn:
        assert id(conn) == first
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_units_of_work_at_the_same_time_get_different_connections(db_path):
    db = Database(db_path)
    with db.connect() as outer, db.connect() as inner:
        assert outer is not inner


def test_a_transaction_left_open_is_rolled_back_before_the_next_use(db_path):
    db = Database(db_path)
    with db.connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(ADD, ("half done",))
    with db.connect() as conn:
        assert not conn.in_transaction
        assert conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 0
    with db.transaction() as conn:  # the write lock was released too
        conn.execute(ADD, ("whole",))


def test_a_connection_that_met_an_error_is_not_lent_again(db_path):
    db = Database(db_path)
    with pytest.raises(StorageError), db.connect() as conn:
        broken = conn
        conn.execute("SELECT * FROM no_such_table")
    with db.connect() as conn:
        assert conn is not broken
    with pytest.raises(sqlite3.ProgrammingError):
        broken.execute("SELECT 1")  # closed


def test_a_failed_transaction_leaves_nothing_behind(db_path):
    db = Database(db_path)
    with pytest.raises(ValueError), db.transaction() as conn:
        conn.execute(ADD, ("never",))
        raise ValueError("the caller changed its mind")
    with db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 0


def test_threads_share_the_pool_safely_and_it_stays_small(db_path):
    db = Database(db_path)
    threads, per_thread = 16, 40
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(number: int) -> None:
        try:
            start.wait()
            for index in range(per_thread):
                with db.transaction() as conn:
                    conn.execute(ADD, (f"{number}-{index}",))
                with db.connect() as conn:
                    conn.execute("SELECT COUNT(*) FROM conversations").fetchone()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with db.connect() as conn:
        assert (
            conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == threads * per_thread
        )
    assert len(db._idle) <= IDLE_CONNECTIONS


def test_close_closes_the_idle_connections(db_path):
    db = Database(db_path)
    with db.connect() as conn:
        idle = conn
    db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        idle.execute("SELECT 1")
    with db.connect() as conn:  # and the database can still be used
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_idle_connections_are_closed_after_a_while_and_the_wal_folded_in(db_path):
    db = Database(db_path, idle_close_s=0.2)
    with db.transaction() as conn:
        conn.execute(ADD, ("kept",))
        lent = conn
    # The last connection's close checkpoints the WAL: then the file alone holds everything.
    # (Polled on the file: a query on the connection while it closes would keep the WAL.)
    wal = db_path.with_name(db_path.name + "-wal")
    wait_until(lambda: not wal.exists() or wal.stat().st_size == 0, timeout=5)
    assert not db._idle
    with pytest.raises(sqlite3.ProgrammingError):
        lent.execute("SELECT 1")
    copy = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True)
    assert copy.execute("SELECT title FROM conversations").fetchall() == [("kept",)]
    copy.close()


def test_the_change_stamp_moves_with_commits_only(db_path):
    """What an open chat's poll reads before it opens the file: commits (from another
    process too) change it; reading, and connections opening and closing, do not."""
    db = Database(db_path, idle_close_s=0.05)
    with db.connect() as conn:
        conn.execute("CREATE TABLE t (x)")
    db.close()
    quiet = db.change_stamp()
    with db.connect() as conn:  # a reader opens the file (and an empty WAL) and goes away
        conn.execute("SELECT count(*) FROM t").fetchone()
    assert db.change_stamp() == quiet
    db.close()
    assert db.change_stamp() == quiet
    other = sqlite3.connect(db_path)  # another process's commit
    other.execute("INSERT INTO t VALUES (1)")
    other.commit()
    written = db.change_stamp()
    assert written != quiet
    other.execute("INSERT INTO t VALUES (2)")
    other.commit()
    assert db.change_stamp() != written
    other.close()
