"""Faults, measured: the answer's life under kill -9, racing first starts and many tabs.

Not part of the test suite: it prints a table, nothing passes or fails.

1. kill -9 rounds. A real `streamlit run` streams an answer from the fake OpenAI-compatible
   server (chunks every 20 ms); at a random moment of the stream the server is killed with
   SIGKILL and started again on the same database. Counted per round: the user's message is
   there; how much of the text the killed server had received is missing (its last checkpoint
   is at most ~0.5 s old); the answer is not left `streaming`; `PRAGMA integrity_check`; and
   Retry in the browser completes a new version.
2. Racing first starts. N processes open one new database at the same instant (migrations and
   seeding), several times.
3. Tabs at once. N browser tabs each send one message to the same server; each tab's time from
   Enter to the last word on screen, divided by one tab alone (same run, same server).

    python bench/faults.py [--rounds 20] [--racers 20] [--tabs 10 30]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, CHROMIUM_FLAGS, StreamlitServer  # noqa: E402
from fake_openai import FakeOpenAIServer, Scenario  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

CHUNK_S = 0.02
CHUNKS = 300
RACER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from assistant.db import Database
from assistant.presets import PresetStore
from assistant.profiles import ProfileStore
print("ready", flush=True)
while not Path(sys.argv[3]).exists():
    pass
db = Database(sys.argv[1])
PresetStore(db).ensure_seeded("")
ProfileStore(db).ensure_seeded()
"""


def app_env(server: FakeOpenAIServer, db_path: Path) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_MAX_RETRIES": "0",
        "SQLITE_DB_PATH": str(db_path),
    }


def words(count: int) -> list[str]:
    return [f"w{index:03d} " for index in range(count)]


def send(page: Page, text: str) -> None:
    box = page.get_by_placeholder("Message the assistant")
    box.fill(text)
    box.press("Enter")


def rows(db_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchall()


# -- 1. kill -9 ------------------------------------------------------------------------------


def kill_rounds(browser, server: FakeOpenAIServer, rounds: int, folder: Path) -> dict:
    rng = random.Random(9)
    lost_messages = left_streaming = retried = 0
    lost_chars: list[int] = []
    integrity = "ok"
    for number in range(rounds):
        db_path = folder / f"kill-{number}.db"
        chunks = words(CHUNKS)
        server.clear()
        server.enqueue(Scenario(chunks=chunks, chunk_delay=CHUNK_S))
        app = StreamlitServer(app_env(server, db_path), folder / f"kill-{number}.log")
        page = browser.new_page()
        page.goto(app.url)
        question = f"Round {number}: count for me"
        send(page, question)
        expect(page.get_by_text("w000")).to_be_visible(timeout=30_000)
        time.sleep(rng.uniform(0.1, CHUNKS * CHUNK_S * 0.8))  # a random point of the stream
        seen = page.get_by_test_id("stChatMessage").nth(1).inner_text()
        received = sum(1 for chunk in chunks if chunk.strip() in seen)
        app.kill()
        server.enqueue(Scenario(chunks=["Retried ", "answer."]))
        again = StreamlitServer(app_env(server, db_path), folder / f"kill-{number}-again.log")
        try:
            page.goto(f"{again.url}/?c=1")
            bubble = page.get_by_test_id("stChatMessage").nth(1)
            expect(bubble.get_by_role("button", name="Retry")).to_be_visible(timeout=30_000)
            users = rows(db_path, "SELECT content FROM messages WHERE role = 'user'")
            lost_messages += 0 if (question,) in users else 1
            (status, content), *_ = rows(
                db_path, "SELECT status, content FROM messages WHERE role = 'assistant'"
            )
            left_streaming += status in ("pending", "streaming")
            stored = sum(1 for chunk in chunks[:received] if chunk in content)
            lost_chars.append(max(0, received - stored) * len(chunks[0]))
            check = rows(db_path, "PRAGMA integrity_check")[0][0]
            integrity = integrity if check == "ok" else check
            bubble.get_by_role("button", name="Retry").click()
            expect(page.get_by_text("Retried answer.")).to_be_visible(timeout=30_000)
            retried += 1
        except AssertionError as exc:
            print(f"  round {number}: {str(exc).splitlines()[0]}")
        finally:
            page.close()
            again.stop()
    return {
        "rounds": rounds,
        "user messages lost": lost_messages,
        "partial text lost (chars, median / max)": (
            f"{statistics.median(lost_chars):.0f} / {max(lost_chars)}" if lost_chars else "-"
        ),
        "answers left streaming": left_streaming,
        "integrity": integrity,
        "Retry success": f"{retried} / {rounds}",
    }


# -- 2. racing first starts ------------------------------------------------------------------


def racing_starts(racers: int, trials: int, folder: Path) -> dict:
    failures = 0
    for trial in range(trials):
        db_path, go = folder / f"race-{trial}.db", folder / f"go-{trial}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(db_path), str(ROOT), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(racers)
        ]
        for proc in procs:
            assert proc.stdout is not None
            proc.stdout.readline()
        go.touch()
        failures += sum(1 for proc in procs if proc.communicate()[1] or proc.returncode)
    return {"racing first starts": f"{racers} × {trials}", "failed starts": failures}


# -- 3. tabs at once -------------------------------------------------------------------------


def tab_times(browser, server: FakeOpenAIServer, tabs: int, folder: Path) -> list[float]:
    db_path = folder / f"tabs-{tabs}-{time.monotonic_ns()}.db"
    app = StreamlitServer(app_env(server, db_path), folder / f"tabs-{tabs}.log")
    pages = []
    try:
        for _ in range(tabs):
            context = browser.new_context()
            page = context.new_page()
            page.goto(app.url)
            expect(page.get_by_placeholder("Message the assistant")).to_be_visible()
            pages.append(page)
        server.clear()
        for _ in range(tabs):
            server.enqueue(Scenario(chunks=words(CHUNKS), chunk_delay=CHUNK_S))
        started = []
        for index, page in enumerate(pages):
            started.append(time.monotonic())
            send(page, f"Tab {index}")
        times = []
        for page, start in zip(pages, started, strict=True):
            expect(page.get_by_text(f"w{CHUNKS - 1:03d}")).to_be_visible(timeout=600_000)
            times.append(time.monotonic() - start)
        return times
    finally:
        for page in pages:
            page.context.close()
        app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--racers", type=int, default=20)
    parser.add_argument("--race-trials", type=int, default=5)
    parser.add_argument("--tabs", type=int, nargs="*", default=[10, 30])
    args = parser.parse_args()
    server = FakeOpenAIServer().start()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        print(f"kill -9 rounds ({args.rounds})…", flush=True)
        results.update(kill_rounds(browser, server, args.rounds, folder))
        print("racing first starts…", flush=True)
        results.update(racing_starts(args.racers, args.race_trials, folder))
        alone = statistics.median([tab_times(browser, server, 1, folder)[0] for _ in range(2)])
        results["one tab alone (s)"] = f"{alone:.2f}"
        for tabs in args.tabs:
            print(f"{tabs} tabs at once…", flush=True)
            ratios = [t / alone for t in tab_times(browser, server, tabs, folder)]
            results[f"{tabs} tabs: time ÷ alone (median / max)"] = (
                f"{statistics.median(ratios):.2f}× / {max(ratios):.2f}×"
            )
        browser.close()
    server.stop()
    width = max(len(name) for name in results)
    print()
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
