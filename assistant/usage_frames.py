"""The usage page's numbers as pandas frames: filters, headline numbers with the previous
period of the same length, and the tables the charts draw. No Streamlit here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from assistant.i18n import _, retranslate
from assistant.profiles import shown_name

ROLLUP_COLUMNS = [
    "day",
    "model",
    "endpoint",
    "preset",
    "status",
    "answers",
    "tokens_in",
    "tokens_out",
    "ttft_sum",
    "ttft_n",
    "unreported",
    "cost",
    "free",
]


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    endpoints: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        length = (self.end - self.start).days + 1
        end = self.start - timedelta(days=1)
        return Filters(
            end - timedelta(days=length - 1), end, self.endpoints, self.models, self.presets
        )


def rollup_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=ROLLUP_COLUMNS)
    frame["day"] = pd.to_datetime(frame["day"], errors="coerce").dt.date
    frame["cost"] = pd.to_numeric(frame["cost"], errors="coerce")
    return frame.dropna(subset=["day"])


def apply(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    keep = (frame["day"] >= filters.start) & (frame["day"] <= filters.end)
    for column, chosen in (
        ("endpoint", filters.endpoints),
        ("model", filters.models),
        ("preset", filters.presets),
    ):
        if chosen:
            keep &= frame[column].isin(chosen)
    return frame[keep]


@dataclass(frozen=True)
class Headline:
    answers: int
    tokens_in: int
    tokens_out: int
    cost: float | None  # None: some tokens have no price
    priced_all: bool
    error_rate: float | None  # errors and interruptions / answers
    unreported: int = 0  # answers whose endpoint reported no tokens: the totals are "at least"
    cost_unknown_part: bool = False  # some of them were on endpoints that cost money


def headline(frame: pd.DataFrame) -> Headline:
    answers = int(frame["answers"].sum())
    failed = int(frame.loc[frame["status"].isin(["error", "interrupted"]), "answers"].sum())
    unpriced = frame["cost"].isna() & ((frame["tokens_in"] + frame["tokens_out"]) > 0)
    cost = float(frame["cost"].fillna(0).sum())
    return Headline(
        answers,
        int(frame["tokens_in"].sum()),
        int(frame["tokens_out"].sum()),
        cost if (cost or not unpriced.any()) else None,
        not bool(unpriced.any()),
        failed / answers if answers else None,
        int(frame["unreported"].fillna(0).sum()),
        bool(((frame["unreported"].fillna(0) > 0) & ~frame["free"].astype(bool)).any()),
    )


def per_day(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Days as rows, models as columns (for a stacked bar chart)."""
    if frame.empty:
        return pd.DataFrame()
    table = frame.pivot_table(index="day", columns="model", values=value, aggfunc="sum")
    return _days_as_labels(table.fillna(0).sort_index())


def statuses_per_day(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame()
    table = frame.pivot_table(index="day", columns="status", values="answers", aggfunc="sum")
    return _days_as_labels(table.fillna(0).sort_index())


def _days_as_labels(table: pd.DataFrame) -> pd.DataFrame:
    """Days as text, so that a bar chart draws one bar per day (not a sliver on a time axis)."""
    table.index = [day.isoformat() for day in table.index]
    table.index.name = "day"
    return table


def answers_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The answer table: one row per answer, newest first."""
    frame = pd.DataFrame(
        {
            "Date": pd.to_datetime([r["created_at"] for r in rows], utc=True, errors="coerce"),
            "Conversation": [r["title"] for r in rows],
            "Model": [r["model"] or "" for r in rows],
            "Endpoint": [shown_name(r["provider"] or "") for r in rows],
            "Tokens in": [r["prompt_tokens"] for r in rows],
            "Tokens out": [r["completion_tokens"] for r in rows],
            "Cost": [r["cost"] for r in rows],
            "TTFT (s)": [r["first_token_s"] for r in rows],
            "Tokens/s": [r["tokens_per_s"] for r in rows],
            "Status": [r["status"] for r in rows],
            "conversation_id": [r["conversation_id"] for r in rows],
        }
    )
    return frame


def error_reasons(rows: list[dict[str, Any]], top: int = 5) -> pd.DataFrame:
    reasons = pd.Series([r["error"] for r in rows if r["status"] in ("error", "interrupted")])
    if reasons.empty:
        return pd.DataFrame(columns=["Reason", "Answers"])
    # A reason is stored in the language of the page that sent the answer: said again in this
    # page's language, so one reason counts once (and a Chinese page shows no English).
    counts = reasons.fillna(_("unknown")).map(retranslate).value_counts().head(top)
    return pd.DataFrame({"Reason": counts.index, "Answers": counts.values})


def change(now: float | None, before: float | None) -> str | None:
    """'+12%' against the previous period, or None when there is nothing to compare with."""
    if now is None or before is None or before == 0:
        return None
    return f"{(now - before) / before:+.0%}"
