"""Export conversations as JSON, JSON Lines and Markdown (HTML lives in html_export.py).

The JSON export is this app's interchange format, read back by `importing.py`:

    {"format": "assistant-export", "version": 2, "conversations": [
        {"uid", "title", "created_at", "updated_at", "pinned", "active_leaf", "messages": [
            {"id", "seq", "role", "content", "parent", "parts", "status", "reply_to",
             "provider", "model", ...}]}]}

Message `id`s are only meaningful inside one file (`parent`, `reply_to` and `active_leaf`
point at them). Every message of every branch is there, parents first; `parts` is present
when an answer has more than its text (reasoning, …). Version 1 files (no `parent`) are a
line with answer versions and are still read. JSON Lines holds one conversation object per
line, the same shape. Nothing secret is ever stored, so nothing secret can be exported.

Markdown and HTML show the branch that is on screen, with a note where other branches exist;
`all_branches` adds every other branch after it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from assistant import html_export, transcript
from assistant.i18n import _
from assistant.safe_markdown import plain_inline
from assistant.store import Conversation, Message, Store

EXPORT_FORMAT = "assistant-export"
EXPORT_FORMAT_VERSION = 2
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
        "parent": message.parent_id,
        "parts": [part.record() for part in message.parts] if message.parts_json else None,
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
        "active_leaf": conversation.active_leaf,
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


def conversation_markdown(
    store: Store, conversation: Conversation, all_branches: bool = False
) -> str:
    lines = [
        f"# {plain_inline(conversation.title)}",  # a title is text, never Markdown (or an image)
        "",
        "*"
        + _("Started {started} · last activity {last}").format(
            started=transcript.readable_time(conversation.created_at),
            last=transcript.readable_time(conversation.updated_at),
        )
        + "*",
    ]
    branches = transcript.branches_to_export(store, conversation.id, all_branches)
    for number, branch in enumerate(branches, start=1):
        heading = transcript.branch_heading(branch, number, len(branches), all_branches)
        if heading:
            lines += ["", f"## {plain_inline(heading)}"]
        for exchange in branch.exchanges:
            lines += _exchange_markdown(exchange)
    return "\n".join(lines).rstrip() + "\n"


def _exchange_markdown(exchange: transcript.Exchange) -> list[str]:
    question = exchange.question
    lines = ["", "---"]
    if question is not None:  # None: the conversation starts with this answer
        label = transcript.question_label(exchange.edit_index, len(exchange.edits))
        lines += ["", f"**{label}** · {transcript.readable_time(question.created_at)}", ""]
        lines += _parts_markdown(question)
    answer = exchange.answer
    if answer is None:
        return lines
    label = transcript.answer_label(exchange.version_index, len(exchange.versions))
    lines += ["", f"**{label}** · {plain_inline(transcript.caption(answer))}", ""]
    lines += _parts_markdown(answer)
    note = transcript.answer_note(answer)
    if note:
        lines += ["", f"> {plain_inline(note)}"]
    return lines


def _parts_markdown(message: Message) -> list[str]:
    """A message's text, with its reasoning and attachments quoted where they came, and tool
    calls and results as quoted code blocks (a tool's output is never read as Markdown)."""
    lines: list[str] = []
    for part in message.parts:
        if part.kind == "text":
            lines.append(part.text)
            continue
        lines += [f"> *{plain_inline(transcript.part_heading(part))}*", ">"]
        if part.kind in ("tool_call", "tool_result"):
            fence = "`" * max(3, _longest_backtick_run(part.text) + 1)
            language = "json" if part.kind == "tool_call" else "text"
            body = [f"{fence}{language}", *part.text.splitlines(), fence]
        else:
            body = part.text.splitlines()
        lines += [f"> {line}" for line in body] + [""]
    return lines


def _longest_backtick_run(text: str) -> int:
    runs = re.findall(r"`+", text)
    return max((len(run) for run in runs), default=0)


def markdown_text(store: Store, conversation_id: int | None = None) -> str:
    return render(store, "md", conversation_id)


def chunks(
    store: Store, fmt: str, conversations: list[Conversation], all_branches: bool = False
) -> Iterator[str]:
    """The export in one of `FORMATS`, in pieces a caller can write as they come (JSON Lines
    and Markdown yield one conversation at a time, so a large history never sits in memory).
    JSON always holds every branch; Markdown and HTML the shown one unless `all_branches`."""
    if fmt == "json":
        data = export_json(store, conversations)
        yield json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "jsonl":
        for conversation in conversations:
            record = conversation_record(store, conversation)
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    elif fmt == "md":
        for index, conversation in enumerate(conversations):
            yield ("\n\n" if index else "") + conversation_markdown(
                store, conversation, all_branches
            )
    elif fmt == "html":
        yield html_export.html_document(store, conversations, all_branches)
    else:
        raise ValueError(
            _("unknown export format {fmt!r}; use one of {formats}").format(
                fmt=fmt, formats=", ".join(FORMATS)
            )
        )


def render(
    store: Store, fmt: str, conversation_id: int | None = None, all_branches: bool = False
) -> str:
    """The whole export as text (NotFound for a missing conversation)."""
    conversations = select_conversations(store, conversation_id)
    return "".join(chunks(store, fmt, conversations, all_branches))


# -- file names -------------------------------------------------------------------------------

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{port}{n}" for port in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")
}
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
# Joiners shape Persian and Indic words and emoji sequences (👩‍💻) and move nothing: kept
# inside a word, dropped where they join nothing.
_JOINERS = "\u200c\u200d"
_LONE_JOINERS = re.compile(rf"(?<![^\s{_JOINERS}])[{_JOINERS}]+|[{_JOINERS}]+(?![^\s{_JOINERS}])")
MAX_NAME_BYTES = 120


def _without_invisible(name: str) -> str:
    """The name without format characters (Cf), surrogates (Cs) and controls (Cc).

    Format characters are invisible but act: a right-to-left override (U+202E) shows
    "report\u202efdp.exe" as "reportexe.pdf", isolates and marks reorder what follows, a
    zero-width space makes two names that look alike differ. Controls and line or paragraph
    separators become spaces (they separated words); a lone surrogate cannot be written to a
    file system at all.
    """
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cf", "Cs") or char in _JOINERS:
            kept.append(char)
    return "".join(kept)


def safe_filename(title: str, extension: str, fallback: str = "conversation") -> str:
    """A file name that works on Windows, macOS and Linux, keeping the title readable.

    Drops path separators and characters Windows refuses, control and invisible format
    characters (direction overrides and marks, zero-width spaces: `_without_invisible`),
    leading dots, trailing dots and spaces; avoids reserved device names; keeps the name
    under 120 bytes.
    """
    name = _without_invisible(unicodedata.normalize("NFC", title))
    name = _UNSAFE.sub(" ", name)
    name = re.sub(r"\s+", " ", _LONE_JOINERS.sub("", name))
    name = name.strip().strip(".").strip()
    encoded = name.encode("utf-8")[:MAX_NAME_BYTES]
    name = encoded.decode("utf-8", errors="ignore")
    name = _LONE_JOINERS.sub("", name).rstrip(". ")  # the cut may end on a joiner
    if not name or name.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
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
