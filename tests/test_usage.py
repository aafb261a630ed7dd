"""Usage and cost: the daily rollup kept by triggers, prices by date, no-price handling, the
usage page's numbers (AppTest) and the CLI, on a database built through the store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import seed
from streamlit.testing.v1 import AppTest

from assistant import migrations
from assistant.db import Database
from assistant.profiles import ProfileStore
from assistant.safe_markdown import plain
from assistant.store import FinalResult, Snapshot, Store
from assistant.usage import EARLIEST, Price, Usage, money, price_on

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")

ROLLUP_REFERENCE = """
    SELECT substr(created_at, 1, 10), COALESCE(model, ''), COALESCE(provider, ''),
           COALESCE(preset, ''), status, COALESCE(profile_id, 0), COUNT(*),
           COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0)
    FROM messages WHERE role = 'assistant'
      AND status IN ('complete', 'stopped', 'error', 'interrupted')
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
"""


def rollup(store: Store) -> list[tuple]:
    with store.db.connect() as conn:
        rows = conn.execute(
            "SELECT day, model, endpoint, preset, status, profile_id, answers, tokens_in,"
            " tokens_out FROM usage_daily WHERE answers > 0 ORDER BY 1, 2, 3, 4, 5, 6"
        ).fetchall()
        reference = conn.execute(ROLLUP_REFERENCE).fetchall()
    assert [tuple(r) for r in rows] == [tuple(r) for r in reference]
    return [tuple(r) for r in rows]


def answer_on(
    store: Store,
    day: str,
    model: str,
    tokens: tuple[int | None, int | None],
    status: str = "complete",
    conversation: int | None = None,
    snapshot: Snapshot | None = None,
    ttft: float | None = 0.5,
    error: str | None = None,
) -> int:
    """A finished answer created on `day` (the rollup counts it on the day it was created)."""
    ids = seed.turn(
        store, conversation, f"question about {model}", snapshot or Snapshot("Team", model)
    )
    with store.db.transaction() as conn:
        conn.execute(
            "UPDATE messages SET created_at = ? WHERE id IN (?, ?)",
            (f"{day}T12:00:00.000Z", ids.user_message_id, ids.assistant_message_id),
        )
    result = FinalResult(status, "text", "stop", error, tokens[0], tokens[1], ttft, 2.0)
    seed.finish(store, ids.assistant_message_id, result)
    return ids.conversation_id


@pytest.fixture
def history(store: Store) -> Store:
    """Known usage: two days in March, one in February (the previous period), an error."""
    first = answer_on(store, "2026-03-10", "gpt-4o", (1_000, 2_000))
    answer_on(store, "2026-03-10", "gpt-4o", (3_000, 1_000), conversation=first)
    answer_on(store, "2026-03-11", "gpt-4o-mini", (10_000, 5_000))
    answer_on(store, "2026-03-11", "llama", (500, 500))
    answer_on(store, "2026-03-11", "gpt-4o", (None, None), status="error", error="Rate limited.")
    answer_on(store, "2026-03-08", "gpt-4o", (2_000, 2_000))  # the period before 9–11 March
    return store


def test_the_rollup_equals_the_answers_through_finish_update_and_delete(history):
    rows = rollup(history)
    assert sum(r[6] for r in rows) == 6
    # Deleting a conversation for good takes its answers out.
    history.trash(1)
    history.delete_forever(1)
    assert sum(r[6] for r in rollup(history)) == 4


def test_migration_9_builds_the_rollup_from_an_existing_history(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrations.migrate(conn, target=8) == 8
    conn.close()
    store = Store(Database(db_path, idle_close_s=0.1))  # migrates to the latest
    with store.db.transaction() as conn:  # rows as an older version left them (no triggers)
        conn.execute("DROP TRIGGER usage_daily_answer_added")
    answer_on(store, "2026-01-02", "gpt-4o", (7, 9))
    with store.db.transaction() as conn:
        conn.execute("DELETE FROM usage_daily")
        conn.execute("DELETE FROM schema_migrations WHERE version >= 9")
        conn.execute("ALTER TABLE conversations DROP COLUMN title_source")  # migration 10
        conn.execute("DROP TABLE usage_daily")
        conn.execute("DROP TABLE prices")
        for name in ("usage_daily_answer_changed", "usage_daily_answer_removed"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP INDEX answers_by_time")
        for column in ("copied_from", "generation_s"):  # migration 11
            conn.execute(f"ALTER TABLE messages DROP COLUMN {column}")
    store.db.close()
    again = Store(Database(db_path))
    assert rollup(again) == [("2026-01-02", "gpt-4o", "Team", "", "complete", 0, 1, 7, 9)]


def price(pattern: str, i: float, o: float, valid_from: str, pid: int = 1) -> Price:
    return Price(pid, pattern, i, o, None, valid_from, "")


def test_the_price_of_a_day_is_the_latest_valid_then_the_most_specific():
    prices = [
        price("gpt-4o*", 5, 15, "2026-01-01", 1),
        price("gpt-4o-mini", 0.15, 0.6, "2026-01-01", 2),
        price("gpt-4o*", 2.5, 10, "2026-03-11", 3),
    ]
    assert price_on(prices, "gpt-4o", "2026-03-10").id == 1
    assert price_on(prices, "GPT-4o", "2026-03-11").id == 3  # a newer price, case ignored
    assert price_on(prices, "gpt-4o-mini", "2026-03-10").id == 2  # more specific
    assert price_on(prices, "gpt-4o-mini", "2026-03-12").id == 3  # newer beats specific
    assert price_on(prices, "llama", "2026-03-11") is None
    assert price_on(prices, "gpt-4o", "2025-12-31") is None
    assert money(None) == "no price set" and money(0.0225) == "$0.0225"


def test_a_new_price_counts_from_today_unless_it_recomputes_history(history):
    usage = Usage(history.db)
    assert all(row["cost"] is None for row in usage.daily() if row["tokens_in"])
    usage.prices.add("gpt-4o", 2.5, 10, today="2026-03-11")
    by_day = {(r["day"], r["model"], r["status"]): r["cost"] for r in usage.daily()}
    assert by_day[("2026-03-10", "gpt-4o", "complete")] is None  # before the price
    assert by_day[("2026-03-11", "gpt-4o", "error")] == 0.0  # no tokens: nothing to pay
    usage.prices.add("gpt-4o", 2.5, 10, earlier_too=True)
    assert usage.prices.list()[0].valid_from == EARLIEST
    by_day = {(r["day"], r["model"], r["status"]): r["cost"] for r in usage.daily()}
    assert by_day[("2026-03-10", "gpt-4o", "complete")] == pytest.approx(
        (4_000 * 2.5 + 3_000 * 10) / 1e6
    )


def test_the_embedded_model_and_local_endpoints_cost_nothing(store):
    profiles = ProfileStore(store.db)
    profiles.ensure_seeded()
    local = profiles.create("Ollama", "http://localhost:11434/v1", "none", None, "llama3")
    embedded = next(p for p in profiles.list() if p.kind == "local")
    for profile in (local, embedded):
        answer_on(store, "2026-03-11", "llama3", (100, 100),
                  snapshot=Snapshot(profile.name, "llama3", profile_id=profile.id))  # fmt: skip
    answer_on(store, "2026-03-11", "llama3", (100, 100))  # a remote server: no price
    costs = sorted((r["cost"] is None, r["cost"]) for r in Usage(store.db).daily())
    assert costs == [(False, 0.0), (False, 0.0), (True, None)]


def _page(db_path: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("app_pages/usage.py")
    at.session_state["usage-range"] = (
        __import__("datetime").date(2026, 3, 9),
        __import__("datetime").date(2026, 3, 11),
    )
    return at.run()


def test_the_usage_page_shows_the_hand_computed_sums(history, db_path, monkeypatch):
    Usage(history.db).prices.add("gpt-4o*", 2.5, 10, earlier_too=True)
    at = _page(db_path, monkeypatch)
    assert not at.exception
    cards = {m.label: (m.value, m.delta) for m in at.metric}
    assert cards["Answers"][0] == "5"
    assert cards["Tokens in"][0] == f"{1_000 + 3_000 + 10_000 + 500:,}"
    assert cards["Tokens out"][0] == f"{2_000 + 1_000 + 5_000 + 500:,}"
    # llama has no price: the cost is what the priced answers cost, and the page says so.
    priced = ((4_000 + 10_000) * 2.5 + (3_000 + 5_000) * 10) / 1e6
    assert cards["Cost"][0] == money(priced)
    assert cards["Error rate"][0] == "20.0%"
    assert cards["Answers"][1] == "+400%"  # 5 against 1 answer on 6–8 March
    assert any("have no price set" in c.value for c in at.caption)
    table = at.dataframe[-1].value
    assert len(table) == 5 and set(table["Status"]) == {"complete", "error"}
    # Filtered to gpt-4o*, every token has a price.
    at.multiselect(key="usage-model").set_value(["gpt-4o", "gpt-4o-mini"]).run()
    cards = {m.label: m.value for m in at.metric}
    assert cards["Cost"] == money(priced)
    assert cards["Answers"] == "4"
    assert not any("have no price set" in c.value for c in at.caption)


def test_cli_usage_equals_the_sums(history, db_path, tmp_path):
    Usage(history.db).prices.add("gpt-4o*", 2.5, 10, earlier_too=True)
    env = {"SQLITE_DB_PATH": str(db_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "usage", "--since", "2026-03-09", "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    by_model = {row["model"]: row for row in json.loads(result.stdout)}
    assert by_model["gpt-4o"]["answers"] == 3
    assert (by_model["gpt-4o"]["tokens_in"], by_model["gpt-4o"]["tokens_out"]) == (4_000, 3_000)
    assert by_model["gpt-4o"]["cost"] == pytest.approx((4_000 * 2.5 + 3_000 * 10) / 1e6)
    assert by_model["llama"]["cost"] is None
    days = subprocess.run(
        [sys.executable, "-m", "assistant", "usage", "--by", "day"],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    ).stdout  # fmt: skip
    assert "2026-03-08" in days and "no price set" in days


def test_token_estimates_count_cjk_characters_one_each():
    from assistant.context_gauge import estimate_tokens

    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefgh") == 2
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("你好 abcd") == 2 + 2  # two characters, then " abcd" (5 → 2)


def test_the_gauge_shows_the_embedded_models_real_window(db_path, monkeypatch):
    from assistant.config import load_settings

    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    window = load_settings(environ={"SQLITE_DB_PATH": str(db_path)}, secrets={}).local_context
    store = Store(Database(db_path))
    profiles = ProfileStore(store.db)
    profiles.ensure_seeded()
    embedded = next(p for p in profiles.list() if p.kind == "local")
    snapshot = Snapshot(embedded.name, "SmolLM2", profile_id=embedded.id)
    conversation = answer_on(store, "2026-03-11", "SmolLM2", (300, 60), snapshot=snapshot)
    with store.db.transaction() as conn:
        conn.execute("UPDATE conversations SET profile_id = ? WHERE id = ?",
                     (embedded.id, conversation))  # fmt: skip
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["c"] = str(conversation)
    at.run()
    assert not at.exception
    texts = [p.text for p in at.sidebar.get("progress")]
    share = 360 / window
    assert texts == [plain(f"Context: 360 of {window:,} tokens ({share:.0%})")]
