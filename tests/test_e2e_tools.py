"""End to end with tools: `streamlit run`, headless Chromium, the fake OpenAI server calling
`get_current_time`, and the real `mcp-server-time` over stdio (or the test server's tools);
tool servers that end with the app however it ends, and an answer interrupted (not completed)
by SIGTERM during a tool call."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import StreamlitServer, answers, remote_env, send
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario
from npm_servers import npm_server
from playwright.sync_api import Page, expect
from tool_helpers import TIME_SERVER, live_server, marked_processes, new_marker, stuck_server

from assistant import export
from assistant.db import Database
from assistant.parts import TOOL_CALL, TOOL_RESULT
from assistant.store import Message, Store
from assistant.tool_servers import STDIO, ServerDraft, ToolServerStore
from assistant.toolbox import ALLOW, ASK, Toolbox

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
    app = StreamlitServer(remote_env(server, db_path), tmp_path / "streamlit.log")
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


def last_answer(store: Store) -> Message | None:
    conversations = store.list_conversations()
    if not conversations:
        return None
    answers = [m for m in store.messages(conversations[0].id) if m.role == "assistant"]
    return answers[-1] if answers else None


def steps_of(answer: Message) -> list[tuple[str, str]]:
    return [(part.kind, part.data.get("name", "")) for part in answer.parts]


def test_sigterm_during_a_tool_call_interrupts_the_answer_and_sends_nothing_more(
    server, page: Page, tmp_path
):
    """Before (3 of 3): the tool servers closed first (atexit runs hooks last-in first-out),
    the cut call returned, the worker sent the endpoint a new request during shutdown and the
    answer was saved `complete`. Now answers are interrupted first, then the servers close."""
    db_path = tmp_path / "app.db"
    store = Store(Database(db_path))
    servers = ToolServerStore(store.db)
    script = str(Path(__file__).resolve().parent / "mcp_test_server.py")
    servers.save(ServerDraft("tests", STDIO, command=sys.executable, args=(script, "--stdio")))
    Toolbox(store.db, servers, hub=None).set_default({"tests/add": ALLOW, "tests/slow": ALLOW})  # type: ignore[arg-type]
    server.enqueue(
        Scenario(chunks=["Adding first."], tool_calls=[
            {"id": "call_add", "name": "tests__add", "arguments": '{"a": 2, "b": 3}'}]),
        Scenario(chunks=["Now the slow one."], tool_calls=[
            {"id": "call_slow", "name": "tests__slow", "arguments": '{"seconds": 120}'}]),
        Scenario(chunks=["Written after the signal."]),
    )  # fmt: skip
    app = StreamlitServer(remote_env(server, db_path), tmp_path / "streamlit.log")
    try:
        page.goto(app.url)
        send(page, "Add, then wait")

        def slow_call_stored() -> bool:  # checkpointed while the step runs
            answer = last_answer(store)
            return answer is not None and (TOOL_CALL, "slow") in steps_of(answer)

        wait_until(slow_call_stored, timeout=60, interval=0.1)
        requests_before = len(server.completions())
        assert requests_before == 2
        signalled = time.monotonic()
        app.process.send_signal(signal.SIGTERM)
        app.process.wait(timeout=30)
        exit_s = time.monotonic() - signalled
    finally:
        app.stop()
    assert len(server.completions()) == requests_before  # nothing sent after the signal
    answer = last_answer(store)
    assert answer is not None and answer.status == "interrupted"
    assert "Adding first." in answer.content and "Now the slow one." in answer.content
    assert (TOOL_RESULT, "add") in steps_of(answer) and (TOOL_CALL, "slow") in steps_of(answer)
    assert next(p.text for p in answer.parts if p.kind == TOOL_RESULT) == "5"
    assert exit_s < 20, f"the app took {exit_s:.1f} s to exit"


def test_the_usage_page_filters_charts_and_opens_a_conversation(page: Page, tmp_path):
    from datetime import date, timedelta

    from test_usage import answer_on

    from assistant.usage import Usage

    db_path = tmp_path / "app.db"
    store = Store(Database(db_path))
    today = date.today()
    answer_on(store, (today - timedelta(days=1)).isoformat(), "gpt-4o", (4_000, 2_000))
    answer_on(store, today.isoformat(), "llama-local", (500, 700))
    answer_on(
        store, today.isoformat(), "gpt-4o", (None, None), status="error", error="Rate limited."
    )
    Usage(store.db).prices.add("gpt-4o", 2.5, 10, earlier_too=True)
    app = StreamlitServer({"SQLITE_DB_PATH": str(db_path)}, tmp_path / "streamlit.log")
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(app.url) else None)
    try:
        page.goto(f"{app.url}/usage")
        answers_card = page.get_by_test_id("stMetric").filter(has_text="Answers")
        expect(answers_card).to_contain_text("3")
        expect(page.get_by_test_id("stMetric").filter(has_text="Tokens in")).to_contain_text(
            "4,500"
        )
        expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
        expect(page.get_by_text("Most common errors")).to_be_visible()
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "usage.png"), full_page=True)
        model = page.get_by_test_id("stMultiSelect").filter(has_text="Model")
        model.locator("input").fill("llama-local")
        model.locator("input").press("Enter")
        expect(answers_card).to_contain_text("1")
        expect(page.get_by_test_id("stMetric").filter(has_text="Tokens in")).to_contain_text("500")
        page.keyboard.press("Escape")
        page.get_by_role("button", name=re.compile("question about llama-local")).click()
        expect(page).to_have_url(re.compile(r"\?c=2"))
        expect(answers(page).nth(0)).to_contain_text("question about llama-local")
    finally:
        app.stop()
    assert [url for url in outside if not url.startswith("data:")] == []  # charts are local


@pytest.mark.parametrize("ending", ["kill -9", "SIGTERM"])
def test_tool_servers_and_their_children_end_with_the_app(server, page: Page, tmp_path, ending):
    """A server that answers and one stuck starting (with a child, as `npx` has `node`).
    Before: after kill -9 the stuck server and its child lived on (the one that answered
    ended 1-3 s later, when it read the end of its stdin); after SIGTERM too."""
    marker = new_marker()
    db_path = tmp_path / "app.db"
    servers = ToolServerStore(Database(db_path))
    servers.save(live_server(marker))
    servers.save(stuck_server(marker))
    app = StreamlitServer(remote_env(server, db_path), tmp_path / "streamlit.log")
    try:
        page.goto(app.url)
        panel = page.get_by_test_id("stSidebar").get_by_text("Tools for this chat")
        panel.click()
        expect(page.get_by_text("Starting… its tools appear here").first).to_be_visible()
        if ending == "kill -9":  # the quick server is up and answering, the other still starts
            expect(page.get_by_test_id("stSidebar").get_by_text("add", exact=True)).to_be_visible()
        # Two guards, two servers and the stuck one's child.
        wait_until(lambda: len(marked_processes(marker)) == 5, timeout=30)
        ended = time.monotonic()
        if ending == "kill -9":
            app.kill()
        else:
            app.stop()  # SIGTERM; its exit hooks run
        wait_until(lambda: not marked_processes(marker), timeout=10)
        print(f"{ending}: the tool servers ended {time.monotonic() - ended:.2f} s later")
    finally:
        if app.process.poll() is None:
            app.kill()


def test_a_tool_image_is_drawn_by_the_app_and_stop_marks_the_running_call(
    server, page: Page, tmp_path
):
    """server-everything's `get-tiny-image`, then a slow call stopped from the page. Before:
    the image was 20,000 characters of base64 in the step and in the request, and the stopped
    call showed "running…" for ever."""
    everything = npm_server("mcp-server-everything")
    db_path = tmp_path / "app.db"
    store = Store(Database(db_path))
    servers = ToolServerStore(store.db)
    script = str(Path(__file__).resolve().parent / "mcp_test_server.py")
    servers.save(ServerDraft("every", STDIO, command=everything[0], args=(everything[1], "stdio")))
    servers.save(ServerDraft("tests", STDIO, command=sys.executable, args=(script, "--stdio")))
    Toolbox(store.db, servers, hub=None).set_default(  # type: ignore[arg-type]
        {"every/get-tiny-image": ALLOW, "tests/slow": ALLOW}
    )
    server.enqueue(
        Scenario(chunks=["Here is the logo."], tool_calls=[
            {"id": "call_image", "name": "every__get-tiny-image", "arguments": "{}"}]),
        Scenario(chunks=["Now a long wait."], tool_calls=[
            {"id": "call_slow", "name": "tests__slow", "arguments": '{"seconds": 120}'}]),
        Scenario(chunks=["Never written."]),
    )  # fmt: skip
    app = StreamlitServer(remote_env(server, db_path), tmp_path / "streamlit.log")
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(app.url) else None)
    try:
        page.goto(app.url)
        send(page, "Show the logo, then wait")
        answer = answers(page).nth(1)
        expect(answer.get_by_text("tests/slow · running…")).to_be_visible(timeout=60_000)
        page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
        expect(answer.get_by_text(re.compile(r"tests/slow · [\d.]+ s · stopped"))).to_be_visible(
            timeout=30_000
        )
        expect(answer.get_by_text("running…")).to_have_count(0)
        expect(answer.get_by_role("button", name="Stop")).to_have_count(0, timeout=15_000)
        expect(answer.get_by_text(re.compile(r"2 tool calls · stopped"))).to_be_visible()
        answer.get_by_text("every/get-tiny-image").click()
        image = answer.get_by_test_id("stImage").locator("img")
        expect(image).to_be_visible()
        source = image.get_attribute("src") or ""
        assert "/media/" in source and not source.startswith("data:")
        assert image.evaluate("img => img.naturalWidth") > 0  # the app served real bytes
        page.screenshot(path=str(tmp_path / "image-step.png"))
    finally:
        app.stop()
    assert [url for url in outside if not url.startswith("data:")] == []
    assert len(server.completions()) == 2  # nothing sent after Stop
    told = [m for m in server.completions()[1].body["messages"] if m["role"] == "tool"]
    assert told[0]["content"].endswith("shown to the user]") and len(told[0]["content"]) < 300
    stored = last_answer(store)
    assert stored is not None and stored.status == "stopped"
    assert stored.content == "Here is the logo.\n\nNow a long wait."
