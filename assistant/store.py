"""Conversations and messages in SQLite, as pages read and edit them. Knows nothing about
providers or Streamlit.

The answer lifecycle (create a turn, claim, checkpoint, finish, recover) has its own module,
`lifecycle.py`; this one keeps conversations, their titles, pins and trash, search, import, and
reading messages. Every write that must be all-or-nothing is one transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from assistant import parts as answer_parts
from assistant import textsearch
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.i18n import _

TITLE_MAX_CHARS = 48  # a title made from the first message
TITLE_LIMIT_CHARS = 200  # a title the user types
RANKED_CANDIDATES = 5_000  # search ranks at most this many (the newest) matches of a query
COUNT_LIMIT = 5_000  # "more than 5,000" is all a result count needs to say beyond this
LIVE_STATUSES = ("pending", "streaming")
FINAL_STATUSES = ("complete", "stopped", "error", "interrupted")
# Answers the model may see again as context: finished and non-empty.
CONTEXT_STATUSES = ("complete", "stopped")


def new_uid() -> str:
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Snapshot:
    """What an answer depends on, frozen when the turn is created."""

    provider: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    system_prompt: str = ""
    profile_id: int | None = None  # the endpoint profile; `provider` keeps its name then
    preset: str | None = None  # the preset's name then, or None for a one-off or no prompt


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str
    updated_at: str
    pinned: bool = False
    deleted_at: str | None = None  # set while the conversation is in the trash
    uid: str = ""
    active_leaf: int | None = None  # the end of the branch on screen
    forked_from: int | None = None  # the message a "New chat from here" copied up to
    title_source: str = "set"  # see titles.py: first_words, model, kept, user, set

    @property
    def in_trash(self) -> bool:
        return self.deleted_at is not None


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
    profile_id: int | None = None
    preset: str | None = None
    parent_id: int | None = None  # the message this one follows in the tree
    depth: int = 0  # ancestors: a path to this message has depth + 1 messages
    parts_json: str | None = None  # see parts.py; None: the content is the whole answer
    generation_s: float | None = None  # the model writing: no waits, tools or first tokens
    copied_from: int | None = None  # a fork's copy: the answer whose generation it repeats

    @property
    def tokens_unreported(self) -> bool:
        """A complete answer with output whose endpoint reported no token counts (llama.cpp's
        server sends none): its tokens are unknown, never 0. (An answer that ended early has
        none either: the stream ended before the count; its status says so.)"""
        return (
            self.role == "assistant"
            and self.status == "complete"
            and self.completion_tokens is None
            and bool(self.content or self.parts_json)
        )

    @property
    def parts(self) -> list[answer_parts.Part]:
        return answer_parts.loads(self.parts_json, self.content)

    @property
    def reasoning(self) -> answer_parts.Part | None:
        return next((p for p in self.parts if p.kind == answer_parts.REASONING), None)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.provider or "",
            self.model or "",
            self.params,
            self.system_prompt or "",
            self.profile_id,
            self.preset,
        )


ConversationSetup = Callable[[sqlite3.Connection, int], None]


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
    parts: list[answer_parts.Part] | None = None  # None: the content is the whole answer
    generation_s: float | None = None  # seconds the model spent writing (see migration 11)


@dataclass(frozen=True)
class SearchHit:
    """One search result: a message, or a conversation whose title matched (message_id None)."""

    conversation_id: int
    conversation_title: str
    message_id: int | None
    role: str  # "user", "assistant", or "title"
    created_at: str
    snippet: str  # with textsearch.HIGHLIGHT_START / HIGHLIGHT_END around matched words
    rank: float


@dataclass(frozen=True)
class ConversationSummary:
    """One row of the conversations table."""

    id: int
    title: str
    created_at: str
    updated_at: str
    pinned: bool
    messages: int
    models: tuple[str, ...]
    tokens: int
    has_problem: bool  # the shown answer of some question failed or was interrupted
    branches: int = 1  # leaves of the message tree
    path_messages: int = 0  # messages on the branch on screen


@dataclass(frozen=True)
class ImportedMessage:
    """A message read from a file; `key` names it inside that file (for `reply_to` and
    `parent`). In a conversation that is not a `tree`, `parent` is not read: an answer follows
    the question it replies to, any other message the one before it in the list."""

    key: str
    role: str
    content: str
    created_at: str
    status: str = "complete"
    reply_to: str | None = None
    parent: str | None = None
    parts: tuple[answer_parts.Part, ...] = ()  # empty: the content is the whole message
    provider: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    preset: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_s: float | None = None
    total_s: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class ImportedConversation:
    uid: str
    title: str
    created_at: str
    updated_at: str
    messages: tuple[ImportedMessage, ...]
    pinned: bool = False
    active_leaf: str | None = None  # the key of the message the file had on screen
    tree: bool = False  # messages name their parents (None: a root)


@dataclass(frozen=True)
class ImportResult:
    imported: list[int]  # new conversation ids
    skipped: int  # already present (same uid), so not imported again
    messages: int
    left_out: tuple[str, ...] = ()  # a sentence for each entry of the file that was unreadable


def make_title(text: str) -> str:
    """The first words of a message, cut at a word boundary."""
    words = re.sub(r"\s+", " ", text).strip()
    if len(words) <= TITLE_MAX_CHARS:
        return words or _("New chat")
    cut = words[:TITLE_MAX_CHARS].rsplit(" ", 1)[0] or words[:TITLE_MAX_CHARS]
    return cut.rstrip(" ,.;:") + "…"


_MESSAGE_COLUMNS = (
    "id, conversation_id, seq, role, content, status, reply_to, provider, model, params,"
    " system_prompt, prompt_tokens, completion_tokens, first_token_s, total_s, finish_reason,"
    " error, heartbeat_at, created_at, updated_at, profile_id, preset, parent_id, depth,"
    " parts AS parts_json, generation_s, copied_from"
)

# The same, from a table aliased `q` (a join).
_MESSAGE_COLUMNS_Q = ", ".join(f"q.{column.strip()}" for column in _MESSAGE_COLUMNS.split(","))

_IMPORT_COLUMNS = (
    "conversation_id, seq, role, content, status, reply_to, provider, model, params,"
    " system_prompt, prompt_tokens, completion_tokens, first_token_s, total_s, finish_reason,"
    " error, created_at, updated_at, preset, parent_id, depth, parts"
)


def _message(row: sqlite3.Row) -> Message:
    data = dict(row)
    data["params"] = json.loads(data["params"]) if data["params"] else {}
    return Message(**data)


_CONVERSATION_COLUMNS = (
    "id, title, created_at, updated_at, pinned, deleted_at, uid, active_leaf, forked_from,"
    " title_source"
)


def _conversation(row: sqlite3.Row) -> Conversation:
    return _conversation_from(dict(row))


def _conversation_from(data: dict[str, Any]) -> Conversation:
    data["pinned"] = bool(data["pinned"])
    return Conversation(**data)


SETTING_COLUMNS = ("preset_id", "profile_id")  # conversation columns that point at a choice


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- conversations -------------------------------------------------------------------

    def list_conversations(self, limit: int | None = 50) -> list[Conversation]:
        """Conversations not in the trash: pinned first, then newest activity; None = all."""
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE deleted_at IS NULL"
                " ORDER BY pinned DESC, updated_at DESC, id DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [_conversation(r) for r in rows]

    def list_trash(self) -> list[Conversation]:
        """Conversations in the trash, most recently deleted first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE deleted_at IS NOT NULL"
                " ORDER BY deleted_at DESC, id DESC"
            ).fetchall()
        return [_conversation(r) for r in rows]

    def get_conversation(self, conversation_id: int) -> Conversation:
        """Any conversation, in the trash or not (see `Conversation.in_trash`)."""
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            raise NotFound(
                _("Conversation {conversation_id} does not exist.").format(
                    conversation_id=conversation_id
                )
            )
        return _conversation(row)

    def rename(self, conversation_id: int, title: str) -> str:
        """Set a new title (whitespace tidied); returns it. Empty or over-long is refused."""
        clean = re.sub(r"\s+", " ", title).strip()
        if not clean:
            raise InvalidInput(_("A title cannot be empty."))
        if len(clean) > TITLE_LIMIT_CHARS:
            raise InvalidInput(
                _(
                    "A title can have at most {TITLE_LIMIT_CHARS} characters (this one has "
                    "{count})."
                ).format(TITLE_LIMIT_CHARS=TITLE_LIMIT_CHARS, count=len(clean))
            )
        self._update_conversation(conversation_id, "title = ?, title_source = 'user'", (clean,))
        return clean

    def first_question_to_title(self, answer_id: int) -> Message | None:
        """The question of this answer when its chat still has its first-words title and this
        is its first exchange (one user message on any branch); otherwise None. One query:
        it runs at the end of every answer."""
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS_Q} FROM messages AS a"
                " JOIN conversations AS c ON c.id = a.conversation_id"
                " JOIN messages AS q ON q.id = a.parent_id"
                " WHERE a.id = ? AND c.title_source = 'first_words'"
                "   AND (SELECT COUNT(*) FROM messages AS u"
                "        WHERE u.conversation_id = a.conversation_id AND u.role = 'user') = 1",
                (answer_id,),
            ).fetchone()
        return _message(row) if row is not None else None

    def set_automatic_title(self, conversation_id: int, title: str | None) -> bool:
        """The model's title, or None to keep the first words; only while the title is still
        the first words (a rename made meanwhile wins). True when a title was written."""
        with self.db.transaction() as conn:
            if title is None:
                conn.execute(
                    "UPDATE conversations SET title_source = 'kept'"
                    " WHERE id = ? AND title_source = 'first_words'",
                    (conversation_id,),
                )
                return False
            return bool(
                conn.execute(
                    "UPDATE conversations SET title = ?, title_source = 'model'"
                    " WHERE id = ? AND title_source = 'first_words'",
                    (title, conversation_id),
                ).rowcount
            )

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update_conversation(conversation_id, "pinned = ?", (int(pinned),))

    def trash(self, conversation_id: int) -> None:
        """Move to the trash: out of the sidebar and the search index, still restorable."""
        self._update_conversation(
            conversation_id, "deleted_at = COALESCE(deleted_at, ?)", (now_iso(),)
        )

    def restore(self, conversation_id: int) -> None:
        conversation = self.get_conversation(conversation_id)
        if not conversation.in_trash:
            raise InvalidInput(
                _("Conversation {conversation_id} is not in the trash.").format(
                    conversation_id=conversation_id
                )
            )
        self._update_conversation(conversation_id, "deleted_at = NULL", ())

    def delete_forever(self, conversation_id: int) -> None:
        """Really delete one conversation, which must already be in the trash."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT deleted_at FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFound(
                    _("Conversation {conversation_id} does not exist.").format(
                        conversation_id=conversation_id
                    )
                )
            if row["deleted_at"] is None:
                raise InvalidInput(
                    _(
                        "Conversation {conversation_id} is not in the trash; move it there first."
                    ).format(conversation_id=conversation_id)
                )
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def empty_trash(self) -> int:
        """Really delete every conversation in the trash; returns how many."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM conversations WHERE deleted_at IS NOT NULL").rowcount

    def _update_conversation(
        self, conversation_id: int, assignment: str, values: tuple[Any, ...]
    ) -> None:
        with self.db.transaction() as conn:
            changed = conn.execute(
                f"UPDATE conversations SET {assignment} WHERE id = ?", (*values, conversation_id)
            ).rowcount
        if not changed:
            raise NotFound(
                _("Conversation {conversation_id} does not exist.").format(
                    conversation_id=conversation_id
                )
            )

    def conversation_mark(self, conversation_id: int) -> tuple[Any, ...] | None:
        """A cheap value that changes whenever what the chat page shows of one conversation
        could change: a message added (here, in another tab, by the CLI or another server), an
        answer started or ended, another branch shown, the title, pin, trash or chat settings
        changed. None once the conversation is gone. An open chat polls it to notice changes
        made elsewhere; checkpoints of a streaming answer leave it alone (the page follows
        those itself). Index lookups only: well under a millisecond on a long chat."""
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT c.updated_at, c.title, c.pinned, c.deleted_at, c.active_leaf,"
                " c.preset_id, c.system_prompt, c.profile_id, c.model, c.params, c.tools,"
                " (SELECT count(*) FROM messages WHERE conversation_id = c.id),"
                " (SELECT max(seq) FROM messages WHERE conversation_id = c.id),"
                " (SELECT count(*) FROM messages WHERE conversation_id = c.id"
                "  AND status IN ('pending', 'streaming'))"
                " FROM conversations AS c WHERE c.id = ?",
                (conversation_id,),
            ).fetchone()
        return tuple(row) if row is not None else None

    def history_version(self) -> int:
        """Changes whenever `summaries()` could change (a counter kept by triggers)."""
        with self.db.connect() as conn:
            return int(conn.execute("SELECT version FROM history_version").fetchone()[0])

    def summaries(self) -> list[ConversationSummary]:
        """Every conversation not in the trash with its counts, for the browse table."""
        with self.db.connect() as conn:
            rows = conn.execute(
                """
                WITH problems AS (  -- failed answers that no newer version replaced
                    SELECT DISTINCT failed.conversation_id
                    FROM messages AS failed
                    WHERE failed.role = 'assistant'
                      AND failed.status IN ('error', 'interrupted')
                      AND NOT EXISTS (
                          SELECT 1 FROM messages AS newer
                          WHERE newer.reply_to = failed.reply_to AND newer.role = 'assistant'
                            AND newer.seq > failed.seq)
                )
                SELECT c.id, c.title, c.created_at, c.updated_at, c.pinned,
                       COALESCE(s.messages, 0) AS messages, s.models,
                       COALESCE(s.tokens, 0) AS tokens, COALESCE(s.leaves, 1) AS leaves,
                       -- a branched conversation's shown path: its leaf's depth + 1 (only
                       -- those few are looked up; a line is all its messages)
                       CASE WHEN s.leaves > 1 THEN (
                           SELECT depth + 1 FROM messages WHERE id = c.active_leaf)
                       END AS path_messages,
                       c.id IN (SELECT conversation_id FROM problems) AS has_problem
                FROM conversations c LEFT JOIN conversation_stats s ON s.conversation_id = c.id
                WHERE c.deleted_at IS NULL
                ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC
                """
            ).fetchall()
        return [
            ConversationSummary(
                id=r["id"],
                title=r["title"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                pinned=bool(r["pinned"]),
                messages=r["messages"],
                models=tuple(sorted(m for m in (r["models"] or "").split(",") if m)),
                tokens=r["tokens"],
                has_problem=bool(r["has_problem"]),
                branches=max(1, r["leaves"]),
                path_messages=r["path_messages"] or r["messages"],
            )
            for r in rows
        ]

    def import_conversations(self, conversations: Iterable[ImportedConversation]) -> ImportResult:
        """Add conversations in one transaction; a uid already present is skipped.

        Messages come parents first: each keeps its order (renumbered 1..n), and `parent` and
        `reply_to` keys are mapped to the new ids (no `parent`: a root). The active leaf is the
        file's, else the last message. Any error rolls everything back: nothing
        half-imported is left behind.
        """
        imported: list[int] = []
        skipped = 0
        message_count = 0
        with self.db.transaction() as conn:
            for conversation in conversations:
                exists = conn.execute(
                    "SELECT 1 FROM conversations WHERE uid = ?", (conversation.uid,)
                ).fetchone()
                if exists:
                    skipped += 1
                    continue
                conversation_id = conn.execute(
                    "INSERT INTO conversations (title, created_at, updated_at, pinned, uid)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (
                        conversation.title,
                        conversation.created_at,
                        conversation.updated_at,
                        int(conversation.pinned),
                        conversation.uid,
                    ),
                ).fetchone()[0]
                new_ids: dict[str, tuple[int, int]] = {}  # key -> (id, depth)
                previous: str | None = None
                for seq, message in enumerate(conversation.messages, start=1):
                    if not conversation.tree:
                        follows = message.reply_to if message.role == "assistant" else None
                        message = replace(message, parent=follows or previous)
                    previous = message.key
                    new_ids[message.key] = self._import_message(
                        conn, conversation_id, seq, message, new_ids
                    )
                    message_count += 1
                leaf = new_ids.get(conversation.active_leaf or "")
                if leaf is None and conversation.messages:
                    leaf = new_ids[conversation.messages[-1].key]
                if leaf is not None:
                    conn.execute(
                        "UPDATE conversations SET active_leaf = ? WHERE id = ?",
                        (leaf[0], conversation_id),
                    )
                imported.append(conversation_id)
        return ImportResult(imported, skipped, message_count)

    @staticmethod
    def _import_message(
        conn: sqlite3.Connection,
        conversation_id: int,
        seq: int,
        message: ImportedMessage,
        new_ids: dict[str, tuple[int, int]],
    ) -> tuple[int, int]:
        parent = new_ids.get(message.parent) if message.parent else None
        if message.parent and parent is None:
            raise InvalidInput(
                _("Message {key!r} follows a message the file lacks.").format(key=message.key)
            )
        reply_to = new_ids.get(message.reply_to) if message.reply_to else None
        depth = parent[1] + 1 if parent else 0
        parts = list(message.parts)
        row = conn.execute(
            f"INSERT INTO messages ({_IMPORT_COLUMNS})"
            f" VALUES ({', '.join('?' * len(_IMPORT_COLUMNS.split(',')))}) RETURNING id",
            (
                conversation_id,
                seq,
                message.role,
                answer_parts.plain_text(parts) if parts else message.content,
                message.status,
                reply_to[0] if reply_to else None,
                message.provider,
                message.model,
                json.dumps(message.params, sort_keys=True) if message.params else None,
                message.system_prompt,
                message.prompt_tokens,
                message.completion_tokens,
                message.first_token_s,
                message.total_s,
                message.finish_reason,
                message.error,
                message.created_at,
                message.updated_at or message.created_at,
                message.preset,
                parent[0] if parent else None,
                depth,
                answer_parts.dumps(parts),
            ),
        ).fetchone()
        return int(row[0]), depth

    # -- search --------------------------------------------------------------------------

    def search(self, query: str, limit: int = 20, title_limit: int = 5) -> list[SearchHit]:
        """Conversations whose title matches (best first), then messages ranked by bm25.

        A query matching more than RANKED_CANDIDATES messages is ranked among its newest
        RANKED_CANDIDATES matches, which keeps common words fast on large histories.
        Conversations in the trash are not in the index, so they never appear.
        """
        terms = textsearch.parse_query(query)
        match = textsearch.match_query(terms)
        if match is None:
            return []
        marks = (textsearch.HIGHLIGHT_START, textsearch.HIGHLIGHT_END)
        with self.db.connect() as conn:
            titles = conn.execute(
                "SELECT c.id, c.title, c.updated_at, highlight(titles_fts, 0, ?, ?) AS snippet,"
                " titles_fts.rank AS rank"
                " FROM titles_fts JOIN conversations c ON c.id = titles_fts.rowid"
                " WHERE titles_fts MATCH ? ORDER BY titles_fts.rank LIMIT ?",
                (*marks, match, title_limit),
            ).fetchall()
            # bm25 is computed for at most RANKED_CANDIDATES matches, the newest ones (rowid
            # order is free in FTS5): a word found in most messages would otherwise be scored
            # in every one of them. Only the winners are joined with their messages.
            messages = conn.execute(
                "SELECT m.id, m.conversation_id, m.role, m.created_at, m.content, c.title,"
                " top.rank"
                " FROM (SELECT rowid, rank FROM ("
                "        SELECT rowid, rank FROM messages_fts WHERE messages_fts MATCH ?"
                "        ORDER BY rowid DESC LIMIT ?)"
                "       ORDER BY rank LIMIT ?) AS top"
                " JOIN messages m ON m.id = top.rowid"
                " JOIN conversations c ON c.id = m.conversation_id"
                " ORDER BY top.rank",
                (match, RANKED_CANDIDATES, limit),
            ).fetchall()
        hits = [
            SearchHit(
                conversation_id=r["id"],
                conversation_title=r["title"],
                message_id=None,
                role="title",
                created_at=r["updated_at"],
                snippet=textsearch.clean_snippet(r["snippet"]),
                rank=r["rank"],
            )
            for r in titles
        ]
        hits.extend(
            SearchHit(
                conversation_id=r["conversation_id"],
                conversation_title=r["title"],
                message_id=r["id"],
                role=r["role"],
                created_at=r["created_at"],
                snippet=textsearch.make_snippet(r["content"], terms),
                rank=r["rank"],
            )
            for r in messages
        )
        return hits

    def count_matches(self, query: str) -> tuple[int, int]:
        """How many conversation titles and messages match a query (not only the shown ones),
        counted up to COUNT_LIMIT + 1: a common word's whole posting list is not walked."""
        match = textsearch.match_query(textsearch.parse_query(query))
        if match is None:
            return 0, 0
        counts = []
        with self.db.connect() as conn:
            for table in ("titles_fts", "messages_fts"):
                counts.append(
                    conn.execute(
                        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ?"
                        " LIMIT ?)",
                        (match, COUNT_LIMIT + 1),
                    ).fetchone()[0]
                )
        return int(counts[0]), int(counts[1])

    def usage(self, setting: str) -> dict[int, list[Conversation]]:
        """Conversations outside the trash by the preset or profile they are set to.

        `setting` is "preset_id" or "profile_id"; newest activity first.
        """
        if setting not in SETTING_COLUMNS:
            raise ValueError(_("not a conversation setting: {setting!r}").format(setting=setting))
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT {setting} AS setting, {_CONVERSATION_COLUMNS} FROM conversations"
                f" WHERE {setting} IS NOT NULL AND deleted_at IS NULL ORDER BY updated_at DESC"
            ).fetchall()
        found: dict[int, list[Conversation]] = {}
        for row in rows:
            data = dict(row)
            key = data.pop("setting")
            found.setdefault(key, []).append(_conversation_from(data))
        return found

    # -- messages ------------------------------------------------------------------------

    def messages(self, conversation_id: int, from_seq: int = 0) -> list[Message]:
        """A conversation's messages in order; from `from_seq` on when a page shows its end."""
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                " WHERE conversation_id = ? AND seq >= ? ORDER BY seq",
                (conversation_id, from_seq),
            ).fetchall()
        return [_message(r) for r in rows]

    def get_message(self, message_id: int) -> Message:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            raise NotFound(_("Message {message_id} does not exist.").format(message_id=message_id))
        return _message(row)

    # -- the message tree ----------------------------------------------------------------

    def active_path(self, conversation_id: int) -> list[PathStep]:
        """The branch on screen, root first: from the active leaf up through the parents.

        Only ids and roles are read (a recursive walk over the primary key), so a page can
        pick the part it shows before it reads any text. A conversation whose active leaf was
        never set (rows written by hand) ends at its newest message.
        """
        with self.db.connect() as conn:
            rows = conn.execute(
                """
                WITH RECURSIVE up (id, parent_id, role, seq) AS (
                    SELECT m.id, m.parent_id, m.role, m.seq FROM messages AS m
                    WHERE m.id = (
                        SELECT COALESCE(c.active_leaf, (
                            SELECT id FROM messages WHERE conversation_id = c.id
                            ORDER BY seq DESC LIMIT 1))
                        FROM conversations AS c WHERE c.id = ?)
                    UNION ALL
                    SELECT m.id, m.parent_id, m.role, m.seq FROM messages AS m
                    JOIN up ON m.id = up.parent_id
                )
                SELECT id, parent_id, role, seq FROM up
                """,
                (conversation_id,),
            ).fetchall()
        return [PathStep(r[0], r[1], r[2], r[3]) for r in reversed(rows)]

    def path_to(self, message_id: int) -> list[Message]:
        """Every message from the root down to this one (included), in order."""
        with self.db.connect() as conn:
            rows = conn.execute(
                f"""
                WITH RECURSIVE up (id) AS (
                    SELECT ? UNION ALL
                    SELECT m.parent_id FROM messages AS m JOIN up ON m.id = up.id
                    WHERE m.parent_id IS NOT NULL
                )
                SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id IN (SELECT id FROM up)
                ORDER BY depth
                """,
                (message_id,),
            ).fetchall()
        if not rows:
            raise NotFound(_("Message {message_id} does not exist.").format(message_id=message_id))
        return [_message(r) for r in rows]

    def messages_by_id(self, ids: Iterable[int]) -> dict[int, Message]:
        wanted = list(ids)
        found: dict[int, Message] = {}
        with self.db.connect() as conn:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                rows = conn.execute(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                    f" WHERE id IN ({','.join('?' * len(batch))})",
                    batch,
                ).fetchall()
                found.update((r["id"], _message(r)) for r in rows)
        return found

    def siblings(self, conversation_id: int, messages: Iterable[Message]) -> dict[int, list[int]]:
        """For each message, the ids of it and its siblings (same parent and role), oldest
        first: the versions of an answer, the edits of a user message."""
        shown = list(messages)
        parents = sorted({m.parent_id for m in shown if m.parent_id is not None})
        by_parent: dict[tuple[int | None, str], list[int]] = {}
        with self.db.connect() as conn:
            rows = []
            for start in range(0, len(parents), 500):
                batch = parents[start : start + 500]
                rows += conn.execute(
                    "SELECT id, parent_id, role FROM messages"
                    f" WHERE parent_id IN ({','.join('?' * len(batch))}) ORDER BY seq",
                    batch,
                ).fetchall()
            if any(m.parent_id is None for m in shown):
                rows += conn.execute(
                    "SELECT id, parent_id, role FROM messages"
                    " WHERE conversation_id = ? AND parent_id IS NULL ORDER BY seq",
                    (conversation_id,),
                ).fetchall()
        for row in rows:
            by_parent.setdefault((row[1], row[2]), []).append(row[0])
        return {m.id: by_parent.get((m.parent_id, m.role), [m.id]) for m in shown}

    def latest_leaf(self, message_id: int) -> int:
        """The newest message below this one (itself when it has no children).

        The newest message of a subtree is always a leaf: children are written after their
        parents, so nothing can follow the message with the highest seq.
        """
        with self.db.connect() as conn:
            row = conn.execute(
                """
                WITH RECURSIVE below (id, seq) AS (
                    SELECT id, seq FROM messages WHERE id = ?
                    UNION ALL
                    SELECT m.id, m.seq FROM messages AS m JOIN below ON m.parent_id = below.id
                )
                SELECT id FROM below ORDER BY seq DESC LIMIT 1
                """,
                (message_id,),
            ).fetchone()
        if row is None:
            raise NotFound(_("Message {message_id} does not exist.").format(message_id=message_id))
        return int(row[0])

    def show_branch(self, message_id: int) -> int:
        """Put the branch through this message on screen, down to its latest leaf."""
        leaf = self.latest_leaf(message_id)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE conversations SET active_leaf = ?"
                " WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                (leaf, leaf),
            )
        return leaf

    def leaves(self, conversation_id: int) -> list[int]:
        """The ends of every branch, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id FROM messages AS m WHERE conversation_id = ? AND NOT EXISTS ("
                " SELECT 1 FROM messages AS child WHERE child.parent_id = m.id) ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def on_active_path(self, message_id: int) -> bool:
        message = self.get_message(message_id)
        return any(step.id == message_id for step in self.active_path(message.conversation_id))


@dataclass(frozen=True)
class PathStep:
    """A message on a path, without its text."""

    id: int
    parent_id: int | None
    role: str
    seq: int
