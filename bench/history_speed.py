"""History at scale: 10,000 conversations / about 1,000,000 messages in one SQLite file.

Builds the database once through the app's own schema and triggers (so the FTS index is made
the way the app makes it), keeps it under bench/out/, and reports median and p95 latencies for:
full-text search (several kinds of query), the conversations table, the chat sidebar, and
opening a 1,000-message conversation. For comparison it also times a `LIKE '%word%'` scan,
which is how apps without a full-text index search. Numbers, not pass/fail.

    python bench/history_speed.py [--conversations 10000] [--messages-per 100] [--rebuild]

Goals from issue #3: search <= 50 ms median, sidebar <= 20 ms, open <= 0.5 s. From issue #10:
the Conversations table at 10,000 conversations <= 100 ms, and opening the 1,000-message chat
in Chromium (`streamlit run` on this database, headless Debian Chromium) <= 1.1x opening a
10-message one (`--no-browser` skips that part).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant import browse, transcript
from assistant.db import Database
from assistant.store import Store

OUT = Path(__file__).resolve().parent / "out"
SEED = 20261124
LONG_CONVERSATION_MESSAGES = 1_000
CHINESE_WORDS = [
    "我们", "今天", "学习", "中文", "数据库", "搜索", "模型", "问题", "答案", "时间",
    "北京", "上海", "天气", "电脑", "程序", "文件", "朋友", "工作", "音乐", "历史",
]  # fmt: skip
PLANTED = "zanzibar"  # in about 1 message out of 20,000: a rare word


def vocabulary(rng: random.Random, size: int = 8_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(size * 2)}
    common = ["the", "and", "model", "python", "sqlite", "streaming", "answer", "question"]
    return common + sorted(words)[:size]


def sentence(rng: random.Random, words: list[str], weights: list[float], count: int) -> str:
    if rng.random() < 0.08:
        return "".join(rng.choices(CHINESE_WORDS, k=max(4, count // 3))) + "。"
    text = " ".join(rng.choices(words, weights=weights, k=count))
    if rng.random() < 1 / 20_000:
        text += f" {PLANTED}"
    return text.capitalize() + "."


def build(path: Path, conversations: int, messages_per: int) -> None:
    rng = random.Random(SEED)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf-like word frequencies
    db = Database(path)
    started = time.perf_counter()
    total = 0
    batch = 200
    for first in range(1, conversations + 1, batch):
        with db.transaction() as conn:
            for conversation_id in range(first, min(first + batch, conversations + 1)):
                count = LONG_CONVERSATION_MESSAGES if conversation_id == 1 else messages_per
                day = f"2026-{1 + conversation_id % 12:02d}-{1 + conversation_id % 28:02d}"
                stamp = f"{day}T{conversation_id % 24:02d}:00:00.000Z"
                title = sentence(rng, words, weights, 5)[:48]
                conn.execute(
                    "INSERT INTO conversations (id, title, created_at, updated_at, uid, pinned)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (conversation_id, title, stamp, stamp, f"bench-{conversation_id}",
                     int(conversation_id % 500 == 0)),
                )  # fmt: skip
                rows = []
                for seq in range(1, count + 1):
                    is_user = seq % 2 == 1
                    message_id = total + seq
                    text = sentence(rng, words, weights, 14 if is_user else 45)
                    rows.append(
                        (message_id, conversation_id, seq, "user" if is_user else "assistant",
                         text, "complete", None if is_user else message_id - 1,
                         None if is_user else "openai",
                         None if is_user else rng.choice(["gpt-4o", "gpt-4o-mini", "llama3"]),
                         None if is_user else 40, None if is_user else 120, stamp, stamp,
                         message_id - 1 if seq > 1 else None, seq - 1)
                    )  # fmt: skip
                conn.executemany(
                    "INSERT INTO messages (id, conversation_id, seq, role, content, status,"
                    " reply_to, provider, model, prompt_tokens, completion_tokens, created_at,"
                    " updated_at, parent_id, depth)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.execute(
                    "UPDATE conversations SET active_leaf = ? WHERE id = ?",
                    (total + count, conversation_id),
                )
                total += count
        if first % 2_000 == 1:
            print(f"  built {first + batch - 1:>6} conversations, {total:>9,} messages", end="\r")
    with db.connect() as conn:
        conn.execute("PRAGMA optimize")
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
        conn.execute("INSERT INTO titles_fts (titles_fts) VALUES ('optimize')")
    print(f"  built {conversations:,} conversations / {total:,} messages "
          f"in {time.perf_counter() - started:.0f} s{' ' * 10}")  # fmt: skip


def timed(action: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """(median ms, p95 ms, last result) over `runs` runs after one warm-up."""
    result = action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, result


def like_scan(store: Store, word: str) -> int:
    with store.db.connect() as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM (SELECT id FROM messages WHERE content LIKE ? LIMIT 20)",
            (f"%{word}%",),
        ).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages-per", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium part")
    parser.add_argument("--browser-rounds", type=int, default=10)
    args = parser.parse_args()

    OUT.mkdir(exist_ok=True)
    path = OUT / f"history-{args.conversations}x{args.messages_per}.db"
    if args.rebuild:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    if not path.exists():
        print(f"Building {path} (once; later runs reuse it)…")
        build(path, args.conversations, args.messages_per)
    store = Store(Database(path))
    with store.db.connect() as conn:
        messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        conversations = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    files = [Path(f"{path}{suffix}") for suffix in ("", "-wal")]
    size_mb = sum(file.stat().st_size for file in files if file.exists())
    print(f"\n{conversations:,} conversations, {messages:,} messages, {size_mb / 1e6:.0f} MB\n")

    print(f"{'search (20 best + titles + snippets)':<44}{'hits':>6}{'median':>10}{'p95':>10}")
    queries = [
        ("rare word", PLANTED),
        ("medium word", "sqlite"),
        ("very common word", "the"),
        ("two words", "python streaming"),
        ("exact phrase", '"the model"'),
        ("prefix as typed", "strea"),
        ("Chinese two-character word", "中文"),
        ("Chinese two words", "数据库 搜索"),
        ("no match", "qqqqqq"),
    ]
    medians = []
    for label, query in queries:
        median, p95, hits = timed(lambda q=query: store.search(q, limit=20), args.runs)
        medians.append(median)
        print(f"  {label + ': ' + query:<42}{len(hits):>6}{median:>8.1f}ms{p95:>8.1f}ms")
    print(f"  {'median over the queries':<48}{statistics.median(medians):>8.1f}ms")

    like_median, _, _ = timed(lambda: like_scan(store, PLANTED), 3)
    fts_median, _, _ = timed(lambda: store.search(PLANTED, limit=20), args.runs)
    print(f"\n  LIKE '%{PLANTED}%' scan (no index):{'':<12}{like_median:>8.1f}ms"
          f"   FTS5 {fts_median:.1f} ms: {like_median / fts_median:.0f}x faster")  # fmt: skip

    branched = branched_conversation(store)
    print(f"\n{'other queries':<50}{'median':>10}{'p95':>10}")
    rows = [
        ("chat sidebar (50, pinned first)", lambda: store.list_conversations(limit=50)),
        ("conversations table query (all)", store.summaries),
        ("table unchanged: the page's cache check", store.history_version),
        ("table after a change: query + frame", lambda: browse.summaries_frame(store.summaries())),
        (
            f"the {LONG_CONVERSATION_MESSAGES:,}-message chat: its whole branch",
            lambda: transcript.active_exchanges(store, 1),
        ),
        (
            f"the {LONG_CONVERSATION_MESSAGES:,}-message chat: the shown window",
            lambda: transcript.window(store, 1, transcript.EXCHANGES_SHOWN),
        ),
        (
            f"the same with {BRANCHES} branches: the shown window",
            lambda: transcript.window(store, branched, transcript.EXCHANGES_SHOWN),
        ),
        (
            f"the same with {BRANCHES} branches: every branch (export)",
            lambda: transcript.all_branches(store, branched),
        ),
    ]
    for label, action in rows:
        runs = args.runs if "sidebar" in label else max(5, args.runs // 3)
        median, p95, _ = timed(action, runs)
        print(f"  {label:<48}{median:>8.1f}ms{p95:>8.1f}ms")
    usage_page_speed(store, path, max(3, args.runs // 10))
    if not args.no_browser:
        open_in_chromium(path, short_conversation(store), branched, rounds=args.browser_rounds)


BRANCHES = 50


def copy_of_long_chat(store: Store, uid: str, title: str, messages: int | None = None):
    """(conversation id, its message ids in order, whether it was made now) of a copy of the
    1,000-message chat (its first `messages`), added once to the built file."""
    with store.db.transaction() as conn:
        row = conn.execute("SELECT id FROM conversations WHERE uid = ?", (uid,)).fetchone()
        if row:
            return row[0], [], False
        stamp = "2026-06-01T12:00:00.000Z"
        conversation_id = conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at, uid) VALUES (?, ?, ?, ?)",
            (title, stamp, stamp, uid),
        ).lastrowid
        source = conn.execute(
            "SELECT role, content, model FROM messages WHERE conversation_id = 1 ORDER BY seq"
            " LIMIT ?",
            (-1 if messages is None else messages,),
        ).fetchall()
        ids: list[int] = []
        for seq, (role, content, model) in enumerate(source, start=1):
            ids.append(insert_message(conn, conversation_id, seq, role, content, model,
                                      ids[-1] if ids else None, seq - 1,
                                      ids[-1] if role == "assistant" else None))  # fmt: skip
        conn.execute(
            "UPDATE conversations SET active_leaf = ? WHERE id = ?", (ids[-1], conversation_id)
        )
    return conversation_id, ids, True


def branched_conversation(store: Store) -> int:
    """The 1,000-message chat again, with 50 edits along it (each an edited question and its
    answer), the original line on screen."""
    conversation_id, ids, new = copy_of_long_chat(
        store, "bench-branched", "A thousand messages, fifty branches"
    )
    if not new:
        return conversation_id
    with store.db.transaction() as conn:
        seq = len(ids)
        step = len(ids) // BRANCHES
        for branch in range(BRANCHES):
            at = branch * step  # a user message (even position) of the line
            parent = ids[at - 1] if at else None
            seq += 1
            text = f"Edited question {branch + 1}"
            question = insert_message(
                conn, conversation_id, seq, "user", text, None, parent, at, None
            )
            seq += 1
            insert_message(conn, conversation_id, seq, "assistant", f"Edited answer {branch + 1}",
                           "gpt-4o", question, at + 1, question)  # fmt: skip
    return conversation_id


def insert_message(conn, conversation_id, seq, role, content, model, parent, depth, reply_to):
    stamp = "2026-06-01T12:00:00.000Z"
    return conn.execute(
        "INSERT INTO messages (conversation_id, seq, role, content, status, reply_to, provider,"
        " model, prompt_tokens, completion_tokens, created_at, updated_at, parent_id, depth)"
        " VALUES (?, ?, ?, ?, 'complete', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (conversation_id, seq, role, content, reply_to,
         None if role == "user" else "openai", model,
         None if role == "user" else 40, None if role == "user" else 120, stamp, stamp,
         parent, depth),
    ).fetchone()[0]  # fmt: skip


def usage_page_speed(store: Store, path: Path, runs: int) -> None:
    """The Usage page's queries at this size, and the whole page in AppTest with cold caches
    (a history change clears them) and warm ones."""
    import os

    from streamlit.testing.v1 import AppTest

    from assistant.usage import Usage

    usage = Usage(store.db)
    with store.db.connect() as conn:
        last = conn.execute("SELECT MAX(day) FROM usage_daily").fetchone()[0]
    start = (date.fromisoformat(last) - timedelta(days=29)).isoformat()
    print(f"\n{'usage page (the last 30 days of the history)':<50}{'median':>10}{'p95':>10}")
    for label, action in (
        ("daily rollup with costs (all days)", usage.daily),
        ("newest 5,000 answers in 30 days", lambda: usage.answers(start, last)),
        ("costliest conversations in 30 days", lambda: usage.conversation_costs(start, last)),
        ("costliest conversations, all time",
         lambda: usage.conversation_costs("2000-01-01", last)),
    ):  # fmt: skip
        median, p95, _ = timed(action, runs)
        print(f"  {label:<48}{median:>8.1f}ms{p95:>8.1f}ms")
    os.environ["SQLITE_DB_PATH"] = str(path)
    app = str(Path(__file__).resolve().parent.parent / "app.py")
    cold, warm = [], []
    for _ in range(runs):
        page = AppTest.from_file(app, default_timeout=120)
        page.switch_page("app_pages/usage.py")
        page.session_state["usage-range"] = (date.fromisoformat(start), date.fromisoformat(last))
        started = time.perf_counter()
        page.run()
        cold.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        page.run()
        warm.append((time.perf_counter() - started) * 1000)
        assert not page.exception, page.exception
        page.session_state["usage-range"]  # keep the page alive until here
        with store.db.transaction() as conn:  # a history change: the next run reads anew
            conn.execute("UPDATE history_version SET version = version + 1")
    print(f"  {'the whole page, first run after a change':<48}{statistics.median(cold):>8.0f}ms")
    print(f"  {'the whole page, again (cached)':<48}{statistics.median(warm):>8.0f}ms")


def short_conversation(store: Store) -> int:
    """A 10-message conversation next to the long one."""
    return copy_of_long_chat(store, "bench-short", "Ten messages", 10)[0]


def open_in_chromium(path: Path, short_id: int, branched_id: int, rounds: int) -> None:
    """Open the long and the short chat in turns; each time, a new tab until the last
    message's text is on screen."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from browser_support import CHROMIUM, CHROMIUM_FLAGS, StreamlitServer
    from playwright.sync_api import sync_playwright

    store = Store(Database(path))
    chats = (1, branched_id, short_id)
    last_words = {
        conversation_id: transcript.active_exchanges(store, conversation_id)[
            -1
        ].answer.content.split(".")[0][:40]
        for conversation_id in chats
    }
    times: dict[int, list[float]] = {chat: [] for chat in chats}
    app = StreamlitServer({"SQLITE_DB_PATH": str(path)}, OUT / "history_speed_app.log")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            for number in range(rounds + 1):  # the first round warms up caches
                order = chats if number % 2 == 0 else tuple(reversed(chats))
                for conversation_id in order:
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(f"{app.url}/?c={conversation_id}")
                    page.get_by_text(last_words[conversation_id]).last.wait_for(timeout=60_000)
                    if number:
                        times[conversation_id].append((time.perf_counter() - started) * 1000)
                    page.close()
            browser.close()
    finally:
        app.stop()
    long_ms, short_ms = statistics.median(times[1]), statistics.median(times[short_id])
    branched_ms = statistics.median(times[branched_id])
    shown = f"the last {transcript.EXCHANGES_SHOWN} exchanges shown"
    print(f"\n{'in Chromium: open a chat until its last message shows':<50}{'median':>10}")
    print(f"  {f'{LONG_CONVERSATION_MESSAGES:,} messages ({shown})':<48}{long_ms:>8.0f}ms")
    print(f"  {f'the same with {BRANCHES} branches':<48}{branched_ms:>8.0f}ms")
    print(f"  {'10 messages':<48}{short_ms:>8.0f}ms")
    print(f"  {'branched / linear':<48}{branched_ms / long_ms:>9.2f}x")
    print(f"  {'ratio (goal <= 1.1x)':<48}{long_ms / short_ms:>9.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
