"""The answer lifecycle's SQL: create, claim, checkpoint, finish, ownership, stop, recovery.

    create ──► pending ──claim──► streaming ──finish──► complete | stopped | error
                  │                   │ owner's process gone ──recover──► interrupted
                  └── end_pending ──► stopped

Ownership. A `streaming` answer belongs to one `Owner`: a turn manager in one process, named by
host, pid, the process's start time (so a reused pid is not mistaken for the owner) and a token.
Only the owner writes its text: `checkpoint` and `finish` match the owner, so a late write
from a process that lost the answer can never replace another's. Anyone else who wants it
stopped sets `stop_requested`; the owner sees the flag at its next checkpoint or heartbeat.
Only a `pending` answer (nobody generates it yet) may be ended directly (`end_pending`).

Recovery. An answer whose owner is on this host and whose process is gone becomes
`interrupted` at once, its text kept. For owners on other hosts (a shared network folder) the
age of the heartbeat decides. `recover` runs over the whole database at start-up and for one
conversation whenever it is read.

The tree. A new message follows the conversation's active leaf; an edit is a sibling of the
user message it replaces, a new version a sibling of the answer; each becomes the active leaf.
A reply to an answer still being written is refused (`ConversationBusy`), and a question has
at most one live answer (a unique index), but an edit may branch off while an answer on
another branch is still streaming.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from assistant import parts as answer_parts
from assistant.db import Database
from assistant.errors import ConversationBusy, InvalidInput, NotFound
from assistant.i18n import N_, _
from assistant.store import (
    CONTEXT_STATUSES,
    TITLE_LIMIT_CHARS,
    ConversationSetup,
    FinalResult,
    Message,
    Snapshot,
    Store,
    TurnIds,
    make_title,
    new_uid,
    now_iso,
)
from assistant.toolbox import function_name

STALE_AFTER_S = 30.0  # a heartbeat older than this means the owner on another host is gone
INTERRUPTED_TEXT = N_(
    "The app stopped while this answer was being written; the text so far was kept."
)
BUSY_TEXT = N_(
    "An answer is still being written in this conversation (maybe in another tab). Wait for it "
    "or stop it, then send again. Your message is still in the box."
)


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot, from /proc); None if it does not exist.

    Where /proc is missing (macOS, Windows) a live pid gives 0, which matches any start.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _exists_without_proc(pid)
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])  # field 22 of the whole line: starttime


def _exists_without_proc(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0
    return 0


def this_host() -> str:
    return f"{socket.gethostname()}/{_boot_id()[:8]}"  # a reboot ends every owner on the host


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: int
    token: str

    @classmethod
    def of_this_process(cls) -> Owner:
        pid = os.getpid()
        return cls(this_host(), pid, process_start(pid) or 0, uuid.uuid4().hex[:8])

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        """An owner as stored; None for a value older versions wrote (`host:pid:token`)."""
        parts = (text or "").split("|")
        if len(parts) != 4:
            return None
        try:
            return cls(parts[0], int(parts[1]), int(parts[2]), parts[3])
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.host}|{self.pid}|{self.started}|{self.token}"

    @property
    def on_this_host(self) -> bool:
        return self.host == this_host()

    def process_gone(self) -> bool:
        """True only when this owner's process is known to be gone (it is on this host)."""
        if not self.on_this_host:
            return False
        started = process_start(self.pid)
        return started is None or (self.started != 0 and started not in (0, self.started))


def owner_is_dead(owner_text: str | None, heartbeat_at: float | None, stale_before: float) -> bool:
    """Whether nobody is writing an answer any more: the rule of the module docstring."""
    owner = Owner.parse(owner_text)
    if owner is not None and owner.on_this_host:
        return owner.process_gone()
    return heartbeat_at is None or heartbeat_at < stale_before


class Lifecycle:
    """The SQL of an answer's life; `TurnManager` runs it, pages never call it directly."""

    def __init__(self, db: Database, store: Store | None = None) -> None:
        self.db = db
        self.store = store or Store(db)

    # -- create ----------------------------------------------------------------------------

    def create_turn(
        self,
        conversation_id: int | None,
        text: str,
        snapshot: Snapshot,
        setup: ConversationSetup | None = None,
    ) -> TurnIds:
        """The user message and its pending answer (and the conversation if new), atomically.

        `setup(conn, conversation_id)` runs in the same transaction for a new conversation.
        Raises NotFound for a missing or trashed conversation, ConversationBusy while another
        answer in it is live.
        """
        now = now_iso()
        with self.db.transaction() as conn:
            if conversation_id is None:
                conversation_id = conn.execute(
                    "INSERT INTO conversations (title, created_at, updated_at, uid, title_source)"
                    " VALUES (?, ?, ?, ?, 'first_words') RETURNING id",
                    (make_title(text), now, now, new_uid()),
                ).fetchone()[0]
                if setup is not None:
                    setup(conn, conversation_id)
                parent = None
            else:
                found = conn.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id = ? AND deleted_at IS NULL"
                    " RETURNING active_leaf",
                    (now, conversation_id),
                ).fetchone()
                if found is None:
                    raise NotFound(
                        _("Conversation {conversation_id} does not exist.").format(
                            conversation_id=conversation_id
                        )
                    )
                parent = found[0] if found[0] is not None else _newest(conn, conversation_id)
                if parent is not None:
                    _refuse_if_live(conn, parent)
            return _insert_turn(conn, conversation_id, parent, text, snapshot, now)

    def edit_turn(self, user_message_id: int, text: str, snapshot: Snapshot) -> TurnIds:
        """A sibling of a user message with new text, and its pending answer: a new branch.

        The original and everything after it stay; the new branch becomes the active one.
        """
        now = now_iso()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT m.conversation_id, m.role, m.parent_id, c.deleted_at"
                " FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id"
                " WHERE m.id = ?",
                (user_message_id,),
            ).fetchone()
            if row is None or row["role"] != "user" or row["deleted_at"] is not None:
                raise NotFound(
                    _("User message {user_message_id} does not exist.").format(
                        user_message_id=user_message_id
                    )
                )
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (now, row["conversation_id"]),
            )
            if row["parent_id"] is not None:
                _refuse_if_live(conn, row["parent_id"])
            return _insert_turn(conn, row["conversation_id"], row["parent_id"], text, snapshot, now)

    def add_answer(
        self,
        user_message_id: int,
        snapshot: Snapshot,
        begun: answer_parts.Part | None = None,
    ) -> int:
        """A new pending answer to an existing user message (regenerate / retry): a sibling
        of its earlier versions, and the active leaf. `begun`: the text it starts with (a
        continuation of an answer cut at its length limit; see `turns.continuation`)."""
        now = now_iso()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT conversation_id, role, depth FROM messages WHERE id = ?",
                (user_message_id,),
            ).fetchone()
            if row is None or row["role"] != "user":
                raise NotFound(
                    _("User message {user_message_id} does not exist.").format(
                        user_message_id=user_message_id
                    )
                )
            conversation_id = row["conversation_id"]
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
            answer_id = _insert_pending(
                conn, conversation_id, user_message_id, row["depth"] + 1, snapshot, now
            )
            if begun is not None:
                conn.execute(
                    "UPDATE messages SET content = ?, parts = ? WHERE id = ?",
                    (begun.text, answer_parts.dumps([begun]), answer_id),
                )
            _set_leaf(conn, conversation_id, answer_id)
            return answer_id

    # -- claim, write, finish ----------------------------------------------------------------

    def claim(self, answer_id: int, owner: Owner, now: float) -> bool:
        """pending -> streaming; True for exactly one caller."""
        with self.db.connect() as conn:
            return (
                conn.execute(
                    "UPDATE messages SET status = 'streaming', owner = ?, heartbeat_at = ?,"
                    " stop_requested = 0, updated_at = ? WHERE id = ? AND status = 'pending'",
                    (str(owner), now, now_iso(), answer_id),
                ).rowcount
                == 1
            )

    def checkpoint(
        self,
        answer_id: int,
        owner: Owner,
        content: str,
        now: float,
        parts: list[answer_parts.Part] | None = None,
    ) -> bool:
        """Store the text so far (and the parts, when the answer has more than text); True
        when someone asked for the answer to stop."""
        with self.db.connect() as conn:
            row = conn.execute(
                "UPDATE messages SET content = ?, parts = ?, heartbeat_at = ?, updated_at = ?"
                " WHERE id = ? AND status = 'streaming' AND owner = ? RETURNING stop_requested",
                (
                    content,
                    answer_parts.dumps(parts) if parts else None,
                    now,
                    now_iso(),
                    answer_id,
                    str(owner),
                ),
            ).fetchone()
        return bool(row and row[0])

    def heartbeat(self, owner: Owner, answer_ids: Iterable[int], now: float) -> list[int]:
        """Mark this owner's answers alive; returns those someone asked to stop."""
        ids = list(answer_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self.db.connect() as conn:
            rows = conn.execute(
                f"UPDATE messages SET heartbeat_at = ? WHERE status = 'streaming' AND owner = ?"
                f" AND id IN ({marks}) RETURNING id, stop_requested",
                (now, str(owner), *ids),
            ).fetchall()
        return [int(r[0]) for r in rows if r[1]]

    def finish(self, answer_id: int, owner: Owner, result: FinalResult) -> bool:
        """The owner writes the final state; False if the answer is no longer its own."""
        return self._finish(answer_id, result, "status = 'streaming' AND owner = ?", (str(owner),))

    def end_pending(self, answer_id: int, result: FinalResult) -> bool:
        """End an answer nobody started (Stop before the first word); False if it had started."""
        return self._finish(answer_id, result, "status = 'pending'", ())

    def _finish(
        self, answer_id: int, result: FinalResult, condition: str, values: tuple[object, ...]
    ) -> bool:
        now = now_iso()
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE messages SET status = ?, content = ?, parts = ?, finish_reason = ?,"
                " error = ?, prompt_tokens = ?, completion_tokens = ?, first_token_s = ?,"
                " total_s = ?, generation_s = ?, heartbeat_at = NULL, stop_requested = 0,"
                f" updated_at = ? WHERE id = ? AND {condition}",
                (
                    result.status,
                    result.content,
                    answer_parts.dumps(result.parts) if result.parts else None,
                    result.finish_reason,
                    result.error,
                    result.prompt_tokens,
                    result.completion_tokens,
                    result.first_token_s,
                    result.total_s,
                    result.generation_s,
                    now,
                    answer_id,
                    *values,
                ),
            ).rowcount
            if changed:
                conn.execute(
                    "UPDATE conversations SET updated_at = ? WHERE id ="
                    " (SELECT conversation_id FROM messages WHERE id = ?)",
                    (now, answer_id),
                )
        return changed == 1

    def request_stop(self, answer_id: int) -> bool:
        """Ask the owner of a streaming answer to stop it; False if it is not streaming."""
        with self.db.connect() as conn:
            return (
                conn.execute(
                    "UPDATE messages SET stop_requested = 1 WHERE id = ? AND status = 'streaming'",
                    (answer_id,),
                ).rowcount
                == 1
            )

    # -- recovery ----------------------------------------------------------------------------

    def recover(
        self, stale_before: float, conversation_id: int | None = None, answer_id: int | None = None
    ) -> list[int]:
        """Answers whose owner is gone become `interrupted`, text kept; returns their ids.

        Covers the whole database, one conversation or one answer. Reading the live rows is
        cheap (a partial index); a write happens only when one is dead.
        """
        where, values = "status = 'streaming'", []
        if conversation_id is not None:
            where += " AND conversation_id = ?"
            values.append(conversation_id)
        if answer_id is not None:
            where += " AND id = ?"
            values.append(answer_id)
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT id, owner, heartbeat_at FROM messages WHERE {where}", values
            ).fetchall()
        dead = [r for r in rows if owner_is_dead(r["owner"], r["heartbeat_at"], stale_before)]
        if not dead:
            return []
        recovered = []
        with self.db.transaction() as conn:
            for row in dead:
                # Conditional on the owner we judged dead: a row claimed again meanwhile stays.
                changed = conn.execute(
                    "UPDATE messages SET status = 'interrupted', heartbeat_at = NULL,"
                    " stop_requested = 0, updated_at = ?, error = ?"
                    " WHERE id = ? AND status = 'streaming' AND owner IS ?",
                    (now_iso(), _(INTERRUPTED_TEXT), row["id"], row["owner"]),
                ).rowcount
                if changed:
                    recovered.append(int(row["id"]))
        return recovered

    # -- reading what a worker needs ---------------------------------------------------------

    def pending_answers(self, conversation_id: int) -> list[int]:
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND status = 'pending'"
                " ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def context_for(
        self, answer_id: int, with_tools: bool = False
    ) -> tuple[Message, list[dict[str, Any]]]:
        """The answer row and the chat messages to send for it, oldest first.

        The path from the root to the answered user message, and nothing else: never a
        sibling branch. Pending, empty, failed and interrupted answers are left out, and so is
        an answer's reasoning (`content` is its text alone). An earlier answer's tool steps
        become `assistant` tool calls and `tool` results when the request offers tools, and a
        short summary in its text otherwise.
        """
        answer = self.store.get_message(answer_id)
        if answer.role != "assistant" or answer.parent_id is None:
            raise NotFound(_("Message {answer_id} is not an answer.").format(answer_id=answer_id))
        history: list[dict[str, Any]] = []
        for message in self.store.path_to(answer.parent_id):
            if message.role == "user":
                history.append({"role": "user", "content": message.content})
            elif message.status in CONTEXT_STATUSES and message.content.strip():
                history += answer_messages(message, with_tools)
        return answer, history

    def fork(self, message_id: int, setup: ConversationSetup | None = None) -> int:
        """A new conversation holding copies of the path up to this message (its text, parts,
        snapshots and timings), opened at its end. `setup(conn, id)` copies the settings."""
        path = self.store.path_to(message_id)
        source = self.store.get_conversation(path[0].conversation_id)
        if path[-1].is_live:
            raise InvalidInput(
                _(
                    "This answer is still being written. Wait for it or stop it, then start "
                    "a new chat from here."
                )
            )
        now = now_iso()
        with self.db.transaction() as conn:
            conversation_id = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, uid, forked_from)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (fork_title(source.title), now, now, new_uid(), message_id),
            ).fetchone()[0]
            if setup is not None:
                setup(conn, conversation_id)
            copies: dict[int, int] = {}
            for seq, message in enumerate(path, start=1):
                copies[message.id] = conn.execute(
                    f"INSERT INTO messages ({_COPIED_COLUMNS}, conversation_id, seq, parent_id,"
                    f" reply_to, copied_from) SELECT {_COPIED_COLUMNS}, ?, ?, ?, ?,"
                    " COALESCE(copied_from, id) FROM messages WHERE id = ?"
                    " RETURNING id",
                    (
                        conversation_id,
                        seq,
                        copies.get(message.parent_id) if message.parent_id else None,
                        copies.get(message.reply_to) if message.reply_to else None,
                        message.id,
                    ),
                ).fetchone()[0]
            _set_leaf(conn, conversation_id, copies[message_id])
        return int(conversation_id)


def answer_messages(message: Message, with_tools: bool) -> list[dict[str, Any]]:
    """An earlier answer as chat messages: its text, or its tool steps and text in order."""
    parts = message.parts
    if not any(p.kind == answer_parts.TOOL_CALL for p in parts):
        return [{"role": "assistant", "content": message.content}]
    if not with_tools:
        lines = [
            f"[{p.data.get('server', '')}/{p.data.get('name', '')} returned: {p.text[:200]}]"
            for p in parts
            if p.kind == answer_parts.TOOL_RESULT
        ]
        return [{"role": "assistant", "content": "\n".join([*lines, message.content])}]
    messages: list[dict[str, Any]] = []
    said, calls, results = "", [], []
    for part in [*parts, answer_parts.Part(answer_parts.TEXT, "")]:
        if part.kind == answer_parts.TOOL_CALL:
            calls.append(part)
        elif part.kind == answer_parts.TOOL_RESULT:
            results.append(part)
        elif part.kind == answer_parts.TEXT:
            if calls:
                messages.append({"role": "assistant", "content": said.strip() or None,
                                 "tool_calls": [_call_record(c) for c in calls]})  # fmt: skip
                messages += [
                    {"role": "tool", "tool_call_id": str(r.data.get("id", "")), "content": r.text}
                    for r in results
                ]
                said, calls, results = "", [], []
            said += part.text
    if said.strip():
        messages.append({"role": "assistant", "content": said.strip()})
    return messages


def _call_record(part: answer_parts.Part) -> dict[str, Any]:
    name = function_name(str(part.data.get("server", "")), str(part.data.get("name", "")))
    return {
        "id": str(part.data.get("id", "")),
        "type": "function",
        "function": {"name": name, "arguments": part.text or "{}"},
    }


FORK_SUFFIX = " (fork)"


def fork_title(title: str) -> str:
    """The source's title marked as a fork, within the length of a typed title."""
    base = title.removesuffix(FORK_SUFFIX)
    return base[: TITLE_LIMIT_CHARS - len(FORK_SUFFIX)] + FORK_SUFFIX


# What a fork copies of each message (ownership and heartbeats belong to the original; the
# copy's `copied_from` names the generation it repeats, so usage counts that once).
_COPIED_COLUMNS = (
    "role, content, status, provider, model, params, system_prompt, prompt_tokens,"
    " completion_tokens, first_token_s, total_s, finish_reason, error, created_at, updated_at,"
    " profile_id, preset, depth, parts, generation_s"
)


def _newest(conn: sqlite3.Connection, conversation_id: int) -> int | None:
    """A conversation's newest message: the leaf when none was recorded (rows from before)."""
    row = conn.execute(
        "SELECT id FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1",
        (conversation_id,),
    ).fetchone()
    return int(row[0]) if row else None


def _refuse_if_live(conn: sqlite3.Connection, message_id: int) -> None:
    """A reply to an answer still being written would be sent without it: refused."""
    row = conn.execute("SELECT status FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is not None and row[0] in ("pending", "streaming"):
        raise ConversationBusy(_(BUSY_TEXT))


def _set_leaf(conn: sqlite3.Connection, conversation_id: int, leaf: int) -> None:
    conn.execute("UPDATE conversations SET active_leaf = ? WHERE id = ?", (leaf, conversation_id))


def _insert_turn(
    conn: sqlite3.Connection,
    conversation_id: int,
    parent: int | None,
    text: str,
    snapshot: Snapshot,
    now: str,
) -> TurnIds:
    """A user message after `parent` (None: a first message) and its pending answer."""
    depth = 0
    if parent is not None:
        depth = conn.execute("SELECT depth + 1 FROM messages WHERE id = ?", (parent,)).fetchone()[0]
    user_id = conn.execute(
        "INSERT INTO messages (conversation_id, seq, role, content, status, parent_id, depth,"
        " created_at, updated_at) VALUES (?, ?, 'user', ?, 'complete', ?, ?, ?, ?) RETURNING id",
        (conversation_id, _next_seq(conn, conversation_id), text, parent, depth, now, now),
    ).fetchone()[0]
    answer_id = _insert_pending(conn, conversation_id, user_id, depth + 1, snapshot, now)
    _set_leaf(conn, conversation_id, answer_id)
    return TurnIds(conversation_id, user_id, answer_id)


def _next_seq(conn: sqlite3.Connection, conversation_id: int) -> int:
    row = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?",
        (conversation_id,),
    ).fetchone()
    return int(row[0])


def _insert_pending(
    conn: sqlite3.Connection,
    conversation_id: int,
    question: int,
    depth: int,
    snapshot: Snapshot,
    now: str,
) -> int:
    try:
        row = conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, reply_to,"
            " parent_id, depth, provider, model, params, system_prompt, profile_id, preset,"
            " created_at, updated_at)"
            " VALUES (?, ?, 'assistant', '', 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (
                conversation_id,
                _next_seq(conn, conversation_id),
                question,
                question,
                depth,
                snapshot.provider,
                snapshot.model,
                json.dumps(snapshot.params, sort_keys=True),
                snapshot.system_prompt,
                snapshot.profile_id,
                snapshot.preset,
                now,
                now,
            ),
        ).fetchone()
    except sqlite3.IntegrityError as exc:  # the unique index: this question has a live answer
        raise ConversationBusy(_(BUSY_TEXT)) from exc
    return int(row[0])
