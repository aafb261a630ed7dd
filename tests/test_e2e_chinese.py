"""Every page and Settings tab in Chromium, in Chinese, with real-looking data: no English
words outside names and data (model and endpoint names, numbers, units, brands). And the
Conversations table fits a 1,280 x 800 window.

AppTest (tests/test_i18n.py) reads the element tree; this reads what the browser draws
(the text of the page and of the tables' accessible cells), which also holds what the
pages build from stored data: prices, reasons, endpoint names, branch labels.
Screenshots go to $E2E_SCREENSHOTS when it is set (else the test's temporary folder)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import TIMEOUT_MS, StreamlitServer, english_words, remote_env
from playwright.sync_api import Page, expect
from seed import finish, finished_turn, turn
from test_e2e_look import shots

from assistant.browse import COLUMN_WIDTHS
from assistant.context_gauge import ContextWindows
from assistant.db import Database
from assistant.lifecycle import INTERRUPTED_TEXT, Lifecycle
from assistant.profiles import EMBEDDED_NAME, ProfileStore
from assistant.store import FinalResult, Snapshot, Store
from assistant.usage import Usage

pytestmark = pytest.mark.browser

# Names and data a Chinese page shows as they are: what the seed below typed (model and
# endpoint names), brands and formats, units. Anything else in Latin letters is English left
# over.
NAMES = {
    "gpt", "mini", "SmolLM2", "OpenAI", "MCP", "JSON", "JSONL", "Lines", "Markdown", "HTML",
    "CSV", "GGUF", "URL", "API", "Ollama", "vLLM", "llama", "cpp", "server", "Studio", "LM",
    "ChatGPT", "Claude", "LibreChat", "Open", "WebUI", "Cursor", "Desktop", "VS", "Code",
    "mcpServers", "stdio", "Streamable", "HTTP", "SSE", "Top", "Settings", "ms", "UTC", "US",
    "ChatbotUI", "python", "assistant", "import", "FILE", "toml", "secrets", "streamlit", "SQLite",
    "localhost", "http", "https", "uvx", "npx", "Authorization", "Bearer", "env", "args",
    "command", "url", "key", "value", "name", "conversations", "json", "jsonl", "Instruct",
    "English", "com", "api", "ollama", "openai", "time", "Europe", "Paris",
}  # fmt: skip
SETTINGS_TABS = ("预设", "端点", "新对话", "工具", "价格与上下文", "语言与外观")
WIDTH, HEIGHT = 1280, 800


def seed(db_path: Path, base_url: str) -> dict[str, int]:
    """What a person has after some weeks, in Chinese: answers from an endpoint they named
    and from the embedded model, one that failed (its reason stored by an English page),
    one interrupted by a crash (the reason written in English by recovery), edits and
    regenerated answers, a pinned chat, one in the trash, prices and a context window."""
    store = Store(Database(db_path))
    db = store.db
    profiles = ProfileStore(db)
    mine = profiles.create("我的服务器", base_url, model="gpt-4o-mini")
    embedded = next(p for p in profiles.list() if p.name == EMBEDDED_NAME)
    remote = Snapshot("我的服务器", "gpt-4o-mini", {"temperature": 0.7}, "你是助手。", mine.id)
    local = Snapshot(EMBEDDED_NAME, "SmolLM2-135M", {}, "", embedded.id)
    done = FinalResult("complete", "两万多公里。", "stop", None, 120, 40, 0.4, 1.6)
    ids: dict[str, int] = {}
    ids["remote"] = finished_turn(store, None, "长城有多长？", done, remote).conversation_id
    ids["local"] = finished_turn(store, None, "你好", done, local).conversation_id
    reason = "Could not connect to http://127.0.0.1:9/v1. Is the server running and the URL right?"
    failed = FinalResult("error", "", None, reason)
    ids["failed"] = finished_turn(store, None, "讲个笑话", failed, remote).conversation_id
    cut = turn(store, None, "写一首关于秋天的诗", remote)
    finish(store, cut.assistant_message_id, FinalResult("interrupted", "秋风起，", None,
                                                        INTERRUPTED_TEXT))  # fmt: skip
    ids["interrupted"] = cut.conversation_id
    first = finished_turn(store, None, "去哪里旅行？", done, remote)
    finished_turn(store, first.conversation_id, "然后呢？", done, remote)
    again = Lifecycle(db, store).add_answer(first.user_message_id, remote)
    finish(store, again, done)
    edit = Lifecycle(db, store).edit_turn(first.user_message_id, "去哪里度假？", remote)
    finish(store, edit.assistant_message_id, done)
    ids["branched"] = first.conversation_id
    store.set_pinned(first.conversation_id, True)
    gone = finished_turn(store, None, "旧的对话", done, remote)
    store.trash(gone.conversation_id)
    prices = Usage(db).prices
    prices.add("gpt-4o*", 0.15, 0.6, None, earlier_too=True)
    prices.add("claude-3*", 3.0, 15.0, 0.3)
    ContextWindows(db).set("gpt-4o-mini", 128_000)
    return ids


@pytest.fixture
def app(fake_server, tmp_path) -> Iterator[tuple[StreamlitServer, Path]]:
    db_path = tmp_path / "app.db"
    running = StreamlitServer(remote_env(fake_server, db_path), tmp_path / "streamlit.log")
    yield running, db_path
    running.stop()


@pytest.fixture
def chinese(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def settled(page: Page) -> None:
    """The script has finished its run (no "running" indicator) and the page drew."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
        " && !document.querySelector('[data-stale=\"true\"]')"
    )


# Streamlit's own words (hidden accessibility text, default placeholders, chart
# descriptions): the framework's, in English in every app, not ours to translate.
STREAMLIT_OWN = re.compile(
    r"Skip to main content|Collapse sidebar|Expand sidebar|App pages|Sidebar|Link to heading"
    r"|Choose an option|Choose options|Drag and drop files? here|Browse files|Upload"
    r"|\d+\s*MB per file|Send message|Press Enter to apply|\b[a-z_]+ icon\b"
    r"|\b(?:yyyy|mm|dd)\b|\d+ options? available\."
    r"|^.*(?:Vega visualization|legend titled|scale with).*$",
    re.M,
)


def shown_text(page: Page) -> str:
    """What the page shows: its text as drawn (Material icons are ligatures, "push_pin"
    drawn as a pin: left out), the tables' cells where their accessible table holds them
    (they are drawn on a canvas), the placeholders and the selects' chosen options."""
    text = page.evaluate(
        """() => {
        const hidden = [];
        for (const node of document.querySelectorAll('span, i, div')) {
            if (node.children.length === 0
                && getComputedStyle(node).fontFamily.includes('Material')) {
                hidden.push([node, node.style.display]);
                node.style.display = 'none';
            }
        }
        const parts = [document.body.innerText];
        for (const [node, display] of hidden) node.style.display = display;
        for (const cell of document.querySelectorAll(
            '[data-testid="stDataFrame"] th, [data-testid="stDataFrame"] td')) {
            const said = cell.textContent;
            if (said !== 'true' && said !== 'false') parts.push(said);  // a checkbox cell
        }
        for (const node of document.querySelectorAll('[placeholder]')) {
            parts.push(node.getAttribute('placeholder'));
        }
        for (const input of document.querySelectorAll('input[role="combobox"]')) {
            parts.push(input.value);  // a select's chosen option
        }
        return parts.join('\\n');
    }"""
    )
    return STREAMLIT_OWN.sub(" ", text)


def check(page: Page, where: str, folder: Path, seen: dict[str, set[str]]) -> str:
    settled(page)
    page.screenshot(path=str(folder / f"zh-{where}.png"), full_page=True)
    text = shown_text(page)
    (folder / f"zh-{where}.txt").write_text(text, encoding="utf-8")
    assert re.search(r"[\u4e00-\u9fff]", text), where
    seen[where] = english_words(text, NAMES)
    return text


def test_every_page_and_settings_tab_in_chinese_shows_no_english(
    app, chinese, fake_server, tmp_path
):
    running, db_path = app
    page = chinese
    folder = shots(tmp_path)
    page.goto(running.url)  # the first page makes the database (shipped presets in Chinese)
    expect(page.get_by_role("heading", name="有什么可以帮你？")).to_be_visible()
    ids = seed(db_path, fake_server.base_url)
    seen: dict[str, set[str]] = {}

    page.goto(running.url)
    expect(page.get_by_role("heading", name="有什么可以帮你？")).to_be_visible()
    check(page, "chat-new", folder, seen)
    for name, conversation_id in ids.items():
        page.goto(f"{running.url}/?c={conversation_id}")
        expect(page.get_by_test_id("stChatMessage").first).to_be_visible()
        text = check(page, f"chat-{name}", folder, seen)
        if name == "local":
            assert "内置模型" in text and "Embedded" not in text
        if name == "failed":
            assert "无法连接到" in text  # stored in English by another page
        if name == "interrupted":
            assert "应用在生成这个回答时停止了" in text  # written in English by recovery
        if name == "branched":
            assert "2 / 2" in text or "2/2" in text  # the edit on screen

    page.goto(f"{running.url}/conversations")
    expect(page.get_by_role("heading", name="对话")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    check(page, "conversations", folder, seen)
    for tab in ("回收站", "导入与导出"):
        page.get_by_role("tab", name=tab).click()
        check(page, f"conversations-{tab}", folder, seen)

    page.goto(f"{running.url}/usage")
    expect(page.get_by_role("heading", name="用量")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    text = check(page, "usage", folder, seen)
    assert "Could not connect" not in text  # the stored reason (AppTest reads its table)

    page.goto(f"{running.url}/settings")
    expect(page.get_by_role("heading", name="设置")).to_be_visible()
    for tab in SETTINGS_TABS:
        page.get_by_role("tab", name=tab).click()
        if tab == "端点":
            panel = page.locator('[role="tabpanel"]:visible')
            for summary in panel.locator('[data-testid="stExpander"] summary').all():
                summary.click()  # every endpoint's details
        text = check(page, f"settings-{tab}", folder, seen)
        if tab == "价格与上下文":
            # The table is drawn on a canvas (its screenshot shows it; AppTest reads its
            # cells); the picker is text.
            assert "0001-01-01" not in text and "None" not in text
            picker = page.get_by_role("combobox", name="要删除的价格")
            picker.click()
            expect(page.get_by_role("option", name="gpt-4o*（始终）")).to_be_visible()
            page.keyboard.press("Escape")
        if tab == "端点":
            assert "内置模型" in text and "我的服务器" in text

    left = {where: words for where, words in seen.items() if words}
    assert not left, f"English on Chinese pages: {left}; screenshots in {folder}"


@pytest.mark.parametrize(("locale", "heading"), [("zh-CN", "对话"), ("en-US", "Conversations")])
def test_the_conversations_table_fits_a_1280_px_window(
    app, browser, fake_server, tmp_path, locale, heading
):
    """At 1,280 x 800 the table's last two columns were cut off (it scrolled sideways)."""
    running, db_path = app
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(running.url)
        expect(page.get_by_test_id("stChatInput")).to_be_visible()
        seed(db_path, fake_server.base_url)
        page.goto(f"{running.url}/conversations")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        table = page.get_by_test_id("stDataFrame").first
        expect(table).to_be_visible()
        settled(page)
        page.screenshot(path=str(shots(tmp_path) / f"conversations-1280-{locale}.png"))
        box = table.bounding_box()
        assert box is not None and box["x"] + box["width"] <= WIDTH
        # The headers are drawn on a canvas: every column is inside the table when there is
        # nothing to scroll to sideways (the screenshot shows them).
        scroll, shown = table.locator(".dvn-scroller").evaluate(
            "e => [e.scrollWidth, e.clientWidth]"
        )
        assert scroll <= shown, (scroll, shown)
        # Nine columns, each at least as wide as the page asked: none was squeezed to fit.
        assert shown >= sum(COLUMN_WIDTHS.values()), (shown, COLUMN_WIDTHS)
    finally:
        context.close()
