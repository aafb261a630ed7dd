"""Memory of the server around a large import through the Conversations page.

Not part of the test suite: it prints numbers, nothing passes or fails.

A real `streamlit run` on an empty database; headless Chromium opens Conversations › Import &
export and uploads a generated ChatGPT-style `conversations.json` of the size asked for
(Playwright `set_input_files`), then clicks Import. The server's resident memory (VmRSS of its
process, from /proc) is read before the upload, after the upload, when the page says what the
import did, and once it has settled; VmHWM is the peak.

    python bench/import_memory.py [--mb 195 90]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, CHROMIUM_FLAGS, StreamlitServer  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

WORDS = "the quick brown fox jumps over a lazy dog while sourdough rises slowly in warm kitchens"


def chatgpt_file(path: Path, megabytes: float) -> int:
    """A ChatGPT export of about `megabytes` MB: conversations of 20 messages; returns how many."""
    target = int(megabytes * 1_000_000)
    written = 0
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        while written < target:
            mapping = {}
            parent = None
            for index in range(20):
                node = f"c{count}-n{index}"
                role = "user" if index % 2 == 0 else "assistant"
                text = f"{count} {index} " + (WORDS + " ") * (3 if role == "user" else 12)
                mapping[node] = {
                    "id": node,
                    "parent": parent,
                    "children": [f"c{count}-n{index + 1}"] if index < 19 else [],
                    "message": {
                        "id": node,
                        "author": {"role": role},
                        "create_time": 1_700_000_000 + count * 100 + index,
                        "content": {"content_type": "text", "parts": [text]},
                        "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                    },
                }
                parent = node
            item = {
                "title": f"Conversation {count}",
                "create_time": 1_700_000_000 + count * 100,
                "update_time": 1_700_000_000 + count * 100 + 19,
                "conversation_id": f"bench-{count}",
                "current_node": parent,
                "mapping": mapping,
            }
            chunk = ("," if count else "") + json.dumps(item)
            out.write(chunk)
            written += len(chunk)
            count += 1
        out.write("]")
    return count


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def settled_rss(pid: int, quiet_s: float = 3.0, limit_s: float = 60.0) -> float:
    """RSS once it has stopped moving by more than 1 MB for `quiet_s` seconds."""
    started = time.monotonic()
    last, since = rss_mb(pid), time.monotonic()
    while time.monotonic() - started < limit_s:
        time.sleep(0.5)
        now = rss_mb(pid)
        if abs(now - last) > 1:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return rss_mb(pid)


def measure(browser, folder: Path, megabytes: float) -> None:
    file = folder / f"conversations-{megabytes:g}MB.json"
    count = chatgpt_file(file, megabytes)
    size = file.stat().st_size / 1_000_000
    app = StreamlitServer({"SQLITE_DB_PATH": str(folder / f"app-{megabytes:g}.db")},
                          folder / f"streamlit-{megabytes:g}.log")  # fmt: skip
    pid = app.process.pid
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(900_000)
    try:
        page.goto(f"{app.url}/conversations")
        page.get_by_role("tab", name="Import & export").click()
        expect(page.get_by_text("File to import")).to_be_visible()
        before = settled_rss(pid)
        started = time.monotonic()
        page.locator("input[type=file]").set_input_files(str(file))
        refused = page.get_by_text("File must be")
        button = page.get_by_role("button", name="Import", exact=True)
        expect(button.or_(refused)).to_be_visible(timeout=300_000)
        if refused.is_visible():
            after = settled_rss(pid)
            print(f"{size:7.1f} MB ({count} conversations): refused by the browser:")
            print(f"   {refused.inner_text()!r}; RSS {before:.0f} -> {after:.0f} MB")
            return
        uploaded = settled_rss(pid)
        upload_s = time.monotonic() - started
        button.click()
        said = page.get_by_test_id("stAlertContentSuccess").or_(
            page.get_by_test_id("stAlertContentError")
        )
        expect(said).to_be_visible(timeout=900_000)
        import_s = time.monotonic() - started - upload_s
        done = rss_mb(pid)
        settled = settled_rss(pid)
        peak = rss_mb(pid, "VmHWM")
        print(f"{size:7.1f} MB ({count} conversations): {said.inner_text()[:90]!r}")
        print(
            f"   RSS before {before:.0f} MB · after upload {uploaded:.0f}"
            f" (+{uploaded - before:.0f}) · at the sentence {done:.0f} · settled {settled:.0f}"
            f" (+{settled - before:.0f}) · peak {peak:.0f} MB · upload {upload_s:.1f} s,"
            f" import {import_s:.1f} s"
        )
        page.reload()
        page.get_by_role("tab", name="Import & export").click()
        expect(page.get_by_text("File to import")).to_be_visible()
        print(f"   after a reload of the page: {settled_rss(pid):.0f} MB")
    finally:
        context.close()
        app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[195.0, 90.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for megabytes in args.mb:
                measure(browser, Path(tmp), megabytes)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
