"""Read conversation files: this app's JSON / JSON Lines export and other apps' exports.

`read_conversations(data)` recognises the format, checks it and returns `ImportedConversation`s,
or raises `ImportProblem` with one sentence saying what is wrong and where. Nothing touches
the database here; `Store.import_conversations` writes the result in one transaction.

Formats: this app's export (version 2 with the message tree; version 1, a line with answer
versions), and with their branches ChatGPT's, Claude.ai's and Open WebUI's
`conversations.json` / chat export (a list, one conversation, or Claude's list inside
`{"conversations": …}`), LibreChat's conversation export and ChatbotUI v1's export
(import_peers.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from assistant import import_peers
from assistant.errors import ImportProblem
from assistant.export import EXPORT_FORMAT, EXPORT_FORMAT_VERSION
from assistant.i18n import N_, _, ngettext
from assistant.import_peers import ATTACHMENT_NOTE, CHATGPT_PROVIDER
from assistant.import_tree import (
    INTERRUPTED_ON_IMPORT,
    content_uid,
    guarded,
    optional,
    require,
)
from assistant.parts import KINDS, Part
from assistant.store import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    ImportedConversation,
    ImportedMessage,
    ImportResult,
    Store,
)

__all__ = [
    "ATTACHMENT_NOTE",
    "CHATGPT_PROVIDER",
    "Reading",
    "describe",
    "import_file",
    "read_conversations",
    "read_file",
]

log = logging.getLogger(__name__)
IMPORT_LIMIT_MB = 100  # largest file the page imports (MiB, as Streamlit counts); the CLI any
IMPORT_TEXT_LIMIT = 200_000  # characters in one imported message (or prompt, or error)
TITLE_IMPORT_LIMIT = 10_000
SUPPORTED = N_(
    "Use this app's JSON or JSON Lines export, ChatGPT's or Claude.ai's conversations.json "
    "(or one conversation of it), an Open WebUI chat export, a LibreChat conversation export "
    "or a ChatbotUI export."
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
    reading = _guarded_read(box)
    result = store.import_conversations(reading.conversations)
    return replace(result, left_out=reading.left_out)


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
    return _guarded_read(box).conversations


def read_file(data: bytes | str) -> Reading:
    """Any supported file's bytes -> conversations to import and the entries left out."""
    box = [data]
    del data
    return _guarded_read(box)


@dataclass(frozen=True)
class Reading:
    """What a file gave: the conversations to import, and a sentence for each entry of another
    app's list that could not be read and is left out (the rest still imports)."""

    conversations: list[ImportedConversation]
    left_out: tuple[str, ...] = ()


def _guarded_read(box: list[bytes | str]) -> Reading:
    """The readers below, with a last net: a file that breaks them in a way not foreseen is
    refused in a sentence (and the traceback logged, as the bug it is), never shown."""
    try:
        return _read(box)
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


def _read(box: list[bytes | str]) -> Reading:
    text = _decode(box.pop())  # the bytes go now; only the text is left
    if not text or text.isspace():
        raise ImportProblem(_("The file is empty."))
    start = _skip_space(text, 0)
    if text.startswith("[", start):
        return _read_items(_list_items(text, start), _PEER_LISTS)
    try:
        document = _parse_json(text)
    except json.JSONDecodeError as exc:
        first_line_end = text.find("\n", start)
        if first_line_end > 0 and text[start] == "{" and _NOT_SPACE.search(text, first_line_end):
            return Reading(_checked(_read_jsonl(text)))
        raise _not_json(exc) from None  # (the error holds the whole text)
    del text  # the parsed document is all that is needed now
    if not isinstance(document, dict):
        raise ImportProblem(
            _("This is not a file the app can import. {supported}").format(supported=_(SUPPORTED))
        )
    return _read_document(document)


def _read_document(document: dict[str, Any]) -> Reading:
    """A file that is one JSON object: this app's export, one conversation of another app, or
    another app's list inside an object (Claude's `{"conversations": […]}`, ChatbotUI's
    `{"version", "history": […], "folders", "prompts"}`)."""
    if document.get("format") == EXPORT_FORMAT:
        return Reading(_checked(_read_own_export(document)))
    if "conversationId" in document and ("messages" in document or "messagesTree" in document):
        return _one(import_peers.librechat_conversation, document, "LibreChat")
    if "mapping" in document:
        return _one(import_peers.chatgpt_conversation, document, "ChatGPT")
    if "chat_messages" in document:
        return _one(import_peers.claude_conversation, document, "Claude.ai")
    if isinstance(document.get("conversations"), list):
        return _read_items(iter(document["conversations"]), _PEER_LISTS)
    if isinstance(document.get("history"), list) and "folders" in document:
        return _read_items(iter(document["history"]), _CHATBOTUI)
    if isinstance(document.get("messages"), list):
        # a one-line JSON Lines file
        return Reading(_checked([_own_conversation(document, _("The conversation"))]))
    if isinstance(document.get("chat"), dict):
        return _one(import_peers.open_webui_conversation, document, "Open WebUI")
    raise ImportProblem(
        _("This is not a file the app can import. {supported}").format(supported=_(SUPPORTED))
    )


def _one(read: Callable[[Any, int], ImportedConversation], item: Any, app: str) -> Reading:
    return Reading(_checked([guarded(read, item, 1, app)]))


Reader = tuple[Callable[[Any], bool], Callable[[Any, int], ImportedConversation], str]
_PEER_LISTS: tuple[Reader, ...] = (
    (lambda item: "mapping" in item, import_peers.chatgpt_conversation, "ChatGPT"),
    (lambda item: "chat_messages" in item, import_peers.claude_conversation, "Claude.ai"),
    (
        lambda item: isinstance(item.get("chat"), dict),
        import_peers.open_webui_conversation,
        "Open WebUI",
    ),
    (lambda item: "conversationId" in item, import_peers.librechat_conversation, "LibreChat"),
)
_CHATBOTUI: tuple[Reader, ...] = (
    (lambda item: "messages" in item, import_peers.chatbotui_conversation, "ChatbotUI"),
)
_DECODER = json.JSONDecoder()
_SPACE = frozenset(" \t\n\r")
_NOT_SPACE = re.compile(r"\S")
LEFT_OUT_NAMED = 3  # entries named one by one in the sentence after an import; then a count


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position


def _read_items(items: Iterator[Any], readers: tuple[Reader, ...]) -> Reading:
    """Another app's list of conversations, read one item at a time: each item becomes a
    conversation before the next is parsed, so the whole file is never held as Python objects
    (a 195 MB ChatGPT export peaked at 1.5 GB that way, 820 MB this way, the upload
    included). The first item the readers know says which app made the list.

    An entry that cannot be read (no messages, another shape, a loop, a text over the limit)
    is left out with a sentence naming it, and the others still import; only a list where no
    entry can be read is refused, with the first entry's sentence.
    """
    conversations: list[ImportedConversation] = []
    left_out: list[str] = []
    reader: Reader | None = None
    seen = 0
    for number, item in enumerate(items, start=1):
        seen = number
        if reader is None:
            reader = next((r for r in readers if isinstance(item, dict) and r[0](item)), None)
        test, read, app = reader if reader is not None else (None, None, "")
        other = isinstance(item, dict) and any(r[0](item) for r in readers if r is not reader)
        if read is None or not isinstance(item, dict) or (other and not test(item)):
            left_out.append(_not_like_the_others(item, number, app))
            continue
        # An entry like the others but for what the reader needs (no "mapping") gets the
        # reader's own sentence.
        try:
            conversation = _checked_one(guarded(read, item, number, app), number)
        except ImportProblem as exc:
            left_out.append(str(exc))
            continue
        if conversation.messages:
            conversations.append(conversation)
        else:  # nothing to show, and no time of its own to file it under
            left_out.append(_("{where} holds no messages.").format(where=_named(item, number)))
        del item
    if not seen:
        raise ImportProblem(_("The file holds an empty list: there is nothing to import."))
    if reader is None:
        raise ImportProblem(
            _("The file is a JSON list, but not one this app knows. {supported}").format(
                supported=_(SUPPORTED)
            )
        )
    if not conversations:
        if len(left_out) == 1:
            raise ImportProblem(left_out[0])
        raise ImportProblem(
            _("No conversation in the file could be read; the first of {count}: {problem}").format(
                count=len(left_out), problem=left_out[0]
            )
        )
    for sentence in left_out:
        log.info("import: left out an entry: %s", sentence)
    return Reading(conversations, tuple(left_out))


def _not_like_the_others(item: Any, number: int, app: str) -> str:
    where = _named(item, number)
    if not app:
        return _("{where} is not a conversation this app knows.").format(where=where)
    return _("{where} is not a {app} conversation like the others.").format(where=where, app=app)


def _named(item: Any, number: int) -> str:
    """An entry of a list as a sentence names it: its number, and its title if it has one."""
    titles = (item.get(k) for k in ("title", "name")) if isinstance(item, dict) else iter(())
    title = next((t for t in titles if isinstance(t, str) and t.strip()), "")
    if title:
        return _('Conversation {number} ("{title}")').format(
            number=number, title=_printable(title[:40])
        )
    return _("Conversation {number}").format(number=number)


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
    (In another app's list only that entry is left out: `_read_items`.)
    """
    return [
        _checked_one(conversation, number)
        for number, conversation in enumerate(conversations, start=1)
    ]


def _checked_one(conversation: ImportedConversation, number: int) -> ImportedConversation:
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
    return replace(
        conversation,
        created_at=_time(conversation.created_at, where, "created_at"),
        updated_at=_time(conversation.updated_at, where, "updated_at"),
        messages=tuple(messages),
    )


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
    """One sentence for the user about what an import did, naming the entries left out."""
    if not result.imported and result.skipped:
        text = ngettext(
            "Nothing new: {count} conversation already here",
            "Nothing new: {count} conversations already here",
            result.skipped,
        ).format(count=result.skipped)
    elif not result.imported:
        return _("The file holds no conversations.")
    else:
        conversations = ngettext(
            "Imported {count} conversation", "Imported {count} conversations", len(result.imported)
        ).format(count=len(result.imported))
        messages = ngettext(
            " with {count} message", " with {count} messages", result.messages
        ).format(count=result.messages)
        text = conversations + messages
        if result.skipped:
            text += _("; skipped {skipped} already here").format(skipped=result.skipped)
    if result.left_out:
        named = [sentence.rstrip(". ") for sentence in result.left_out[:LEFT_OUT_NAMED]]
        more = len(result.left_out) - len(named)
        which = "; ".join(named)
        if more:
            which += ngettext("; and {count} more", "; and {count} more", more).format(count=more)
        text += ngettext(
            "; left out {count} entry that could not be read ({which})",
            "; left out {count} entries that could not be read ({which})",
            len(result.left_out),
        ).format(count=len(result.left_out), which=which)
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
