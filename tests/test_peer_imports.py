"""Other apps' exports come in with their branches: Claude.ai, Open WebUI, LibreChat (ChatGPT
is in test_export_import.py), and the own format's round trip with branches and parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_export_import import _mutations, _replaced

from assistant import export, transcript
from assistant.db import Database
from assistant.errors import ImportProblem
from assistant.importing import read_conversations
from assistant.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PEER_FILES = (
    "claude_conversations.json",
    "open_webui_export.json",
    "librechat_flat.json",
    "librechat_recursive.json",
)


def _import(store: Store, name: str) -> list[int]:
    result = store.import_conversations(read_conversations((FIXTURES / name).read_bytes()))
    return result.imported


def _shown(store: Store, conversation_id: int) -> list[tuple[str, str | None]]:
    return [
        (e.question.content, e.answer.content if e.answer else None)
        for e in transcript.active_exchanges(store, conversation_id)
    ]


def test_claude_tree_thinking_attachments_and_tools(store):
    first, second = _import(store, "claude_conversations.json")
    conversation = store.get_conversation(first)
    assert conversation.title == "Packing for Iceland"
    assert conversation.created_at == "2025-02-10T09:00:00.000Z"
    # The newest message's branch is on screen; the other follow-up is an edit beside it.
    assert _shown(store, first) == [
        (
            "What should I pack for Iceland in March?",
            "Layers: thermal base, fleece, waterproof shell.",
        ),
        ("And what about shoes for the city?", "Sneakers are fine in Reykjavik."),
    ]
    exchanges = transcript.active_exchanges(store, first)
    assert len(exchanges[1].edits) == 2
    assert store.get_message(exchanges[1].edits[0]).content == "And shoes?"
    question = exchanges[0].question
    attachment = question.parts[0]
    assert (attachment.kind, attachment.data["name"]) == ("attachment", "itinerary.txt")
    assert "Golden Circle" in attachment.text
    assert exchanges[0].answer.reasoning.text.startswith("March is cold")
    kinds = [p.kind for p in exchanges[1].answer.parts]
    assert kinds == ["tool_call", "tool_result", "text"]
    assert "heated" in exchanges[1].answer.parts[1].text
    # Without parent uuids the list is the conversation; no name: the first words.
    assert store.get_conversation(second).title == "你好"
    assert _shown(store, second) == [("你好", "你好！有什么可以帮你？")]


def test_open_webui_tree_current_id_pin_and_reasoning(store):
    (imported,) = _import(store, "open_webui_export.json")
    conversation = store.get_conversation(imported)
    assert (conversation.title, conversation.pinned) == ("Rust lifetimes", True)
    exchanges = transcript.active_exchanges(store, imported)
    assert [e.question.content for e in exchanges] == [
        "Explain lifetimes in one sentence.",
        "Show an example.",
    ]  # the system message is left out
    first = exchanges[0].answer
    assert first.content == "Lifetimes tell the compiler how long references stay valid."
    assert first.reasoning.text == "The user wants brevity.\nOne sentence."
    assert first.reasoning.data == {"seconds": 3.0}
    assert first.model == "qwen3:8b"
    assert len(exchanges[0].versions) == 2  # llama's answer is the other version
    second = exchanges[1].answer
    assert [p.kind for p in second.parts] == ["reasoning", "tool_call", "tool_result", "text"]
    assert second.content.startswith("fn longest")


@pytest.mark.parametrize("name", ["librechat_flat.json", "librechat_recursive.json"])
def test_librechat_flat_and_recursive_give_the_same_tree(store, name):
    (imported,) = _import(store, name)
    assert store.get_conversation(imported).title == "Tokyo itinerary"
    assert _shown(store, imported) == [
        ("Plan two days in Tokyo.", "Day 1: Asakusa. Day 2: Shibuya."),
        ("Add a food market instead.", "Visit Tsukiji Outer Market on day 1."),
    ]
    exchanges = transcript.active_exchanges(store, imported)
    other = store.get_message(exchanges[1].edits[0])
    assert other.content == "Add a museum."
    store.show_branch(other.id)
    answer = transcript.active_exchanges(store, imported)[1].answer
    assert answer.reasoning.text == "Roppongi is near Shibuya."
    assert answer.model == "gpt-4o"


def test_own_json_round_trip_keeps_branches_parts_and_the_active_leaf(store, tmp_path):
    for name in PEER_FILES:
        _import(store, name)
    text = export.json_text(store)
    copy = Store(Database(tmp_path / "copy.db"))
    result = copy.import_conversations(read_conversations(text))
    assert len(result.imported) == len(store.list_conversations(limit=None))
    for original, imported in zip(
        store.list_conversations(limit=None), copy.list_conversations(limit=None), strict=True
    ):
        before, after = _records(store, original.id), _records(copy, imported.id)
        assert after == before
        assert _shown(copy, imported.id) == _shown(store, original.id)
    again = json.loads(export.json_text(copy))
    assert sorted(c["uid"] for c in again["conversations"]) == sorted(
        c["uid"] for c in json.loads(text)["conversations"]
    )


def _records(store: Store, conversation_id: int) -> list[tuple]:
    messages = store.messages(conversation_id)
    position = {m.id: m.seq for m in messages}
    return [
        (m.seq, m.role, m.content, m.parts_json, position.get(m.parent_id), m.status, m.model)
        for m in messages
    ]


@pytest.mark.parametrize("name", PEER_FILES)
def test_no_malformed_variant_of_a_peer_file_gives_anything_but_a_clear_message(name, tmp_path):
    document = json.loads((FIXTURES / name).read_text())
    target = Store(Database(tmp_path / "mutants.db"))
    tried = imported = 0
    for path, wrong in _mutations(document):
        tried += 1
        try:
            conversations = read_conversations(json.dumps(_replaced(document, path, wrong)))
        except ImportProblem as exc:
            assert str(exc).strip()
            continue
        target.import_conversations(conversations)  # what is read can be written
        imported += 1
    assert tried > 100 and imported > 0
