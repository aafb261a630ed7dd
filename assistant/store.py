"""Conversations and messages in SQLite. Knows nothing about providers or Streamlit.

Every write that must be all-or-nothing (a new turn, a finished answer) is one transaction.
Status changes that race (claiming a pending answer) are single conditional UPDATEs, so the
database, not Python, decides who wins.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from assistant.db import Database

TITLE_MAX_CHARS = 48
LIVE_STATUSES = ("pending", "streaming")
FINAL_STATUSES = ("complete", "stopped", "error", "interrupted")
# Answers the model may see again as context: finished and non-empty.
CONTEXT_STATUSES = ("complete", "stopped")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NotFound(LookupError):
    """A conversation or message id that does not exist."""


@dataclass(frozen=True)
class Snapshot:
    """What an answer depends on, frozen when the turn is created."""

    provider: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    system_prompt: str = ""


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    seq: int
    role: str
    content: str
    status: str
    reply_to: int | None
    provider: str | None
    model: str | None
    params: dict[str, Any]
    system_prompt: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    first_token_s: float | None
    total_s: float | None
    finish_reason: str | None
    error: str | None
    heartbeat_at: float | None
    created_at: str
    updated_at: str

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.provider or "", self.model or "", self.params, self.system_prompt or ""
        )


@dataclass(frozen=True)
class TurnIds:
    conversation_id: int
    user_message_id: int
    assistant_message_id: int


@dataclass(frozen=True)
class FinalResult:
    """Everything written when an answer ends, in one transaction."""

    status: str
    content: str
    finish_reason: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_s: float | None = None
    total_s: float | None = None


def make_title(text: str) -> str:
    """The first words of a message, cut at a word boundary."""
    words = re.sub(r"\s+", " ", text).strip()
    if len(words) <= TITLE_MAX_CHARS:
        return words or "New chat"
    cut = words[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] or words[:TITLE_MAX_CHARS]
    return cut.rstrip(" ,.;:") + "…"


_MESSAGE_COLUMNS = (
    "id, conversation_id, seq, role, content, status, reply_to, provider, model, params,"
    " system_prompt, prompt_tokens, completion_tokens, first_token_s, total_s, finish_reason,"
    " error, heartbeat_at, created_at, updated_at"
)


def _message(row: sqlite3.Row) -> Message:
    data = dict(row)
    data["params"] = json.loads(data["params"]) if data["params"] else {}
    return Message(**data)


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(**dict(row))


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- conversations -------------------------------------------------------------------

    def list_conversations(self, limit: int | None = 50) -> list[Conversation]:
        """Newest activity first; `limit=None` for all."""
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id, title, created_at, updated_at FROM conversations"
                " ORDER BY updated_at DESC, id DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [_conversation(r) for r in rows]

    def get_conversation(self, conversation_id: int) -> Conversation:
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT id, title, created_at, updated_at FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"Conversation {conversation_id} does not exist.")
        return _conversation(row)

    # -- messages ------------------------------------------------------------------------

    def messages(self, conversation_id: int) -> list[Message]:
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [_message(r) for r in rows]

    def get_message(self, message_id: int) -> Message:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"Message {message_id} does not exist.")
        return _message(row)

    def create_turn(self, conversation_id: int | None, text: str, snapshot: Snapshot) -> TurnIds:
        """The user message and its pending answer (and the conversation if new), atomically."""
        now = now_iso()
        with self.db.transaction() as conn:
            if conversation_id is None:
                conversation_id = conn.execute(
                    "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                    (make_title(text), now, now),
                ).lastrowid
            else:
                found = conn.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
                ).rowcount
                if not found:
                    raise NotFound(f"Conversation {conversation_id} does not exist.")
            seq = self._next_seq(conn, conversation_id)
            user_id = conn.execute(
                "INSERT INTO messages (conversation_id, seq, role, content, status,"
                " created_at, updated_at) VALUES (?, ?, 'user', ?, 'complete', ?, ?)",
                (conversation_id, seq, text, now, now),
            ).lastrowid
            answer_id = self._insert_pending(conn, conversation_id, seq + 1, user_id, snapshot, now)
        assert conversation_id is not None and user_id is not None
        return TurnIds(conversation_id, user_id, answer_id)

    def add_answer(self, user_message_id: int, snapshot: Snapshot) -> int:
        """A new pending answer to an existing user message (regenerate / retry)."""
        now = now_iso()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT conversation_id, role FROM messages WHERE id = ?", (user_message_id,)
            ).fetchone()
            if row is None or row["role"] != "user":
                raise NotFound(f"User message {user_message_id} does not exist.")
            conversation_id = row["conversation_id"]
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
            seq = self._next_seq(conn, conversation_id)
            return self._insert_pending(conn, conversation_id, seq, user_message_id, snapshot, now)

    @staticmethod
    def _next_seq(conn: sqlite3.Connection, conversation_id: int) -> int:
        row = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        return int(row[0])

    @staticmethod
    def _insert_pending(
        conn: sqlite3.Connection,
        conversation_id: int,
        seq: int,
        reply_to: int,
        snapshot: Snapshot,
        now: str,
    ) -> int:
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, reply_to,"
            " provider, model, params, system_prompt, created_at, updated_at)"
            " VALUES (?, ?, 'assistant', '', 'pending', ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                seq,
                reply_to,
                snapshot.provider,
                snapshot.model,
                json.dumps(snapshot.params, sort_keys=True),
                snapshot.system_prompt,
                now,
                now,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    # -- the answer's lifecycle ----------------------------------------------------------

    def claim(self, message_id: int, owner: str, now: float) -> bool:
        """pending -> streaming; True for exactly one caller."""
        with self.db.connect() as conn:
            return (
                conn.execute(
                    "UPDATE messages SET status = 'streaming', owner = ?, heartbeat_at = ?,"
                    " updated_at = ? WHERE id = ? AND status = 'pending'",
                    (owner, now, now_iso(), message_id),
                ).rowcount
                == 1
            )

    def checkpoint(self, message_id: int, content: str, now: float) -> None:
        with self.db.connect() as conn:
            conn.execute(
                "UPDATE messages SET content = ?, heartbeat_at = ?, updated_at = ?"
                " WHERE id = ? AND status = 'streaming'",
                (content, now, now_iso(), message_id),
            )

    def heartbeat(self, message_ids: Iterable[int], now: float) -> None:
        ids = list(message_ids)
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        with self.db.connect() as conn:
            conn.execute(
                f"UPDATE messages SET heartbeat_at = ? WHERE status = 'streaming'"
                f" AND id IN ({marks})",
                (now, *ids),
            )

    def finish(self, message_id: int, result: FinalResult) -> bool:
        """Write the final state of a live answer; False if it had already ended."""
        now = now_iso()
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE messages SET status = ?, content = ?, finish_reason = ?, error = ?,"
                " prompt_tokens = ?, completion_tokens = ?, first_token_s = ?, total_s = ?,"
                " heartbeat_at = NULL, updated_at = ?"
                " WHERE id = ? AND status IN ('pending', 'streaming')",
                (
                    result.status,
                    result.content,
                    result.finish_reason,
                    result.error,
                    result.prompt_tokens,
                    result.completion_tokens,
                    result.first_token_s,
                    result.total_s,
                    now,
                    message_id,
                ),
            ).rowcount
            if changed:
                conn.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id ="
                    " (SELECT conversation_id FROM messages WHERE id = ?)",
                    (now, message_id),
                )
        return changed == 1

    def recover_interrupted(self, owner: str, stale_before: float) -> list[int]:
        """Answers left `streaming` by a process that is gone become `interrupted`."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE messages SET status = 'interrupted', heartbeat_at = NULL, updated_at = ?,"
                " error = 'The app stopped while this answer was being written;"
                " the text so far was kept.'"
                " WHERE status = 'streaming' AND (owner IS NULL OR owner != ?)"
                " AND (heartbeat_at IS NULL OR heartbeat_at < ?) RETURNING id",
                (now_iso(), owner, stale_before),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def pending_answers(self, conversation_id: int) -> list[int]:
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND status = 'pending'"
                " ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def context_for(self, answer_id: int) -> tuple[Message, list[dict[str, str]]]:
        """The answer row and the chat messages to send for it, oldest first.

        Finished user messages before the answered one, each followed by its newest answer that
        the model may see (complete or stopped, non-empty); then the answered user message.
        Pending, empty, failed and interrupted answers are never sent back to the model.
        """
        answer = self.get_message(answer_id)
        if answer.role != "assistant" or answer.reply_to is None:
            raise NotFound(f"Message {answer_id} is not an answer.")
        question = self.get_message(answer.reply_to)
        rows = self.messages(answer.conversation_id)
        best_answer: dict[int, Message] = {}
        for message in rows:  # rows are in seq order, so a later version replaces an earlier one
            if (
                message.role == "assistant"
                and message.reply_to not in (None, question.id)
                and message.status in CONTEXT_STATUSES
                and message.content.strip()
            ):
                best_answer[message.reply_to] = message
        history: list[dict[str, str]] = []
        for message in rows:
            if message.role != "user" or message.seq > question.seq:
                continue
            history.append({"role": "user", "content": message.content})
            reply = best_answer.get(message.id)
            if reply is not None:
                history.append({"role": "assistant", "content": reply.content})
        return answer, history
