"""Automatic titles: written once after the first answer by the chat's own model, never over a
title the user set, the first words kept when the model's title is poor; and migration 10."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario
from seed import turn

from assistant import migrations
from assistant.config import load_settings
from assistant.db import Database
from assistant.services import Services
from assistant.store import Snapshot, Store, make_title
from assistant.titles import FIRST_WORDS, KEPT, MODEL, SET, TITLE_INSTRUCTION, USER, clean_title


@pytest.mark.parametrize(
    ("raw", "question", "title"),
    [
        ("Paris, the capital", "What is the capital of France?", "Paris, the capital"),
        ('"Sleep Tips"', "Give me tips for sleep", "Sleep Tips"),
        ("Title: Sleep tips.", "Give me tips for sleep", "Sleep tips"),
        ("**Sea poem**\nA poem about the sea", "Write a poem", "Sea poem"),
        ("《长城简介》", "用三句话介绍一下长城。", "长城简介"),
        ("标题：月亮诗", "写一首关于月亮的短诗。", "月亮诗"),
        ("", "Hello", None),  # empty
        ("   \n  ", "Hello", None),
        ("A" * 41, "Hello", None),  # too long
        ("One two three four five six seven eight nine", "Hello", None),  # too many words
        ("the capital of france", "What is the capital of France?", None),  # a quote
        ("Capital of France", "用三句话介绍一下长城。", None),  # not the chat's language
        ("长城", "Tell me about the Great Wall", None),
        # a code block's language, a keyword: one lowercase word is not a name for a chat
        ("python", "How do I read a file in Python?", None),
        ("```python\nprint(1)\n```", "How do I print in Python?", None),
        ("select", "Explain SQL joins", None),
        ("LONDINION", "Tell me about the history of London", None),  # capitals from nowhere
        ("LONDINION history", "Tell me about the history of London", None),
        ("NASA missions", "What has NASA flown to Mars?", "NASA missions"),  # the question's
        ("SQL joins", "Explain SQL joins", "SQL joins"),
        ("Go", "How do I start with Go?", "Go"),
        # Markdown's marks never reach the sidebar
        ("# **Reading files in Python**", "How do I read a file?", "Reading files in Python"),
        ("## `pathlib` basics", "How do I read a file?", "pathlib basics"),
        ("**Title:** Sleep tips", "Give me tips for sleep", "Sleep tips"),
        ("[Sea](https://example.com) poem", "Write a poem", "Sea poem"),
        ("*Sea* poem", "Write a poem", "Sea poem"),
        ("snake_case names", "How should I name things?", "snake_case names"),
        # Chinese titles pass, with Latin names inside and after their marks are gone
        ("# **Python 读取文件**", "Python 里怎么打开一个文本文件？", "Python 读取文件"),
        ("`asyncio` 异步编程入门", "Python 里怎么写并发？", "asyncio 异步编程入门"),
        ("长城简介", "用三句话介绍一下长城。", "长城简介"),
        ("北京的秋天", "北京秋天去哪里玩？", "北京的秋天"),
    ],
)  # fmt: skip
def test_a_title_is_tidied_or_judged_poor(raw, question, title):
    assert clean_title(raw, question) == title


KEY = "sk-titles"


@pytest.fixture
def server(fake_server: FakeOpenAIServer) -> FakeOpenAIServer:
    return fake_server


@pytest.fixture
def svc(db_path: Path, fake_server: FakeOpenAIServer) -> Iterator[Services]:
    environ = {
        "OPENAI_BASE_URL": fake_server.base_url,
        "OPENAI_API_KEY": KEY,
        "OPENAI_MAX_RETRIES": "0",
        "SQLITE_DB_PATH": str(db_path),
    }
    services = Services.build(load_settings(environ=environ, secrets={}), environ=environ)
    yield services
    services.turns.shutdown(wait=2)


def answered(svc: Services, answer_id: int) -> None:
    wait_until(lambda: svc.store.get_message(answer_id).status == "complete", timeout=10)


def titled(svc: Services, conversation_id: int) -> str:
    """The title once no automatic title is being written any more."""
    wait_until(lambda: not svc.turns.titler.pending(conversation_id), timeout=10)
    return svc.store.get_conversation(conversation_id).title


def title_requests(server: FakeOpenAIServer) -> list:
    return [
        r
        for r in server.completions()
        if r.body and r.body["messages"][0].get("content") == TITLE_INSTRUCTION
    ]


def test_the_first_answer_gets_a_title_from_the_chats_model_once(svc, server):
    server.enqueue(Scenario(chunks=["Paris is the capital."]), Scenario(chunks=["French capital"]))
    ids = svc.send(None, "What is the capital of France, please?", None)
    answered(svc, ids.assistant_message_id)
    assert titled(svc, ids.conversation_id) == "French capital"
    conversation = svc.store.get_conversation(ids.conversation_id)
    assert conversation.title_source == MODEL
    [request] = title_requests(server)
    body = request.body
    assert body["model"] == svc.store.get_message(ids.assistant_message_id).model
    assert body["max_tokens"] == 24 and body["temperature"] == 0.2
    assert "What is the capital of France, please?" in body["messages"][1]["content"]
    assert "Paris is the capital." in body["messages"][1]["content"]
    # The answer itself was not touched: no title in it, nothing added after it.
    assert svc.store.get_message(ids.assistant_message_id).content == "Paris is the capital."
    # Later answers (a follow-up, a regenerated first answer) ask for no title again.
    server.enqueue(Scenario(chunks=["Lyon is second."]))
    more = svc.send(ids.conversation_id, "And the second city?", None)
    answered(svc, more.assistant_message_id)
    server.enqueue(Scenario(chunks=["Paris."]))
    again = svc.regenerate(ids.assistant_message_id)
    answered(svc, again)
    assert titled(svc, ids.conversation_id) == "French capital"
    assert len(title_requests(server)) == 1


def test_a_title_the_user_set_meanwhile_is_never_replaced(svc, server):
    hold = Scenario(chunks=["Ocean", " words"], hold_after=0)
    server.enqueue(Scenario(chunks=["A poem."]), hold)
    ids = svc.send(None, "Write a poem about the sea", None)
    answered(svc, ids.assistant_message_id)
    wait_until(lambda: title_requests(server), timeout=10)  # the title request is out
    svc.store.rename(ids.conversation_id, "My sea poem")
    hold.release.set()
    assert titled(svc, ids.conversation_id) == "My sea poem"
    assert svc.store.get_conversation(ids.conversation_id).title_source == USER


def test_a_poor_title_keeps_the_first_words(svc, server):
    question = "Give me three short tips for a good night's sleep"
    server.enqueue(
        Scenario(chunks=["1. Dark room."]), Scenario(chunks=["Give me three short tips"])
    )
    ids = svc.send(None, question, None)
    answered(svc, ids.assistant_message_id)
    assert titled(svc, ids.conversation_id) == make_title(question)
    assert svc.store.get_conversation(ids.conversation_id).title_source == KEPT


def test_a_failing_title_request_leaves_the_first_words_and_the_answer(svc, server):
    server.enqueue(Scenario(chunks=["Hi!"]), Scenario(status=500))
    ids = svc.send(None, "Hello there", None)
    answered(svc, ids.assistant_message_id)
    assert titled(svc, ids.conversation_id) == "Hello there"
    assert svc.store.get_conversation(ids.conversation_id).title_source == FIRST_WORDS
    assert svc.store.get_message(ids.assistant_message_id).status == "complete"


def test_the_setting_turns_automatic_titles_off(svc, server):
    svc.preferences.set_auto_titles(False)
    server.enqueue(Scenario(chunks=["Hi!"]))
    ids = svc.send(None, "Hello there", None)
    answered(svc, ids.assistant_message_id)
    assert titled(svc, ids.conversation_id) == "Hello there"
    assert title_requests(server) == []


@pytest.mark.model
def test_the_embedded_model_titles_a_chat_or_keeps_its_first_words(db_path):
    environ = {"SQLITE_DB_PATH": str(db_path)}
    svc = Services.build(load_settings(environ=environ, secrets={}), environ=environ)
    try:
        question = "What is the capital of France?"
        ids = svc.send(None, question, None)
        wait_until(
            lambda: svc.store.get_message(ids.assistant_message_id).status == "complete",
            timeout=120,
        )
        wait_until(lambda: not svc.turns.titler.pending(ids.conversation_id), timeout=120)
        conversation = svc.store.get_conversation(ids.conversation_id)
        assert conversation.title_source in (MODEL, KEPT)
        if conversation.title_source == KEPT:
            assert conversation.title == question
        else:
            assert clean_title(conversation.title, question) == conversation.title
    finally:
        svc.turns.shutdown(wait=2)


def test_migration_10_keeps_every_existing_title_and_names_only_new_chats(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrations.migrate(conn, target=9) == 9
    # A version-9 history as that app wrote it: a renamed chat, a first-words chat in
    # Chinese, a trashed one; each with a question and its answer.
    rows = [
        ("Kyoto plans", None, "Trip to Kyoto"),
        ("长城有多长？", None, "长城有多长？"),
        ("Old notes", "2026-01-01T00:00:00Z", "Old notes"),
    ]
    for title, deleted_at, question in rows:
        cid = conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at, deleted_at, uid)"
            " VALUES (?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?, ?) RETURNING id",
            (title, deleted_at, f"uid-{title}"),
        ).fetchone()[0]
        qid = conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, created_at,"
            " updated_at) VALUES (?, 1, 'user', ?, 'complete', '2026-01-01T00:00:00Z',"
            " '2026-01-01T00:00:00Z') RETURNING id",
            (cid, question),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, created_at,"
            " updated_at, parent_id, reply_to, depth, model) VALUES (?, 2, 'assistant', 'OK.',"
            " 'complete', '2026-01-01T00:00:01Z', '2026-01-01T00:00:01Z', ?, ?, 1, 'gpt-4o')",
            (cid, qid, qid),
        )
    conn.close()

    store = Store(Database(db_path))  # migrates to the latest
    assert store.db.schema_version() == migrations.LATEST_VERSION
    after = [*store.list_conversations(), *store.list_trash()]
    assert sorted(c.title for c in after) == sorted(title for title, _, _ in rows)
    assert {c.title_source for c in after} == {SET}  # none of them is renamed by a model
    snapshot = Snapshot("openai", "gpt-4o", {"temperature": 0.7}, "")
    ids = turn(store, None, "A new chat", snapshot)
    assert store.get_conversation(ids.conversation_id).title_source == FIRST_WORDS
    store.rename(ids.conversation_id, "Renamed")
    assert store.get_conversation(ids.conversation_id).title_source == USER
