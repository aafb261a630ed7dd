"""A demo in Chromium: switch to 简体中文 and dark in Settings, send a starter prompt, watch the
chat get its title, copy the answer (read back from the clipboard), and look at both themes.

Screenshots go to $E2E_SCREENSHOTS when it is set (else the test's temporary folder);
they never go into the repository."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_support import TIMEOUT_MS, StreamlitServer, answers, remote_env
from fake_openai import Scenario
from playwright.sync_api import Page, expect

from assistant.db import Database
from assistant.store import Store

pytestmark = pytest.mark.browser

APP_DARK = "rgb(15, 20, 32)"  # [theme.dark] backgroundColor
APP_LIGHT = "rgb(255, 255, 255)"
FACT_PROMPT = "中国的首都是哪里？请用一句话回答。"  # the Chinese catalog's "A quick fact"
ANSWER = "北京是中国的首都。\n\n```python\nprint('北京')\n```"


@pytest.fixture
def app(fake_server, tmp_path) -> Iterator[tuple[StreamlitServer, Path]]:
    db_path = tmp_path / "app.db"
    running = StreamlitServer(
        remote_env(fake_server, db_path), tmp_path / "streamlit.log", auto_titles=True
    )
    yield running, db_path
    running.stop()


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def background(page: Page) -> str:
    return page.get_by_test_id("stApp").evaluate("e => getComputedStyle(e).backgroundColor")


def caption_contrast(page: Page) -> float:
    """The first caption's text against the page, as the browser draws them (alpha blended)."""
    return page.evaluate(
        """() => {
        const parse = (c) => c.match(/[\\d.]+/g).map(Number);
        const caption = document.querySelector('[data-testid="stCaptionContainer"]');
        const app = document.querySelector('[data-testid="stApp"]');
        const [r, g, b, a = 1] = parse(getComputedStyle(caption).color);
        const back = parse(getComputedStyle(app).backgroundColor);
        const opacity = parseFloat(getComputedStyle(caption).opacity || "1") * a;
        const mixed = [r, g, b].map((v, i) => v * opacity + back[i] * (1 - opacity));
        const lum = (rgb) => {
            const [x, y, z] = rgb.map((v) => {
                v /= 255;
                return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            });
            return 0.2126 * x + 0.7152 * y + 0.0722 * z;
        };
        const [hi, lo] = [lum(mixed), lum(back)].sort((p, q) => q - p);
        return (hi + 0.05) / (lo + 0.05);
    }"""
    )


def pick_theme(page: Page, label: str) -> None:
    page.get_by_role("tab", name=re.compile("Language & look|语言与外观")).click()
    page.get_by_role("radio", name=label, exact=True).click()


def test_a_chinese_dark_demo_sends_a_starter_and_copies_the_answer(
    app, fake_server, browser, tmp_path
):
    server = fake_server
    running, db_path = app
    folder = shots(tmp_path)
    context = browser.new_context(
        viewport={"width": 1200, "height": 900},
        locale="en-US",
        color_scheme="light",
        permissions=["clipboard-read", "clipboard-write"],
    )
    origin = urlsplit(running.url).netloc
    outside: list[str] = []

    def audit(request) -> None:
        if urlsplit(request.url).netloc != origin:
            outside.append(request.url)

    context.on("request", audit)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        # English first (the browser says en-US), light as the system says.
        page.goto(f"{running.url}/settings")
        expect(page.get_by_role("heading", name="Settings")).to_be_visible()
        assert background(page) == APP_LIGHT
        page.get_by_role("tab", name="Language & look").click()
        page.get_by_role("combobox", name="Language").click()
        page.get_by_role("option", name="简体中文").click()
        expect(page.get_by_role("heading", name="设置")).to_be_visible()
        expect(page.get_by_role("tab", name="预设")).to_be_visible()

        pick_theme(page, "深色")  # switched at the click, stored, and no reload
        expect(page.get_by_role("heading", name="设置")).to_be_visible()
        page.wait_for_function(
            f"() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]'))"
            f".backgroundColor === '{APP_DARK}'"
        )
        # Dark came at the click; the choice's version is stored once the page is drawn with it.
        page.wait_for_function("() => localStorage.getItem('assistant-theme-version') === '1'")

        # The first screen in Chinese: the model in a sentence, four starters.
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="聊天").click()
        expect(page.get_by_role("heading", name="有什么可以帮你？")).to_be_visible()
        expect(page.get_by_text(re.compile(r"回答来自 .*gpt-3\.5-turbo"))).to_be_visible()
        for label in ("打个招呼", "一个小知识", "三个小建议", "一首短诗"):
            expect(page.get_by_role("button", name=label)).to_be_visible()
        assert background(page) == APP_DARK
        assert caption_contrast(page) >= 4.5

        server.enqueue(Scenario(chunks=[ANSWER]), Scenario(chunks=["中国首都"]))
        page.get_by_role("button", name="一个小知识").click()
        bubble = answers(page).nth(1)
        expect(bubble).to_contain_text("北京是中国的首都。")
        sent = server.completions()[0].body
        assert sent["messages"][-1] == {"role": "user", "content": FACT_PROMPT}
        # The chat's own model named it, in Chinese; the sidebar shows it without a click.
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_role("button", name="中国首都")).to_be_visible()
        assert Store(Database(db_path)).list_conversations()[0].title == "中国首都"

        copy = bubble.locator("button[title='复制']")
        expect(copy).to_have_count(1)
        copy.click()
        expect(bubble.get_by_text("已复制")).to_be_visible()
        assert page.evaluate("() => navigator.clipboard.readText()") == ANSWER
        # The question has its own, and code blocks have Streamlit's.
        answers(page).nth(0).locator("button[title='复制']").click()
        assert page.evaluate("() => navigator.clipboard.readText()") == FACT_PROMPT
        expect(bubble.get_by_test_id("stCode")).to_have_count(1)
        page.screenshot(path=str(folder / "chat-zh-dark.png"), full_page=True)

        page.get_by_test_id("stSidebarNav").get_by_role("link", name="设置").click()
        pick_theme(page, "浅色")
        page.wait_for_function(
            f"() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]'))"
            f".backgroundColor === '{APP_LIGHT}'"
        )
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="聊天").click()
        expect(page.get_by_role("heading", name="有什么可以帮你？")).to_be_visible()
        assert caption_contrast(page) >= 4.5
        sidebar.get_by_role("button", name="中国首都").click()
        expect(answers(page).nth(1)).to_contain_text("北京是中国的首都。")
        page.screenshot(path=str(folder / "chat-zh-light.png"), full_page=True)
        assert outside == [], f"requests outside the app: {outside}"
    finally:
        context.close()
