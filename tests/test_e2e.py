"""End to end: `streamlit run app.py` on a free port, driven by headless Debian Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import seed
from browser_support import (
    ROOT,
    TIMEOUT_MS,
    StreamlitServer,
    answers,
    send,
)
from conftest import wait_until
from fake_openai import Scenario
from playwright.sync_api import Page, expect

from assistant import transcript
from assistant.db import Database
from assistant.presets import PresetStore
from assistant.store import FinalResult, Snapshot, Store

pytestmark = pytest.mark.browser


def held(scenario_chunks: list[str], hold_after: int) -> Scenario:
    return Scenario(chunks=scenario_chunks, hold_after=hold_after)


def test_message_streams_and_is_kept_after_reload(remote_app, remote_server, page):
    app, _db = remote_app
    scenario = held(["Streaming ", "answer ", "arrives ", "in ", "pieces."], hold_after=2)
    remote_server.enqueue(scenario)
    page.goto(app.url)
    send(page, "Hello stream")
    expect(answers(page).nth(1)).to_contain_text("Streaming answer")
    expect(page.get_by_text("pieces.")).to_have_count(0)  # visibly streaming, not all at once
    # The sidebar is drawn after the first words, while the answer still streams.
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name="Hello stream")).to_be_visible()
    expect(page.get_by_text("pieces.")).to_have_count(0)
    scenario.release.set()
    expect(answers(page).nth(1)).to_contain_text("Streaming answer arrives in pieces.")
    expect(page.get_by_text("gpt-3.5-turbo · OpenAI · Helpful assistant")).to_be_visible()
    expect(page.get_by_text("temperature 0.7 · 5 tokens")).to_be_visible()
    assert "?c=" in page.url
    page.reload()
    expect(answers(page).nth(0)).to_contain_text("Hello stream")
    expect(answers(page).nth(1)).to_contain_text("Streaming answer arrives in pieces.")


def test_switching_conversation_mid_stream_does_not_lose_the_answer(
    remote_app, remote_server, page
):
    app, db_path = remote_app
    remote_server.enqueue(Scenario(chunks=["Quick reply."]))
    page.goto(app.url)
    send(page, "First topic")
    expect(page.get_by_text("Quick reply.")).to_be_visible()

    page.get_by_role("button", name="New chat").click()
    expect(page.get_by_text("What can I help with?")).to_be_visible()
    slow = held(["Long ", "answer ", "still ", "coming, ", "done."], hold_after=2)
    remote_server.enqueue(slow)
    send(page, "Second topic")
    expect(answers(page).nth(1)).to_contain_text("Long answer")

    page.get_by_role("button", name="First topic").click()
    expect(page.get_by_text("Quick reply.")).to_be_visible()
    expect(page.get_by_text("Long answer")).to_have_count(0)
    slow.release.set()
    store = Store(Database(db_path))
    wait_until(
        lambda: any(
            m.content == "Long answer still coming, done." and m.status == "complete"
            for c in store.list_conversations()
            for m in store.messages(c.id)
        )
    )
    page.get_by_role("button", name="Second topic").click()
    expect(answers(page).nth(1)).to_contain_text("Long answer still coming, done.")


def stopped_answers(db_path: Path) -> list[str]:
    store = Store(Database(db_path))
    return [
        m.content
        for c in store.list_conversations()
        for m in store.messages(c.id)
        if m.role == "assistant" and m.status == "stopped"
    ]


def click_stop(page: Page) -> None:
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()


def test_stop_keeps_the_partial_answer(remote_app, remote_server, page):
    app, db_path = remote_app
    slow = held(["Partial ", "words ", "then ", "more."], hold_after=2)
    remote_server.enqueue(slow)
    page.goto(app.url)
    send(page, "Please stop me")
    expect(answers(page).nth(1)).to_contain_text("Partial words")
    click_stop(page)
    expect(page.get_by_text("· stopped")).to_be_visible()
    slow.release.set()
    assert "Partial words " in stopped_answers(db_path)
    page.reload()
    expect(answers(page).nth(1)).to_contain_text("Partial words")
    expect(page.get_by_text("then more.")).to_have_count(0)


def test_reload_mid_stream_keeps_streaming_and_stop_button_works(remote_app, remote_server, page):
    app, db_path = remote_app
    slow = held(["Still ", "going ", "after ", "reload."], hold_after=2)
    remote_server.enqueue(slow)
    page.goto(app.url)
    send(page, "Reload me")
    expect(answers(page).nth(1)).to_contain_text("Still going")
    page.reload()
    expect(answers(page).nth(1)).to_contain_text("Still going")
    click_stop(page)
    expect(page.get_by_text("· stopped")).to_be_visible()
    slow.release.set()
    expect(answers(page).nth(1)).to_contain_text("Still going")
    assert "Still going " in stopped_answers(db_path)


@pytest.mark.model
def test_embedded_model_answers_hello_with_no_key_and_no_network(browser, tmp_path):
    app = StreamlitServer({"SQLITE_DB_PATH": str(tmp_path / "app.db")}, tmp_path / "log.txt")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(app.url)
        # The first page of a start loads the model: seconds on a quiet machine, far more on a
        # busy one.
        expect(page.get_by_text("small offline demo model")).to_be_visible(timeout=120_000)
        send(page, "Hello")
        caption = answers(page).nth(1).get_by_text("SmolLM2-135M-Instruct")
        expect(caption).to_contain_text("Embedded model · Helpful assistant")
        assert answers(page).nth(1).inner_text().strip()
        context.close()
    finally:
        app.stop()


# -- history ----------------------------------------------------------------------------------


def test_search_a_word_open_the_hit_and_land_on_that_message(remote_app, page):
    app, db_path = remote_app
    store = Store(Database(db_path))
    target = None
    conversation_id = None
    for number in range(40):  # long enough that the hit is far above the latest messages
        text = f"Question {number} about the weather"
        if number == 3:
            text = "Where is Zanzibar, and what is its spice history?"
        ids = seed.turn(store, conversation_id, text, Snapshot("openai", "gpt-3.5-turbo"))
        seed.finish(store, ids.assistant_message_id, FinalResult("complete", f"Answer {number}."))
        conversation_id = ids.conversation_id
        target = ids.user_message_id if number == 3 else target
    page.goto(f"{app.url}/conversations")
    box = page.get_by_placeholder('Words, "an exact phrase", or 中文')
    box.fill("zanzibar spice")
    box.press("Enter")
    hit = page.get_by_role("button", name="Question 0 about the weather")
    expect(hit).to_have_count(1)
    expect(page.locator("mark", has_text="Zanzibar")).to_be_visible()
    hit.click()
    expect(page).to_have_url(re.compile(rf"/(chat)?\?c={conversation_id}&m={target}$"))
    message = page.get_by_text("Where is Zanzibar, and what is its spice history?")
    expect(message).to_be_in_viewport()
    expect(page.locator(f".st-key-jump-{target}")).to_be_visible()  # the hit is framed
    expect(page.get_by_text("Answer 39.")).not_to_be_in_viewport()


def test_import_a_chatgpt_export_and_download_it_as_html(remote_app, page, tmp_path):
    app, _db = remote_app
    page.goto(f"{app.url}/conversations")
    page.get_by_role("tab", name="Import & export").click()
    page.locator("input[type=file]").set_input_files(
        str(ROOT / "tests" / "fixtures" / "chatgpt_conversations.json")
    )
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported 2 conversations with 7 messages.")).to_be_visible()
    page.get_by_role("tab", name="All").click()
    page.get_by_placeholder('Words, "an exact phrase", or 中文').fill("sourdough")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sourdough starter help").first).to_be_visible()
    page.get_by_role("tab", name="Import & export").click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="All as JSON Lines").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".jsonl")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert "Sourdough starter help" in saved.read_text(encoding="utf-8")


# -- settings ---------------------------------------------------------------------------------


def test_switching_a_chats_preset_changes_the_next_requests_system_prompt(
    remote_app, remote_server, page
):
    app, db_path = remote_app
    page.goto(app.url)
    send(page, "Tell me about tea")
    expect(answers(page).nth(1)).to_contain_text("Hello from the fake.")
    presets = PresetStore(Database(db_path)).list()  # seeded when the app first opened
    concise = next(p for p in presets if p.name == "Concise answers")
    first = remote_server.completions()[-1].body
    assert first["messages"][0]["content"].startswith("You are a helpful")

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Model and prompt for this chat").click()
    picker = sidebar.get_by_label("System prompt")
    expect(picker).to_have_count(1)  # the new chat's picker is gone once the rerun settles
    picker.click()  # Streamlit's select opens its list
    page.get_by_role("option", name="Concise answers").click()
    expect(sidebar.get_by_text("Prompt: Concise answers")).to_be_visible()

    send(page, "And about coffee?")
    expect(answers(page).nth(3)).to_contain_text("Hello from the fake.")
    latest = remote_server.completions()[-1].body
    assert latest["messages"][0] == {"role": "system", "content": concise.text}
    assert [m["content"] for m in latest["messages"][1:]] == [
        "Tell me about tea",
        "Hello from the fake.",
        "And about coffee?",
    ]
    expect(answers(page).nth(3)).to_contain_text("Concise answers")
    expect(answers(page).nth(1)).to_contain_text("Helpful assistant")  # the first keeps its own


def test_a_refused_endpoint_keeps_its_tab_form_and_text_and_never_shows_a_pasted_key(
    remote_app, page
):
    app, _ = remote_app
    page.goto(f"{app.url}/settings")
    page.get_by_role("tab", name="Endpoints").click()
    page.get_by_text("Add an OpenAI-compatible endpoint").click()
    form = page.get_by_test_id("stForm").filter(has_text="Add endpoint")
    form.get_by_placeholder("e.g. Ollama on this PC").fill("My server")
    form.get_by_placeholder("http://localhost:11434/v1").fill("localhost:11434")
    form.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_test_id("stAlert").first).to_contain_text("must start with http://")
    # The message did not move the tabs: the same tab and the open form, text kept.
    expect(form.get_by_placeholder("e.g. Ollama on this PC")).to_have_value("My server")
    form.get_by_placeholder("http://localhost:11434/v1").fill("http://localhost:11434/v1")
    form.get_by_text("Environment variable").click()
    form.get_by_placeholder("e.g. OLLAMA_API_KEY or ollama.api_key").fill("sk-pasted-by-mistake")
    form.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_test_id("stAlert").first).to_contain_text("not the key itself")
    expect(page.get_by_test_id("stMain").get_by_text("sk-pasted-by-mistake")).to_have_count(0)


def test_a_long_chat_opens_at_its_end_and_shows_earlier_messages_on_request(remote_app, page):
    app, db_path = remote_app
    store = Store(Database(db_path))
    snapshot = Snapshot("openai", "gpt-long", system_prompt="Reply *briefly*. <b>No HTML</b>")
    conversation_id = None
    for number in range(25):
        ids = seed.finished_turn(
            store, conversation_id, f"Question {number:02d}",
            FinalResult("complete", f"Answer {number:02d}"), snapshot,
        )  # fmt: skip
        conversation_id = ids.conversation_id
    page.goto(f"{app.url}/?c={conversation_id}")
    expect(answers(page).last).to_contain_text("Answer 24")
    expect(answers(page)).to_have_count(20)  # the last 10 exchanges
    expect(page.get_by_text("Question 14")).to_have_count(0)
    page.get_by_role("button", name="Show earlier messages (15 more)").click()
    expect(answers(page)).to_have_count(50)
    expect(answers(page).first).to_contain_text("Question 00")
    # What an answer was made with is in its caption's tooltip, the prompt as plain text.
    answers(page).last.get_by_test_id("stCaptionContainer").get_by_test_id(
        "stTooltipHoverTarget"
    ).hover()
    tooltip = page.get_by_test_id("stTooltipContent")
    expect(tooltip).to_contain_text("Model: gpt-long")
    expect(tooltip).to_contain_text("Reply *briefly*. <b>No HTML</b>")


def test_edit_switch_reload_and_fork_keep_every_branch(remote_app, remote_server, page, tmp_path):
    app, db_path = remote_app
    page.goto(app.url)
    for n in (1, 2, 3):
        remote_server.enqueue(Scenario(chunks=[f"Answer {n} ", "of the line."]))
        send(page, f"Question {n}")
        expect(page.get_by_text(f"Answer {n} of the line.")).to_be_visible()
    store = Store(Database(db_path))
    conversation = int(re.search(r"c=(\d+)", page.url).group(1))
    line = transcript.active_exchanges(store, conversation)
    first, middle = line[0].question.id, line[1].answer.id
    # Edit the first message in place; Save & send streams a new branch.
    page.locator(f".st-key-edit-{first} button").first.click()
    box = page.locator(f".st-key-edit-text-{first} textarea")
    expect(box).to_have_value("Question 1")
    box.fill("Question 1, edited")
    slow = held(["Edited ", "answer ", "done."], hold_after=1)
    remote_server.enqueue(slow)
    page.get_by_role("button", name="Save & send").click()
    expect(answers(page).nth(1)).to_contain_text("Edited")
    expect(page.get_by_text("answer done.")).to_have_count(0)  # still streaming
    slow.release.set()
    expect(answers(page).nth(1)).to_contain_text("Edited answer done.")
    expect(answers(page)).to_have_count(2)
    expect(answers(page).nth(0)).to_contain_text("2 / 2")
    page.screenshot(path=str(tmp_path / "edited.png"))
    # ‹ on the edited message: the original branch, intact down to its last answer.
    edited = store.get_conversation(conversation).active_leaf
    edited_question = store.get_message(edited).parent_id
    page.locator(f".st-key-prev-{edited_question} button").first.click()
    expect(answers(page)).to_have_count(6)
    expect(page.get_by_text("Answer 3 of the line.")).to_be_visible()
    expect(answers(page).nth(0)).to_contain_text("1 / 2")
    page.reload()
    expect(answers(page)).to_have_count(6)  # the branch on screen is kept
    expect(page.get_by_text("Answer 3 of the line.")).to_be_visible()
    # New chat from the middle answer: the path up to it, with a way back.
    page.locator(f".st-key-fork-{middle} button").first.click()
    expect(page.get_by_text("Started from")).to_be_visible()
    expect(answers(page)).to_have_count(4)
    expect(page.get_by_text("Answer 2 of the line.")).to_be_visible()
    assert int(re.search(r"c=(\d+)", page.url).group(1)) != conversation
    page.screenshot(path=str(tmp_path / "forked.png"))
    page.get_by_role("button", name="Question 1 (fork)").first.wait_for()  # in Recent
    page.locator(".st-key-forked-from button").first.click()
    expect(answers(page)).to_have_count(6)


def test_reasoning_streams_in_a_collapsed_box_above_the_answer(remote_app, remote_server, page):
    app, _db = remote_app
    thinking = Scenario(chunks=["Forty-two."], reasoning=["Weighing ", "the options."])
    thinking.hold_after = 0  # the thoughts are sent, the answer waits
    remote_server.enqueue(thinking)
    page.goto(app.url)
    send(page, "The answer?")
    box = answers(page).nth(1).get_by_test_id("stExpander")
    expect(box).to_contain_text("Thinking…")
    expect(page.get_by_text("Forty-two.")).to_have_count(0)
    thinking.release.set()
    expect(answers(page).nth(1)).to_contain_text("Forty-two.")
    expect(box).to_contain_text("Thought for")
    box.get_by_text("Thought for").click()
    expect(box).to_contain_text("Weighing the options.")
