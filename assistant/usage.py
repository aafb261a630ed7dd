"""Usage and cost: prices the user enters, and what the answers used, read in aggregate.

Prices. A price is a model-name pattern (`gpt-4o*`, case ignored) with a price per million
input and output tokens (and cached input, where an endpoint reports it), valid from a date.
Nothing ships as a "current" price. An answer costs what the price valid on its day says; a
new price is a new row from today, so history keeps its cost unless the user asks for the new
price to apply to earlier answers too. The embedded model and endpoints on this machine
(localhost) cost 0; anything else without a price has tokens and "no price set", never a guess.

Reading. `usage_daily` (migration 9, kept by triggers) holds finished answers per day, model,
endpoint, preset, status and profile: the page reads those few thousand rows, not every
answer. Each generation is counted once: a fork's copies (`copied_from`) are left out. A
complete answer whose endpoint reported no tokens is counted in `unreported`, never as 0 tokens, so
totals say "at least". Distributions (time to first token, tokens/s) and the answer table
read the newest answers in the filter, at most `SAMPLE_ANSWERS` of them, through an index on
answers' times.
"""

from __future__ import annotations

import fnmatch
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from assistant import parts as answer_parts
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.i18n import _
from assistant.store import FINAL_STATUSES, Message, now_iso
from assistant.transcript import generation_speed

SAMPLE_ANSWERS = 5_000  # answers read for medians and distributions, the newest first
TABLE_ANSWERS = 1_000  # answers shown in the page's table (the CSV has them all)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
EARLIEST = "0001-01-01"  # a price "for earlier answers too" is valid from here


@dataclass(frozen=True)
class Price:
    id: int
    pattern: str
    input_per_m: float
    output_per_m: float
    cached_input_per_m: float | None
    valid_from: str  # YYYY-MM-DD
    created_at: str

    def matches(self, model: str) -> bool:
        return fnmatch.fnmatchcase(model.lower(), self.pattern.lower())

    @property
    def specificity(self) -> int:
        """Characters that are not wildcards: `gpt-4o-mini` beats `gpt-4o*`."""
        return sum(1 for c in self.pattern if c not in "*?[]")

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_m + tokens_out * self.output_per_m) / 1_000_000


def price_on(prices: Iterable[Price], model: str, day: str) -> Price | None:
    """The price of `model` valid on `day`: the latest valid_from not after the day, then the
    most specific pattern, then the newest entry."""
    found = [p for p in prices if p.valid_from <= day and p.matches(model)]
    if not found:
        return None
    return max(found, key=lambda p: (p.valid_from, p.specificity, p.id))


class PriceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> list[Price]:
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT id, pattern, input_per_m, output_per_m, cached_input_per_m, valid_from,"
                " created_at FROM prices ORDER BY pattern, valid_from"
            ).fetchall()
        return [Price(*r) for r in rows]

    def add(
        self,
        pattern: str,
        input_per_m: float,
        output_per_m: float,
        cached_input_per_m: float | None = None,
        earlier_too: bool = False,
        today: str | None = None,
    ) -> Price:
        """A price from today on (`earlier_too`: for every answer, recomputing history)."""
        clean = pattern.strip()
        if not clean or len(clean) > 200:
            raise InvalidInput(_("Enter a model name or pattern, e.g. gpt-4o or gpt-4o*."))
        for label, value in (("input", input_per_m), ("output", output_per_m)):
            if not (isinstance(value, int | float) and 0 <= value <= 10_000):
                raise InvalidInput(
                    _("The {label} price is per million tokens, from 0 to 10,000.").format(
                        label=label
                    )
                )
        if cached_input_per_m is not None and not 0 <= cached_input_per_m <= 10_000:
            raise InvalidInput(_("The cached input price is per million tokens, from 0 to 10,000."))
        valid_from = EARLIEST if earlier_too else (today or date.today().isoformat())
        with self.db.transaction() as conn:
            price_id = conn.execute(
                "INSERT INTO prices (pattern, input_per_m, output_per_m, cached_input_per_m,"
                " valid_from, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (clean, input_per_m, output_per_m, cached_input_per_m, valid_from, now_iso()),
            ).fetchone()[0]
        return next(p for p in self.list() if p.id == price_id)

    def delete(self, price_id: int) -> None:
        with self.db.transaction() as conn:
            if not conn.execute("DELETE FROM prices WHERE id = ?", (price_id,)).rowcount:
                raise NotFound(_("Price {price_id} does not exist.").format(price_id=price_id))


def is_local_endpoint(kind: str | None, base_url: str | None, provider: str | None) -> bool:
    """The embedded model, or a server on this machine: it costs nothing."""
    if kind == "local" or (kind is None and provider == "local"):
        return True
    host = urlsplit(base_url or "").hostname or ""
    return host in LOCAL_HOSTS


@dataclass(frozen=True)
class AnswerCost:
    """What one answer cost: `amount` None when no price is set for its model."""

    amount: float | None
    free: bool  # the embedded model or an endpoint on this machine


class Usage:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.prices = PriceStore(db)

    def _local_profiles(self, conn: sqlite3.Connection) -> set[int]:
        rows = conn.execute("SELECT id, kind, base_url FROM profiles").fetchall()
        return {r[0] for r in rows if is_local_endpoint(r[1], r[2], None)}

    def coster(self) -> Callable[[Message], AnswerCost]:
        """A function that prices answers, with the prices and endpoints read once (a page
        run prices every answer it shows)."""
        with self.db.connect() as conn:
            local = self._local_profiles(conn)
        prices = self.prices.list()
        return lambda message: _cost_of(message, local, prices)

    def answer_cost(self, message: Message, prices: list[Price] | None = None) -> AnswerCost:
        with self.db.connect() as conn:
            local = self._local_profiles(conn)
        return _cost_of(message, local, prices if prices is not None else self.prices.list())

    def conversation_cost(self, conversation_id: int) -> tuple[float | None, int, int, int, int]:
        """(cost or None when some answer has no price, tokens in, tokens out, answers, answers
        whose endpoint reported no tokens: unknown, not 0)."""
        with self.db.connect() as conn:
            local = self._local_profiles(conn)
            rows = conn.execute(
                "SELECT model, provider, profile_id, created_at, prompt_tokens,"
                " completion_tokens, status FROM messages WHERE conversation_id = ?"
                " AND role = 'assistant' AND status IN (?, ?, ?, ?)",
                (conversation_id, *FINAL_STATUSES),
            ).fetchall()
        prices = self.prices.list()
        total: float | None = 0.0
        tokens_in = tokens_out = unreported = 0
        for row in rows:
            if row["prompt_tokens"] is None and row["completion_tokens"] is None:
                unreported += row["status"] == "complete"
            tokens_in += row["prompt_tokens"] or 0
            tokens_out += row["completion_tokens"] or 0
            cost = _row_cost(row, local, prices)
            if cost is None and (row["prompt_tokens"] or row["completion_tokens"]):
                total = None
            elif total is not None and cost is not None:
                total += cost
        return total, tokens_in, tokens_out, len(rows), unreported

    def daily(self) -> list[dict[str, Any]]:
        """Every row of the daily rollup, with whether its endpoint is free, and its cost
        (None: no price set)."""
        with self.db.connect() as conn:
            local = self._local_profiles(conn)
            rows = conn.execute(
                "SELECT day, model, endpoint, preset, status, profile_id, answers, tokens_in,"
                " tokens_out, ttft_sum, ttft_n, unreported FROM usage_daily WHERE answers > 0"
            ).fetchall()
        prices = self.prices.list()
        chosen: dict[tuple[str, str], Price | None] = {}
        result = []
        for row in rows:
            data = dict(row)
            free = _is_free(data["profile_id"], data["endpoint"], local)
            data["free"] = free
            if free:
                data["cost"] = 0.0
            else:
                key = (data["model"], data["day"])
                if key not in chosen:
                    chosen[key] = price_on(prices, data["model"], data["day"])
                price = chosen[key]
                data["cost"] = price.cost(data["tokens_in"], data["tokens_out"]) if price else None
            result.append(data)
        return result

    def answers(
        self,
        start: str,
        end: str,
        models: list[str] | None = None,
        endpoints: list[str] | None = None,
        presets: list[str] | None = None,
        limit: int | None = SAMPLE_ANSWERS,
    ) -> list[dict[str, Any]]:
        """Finished answers from `start` to `end` (days, inclusive), newest first, with their
        conversation's title and cost; at most `limit` (None: all, for the CSV)."""
        where, values = _answer_filter(start, end, models, endpoints, presets)
        with self.db.connect() as conn:
            local = self._local_profiles(conn)
            rows = conn.execute(
                "SELECT m.id, m.conversation_id, c.title, m.created_at, m.model, m.provider,"
                " m.preset, m.profile_id, m.status, m.error, m.prompt_tokens,"
                " m.completion_tokens, m.first_token_s, m.total_s, m.generation_s, m.content,"
                " m.parts AS parts_json"
                " FROM messages AS m"
                " JOIN conversations AS c ON c.id = m.conversation_id"
                f" WHERE {where} ORDER BY m.created_at DESC LIMIT ?",
                (*values, -1 if limit is None else limit),
            ).fetchall()
        prices = self.prices.list()
        result = []
        for row in rows:
            data = dict(row)
            data["cost"] = _row_cost(row, local, prices)
            content = data.pop("content")
            data["tokens_reported"] = (
                data["completion_tokens"] is not None
                or data["status"] != "complete"
                or not (content or data["parts_json"])
            )
            data["tokens_per_s"] = _speed(data)
            result.append(data)
        return result

    def conversation_costs(
        self,
        start: str,
        end: str,
        models: list[str] | None = None,
        endpoints: list[str] | None = None,
        presets: list[str] | None = None,
        top: int = 10,
    ) -> list[dict[str, Any]]:
        """The conversations that cost most in the filter (then the most tokens), each with
        its cost (None: some answers have no price) and tokens. Grouped in SQL by
        conversation, model, endpoint and day, priced per group."""
        where, values = _answer_filter(start, end, models, endpoints, presets)
        with self.db.connect() as conn:
            local = self._local_profiles(conn)
            rows = conn.execute(
                "SELECT m.conversation_id, m.model, m.provider, m.profile_id,"
                " substr(m.created_at, 1, 10) AS created_at,"
                " SUM(m.prompt_tokens) AS prompt_tokens,"
                " SUM(m.completion_tokens) AS completion_tokens"
                f" FROM messages AS m WHERE {where}"
                " GROUP BY m.conversation_id, m.model, m.provider, m.profile_id, 5",
                values,
            ).fetchall()
            prices = self.prices.list()
            totals: dict[int, dict[str, Any]] = {}
            for row in rows:
                entry = totals.setdefault(
                    row["conversation_id"], {"cost": 0.0, "tokens": 0, "priced": True}
                )
                tokens = (row["prompt_tokens"] or 0) + (row["completion_tokens"] or 0)
                entry["tokens"] += tokens
                cost = _row_cost(row, local, prices)
                if cost is None:
                    entry["priced"] = entry["priced"] and not tokens
                else:
                    entry["cost"] += cost
            ranked = sorted(totals.items(), key=lambda kv: (kv[1]["cost"], kv[1]["tokens"]))
            best = ranked[::-1][:top]
            marks = ",".join("?" * len(best))
            found = conn.execute(
                f"SELECT id, title FROM conversations WHERE id IN ({marks})",
                [cid for cid, _cost in best],
            ).fetchall()
            titles = {row[0]: row[1] for row in found}
        return [
            {
                "conversation_id": cid,
                "title": titles.get(cid, ""),
                "cost": entry["cost"] if entry["priced"] else None,
                "cost_known": entry["cost"],
                "tokens": entry["tokens"],
            }
            for cid, entry in best
        ]


def _answer_filter(
    start: str,
    end: str,
    models: list[str] | None,
    endpoints: list[str] | None,
    presets: list[str] | None,
) -> tuple[str, list[Any]]:
    # A fork's copies repeat answers generated elsewhere: each generation is counted once.
    where = [
        "m.role = 'assistant'",
        "m.copied_from IS NULL",
        "m.created_at >= ?",
        "m.created_at < ?",
    ]
    values: list[Any] = [start, _day_after(end)]
    where.append(f"m.status IN ({','.join('?' * len(FINAL_STATUSES))})")
    values += FINAL_STATUSES
    for column, chosen in (("m.model", models), ("m.provider", endpoints), ("m.preset", presets)):
        if chosen:
            where.append(f"COALESCE({column}, '') IN ({','.join('?' * len(chosen))})")
            values += chosen
    return " AND ".join(where), values


def _day_after(day: str) -> str:
    return date.fromordinal(date.fromisoformat(day).toordinal() + 1).isoformat()


def _speed(row: dict[str, Any]) -> float | None:
    stored = row.pop("parts_json")
    parts = answer_parts.loads(stored, "") if stored else []  # tool steps' times, if any
    return generation_speed(
        row["completion_tokens"], row["total_s"], row["first_token_s"], parts, row["generation_s"]
    )


def _is_free(profile_id: int | None, provider: str | None, local: set[int]) -> bool:
    """The embedded model or an endpoint on this machine (`local`: such profiles' ids); an
    answer from before endpoint profiles names the embedded model as provider "local"."""
    return profile_id in local or (not profile_id and provider == "local")


def _row_cost(row: Any, local: set[int], prices: list[Price]) -> float | None:
    if _is_free(row["profile_id"], row["provider"], local):
        return 0.0
    price = price_on(prices, row["model"] or "", (row["created_at"] or "")[:10])
    if price is None:
        return None
    return price.cost(row["prompt_tokens"] or 0, row["completion_tokens"] or 0)


def _cost_of(message: Message, local: set[int], prices: list[Price]) -> AnswerCost:
    row = {
        "profile_id": message.profile_id,
        "provider": message.provider,
        "model": message.model,
        "created_at": message.created_at,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
    }
    amount = _row_cost(row, local, prices)
    return AnswerCost(amount, _is_free(message.profile_id, message.provider, local))


def money(amount: float | None) -> str:
    """$0.0123 for small amounts, $12.34 beyond a dollar; "no price set" without one."""
    if amount is None:
        return _("no price set")
    if amount == 0:
        return "$0"
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"
