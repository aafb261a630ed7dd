"""Read conversation files: this app's JSON / JSON Lines export and other apps' exports.

`read_conversations(data)` recognises the format, checks it and returns `ImportedConversation`s,
or raises `ImportProblem` with one sentence saying what is wrong and where. Nothing touches
the database here; `Store.import_conversations` writes the result in one transaction.

Formats: this app's export (version 2 with the message tree; version 1, a line with answer
versions), and with their branches ChatGPT's, Claude.ai's and Open WebUI's
`conversations.json` / chat export and LibreChat's conversation export (import_peers.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from assistant import import_peers
from assistant.errors import ImportProblem
from assistant.export import EXPORT_FORMAT, EXPORT_FORMAT_VERSION
from assistant.i18n import N_, _, ngettext
from assistant.import_peers import ATTACHMENT_NOTE, CHATGPT_PROVIDER
from assistant.import_tree import content_uid, guarded, optional, require
from assistant.parts import KINDS, Part
from assistant.store import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    ImportedConversation,
    ImportedMessage,
    ImportResult,
    Store,
)

__all__ = ["ATTACHMENT_NOTE", "CHATGPT_PROVIDER", "describe", "import_file", "read_conversations"]

log = logging.getLogger(__name__)
IMPORT_LIMIT_MB = 100  # largest file the page imports (MiB, as Streamlit counts); the CLI any
IMPORT_TEXT_LIMIT = 200_000  # characters in one imported message (or prompt, or error)
TITLE_IMPORT_LIMIT = 10_000
INTERRUPTED_ON_IMPORT = N_("This answer was still being written when it was exported.")
SUPPORTED = N_(
    "Use this app's JSON or JSON Lines export, ChatGPT's or Claude.ai's conversations.json, "
    "an Open WebUI chat export or a LibreChat conversation export."
)


def import_file(store: Store, data: bytes | str) -> ImportResult:
    """Read a file's bytes and write its conversations in one transaction: what the page and
    the CLI call. ImportProblem (one sentence naming what and where) when the file cannot be
    imported; then nothing was written.

    Pass the bytes without keeping a reference to them (`import_file(store, read())`): they
    are let go as soon as they are decoded, and the text as soon as it is parsed, so a large
    file is not held three times while its conversations are written.
    """
    box = [data]
    del data
    return store.import_conversations(_guarded_read(box))


def refuse_if_too_large(size: int) -> None:
    """The page's limit, checked before anything is read: an import takes about 3.5 times the
    file's size in memory while it lasts (a 195 MB ChatGPT export: 640 MB more at the peak,
    `bench/import_memory.py`)."""
    if size > IMPORT_LIMIT_MB * 1024 * 1024:
        raise ImportProblem(
            _(
                "The file has {size} MB; the page imports files up to {limit} MB. Import it "
                "with the command python -m assistant import FILE."
            ).format(size=f"{size / 1024 / 1024:,.1f}", limit=IMPORT_LIMIT_MB)
        )


def read_conversations(data: bytes | str) -> list[ImportedConversation]:
    """Any supported file's bytes -> conversations to import (nothing is written)."""
    box = [data]
    del data
    return _guarded_read(box)


def _guarded_read(box: list[bytes | str]) -> list[ImportedConversation]:
    """The readers below, with a last net: a file that breaks them in a way not foreseen is
    refused in a sentence (and the traceback logged, as the bug it is), never shown."""
    try:
        return _checked(_read(box))
    except ImportProblem:
        raise
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        log.exception("import: a file broke the reader")
        problem = ImportProblem(
            _(
                "The file could not be read: it has a shape this app does not understand ({name})."
            ).format(name=type(exc).__name__)
        )
        problem.unexpected = True  # the tests look for this: every shape must have a sentence
        raise problem from exc


def _read(box: list[bytes | str]) -> list[ImportedConversation]:
    text = _decode(box.pop())  # the bytes go now; only the text is left
    if not text or text.isspace():
        raise ImportProblem(_("The file is empty."))
    start = _skip_space(text, 0)
    if text.startswith("[", start):
        return _read_list(text, start)
    try:
        document = _parse_json(text)
    except json.JSONDecodeError as exc:
        first_line_end = text.find("\n", start)
        if first_line_end > 0 and text[start] == "{" and _NOT_SPACE.search(text, first_line_end):
            return _read_jsonl(text)
        raise _not_json(exc) from None  # (the error holds the whole text)
    del text  # the parsed document is all that is needed now
    if isinstance(document, dict) and document.get("format") == EXPORT_FORMAT:
        return _read_own_export(document)
    if isinstance(document, dict) and "conversationId" in document and "messages" in document:
        return [guarded(import_peers.librechat_conversation, document, 1, "LibreChat")]
    if isinstance(document, dict) and isinstance(document.get("messages"), list):
        # a one-line JSON Lines file
        return [_own_conversation(document, _("The conversation"))]
    if isinstance(document, dict) and isinstance(document.get("chat"), dict):
        return [guarded(import_peers.open_webui_conversation, document, 1, "Open WebUI")]
    raise ImportProblem(
        _("This is not a file the app can import. {supported}").format(supported=_(SUPPORTED))
    )


_PEER_LISTS = (
    (lambda item: "mapping" in item, import_peers.chatgpt_conversation, "ChatGPT"),
    (lambda item: "chat_messages" in item, import_peers.claude_conversation, "Claude.ai"),
    (
        lambda item: isinstance(item.get("chat"), dict),
        import_peers.open_webui_conversation,
        "Open WebUI",
    ),
    (lambda item: "conversationId" in item, import_peers.librechat_conversation, "LibreChat"),
)
_DECODER = json.JSONDecoder()
_SPACE = frozenset(" \t\n\r")
_NOT_SPACE = re.compile(r"\S")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position


def _read_list(text: str, start: int) -> list[ImportedConversation]:
    """A JSON list of other apps' conversations, read one item at a time: each item becomes a
    conversation before the next is parsed, so the whole file is never held as Python objects
    (a 195 MB ChatGPT export peaked at 1.5 GB that way, 820 MB this way, the upload
    included). The first item says which app made it;
    every other item must be the same kind."""
    conversations: list[ImportedConversation] = []
    reader = None
    for number, item in enumerate(_list_items(text, start), start=1):
        if reader is None:
            reader = next(
                ((r, app) for test, r, app in _PEER_LISTS if isinstance(item, dict) and test(item)),
                None,
            )
            if reader is None:
                raise ImportProblem(
                    _("The file is a JSON list, but not one this app knows. {supported}").format(
                        supported=_(SUPPORTED)
                    )
                )
        read, app = reader
        test = next(t for t, r, _app in _PEER_LISTS if r is read)
        if not (isinstance(item, dict) and test(item)):
            raise ImportProblem(
                _("Item {number} of the list is not a {app} conversation like the first.").format(
                    number=number, app=app
                )
            )
        conversations.append(guarded(read, item, number, app))
    if not conversations:
        raise ImportProblem(_("The file holds an empty list: there is nothing to import."))
    return conversations


def _list_items(text: str, start: int) -> Iterator[Any]:
    """The items of the JSON list at `start`, parsed one by one (the same errors as json.loads,
    with the same line and column)."""
    position = _skip_space(text, start + 1)
    if text.startswith("]", position):
        _end_of_document(text, position + 1)
        return
    while True:
        try:
            item, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise _not_json(exc) from None
        except RecursionError:
            raise ImportProblem(_(TOO_DEEP)) from None
        yield item
        del item
        position = _skip_space(text, position)
        if text.startswith("]", position):
            _end_of_document(text, position + 1)
            return
        if not text.startswith(",", position):
            raise _not_json(json.JSONDecodeError("Expecting ',' delimiter", text, position))
        position = _skip_space(text, position + 1)


def _end_of_document(text: str, position: int) -> None:
    position = _skip_space(text, position)
    if position < len(text):
        raise _not_json(json.JSONDecodeError("Extra data", text, position))


def _not_json(exc: json.JSONDecodeError) -> ImportProblem:
    return ImportProblem(
        _("The file is not valid JSON ({msg} at line {lineno}, column {colno}).").format(
            msg=exc.msg, lineno=exc.lineno, colno=exc.colno
        )
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
        where = _('Conversation {number} ("{printable}")').format(
            number=number, printable=_printable(conversation.title[:40])
        )
        _text(conversation.title, where, _("its title"), TITLE_IMPORT_LIMIT)
        _text(conversation.uid, where, _('"uid"'), TITLE_IMPORT_LIMIT)
        messages = []
        for index, message in enumerate(conversation.messages, start=1):
            messages.append(
                _checked_message(
                    message, _("{where}, message {index}").format(where=where, index=index)
                )
            )
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
    _text(message.content, place, _("its text"), IMPORT_TEXT_LIMIT)
    for part in message.parts:
        _text(part.text, place, _("its {kind} part").format(kind=part.kind), IMPORT_TEXT_LIMIT)
        try:
            _text(  # as the store writes it: a lone surrogate in a name is not escaped there
                json.dumps(part.data, allow_nan=False, ensure_ascii=False),
                place,
                _("its {kind} part").format(kind=part.kind),
                IMPORT_TEXT_LIMIT,
            )
        except (ValueError, TypeError, RecursionError):
            raise ImportProblem(
                _("{place}: its {kind} part cannot be stored.").format(place=place, kind=part.kind)
            ) from None
    for name in ("provider", "model", "system_prompt", "preset", "error"):
        value = getattr(message, name)
        if value is not None:
            _text(value, place, f'"{name}"', IMPORT_TEXT_LIMIT)
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(message, name)
        if value is not None and not 0 <= value < 2**63:
            raise ImportProblem(
                _('{place}: "{name}" is not a token count ({value}).').format(
                    place=place, name=name, value=value
                )
            )
    for name in ("first_token_s", "total_s"):
        value = getattr(message, name)
        if value is not None and not (0 <= value < 10**9):
            raise ImportProblem(
                _('{place}: "{name}" is not a duration ({value}).').format(
                    place=place, name=name, value=value
                )
            )
    try:
        params = json.dumps(message.params, allow_nan=False, ensure_ascii=False)
        _text(params, place, _('"params"'), IMPORT_TEXT_LIMIT)
    except (ValueError, TypeError, RecursionError):
        raise ImportProblem(_('{place}: "params" cannot be stored.').format(place=place)) from None
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
            _(
                "{where}: {what} has {count:,} characters; imported text is limited to {limit:,}."
            ).format(where=where, what=what, count=len(value), limit=limit)
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ImportProblem(
            _(
                "{where}: {what} is not valid Unicode text (character {position} is {character!a})."
            ).format(where=where, what=what, position=exc.start + 1, character=value[exc.start])
        ) from None


def _time(value: str, where: str, what: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError):
        raise ImportProblem(
            _(
                '{where}: "{what}" is not a date and time ({printable!r}); use ISO 8601, '
                "e.g. 2026-05-01T12:00:00Z."
            ).format(where=where, what=what, printable=_printable(value[:40]))
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(result: ImportResult) -> str:
    """One sentence for the user about what an import did."""
    if not result.imported:
        if result.skipped:
            return ngettext(
                "Nothing new: {count} conversation already here.",
                "Nothing new: {count} conversations already here.",
                result.skipped,
            ).format(count=result.skipped)
        return _("The file holds no conversations.")
    conversations = ngettext(
        "Imported {count} conversation", "Imported {count} conversations", len(result.imported)
    ).format(count=len(result.imported))
    messages = ngettext(" with {count} message", " with {count} messages", result.messages).format(
        count=result.messages
    )
    text = conversations + messages
    if result.skipped:
        text += _("; skipped {skipped} already here").format(skipped=result.skipped)
    return text + _(".")


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(
            _(
                "The file is not UTF-8 text (byte {start} cannot be read); is it a JSON file?"
            ).format(start=exc.start)
        ) from exc


# -- this app's export ------------------------------------------------------------------------


def _read_own_export(document: dict[str, Any]) -> list[ImportedConversation]:
    version = document.get("version")
    if not isinstance(version, int) or version < 1:
        raise ImportProblem(_('The export has no valid "version" number.'))
    if version > EXPORT_FORMAT_VERSION:
        raise ImportProblem(
            _(
                "The export is format version {version}, made by a newer version of the "
                "app; this one reads up to version {EXPORT_FORMAT_VERSION}."
            ).format(version=version, EXPORT_FORMAT_VERSION=EXPORT_FORMAT_VERSION)
        )
    conversations = document.get("conversations")
    if not isinstance(conversations, list):
        raise ImportProblem(_('The export has no "conversations" list.'))
    return [
        _own_conversation(item, f"Conversation {index}")
        for index, item in enumerate(conversations, start=1)
    ]


TOO_DEEP = N_("The file nests lists or objects too deeply to be a conversation export.")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ImportProblem(_(TOO_DEEP)) from None


def _read_jsonl(text: str) -> list[ImportedConversation]:
    """One conversation per line, each parsed when it is reached (no list of every line)."""
    result = []
    number = 0
    for line in _lines(text):
        if not line.strip():
            continue
        number += 1
        try:
            item = _parse_json(line)
        except json.JSONDecodeError as exc:
            raise ImportProblem(
                _("Line {number} of the JSON Lines file is not valid JSON ({msg}).").format(
                    number=number, msg=exc.msg
                )
            ) from None
        result.append(_own_conversation(item, f"Line {number}"))
    return result


def _lines(text: str) -> Iterator[str]:
    position = 0
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        yield text[position:end]
        position = end + 1


def _own_conversation(item: Any, where: str) -> ImportedConversation:
    require(item, dict, where, _("is not an object"))
    title = require(item.get("title"), str, where, _('has no "title" text'))
    created_at = require(item.get("created_at"), str, where, _('has no "created_at" time'))
    updated_at = optional(item, "updated_at", str, where) or created_at
    raw_messages = require(item.get("messages"), list, where, _('has no "messages" list'))
    ordered = sorted(enumerate(raw_messages), key=_file_order)
    named = f'{where} ("{title[:40]}")'
    messages = [
        _own_message(
            raw,
            position,
            _("{conversation}, message {number}").format(conversation=named, number=position + 1),
        )
        for position, raw in ordered
    ]
    is_tree = any(isinstance(raw, dict) and "parent" in raw for raw in raw_messages)
    messages, leaf = _own_tree(messages, named) if is_tree else _line_as_tree(messages, named)
    active = item.get("active_leaf")
    if is_tree and active is not None:
        leaf = str(active)
    uid = optional(item, "uid", str, where) or content_uid(title, created_at, messages)
    return ImportedConversation(
        uid=uid,
        title=title.strip() or _("Imported chat"),
        created_at=created_at,
        updated_at=updated_at,
        pinned=bool(item.get("pinned", False)),
        messages=tuple(messages),
        active_leaf=leaf if leaf in {m.key for m in messages} else None,
        tree=True,
    )


def _own_tree(
    messages: list[ImportedMessage], where: str
) -> tuple[list[ImportedMessage], str | None]:
    """A version 2 export: every message names its parent, which comes before it."""
    known: dict[str, str] = {}  # key -> role
    result = []
    for position, message in enumerate(messages, start=1):
        if message.parent is not None and message.parent not in known:
            raise ImportProblem(
                _(
                    "{where}, message {position}: it follows message {parent!r}, which is "
                    "not before it in the file."
                ).format(where=where, position=position, parent=message.parent[:40])
            )
        if message.role == "assistant":
            reply_to = message.reply_to if known.get(message.reply_to or "") == "user" else None
            if reply_to is None and message.parent is not None and known[message.parent] == "user":
                reply_to = message.parent
            message = replace(message, reply_to=reply_to)
        known[message.key] = message.role
        result.append(message)
    return result, result[-1].key if result else None


def _line_as_tree(
    messages: list[ImportedMessage], where: str
) -> tuple[list[ImportedMessage], str | None]:
    """A version 1 export (a line; answers name the question they reply to) as the tree the
    app showed: a question follows the newest answer its previous question had by then."""
    newest_answer: dict[str, str] = {}  # question key -> its newest answer so far
    last_question: str | None = None
    result = []
    for position, message in enumerate(messages, start=1):
        if message.role == "assistant":
            reply_to = message.reply_to if message.reply_to in newest_answer else last_question
            if reply_to is None:
                raise ImportProblem(
                    _("{where}, message {position}: an answer with no question before it.").format(
                        where=where, position=position
                    )
                )
            message = replace(message, reply_to=reply_to, parent=reply_to)
            newest_answer[reply_to] = message.key
        else:
            parent = None
            if last_question is not None:
                parent = newest_answer.get(last_question) or last_question
            message = replace(message, parent=parent)
            newest_answer.setdefault(message.key, "")
            last_question = message.key
        result.append(message)
    leaf = None
    if last_question is not None:
        leaf = newest_answer.get(last_question) or last_question
    return result, leaf


def _file_order(pair: tuple[int, Any]) -> int:
    """A message's `seq` when it has a usable one, else its position in the file."""
    position, raw = pair
    seq = raw.get("seq") if isinstance(raw, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else position


def _own_message(raw: Any, position: int, where: str) -> ImportedMessage:
    require(raw, dict, where, _("is not an object"))
    role = raw.get("role")
    if role not in ("user", "assistant"):
        raise ImportProblem(
            _('{where}: role must be "user" or "assistant", not {role!r}.').format(
                where=where, role=role
            )
        )
    content = require(raw.get("content", ""), str, where, _('"content" is not text'))
    status = raw.get("status") or "complete"
    if status not in FINAL_STATUSES + LIVE_STATUSES:
        raise ImportProblem(
            _("{where}: unknown status {status!r}.").format(where=where, status=status)
        )
    error = optional(raw, "error", str, where)
    if role == "user":
        status = "complete"
    elif status in LIVE_STATUSES:  # importing must never start a generation
        status, error = "interrupted", _(INTERRUPTED_ON_IMPORT)
    key = raw.get("id")
    params = optional(raw, "params", dict, where) or {}
    parent = raw.get("parent")
    if parent is not None and (not isinstance(parent, str | int) or isinstance(parent, bool)):
        raise ImportProblem(_('{where}: "parent" has the wrong type.').format(where=where))
    return ImportedMessage(
        key=str(key) if key is not None else f"#{position}",
        role=role,
        content=content,
        status=status,
        reply_to=str(raw["reply_to"]) if raw.get("reply_to") is not None else None,
        parent=str(parent) if parent is not None else None,
        parts=_own_parts(raw.get("parts"), where),
        provider=optional(raw, "provider", str, where),
        model=optional(raw, "model", str, where),
        params=params,
        system_prompt=optional(raw, "system_prompt", str, where),
        preset=optional(raw, "preset", str, where),
        prompt_tokens=optional(raw, "prompt_tokens", int, where),
        completion_tokens=optional(raw, "completion_tokens", int, where),
        first_token_s=optional(raw, "first_token_s", (int, float), where),
        total_s=optional(raw, "total_s", (int, float), where),
        finish_reason=optional(raw, "finish_reason", str, where),
        error=error,
        created_at=require(raw.get("created_at"), str, where, _('has no "created_at" time')),
        updated_at=optional(raw, "updated_at", str, where),
    )


def _own_parts(value: Any, where: str) -> tuple[Part, ...]:
    if value is None:
        return ()
    require(value, list, where, _('"parts" is not a list'))
    parts = []
    for record in value:
        require(record, dict, where, _("a part is not an object"))
        kind = record.get("type")
        if kind not in KINDS:
            raise ImportProblem(
                _("{where}: a part has the unknown type {kind!r}.").format(where=where, kind=kind)
            )
        require(record.get("text", ""), str, where, _("a part's text is not text"))
        parts.append(
            Part(
                kind,
                record.get("text", ""),
                {k: v for k, v in record.items() if k not in ("type", "text")},
            )
        )
    return tuple(parts)
