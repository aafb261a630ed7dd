"""The conversations table as a pandas DataFrame, and its filters (no Streamlit here)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from assistant.i18n import _, ngettext, number
from assistant.store import COUNT_LIMIT, ConversationSummary, SearchHit

COLUMNS = [
    "Title",
    "Created",
    "Last activity",
    "Messages",
    "Branches",
    "Models",
    "Tokens",
    "Pinned",
    "Needs attention",
]

# Pixel widths that fit the nine columns beside the sidebar in a 1,280 px wide window
# (818 px of table; the selection column takes 33): left to size themselves they took 922 and
# cut off the last two. Long titles and model lists end in "…"; the row's panel shows them.
COLUMN_WIDTHS = {
    "Title": 168,
    "Created": 88,
    "Last activity": 118,
    "Messages": 66,
    "Branches": 64,
    "Models": 96,
    "Tokens": 64,
    "Pinned": 56,
    "Needs attention": 66,
}


def local_times(values: pd.Series) -> pd.Series:
    """ISO-8601 UTC text -> naive datetimes in this machine's time zone (the user's)."""
    zone = datetime.now().astimezone().tzinfo
    moments = pd.to_datetime(values, utc=True, format="ISO8601")
    return moments.dt.tz_convert(zone).dt.tz_localize(None)


def summaries_frame(summaries: list[ConversationSummary]) -> pd.DataFrame:
    """One row per conversation, indexed by conversation id, in the store's order."""
    frame = pd.DataFrame(
        {
            "id": [s.id for s in summaries],
            "Title": [s.title for s in summaries],
            "Created": [s.created_at for s in summaries],
            "Last activity": [s.updated_at for s in summaries],
            "Messages": [s.path_messages for s in summaries],
            "Branches": [s.branches for s in summaries],
            "Models": [", ".join(s.models) for s in summaries],
            "Tokens": [s.tokens for s in summaries],
            "Pinned": [s.pinned for s in summaries],
            "Needs attention": [s.has_problem for s in summaries],
        }
    ).set_index("id")
    if not frame.empty:
        frame["Created"] = local_times(frame["Created"])
        frame["Last activity"] = local_times(frame["Last activity"])
    else:
        frame["Created"] = pd.to_datetime(frame["Created"])
        frame["Last activity"] = pd.to_datetime(frame["Last activity"])
    return frame[COLUMNS]


def table_key(ids: list[int], prefix: str = "history_table") -> str:
    """A table's widget key: new whenever its rows or their order change, so a selection
    (kept by position) never moves onto another conversation."""
    return f"{prefix}-{zlib.crc32(repr(ids).encode()):08x}"


def search_summary(hits: list[SearchHit], titles_found: int, messages_found: int) -> str:
    """What a result list shows, saying so when it shows only the best of more matches."""
    shown_titles = sum(1 for hit in hits if hit.message_id is None)
    shown_messages = len(hits) - shown_titles
    titles_found = max(titles_found, shown_titles)
    messages_found = max(messages_found, shown_messages)
    if titles_found > COUNT_LIMIT:
        titles = _("the best {shown} of more than {limit} titles")
    elif shown_titles < titles_found:
        titles = ngettext(
            "the best {shown} of {found} title", "the best {shown} of {found} titles", titles_found
        )
    else:
        titles = ngettext("{found} title", "{found} titles", titles_found)
    if messages_found > COUNT_LIMIT:
        messages = _("the best {shown} of more than {limit} messages")
    elif shown_messages < messages_found:
        messages = ngettext(
            "the best {shown} of {found} message",
            "the best {shown} of {found} messages",
            messages_found,
        )
    else:
        messages = ngettext("{found} message", "{found} messages", messages_found)
    limit = number(COUNT_LIMIT)
    text = _("{titles} and {messages}, best first").format(
        titles=titles.format(shown=number(shown_titles), found=number(titles_found), limit=limit),
        messages=messages.format(
            shown=number(shown_messages), found=number(messages_found), limit=limit
        ),
    )
    return text[:1].upper() + text[1:]


def model_choices(frame: pd.DataFrame) -> list[str]:
    """Every model that answered in the table's conversations, for the Model filter."""
    return sorted(
        {model for text in frame["Models"].unique() for model in text.split(", ") if model}
    )


@dataclass(frozen=True)
class Filters:
    since: date | None = None  # last activity on or after this day
    until: date | None = None  # last activity on or before this day
    models: tuple[str, ...] = field(default_factory=tuple)  # any of these answered
    needs_attention: bool = False  # the shown answer of some question failed or was interrupted
    pinned_only: bool = False


def apply_filters(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if filters.since is not None or filters.until is not None:
        days = frame["Last activity"].dt.date
        if filters.since is not None:
            keep &= days >= filters.since
        if filters.until is not None:
            keep &= days <= filters.until
    if filters.models:
        wanted = set(filters.models)
        keep &= frame["Models"].map(lambda text: bool(wanted & set(text.split(", "))))
    if filters.needs_attention:
        keep &= frame["Needs attention"]
    if filters.pinned_only:
        keep &= frame["Pinned"]
    return frame[keep]
