"""In Chromium: every button on the chat and Conversations pages has a name a screen reader can
say, and a conversation is renamed and deleted from the sidebar's menu."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import seed
from browser_support import ROOT, answers, send
from conftest import wait_until
from fake_openai import Scenario
from playwright.sync_api import Page, expect

from assistant.db import Database
from assistant.store import FinalResult, Snapshot, Store

pytestmark = pytest.mark.browser

# The icons the app draws (`:material/name:`): a button named after one (the icon's ligature
# text read out) has no name a person can use.
ICON_NAMES = {
    name
    for path in [ROOT / "app.py", *(ROOT / "app_pages").glob("*.py"), ROOT / "assistant/ui.py"]
    for name in re.findall(r":material/(\w+):", path.read_text())
}


def button_names(page: Page) -> list[str]:
    """Every button's accessible name as Chromium computes it ("" for none), from the page's
    accessibility tree."""
    tree = page.locator("body").aria_snapshot()
    names = []
    for line in tree.splitlines():
        found = re.match(r'\s*- button(?: "((?:[^"\\]|\\.)*)")?', line)
        if found:
            names.append(found.group(1) or "")
    return names


def unusable(names: list[str]) -> list[str]:
    return [
        name
        for name in names
        if not name.strip()
        or name.endswith(" icon")
        or re.fullmatch(r"[a-z0-9_]+", name)  # a ligature's text, ours or Streamlit's
        or name.split()[0] in ICON_NAMES  # the icon's text read out before the words
    ]


def seeded_chat(db_path: Path) -> int:
    """A chat with a regenerated answer: ‹ ›, edit and fork buttons."""
    store = Store(Database(db_path))
    snapshot = Snapshot("openai", "gpt-3.5-turbo", {}, "")
    one = FinalResult("complete", "One.")
    first = seed.finished_turn(store, None, "Question one", one, snapshot)
    conversation_id = first.conversation_id
    store.rename(conversation_id, "Named buttons")
    second = seed.finished_turn(
        store, conversation_id, "Question two", FinalResult("complete", "Two."), snapshot
    )
    again = seed.answer(store, second.user_message_id, snapshot)
    seed.finish(store, again, FinalResult("complete", "Two, again."))
    return conversation_id


def test_every_button_on_the_chat_and_conversations_pages_has_a_name(remote_app, page):
    app, db_path = remote_app
    conversation_id = seeded_chat(db_path)
    page.goto(f"{app.url}/?c={conversation_id}")
    expect(answers(page).last).to_contain_text("Two, again.")
    expect(page.get_by_role("button", name="Earlier version")).to_be_visible()
    # The sidebar's menu open too: its buttons count.
    page.get_by_role("button", name="Rename or delete").first.click()
    expect(page.get_by_role("button", name="Close", exact=True)).to_be_visible()
    names = button_names(page)
    assert "Edit and resend" in names and "Start a separate chat from here" in names
    assert "Ask the endpoint for its models again" in names
    assert unusable(names) == [], names

    page.goto(f"{app.url}/conversations")
    expect(page.get_by_text(re.compile("select a row to read it"))).to_be_visible()
    names = button_names(page)
    assert unusable(names) == [], names


def test_an_icon_buttons_words_are_for_screen_readers_not_on_screen(remote_app, page):
    app, db_path = remote_app
    conversation_id = seeded_chat(db_path)
    page.goto(f"{app.url}/?c={conversation_id}")
    fork = page.get_by_role("button", name="Start a separate chat from here").first
    expect(fork).to_be_visible()
    box = fork.bounding_box()
    assert box is not None and box["width"] < 60  # the icon alone, no visible words


def test_rename_and_delete_from_the_sidebar_menu(remote_app, page):
    app, db_path = remote_app
    store = Store(Database(db_path))
    snapshot = Snapshot("openai", "gpt-3.5-turbo", {}, "")
    result = FinalResult("complete", "Menu answer.")
    conversation_id = seed.finished_turn(store, None, "Menu question", result, snapshot)
    conversation_id = conversation_id.conversation_id
    page.goto(f"{app.url}/?c={conversation_id}")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name="Menu question", exact=True)).to_be_visible()

    # Found by its key's class and its name: the name is what a screen reader says.
    menu = page.locator(f".st-key-menu-{conversation_id}").get_by_role(
        "button", name="Rename or delete", exact=True
    )
    menu.click()
    title = sidebar.get_by_role("textbox", name="Title")
    expect(title).to_have_value("Menu question")
    title.fill("Renamed in the sidebar")
    title.press("Enter")
    expect(sidebar.get_by_role("button", name="Renamed in the sidebar", exact=True)).to_be_visible()
    wait_until(lambda: store.get_conversation(conversation_id).title == "Renamed in the sidebar")
    expect(title).to_have_count(0)  # the menu closed

    menu.click()
    sidebar.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("heading", name="What can I help with?")).to_be_visible()
    assert f"c={conversation_id}" not in page.url
    renamed = sidebar.get_by_role("button", name="Renamed in the sidebar", exact=True)
    expect(renamed).to_have_count(0)
    assert store.get_conversation(conversation_id).in_trash

    sidebar.get_by_role("button", name="Undo").click()
    expect(answers(page).last).to_contain_text("Menu answer.")
    assert f"c={conversation_id}" in page.url
    assert not store.get_conversation(conversation_id).in_trash


def test_the_endpoint_picked_at_the_top_takes_its_first_model_and_no_model_refuses(
    remote_app, remote_server, page, closed_port
):
    from assistant.profiles import ProfileStore

    app, db_path = remote_app
    profiles = ProfileStore(Database(db_path))
    profiles.create("Team server", remote_server.base_url)  # no default model: its first
    profiles.create("Nowhere", f"http://127.0.0.1:{closed_port}/v1")  # lists none
    page.goto(app.url)
    row = page.locator(".st-key-chat-model-row")
    row.get_by_role("combobox", name="Endpoint").click()
    page.get_by_role("option", name="Team server").click()
    # The browser's select shows the new endpoint's model, not the one it showed before.
    expect(row.get_by_role("combobox", name="Model")).to_have_value("fake-model")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(re.compile("Model: fake-model"))).to_be_visible()
    remote_server.enqueue(Scenario(chunks=["From the team server."]))
    send(page, "Which model?")
    expect(answers(page).nth(1)).to_contain_text("From the team server.")
    assert remote_server.completions()[-1].body["model"] == "fake-model"
    # The new chat's row gave way to the conversation's (drawn just before the sidebar's
    # total): a choice made on the one going away would be lost.
    expect(sidebar.get_by_text(re.compile(r"This chat: .+ in 1 answer"))).to_be_visible()

    row.get_by_role("combobox", name="Endpoint").click()
    page.get_by_role("option", name="Nowhere").click()
    expect(sidebar.get_by_text(re.compile("No model is chosen for this chat"))).to_be_visible()
    sent = len(remote_server.completions())
    send(page, "Not without a model")
    expect(page.get_by_text(re.compile("No model is chosen for this chat")).first).to_be_visible()
    expect(page.get_by_placeholder("Message the assistant")).to_have_value("Not without a model")
    assert len(remote_server.completions()) == sent
    expect(answers(page)).to_have_count(2)  # nothing stored
