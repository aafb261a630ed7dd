"""SQLite connections: WAL, foreign keys, a busy timeout, and clear errors for bad files.

Streamlit runs every script run in its own thread and our generation workers are threads too,
so connections are never shared: `Database.connect()` opens one per unit of work (cheap for a
local file) and closes it afterwards. Migrations run once, when a `Database` is opened.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant import migrations
from assistant.errors import StorageError
from assistant.textsearch import register_functions

BUSY_TIMEOUT_MS = 5_000


def _explain(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"The database file {path} is damaged or is not an SQLite database. "
            "Move it aside (your other files are untouched) or set SQLITE_DB_PATH to another file."
        )
    if (
        "readonly" in text
        or "read-only" in text
        or "unable to open" in text
        or "permission" in text
    ):
        return (
            f"The database file {path} cannot be opened for writing. "
            "Check the folder's permissions or set SQLITE_DB_PATH to a writable place."
        )
    if "full" in text or "disk i/o error" in text:
        return (
            f"The disk that holds the database file {path} is full or failing. Free some "
            "space, or check the disk."
        )
    if "locked" in text or "busy" in text:
        return f"The database file {path} is busy (locked by another program). Try again."
    return f"The database file {path} could not be used: {exc}"


class Database:
    """A path plus the knowledge of how to open it properly."""

    def __init__(self, path: Path | str, busy_timeout: float = BUSY_TIMEOUT_MS / 1000) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout  # how long a statement waits for another's lock
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"Cannot create the folder for the database file {self.path}: {exc.strerror}. "
                "Set SQLITE_DB_PATH to a writable place."
            ) from exc
        with self.connect() as conn:
            try:
                self._use_wal(conn)
                migrations.migrate(conn)
            except sqlite3.Error as exc:
                raise StorageError(_explain(self.path, exc)) from exc

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new file to WAL. The switch needs an exclusive lock and SQLite does not wait
        for it (no busy handler), so processes opening a new file at once retry until the busy
        timeout; a file already in WAL needs no lock at all."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                    return
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection; commits on success, rolls back on error, always closes."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(_explain(self.path, exc)) from exc
        try:
            conn.row_factory = sqlite3.Row
            register_functions(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            yield conn
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.rollback()
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise StorageError(_explain(self.path, exc)) from exc
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE, so writers queue instead of failing later)."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def schema_version(self) -> int:
        with self.connect() as conn:
            return migrations.current_version(conn)
