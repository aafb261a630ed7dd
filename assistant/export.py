"""Export conversations as JSON, JSON Lines and Markdown (HTML lives in html_export.py).

The JSON export is this app's interchange format, read back by `importing.py`:

    {"format": "assistant-export", "version": 1, "conversations": [
        {"uid", "title", "created_at", "updated_at", "pinned", "messages": [
            {"id", "seq", "role", "content", "status", "reply_to", "provider", "model", ...}]}]}

Message `id`s are only meaningful inside one file (`reply_to` points at them). JSON Lines holds
one conversation object per line, the same shape. Nothing secret is ever stored, so nothing
secret can be exported.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from assistant import html_export, transcript
from assistant.safe_markdown import plain_inline
from assistant.store import Conversation, Message, Store

EXPORT_FORMAT = "assistant-export"
EXPORT_FORMAT_VERSION = 1
FORMATS = ("json", "jsonl", "md", "html")
MIME_TYPES = {
    "json": "application/json",
    "jsonl": "application/jsonl",
    "md": "text/markdown",
    "html": "text/html",
}


def message_record(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "reply_to": message.reply_to,
        "provider": message.provider,
        "model": message.model,
        "params": message.params or None,
        "system_prompt": message.system_prompt,
        "preset": message.preset,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "first_token_s": message.first_token_s,
        "total_s": message.total_s,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }


def conversation_record(store: Store, conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "uid": conversation.uid,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "pinned": conversation.pinned,
        "messages": [message_record(m) for m in store.messages(conversation.id)],
    }


def select_conversations(store: Store, conversation_id: int | None) -> list[Conversation]:
    """One conversation (NotFound if missing; the trash included) or all outside the trash."""
    if conversation_id is not None:
        return [store.get_conversation(conversation_id)]
    return store.list_conversations(limit=None)


def export_json(store: Store, conversations: list[Conversation]) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_FORMAT_VERSION,
        "conversations": [conversation_record(store, c) for c in conversations],
    }


def json_text(store: Store, conversation_id: int | None = None) -> str:
    return render(store, "json", conversation_id)


def jsonl_text(store: Store, conversation_id: int | None = None) -> str:
    return render(store, "jsonl", conversation_id)


# -- Markdown ---------------------------------------------------------------------------------


def conversation_markdown(store: Store, conversation: Conversation) -> str:
    lines = [
        f"# {plain_inline(conversation.title)}",  # a title is text, never Markdown (or an image)
        "",
        f"*Started {transcript.readable_time(conversation.created_at)} · last activity "
        f"{transcript.readable_time(conversation.updated_at)}*",
    ]
    for exchange in transcript.exchanges(store.messages(conversation.id)):
        question = exchange.question
        lines += ["", "---", "", f"**You** · {transcript.readable_time(question.created_at)}", ""]
        lines.append(question.content)
        for index, answer in enumerate(exchange.answers):
            label = transcript.answer_label(index, len(exchange.answers))
            lines += ["", f"**{label}** · {plain_inline(transcript.caption(answer))}", ""]
            if answer.content:
                lines.append(answer.content)
            note = transcript.answer_note(answer)
            if note:
                lines += ["", f"> {plain_inline(note)}"]
    return "\n".join(lines).rstrip() + "\n"


def markdown_text(store: Store, conversation_id: int | None = None) -> str:
    return render(store, "md", conversation_id)


def chunks(store: Store, fmt: str, conversations: list[Conversation]) -> Iterator[str]:
    """The export in one of `FORMATS`, in pieces a caller can write as they come (JSON Lines
    and Markdown yield one conversation at a time, so a large history never sits in memory)."""
    if fmt == "json":
        data = export_json(store, conversations)
        yield json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "jsonl":
        for conversation in conversations:
            record = conversation_record(store, conversation)
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    elif fmt == "md":
        for index, conversation in enumerate(conversations):
            yield ("\n\n" if index else "") + conversation_markdown(store, conversation)
    elif fmt == "html":
        yield html_export.html_document(store, conversations)
    else:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def render(store: Store, fmt: str, conversation_id: int | None = None) -> str:
    """The whole export as text (NotFound for a missing conversation)."""
    return "".join(chunks(store, fmt, select_conversations(store, conversation_id)))


# -- file names -------------------------------------------------------------------------------

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10)
}
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
MAX_NAME_BYTES = 120


def safe_filename(title: str, extension: str, fallback: str = "conversation") -> str:
    """A file name that works on Windows, macOS and Linux, keeping the title readable.

    Drops path separators and characters Windows refuses, control characters, leading dots,
    trailing dots and spaces; avoids reserved device names; keeps the name under 120 bytes.
    """
    name = unicodedata.normalize("NFC", title)
    name = _UNSAFE.sub(" ", name)
    name = re.sub(r"\s+", " ", name).strip().strip(".").strip()
    encoded = name.encode("utf-8")[:MAX_NAME_BYTES]
    name = encoded.decode("utf-8", errors="ignore").rstrip(". ")
    if not name or name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = f"{fallback} {name}".strip() if name else fallback
    return f"{name}.{extension}"


def export_filename(conversations: Iterable[Conversation], extension: str) -> str:
    """`<title> <date>.<ext>` for one conversation, `conversations <date>.<ext>` for several."""
    items = list(conversations)
    if len(items) == 1:
        conversation = items[0]
        return safe_filename(f"{conversation.title} {conversation.created_at[:10]}", extension)
    return all_conversations_filename(extension)


def all_conversations_filename(extension: str) -> str:
    return safe_filename(f"conversations {datetime.now().date().isoformat()}", extension)
