"""SQLite storage: migrations, pragmas, bad files, titles."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import seed
from conftest import wait_until

from assistant import migrations
from assistant.db import Database
from assistant.errors import StorageError
from assistant.store import FinalResult, Snapshot, Store, make_title, now_iso

SNAP = Snapshot("fake", "m")

ROOT = Path(__file__).resolve().parent.parent


def test_fresh_database_is_migrated_to_the_latest_version_with_wal(db_path):
    db = Database(db_path)
    assert db.schema_version() == migrations.LATEST_VERSION
    with db.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "messages", "schema_migrations"} <= tables


def test_migrating_twice_changes_nothing(db_path):
    Database(db_path)
    db = Database(db_path)
    with db.connect() as conn:
        rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == [m[0] for m in migrations.MIGRATIONS]


def test_every_migration_applies_on_top_of_the_previous_schema(db_path):
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        for number, _name, _sql in migrations.MIGRATIONS:
            assert migrations.migrate(conn, target=number) == number
            assert migrations.current_version(conn) == number


def test_a_database_from_a_newer_app_is_refused_clearly(db_path):
    Database(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'now')")
    with pytest.raises(StorageError, match="newer than this app"):
        Database(db_path)


def test_corrupt_database_file_gives_a_clear_message(db_path):
    db_path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StorageError, match="damaged or is not an SQLite database"):
        Database(db_path)
    assert db_path.read_bytes().startswith(b"this is not a database")  # left untouched


UNWRITABLE_CHECK = """
import os
import sys
from assistant.db import Database
from assistant.errors import StorageError
if os.geteuid() == 0:  # root may write anywhere: become `nobody` once the code is loaded
    os.setgid(65534)
    os.setuid(65534)
try:
    Database(sys.argv[1])
except StorageError as exc:
    print(exc)
    sys.exit(3)
"""


def _run_as_unprivileged_user(args: list[str]) -> subprocess.CompletedProcess:
    """Open the database in a child process that cannot write (as `nobody` under root)."""
    return subprocess.run(
        [sys.executable, "-c", UNWRITABLE_CHECK, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )


@pytest.fixture
def world_readable_dir():
    folder = Path(tempfile.mkdtemp(prefix="assistant-perm-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_unwritable_folder_gives_a_clear_message(world_readable_dir):
    locked = world_readable_dir / "locked"
    locked.mkdir(mode=0o555)
    result = _run_as_unprivileged_user([str(locked / "app.db")])
    assert result.returncode == 3, result.stderr
    assert "cannot be opened for writing" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_read_only_database_file_gives_a_clear_message(world_readable_dir):
    path = world_readable_dir / "app.db"
    Database(path).close()  # created and migrated by us (root or not), and let go
    path.chmod(0o444)
    for extra in ("-wal", "-shm"):
        sidecar = world_readable_dir / f"app.db{extra}"
        if sidecar.exists():
            sidecar.chmod(0o444)
    world_readable_dir.chmod(0o555)
    try:
        result = _run_as_unprivileged_user([str(path)])
    finally:
        world_readable_dir.chmod(0o755)
    assert result.returncode == 3, result.stderr
    assert "cannot be opened for writing" in result.stdout


def test_database_path_under_a_file_gives_a_clear_message(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="Cannot create the folder"):
        Database(blocker / "app.db")


def test_deleting_a_conversation_removes_its_messages(store):
    ids = seed.turn(store, None, "hello", Snapshot("fake", "m"))
    with store.db.connect() as conn:
        conn.execute("DELETE FROM conversations WHERE id = ?", (ids.conversation_id,))
        left = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert left == 0


def _next_millisecond() -> None:
    """Activity is stamped to the millisecond; two writes in one would tie (then id decides)."""
    stamp = now_iso()
    wait_until(lambda: now_iso() != stamp, timeout=1, interval=0.0005)


def test_conversations_are_listed_by_latest_activity(store):
    first = seed.finished_turn(store, None, "first", FinalResult("complete", "a"), SNAP)
    _next_millisecond()
    seed.turn(store, None, "second", SNAP)
    _next_millisecond()
    seed.turn(store, first.conversation_id, "first again", SNAP)
    assert [c.title for c in store.list_conversations()] == ["first", "second"]


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Hello", "Hello"),
        ("  many   spaces\nand lines ", "many spaces and lines"),
        (
            "Explain the difference between processes and threads in operating systems please",
            "Explain the difference between processes and…",
        ),
        ("x" * 100, "x" * 48 + "…"),
    ],
)
def test_titles_come_from_the_first_words(text, title):
    assert make_title(text) == title


def _v4_database(db_path):
    """A version-4 database as people have it: versions, a failure, an interrupted answer,
    and a conversation where two tabs left two live answers (what version 5 forbids)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrations.migrate(conn, target=4) == 4
    rows = [
        # conversation, seq, role, content, status, reply_to (seq), owner
        (1, 1, "user", "Explain WAL", "complete", None, None),
        (1, 2, "assistant", "Rate limited.", "error", 1, None),
        (1, 3, "assistant", "Write-ahead logging keeps…", "complete", 1, None),
        (1, 4, "user", "And checkpoints?", "complete", None, None),
        (1, 5, "assistant", "A checkpoint copies", "interrupted", 4, None),
        (2, 1, "user", "第一个问题", "complete", None, None),
        (2, 2, "assistant", "一半的回答", "streaming", 1, "oldhost:123:abcd"),
        (2, 3, "user", "second tab", "complete", None, None),
        (2, 4, "assistant", "", "pending", 3, None),
    ]
    for cid, title in ((1, "Explain WAL"), (2, "第一个问题")):
        conn.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at, uid)"
            " VALUES (?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?)",
            (cid, title, f"uid-{cid}"),
        )
    ids: dict[tuple[int, int], int] = {}
    for cid, seq, role, content, status, reply_seq, owner in rows:
        ids[(cid, seq)] = conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, reply_to, owner,"
            " heartbeat_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            (
                cid,
                seq,
                role,
                content,
                status,
                ids.get((cid, reply_seq)) if reply_seq else None,
                owner,
                1.0 if owner else None,
            ),
        ).lastrowid
    conn.close()
    return ids


def test_migration_5_keeps_every_message_and_leaves_one_live_answer_per_conversation(db_path):
    ids = _v4_database(db_path)
    store = Store(Database(db_path))  # migrates to the latest version
    first, second = store.messages(1), store.messages(2)
    assert [(m.content, m.status) for m in first] == [
        ("Explain WAL", "complete"),
        ("Rate limited.", "error"),
        ("Write-ahead logging keeps…", "complete"),
        ("And checkpoints?", "complete"),
        ("A checkpoint copies", "interrupted"),
    ]
    # The older live answer ends as interrupted with its text; the newest stays pending.
    assert [(m.content, m.status) for m in second] == [
        ("第一个问题", "complete"),
        ("一半的回答", "interrupted"),
        ("second tab", "complete"),
        ("", "pending"),
    ]
    assert "at the same time" in second[1].error
    with store.db.connect() as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, reply_to,"
            " created_at, updated_at) VALUES (2, 5, 'assistant', '', 'pending', ?, 't', 't')",
            (ids[(2, 3)],),
        )
    assert [h.message_id for h in store.search("一半")] == [ids[(2, 2)]]  # still searchable


# The conversations table's numbers as versions 1-5 computed them, over every message: the
# reference that the counts kept by version 6's triggers must equal.
SUMMARY_REFERENCE = """
    WITH per_conversation AS (
        SELECT conversation_id, COUNT(*) AS messages,
               GROUP_CONCAT(DISTINCT model) AS models,
               COALESCE(SUM(prompt_tokens), 0) + COALESCE(SUM(completion_tokens), 0) AS tokens
        FROM messages GROUP BY conversation_id
    ),
    shown_answers AS (
        SELECT conversation_id, status, MAX(seq) FROM messages WHERE role = 'assistant'
        GROUP BY reply_to
    ),
    problems AS (
        SELECT DISTINCT conversation_id FROM shown_answers
        WHERE status IN ('error', 'interrupted')
    )
    SELECT c.id, COALESCE(p.messages, 0), p.models, COALESCE(p.tokens, 0),
           c.id IN (SELECT conversation_id FROM problems)
    FROM conversations c LEFT JOIN per_conversation p ON p.conversation_id = c.id
    WHERE c.deleted_at IS NULL
"""


def _reference(conn: sqlite3.Connection) -> dict[int, tuple]:
    return {
        row[0]: (
            row[1],
            tuple(sorted(m for m in (row[2] or "").split(",") if m)),
            row[3],
            bool(row[4]),
        )
        for row in conn.execute(SUMMARY_REFERENCE)
    }


def _summaries(store: Store) -> dict[int, tuple]:
    return {s.id: (s.messages, s.models, s.tokens, s.has_problem) for s in store.summaries()}


def _v5_database(db_path) -> None:
    """A version-5 history as people have it: models and tokens, a retried failure, an
    interrupted answer, a live one, an empty conversation and one in the trash."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrations.migrate(conn, target=5) == 5
    stamp = "2026-03-01T10:00:00.000Z"
    conversations = [
        (1, "Explain WAL", None),
        (2, "第一个问题", None),
        (3, "Empty import", None),
        (4, "Old and trashed", stamp),
    ]
    for cid, title, deleted in conversations:
        conn.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at, uid, deleted_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (cid, title, stamp, stamp, f"uid-{cid}", deleted),
        )
    rows = [
        # conversation, seq, role, status, reply_to (seq), model, prompt, completion
        (1, 1, "user", "complete", None, None, None, None),
        (1, 2, "assistant", "error", 1, "gpt-4o", None, None),
        (1, 3, "assistant", "complete", 1, "gpt-4o-mini", 120, 340),
        (1, 4, "user", "complete", None, None, None, None),
        (1, 5, "assistant", "interrupted", 4, "gpt-4o", 130, 17),
        (2, 1, "user", "complete", None, None, None, None),
        (2, 2, "assistant", "complete", 1, "qwen2.5:7b", 40, 200),
        (2, 3, "user", "complete", None, None, None, None),
        (2, 4, "assistant", "streaming", 3, "qwen2.5:7b", None, None),
        (4, 1, "user", "complete", None, None, None, None),
        (4, 2, "assistant", "error", 1, "", None, None),
    ]
    ids: dict[tuple[int, int], int] = {}
    for cid, seq, role, status, reply_seq, model, prompt, completion in rows:
        ids[(cid, seq)] = conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, reply_to, model,"
            " prompt_tokens, completion_tokens, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, seq, role, f"text {cid}.{seq}", status, ids.get((cid, reply_seq)),
             model, prompt, completion, stamp, stamp),
        ).lastrowid  # fmt: skip
    conn.close()


def test_migration_6_gives_the_table_the_numbers_the_old_query_computed(db_path):
    _v5_database(db_path)
    with sqlite3.connect(db_path) as conn:
        before = _reference(conn)
    store = Store(Database(db_path))  # migrates to version 6
    assert store.db.schema_version() >= 6
    assert _summaries(store) == before
    assert before[1] == (5, ("gpt-4o", "gpt-4o-mini"), 607, True)  # the data says what it should
    assert before[3] == (0, (), 0, False)


def test_the_kept_counts_follow_every_change_of_the_history(store):
    other = Snapshot("openai", "gpt-b")

    def same_as_reference() -> None:
        with store.db.connect() as conn:
            assert _summaries(store) == _reference(conn)

    first = seed.finished_turn(
        store, None, "one", FinalResult("complete", "a", prompt_tokens=3), SNAP
    )
    same_as_reference()
    failed = seed.turn(store, first.conversation_id, "two", other)
    seed.finish(store, failed.assistant_message_id, FinalResult("error", "", error="boom"))
    same_as_reference()
    retry = seed.answer(store, failed.user_message_id, SNAP)
    same_as_reference()
    seed.finish(store, retry, FinalResult("complete", "ok", prompt_tokens=9, completion_tokens=4))
    same_as_reference()
    with store.db.transaction() as conn:  # a model renamed, then a message removed by hand
        conn.execute("UPDATE messages SET model = 'renamed' WHERE id = ?", (retry,))
    same_as_reference()
    with store.db.transaction() as conn:
        conn.execute("DELETE FROM messages WHERE id = ?", (failed.assistant_message_id,))
    same_as_reference()
    second = seed.finished_turn(store, None, "another", FinalResult("complete", "b"), other)
    store.trash(second.conversation_id)
    same_as_reference()
    store.restore(second.conversation_id)
    store.trash(first.conversation_id)
    store.delete_forever(first.conversation_id)
    same_as_reference()
    with store.db.connect() as conn:
        kept = conn.execute("SELECT conversation_id FROM conversation_stats").fetchall()
    assert [row[0] for row in kept] == [second.conversation_id]
