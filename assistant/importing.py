"""Read conversation files: this app's JSON / JSON Lines export and ChatGPT's conversations.json.

`read_conversations(data)` recognises the format, checks it and returns `ImportedConversation`s,
or raises `ImportProblem` with one sentence saying what is wrong and where. Nothing touches
the database here; `Store.import_conversations` writes the result in one transaction.

ChatGPT's export keeps each conversation as a tree (`mapping`: node id -> {message, parent,
children}) because edits and regenerations branch it. We take the main branch: from
`current_node` (the message the user last saw) up through its parents to the root. System
messages, tool calls and hidden messages are left out; consecutive assistant messages (a reply
split around a tool call) are joined into one answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from assistant.errors import ImportProblem
from assistant.export import EXPORT_FORMAT, EXPORT_FORMAT_VERSION
from assistant.store import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    ImportedConversation,
    ImportedMessage,
    ImportResult,
    make_title,
)

CHATGPT_PROVIDER = "chatgpt-export"
ATTACHMENT_NOTE = "[an image or file that the export does not include]"
IMPORT_TEXT_LIMIT = 200_000  # characters in one imported message (or prompt, or error)
TITLE_IMPORT_LIMIT = 10_000
INTERRUPTED_ON_IMPORT = "This answer was still being written when it was exported."


def read_conversations(data: bytes | str) -> list[ImportedConversation]:
    """Any supported file's bytes -> conversations to import."""
    text = _decode(data)
    if not text.strip():
        raise ImportProblem("The file is empty.")
    try:
        document = _parse_json(text)
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith("{"):
            return _checked(_read_jsonl(lines))
        raise ImportProblem(
            f"The file is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from exc
    if isinstance(document, dict) and document.get("format") == EXPORT_FORMAT:
        return _checked(_read_own_export(document))
    if isinstance(document, dict) and isinstance(document.get("messages"), list):
        # a one-line JSON Lines file
        return _checked([_own_conversation(document, "The conversation")])
    if isinstance(document, list):
        if not document:
            raise ImportProblem("The file holds an empty list: there is nothing to import.")
        if all(isinstance(item, dict) and "mapping" in item for item in document):
            return _checked(
                [_chatgpt_conversation_checked(item, i + 1) for i, item in enumerate(document)]
            )
        raise ImportProblem(
            "The file is a JSON list, but not ChatGPT's conversations.json: each conversation "
            'there has a "mapping" of messages.'
        )
    raise ImportProblem(
        "This is not a file the app can import. Use this app's JSON or JSON Lines export, or "
        "conversations.json from a ChatGPT data export."
    )


# -- limits every importer checks ------------------------------------------------------------


def _checked(conversations: list[ImportedConversation]) -> list[ImportedConversation]:
    """Refuse (naming where) what the database or the pages could not hold as it is.

    A message longer than IMPORT_TEXT_LIMIT characters, text that is not valid Unicode (a lone
    surrogate such as "\\ud800"), a time that is not ISO-8601, or a number SQLite cannot store
    refuses the whole file: nothing is imported, nothing is cut, and the file is unchanged.
    """
    checked = []
    for number, conversation in enumerate(conversations, start=1):
        where = f'Conversation {number} ("{_printable(conversation.title[:40])}")'
        _text(conversation.title, where, "its title", TITLE_IMPORT_LIMIT)
        _text(conversation.uid, where, '"uid"', TITLE_IMPORT_LIMIT)
        messages = []
        for index, message in enumerate(conversation.messages, start=1):
            messages.append(_checked_message(message, f"{where}, message {index}"))
        checked.append(
            replace(
                conversation,
                created_at=_time(conversation.created_at, where, "created_at"),
                updated_at=_time(conversation.updated_at, where, "updated_at"),
                messages=tuple(messages),
            )
        )
    return checked


def _checked_message(message: ImportedMessage, place: str) -> ImportedMessage:
    _text(message.content, place, "its text", IMPORT_TEXT_LIMIT)
    for name in ("provider", "model", "system_prompt", "preset", "error"):
        value = getattr(message, name)
        if value is not None:
            _text(value, place, f'"{name}"', IMPORT_TEXT_LIMIT)
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(message, name)
        if value is not None and not 0 <= value < 2**63:
            raise ImportProblem(f'{place}: "{name}" is not a token count ({value}).')
    for name in ("first_token_s", "total_s"):
        value = getattr(message, name)
        if value is not None and not (0 <= value < 10**9):
            raise ImportProblem(f'{place}: "{name}" is not a duration ({value}).')
    try:
        json.dumps(message.params, allow_nan=False)
        _text(json.dumps(message.params), place, '"params"', IMPORT_TEXT_LIMIT)
    except (ValueError, TypeError, RecursionError):
        raise ImportProblem(f'{place}: "params" cannot be stored.') from None
    updated_at = message.updated_at
    return replace(
        message,
        created_at=_time(message.created_at, place, "created_at"),
        updated_at=_time(updated_at, place, "updated_at") if updated_at is not None else None,
    )


def _printable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _text(value: str, where: str, what: str, limit: int) -> None:
    if len(value) > limit:
        raise ImportProblem(
            f"{where}: {what} has {len(value):,} characters; imported text is limited to {limit:,}."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ImportProblem(
            f"{where}: {what} is not valid Unicode text (character {exc.start + 1} is "
            f"{value[exc.start]!a})."
        ) from None


def _time(value: str, where: str, what: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError):
        raise ImportProblem(
            f'{where}: "{what}" is not a date and time ({_printable(value[:40])!r}); use '
            "ISO 8601, e.g. 2026-05-01T12:00:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def describe(result: ImportResult) -> str:
    """One sentence for the user about what an import did."""
    if not result.imported:
        if result.skipped:
            return f"Nothing new: {_plural(result.skipped, 'conversation')} already here."
        return "The file holds no conversations."
    text = (
        f"Imported {_plural(len(result.imported), 'conversation')} "
        f"with {_plural(result.messages, 'message')}"
    )
    if result.skipped:
        text += f"; skipped {result.skipped} already here"
    return text + "."


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read); is it a JSON file?"
        ) from exc


# -- this app's export ------------------------------------------------------------------------


def _read_own_export(document: dict[str, Any]) -> list[ImportedConversation]:
    version = document.get("version")
    if not isinstance(version, int) or version < 1:
        raise ImportProblem('The export has no valid "version" number.')
    if version > EXPORT_FORMAT_VERSION:
        raise ImportProblem(
            f"The export is format version {version}, made by a newer version of the app; "
            f"this one reads up to version {EXPORT_FORMAT_VERSION}."
        )
    conversations = document.get("conversations")
    if not isinstance(conversations, list):
        raise ImportProblem('The export has no "conversations" list.')
    return [
        _own_conversation(item, f"Conversation {index}")
        for index, item in enumerate(conversations, start=1)
    ]


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ImportProblem(
            "The file nests lists or objects too deeply to be a conversation export."
        ) from None


def _read_jsonl(lines: list[str]) -> list[ImportedConversation]:
    result = []
    for number, line in enumerate(lines, start=1):
        try:
            item = _parse_json(line)
        except json.JSONDecodeError as exc:
            raise ImportProblem(
                f"Line {number} of the JSON Lines file is not valid JSON ({exc.msg})."
            ) from exc
        result.append(_own_conversation(item, f"Line {number}"))
    return result


def _require(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ImportProblem(f"{where}: {what}.")
    return value


def _optional(item: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = item.get(name)
    if value is None:
        return None
    return _require(value, kind, where, f'"{name}" has the wrong type')


def _own_conversation(item: Any, where: str) -> ImportedConversation:
    _require(item, dict, where, "is not an object")
    title = _require(item.get("title"), str, where, 'has no "title" text')
    created_at = _require(item.get("created_at"), str, where, 'has no "created_at" time')
    updated_at = _optional(item, "updated_at", str, where) or created_at
    raw_messages = _require(item.get("messages"), list, where, 'has no "messages" list')
    ordered = sorted(enumerate(raw_messages), key=_file_order)
    messages: list[ImportedMessage] = []
    known: set[str] = set()
    last_question: str | None = None
    for position, raw in ordered:
        message = _own_message(raw, position, f'{where} ("{title[:40]}"), message {position + 1}')
        if message.role == "assistant":
            reply_to = message.reply_to if message.reply_to in known else last_question
            if reply_to is None:
                raise ImportProblem(
                    f'{where} ("{title[:40]}"), message {position + 1}: an answer with no '
                    "question before it."
                )
            message = replace(message, reply_to=reply_to)
        else:
            last_question = message.key
        known.add(message.key)
        messages.append(message)
    uid = _optional(item, "uid", str, where) or _content_uid(title, created_at, messages)
    return ImportedConversation(
        uid=uid,
        title=title.strip() or "Imported chat",
        created_at=created_at,
        updated_at=updated_at,
        pinned=bool(item.get("pinned", False)),
        messages=tuple(messages),
    )


def _file_order(pair: tuple[int, Any]) -> int:
    """A message's `seq` when it has a usable one, else its position in the file."""
    position, raw = pair
    seq = raw.get("seq") if isinstance(raw, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else position


def _own_message(raw: Any, position: int, where: str) -> ImportedMessage:
    _require(raw, dict, where, "is not an object")
    role = raw.get("role")
    if role not in ("user", "assistant"):
        raise ImportProblem(f'{where}: role must be "user" or "assistant", not {role!r}.')
    content = _require(raw.get("content", ""), str, where, '"content" is not text')
    status = raw.get("status") or "complete"
    if status not in FINAL_STATUSES + LIVE_STATUSES:
        raise ImportProblem(f"{where}: unknown status {status!r}.")
    error = _optional(raw, "error", str, where)
    if role == "user":
        status = "complete"
    elif status in LIVE_STATUSES:  # importing must never start a generation
        status, error = "interrupted", INTERRUPTED_ON_IMPORT
    key = raw.get("id")
    params = _optional(raw, "params", dict, where) or {}
    return ImportedMessage(
        key=str(key) if key is not None else f"#{position}",
        role=role,
        content=content,
        status=status,
        reply_to=str(raw["reply_to"]) if raw.get("reply_to") is not None else None,
        provider=_optional(raw, "provider", str, where),
        model=_optional(raw, "model", str, where),
        params=params,
        system_prompt=_optional(raw, "system_prompt", str, where),
        preset=_optional(raw, "preset", str, where),
        prompt_tokens=_optional(raw, "prompt_tokens", int, where),
        completion_tokens=_optional(raw, "completion_tokens", int, where),
        first_token_s=_optional(raw, "first_token_s", (int, float), where),
        total_s=_optional(raw, "total_s", (int, float), where),
        finish_reason=_optional(raw, "finish_reason", str, where),
        error=error,
        created_at=_require(raw.get("created_at"), str, where, 'has no "created_at" time'),
        updated_at=_optional(raw, "updated_at", str, where),
    )


def _content_uid(title: str, created_at: str, messages: list[ImportedMessage]) -> str:
    """An identity for a file without uids, so importing it twice still adds it once."""
    digest = hashlib.sha256()
    for part in (title, created_at, *(m.role + "\0" + m.content for m in messages[:4])):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")  # checked later
    return "content-" + digest.hexdigest()[:32]


# -- ChatGPT's conversations.json -------------------------------------------------------------


def _epoch_iso(value: Any, fallback: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        moment = datetime.fromtimestamp(float(value), UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return fallback


def _main_branch(mapping: dict[str, Any], current: Any, where: str) -> list[dict[str, Any]]:
    """The nodes from the root to `current_node` (or to the newest leaf when it is missing)."""
    if current not in mapping:
        roots = [key for key, node in mapping.items() if not node.get("parent")]
        if not roots:
            raise ImportProblem(f"{where}: its message tree has no root.")
        current = roots[0]
        while mapping.get(current, {}).get("children"):
            current = mapping[current]["children"][-1]
    branch: list[dict[str, Any]] = []
    seen: set[str] = set()
    node_id = current
    while node_id is not None and node_id in mapping:
        if node_id in seen:
            raise ImportProblem(f"{where}: its message tree has a loop.")
        seen.add(node_id)
        node = mapping[node_id]
        if not isinstance(node, dict):
            raise ImportProblem(f"{where}: node {node_id!r} is not an object.")
        branch.append(node)
        node_id = node.get("parent")
    branch.reverse()
    return branch


def _chatgpt_text(message: dict[str, Any]) -> str | None:
    """The visible text of a ChatGPT message, or None when it is not shown to the user."""
    metadata = message.get("metadata") or {}
    if metadata.get("is_visually_hidden_from_conversation"):
        return None
    if message.get("recipient", "all") != "all":  # a call to a tool
        return None
    content = message.get("content") or {}
    if content.get("content_type") not in ("text", "multimodal_text"):
        return None
    parts = []
    for part in content.get("parts") or []:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            parts.append(ATTACHMENT_NOTE)
    text = "\n".join(parts).strip()
    return text or None


def _chatgpt_conversation_checked(item: dict[str, Any], number: int) -> ImportedConversation:
    """ChatGPT's format is undocumented and changes: a shape we do not expect gets a clear
    message naming the conversation instead of a traceback."""
    try:
        return _chatgpt_conversation(item, number)
    except ImportProblem:
        raise
    except (AttributeError, TypeError, KeyError, ValueError, OverflowError) as exc:
        title = item.get("title") if isinstance(item.get("title"), str) else ""
        named = f" ({title[:40]!r})" if title else ""
        raise ImportProblem(
            f"Conversation {number}{named} has a structure this app does not understand "
            f"({type(exc).__name__}: {exc})."
        ) from exc


def _chatgpt_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    title = item.get("title") if isinstance(item.get("title"), str) else ""
    where = f'Conversation {number} ("{title[:40]}")' if title else f"Conversation {number}"
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise ImportProblem(f'{where} has no "mapping" of messages.')
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise ImportProblem(f"{where}: message node {key!r} is not an object.")
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    created_at = _epoch_iso(item.get("create_time"), now)
    updated_at = _epoch_iso(item.get("update_time"), created_at)
    messages: list[ImportedMessage] = []
    last_question: str | None = None
    for node in _main_branch(mapping, item.get("current_node"), where):
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        role = (message.get("author") or {}).get("role")
        if role not in ("user", "assistant"):
            continue
        text = _chatgpt_text(message)
        if text is None:
            continue
        key = str(message.get("id") or node.get("id") or len(messages))
        when = _epoch_iso(message.get("create_time"), created_at)
        if role == "user":
            messages.append(ImportedMessage(key=key, role="user", content=text, created_at=when))
            last_question = key
        elif messages and messages[-1].role == "assistant":
            joined = messages[-1].content + "\n\n" + text
            messages[-1] = replace(messages[-1], content=joined, updated_at=when)
        elif last_question is not None:
            model = (message.get("metadata") or {}).get("model_slug")
            messages.append(
                ImportedMessage(
                    key=key,
                    role="assistant",
                    content=text,
                    created_at=when,
                    reply_to=last_question,
                    provider=CHATGPT_PROVIDER,
                    model=model if isinstance(model, str) else None,
                    finish_reason="stop",
                )
            )
    if not title.strip():
        first = next((m.content for m in messages if m.role == "user"), "")
        first = first.replace(ATTACHMENT_NOTE, "").strip()
        title = make_title(first) if first else "Imported chat"
    source_id = item.get("conversation_id") or item.get("id")
    uid = f"chatgpt-{source_id}" if isinstance(source_id, str) and source_id else None
    return ImportedConversation(
        uid=uid or _content_uid(title, created_at, messages),
        title=title.strip(),
        created_at=created_at,
        updated_at=updated_at,
        messages=tuple(messages),
    )
