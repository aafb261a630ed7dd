"""Browser end-to-end support: `streamlit run app.py` on a free port and headless Debian
Chromium through Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until, without_auto_titles
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000
# Playwright's `expect` waits 5 s by default: a first page of a new browser, or any page on a
# 2-core machine busy with other work, can take longer. A check that passes returns at once.
EXPECT_TIMEOUT_MS = 20_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remote_env(server, db_path: Path) -> dict[str, str]:
    """The app pointed at a fake OpenAI-compatible server, its history in `db_path`."""
    return {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-e2e-test-key",
        "OPENAI_MAX_RETRIES": "0",
        "SQLITE_DB_PATH": str(db_path),
    }


class StreamlitServer:
    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        script: str = "app.py",
        auto_titles: bool = False,
        address: str = "127.0.0.1",
    ) -> None:
        if not auto_titles and env.get("SQLITE_DB_PATH"):
            # A title request after each first answer would take the fake server's scripted
            # replies and rename the chats the tests click on; the title tests turn it on.
            without_auto_titles(Path(env["SQLITE_DB_PATH"]))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ASSISTANT_"))}
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                script,
                "--server.port",
                str(self.port),
                "--server.address",
                address,
                "--server.headless",
                "true",
            ],
            cwd=ROOT,
            env={**clean, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._healthy, timeout=60, interval=0.2)

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("streamlit exited; see its log")
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """`kill -9`: no exit hook runs, nothing is written."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def interrupt(self) -> None:
        """Ctrl+C in the terminal that runs it."""
        self.process.send_signal(signal.SIGINT)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():  # pragma: no cover - .ci/run installs it
        pytest.skip("Debian chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def send(page: Page, text: str) -> None:
    box = page.get_by_placeholder("Message the assistant")
    box.fill(text)
    box.press("Enter")


def answers(page: Page):
    return page.get_by_test_id("stChatMessage")


def english_words(text: str, names: set[str]) -> set[str]:
    """Words in Latin letters left in a page's text that are not names or data: `names`
    (compared as written and in lower case), abbreviations in capitals, variables with an
    underscore, and what sits in paths, URLs, code spans and hyphenated model names."""
    text = re.sub(r"`[^`]*`", " ", text)  # commands and file names in code spans
    text = re.sub(r"\S*[/\\]\S*", " ", text)  # paths and URLs
    text = re.sub(r"[\w.]+-[\w.-]+", " ", text)  # model names (gpt-4o-mini, SmolLM2-135M)
    words = set()
    for word in re.findall(r"[A-Za-z][A-Za-z_']{2,}", text):
        if "_" in word or word.isupper():
            continue  # a variable's name (OPENAI_API_KEY) or an abbreviation
        if word not in names and word.lower() not in names:
            words.add(word)
    return words
