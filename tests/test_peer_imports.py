"""Other apps' exports come in with their branches: Claude.ai, Open WebUI, LibreChat (ChatGPT
is in test_export_import.py), and the own format's round trip with branches and parts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_export_import import _mutations, _replaced, seed

from assistant import export, importing, transcript
from assistant.db import Database
from assistant.errors import ImportProblem
from assistant.importing import read_conversations
from assistant.safe_markdown import plain
from assistant.store import Store

ROOT = Path(__file__).resolve().parent.parent
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


# -- every file, mutated: a sentence or an import, through what the page and the CLI call ------

MUTANT_VALUES = (
    None, "text", "", 7, -1, 2**70, 1e308, float("inf"), float("nan"), True, [], {},
    "\udc80", "\ud83d", "\x00\u202e", [[[[[]]]]],
)  # fmt: skip
WRONG_TYPES = (None, 7, [], {})
LONE_SURROGATE_TITLE = "bad \udc80 title"
TITLE_KEYS = ("title", "name")


def _all_sources(seeded_store: Store) -> dict[str, tuple[object, bool]]:
    """Each real file as a document (and whether it is written as JSON Lines)."""
    sources: dict[str, tuple[object, bool]] = {
        name: (json.loads((FIXTURES / name).read_text()), False)
        for name in ("chatgpt_conversations.json", *PEER_FILES, *REAL_SHAPES)
    }
    own = json.loads(export.json_text(seeded_store))
    sources["own.json"] = (own, False)
    sources["own.jsonl"] = (own["conversations"], True)
    return sources


def _serialized(document, lines: bool) -> bytes:
    if lines:
        return "\n".join(json.dumps(item) for item in document).encode("utf-8", "surrogatepass")
    return json.dumps(document).encode("utf-8", "surrogatepass")


def _deleted(document, path):
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return copy


def _paths(document) -> list[tuple]:
    return list(dict.fromkeys(path for path, _ in _mutations(document)))


ID_KEYS = ("uid", "conversation_id", "id", "uuid", "conversationId")


def _fresh_ids(document, number: int):
    """The document with every conversation's id made new, so that a variant that imports is
    written (one already there would be skipped, and its odd values never reach the database)."""
    copy = json.loads(json.dumps(document))
    conversations = copy if isinstance(copy, list) else [copy]
    for wrapper in ("conversations", "history"):  # Claude's wrapper, ChatbotUI's export
        if isinstance(copy, dict) and isinstance(copy.get(wrapper), list):
            conversations = copy[wrapper]
    for conversation in conversations:
        for key in ID_KEYS:
            if isinstance(conversation, dict) and isinstance(conversation.get(key), str):
                conversation[key] = f"{conversation[key]}-variant-{number}"
    return copy


def _variants(document) -> Iterator[tuple[str, object]]:
    """Every place: odd values, nulls, deleted; and a lone-surrogate title with one wrong type."""
    paths = _paths(document)
    for number, path in enumerate(paths):
        fresh = _fresh_ids(document, number)
        for value in MUTANT_VALUES:
            yield f"{path} = {value!r}", _replaced(fresh, path, value)
        yield f"del {path}", _deleted(fresh, path)
    titles = [path for path in paths if path[-1] in TITLE_KEYS]
    for title in titles[:2]:
        bad_title = _replaced(document, title, LONE_SURROGATE_TITLE)
        for path in paths:
            if path != title and path[: len(title)] != title:
                for wrong in WRONG_TYPES:
                    yield (
                        f"{title} = bad title, {path} = {wrong!r}",
                        _replaced(bad_title, path, wrong),
                    )


def _outcome(store: Store, label: str, data: bytes) -> str:
    """Import through `import_file` (the page's and the CLI's way in): it imports, or it
    refuses with ImportProblem in one sentence the page can show; anything else is a bug."""
    try:
        result = importing.import_file(store, data)
    except ImportProblem as exc:
        sentence = str(exc)
        assert sentence.strip() and "\n" not in sentence.strip(), label
        sentence.encode("utf-8")  # a lone surrogate here broke the page (its error screen)
        assert not getattr(exc, "unexpected", False), (label, exc.__cause__)
        return "refused"
    except Exception as exc:  # the test names the variant that escaped
        pytest.fail(f"{label}: {type(exc).__name__}: {exc}")
    if result.left_out:  # one entry unreadable, the others imported: the sentence names it
        sentence = importing.describe(result)
        assert "\n" not in sentence and "left out" in sentence, label
        sentence.encode("utf-8")
        return "left out"
    return "imported"


# Real files of the shapes the fixtures above lack (tests/fixtures/real/SOURCES.md).
REAL_SHAPES = (
    "real/chatgpt/chatgpt-exporter_thinking-single-preamble.json",  # one object, thinking
    "real/chatgpt/bot-knows_chatgpt_export.json",  # nodes without parent or children
    "real/claude/bot-knows_claude_export.json",  # {"conversations": [...]}
    "real/librechat/librechat-export_messagesTree.json",  # the tree under messagesTree
    "real/chatbotui/librechat_chatbotui-export.json",  # {version, history, folders, prompts}
    "real/open_webui/librechat_openwebui-export.json",  # output items, reasoning duration
)


@pytest.mark.parametrize(
    "name",
    ["chatgpt_conversations.json", *PEER_FILES, *REAL_SHAPES, "own.json", "own.jsonl"],
)
def test_every_mutation_of_every_real_file_imports_or_says_one_sentence(name, tmp_path):
    """Wrong types, nulls, lone surrogates, huge numbers and deleted keys at every field of
    every real file, a title with a lone surrogate together with one wrong type anywhere, and
    the file cut at many places: each variant is imported into a real database or refused
    with ImportProblem, never another exception."""
    source_store = Store(Database(tmp_path / "source.db"))
    seed(source_store)
    document, lines = _all_sources(source_store)[name]
    target = Store(Database(tmp_path / "target.db"))
    outcomes = {"imported": 0, "refused": 0, "left out": 0}
    for label, variant in _variants(document):
        outcomes[_outcome(target, label, _serialized(variant, lines))] += 1
    whole = _serialized(document, lines)
    for cut in range(1, len(whole), max(1, len(whole) // 60)):
        outcomes[_outcome(target, f"cut at byte {cut}", whole[:cut])] += 1
    refused = outcomes["refused"] + outcomes["left out"]  # the whole file, or one entry of it
    assert outcomes["imported"] > 20 and refused > 100, outcomes
    assert target.list_conversations(limit=None)  # what was read was written, and reads back
    for conversation in target.list_conversations(limit=None):
        target.messages(conversation.id)


def test_a_bad_title_and_a_wrong_type_in_each_format_give_one_sentence_on_the_page(
    monkeypatch, db_path
):
    """The prober's file: a title with a lone surrogate and a message whose content is a
    number, in each format, uploaded on the Conversations page."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    files = {
        "own.json": {"format": "assistant-export", "version": 2, "conversations": [
            {"title": LONE_SURROGATE_TITLE, "created_at": "2026-01-01T00:00:00Z",
             "messages": [{"id": 1, "role": "user", "content": 5,
                           "created_at": "2026-01-01T00:00:00Z"}]}]},
        "chatgpt.json": [{"title": LONE_SURROGATE_TITLE, "mapping": 5}],
        "claude.json": [{"name": LONE_SURROGATE_TITLE, "chat_messages": {"a": 1}}],
        "open_webui.json": [{"title": LONE_SURROGATE_TITLE, "chat": {"history": []}}],
        "librechat.json": {"title": LONE_SURROGATE_TITLE, "conversationId": "c", "messages": 5},
    }  # fmt: skip
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.switch_page("app_pages/conversations.py")
    at.run()
    for generation, (name, document) in enumerate(files.items()):
        data = json.dumps(document).encode("utf-8", "surrogatepass")
        uploader = at.file_uploader(key=f"history_import-{generation}")
        uploader.set_value((name, data, "application/json")).run()
        next(b for b in at.button if b.label == "Import").click().run()
        assert not at.exception, name
        [error] = at.error
        assert error.value.startswith(plain(f"{name}: ")), error.value
        assert "\ufffd" in error.value or "title" in error.value, error.value
        assert error.value.endswith(plain("Nothing was imported.")), error.value
    assert Store(Database(db_path)).list_conversations(limit=None) == []


# -- shapes the real files showed (tests/fixtures/real), each in a few lines -------------------


def _node(key: str, role: str | None, text: str, **more) -> dict:
    message = None
    if role is not None:
        message = {"id": key, "author": {"role": role}, "content": {"parts": [text]}}
        message.update(more)
    return {"id": key, "message": message}


def test_chatgpt_nodes_linked_only_by_parent_and_a_lone_object(store):
    """One conversation object, not in a list; nodes name their parent but list no children;
    no content_type: each still comes in, in its place."""
    mapping = {
        "r": _node("r", None, ""),
        "u": {**_node("u", "user", "Why?", create_time=1_700_000_010), "parent": "r"},
        "a": {**_node("a", "assistant", "Because.", create_time=1_700_000_020), "parent": "u"},
    }
    conversation = {"title": "Lone", "mapping": mapping, "create_time": "1700000000"}
    [read] = read_conversations(json.dumps(conversation))
    assert [(m.role, m.content) for m in read.messages] == [
        ("user", "Why?"),
        ("assistant", "Because."),
    ]
    assert read.created_at == "2023-11-14T22:13:20.000Z"  # epoch seconds written as text
    assert read.active_leaf == "a"


def test_chatgpt_unfinished_and_stopped_answers_and_code_that_is_the_answer(store):
    def conversation(title: str, answer: dict) -> dict:
        mapping = {
            "u": {**_node("u", "user", "Go", create_time=1_700_000_000), "children": ["a"]},
            "a": {**answer, "parent": "u", "children": []},
        }
        return {"title": title, "id": title, "mapping": mapping}

    growing = _node("a", "assistant", "Half", status="in_progress")
    stopped = _node("a", "assistant", "Cut", metadata={"finish_details": {"type": "interrupted"}})
    code = _node("a", "assistant", "")
    code["message"]["content"] = {"content_type": "code", "language": "sql", "text": "SELECT 1"}
    data = [conversation(t, a) for t, a in (("g", growing), ("s", stopped), ("c", code))]
    result = store.import_conversations(read_conversations(json.dumps(data)))
    answers = [store.messages(i)[-1] for i in result.imported]
    assert [(a.role, a.status) for a in answers] == [
        ("assistant", "interrupted"),
        ("assistant", "stopped"),
        ("assistant", "complete"),
    ]
    assert answers[0].error == importing.INTERRUPTED_ON_IMPORT
    assert answers[2].content == "```sql\nSELECT 1\n```"
    assert answers[2].parts_json is None  # an answer, not a tool call


def test_librechat_dates_come_from_the_file_never_from_the_clock():
    """No conversation date, an undated reply, and `exportAt` as JavaScript writes a date."""
    document = {
        "conversationId": "c-1",
        "title": "Dates",
        "exportAt": "Tue Apr 09 2024 16:33:32 GMT+0200 (Central European Summer Time)",
        "messagesTree": [
            {
                "messageId": "q",
                "isCreatedByUser": True,
                "text": "Hi",
                "createdAt": "2024-04-09T14:00:00.000Z",
                "children": [{"messageId": "a", "text": "Hello", "unfinished": True}],
            }
        ],
    }
    [read] = read_conversations(json.dumps(document))
    assert read.created_at == "2024-04-09T14:00:00.000Z"
    assert [m.created_at for m in read.messages] == ["2024-04-09T14:00:00.000Z"] * 2
    assert read.messages[1].status == "interrupted"
    assert read.active_leaf == "a"
    del document["messagesTree"][0]["createdAt"]  # nothing dated but the file itself
    [read] = read_conversations(json.dumps(document))
    assert read.created_at == "2024-04-09T14:33:32.000Z"


def test_open_webui_tool_call_in_the_text_comes_in_once_and_reasoning_keeps_its_seconds():
    content = (
        '<details type="reasoning" done="true"><summary>Thought for 12 seconds</summary>'
        "&gt; Check the forecast.</details>"
        '<details type="tool_calls" done="true" id="call_1" name="get_weather" '
        'arguments="{&quot;city&quot;: &quot;Paris&quot;}" result="&quot;18C, rain&quot;">'
        "<summary>Tool Executed</summary></details>It rains."
    )
    chat = {
        "id": "w",
        "title": "Weather",
        "chat": {
            "history": {
                "currentId": "a",
                "messages": {
                    "q": {"id": "q", "role": "user", "content": "Weather?", "timestamp": 1},
                    "a": {"id": "a", "parentId": "q", "role": "assistant", "content": content},
                },
            }
        },
    }
    [read] = read_conversations(json.dumps([chat]))
    answer = read.messages[1]
    assert [(p.kind, p.text) for p in answer.parts] == [
        ("reasoning", "Check the forecast."),
        ("tool_call", '{"city": "Paris"}'),
        ("tool_result", "18C, rain"),
        ("text", "It rains."),
    ]
    assert answer.parts[0].data == {"seconds": 12.0}
    assert answer.parts[2].data == {"name": "get_weather", "id": "call_1"}


def test_many_broken_entries_are_counted_after_the_first_three_are_named(store):
    good = json.loads((FIXTURES / "chatgpt_conversations.json").read_text())[:1]
    broken = [{"title": f"Broken {n}", "mapping": None} for n in range(1, 6)]
    result = importing.import_file(store, json.dumps(good + broken))
    assert len(result.imported) == 1 and len(result.left_out) == 5
    sentence = importing.describe(result)
    assert sentence.endswith(
        '(Conversation 2 ("Broken 1") has no "mapping" of messages; Conversation 3 ("Broken 2") '
        'has no "mapping" of messages; Conversation 4 ("Broken 3") has no "mapping" of '
        "messages; and 2 more)."
    ), sentence
    with pytest.raises(ImportProblem, match=r"^No conversation in the file could be read"):
        importing.import_file(store, json.dumps(broken))


def test_an_open_webui_chat_without_created_at_is_dated_by_its_messages():
    chat = {
        "id": "no-date",
        "title": "No date",
        "chat": {
            "history": {
                "messages": {
                    "q": {"id": "q", "role": "user", "content": "Hi", "timestamp": "1700000000"},
                    "a": {"id": "a", "parentId": "q", "role": "assistant", "content": "Hello"},
                }
            }
        },
    }
    [read] = read_conversations(json.dumps(chat))
    assert read.created_at == read.updated_at == "2023-11-14T22:13:20.000Z"
    assert [m.created_at for m in read.messages] == ["2023-11-14T22:13:20.000Z"] * 2
    assert read.active_leaf == "a"  # no currentId: the newest branch's last message


def test_an_empty_claude_answer_is_left_out_and_what_followed_it_keeps_its_place():
    conversation = {
        "uuid": "c",
        "name": "Empty answer",
        "created_at": "2025-06-01T12:00:00Z",
        "chat_messages": [
            {"uuid": "q", "sender": "human", "text": "Name a cat."},
            {"uuid": "e", "sender": "assistant", "text": "   ", "parent_message_uuid": "q"},
            {"uuid": "a", "sender": "assistant", "text": "Biscuit.", "parent_message_uuid": "e"},
        ],
    }
    [read] = read_conversations(json.dumps([conversation]))
    assert [(m.key, m.parent) for m in read.messages] == [("q", None), ("a", "q")]
