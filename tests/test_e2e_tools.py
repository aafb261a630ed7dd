"""End to end with tools: `streamlit run`, headless Chromium, the fake OpenAI server calling
`get_current_time`, and the real `mcp-server-time` over stdio."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from browser_support import StreamlitServer, answers, send
from fake_openai import FakeOpenAIServer, Scenario
from playwright.sync_api import Page, expect
from tool_helpers import TIME_SERVER

from assistant import export
from assistant.db import Database
from assistant.store import Store
from assistant.tool_servers import ToolServerStore
from assistant.toolbox import ASK, Toolbox

pytestmark = pytest.mark.browser


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    yield fake
    fake.stop()


def test_a_tool_call_is_approved_in_the_page_and_kept_in_the_history(server, page: Page, tmp_path):
    db_path = tmp_path / "app.db"
    store = Store(Database(db_path))
    servers = ToolServerStore(store.db)
    servers.save(TIME_SERVER)
    Toolbox(store.db, servers, hub=None).set_default({"time/get_current_time": ASK})  # type: ignore[arg-type]
    arguments = json.dumps({"timezone": "Asia/Tokyo"})
    server.enqueue(
        Scenario(chunks=["Let me look at a clock."], tool_calls=[
            {"id": "call_tokyo", "name": "time__get_current_time", "arguments": arguments}]),
        Scenario(chunks=["In Tokyo it is ", "a fine hour."]),
    )  # fmt: skip
    app = StreamlitServer(
        {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-e2e-test-key",
            "OPENAI_MAX_RETRIES": "0",
            "SQLITE_DB_PATH": str(db_path),
        },
        tmp_path / "streamlit.log",
    )
    try:
        page.goto(app.url)
        send(page, "What time is it in Tokyo?")
        box = page.locator("[class*='st-key-approval-']")
        expect(box).to_contain_text("time/get_current_time", timeout=30_000)
        expect(box).to_contain_text("Asia/Tokyo")
        page.screenshot(path=str(tmp_path / "asking.png"))
        page.reload()  # the question waits in the database, not in the page
        expect(box).to_contain_text("Asia/Tokyo", timeout=15_000)
        box.get_by_role("button", name="Approve").click()
        expect(answers(page).nth(1)).to_contain_text("In Tokyo it is a fine hour.", timeout=30_000)
        step = answers(page).nth(1).get_by_test_id("stExpander")
        expect(step.first).to_contain_text("time/get_current_time")
        expect(page.get_by_text("1 tool call")).to_be_visible()
        page.reload()
        expect(answers(page).nth(1)).to_contain_text("In Tokyo it is a fine hour.")
        step = answers(page).nth(1).get_by_test_id("stExpander").first
        step.get_by_text("time/get_current_time").click()
        expect(step).to_contain_text('"timezone": "Asia/Tokyo"')
        page.screenshot(path=str(tmp_path / "step.png"))
    finally:
        app.stop()
    conversation = int(re.search(r"c=(\d+)", page.url).group(1))
    markdown = export.render(store, "md", conversation)
    assert "*Tool call: time/get\\_current\\_time*" in markdown
    assert "*Tool result: time/get\\_current\\_time, " in markdown
    assert '> {"timezone": "Asia/Tokyo"}' in markdown  # the arguments, in a code block
    assert '"datetime": "' in markdown and "In Tokyo it is a fine hour." in markdown
