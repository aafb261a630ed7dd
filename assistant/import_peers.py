"""Read other apps' exports with their branches: ChatGPT, Claude.ai, Open WebUI, LibreChat
(and ChatbotUI v1, which has none).

Each reader turns one conversation of the file into an `ImportedConversation` whose messages
form the same tree as in the source app (edits and regenerations are siblings), with the
source's current message as the active leaf where the file records one. Reasoning becomes a
`reasoning` part, attachments `attachment` parts with their text, tool traffic `tool_call` /
`tool_result` parts. Hidden system messages are left out. Checks of text, times and numbers
happen afterwards, in `importing._checked`, for every format alike.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from assistant.errors import ImportProblem
from assistant.i18n import _
from assistant.import_tree import (
    INTERRUPTED_ON_IMPORT,
    UNDATED,
    content_uid,
    dated,
    duration_s,
    epoch_iso,
    file_date,
    iso_or,
    newest_leaf,
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
CHATBOTUI_PROVIDER = "chatbotui-export"
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
    written: str = UNDATED,
) -> ImportedConversation:
    """One conversation as the store takes it: parents first, every time filled in from the
    file (`import_tree.dated`), and on screen the file's current message, else the last
    message of the newest branch."""
    ordered = parents_first(messages, where)
    title = title_or_first_words(title, ordered, ATTACHMENT_NOTE)
    uid = uid or content_uid(title, created_at or written, ordered)  # not the clock's time
    created_at, updated_at, ordered = dated(created_at, updated_at, ordered, written)
    keys = {m.key for m in ordered}
    return ImportedConversation(
        uid=uid,
        title=title,
        created_at=created_at,
        updated_at=updated_at,
        messages=tuple(ordered),
        pinned=pinned,
        active_leaf=active if active in keys else newest_leaf(ordered),
        tree=True,
    )


# -- ChatGPT conversations.json --------------------------------------------------------------


@dataclass(frozen=True)
class _Walk:
    """What a ChatGPT node's children inherit: the message they follow, and what is not yet
    attached to an answer (thinking, tool calls and results, generated images) with the node
    that added the last of it (`at`: what names the answer made for it)."""

    parent: str | None = None
    thoughts: str = ""
    thought_s: float | None = None
    tools: tuple[Part, ...] = ()  # tool calls and results not yet attached to an answer
    at: str = ""
    model: Any = None  # the model the thinking or a tool call names (`model_slug`)

    @property
    def pending(self) -> bool:
        return bool(self.thoughts or self.thought_s is not None or self.tools)


def chatgpt_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """The whole `mapping` tree; `current_node` is the active leaf.

    A node that is not shown (system, hidden) passes its place on to its children. An answer
    split around a tool call (assistant, tool, assistant) is one answer. `thoughts` and
    `reasoning_recap` nodes become the next answer's reasoning; tool steps that no text
    follows (a generated image) become an answer of their own.
    """
    title = text_of(item.get("title"))
    where = _where(number, title)
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise ImportProblem(_('{where} has no "mapping" of messages.').format(where=where))
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise ImportProblem(
                _("{where}: message node {key!r} is not an object.").format(where=where, key=key)
            )
    created_at = epoch_iso(item.get("create_time"), UNDATED)
    updated_at = epoch_iso(item.get("update_time"), UNDATED)
    children = _chatgpt_children(mapping)
    followed = {child for kids in children.values() for child in kids}
    roots = [key for key in mapping if key not in followed]
    if not roots:
        raise ImportProblem(_("{where}: its message tree has a loop.").format(where=where))
    messages: dict[str, ImportedMessage] = {}
    shown_as: dict[str, str | None] = {}  # node -> the message that stands for it
    stack: list[tuple[str, _Walk]] = [(root, _Walk()) for root in reversed(roots)]
    visited: set[str] = set()
    while stack:
        node_id, walk = stack.pop()
        if node_id in visited:
            raise ImportProblem(_("{where}: its message tree has a loop.").format(where=where))
        visited.add(node_id)
        node = mapping[node_id]
        walk = _chatgpt_node(node, node_id, walk, messages, children.get(node_id, []), mapping)
        if not children.get(node_id):  # the end of a branch: what is left is an answer
            walk = _held_answer(walk, messages)
        shown_as[node_id] = walk.parent
        stack.extend((child, walk) for child in reversed(children.get(node_id, [])))
    if len(visited) < len(mapping):
        raise ImportProblem(_("{where}: its message tree has a loop.").format(where=where))
    current = item.get("current_node")
    active = shown_as.get(current) if isinstance(current, str) else None
    uid = _uid("chatgpt", item.get("conversation_id") or item.get("id"))
    return _conversation(uid, title, created_at, updated_at, list(messages.values()), where, active)


def _chatgpt_children(mapping: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Each node's children: its `children` list, and the nodes that name it as `parent`
    (some exporters write only one of the two). A mapping with no links at all is a line,
    in the order of its times (then of the file)."""
    parent_of: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    for key, node in mapping.items():
        kids = node.get("children")
        for child in kids if isinstance(kids, list) else []:
            if isinstance(child, str) and child in mapping and child not in parent_of:
                parent_of[child] = key
                children.setdefault(key, []).append(child)
    for key, node in mapping.items():
        parent = node.get("parent")
        if isinstance(parent, str) and parent in mapping and key not in parent_of:
            parent_of[key] = parent
            children.setdefault(parent, []).append(key)
    if not parent_of and len(mapping) > 1:
        line = sorted(enumerate(mapping), key=lambda pair: (_node_time(mapping[pair[1]]), pair[0]))
        keys = [key for _index, key in line]
        children = {before: [after] for before, after in pairwise(keys)}
    return children


def _node_time(node: dict[str, Any]) -> float:
    message = node.get("message")
    when = message.get("create_time") if isinstance(message, dict) else None
    try:
        return float(when) if when is not None and not isinstance(when, bool) else 0.0
    except (TypeError, ValueError):
        return 0.0


def _where(number: int, title: str) -> str:
    if title:
        return _('Conversation {number} ("{title}")').format(number=number, title=title[:40])
    return _("Conversation {number}").format(number=number)


def _chatgpt_node(
    node: dict[str, Any],
    node_id: str,
    walk: _Walk,
    messages: dict[str, ImportedMessage],
    children: list[str],
    mapping: dict[str, dict[str, Any]],
) -> _Walk:
    message = node.get("message")
    if not isinstance(message, dict):
        return walk
    author = message.get("author") if isinstance(message.get("author"), dict) else {}
    role = author.get("role")
    content = message.get("content") if isinstance(message.get("content"), dict) else {}
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    kind = content.get("content_type")
    hidden = metadata.get("is_visually_hidden_from_conversation") is True
    if role == "assistant" and isinstance(metadata.get("model_slug"), str):
        walk = replace(walk, model=metadata["model_slug"])
    if role == "assistant" and kind in ("thoughts", "reasoning_recap"):
        return _chatgpt_thinking(content, metadata, walk, node_id)
    to_tool = message.get("recipient") not in (None, "all")
    if role == "assistant" and (to_tool or (kind == "code" and _feeds_a_tool(children, mapping))):
        name = text_of(message.get("recipient")) if to_tool else "python"
        code = text_of(content.get("text")) or "\n".join(
            p for p in content.get("parts") or [] if isinstance(p, str)
        )
        call = Part(TOOL_CALL, code, {"name": name or "tool", "id": node_id})
        return replace(walk, tools=(*walk.tools, call), at=node_id)
    if role == "tool":
        if hidden:
            return walk
        return replace(
            walk,
            tools=(*walk.tools, *_chatgpt_tool_parts(author, content, walk, node_id)),
            at=node_id,
        )
    if role not in ("user", "assistant") or hidden:
        return walk
    parts = _chatgpt_parts(content, metadata)
    if parts is None or not parts:
        return walk
    when = epoch_iso(message.get("create_time"), UNDATED)
    if role == "user":
        walk = _held_answer(walk, messages)
    key = str(message.get("id") or node_id)
    if key in messages:  # two nodes with the same message id: the node's own is unique
        key = node_id
    previous = messages.get(walk.parent) if walk.parent else None
    if role == "assistant" and previous is not None and previous.role == "assistant":
        # The rest of an answer after a tool call: the same answer, longer, with the calls
        # between its texts.
        longer = _longer(previous, [*_thinking_parts(walk), *walk.tools, *parts], when)
        messages[previous.key] = replace(longer, **_chatgpt_ending(message, metadata))
        return _Walk(parent=previous.key)
    if role == "assistant":
        parts = [*_thinking_parts(walk), *walk.tools, *parts]
    model = walk.model  # the answer's own `model_slug`, else its thinking's
    answer = _message(key, role, _joined_text(parts), when, walk.parent, CHATGPT_PROVIDER, model)
    if role == "assistant":
        answer = replace(answer, **_chatgpt_ending(message, metadata))
    messages[key] = answer
    return _Walk(parent=key)


def _longer(previous: ImportedMessage, more: list[Part], when: str) -> ImportedMessage:
    """An answer with more parts after the ones it has (its text the text parts joined)."""
    before = list(previous.parts) or [Part(TEXT, previous.content)]
    parts = _joined_text([*before, *more])
    return replace(
        previous,
        content="".join(p.text for p in parts if p.kind == TEXT),
        parts=tuple(parts) if any(p.kind != TEXT for p in parts) else (),
        updated_at=when or previous.updated_at,
    )


def _held_answer(walk: _Walk, messages: dict[str, ImportedMessage]) -> _Walk:
    """Thinking or tool steps that no answer text followed (an image ChatGPT made, a search
    the user interrupted) as an answer, or as the end of the answer before them."""
    if not walk.pending:
        return walk
    held = [*_thinking_parts(walk), *walk.tools]
    previous = messages.get(walk.parent) if walk.parent else None
    if previous is not None and previous.role == "assistant":
        messages[previous.key] = _longer(previous, held, UNDATED)
        return _Walk(parent=previous.key)
    key = f"{walk.at}#answer"
    if key not in messages:
        messages[key] = _message(
            key, "assistant", held, UNDATED, walk.parent, CHATGPT_PROVIDER, walk.model
        )
    return _Walk(parent=key)


def _thinking_parts(walk: _Walk) -> list[Part]:
    if not walk.thoughts and walk.thought_s is None:
        return []
    return [
        Part(
            REASONING,
            walk.thoughts,
            {"seconds": walk.thought_s} if walk.thought_s is not None else {},
        )
    ]


def _chatgpt_thinking(
    content: dict[str, Any], metadata: dict[str, Any], walk: _Walk, node_id: str
) -> _Walk:
    """`thoughts` (summaries and texts) and `reasoning_recap` ("Thought for 29s"): the next
    answer's reasoning and how long it took."""
    seconds = metadata.get("finished_duration_sec")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        seconds = duration_s(text_of(content.get("content")))
    if content.get("content_type") == "reasoning_recap":
        return replace(
            walk, thought_s=seconds if seconds is not None else walk.thought_s, at=node_id
        )
    texts = [
        "\n".join(filter(None, (text_of(t.get("summary")), text_of(t.get("content")))))
        for t in content.get("thoughts") or []
        if isinstance(t, dict)
    ]
    joined = "\n\n".join(filter(None, [walk.thoughts, *texts]))
    return replace(
        walk,
        thoughts=joined,
        thought_s=seconds if seconds is not None else walk.thought_s,
        at=node_id,
    )


def _feeds_a_tool(children: list[str], mapping: dict[str, dict[str, Any]]) -> bool:
    """Whether a `code` message was run: a tool's output follows it. Code that nothing runs
    is an answer that is a code block."""
    for child in children:
        message = mapping[child].get("message")
        author = message.get("author") if isinstance(message, dict) else None
        if isinstance(author, dict) and author.get("role") == "tool":
            return True
    return False


def _chatgpt_parts(content: dict[str, Any], metadata: dict[str, Any]) -> list[Part] | None:
    """The visible parts of a user message or an answer, or None for what is not shown to
    the user (custom instructions, memory). A message without `content_type` is text."""
    kind = content.get("content_type")
    if kind == "code":
        language = text_of(content.get("language"))
        language = "" if language == "unknown" else language
        code = text_of(content.get("text"))
        return [Part(TEXT, f"```{language}\n{code}\n```")] if code.strip() else []
    if kind not in (None, "text", "multimodal_text"):
        if kind in ("user_editable_context", "model_editable_context"):
            return None
        text = text_of(content.get("text")) or text_of(content.get("result"))
        return [Part(TEXT, text)] if text.strip() else None
    parts: list[Part] = []
    named = _attachment_names(metadata)
    for part in content.get("parts") or []:
        if isinstance(part, str):
            parts.append(Part(TEXT, part))
        elif isinstance(part, dict):
            parts.append(_chatgpt_media(part, named))
    if not any(p.kind == TEXT and p.text.strip() for p in parts):
        text = text_of(content.get("text"))
        parts.append(Part(TEXT, text))
    seen = {p.data.get("name") for p in parts if p.kind == ATTACHMENT}
    for name in named.values():
        if name not in seen:  # a file the user attached that the parts do not point at
            parts.append(Part(ATTACHMENT, ATTACHMENT_NOTE, {"name": name}))
            seen.add(name)
    parts = [p for p in parts if p.kind != TEXT or p.text.strip()]
    if parts and parts[0].kind == TEXT:
        parts[0] = Part(TEXT, parts[0].text.lstrip("\n"))
    return parts


def _attachment_names(metadata: dict[str, Any]) -> dict[str, str]:
    """File id -> name of the files a message carried (`metadata.attachments`)."""
    names = {}
    for attachment in metadata.get("attachments") or []:
        if isinstance(attachment, dict):
            name = text_of(attachment.get("name"))
            if name:
                names[text_of(attachment.get("id"))] = name
    return names


def _chatgpt_media(part: dict[str, Any], named: dict[str, str]) -> Part:
    """A non-text piece of a message: text it carries (a transcript) as text, anything else
    (an image, a file, audio) as an attachment named after what the export says of it; the
    export does not hold the bytes."""
    text = text_of(part.get("text"))
    if text:
        return Part(TEXT, text)
    pointer = text_of(part.get("asset_pointer"))
    file_id = pointer.rsplit("/", 1)[-1]
    kind = text_of(part.get("content_type"))
    name = named.get(file_id) or (_("image") if "image" in kind or not kind else kind)
    return Part(ATTACHMENT, ATTACHMENT_NOTE, {"name": name})


def _chatgpt_tool_parts(
    author: dict[str, Any], content: dict[str, Any], walk: _Walk, node_id: str
) -> list[Part]:
    """A tool's output: its text (code output, a browsing result or quote) as a tool result;
    images it made as attachments."""
    name = text_of(author.get("name")) or next(
        (p.data["name"] for p in reversed(walk.tools) if p.kind == TOOL_CALL), "tool"
    )
    call_id = next((p.data["id"] for p in reversed(walk.tools) if p.kind == TOOL_CALL), node_id)
    kind = content.get("content_type")
    media = [_chatgpt_media(p, {}) for p in content.get("parts") or [] if isinstance(p, dict)]
    if kind == "tether_quote":
        pieces = [text_of(content.get(k)) for k in ("title", "url", "text")]
    elif kind == "tether_browsing_display":
        pieces = [text_of(content.get("result")), text_of(content.get("summary"))]
    else:
        pieces = [p for p in content.get("parts") or [] if isinstance(p, str)]
        pieces += [p.text for p in media if p.kind == TEXT]
        pieces.append(text_of(content.get("text")))
    output = "\n".join(p for p in pieces if p.strip())
    parts = [p for p in media if p.kind == ATTACHMENT]
    if output or not parts:
        parts.insert(0, Part(TOOL_RESULT, output, {"name": name, "id": call_id}))
    return parts


_UNFINISHED = frozenset({"in_progress", "finished_partial_completion", "unfinished"})


def _chatgpt_ending(message: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """How an answer ended: stopped by the user (`finish_details` "interrupted"), cut off
    while it was being written (`in_progress`, `finished_successfully: false`), or complete
    (any other status: "finished_successfully", "finished")."""
    details = metadata.get("finish_details")
    finish = text_of(details.get("type")) if isinstance(details, dict) else ""
    if finish == "interrupted":
        return {"status": "stopped"}
    cut = text_of(message.get("status")) in _UNFINISHED or True in (
        message.get("finished_successfully") is False,
        message.get("unfinished") is True,
    )
    if cut:
        return {"status": "interrupted", "error": _(INTERRUPTED_ON_IMPORT), "finish_reason": None}
    return {}


# -- Claude.ai conversations.json ------------------------------------------------------------


def claude_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """`chat_messages` with `parent_message_uuid` (an all-zero uuid at the root), else in
    list order; thinking becomes reasoning, attachments their extracted text."""
    title = text_of(item.get("name"))
    where = _where(number, title)
    raw = item.get("chat_messages")
    if not isinstance(raw, list):
        raise ImportProblem(_('{where} has no "chat_messages" list.').format(where=where))
    created_at = iso_or(item.get("created_at"), UNDATED)
    updated_at = iso_or(item.get("updated_at"), UNDATED)
    messages: list[ImportedMessage] = []
    previous: str | None = None
    passed: dict[str, str | None] = {}  # an empty answer left out -> the message it followed
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
        seen: set[str | None] = set()
        while parent in passed and parent not in seen:  # it follows an empty answer left out:
            seen.add(parent)  # it follows what that one followed
            parent = passed[parent]
        parts = _claude_parts(entry)
        if sender == "assistant" and not any(p.kind != TEXT or p.text.strip() for p in parts):
            passed[key] = parent  # an empty answer (Claude writes "   " after a cut reply)
            continue
        when = iso_or(entry.get("created_at"), UNDATED)
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
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def open_webui_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """`chat.history.messages` (id -> {parentId, role, content, model, timestamp, output?})
    with `currentId` as the active leaf; `pinned` is kept."""
    chat = item.get("chat") if isinstance(item.get("chat"), dict) else {}
    title = text_of(item.get("title")) or text_of(chat.get("title"))
    where = _where(number, title)
    history = chat.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("messages"), dict):
        raise ImportProblem(_('{where} has no "chat.history.messages".').format(where=where))
    created_at = epoch_iso(item.get("created_at"), UNDATED)
    updated_at = epoch_iso(item.get("updated_at"), UNDATED)
    raw = sorted(
        (entry for entry in history["messages"].values() if isinstance(entry, dict)),
        key=lambda e: _seconds_of(e.get("timestamp")),
    )
    messages: list[ImportedMessage] = []
    for index, entry in enumerate(raw):
        role = entry.get("role")
        if role not in ("user", "assistant"):
            continue
        key = str(entry.get("id") or f"#{index}")
        parent = entry.get("parentId")
        parts = _open_webui_parts(entry)
        when = epoch_iso(entry.get("timestamp"), UNDATED)
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


def _seconds_of(value: Any) -> float:
    """A time or a duration as a file writes it (a number, or digits in a text), else 0."""
    if isinstance(value, bool):
        return 0.0
    try:
        seconds = float(value) if isinstance(value, int | float | str) else 0.0
    except ValueError:
        return 0.0
    return seconds if 0 <= seconds < 1e15 else 0.0


def _open_webui_parts(entry: dict[str, Any]) -> list[Part]:
    output = entry.get("output")
    if isinstance(output, list) and output:
        parts = [p for item in output for p in _output_parts(item)]
        names = {p.data["id"]: p.data["name"] for p in parts if p.kind == TOOL_CALL}
        return _joined_text(  # a call's output names only its call_id: give it the call's name
            [
                replace(p, data={**p.data, "name": names.get(p.data["id"], p.data["name"])})
                if p.kind == TOOL_RESULT
                else p
                for p in parts
            ]
        )
    content = text_of(entry.get("content"))
    parts: list[Part] = []
    last = 0
    for found in _DETAILS.finditer(content):
        parts.append(Part(TEXT, content[last : found.start()].strip()))
        parts += _details_parts(found.group("type"), found.group("attrs"), found.group("body"))
        last = found.end()
    parts.append(Part(TEXT, content[last:].strip()))
    return _joined_text(parts)


def _details_parts(kind: str, attrs: str, raw_body: str) -> list[Part]:
    """One `<details type=…>` block of an Open WebUI answer: reasoning (with its `duration`,
    else the seconds its summary names), or a tool's call with its result, each once (newer
    versions keep them in `arguments` and `result`, older ones write the result as the body)."""
    attributes = {k: html.unescape(v) for k, v in _ATTRIBUTE.findall(attrs)}
    summary = _SUMMARY.search(raw_body)
    body = html.unescape(_SUMMARY.sub("", raw_body)).strip()  # Open WebUI escapes the body
    body = "\n".join(
        line[2:] if line.startswith("> ") else line.lstrip(">") for line in body.splitlines()
    ).strip()
    if kind == "reasoning":
        seconds = _seconds_of(attributes.get("duration")) or duration_s(
            summary.group(0) if summary else ""
        )
        return [Part(REASONING, body, {"seconds": seconds} if seconds else {})]
    if kind != "tool_calls":
        return [Part(TOOL_CALL, body, {"name": kind})]
    name = attributes.get("name") or "tool"
    call_id = attributes.get("id") or name
    result = attributes.get("result", body)
    try:  # a result is written as a JSON text ("\"Paris: 18C\""): show the text itself
        decoded = json.loads(result)
        result = decoded if isinstance(decoded, str) else result
    except ValueError:
        pass
    return [
        Part(TOOL_CALL, attributes.get("arguments", ""), {"name": name, "id": call_id}),
        Part(TOOL_RESULT, result, {"name": name, "id": call_id}),
    ]


def _output_parts(item: Any) -> list[Part]:
    """One item of an Open WebUI answer's `output` (the Responses API's shape)."""
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    texts = [
        text_of(c.get("text"))
        for key in ("content", "summary")
        for c in (item.get(key) if isinstance(item.get(key), list) else [])
        if isinstance(c, dict)
    ]
    call = {"name": text_of(item.get("name")) or "tool", "id": text_of(item.get("call_id"))}
    if kind == "reasoning":
        seconds = _seconds_of(item.get("duration"))
        started, ended = _seconds_of(item.get("started_at")), _seconds_of(item.get("ended_at"))
        if not seconds and started and ended > started:
            seconds = ended - started
        return [
            Part(REASONING, "\n".join(filter(None, texts)), {"seconds": seconds} if seconds else {})
        ]
    if kind == "message":
        return [Part(TEXT, "\n".join(filter(None, texts)))]
    if kind == "function_call":
        return [Part(TOOL_CALL, text_of(item.get("arguments")), call)]
    if kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):  # [{"type": "input_text", "text": …}, …]
            text = "\n".join(_block_text([o]) for o in output if isinstance(o, dict))
        else:
            text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        return [Part(TOOL_RESULT, text, call)]
    return []


# -- LibreChat -------------------------------------------------------------------------------


def librechat_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """`messages` flat (`parentMessageId`, `isCreatedByUser`), or recursive (`children`)
    under `messages` or, as LibreChat's client writes it today, `messagesTree`. The file
    records no current message: the newest branch is on screen."""
    title = text_of(item.get("title"))
    where = _where(number, title)
    raw = item.get("messagesTree") if "messagesTree" in item else item.get("messages")
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
    created_at = iso_or(item.get("createdAt"), UNDATED)
    updated_at = iso_or(item.get("updatedAt"), UNDATED)
    messages: list[ImportedMessage] = []
    for index, (entry, nested_parent) in enumerate(flat):
        key = str(entry.get("messageId") or f"#{index}")
        parent = entry.get("parentMessageId")
        parent = nested_parent if not isinstance(parent, str) or ZERO_UUID.match(parent) else parent
        role = "user" if entry.get("isCreatedByUser") is True else "assistant"
        parts = _librechat_parts(entry)
        when = iso_or(entry.get("createdAt"), UNDATED)
        message = _message(key, role, parts, when, parent, LIBRECHAT_PROVIDER, entry.get("model"))
        if role == "assistant" and entry.get("unfinished") is True:  # cut off while written
            message = replace(
                message, status="interrupted", error=_(INTERRUPTED_ON_IMPORT), finish_reason=None
            )
        messages.append(message)
    uid = _uid("librechat", item.get("conversationId"))
    return _conversation(
        uid, title, created_at, updated_at, messages, where, written=file_date(item.get("exportAt"))
    )


# -- ChatbotUI v1 ----------------------------------------------------------------------------


def chatbotui_conversation(item: dict[str, Any], number: int) -> ImportedConversation:
    """One entry of a ChatbotUI v1 export's `history`: `{id, name, messages: [{role,
    content}], model: {id}}`, a line without times (the file has none)."""
    title = text_of(item.get("name"))
    where = _where(number, title)
    raw = item.get("messages")
    if not isinstance(raw, list):
        raise ImportProblem(_('{where} has no "messages" list.').format(where=where))
    model = item.get("model") if isinstance(item.get("model"), dict) else {}
    messages: list[ImportedMessage] = []
    previous: str | None = None
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ImportProblem(_("{where}: a message is not an object.").format(where=where))
        role = entry.get("role")
        if role not in ("user", "assistant"):
            continue
        key = f"#{index}"
        parts = [Part(TEXT, text_of(entry.get("content")))]
        messages.append(
            _message(key, role, parts, UNDATED, previous, CHATBOTUI_PROVIDER, model.get("id"))
        )
        previous = key
    uid = _uid("chatbotui", item.get("id"))
    return _conversation(uid, title, UNDATED, UNDATED, messages, where)


def _librechat_parts(entry: dict[str, Any]) -> list[Part]:
    parts = _blocks(entry.get("content"), _LIBRECHAT_BLOCKS)
    if not any(p.kind == TEXT and p.text for p in parts):
        parts.append(Part(TEXT, text_of(entry.get("text"))))
    return _joined_text(parts)
