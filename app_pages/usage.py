"""Usage page: what the chats used and cost and how fast they were, as charts and a table."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from assistant import ui, usage_frames
from assistant.i18n import N_, _, ngettext, number
from assistant.profiles import shown_name
from assistant.safe_markdown import plain
from assistant.usage import SAMPLE_ANSWERS, TABLE_ANSWERS, money
from assistant.usage_frames import Filters

RANGE_KEY = "usage-range"
STATUS_NAMES = {
    "complete": N_("complete"),
    "stopped": N_("stopped"),
    "error": N_("error"),
    "interrupted": N_("interrupted"),
}


def _filters(frame: pd.DataFrame) -> Filters:
    first, last = min(frame["day"]), max(frame["day"])
    today = date.today()
    default = (max(first, today - timedelta(days=29)), max(last, today))
    row = st.container(horizontal=True, gap="small")
    picked = row.date_input(
        _("Dates"), value=default, min_value=first, max_value=max(last, today), key=RANGE_KEY
    )
    start, end = picked if isinstance(picked, tuple | list) and len(picked) == 2 else default
    choices = {
        column: sorted(v for v in frame[column].unique() if v)
        for column in ("endpoint", "model", "preset")
    }
    endpoints = row.multiselect(_("Endpoint"), choices["endpoint"], key="usage-endpoint",
                                format_func=shown_name, placeholder=_("All"))  # fmt: skip
    models = row.multiselect(_("Model"), choices["model"], key="usage-model",
                             placeholder=_("All"))  # fmt: skip
    presets = row.multiselect(_("Preset"), choices["preset"], key="usage-preset",
                              placeholder=_("All"))  # fmt: skip
    return Filters(start, end, tuple(endpoints), tuple(models), tuple(presets))


def _query(filters: Filters) -> tuple:
    return (
        filters.start.isoformat(),
        filters.end.isoformat(),
        filters.models,
        filters.endpoints,
        filters.presets,
    )


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _headline(svc, now: pd.DataFrame, before: pd.DataFrame, filters: Filters) -> list[dict]:
    sample = ui.usage_answers(svc, _query(filters), SAMPLE_ANSWERS)
    earlier = ui.usage_answers(svc, _query(filters.previous()), SAMPLE_ANSWERS)
    head, prior = usage_frames.headline(now), usage_frames.headline(before)
    ttft = _median([r["first_token_s"] for r in sample])
    ttft_before = _median([r["first_token_s"] for r in earlier])
    speed = _median([r["tokens_per_s"] for r in sample])
    speed_before = _median([r["tokens_per_s"] for r in earlier])
    change = usage_frames.change
    at_least = "≥ " if head.unreported else ""  # some answers' tokens are unknown, not 0
    cards = [
        (_("Answers"), number(head.answers), change(head.answers, prior.answers), "normal"),
        (_("Tokens in"), at_least + number(head.tokens_in),
         change(head.tokens_in, prior.tokens_in), "off"),
        (_("Tokens out"), at_least + number(head.tokens_out),
         change(head.tokens_out, prior.tokens_out), "off"),
        (_("Cost"), ("≥ " if head.cost_unknown_part and head.cost else "") + money(head.cost),
         change(head.cost, prior.cost), "inverse"),
        (_("Median first token"),
         _("{seconds} s").format(seconds=f"{ttft:.2f}") if ttft is not None else "—",
         change(ttft, ttft_before), "inverse"),
        (_("Median tokens/s"), f"{speed:.1f}" if speed is not None else "—",
         change(speed, speed_before), "normal"),
        (_("Error rate"), f"{head.error_rate:.1%}" if head.error_rate is not None else "—",
         change(head.error_rate, prior.error_rate), "inverse"),
    ]  # fmt: skip
    row = st.container(horizontal=True, gap="small")
    for label, value, delta, color in cards:
        row.metric(label, value, delta, delta_color=color, border=True,
                   help=_("Against the previous period of the same length."))  # fmt: skip
    if head.unreported:
        st.caption(
            ngettext(
                "Tokens not reported for {count} answer (an endpoint that sends no usage, or an "
                "import): the totals leave it out, so they are at least what is shown.",
                "Tokens not reported for {count} answers (an endpoint that sends no usage, or an "
                "import): the totals leave them out, so they are at least what is shown.",
                head.unreported,
            ).format(count=number(head.unreported))
        )
    if not head.priced_all:
        st.caption(
            _(
                "Some answers have no price set: their tokens count, their cost does not. "
                "Add prices in Settings › Prices & context."
            )
        )
    if len(sample) == SAMPLE_ANSWERS:
        st.caption(
            _("Medians and distributions over the newest {count} answers.").format(
                count=number(SAMPLE_ANSWERS)
            )
        )
    return sample


def _charts(now: pd.DataFrame, sample: list[dict]) -> None:
    left, right = st.columns(2)
    with_tokens = now.assign(tokens=now["tokens_in"] + now["tokens_out"])
    left.subheader(_("Tokens per day"))
    left.bar_chart(usage_frames.per_day(with_tokens, "tokens"), y_label=_("tokens"))
    right.subheader(_("Cost per day"))
    cost = usage_frames.per_day(now.dropna(subset=["cost"]), "cost")
    if cost.empty or not cost.to_numpy().any():
        right.caption(_("No cost in this period (no prices set, or free endpoints only)."))
    else:
        right.bar_chart(cost, y_label="US$")
    speed = pd.DataFrame(
        {
            "model": [r["model"] or "?" for r in sample],
            "first_token": [r["first_token_s"] for r in sample],
            "tokens_per_s": [r["tokens_per_s"] for r in sample],
        }
    )
    left, right = st.columns(2)
    for column, where, heading, axis in (
        ("first_token", left, _("First token per model"), _("first token (s)")),
        ("tokens_per_s", right, _("Tokens/s per model"), _("tokens/s")),
    ):
        where.subheader(heading)
        data = speed.dropna(subset=[column])
        if data.empty:
            where.caption(_("No timings in this period."))
            continue
        chart = (
            alt.Chart(data)
            .mark_boxplot(extent="min-max")
            .encode(
                x=alt.X(f"{column}:Q", title=axis),
                y=alt.Y("model:N", title=None),
                color=alt.Color("model:N", title=_("Model")),
            )
        )
        where.altair_chart(chart, width="stretch")
    left, right = st.columns(2)
    left.subheader(_("Answers by status"))
    statuses = usage_frames.statuses_per_day(now)
    statuses = statuses.rename(columns=lambda status: _(STATUS_NAMES.get(status, status)))
    left.bar_chart(statuses, y_label=_("answers"))
    right.subheader(_("Most common errors"))
    reasons = usage_frames.error_reasons(sample)
    if reasons.empty:
        right.caption(_("No failed or interrupted answers in this period."))
    else:
        right.dataframe(
            reasons,
            hide_index=True,
            width="stretch",
            column_config={
                "Reason": st.column_config.TextColumn(_("Reason")),
                "Answers": st.column_config.NumberColumn(_("Answers")),
            },
        )


def _conversations(svc, filters: Filters) -> None:
    st.subheader(_("The conversations that cost most"))
    rows = ui.usage_conversations(svc, _query(filters))
    if not rows:
        st.caption(_("No conversations in this period."))
    for row in rows:
        label = _("{title} · {cost} · {tokens} tokens").format(
            title=row["title"], cost=money(row["cost"]), tokens=number(row["tokens"])
        )
        if st.button(plain(label), key=f"usage-open-{row['conversation_id']}", type="tertiary",
                     icon=":material/chat:"):  # fmt: skip
            st.switch_page(
                ui.CHAT_PAGE, query_params={ui.QUERY_CONVERSATION: str(row["conversation_id"])}
            )


def _csv(svc, query: tuple) -> bytes:
    rows = svc.usage.answers(*query[:2], list(query[2]), list(query[3]), list(query[4]), None)
    frame = usage_frames.answers_frame(rows).drop(columns=["conversation_id"])
    return frame.to_csv(index=False).encode("utf-8")


def _table(svc, filters: Filters) -> None:
    st.subheader(_("Answers"))
    query = _query(filters)
    rows = ui.usage_answers(svc, query, TABLE_ANSWERS)
    frame = usage_frames.answers_frame(rows)
    frame["Status"] = frame["Status"].map(lambda status: _(STATUS_NAMES.get(status, status)))
    st.dataframe(
        frame.drop(columns=["conversation_id"]),
        hide_index=True,
        width="stretch",
        column_config={
            "Date": st.column_config.DatetimeColumn(_("Date"), format="YYYY-MM-DD HH:mm"),
            "Conversation": st.column_config.TextColumn(_("Conversation")),
            "Model": st.column_config.TextColumn(_("Model")),
            "Endpoint": st.column_config.TextColumn(_("Endpoint")),
            "Tokens in": st.column_config.NumberColumn(_("Tokens in")),
            "Tokens out": st.column_config.NumberColumn(_("Tokens out")),
            "Cost": st.column_config.NumberColumn(_("Cost"), format="$%.4f"),
            "TTFT (s)": st.column_config.NumberColumn(_("First token (s)"), format="%.2f"),
            "Tokens/s": st.column_config.NumberColumn(_("Tokens/s"), format="%.1f"),
            "Status": st.column_config.TextColumn(_("Status")),
        },
    )
    if len(rows) == TABLE_ANSWERS:
        st.caption(
            _("The newest {count}; the CSV has every answer in the filter.").format(
                count=number(TABLE_ANSWERS)
            )
        )
    st.download_button(
        _("Download CSV"),
        data=lambda: _csv(svc, query),
        file_name=f"usage {query[0]} to {query[1]}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


def usage_page() -> None:
    st.set_page_config(layout="wide")
    svc = ui.services()
    st.title(_("Usage"))
    frame = usage_frames.rollup_frame(ui.usage_rollup(svc))
    if frame.empty:
        st.info(_("No finished answers yet: usage shows here once the chats have some."))
        return
    filters = _filters(frame)
    now = usage_frames.apply(frame, filters)
    before = usage_frames.apply(frame, filters.previous())
    sample = _headline(svc, now, before, filters)
    _charts(now, sample)
    _conversations(svc, filters)
    _table(svc, filters)


usage_page()
