"""Read other apps' exports with their branches: ChatGPT, Claude.ai, Open WebUI, LibreChat.

Each reader turns one conversation of the file into an `ImportedConversation` whose messages
form the same tree as in the source app (edits and regenerations are siblings), with the
source's current message as the active leaf where the file records one. Reasoning becomes a
`reasoning` part, attachments `attachment` parts with their text, tool traffic `tool_call` /
`tool_result` parts. Hidden system messages are left out. Checks of text, times and numbers
happen afterwards, in `importing._checked`, for every format alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from assistant.errors import ImportProblem
from assistant.i18n import _
from assistant.import_tree import (
    content_uid,
    epoch_iso,
    iso_or,
    now_iso,
    parents_first,
    text_of,
    title_or_first_words,
)
from assistant.parts import ATTACHMENT, REASONING, TEXT, TOOL_CALL, TOOL_RESULT, Part
from assistant.store import ImportedConversation, ImportedMessage

CHATGPT_PROVIDER = "chatgpt-export"
CLAUDE_PROVIDER = "claude-export"
OPEN_WEBUI_PROVIDER = "open-webui-export"
LIBRECHAT_PROVIDER = "librechat-export"
ATTACHMENT_NOTE = "[an image or file that the export does not include]"
ZERO_UUID = re.compile(r"^[0-]+$")  # Claude's and LibreChat's "no parent"


def _message(
    key: str,
    role: str,
    parts: list[Part],
    when: str,
    parent: str | None,
    provider: str,
    model: Any = None,
) -> ImportedMessage:
    text = "".join(p.text for p in parts if p.kind == TEXT)
    kept = tuple(parts) if any(p.kind != TEXT for p in parts) else ()
    answer = role == "assistant"
    return ImportedMessage(
        key=key,
        role=role,
        content=text,
        created_at=when,
        parent=parent,
        parts=kept,
        provider=provider if answer else None,
        model=model if answer and isinstance(model, str) and model else None,
        finish_reason="stop" if answer else None,
    )


def _uid(app: str, value: Any) -> str | None:
    """The source app's id for a conversation, marked with the app (None without one)."""
    return f"{app}-{value}" if isinstance(value, str) and value else None


def _conversation(
    uid: str | None,
    title: str,
    created_at: str,
    updated_at: str,
    messages: list[ImportedMessage],
    where: str,
    active: str | None = None,
    pinned: bool = False,
) -> ImportedConversation:
    ordered = parents_first(messages, where)
    title = title_or_first_words(title, ordered, ATTACHMENT_NOTE)
    keys = {m.key for m in ordered}
    return ImportedConversation(
        uid=uid or content_uid(title, created_at, ordered),
        title=title,
        created_at=created_at,
        updated_at=updated_at,
        messages=tuple(ordered),
        pinned=pinned,
        active_leaf=active if active in keys else None,
        tree=True,
    )


# -- ChatGPT conversations.json --------------------------------------------------------------


@dataclass(frozen=True)
class _Walk:
    """What a ChatGPT node's children inherit: the message they follow, thinking not yet
    attached to an answer, and whether the message they follow is an answer still growing."""

    parent: str | None = None
    thoughts: str = ""
    thought_s: float | None = None
    tools: tuple[Part, ...] = ()  # tool calls and results not yet attached to an answer


def chatgpt_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """The whole `mapping` tree; `current_node` is the active leaf.

    A node that is not shown (system, tool calls and results, hidden) passes its place on to
    its children. An answer split around a tool call (assistant, tool, assistant) is one
    answer. `thoughts` and `reasoning_recap` nodes become the next answer's reasoning.
    """
    title = text_of(item.get("title"))
    where = (
        _('Conversation {number} ("{title}")').format(number=number, title=title[:40])
        if title
        else f"Conversation {number}"
    )
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise ImportProblem(_('{where} has no "mapping" of messages.').format(where=where))
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise ImportProblem(
                _("{where}: message node {key!r} is not an object.").format(where=where, key=key)
            )
    created_at = epoch_iso(item.get("create_time"), now_iso())
    updated_at = epoch_iso(item.get("update_time"), created_at)
    messages: dict[str, ImportedMessage] = {}
    shown_as: dict[str, str | None] = {}  # node -> the message that stands for it
    roots = [key for key, node in mapping.items() if node.get("parent") not in mapping]
    if not roots:
        raise ImportProblem(_("{where}: its message tree has a loop.").format(where=where))
    stack: list[tuple[str, _Walk]] = [(root, _Walk()) for root in reversed(roots)]
    visited: set[str] = set()
    while stack:
        node_id, walk = stack.pop()
        if node_id in visited:
            raise ImportProblem(_("{where}: its message tree has a loop.").format(where=where))
        visited.add(node_id)
        node = mapping[node_id]
        walk = _chatgpt_node(node, node_id, walk, messages, created_at)
        shown_as[node_id] = walk.parent
        children = [c for c in node.get("children") or [] if c in mapping]
        stack.extend((child, walk) for child in reversed(children))
    if len(visited) < len(mapping):
        raise ImportProblem(_("{where}: its message tree has a loop.").format(where=where))
    current = item.get("current_node")
    active = shown_as.get(current) if isinstance(current, str) else None
    uid = _uid("chatgpt", item.get("conversation_id") or item.get("id"))
    return _conversation(uid, title, created_at, updated_at, list(messages.values()), where, active)


def _chatgpt_node(
    node: dict[str, Any],
    node_id: str,
    walk: _Walk,
    messages: dict[str, ImportedMessage],
    created_at: str,
) -> _Walk:
    message = node.get("message")
    if not isinstance(message, dict):
        return walk
    role = (message.get("author") or {}).get("role")
    content = message.get("content") or {}
    kind = content.get("content_type")
    if role == "assistant" and kind == "thoughts":
        texts = [
            "\n".join(filter(None, (text_of(t.get("summary")), text_of(t.get("content")))))
            for t in content.get("thoughts") or []
            if isinstance(t, dict)
        ]
        joined = "\n\n".join(filter(None, [walk.thoughts, *texts]))
        return replace(walk, thoughts=joined)
    if role == "assistant" and kind == "reasoning_recap":
        found = re.search(r"(\d+(?:\.\d+)?)\s*(second|minute)", text_of(content.get("content")))
        if found:
            seconds = float(found.group(1)) * (60 if found.group(2) == "minute" else 1)
            return replace(walk, thought_s=seconds)
        return walk
    if role == "assistant" and (message.get("recipient", "all") != "all" or kind == "code"):
        name = text_of(message.get("recipient")) or "tool"
        code = text_of(content.get("text")) or "\n".join(
            p for p in content.get("parts") or [] if isinstance(p, str)
        )
        return replace(
            walk, tools=(*walk.tools, Part(TOOL_CALL, code, {"name": name, "id": node_id}))
        )
    if role == "tool":
        author = message.get("author") or {}
        name = text_of(author.get("name")) or next(
            (p.data["name"] for p in reversed(walk.tools) if p.kind == TOOL_CALL), "tool"
        )
        call_id = next((p.data["id"] for p in reversed(walk.tools) if p.kind == TOOL_CALL), node_id)
        output = "\n".join(
            p if isinstance(p, str) else ATTACHMENT_NOTE for p in content.get("parts") or []
        ) or text_of(content.get("text"))
        result = Part(TOOL_RESULT, output, {"name": name, "id": call_id})
        return replace(walk, tools=(*walk.tools, result))
    if role not in ("user", "assistant"):
        return walk
    text = _chatgpt_text(message)
    if text is None:
        return walk
    key = str(message.get("id") or node_id)
    when = epoch_iso(message.get("create_time"), created_at)
    previous = messages.get(walk.parent) if walk.parent else None
    if role == "assistant" and previous is not None and previous.role == "assistant":
        # The rest of an answer after a tool call: the same answer, longer, with the calls
        # between its texts.
        joined = previous.content + "\n\n" + text
        before = list(previous.parts) or [Part(TEXT, previous.content)]
        parts = _joined_text([*before, *walk.tools, Part(TEXT, text)])
        messages[previous.key] = replace(
            previous,
            content=joined,
            parts=tuple(parts) if any(p.kind != TEXT for p in parts) else (),
            updated_at=when,
        )
        return replace(walk, tools=())
    parts = [Part(TEXT, text)]
    if role == "assistant":
        parts[0:0] = walk.tools
    if role == "assistant" and walk.thoughts:
        seconds = {"seconds": walk.thought_s} if walk.thought_s is not None else {}
        parts.insert(0, Part(REASONING, walk.thoughts, seconds))
    model = (message.get("metadata") or {}).get("model_slug")
    messages[key] = _message(key, role, parts, when, walk.parent, CHATGPT_PROVIDER, model)
    return _Walk(parent=key)


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


# -- Claude.ai conversations.json ------------------------------------------------------------


def claude_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """`chat_messages` with `parent_message_uuid` (an all-zero uuid at the root), else in
    list order; thinking becomes reasoning, attachments their extracted text."""
    title = text_of(item.get("name"))
    where = (
        _('Conversation {number} ("{title}")').format(number=number, title=title[:40])
        if title
        else f"Conversation {number}"
    )
    raw = item.get("chat_messages")
    if not isinstance(raw, list):
        raise ImportProblem(_('{where} has no "chat_messages" list.').format(where=where))
    created_at = iso_or(item.get("created_at"), now_iso())
    updated_at = iso_or(item.get("updated_at"), created_at)
    messages: list[ImportedMessage] = []
    previous: str | None = None
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ImportProblem(
                _("{where}, message {number}: is not an object.").format(
                    where=where, number=index + 1
                )
            )
        sender = entry.get("sender")
        if sender not in ("human", "assistant"):
            continue
        key = str(entry.get("uuid") or f"#{index}")
        parent = entry.get("parent_message_uuid")
        if not isinstance(parent, str) or not parent:
            parent = previous  # older exports: the list is the conversation
        elif ZERO_UUID.match(parent):
            parent = None
        parts = _claude_parts(entry)
        when = iso_or(entry.get("created_at"), created_at)
        role = "user" if sender == "human" else "assistant"
        messages.append(_message(key, role, parts, when, parent, CLAUDE_PROVIDER))
        previous = key
    active = messages[-1].key if messages else None
    uid = _uid("claude", item.get("uuid"))
    return _conversation(uid, title, created_at, updated_at, messages, where, active)


def _claude_parts(entry: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    for attachment in entry.get("attachments") or []:
        if isinstance(attachment, dict):
            name = text_of(attachment.get("file_name")) or "file"
            parts.append(
                Part(ATTACHMENT, text_of(attachment.get("extracted_content")), {"name": name})
            )
    for file in entry.get("files") or []:
        if isinstance(file, dict):
            name = text_of(file.get("file_name")) or "file"
            parts.append(Part(ATTACHMENT, "", {"name": name}))
    texts_before = len(parts)
    parts += _blocks(entry.get("content"), _CLAUDE_BLOCKS)
    if not any(p.kind == TEXT for p in parts[texts_before:]):
        parts.append(Part(TEXT, text_of(entry.get("text"))))
    return _joined_text(parts)


BlockReader = Callable[[dict[str, Any]], list[Part]]


def _blocks(content: Any, readers: dict[str, BlockReader]) -> list[Part]:
    """Typed content blocks (`[{"type": …}, …]`) as parts; kinds without a reader are left."""
    parts: list[Part] = []
    for block in content if isinstance(content, list) else []:
        kind = block.get("type") if isinstance(block, dict) else None
        if isinstance(kind, str) and kind in readers:
            parts += readers[kind](block)
    return parts


def _named(kind: str, text: str, name: Any) -> Part:
    return Part(kind, text, {"name": text_of(name)})


_CLAUDE_BLOCKS: dict[str, BlockReader] = {
    "text": lambda b: [Part(TEXT, text_of(b.get("text")))],
    "thinking": lambda b: [Part(REASONING, text_of(b.get("thinking")))],
    "tool_use": lambda b: [
        _named(TOOL_CALL, json.dumps(b.get("input"), ensure_ascii=False), b.get("name"))
    ],
    "tool_result": lambda b: [_named(TOOL_RESULT, _block_text(b.get("content")), b.get("name"))],
}


def _librechat_text(block: dict[str, Any]) -> list[Part]:
    value = block.get("text")  # newer versions: {"value": …}
    return [Part(TEXT, text_of(value.get("value")) if isinstance(value, dict) else text_of(value))]


def _librechat_tool(block: dict[str, Any]) -> list[Part]:
    call = block.get("tool_call") if isinstance(block.get("tool_call"), dict) else {}
    parts = [_named(TOOL_CALL, text_of(call.get("args")), call.get("name"))]
    if call.get("output") is not None:
        parts.append(_named(TOOL_RESULT, text_of(call.get("output")), call.get("name")))
    return parts


_LIBRECHAT_BLOCKS: dict[str, BlockReader] = {
    "text": _librechat_text,
    "think": lambda b: [Part(REASONING, text_of(b.get("think")))],
    "tool_call": _librechat_tool,
}


def _block_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(text_of(v.get("text")) for v in value if isinstance(v, dict))
    return ""


def _joined_text(parts: list[Part]) -> list[Part]:
    """Neighbouring text parts as one paragraph-separated piece, empty ones dropped; text after a
    tool step starts a new paragraph (so the joined text parts are the message's text)."""
    result: list[Part] = []
    for part in parts:
        if part.kind == TEXT and not part.text:
            continue
        if part.kind == TEXT and result and result[-1].kind == TEXT:
            result[-1] = Part(TEXT, result[-1].text + "\n\n" + part.text)
        elif part.kind == TEXT and any(p.kind == TEXT for p in result):
            result.append(Part(TEXT, "\n\n" + part.text))
        else:
            result.append(part)
    return result


# -- Open WebUI ------------------------------------------------------------------------------

_DETAILS = re.compile(
    r'<details\s+type="(?P<type>\w+)"(?P<attrs>[^>]*)>(?P<body>.*?)</details>', re.S
)
_SUMMARY = re.compile(r"<summary>.*?</summary>", re.S)
_DURATION = re.compile(r'duration="(\d+(?:\.\d+)?)"')


def open_webui_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """`chat.history.messages` (id -> {parentId, role, content, model, timestamp, output?})
    with `currentId` as the active leaf; `pinned` is kept."""
    chat = item.get("chat") if isinstance(item.get("chat"), dict) else {}
    title = text_of(item.get("title")) or text_of(chat.get("title"))
    where = (
        _('Conversation {number} ("{title}")').format(number=number, title=title[:40])
        if title
        else f"Conversation {number}"
    )
    history = chat.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("messages"), dict):
        raise ImportProblem(_('{where} has no "chat.history.messages".').format(where=where))
    created_at = epoch_iso(item.get("created_at"), now_iso())
    updated_at = epoch_iso(item.get("updated_at"), created_at)
    raw = sorted(
        (entry for entry in history["messages"].values() if isinstance(entry, dict)),
        key=lambda e: e.get("timestamp") if isinstance(e.get("timestamp"), int | float) else 0,
    )
    messages: list[ImportedMessage] = []
    for index, entry in enumerate(raw):
        role = entry.get("role")
        if role not in ("user", "assistant"):
            continue
        key = str(entry.get("id") or f"#{index}")
        parent = entry.get("parentId")
        parts = _open_webui_parts(entry)
        when = epoch_iso(entry.get("timestamp"), created_at)
        model = entry.get("model")
        messages.append(
            _message(
                key,
                role,
                parts,
                when,
                parent if isinstance(parent, str) else None,
                OPEN_WEBUI_PROVIDER,
                model,
            )
        )
    current = history.get("currentId")
    return _conversation(
        _uid("open-webui", item.get("id")),
        title,
        created_at,
        updated_at,
        messages,
        where,
        current if isinstance(current, str) else None,
        pinned=item.get("pinned") is True,
    )


def _open_webui_parts(entry: dict[str, Any]) -> list[Part]:
    output = entry.get("output")
    if isinstance(output, list) and output:
        return _joined_text([p for p in map(_output_part, output) if p is not None])
    content = text_of(entry.get("content"))
    parts: list[Part] = []
    last = 0
    for found in _DETAILS.finditer(content):
        parts.append(Part(TEXT, content[last : found.start()].strip()))
        body = _SUMMARY.sub("", found.group("body")).strip()
        body = "\n".join(
            line[2:] if line.startswith("> ") else line.lstrip(">") for line in body.splitlines()
        )
        duration = _DURATION.search(found.group("attrs"))
        if found.group("type") == "reasoning":
            data = {"seconds": float(duration.group(1))} if duration else {}
            parts.append(Part(REASONING, body.strip(), data))
        else:
            parts.append(Part(TOOL_CALL, body.strip(), {"name": found.group("type")}))
        last = found.end()
    parts.append(Part(TEXT, content[last:].strip()))
    return _joined_text(parts)


def _output_part(item: Any) -> Part | None:
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    texts = [
        text_of(c.get("text"))
        for key in ("content", "summary")
        for c in (item.get(key) if isinstance(item.get(key), list) else [])
        if isinstance(c, dict)
    ]
    if kind == "reasoning":
        return Part(REASONING, "\n".join(filter(None, texts)))
    if kind == "message":
        return Part(TEXT, "\n".join(filter(None, texts)))
    if kind == "function_call":
        return Part(TOOL_CALL, text_of(item.get("arguments")), {"name": text_of(item.get("name"))})
    if kind == "function_call_output":
        output = item.get("output")
        return Part(
            TOOL_RESULT,
            output if isinstance(output, str) else json.dumps(output),
            {"name": text_of(item.get("name"))},
        )
    return None


# -- LibreChat -------------------------------------------------------------------------------


def librechat_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """`messages` flat (`parentMessageId`, `isCreatedByUser`) or `recursive` (`children`)."""
    title = text_of(item.get("title"))
    where = (
        _('Conversation {number} ("{title}")').format(number=number, title=title[:40])
        if title
        else f"Conversation {number}"
    )
    raw = item.get("messages")
    if not isinstance(raw, list):
        raise ImportProblem(_('{where} has no "messages" list.').format(where=where))
    flat: list[tuple[dict[str, Any], str | None]] = []
    stack: list[tuple[Any, str | None]] = [(entry, None) for entry in reversed(raw)]
    while stack:  # a recursive export nests answers in `children`; a flat one has none
        entry, nested_parent = stack.pop()
        if not isinstance(entry, dict):
            raise ImportProblem(_("{where}: a message is not an object.").format(where=where))
        flat.append((entry, nested_parent))
        key = entry.get("messageId")
        children = entry.get("children")
        if isinstance(children, list):
            stack.extend(
                (child, key if isinstance(key, str) else None) for child in reversed(children)
            )
    created_at = iso_or(item.get("createdAt"), now_iso())
    updated_at = iso_or(item.get("updatedAt"), created_at)
    messages: list[ImportedMessage] = []
    for index, (entry, nested_parent) in enumerate(flat):
        key = str(entry.get("messageId") or f"#{index}")
        parent = entry.get("parentMessageId")
        parent = nested_parent if not isinstance(parent, str) or ZERO_UUID.match(parent) else parent
        role = "user" if entry.get("isCreatedByUser") is True else "assistant"
        parts = _librechat_parts(entry)
        when = iso_or(entry.get("createdAt"), created_at)
        messages.append(
            _message(key, role, parts, when, parent, LIBRECHAT_PROVIDER, entry.get("model"))
        )
    messages.sort(key=lambda m: m.created_at)
    newest = max(messages, key=lambda m: m.created_at).key if messages else None
    uid = _uid("librechat", item.get("conversationId"))
    return _conversation(uid, title, created_at, updated_at, messages, where, newest)


def _librechat_parts(entry: dict[str, Any]) -> list[Part]:
    parts = _blocks(entry.get("content"), _LIBRECHAT_BLOCKS)
    if not any(p.kind == TEXT and p.text for p in parts):
        parts.append(Part(TEXT, text_of(entry.get("text"))))
    return _joined_text(parts)
