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

Version 2 (history)
- conversations gain `pinned`, `deleted_at` (set = in the trash) and `uid`, a stable identity
  that survives export and import (an import skips a uid it already has).
- messages_fts (message text) and titles_fts (conversation titles) are FTS5 indexes whose rowid
  is the message / conversation id. Triggers keep them current on insert, on every update of
  streamed text, on delete, and when a conversation goes to the trash (its rows leave the index)
  or comes back. Indexed text passes through `assistant_search_text` (see textsearch.py).
- history_version: one counter, bumped by triggers on every change the conversations table
  shows (new or removed messages, finished answers, titles, pins, trash), so pages can cache.

Version 3 (settings)
- presets: named system prompts (name unique, case-insensitive); `shipped` marks the ones the
  app seeds on first use (presets.py), which the user may still edit or delete.
- app_settings: small key -> JSON value pairs (the default preset, ...).

Version 4 (settings per chat)
- profiles: endpoints (embedded, OpenAI, compatible) with the *name* of their key, never a key.
- conversations gain their preset, one-off prompt, endpoint, model and parameters; messages gain
  the endpoint id and preset name they were generated with.

Version 5 (ownership)
- messages.owner is `host|pid|process start|token` (lifecycle.Owner); `stop_requested` is set by
  a process that wants an answer it does not own stopped; the owner's worker sees it.
- At most one live (pending or streaming) answer per conversation, enforced by a unique index.

Version 6 (table speed)
- conversation_stats: per conversation, its number of messages, tokens and the distinct models
  that answered (comma-joined), kept by triggers on messages, so the conversations table reads
  10,000 rows instead of aggregating every message. `messages_with_problems`, a partial index
  of failed or interrupted answers, lets "needs attention" look at those rows only.

Version 7 (the message tree)
- messages.parent_id: a user message follows the answer it replies after (the first has
  none), an answer follows its user message (`reply_to` stays, equal to it for answers).
  Regenerated answers and edited user messages are siblings. `depth` is the number of
  ancestors, so a path's length is its leaf's depth + 1. Existing data becomes the tree the
  old view showed: a user message follows the answer that was the newest when it was sent.
- messages.parts: an answer's ordered typed parts as JSON (parts.py); NULL when the answer is
  its text alone. `content` stays the plain text (what search indexes and exports show).
- conversations.active_leaf: the end of the branch on screen; the model sees that path only.
  conversations.forked_from: the message a "New chat from here" copied up to.
- conversation_stats.leaves: how many branches (leaves) a conversation has.
- One live answer per *question* now (an edit may branch off while another branch streams);
  a reply to a live answer is refused by the lifecycle.

Version 8 (tools over MCP)
- mcp_servers: Model Context Protocol servers (tool_servers.py): stdio (command, JSON list of
  arguments, plain environment values, names of variables passed through) or Streamable HTTP
  (URL, one header whose value comes from a named variable or secrets.toml key). Never a secret.
- conversations.tools: the chat's tools as JSON {"server/tool": "ask" | "allow"}; NULL until
  the chat chooses (it then follows the default set in app_settings).
- tool_approvals: a tool call waiting for (or given) the user's decision, so the decision can
  come from any tab or after a reload.
- The search triggers index `assistant_message_text(content, parts)`: the text, plus the
  names, arguments and results of tool calls.

Version 9 (usage and cost)
- prices: model name pattern -> price per million input / output (/ cached input) tokens,
  valid from a date (usage.py). A new price is a new row, so older answers keep theirs.
- usage_daily: finished answers per UTC day, model, endpoint, preset, status and profile, with
  their tokens and time to first token, kept by triggers on messages, so the usage page reads
  a few thousand rows instead of every answer. `answers_by_time` lets a date range read only
  its answers.

Version 11 (each generation counted once; unknown usage)
- messages.copied_from: the answer a fork's copy repeats; usage counts only generations
  (copied_from IS NULL), so a forked chat does not double its tokens and cost.
- messages.generation_s: seconds the model spent writing (first delta to last, per request),
  without waits for approval, tool calls or the next request's first token: tokens/s.
- usage_daily.unreported: complete answers with output but no token counts (an endpoint
  that sends no usage): their tokens are unknown, so totals say "at least".
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from assistant.i18n import _
from assistant.textsearch import register_functions

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
    (
        2,
        "pin, trash, stable ids and full-text search",
        """
        ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE conversations ADD COLUMN deleted_at TEXT;
        ALTER TABLE conversations ADD COLUMN uid TEXT;
        UPDATE conversations SET uid = lower(hex(randomblob(16)));
        CREATE UNIQUE INDEX conversations_by_uid ON conversations(uid);
        CREATE INDEX conversations_for_sidebar
            ON conversations(pinned DESC, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
        CREATE INDEX conversations_in_trash
            ON conversations(deleted_at) WHERE deleted_at IS NOT NULL;

        CREATE VIRTUAL TABLE messages_fts
            USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
        CREATE VIRTUAL TABLE titles_fts
            USING fts5(title, tokenize = 'unicode61 remove_diacritics 2');
        INSERT INTO messages_fts (rowid, body)
            SELECT id, assistant_search_text(content) FROM messages WHERE content != '';
        INSERT INTO titles_fts (rowid, title)
            SELECT id, assistant_search_text(title) FROM conversations;

        CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages
        WHEN new.content != ''
            AND (SELECT deleted_at FROM conversations WHERE id = new.conversation_id) IS NULL
        BEGIN
            INSERT INTO messages_fts (rowid, body)
                VALUES (new.id, assistant_search_text(new.content));
        END;
        CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content ON messages
        WHEN new.content IS NOT old.content
        BEGIN
            DELETE FROM messages_fts WHERE rowid = old.id;
            INSERT INTO messages_fts (rowid, body)
                SELECT new.id, assistant_search_text(new.content)
                WHERE new.content != '' AND (
                    SELECT deleted_at FROM conversations WHERE id = new.conversation_id) IS NULL;
        END;
        CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages
        BEGIN
            DELETE FROM messages_fts WHERE rowid = old.id;
        END;

        CREATE TRIGGER titles_fts_after_insert AFTER INSERT ON conversations
        WHEN new.deleted_at IS NULL
        BEGIN
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, assistant_search_text(new.title));
        END;
        CREATE TRIGGER titles_fts_after_rename AFTER UPDATE OF title ON conversations
        WHEN new.title IS NOT old.title AND new.deleted_at IS NULL
        BEGIN
            DELETE FROM titles_fts WHERE rowid = old.id;
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, assistant_search_text(new.title));
        END;
        CREATE TRIGGER conversations_fts_after_delete AFTER DELETE ON conversations
        BEGIN
            DELETE FROM titles_fts WHERE rowid = old.id;
        END;
        CREATE TRIGGER conversations_fts_to_trash AFTER UPDATE OF deleted_at ON conversations
        WHEN old.deleted_at IS NULL AND new.deleted_at IS NOT NULL
        BEGIN
            DELETE FROM messages_fts
                WHERE rowid IN (SELECT id FROM messages WHERE conversation_id = new.id);
            DELETE FROM titles_fts WHERE rowid = new.id;
        END;
        CREATE TRIGGER conversations_fts_from_trash AFTER UPDATE OF deleted_at ON conversations
        WHEN old.deleted_at IS NOT NULL AND new.deleted_at IS NULL
        BEGIN
            INSERT INTO messages_fts (rowid, body)
                SELECT id, assistant_search_text(content) FROM messages
                WHERE conversation_id = new.id AND content != '';
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, assistant_search_text(new.title));
        END;

        -- The conversations table aggregates every message; these let it read indexes only.
        CREATE INDEX messages_for_summary
            ON messages(conversation_id, model, prompt_tokens, completion_tokens);
        CREATE INDEX answers_for_summary
            ON messages(reply_to, seq, status, conversation_id) WHERE role = 'assistant';

        -- A counter bumped by every change the conversations table shows (not by streamed
        -- text), so a page can cache the table until it changes.
        CREATE TABLE history_version (
            id       INTEGER PRIMARY KEY CHECK (id = 1),
            version  INTEGER NOT NULL
        );
        INSERT INTO history_version (id, version) VALUES (1, 0);
        CREATE TRIGGER history_version_message_added AFTER INSERT ON messages
        BEGIN
            UPDATE history_version SET version = version + 1;
        END;
        CREATE TRIGGER history_version_message_removed AFTER DELETE ON messages
        BEGIN
            UPDATE history_version SET version = version + 1;
        END;
        CREATE TRIGGER history_version_message_changed
        AFTER UPDATE OF status, model, prompt_tokens, completion_tokens ON messages
        BEGIN
            UPDATE history_version SET version = version + 1;
        END;
        CREATE TRIGGER history_version_conversation_added AFTER INSERT ON conversations
        BEGIN
            UPDATE history_version SET version = version + 1;
        END;
        CREATE TRIGGER history_version_conversation_removed AFTER DELETE ON conversations
        BEGIN
            UPDATE history_version SET version = version + 1;
        END;
        CREATE TRIGGER history_version_conversation_changed AFTER UPDATE ON conversations
        BEGIN
            UPDATE history_version SET version = version + 1;
        END;
        """,
    ),
    (
        3,
        "system-prompt presets and app settings",
        """
        CREATE TABLE presets (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL COLLATE NOCASE UNIQUE,
            text        TEXT NOT NULL,
            shipped     INTEGER NOT NULL DEFAULT 0,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE TABLE app_settings (
            key    TEXT PRIMARY KEY,
            value  TEXT NOT NULL
        );
        """,
    ),
    (
        4,
        "endpoint profiles and per-conversation settings",
        """
        CREATE TABLE profiles (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL COLLATE NOCASE UNIQUE,
            kind        TEXT NOT NULL CHECK (kind IN ('openai', 'compatible', 'local')),
            base_url    TEXT,
            key_source  TEXT NOT NULL DEFAULT 'none'
                        CHECK (key_source IN ('none', 'env', 'secrets')),
            key_name    TEXT,
            model       TEXT,
            model_path  TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        ALTER TABLE conversations ADD COLUMN preset_id INTEGER
            REFERENCES presets (id) ON DELETE SET NULL;
        ALTER TABLE conversations ADD COLUMN system_prompt TEXT;
        ALTER TABLE conversations ADD COLUMN profile_id INTEGER
            REFERENCES profiles (id) ON DELETE SET NULL;
        ALTER TABLE conversations ADD COLUMN model TEXT;
        ALTER TABLE conversations ADD COLUMN params TEXT;
        CREATE INDEX conversations_by_preset ON conversations (preset_id)
            WHERE preset_id IS NOT NULL;
        CREATE INDEX conversations_by_profile ON conversations (profile_id)
            WHERE profile_id IS NOT NULL;
        ALTER TABLE messages ADD COLUMN profile_id INTEGER;
        ALTER TABLE messages ADD COLUMN preset TEXT;
        """,
    ),
    (
        5,
        "stop requests and one live answer per conversation",
        """
        ALTER TABLE messages ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
        -- Older versions allowed several live answers in one conversation (two tabs). Keep the
        -- newest live; the others end as interrupted with their text, like a crashed answer.
        UPDATE messages SET status = 'interrupted', heartbeat_at = NULL,
            error = 'Another answer was started in this conversation at the same time;'
                    || ' the text so far was kept.'
        WHERE status IN ('pending', 'streaming') AND seq < (
            SELECT MAX(newer.seq) FROM messages AS newer
            WHERE newer.conversation_id = messages.conversation_id
              AND newer.status IN ('pending', 'streaming'));
        CREATE UNIQUE INDEX one_live_answer_per_conversation
            ON messages (conversation_id) WHERE status IN ('pending', 'streaming');
        """,
    ),
    (
        6,
        "conversation statistics kept by triggers",
        """
        CREATE TABLE conversation_stats (
            conversation_id  INTEGER PRIMARY KEY
                             REFERENCES conversations(id) ON DELETE CASCADE,
            messages         INTEGER NOT NULL DEFAULT 0,
            tokens           INTEGER NOT NULL DEFAULT 0,
            models           TEXT NOT NULL DEFAULT ''  -- distinct model names, comma-joined
        );
        INSERT INTO conversation_stats (conversation_id, messages, tokens, models)
            SELECT conversation_id, COUNT(*),
                   COALESCE(SUM(prompt_tokens), 0) + COALESCE(SUM(completion_tokens), 0),
                   COALESCE(GROUP_CONCAT(DISTINCT NULLIF(model, '')), '')
            FROM messages GROUP BY conversation_id;
        CREATE TRIGGER conversation_stats_message_added AFTER INSERT ON messages
        BEGIN
            INSERT INTO conversation_stats (conversation_id) VALUES (new.conversation_id)
                ON CONFLICT (conversation_id) DO NOTHING;
            UPDATE conversation_stats SET
                messages = messages + 1,
                tokens = tokens + COALESCE(new.prompt_tokens, 0)
                                + COALESCE(new.completion_tokens, 0),
                models = CASE
                    WHEN COALESCE(new.model, '') = ''
                      OR instr(',' || models || ',', ',' || new.model || ',') > 0 THEN models
                    WHEN models = '' THEN new.model
                    ELSE models || ',' || new.model END
            WHERE conversation_id = new.conversation_id;
        END;
        CREATE TRIGGER conversation_stats_message_changed
        AFTER UPDATE OF model, prompt_tokens, completion_tokens ON messages
        BEGIN
            UPDATE conversation_stats SET
                tokens = tokens
                    + COALESCE(new.prompt_tokens, 0) + COALESCE(new.completion_tokens, 0)
                    - COALESCE(old.prompt_tokens, 0) - COALESCE(old.completion_tokens, 0),
                models = CASE WHEN new.model IS old.model THEN models ELSE
                    (SELECT COALESCE(GROUP_CONCAT(DISTINCT NULLIF(model, '')), '')
                     FROM messages WHERE conversation_id = new.conversation_id) END
            WHERE conversation_id = new.conversation_id;
        END;
        -- A whole conversation deleted (its stats row goes with it) needs no recount.
        CREATE TRIGGER conversation_stats_message_removed AFTER DELETE ON messages
        WHEN EXISTS (SELECT 1 FROM conversations WHERE id = old.conversation_id)
        BEGIN
            UPDATE conversation_stats SET
                messages = messages - 1,
                tokens = tokens
                    - COALESCE(old.prompt_tokens, 0) - COALESCE(old.completion_tokens, 0),
                models = (SELECT COALESCE(GROUP_CONCAT(DISTINCT NULLIF(model, '')), '')
                          FROM messages WHERE conversation_id = old.conversation_id)
            WHERE conversation_id = old.conversation_id;
        END;
        CREATE INDEX messages_with_problems ON messages (conversation_id, reply_to, seq)
            WHERE role = 'assistant' AND status IN ('error', 'interrupted');
        """,
    ),
    (
        7,
        "messages as a tree, answer parts, active branch",
        """
        ALTER TABLE messages ADD COLUMN parent_id INTEGER
            REFERENCES messages(id) ON DELETE CASCADE;
        ALTER TABLE messages ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN parts TEXT;
        ALTER TABLE conversations ADD COLUMN active_leaf INTEGER
            REFERENCES messages(id) ON DELETE SET NULL;
        ALTER TABLE conversations ADD COLUMN forked_from INTEGER
            REFERENCES messages(id) ON DELETE SET NULL;

        -- Parents and depths are worked out aside, then written in one pass over the rows
        -- (three passes took 10 s on 1,000,000 messages).
        CREATE TEMP TABLE migration_parents (
            id INTEGER PRIMARY KEY, parent_id INTEGER);
        -- An answer follows its question. A user message follows the newest answer its
        -- previous question had when it was sent (the version the old view showed then), or
        -- that question if it had none.
        INSERT INTO migration_parents (id, parent_id)
            SELECT id, CASE WHEN role = 'assistant' THEN reply_to ELSE (
                SELECT COALESCE(
                    (SELECT answer.id FROM messages AS answer
                     WHERE answer.reply_to = previous.id AND answer.role = 'assistant'
                       AND answer.seq < messages.seq
                     ORDER BY answer.seq DESC LIMIT 1),
                    previous.id)
                FROM messages AS previous
                WHERE previous.conversation_id = messages.conversation_id
                  AND previous.role = 'user' AND previous.seq < messages.seq
                ORDER BY previous.seq DESC LIMIT 1) END
            FROM messages;
        CREATE INDEX temp.migration_parents_by_parent ON migration_parents (parent_id);
        CREATE TEMP TABLE migration_tree (
            id INTEGER PRIMARY KEY, parent_id INTEGER, depth INTEGER NOT NULL);
        INSERT INTO migration_tree (id, parent_id, depth)
            WITH RECURSIVE tree (id, parent_id, depth) AS (
                SELECT id, NULL, 0 FROM migration_parents WHERE parent_id IS NULL
                UNION ALL
                SELECT child.id, child.parent_id, tree.depth + 1 FROM migration_parents AS child
                JOIN tree ON child.parent_id = tree.id)
            SELECT id, parent_id, depth FROM tree;
        UPDATE messages SET parent_id = migration_tree.parent_id, depth = migration_tree.depth
            FROM migration_tree
            WHERE migration_tree.id = messages.id AND migration_tree.parent_id IS NOT NULL;
        DROP TABLE migration_tree;
        DROP TABLE migration_parents;
        CREATE INDEX messages_by_parent ON messages (parent_id);

        -- The branch on screen: the last question's newest answer (or the question).
        UPDATE conversations SET active_leaf = (
            SELECT COALESCE(
                (SELECT answer.id FROM messages AS answer
                 WHERE answer.reply_to = question.id AND answer.role = 'assistant'
                 ORDER BY answer.seq DESC LIMIT 1),
                question.id)
            FROM messages AS question
            WHERE question.conversation_id = conversations.id AND question.role = 'user'
            ORDER BY question.seq DESC LIMIT 1);

        ALTER TABLE conversation_stats ADD COLUMN leaves INTEGER NOT NULL DEFAULT 0;
        UPDATE conversation_stats SET leaves = (
            SELECT COUNT(*) FROM messages AS m
            WHERE m.conversation_id = conversation_stats.conversation_id
              AND NOT EXISTS (SELECT 1 FROM messages AS child WHERE child.parent_id = m.id));
        -- A new root or a second child adds a leaf; a first child replaces its parent as one.
        CREATE TRIGGER conversation_stats_leaf_added AFTER INSERT ON messages
        BEGIN
            INSERT INTO conversation_stats (conversation_id) VALUES (new.conversation_id)
                ON CONFLICT (conversation_id) DO NOTHING;
            UPDATE conversation_stats SET leaves = leaves + 1
            WHERE conversation_id = new.conversation_id AND (
                new.parent_id IS NULL OR EXISTS (
                    SELECT 1 FROM messages AS sibling
                    WHERE sibling.parent_id = new.parent_id AND sibling.id != new.id));
        END;

        DROP INDEX one_live_answer_per_conversation;
        CREATE UNIQUE INDEX one_live_answer_per_question
            ON messages (reply_to) WHERE status IN ('pending', 'streaming');
        """,
    ),
    (
        8,
        "MCP tool servers, tools per chat, approvals",
        """
        CREATE TABLE mcp_servers (
            id             INTEGER PRIMARY KEY,
            name           TEXT NOT NULL COLLATE NOCASE UNIQUE,
            transport      TEXT NOT NULL CHECK (transport IN ('stdio', 'http')),
            command        TEXT,
            args           TEXT NOT NULL DEFAULT '[]',
            env            TEXT NOT NULL DEFAULT '{}',
            env_pass       TEXT NOT NULL DEFAULT '[]',
            url            TEXT,
            header_name    TEXT,
            header_source  TEXT NOT NULL DEFAULT 'none'
                           CHECK (header_source IN ('none', 'env', 'secrets')),
            header_key     TEXT,
            enabled        INTEGER NOT NULL DEFAULT 1,
            created_at     TEXT NOT NULL,
            updated_at     TEXT NOT NULL
        );
        ALTER TABLE conversations ADD COLUMN tools TEXT;
        CREATE TABLE tool_approvals (
            answer_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            call_id     TEXT NOT NULL,
            server      TEXT NOT NULL,
            tool        TEXT NOT NULL,
            arguments   TEXT NOT NULL,
            decision    TEXT CHECK (decision IN ('approve', 'deny')),
            always      INTEGER NOT NULL DEFAULT 0,
            created_at  TEXT NOT NULL,
            decided_at  TEXT,
            PRIMARY KEY (answer_id, call_id)
        );
        CREATE INDEX tool_approvals_waiting ON tool_approvals (answer_id) WHERE decision IS NULL;

        DROP TRIGGER messages_fts_after_insert;
        DROP TRIGGER messages_fts_after_update;
        DROP TRIGGER conversations_fts_from_trash;
        CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages
        WHEN (new.content != '' OR new.parts IS NOT NULL)
            AND (SELECT deleted_at FROM conversations WHERE id = new.conversation_id) IS NULL
        BEGIN
            INSERT INTO messages_fts (rowid, body) VALUES (
                new.id, assistant_search_text(assistant_message_text(new.content, new.parts)));
        END;
        CREATE TRIGGER messages_fts_after_update AFTER UPDATE OF content, parts ON messages
        WHEN new.content IS NOT old.content OR new.parts IS NOT old.parts
        BEGIN
            DELETE FROM messages_fts WHERE rowid = old.id;
            INSERT INTO messages_fts (rowid, body)
                SELECT new.id,
                       assistant_search_text(assistant_message_text(new.content, new.parts))
                WHERE (new.content != '' OR new.parts IS NOT NULL) AND (
                    SELECT deleted_at FROM conversations WHERE id = new.conversation_id) IS NULL;
        END;
        CREATE TRIGGER conversations_fts_from_trash AFTER UPDATE OF deleted_at ON conversations
        WHEN old.deleted_at IS NOT NULL AND new.deleted_at IS NULL
        BEGIN
            INSERT INTO messages_fts (rowid, body)
                SELECT id, assistant_search_text(assistant_message_text(content, parts))
                FROM messages
                WHERE conversation_id = new.id AND (content != '' OR parts IS NOT NULL);
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, assistant_search_text(new.title));
        END;
        -- Imported answers (migration 7) may already hold tool parts: index them.
        DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE parts IS NOT NULL);
        INSERT INTO messages_fts (rowid, body)
            SELECT m.id, assistant_search_text(assistant_message_text(m.content, m.parts))
            FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
            WHERE m.parts IS NOT NULL AND c.deleted_at IS NULL;
        """,
    ),
    (
        9,
        "prices and daily usage kept by triggers",
        """
        CREATE TABLE prices (
            id                  INTEGER PRIMARY KEY,
            pattern             TEXT NOT NULL,
            input_per_m         REAL NOT NULL CHECK (input_per_m >= 0),
            output_per_m        REAL NOT NULL CHECK (output_per_m >= 0),
            cached_input_per_m  REAL CHECK (cached_input_per_m >= 0),
            valid_from          TEXT NOT NULL,
            created_at          TEXT NOT NULL
        );
        CREATE TABLE usage_daily (
            day         TEXT NOT NULL,
            model       TEXT NOT NULL,
            endpoint    TEXT NOT NULL,
            preset      TEXT NOT NULL,
            status      TEXT NOT NULL,
            profile_id  INTEGER NOT NULL,
            answers     INTEGER NOT NULL DEFAULT 0,
            tokens_in   INTEGER NOT NULL DEFAULT 0,
            tokens_out  INTEGER NOT NULL DEFAULT 0,
            ttft_sum    REAL NOT NULL DEFAULT 0,
            ttft_n      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, model, endpoint, preset, status, profile_id)
        );
        INSERT INTO usage_daily (day, model, endpoint, preset, status, profile_id, answers,
                                 tokens_in, tokens_out, ttft_sum, ttft_n)
            SELECT substr(created_at, 1, 10), COALESCE(model, ''), COALESCE(provider, ''),
                   COALESCE(preset, ''), status, COALESCE(profile_id, 0), COUNT(*),
                   COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
                   COALESCE(SUM(first_token_s), 0), COUNT(first_token_s)
            FROM messages
            WHERE role = 'assistant'
              AND status IN ('complete', 'stopped', 'error', 'interrupted')
            GROUP BY 1, 2, 3, 4, 5, 6;
        CREATE TRIGGER usage_daily_answer_added AFTER INSERT ON messages
        WHEN new.role = 'assistant'
            AND new.status IN ('complete', 'stopped', 'error', 'interrupted')
        BEGIN
            INSERT INTO usage_daily (day, model, endpoint, preset, status, profile_id, answers,
                                     tokens_in, tokens_out, ttft_sum, ttft_n)
            VALUES (substr(new.created_at, 1, 10), COALESCE(new.model, ''),
                    COALESCE(new.provider, ''), COALESCE(new.preset, ''), new.status,
                    COALESCE(new.profile_id, 0), 1, COALESCE(new.prompt_tokens, 0),
                    COALESCE(new.completion_tokens, 0), COALESCE(new.first_token_s, 0),
                    new.first_token_s IS NOT NULL)
            ON CONFLICT (day, model, endpoint, preset, status, profile_id) DO UPDATE SET
                answers = answers + 1,
                tokens_in = tokens_in + excluded.tokens_in,
                tokens_out = tokens_out + excluded.tokens_out,
                ttft_sum = ttft_sum + excluded.ttft_sum,
                ttft_n = ttft_n + excluded.ttft_n;
        END;
        CREATE TRIGGER usage_daily_answer_changed
        AFTER UPDATE OF status, model, prompt_tokens, completion_tokens, first_token_s
        ON messages
        WHEN new.role = 'assistant' AND (
            old.status IN ('complete', 'stopped', 'error', 'interrupted')
            OR new.status IN ('complete', 'stopped', 'error', 'interrupted'))
        BEGIN
            UPDATE usage_daily SET
                answers = answers - 1,
                tokens_in = tokens_in - COALESCE(old.prompt_tokens, 0),
                tokens_out = tokens_out - COALESCE(old.completion_tokens, 0),
                ttft_sum = ttft_sum - COALESCE(old.first_token_s, 0),
                ttft_n = ttft_n - (old.first_token_s IS NOT NULL)
            WHERE old.status IN ('complete', 'stopped', 'error', 'interrupted')
              AND day = substr(old.created_at, 1, 10) AND model = COALESCE(old.model, '')
              AND endpoint = COALESCE(old.provider, '') AND preset = COALESCE(old.preset, '')
              AND status = old.status AND profile_id = COALESCE(old.profile_id, 0);
            INSERT INTO usage_daily (day, model, endpoint, preset, status, profile_id, answers,
                                     tokens_in, tokens_out, ttft_sum, ttft_n)
            SELECT substr(new.created_at, 1, 10), COALESCE(new.model, ''),
                   COALESCE(new.provider, ''), COALESCE(new.preset, ''), new.status,
                   COALESCE(new.profile_id, 0), 1, COALESCE(new.prompt_tokens, 0),
                   COALESCE(new.completion_tokens, 0), COALESCE(new.first_token_s, 0),
                   new.first_token_s IS NOT NULL
            WHERE new.status IN ('complete', 'stopped', 'error', 'interrupted')
            ON CONFLICT (day, model, endpoint, preset, status, profile_id) DO UPDATE SET
                answers = answers + 1,
                tokens_in = tokens_in + excluded.tokens_in,
                tokens_out = tokens_out + excluded.tokens_out,
                ttft_sum = ttft_sum + excluded.ttft_sum,
                ttft_n = ttft_n + excluded.ttft_n;
        END;
        CREATE TRIGGER usage_daily_answer_removed AFTER DELETE ON messages
        WHEN old.role = 'assistant'
            AND old.status IN ('complete', 'stopped', 'error', 'interrupted')
        BEGIN
            UPDATE usage_daily SET
                answers = answers - 1,
                tokens_in = tokens_in - COALESCE(old.prompt_tokens, 0),
                tokens_out = tokens_out - COALESCE(old.completion_tokens, 0),
                ttft_sum = ttft_sum - COALESCE(old.first_token_s, 0),
                ttft_n = ttft_n - (old.first_token_s IS NOT NULL)
            WHERE day = substr(old.created_at, 1, 10) AND model = COALESCE(old.model, '')
              AND endpoint = COALESCE(old.provider, '') AND preset = COALESCE(old.preset, '')
              AND status = old.status AND profile_id = COALESCE(old.profile_id, 0);
        END;
        CREATE INDEX answers_by_time ON messages (created_at) WHERE role = 'assistant';
        """,
    ),
    (
        10,
        "where a conversation's title came from (automatic titles)",
        # Titles that exist already are kept as they are ('set'): only a chat started after
        # this migration has its first-words title replaced by its model's.
        """
        ALTER TABLE conversations ADD COLUMN title_source TEXT NOT NULL DEFAULT 'set';
        """,
    ),
    (
        11,
        "fork copies counted once; answers without usage; generation time",
        # A fork copies answers with their tokens: `copied_from` names the generation a copy
        # repeats (the first original), and the rollup counts generations only. Copies made
        # before this migration are found by what a fork copies unchanged (role, text and
        # creation time, in another conversation, written earlier). `unreported` counts
        # complete answers with output but no token counts (an endpoint that sends no usage, such as
        # llama.cpp's server): their tokens are unknown, not 0. `generation_s` is the time
        # the model spent writing (first delta to last, summed over an answer's requests).
        """
        ALTER TABLE messages ADD COLUMN copied_from INTEGER;
        ALTER TABLE messages ADD COLUMN generation_s REAL;
        ALTER TABLE usage_daily ADD COLUMN unreported INTEGER NOT NULL DEFAULT 0;
        UPDATE messages SET copied_from = (
            SELECT MIN(o.id) FROM messages AS o
            WHERE o.role = 'assistant' AND o.created_at = messages.created_at
              AND o.id < messages.id AND o.conversation_id != messages.conversation_id
              AND o.content = messages.content
              AND o.parts IS messages.parts)
        WHERE role = 'assistant' AND conversation_id IN (
            SELECT id FROM conversations WHERE forked_from IS NOT NULL);
        DROP TRIGGER usage_daily_answer_added;
        DROP TRIGGER usage_daily_answer_changed;
        DROP TRIGGER usage_daily_answer_removed;
        DELETE FROM usage_daily;
        INSERT INTO usage_daily (day, model, endpoint, preset, status, profile_id, answers,
                                 tokens_in, tokens_out, ttft_sum, ttft_n, unreported)
            SELECT substr(created_at, 1, 10), COALESCE(model, ''), COALESCE(provider, ''),
                   COALESCE(preset, ''), status, COALESCE(profile_id, 0), COUNT(*),
                   COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
                   COALESCE(SUM(first_token_s), 0), COUNT(first_token_s),
                   SUM(status = 'complete' AND completion_tokens IS NULL
                       AND (content != '' OR parts IS NOT NULL))
            FROM messages
            WHERE role = 'assistant' AND copied_from IS NULL
              AND status IN ('complete', 'stopped', 'error', 'interrupted')
            GROUP BY 1, 2, 3, 4, 5, 6;
        CREATE TRIGGER usage_daily_answer_added AFTER INSERT ON messages
        WHEN new.role = 'assistant' AND new.copied_from IS NULL
            AND new.status IN ('complete', 'stopped', 'error', 'interrupted')
        BEGIN
            INSERT INTO usage_daily (day, model, endpoint, preset, status, profile_id, answers,
                                     tokens_in, tokens_out, ttft_sum, ttft_n, unreported)
            VALUES (substr(new.created_at, 1, 10), COALESCE(new.model, ''),
                    COALESCE(new.provider, ''), COALESCE(new.preset, ''), new.status,
                    COALESCE(new.profile_id, 0), 1, COALESCE(new.prompt_tokens, 0),
                    COALESCE(new.completion_tokens, 0), COALESCE(new.first_token_s, 0),
                    new.first_token_s IS NOT NULL,
                    new.status = 'complete' AND new.completion_tokens IS NULL
                    AND (new.content != '' OR new.parts IS NOT NULL))
            ON CONFLICT (day, model, endpoint, preset, status, profile_id) DO UPDATE SET
                answers = answers + 1,
                tokens_in = tokens_in + excluded.tokens_in,
                tokens_out = tokens_out + excluded.tokens_out,
                ttft_sum = ttft_sum + excluded.ttft_sum,
                ttft_n = ttft_n + excluded.ttft_n,
                unreported = unreported + excluded.unreported;
        END;
        CREATE TRIGGER usage_daily_answer_changed
        AFTER UPDATE OF status, model, prompt_tokens, completion_tokens, first_token_s, content,
                        parts
        ON messages
        WHEN new.role = 'assistant' AND new.copied_from IS NULL AND (
            old.status IN ('complete', 'stopped', 'error', 'interrupted')
            OR new.status IN ('complete', 'stopped', 'error', 'interrupted'))
        BEGIN
            UPDATE usage_daily SET
                answers = answers - 1,
                tokens_in = tokens_in - COALESCE(old.prompt_tokens, 0),
                tokens_out = tokens_out - COALESCE(old.completion_tokens, 0),
                ttft_sum = ttft_sum - COALESCE(old.first_token_s, 0),
                ttft_n = ttft_n - (old.first_token_s IS NOT NULL),
                unreported = unreported - (old.status = 'complete'
                    AND old.completion_tokens IS NULL
                    AND (old.content != '' OR old.parts IS NOT NULL))
            WHERE old.status IN ('complete', 'stopped', 'error', 'interrupted')
              AND day = substr(old.created_at, 1, 10) AND model = COALESCE(old.model, '')
              AND endpoint = COALESCE(old.provider, '') AND preset = COALESCE(old.preset, '')
              AND status = old.status AND profile_id = COALESCE(old.profile_id, 0);
            INSERT INTO usage_daily (day, model, endpoint, preset, status, profile_id, answers,
                                     tokens_in, tokens_out, ttft_sum, ttft_n, unreported)
            SELECT substr(new.created_at, 1, 10), COALESCE(new.model, ''),
                   COALESCE(new.provider, ''), COALESCE(new.preset, ''), new.status,
                   COALESCE(new.profile_id, 0), 1, COALESCE(new.prompt_tokens, 0),
                   COALESCE(new.completion_tokens, 0), COALESCE(new.first_token_s, 0),
                   new.first_token_s IS NOT NULL,
                   new.status = 'complete' AND new.completion_tokens IS NULL
                    AND (new.content != '' OR new.parts IS NOT NULL)
            WHERE new.status IN ('complete', 'stopped', 'error', 'interrupted')
            ON CONFLICT (day, model, endpoint, preset, status, profile_id) DO UPDATE SET
                answers = answers + 1,
                tokens_in = tokens_in + excluded.tokens_in,
                tokens_out = tokens_out + excluded.tokens_out,
                ttft_sum = ttft_sum + excluded.ttft_sum,
                ttft_n = ttft_n + excluded.ttft_n,
                unreported = unreported + excluded.unreported;
        END;
        CREATE TRIGGER usage_daily_answer_removed AFTER DELETE ON messages
        WHEN old.role = 'assistant' AND old.copied_from IS NULL
            AND old.status IN ('complete', 'stopped', 'error', 'interrupted')
        BEGIN
            UPDATE usage_daily SET
                answers = answers - 1,
                tokens_in = tokens_in - COALESCE(old.prompt_tokens, 0),
                tokens_out = tokens_out - COALESCE(old.completion_tokens, 0),
                ttft_sum = ttft_sum - COALESCE(old.first_token_s, 0),
                ttft_n = ttft_n - (old.first_token_s IS NOT NULL),
                unreported = unreported - (old.status = 'complete'
                    AND old.completion_tokens IS NULL
                    AND (old.content != '' OR old.parts IS NOT NULL))
            WHERE day = substr(old.created_at, 1, 10) AND model = COALESCE(old.model, '')
              AND endpoint = COALESCE(old.provider, '') AND preset = COALESCE(old.preset, '')
              AND status = old.status AND profile_id = COALESCE(old.profile_id, 0);
        END;
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
    """Apply every migration above the current version (up to `target`); returns the version.

    Each step reads the version and applies the next migration under one write lock (BEGIN
    IMMEDIATE), so processes opening a new database at the same time queue behind each other
    and never apply a migration twice.
    """
    target = LATEST_VERSION if target is None else target
    register_functions(conn)  # the search triggers and the index backfill call it
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _ensure_table(conn)
            version = current_version(conn)
            if version > LATEST_VERSION:
                raise sqlite3.DatabaseError(
                    _(
                        "database schema version {version} is newer than this app "
                        "({LATEST_VERSION}); upgrade the app"
                    ).format(version=version, LATEST_VERSION=LATEST_VERSION)
                )
            step = next(((n, name, sql) for n, name, sql in MIGRATIONS if n == version + 1), None)
            if step is None or step[0] > target:
                conn.execute("COMMIT")
                return version
            number, name, sql = step
            # executescript would commit the open transaction; run statements one by one.
            for statement in _split(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


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
