"""Streaming, measured side by side: our app against Streamlit's tutorial chat app.

Not part of the test suite: it prints one table, nothing passes or fails. Both apps run under
`streamlit run` at once (ours: `app.py`; theirs: `bench/tutorial_chat.py`, the tutorial's
app), talk to the same local OpenAI-compatible server with a fixed clock (chunks × pace), and
are driven in one headless Chromium, in interleaved rounds (the order flips every round).

Times are taken where they happen: the browser stamps the Enter key and the moment a marker
word is in the last chat bubble (a MutationObserver, wall clock); the fake server stamps the
moment it sent the last chunk. CPU seconds come from /proc: the app's `streamlit` process,
and every Chromium process. Websocket bytes and frames are what the browser received.

Cases:
- first word, new chat / follow-up: a 20-chunk answer sent at once; Enter → first word shown.
- CPU per turn: the server's CPU for those two turns, from Enter until it is idle again.
- end lag: 100 chunks at 20 ms; the last chunk sent → the last word shown.
- 8,000 chunks at 0 ms: Enter → the last word shown, and the websocket traffic of that turn;
  next to it the physical floor: the `openai` SDK alone reading the same stream.
- N chats at once: N tabs send together (300 chunks at 20 ms); each tab's Enter → last word,
  divided by the median of one tab alone, and how many did not finish.

    python bench/stream.py [--rounds 5] [--tabs 10 50] [--quick]

`--quick` is 2 rounds and 10 tabs (about 2 minutes); the default takes about 7 on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, CHROMIUM_FLAGS, StreamlitServer  # noqa: E402
from fake_openai import FakeOpenAIServer, Scenario  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

PLACEHOLDER = "Message the assistant"  # both apps' chat input
PACE_S = 0.02
TICK_S = 1 / os.sysconf("SC_CLK_TCK")
TIMEOUT_MS = 300_000

# Stamps the Enter key and, for each watched marker, when the last chat bubble first holds it.
OBSERVER = """
(() => {
  const bench = (window.__bench = { enter: null, seen: {}, watching: [] });
  const now = () => performance.timeOrigin + performance.now();
  document.addEventListener("keydown", (e) => { if (e.key === "Enter") bench.enter = now(); },
                            true);
  new MutationObserver(() => {
    if (!bench.watching.length) return;
    const bubbles = document.querySelectorAll('[data-testid="stChatMessage"]');
    const last = bubbles.length ? bubbles[bubbles.length - 1].textContent : "";
    const at = now();
    bench.watching = bench.watching.filter((marker) => {
      if (!last.includes(marker)) return true;
      bench.seen[marker] = at;
      return false;
    });
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""


# -- processes and their CPU ------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime + stime


def browser_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip().startswith(("chromium", "chrome")):
                total += process_cpu(int(entry.name))
        except OSError:
            continue  # it ended while we looked
    return total


def settle(read: Callable[[], float], quiet_s: float = 0.25, limit_s: float = 3.0) -> float:
    """The CPU counter once it has stopped moving (the work of the last turn is done)."""
    value, since, deadline = read(), time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return value


@dataclass
class App:
    name: str
    server: StreamlitServer

    def cpu(self) -> float:
        return process_cpu(self.server.process.pid)

    def settled_cpu(self) -> float:
        return settle(self.cpu)


@dataclass
class Results:
    """Samples per (case, app), plus notes printed under the table."""

    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def add(self, case: str, app: str, value: float) -> None:
        self.samples.setdefault((case, app), []).append(value)

    def get(self, case: str, app: str) -> list[float]:
        return self.samples.get((case, app), [])


# -- driving a page ---------------------------------------------------------------------------


class Tab:
    """One browser context on one app, with the observer and a websocket byte counter."""

    def __init__(self, browser: Browser, app: App) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.context.add_init_script(OBSERVER)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.bytes = self.frames = 0
        self.page.on("websocket", self._count)
        self.page.goto(app.server.url)
        self.page.get_by_placeholder(PLACEHOLDER).wait_for()

    def _count(self, socket) -> None:
        def received(payload: str | bytes) -> None:
            self.bytes += len(payload)
            self.frames += 1

        socket.on("framereceived", received)

    def send(self, text: str, *markers: str) -> None:
        self.page.evaluate("(m) => { window.__bench.watching.push(...m); }", list(markers))
        box = self.page.get_by_placeholder(PLACEHOLDER)
        box.fill(text)
        box.press("Enter")

    def seen(self, marker: str) -> float:
        """Milliseconds from Enter to `marker` shown (waits for it)."""
        self.page.wait_for_function(
            "(m) => window.__bench.seen[m] !== undefined", arg=marker, polling=20
        )
        return self.page.evaluate("(m) => window.__bench.seen[m] - window.__bench.enter", marker)

    def seen_at(self, marker: str) -> float:
        """The wall-clock time (s) at which `marker` was shown (waits for it)."""
        self.seen(marker)
        return self.page.evaluate("(m) => window.__bench.seen[m]", marker) / 1000

    def close(self) -> None:
        self.context.close()


def answer(first: str, last: str, count: int) -> list[str]:
    return [f"{first} "] + [f"w{index} " for index in range(1, count - 1)] + [last]


# -- the cases --------------------------------------------------------------------------------


def first_words(browser: Browser, app: App, fake: FakeOpenAIServer, key: str, out: Results):
    """A new chat and a follow-up, instant provider; then the end lag at a 20 ms pace."""
    tab = Tab(browser, app)
    try:
        for case in ("first word, new chat (ms)", "first word, follow-up (ms)"):
            first, last = f"F{key}{len(out.get(case, app.name))}x", f"E{key}x"
            fake.enqueue(Scenario(chunks=answer(first, last, 20)))
            cpu = app.settled_cpu()
            tab.send(f"Question {key}", first, last)
            out.add(case, app.name, tab.seen(first))
            tab.seen(last)
            out.add("server CPU per turn (ms)", app.name, (app.settled_cpu() - cpu) * 1000)
            key += "f"
        scenario = Scenario(chunks=answer(f"S{key}x", f"L{key}x", 100), chunk_delay=PACE_S)
        fake.enqueue(scenario)
        tab.send(f"Question {key} at a steady pace", f"L{key}x")
        shown = tab.seen_at(f"L{key}x")
        assert scenario.last_text_wall is not None
        out.add("end lag, 20 ms pace (ms)", app.name, (shown - scenario.last_text_wall) * 1000)
    finally:
        tab.close()


def many_chunks(
    browser: Browser, app: App, fake: FakeOpenAIServer, key: str, out: Results, chunks: int
) -> None:
    tab = Tab(browser, app)
    try:
        fake.enqueue(Scenario(chunks=answer(f"M{key}x", f"N{key}x", chunks)))
        app.settled_cpu()
        browser_before = browser_cpu()
        tab.bytes = tab.frames = 0
        tab.send(f"Question {key}, long", f"N{key}x")
        out.add(fast_case(chunks), app.name, tab.seen(f"N{key}x"))
        app.settled_cpu()
        out.add("  websocket KB received", app.name, tab.bytes / 1000)
        out.add("  websocket frames received", app.name, tab.frames)
        out.add("  browser CPU (s)", app.name, max(0.0, browser_cpu() - browser_before))
    finally:
        tab.close()


FLOOR = """
import sys, time
from openai import OpenAI
client = OpenAI(base_url=sys.argv[1], api_key="sk-bench", max_retries=0)
started = time.perf_counter()
for _ in client.chat.completions.create(
    model="gpt-3.5-turbo", messages=[{"role": "user", "content": "x"}], stream=True
):
    pass
print((time.perf_counter() - started) * 1000)
"""


def sdk_floor(fake: FakeOpenAIServer, chunks: int, out: Results) -> None:
    """The `openai` SDK alone reading the same stream, in its own process like the apps:
    nothing can show the answer faster."""
    fake.enqueue(Scenario(chunks=answer("floor", "end", chunks)))
    reader = subprocess.run(
        [sys.executable, "-c", FLOOR, fake.base_url], capture_output=True, text=True, check=True
    )
    out.add(fast_case(chunks), "SDK alone", float(reader.stdout))


def fast_case(chunks: int) -> str:
    return f"{chunks:,} chunks at 0 ms: Enter → done (ms)"


def at_once(
    browser: Browser, app: App, fake: FakeOpenAIServer, tabs: int, out: Results, chunks: int
) -> list[float]:
    """`tabs` chats sent together; each one's Enter → last word (ms); failures counted."""
    opened = [Tab(browser, app) for _ in range(tabs)]
    try:
        fake.clear()
        fake.default = Scenario(chunks=answer("A", "Zend", chunks), chunk_delay=PACE_S)
        cpu = app.settled_cpu()
        for index, tab in enumerate(opened):
            tab.send(f"Tab {index}", "Zend")
        times, failed = [], 0
        for tab in opened:
            try:
                times.append(tab.seen("Zend"))
            except Exception:  # a tab that never showed its last word
                failed += 1
        out.add(f"{tabs} at once: server CPU (s)", app.name, app.settled_cpu() - cpu)
        out.add(f"{tabs} at once: not finished", app.name, failed)
        return times
    finally:
        fake.default = Scenario()
        for tab in opened:
            tab.close()


# -- the table --------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    shape = ",.2f" if max(values) < 10 else ",.0f"
    if len(values) == 1:
        return f"{values[0]:{shape}}"
    return " / ".join(f"{v:{shape}}" for v in (min(values), statistics.median(values), max(values)))


def print_table(out: Results, apps: list[str]) -> None:
    cases = list(dict.fromkeys(case for case, _ in out.samples))
    header = ["case (min / median / max)", *apps, "ours ÷ theirs (median)"]
    rows = []
    for case in cases:
        cells = [spread(out.get(case, app)) for app in apps]
        ours, theirs = out.get(case, apps[0]), out.get(case, apps[1])
        ratio = "-"
        if ours and theirs and statistics.median(theirs):
            ratio = f"{statistics.median(ours) / statistics.median(theirs):.2f}×"
        floor = out.get(case, "SDK alone")
        if floor:
            cells[-1] += f"  (SDK alone {statistics.median(floor):,.0f})"
        rows.append([case, *cells, ratio])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tabs", type=int, nargs="*", default=[10, 50])
    parser.add_argument("--chunks", type=int, default=8_000, help="for the fast stream")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 10 tabs")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.tabs = 2, [10]
    started = time.monotonic()
    fake = FakeOpenAIServer().start()
    env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-bench"}
    out = Results()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        ours_env = {**env, "OPENAI_MAX_RETRIES": "0", "SQLITE_DB_PATH": str(folder / "ours.db")}
        apps = [
            App("ours", StreamlitServer(ours_env, folder / "ours.log")),
            App(
                "tutorial", StreamlitServer(env, folder / "tutorial.log", "bench/tutorial_chat.py")
            ),
        ]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for app in apps:  # warm up: imports, caches, the first page load
                first_words(browser, app, fake, "warm", Results())
            for number in range(args.rounds):
                print(f"round {number + 1} of {args.rounds}…", flush=True)
                order = apps if number % 2 == 0 else apps[::-1]
                for app in order:
                    first_words(browser, app, fake, f"r{number}", out)
                for app in order:
                    many_chunks(browser, app, fake, f"r{number}", out, args.chunks)
                sdk_floor(fake, args.chunks, out)
            for tabs in args.tabs:
                print(f"{tabs} chats at once…", flush=True)
                for app in apps:
                    alone = [at_once(browser, app, fake, 1, Results(), 300)[0] for _ in range(2)]
                    base = statistics.median(alone)
                    for time_ms in at_once(browser, app, fake, tabs, out, 300):
                        out.add(f"{tabs} at once: time ÷ one alone", app.name, time_ms / base)
        finally:
            browser.close()
            for app in apps:
                app.server.stop()
            fake.stop()
    print()
    print_table(out, [app.name for app in apps])
    print(f"\n{args.rounds} rounds, {os.cpu_count()} cores, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
