"""What every importer shares: typed reads of untrusted JSON, times, identities, and putting a
file's messages in an order the store can write (parents before children).

A file names its messages by its own keys; `ImportedMessage.parent` and `reply_to` use them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from assistant.errors import ImportProblem
from assistant.i18n import _
from assistant.store import ImportedConversation, ImportedMessage, make_title


def require(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ImportProblem(f"{where}: {what}.")
    return value


def optional(item: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = item.get(name)
    if value is None:
        return None
    return require(value, kind, where, _('"{name}" has the wrong type').format(name=name))


def text_of(value: Any) -> str:
    """A value that should be text: text as is, anything else (a number, null) as nothing."""
    return value if isinstance(value, str) else ""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_iso(value: Any, fallback: str) -> str:
    """Seconds (or milliseconds, as some apps write) since 1970 -> ISO 8601; else `fallback`."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        seconds = float(value) / 1000 if value > 1e11 else float(value)
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return fallback
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return fallback


def iso_or(value: Any, fallback: str) -> str:
    """An ISO 8601 text, or epoch seconds, or the fallback (checked again before writing)."""
    if isinstance(value, str) and value.strip():
        return value
    return epoch_iso(value, fallback)


def content_uid(title: str, created_at: str, messages: list[ImportedMessage]) -> str:
    """An identity for a file without uids, so importing it twice still adds it once."""
    digest = hashlib.sha256()
    for part in (title, created_at, *(m.role + "\0" + m.content for m in messages[:4])):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")  # checked later
    return "content-" + digest.hexdigest()[:32]


def title_or_first_words(title: str, messages: list[ImportedMessage], drop: str = "") -> str:
    if title.strip():
        return title.strip()
    first = next((m.content for m in messages if m.role == "user"), "")
    first = first.replace(drop, "").strip() if drop else first.strip()
    return make_title(first) if first else _("Imported chat")


def parents_first(messages: list[ImportedMessage], where: str) -> list[ImportedMessage]:
    """The messages with every parent before its children (otherwise in the file's order).

    A parent the file does not hold makes a message a root (nothing is dropped); a loop is
    refused. An answer's `reply_to` is its parent when that is a user message.
    """
    by_key = {m.key: m for m in messages}
    children: dict[str | None, list[ImportedMessage]] = {}
    for message in messages:
        parent = (
            message.parent if message.parent in by_key and message.parent != message.key else None
        )
        children.setdefault(parent, []).append(replace(message, parent=parent))
    ordered: list[ImportedMessage] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        message = stack.pop()
        ordered.append(message)
        stack.extend(reversed(children.get(message.key, [])))
    if len(ordered) != len(messages):
        raise ImportProblem(_("{where}: its message tree has a loop.").format(where=where))
    roles = {m.key: m.role for m in ordered}
    return [
        replace(m, reply_to=m.parent)
        if m.role == "assistant" and m.parent is not None and roles[m.parent] == "user"
        else m
        for m in ordered
    ]


def guarded(read: Callable[[Any, int], ImportedConversation], item: Any, number: int, app: str):
    """Run one conversation's reader; a shape it does not expect becomes one sentence naming
    the conversation, never a traceback (the peers' formats are undocumented and change)."""
    try:
        return read(item, number)
    except ImportProblem:
        raise
    except (AttributeError, TypeError, KeyError, ValueError, OverflowError, IndexError) as exc:
        title = item.get("title") if isinstance(item, dict) else None
        named = f" ({title[:40]!r})" if isinstance(title, str) and title else ""
        raise ImportProblem(
            _(
                "Conversation {number}{named} of this {app} export has a structure this "
                "app does not understand ({name}: {exc})."
            ).format(number=number, named=named, app=app, name=type(exc).__name__, exc=exc)
        ) from exc
