"""What every importer shares: typed reads of untrusted JSON, times, identities, and putting a
file's messages in an order the store can write (parents before children).

A file names its messages by its own keys; `ImportedMessage.parent` and `reply_to` use them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from assistant.errors import ImportProblem
from assistant.i18n import N_, _
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


UNDATED = ""  # a reader's mark for "the file gives no time here"; `dated` fills it in


def epoch_iso(value: Any, fallback: str) -> str:
    """Seconds (or milliseconds, as some apps write) since 1970, as a number or as digits in a
    text (`"1704067200"`, as some exporters write them) -> ISO 8601; else `fallback`."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return fallback
        if value != value:  # NaN
            return fallback
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
        return epoch_iso(value, value)  # digits are epoch seconds; other text is checked later
    return epoch_iso(value, fallback)


_JS_DATE = (
    re.compile(  # what JavaScript's Date.toString() writes: "Tue Apr 09 2024 16:33:32 GMT+0200"
        r"(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2}) (?P<year>\d{4}) "
        r"(?P<time>\d{2}:\d{2}:\d{2}) GMT(?P<offset>[+-]\d{4})"
    )
)


def file_date(value: Any) -> str:
    """The date a whole file was written (LibreChat's `exportAt`), or UNDATED when the file
    gives none or only a time of day (as LibreChat's client does: "16:33:32 GMT+0200 (…)")."""
    if not isinstance(value, str):
        return epoch_iso(value, UNDATED)
    found = _JS_DATE.search(value)
    if found:
        try:
            moment = datetime.strptime(
                " ".join(found.group("day", "month", "year", "time", "offset")),
                "%d %b %Y %H:%M:%S %z",
            )
        except ValueError:
            return UNDATED
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value if _moment(value) is not None else UNDATED


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _order(text: str) -> datetime:
    """A sort key for times as files write them (a text that is not one sorts first; it is
    refused later, when every time is checked)."""
    return _moment(text) or datetime.min.replace(tzinfo=UTC)


def dated(
    created_at: str, updated_at: str, messages: list[ImportedMessage], written: str = UNDATED
) -> tuple[str, str, list[ImportedMessage]]:
    """Times for what the file left undated, from the file and never from the clock while
    the file has any: the conversation's own, else its oldest message's, else the file's
    (`written`); a message without one gets its parent's (a reply is never older), else the
    conversation's. Only a file with no time anywhere gets the moment of the import.

    `messages` come parents first (as `parents_first` orders them).
    """
    times = [m.created_at for m in messages if m.created_at]
    start = created_at or (min(times, key=_order) if times else "") or written or now_iso()
    filled: dict[str, str] = {}
    result = []
    for message in messages:
        when = message.created_at or filled.get(message.parent or "", "") or start
        filled[message.key] = when
        result.append(replace(message, created_at=when) if when != message.created_at else message)
    latest = max(filled.values(), key=_order) if filled else start
    return start, updated_at or latest, result


def newest_leaf(messages: list[ImportedMessage]) -> str | None:
    """The last message of the newest branch: of the messages nothing follows, the newest
    (the later in the file when two share a time, as a question and its answer may)."""
    parents = {m.parent for m in messages}
    leaves = [(index, m) for index, m in enumerate(messages) if m.key not in parents]
    if not leaves:
        return None
    return max(leaves, key=lambda pair: (_order(pair[1].created_at), pair[0]))[1].key


_DURATION_WORDS = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(h|hours?|m|mins?|minutes?|s|secs?|seconds?)\b", re.IGNORECASE
)
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0}


def duration_s(text: str) -> float | None:
    """Seconds in a label such as "Thought for 29s", "Thought for 1m 5s" or "Thought for 3
    seconds" (ChatGPT's recaps, Open WebUI's summaries); None when it names no duration."""
    found = _DURATION_WORDS.findall(text)
    if not found:
        return None
    return sum(float(n.replace(",", ".")) * _UNIT_S[unit[0].lower()] for n, unit in found)


INTERRUPTED_ON_IMPORT = N_("This answer was still being written when it was exported.")


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
