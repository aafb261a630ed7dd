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
from fake_openai import Scenario
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
    FROM messages WHERE role = 'assistant' AND copied_from IS NULL
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


def _cli(db_path: Path, *args: str) -> str:
    env = {"SQLITE_DB_PATH": str(db_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "usage", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_fork_does_not_count_its_copied_answers_again(history, db_path, monkeypatch):
    Usage(history.db).prices.add("gpt-4o*", 2.5, 10, earlier_too=True)
    before_rows = rollup(history)
    before_cli = json.loads(_cli(db_path, "--json"))
    usage = Usage(history.db)
    before_answers = usage.answers("2026-03-01", "2026-03-31", limit=None)
    before_top = usage.conversation_costs("2026-03-01", "2026-03-31")
    # "New chat from here" at the second answer of the first chat, then a fork of the fork.
    second = [m for m in history.path_to(history.get_conversation(1).active_leaf)][-1]
    fork = seed.life(history).fork(second.id)
    copies = [m for m in history.path_to(history.get_conversation(fork).active_leaf)]
    assert [m.copied_from for m in copies if m.role == "assistant"] == [2, second.id]
    again = seed.life(history).fork(history.get_conversation(fork).active_leaf)
    leaf = history.get_message(history.get_conversation(again).active_leaf)
    assert leaf.copied_from == second.id  # the generation, not the copy it was made from
    assert rollup(history) == before_rows  # before: each fork added 2 answers and their tokens
    assert json.loads(_cli(db_path, "--json")) == before_cli
    assert len(usage.answers("2026-03-01", "2026-03-31", limit=None)) == len(before_answers)
    after_top = usage.conversation_costs("2026-03-01", "2026-03-31")
    assert [(r["conversation_id"], r["cost"]) for r in after_top] == [
        (r["conversation_id"], r["cost"]) for r in before_top
    ]
    # A new answer in the fork is a generation of its own: it counts.
    answer_on(history, "2026-03-11", "gpt-4o", (5, 6), conversation=fork)
    gpt = {r["model"]: r for r in json.loads(_cli(db_path, "--json"))}["gpt-4o"]
    was = {r["model"]: r for r in before_cli}["gpt-4o"]
    assert (gpt["answers"], gpt["tokens_out"]) == (was["answers"] + 1, was["tokens_out"] + 6)
    # Deleting the fork for good takes out only what it generated.
    history.trash(fork)
    history.delete_forever(fork)
    assert json.loads(_cli(db_path, "--json")) == before_cli


def test_an_endpoint_without_usage_is_not_reported_never_zero(
    history, db_path, fake_server, monkeypatch
):
    from assistant.providers import OpenAICompatProvider
    from assistant.transcript import caption
    from assistant.turns import TurnManager

    provider = OpenAICompatProvider("sk-test", fake_server.base_url, max_retries=0)
    turns = TurnManager(history, lambda _snapshot: provider, checkpoint_interval=0.0)
    fake_server.enqueue(Scenario(chunks=["Plenty ", "of ", "words."], send_usage=False))
    try:
        ids = turns.send(None, "Hi", Snapshot("llama.cpp", "fake-model"))
        "".join(turns.follow(ids.assistant_message_id, idle_tick=0.05))
    finally:
        turns.shutdown(wait=2)
    body = fake_server.completions()[-1].body or {}
    assert body["stream_options"] == {"include_usage": True}  # asked, never answered
    answer = history.get_message(ids.assistant_message_id)
    assert answer.status == "complete"
    assert (answer.prompt_tokens, answer.completion_tokens) == (None, None)  # NULL, not 0
    assert "tokens not reported" in caption(answer)
    assert " 0 tokens" not in caption(answer)
    # The sidebar's "This chat" total knows it too: 1 answer, 1 without counts.
    assert Usage(history.db).conversation_cost(answer.conversation_id)[3:] == (1, 1)
    with history.db.connect() as conn:
        day = answer.created_at[:10]
        row = conn.execute(
            "SELECT answers, tokens_out, unreported FROM usage_daily WHERE day = ?"
            " AND model = 'fake-model' AND status = 'complete'",
            (day,),
        ).fetchone()
    assert tuple(row) == (1, 0, 1)
    # The CLI says the totals are at least what it shows, and why.
    text = _cli(db_path, "--since", day)
    assert "≥0" in text and "Tokens not reported for 1 answer" in text
    assert json.loads(_cli(db_path, "--since", day, "--json"))[0]["unreported"] == 1
    # The Usage page: "≥" on the token cards and a sentence saying why.
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("app_pages/usage.py")
    today = __import__("datetime").date.fromisoformat(day)
    at.session_state["usage-range"] = (today, today)
    at.run()
    assert not at.exception
    cards = {m.label: m.value for m in at.metric}
    assert cards["Tokens out"] == "≥ 0" and cards["Answers"] == "1"
    assert any("Tokens not reported for 1 answer" in c.value for c in at.caption)
    # An error or a stopped answer has no counts either: it ended early, and says so.
    assert not any(r["unreported"] for r in Usage(history.db).daily() if r["status"] != "complete")


def test_migration_11_from_version_10_marks_fork_copies_and_unreported_answers(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrations.migrate(conn, target=10) == 10
    rows = []

    def message(cid, seq, role, content, created, parent=None, status="complete", tokens=None,
                parts=None):  # fmt: skip
        prompt, out = tokens or (None, None)
        mid = conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, created_at,"
            " updated_at, parent_id, reply_to, depth, model, provider, prompt_tokens,"
            " completion_tokens, first_token_s, total_s, parts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'gpt-4o', 'OpenAI', ?, ?, 0.4, 2.0, ?)"
            " RETURNING id",
            (cid, seq, role, content, status, created, created, parent,
             parent if role == "assistant" else None, seq - 1, prompt, out, parts),
        ).fetchone()[0]  # fmt: skip
        rows.append(mid)
        return mid

    def chat(title, forked_from=None):
        return conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at, uid, forked_from)"
            " VALUES (?, '2026-02-01T09:00:00.000Z', '2026-02-01T09:00:00.000Z', ?, ?)"
            " RETURNING id",
            (title, f"uid-{title}", forked_from),
        ).fetchone()[0]

    tool_parts = '[{"type": "text", "text": "Sure."}]'
    a = chat("Original")
    q1 = message(a, 1, "user", "Hello", "2026-02-01T09:00:00.000Z")
    a1 = message(a, 2, "assistant", "Hi!", "2026-02-01T09:00:01.000Z", q1, tokens=(10, 3))
    q2 = message(a, 3, "user", "More?", "2026-02-01T09:01:00.000Z", a1)
    a2 = message(a, 4, "assistant", "Sure.", "2026-02-01T09:01:01.000Z", q2, parts=tool_parts)
    q3 = message(a, 5, "user", "And?", "2026-02-01T09:02:00.000Z", a2)
    message(a, 6, "assistant", "", "2026-02-01T09:02:01.000Z", q3, status="error")
    b = chat("Original (fork)", forked_from=a2)  # copies made by the fork of version 10
    c1 = message(b, 1, "user", "Hello", "2026-02-01T09:00:00.000Z")
    c2 = message(b, 2, "assistant", "Hi!", "2026-02-01T09:00:01.000Z", c1, tokens=(10, 3))
    c3 = message(b, 3, "user", "More?", "2026-02-01T09:01:00.000Z", c2)
    c4 = message(b, 4, "assistant", "Sure.", "2026-02-01T09:01:01.000Z", c3, parts=tool_parts)
    c5 = message(b, 5, "user", "New", "2026-02-02T10:00:00.000Z", c4)
    own = message(b, 6, "assistant", "Hi!", "2026-02-02T10:00:01.000Z", c5, tokens=(30, 3))
    d = chat("Unrelated")  # the same words at another time: not a copy
    d1 = message(d, 1, "user", "Hello", "2026-02-03T09:00:00.000Z")
    same = message(d, 2, "assistant", "Hi!", "2026-02-03T09:00:01.000Z", d1, tokens=(10, 3))
    with_triggers = conn.execute("SELECT SUM(answers), SUM(tokens_in) FROM usage_daily").fetchone()
    assert with_triggers == (7, 60)  # version 10 counted the fork's copies again
    conn.close()

    store = Store(Database(db_path))  # migrates to the latest
    copied = {m: store.get_message(m).copied_from for m in (a1, a2, c2, c4, own, same)}
    assert copied == {a1: None, a2: None, c2: a1, c4: a2, own: None, same: None}
    rows_now = rollup(store)  # equals the answers, copies left out
    assert sum(r[6] for r in rows_now) == 5 and sum(r[7] for r in rows_now) == 50
    with store.db.connect() as conn2:
        unreported = conn2.execute("SELECT SUM(unreported) FROM usage_daily").fetchone()[0]
    assert unreported == 1  # "Sure." had output and no counts; the empty error is not counted
    assert store.get_message(a2).tokens_unreported
