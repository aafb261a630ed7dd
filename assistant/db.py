"""SQLite connections: WAL, foreign keys, a busy timeout, and clear errors for bad files.

Streamlit runs every script run in a thread of its own (a new one per run) and our generation
workers are threads too, so a connection is never used by two threads at once:
`Database.connect()` lends one for a unit of work and takes it back afterwards. Lent
connections come from a small pool of idle ones, because opening one costs far more than a
query (0.7 ms against 5 µs: registering functions, pragmas, reading the schema) and a page run
does a couple of dozen units of work. A connection goes back only when it is clean (no open
transaction) and its last unit of work met no SQLite error; any other is closed, so a failing
disk or a damaged file is met afresh by the next unit of work. Idle connections are closed
after `IDLE_CLOSE_S`: an app nobody uses holds the file open nowhere, so the last close folds
the WAL back into the file (a copy of it is then complete) and a disk can be unmounted.
Every connection has the same pragmas (foreign keys, busy timeout) and the file is in WAL
mode, so readers never block the writer. Migrations run once, when a `Database` is opened.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from assistant import migrations
from assistant.errors import StorageError
from assistant.i18n import _
from assistant.textsearch import register_functions

BUSY_TIMEOUT_MS = 5_000
IDLE_CONNECTIONS = 8  # kept open for reuse; more lent at once are opened and closed as before
IDLE_CLOSE_S = 2.0  # an idle connection older than this is closed (a page run takes less)


def _explain(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return _(
            "The database file {path} is damaged or is not an SQLite database. Move "
            "it aside (your other files are untouched) or set SQLITE_DB_PATH to "
            "another file."
        ).format(path=path)
    if (
        "readonly" in text
        or "read-only" in text
        or "unable to open" in text
        or "permission" in text
    ):
        return _(
            "The database file {path} cannot be opened for writing. Check the "
            "folder's permissions or set SQLITE_DB_PATH to a writable place."
        ).format(path=path)
    if "full" in text or "disk i/o error" in text:
        return _(
            "The disk that holds the database file {path} is full or failing. Free "
            "some space, or check the disk."
        ).format(path=path)
    if "locked" in text or "busy" in text:
        return _("The database file {path} is busy (locked by another program). Try again.").format(
            path=path
        )
    return _("The database file {path} could not be used: {exc}").format(path=path, exc=exc)


class Database:
    """A path plus the knowledge of how to open it properly."""

    def __init__(
        self,
        path: Path | str,
        busy_timeout: float = BUSY_TIMEOUT_MS / 1000,
        idle_close_s: float = IDLE_CLOSE_S,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout  # how long a statement waits for another's lock
        self.idle_close_s = idle_close_s
        self._idle: list[tuple[sqlite3.Connection, float]] = []  # (connection, idle since)
        self._idle_lock = threading.Lock()
        self._reaper: threading.Timer | None = None
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                _(
                    "Cannot create the folder for the database file {path}: {strerror}. Set "
                    "SQLITE_DB_PATH to a writable place."
                ).format(path=self.path, strerror=exc.strerror)
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

    def _open(self) -> sqlite3.Connection:
        try:
            # Lent to one thread at a time, but not always the thread that opened it.
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StorageError(_explain(self.path, exc)) from exc
        try:
            conn.row_factory = sqlite3.Row
            register_functions(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            conn.close()
            raise StorageError(_explain(self.path, exc)) from exc
        return conn

    def _lend(self) -> sqlite3.Connection:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()[0]
        return self._open()

    def _take_back(self, conn: sqlite3.Connection, clean: bool) -> None:
        if clean and conn.in_transaction:
            try:
                conn.rollback()  # a unit of work that neither committed nor failed
            except sqlite3.Error:
                clean = False
        if clean:
            with self._idle_lock:
                if len(self._idle) < IDLE_CONNECTIONS:
                    self._idle.append((conn, time.monotonic()))
                    self._schedule_reaper()
                    return
        conn.close()

    def _schedule_reaper(self) -> None:
        """(With the lock held.) Make sure idle connections get closed in time."""
        if self._reaper is None:
            self._reaper = threading.Timer(self.idle_close_s, self._reap)
            self._reaper.daemon = True
            self._reaper.start()

    def _reap(self) -> None:
        cutoff = time.monotonic() - self.idle_close_s
        with self._idle_lock:
            self._reaper = None
            old = [conn for conn, since in self._idle if since <= cutoff]
            self._idle = [(conn, since) for conn, since in self._idle if since > cutoff]
            if self._idle:
                self._schedule_reaper()
        for conn in old:
            conn.close()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one unit of work; commits on success, rolls back on error.

        In autocommit mode (`isolation_level=None`) each statement outside an explicit
        transaction commits by itself; `transaction()` opens one explicitly.
        """
        conn = self._lend()
        clean = True
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            clean = False
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.rollback()
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise StorageError(_explain(self.path, exc)) from exc
        finally:
            self._take_back(conn, clean)

    def change_stamp(self) -> tuple[tuple[int, int] | None, ...]:
        """A value that changes whenever a transaction commits (here, in another process or
        on another thread), read without opening the file: the time and size of the database
        and of its WAL (every commit appends to the WAL; a checkpoint writes the file). An
        empty WAL counts as none: the first reader creates it and the last one deletes it,
        and neither is a change. A poll asks this first and reads the database only when it
        changed, so an app nobody writes to holds the file open nowhere (`IDLE_CLOSE_S`)."""
        stamps: list[tuple[int, int] | None] = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                info = path.stat()
            except OSError:
                stamps.append(None)
            else:
                stamps.append((info.st_mtime_ns, info.st_size) if info.st_size else None)
        return tuple(stamps)

    def close(self) -> None:
        """Close the idle connections (those lent out close when they come back)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn, _since in idle:
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
