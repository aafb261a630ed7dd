"""Numbered schema migrations, applied in order and recorded in `schema_migrations`.

Never edit a migration that has shipped: add the next number. Each one runs in its own
transaction together with the row that records it, so a failed migration leaves the previous
schema intact.

Data model (version 1)
- conversations: id, title, created_at, updated_at (ISO-8601 UTC text).
- messages: ordered inside a conversation by the integer `seq`, never by time. An assistant
  message points at the user message it answers (`reply_to`); several answers to one user
  message are versions (regenerate / retry), the newest shown by default. Assistant messages
  carry their lifecycle `status` and a snapshot of what produced them (provider, model,
  parameters as JSON, system prompt text) plus usage and timings. `owner` and `heartbeat_at`
  tell a live generation from one whose process died.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "conversations and messages",
        """
        CREATE TABLE conversations (
            id          INTEGER PRIMARY KEY,
            title       TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE INDEX conversations_by_activity ON conversations(updated_at DESC, id DESC);

        CREATE TABLE messages (
            id                 INTEGER PRIMARY KEY,
            conversation_id    INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq                INTEGER NOT NULL,
            role               TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content            TEXT NOT NULL DEFAULT '',
            status             TEXT NOT NULL CHECK (status IN (
                                   'complete', 'pending', 'streaming', 'stopped',
                                   'error', 'interrupted')),
            reply_to           INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            provider           TEXT,
            model              TEXT,
            params             TEXT,
            system_prompt      TEXT,
            prompt_tokens      INTEGER,
            completion_tokens  INTEGER,
            first_token_s      REAL,
            total_s            REAL,
            finish_reason      TEXT,
            error              TEXT,
            owner              TEXT,
            heartbeat_at       REAL,
            created_at         TEXT NOT NULL,
            updated_at         TEXT NOT NULL,
            UNIQUE (conversation_id, seq)
        );
        CREATE INDEX messages_by_reply ON messages(reply_to);
        CREATE INDEX messages_live ON messages(status) WHERE status IN ('pending', 'streaming');
        """,
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )


def current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply every migration above the current version (up to `target`); returns the version."""
    target = LATEST_VERSION if target is None else target
    _ensure_table(conn)
    version = current_version(conn)
    if version > LATEST_VERSION:
        raise sqlite3.DatabaseError(
            f"database schema version {version} is newer than this app ({LATEST_VERSION}); "
            "upgrade the app"
        )
    for number, name, sql in MIGRATIONS:
        if number <= version or number > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # executescript would commit the open transaction; run statements one by one.
            for statement in _split(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = number
    return version


def _split(sql: str) -> list[str]:
    """Split a migration into statements (complete_statement handles trigger bodies)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
