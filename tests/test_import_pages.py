"""Real export files imported on the Conversations page (AppTest): a file with a broken entry
imports the rest and names what it left out; a chat that starts with an answer shows it."""

from __future__ import annotations

from pathlib import Path

from conftest import REMOTE_KEY
from streamlit.testing.v1 import AppTest

from assistant import browse, transcript
from assistant.db import Database
from assistant.safe_markdown import plain
from assistant.store import Store

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def _upload(at: AppTest, generation: int, path: Path) -> AppTest:
    uploader = at.file_uploader(key=f"history_import-{generation}")
    uploader.set_value((path.name, path.read_bytes(), "application/json")).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    return at


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("app_pages/conversations.py")
    return at.run()


def test_a_list_with_broken_entries_imports_the_rest_and_names_them(monkeypatch, db_path):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = _upload(_page(), 0, REAL / "chatgpt" / "chatlore_conversations.json")
    assert not at.error and not at.success
    [warning] = at.warning
    assert warning.value == plain(
        "Imported 2 conversations with 7 messages; left out 2 entries that could not be read "
        '(Conversation 3 ("Broken record") has no "mapping" of messages; Conversation 4 '
        '("No id") holds no messages).'
    )
    titles = sorted(c.title for c in Store(Database(db_path)).list_conversations(limit=None))
    assert titles == ["Postgres indexing", "Trip ideas"]
    # Importing it again: nothing new, and the same entries named again.
    at = _upload(at, 1, REAL / "chatgpt" / "chatlore_conversations.json")
    [warning] = at.warning
    assert warning.value.startswith(plain("Nothing new: 2 conversations already here; left out 2"))


def test_a_file_whose_only_entry_is_broken_is_refused_in_one_sentence(
    monkeypatch, db_path, tmp_path
):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    broken = tmp_path / "broken.json"
    broken.write_text('[{"title": "Broken record", "mapping": null}]', encoding="utf-8")
    at = _upload(_page(), 0, broken)
    [error] = at.error
    assert error.value == plain(
        'broken.json: Conversation 1 ("Broken record") has no "mapping" of messages. '
        "Nothing was imported."
    )
    assert Store(Database(db_path)).list_conversations(limit=None) == []


def test_a_chat_that_starts_with_an_answer_shows_it_on_both_pages(monkeypatch, db_path):
    """ChatGPT's fragment: a browsing result and the cited answer, the question not in the
    file. The Conversations page's preview and the chat show the answer and its tool result."""
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    monkeypatch.setenv("OPENAI_API_KEY", REMOTE_KEY)
    at = _upload(_page(), 0, REAL / "chatgpt" / "librechat_chatgpt-citations.json")
    [success] = at.success
    assert success.value == "Imported 1 conversation with 1 message."
    [conversation] = Store(Database(db_path)).list_conversations(limit=None)
    # The Conversations page's preview of the selected row.
    selection = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.session_state[browse.table_key([conversation.id])] = selection
    at.run()
    assert not at.exception
    assert [m.name for m in at.chat_message] == ["assistant"]
    preview = " ".join(m.value for m in at.markdown)
    assert "Signal Sciences is a web application security company" in preview
    chat = AppTest.from_file(APP, default_timeout=30)
    chat.query_params["c"] = str(conversation.id)
    chat.run()
    assert not chat.exception
    shown = " ".join(m.value for m in chat.markdown)
    assert "Signal Sciences is a web application security company" in shown
    assert [m.name for m in chat.chat_message] == ["assistant"]
    # No question to ask again: neither Regenerate nor Retry is offered.
    assert not [b for b in chat.button if b.label in ("Regenerate", "Retry")]


RICH = (
    "chatgpt/chatgpt-exporter_image-generation.json",  # answers that are images only
    "chatgpt/chatgpt-exporter_thinking-summaries.json",  # reasoning with seconds, web.run
    "chatgpt/chatlore_conversations.json",  # attachment, code run by a tool, its output
    "claude/chatlore_conversations.json",  # thinking, tools, attachments, branches
    "open_webui/librechat_openwebui-export.json",  # reasoning duration, tool call
    "librechat/librechat-opts-nonr-branches.json",  # two roots, an unfinished answer
)


def test_every_conversation_of_the_richest_real_files_opens_in_the_chat(monkeypatch, db_path):
    """Each conversation of the real files with the most kinds of parts, opened on the Chat
    page: no exception, and its last message's first words (or, for an answer that is an
    image only, its first part's heading) are on screen."""
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    monkeypatch.setenv("OPENAI_API_KEY", REMOTE_KEY)
    at = _page()
    for generation, name in enumerate(RICH):
        at = _upload(at, generation, REAL / name)
        assert not at.error, (name, at.error[0].value)
    store = Store(Database(db_path))
    for conversation in store.list_conversations(limit=None):
        chat = AppTest.from_file(APP, default_timeout=30)
        chat.query_params["c"] = str(conversation.id)
        chat.run()
        assert not chat.exception, (conversation.title, chat.exception)
        last = store.get_message(store.active_path(conversation.id)[-1].id)
        assert [m.name for m in chat.chat_message][-1] == last.role, conversation.title
        shown = " ".join(m.value for m in chat.markdown) + " ".join(e.label for e in chat.expander)
        words = last.content.split()[:3] or [transcript.part_heading(last.parts[0])]
        assert all(word in shown for word in words), (conversation.title, words)
