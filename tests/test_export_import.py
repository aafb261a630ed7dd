"""Export (JSON, JSON Lines, Markdown, HTML, file names) and import (own format, ChatGPT)."""

from __future__ import annotations

import io
import json
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
import seed as seeding

from assistant import browse, cli, export, importing, transcript
from assistant.db import Database
from assistant.errors import ImportProblem
from assistant.importing import read_conversations
from assistant.store import (
    FinalResult,
    ImportedConversation,
    ImportedMessage,
    Snapshot,
    Store,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HOSTILE = (
    "<script>alert('pwned')</script>\n\n"
    "<img src=x onerror=alert(1)> [click](javascript:alert(2)) ![pixel](https://tracker.example/p.png)\n\n"
    '<a href="javascript:alert(3)">x</a> <iframe src="https://evil.example"></iframe>\n\n'
    "```python\nprint('<script>not code</script>')\n```"
)


def seed(store: Store) -> None:
    """Two conversations: versions, a failure, Markdown, Chinese, a pin, usage and timings."""
    ids = seeding.turn(store, None, "Write **hello** in Python", Snapshot("openai", "gpt-a"))
    seeding.claim(store, ids.assistant_message_id, 0)
    seeding.finish(store, ids.assistant_message_id, FinalResult("error", "", error="Rate limited."))
    retry = seeding.answer(store, ids.user_message_id, Snapshot("openai", "gpt-b", {"t": 1}, "Sys"))
    seeding.claim(store, retry, 0)
    seeding.finish(
        store,
        retry,
        FinalResult("complete", "```python\nprint('hello')\n```", "stop", None, 9, 4, 0.25, 0.5),
    )
    second = seeding.turn(store, None, "你好，世界", Snapshot("local", "smol"))
    seeding.claim(store, second.assistant_message_id, 0)
    seeding.finish(store, second.assistant_message_id, FinalResult("stopped", "世界你好"))
    store.set_pinned(second.conversation_id, True)


@pytest.fixture
def seeded(store: Store) -> Store:
    seed(store)
    return store


def comparable(data: dict) -> list[dict]:
    """Conversations with database ids replaced by positions, so two databases can compare."""
    result = []
    for conversation in sorted(data["conversations"], key=lambda c: c["uid"]):
        positions = {m["id"]: m["seq"] for m in conversation["messages"]}
        messages = [
            {
                **m,
                "id": m["seq"],
                "reply_to": positions.get(m["reply_to"]),
                "parent": positions.get(m["parent"]),
            }
            for m in conversation["messages"]
        ]
        leaf = positions.get(conversation["active_leaf"])
        result.append({**conversation, "id": None, "active_leaf": leaf, "messages": messages})
    return result


# -- export -----------------------------------------------------------------------------------


def test_json_and_jsonl_hold_the_same_conversations(seeded):
    data = json.loads(export.json_text(seeded))
    assert data["format"] == "assistant-export" and data["version"] == 2
    lines = export.jsonl_text(seeded).splitlines()
    assert [json.loads(line) for line in lines] == data["conversations"]
    assert [c["title"] for c in data["conversations"]] == [
        "你好，世界",
        "Write **hello** in Python",
    ]
    assert data["conversations"][0]["pinned"] is True


def test_markdown_shows_the_branch_on_screen_and_every_branch_on_request(seeded):
    text = export.markdown_text(seeded, conversation_id=1)
    assert text.startswith("# Write \\*\\*hello\\*\\* in Python\n")  # a title is not Markdown
    assert "other versions and edits exist" in text  # the failed first version is not shown
    assert "Rate limited" not in text
    assert "**Assistant (version 2 of 2)** · gpt-b · 4 tokens · first token 0.25 s" in text
    every = export.render(seeded, "md", 1, all_branches=True)
    assert "## Branch 1 of 2 (the one last on screen)" in every
    assert "## Branch 2 of 2, after “Write **hello** in Python”" in every.replace("\\*", "*")
    assert "**Assistant (version 1 of 2)**" in every
    assert "> The answer failed: Rate limited." in every
    assert "```python\nprint('hello')\n```" in text
    stopped = export.markdown_text(seeded, conversation_id=2)
    assert "世界你好" in stopped and "> Stopped by the user." in stopped


def test_every_branch_is_numbered_once_in_markdown_and_html(store):
    """An edit of the first message shares nothing with the branch on screen: it was labelled
    "Branch 1 of 3" as well, and no branch was "2"."""
    conversation_id = seeding.branched(store)
    markdown = export.render(store, "md", conversation_id, all_branches=True)
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Branch 1 of 3 (the one last on screen)",
        "## Branch 2 of 3, from the first message",
        "## Branch 3 of 3, after “Plan a trip”",
    ]
    first, second, third = markdown.split("\n## ")[1:]
    assert "Go east." in first and "Go north." in second and "Rest." in second
    assert "Go south." in third and "Go north." not in third
    page = export.render(store, "html", conversation_id, all_branches=True)
    for index in (1, 2, 3):
        assert page.count(f"Branch {index} of 3") == 1


class _Audit(HTMLParser):
    """Collects everything in a page that could run code or fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("script", "iframe", "object", "embed", "img", "link"):
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name in ("href", "src") and value and not value.startswith(("http", "#")):
                self.problems.append(f"{tag} {name}={value}")
            if name == "src":
                self.problems.append(f"external {tag} src")


def test_html_export_is_self_contained_and_runs_no_script_from_messages(store):
    ids = seeding.turn(store, None, HOSTILE, Snapshot("openai", "m"))
    seeding.finish(store, ids.assistant_message_id, FinalResult("complete", HOSTILE))
    page = export.render(store, "html", ids.conversation_id)
    audit = _Audit()
    audit.feed(page)
    assert audit.problems == []
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page  # shown as text
    assert 'href="javascript' not in page.lower()  # the link was not made a link
    assert '<a href="https://tracker.example/p.png">[image: pixel]</a>' in page
    assert '<span class="nb">print</span>' in page  # Pygments coloured the code block
    assert "pre code .nb" in page  # with its CSS inlined


def test_html_export_of_a_normal_conversation_renders_markdown(seeded):
    page = export.render(seeded, "html", 1)
    assert "<title>Write **hello** in Python</title>" in page
    assert "<h2>Assistant (version 2 of 2)</h2>" in page
    assert "The answer failed: Rate limited." not in page  # on the other branch
    assert "The answer failed: Rate limited." in export.render(seeded, "html", 1, True)
    assert "<strong>hello</strong>" in page  # the question's Markdown


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Plan a trip to Kyoto", "Plan a trip to Kyoto.md"),
        ('a/b\\c:d*e?f"g<h>i|j', "a b c d e f g h i j.md"),
        ("...hidden. ", "hidden.md"),
        ("CON", "conversation CON.md"),
        ("lpt1.txt", "conversation lpt1.txt.md"),
        ("tab\there\x00nul", "tab here nul.md"),
        ("", "conversation.md"),
        ("中文标题", "中文标题.md"),
    ],
)
def test_file_names_are_safe_on_every_os(title, expected):
    assert export.safe_filename(title, "md") == expected


BIDI_CONTROLS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
OTHER_INVISIBLE = "\u00ad\u200b\u2060\ufeff\u180e\U000e0001\ufff9\x07\x1b\x85\x9b"


@pytest.mark.parametrize("char", BIDI_CONTROLS + OTHER_INVISIBLE + "\ud800\udc80")
def test_no_direction_control_or_invisible_character_reaches_a_file_name(char):
    """A right-to-left override made "invoice\u202efdp.exe" read as "invoiceexe.pdf"."""
    title = f"invoice{char}fdp.exe"
    name = export.safe_filename(title, "md")
    assert name in ("invoicefdp.exe.md", "invoice fdp.exe.md")
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in name)
    assert export.safe_filename(char * 3, "md") == "conversation.md"


def test_every_format_character_is_dropped_and_joiners_only_inside_words():
    every_cf = "".join(
        chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf")
    )
    name = export.safe_filename(f"a{every_cf}b", "md")
    assert name == "a b.md"  # the controls among them separate words, like a tab
    # ZWJ builds the emoji, ZWNJ a Persian word: they move nothing, so they stay inside words.
    assert export.safe_filename("👩\u200d💻 می\u200cخواهم", "md") == "👩\u200d💻 می\u200cخواهم.md"
    assert export.safe_filename("\u200d a \u200c b\u200d", "md") == "a b.md"


def test_export_to_a_folder_names_no_file_with_a_direction_control(tmp_path, monkeypatch):
    """`python -m assistant export -o FOLDER`, one conversation per bidi control in its title;
    the page's download buttons take the same `export_filename`."""
    db_path = tmp_path / "app.db"
    store = Store(Database(db_path))
    for char in BIDI_CONTROLS:
        ids = seeding.turn(store, None, "hello", Snapshot("openai", "gpt-a"))
        store.rename(ids.conversation_id, f"invoice{char}fdp.exe")
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    names = set()
    for conversation in store.list_conversations(limit=None):
        folder = tmp_path / f"out-{conversation.id}"
        folder.mkdir()
        argv = ["export", "--conversation", str(conversation.id), "--format", "md"]
        assert cli.main([*argv, "-o", str(folder)], io.StringIO()) == 0
        [written] = folder.iterdir()
        names.add(written.name)
    assert len(names) == 1, names  # every title gave the same, visible name
    [name] = names
    assert name.startswith("invoicefdp.exe ") and name.endswith(".md")
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in name)


@pytest.mark.parametrize(
    "title", ["CON .txt", "com¹", "LPT³.md", "conin$", "CONOUT$", "nul.tar.gz"]
)
def test_reserved_device_names_with_a_space_or_a_superscript_are_avoided(title):
    assert export.safe_filename(title, "md").startswith("conversation ")


def test_long_file_names_are_cut_on_a_character_boundary():
    name = export.safe_filename("长" * 200, "html")
    assert len(name.encode("utf-8")) <= export.MAX_NAME_BYTES + len(".html")
    assert name.endswith(".html") and name.startswith("长")
    name.encode("utf-8").decode("utf-8")  # no broken character


# -- import: this app's own files -------------------------------------------------------------


def test_round_trip_into_an_empty_database_is_identical(seeded, tmp_path):
    original = json.loads(export.json_text(seeded))
    target = Store(Database(tmp_path / "other.db"))
    result = target.import_conversations(read_conversations(export.json_text(seeded)))
    assert (len(result.imported), result.skipped, result.messages) == (2, 0, 5)
    assert comparable(json.loads(export.json_text(target))) == comparable(original)
    assert [h.conversation_id for h in target.search("世界") if h.role == "title"]


def test_importing_twice_adds_nothing_the_second_time(seeded, tmp_path):
    target = Store(Database(tmp_path / "other.db"))
    text = export.jsonl_text(seeded)
    target.import_conversations(read_conversations(text))
    again = target.import_conversations(read_conversations(text))
    assert (again.imported, again.skipped) == ([], 2)
    assert importing.describe(again) == "Nothing new: 2 conversations already here."
    assert len(target.list_conversations(limit=None)) == 2
    # Into the database it came from: every conversation is already there.
    assert seeded.import_conversations(read_conversations(text)).skipped == 2


def test_a_live_answer_in_a_file_is_imported_as_interrupted(tmp_path, store):
    data = {
        "format": "assistant-export",
        "version": 1,
        "conversations": [
            {
                "title": "t",
                "created_at": "2026-01-01T00:00:00Z",
                "messages": [
                    {"id": 1, "role": "user", "content": "q", "created_at": "2026-01-01"},
                    {
                        "id": 2,
                        "role": "assistant",
                        "content": "partial",
                        "status": "streaming",
                        "reply_to": 1,
                        "created_at": "2026-01-01",
                    },
                ],
            }
        ],
    }
    [conversation_id] = store.import_conversations(read_conversations(json.dumps(data))).imported
    answer = store.messages(conversation_id)[1]
    assert (answer.status, answer.content) == ("interrupted", "partial")
    assert (
        seeding.life(store).pending_answers(conversation_id) == []
    )  # importing never starts a generation


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"{not json", "not valid JSON (Expecting property name"),
        (b'{"hello": 1}', "not a file the app can import"),
        (b"[]", "empty list"),
        (b"[1, 2]", "not one this app knows"),
        (b'{"format": "assistant-export", "version": 9, "conversations": []}', "newer version"),
        (b'{"format": "assistant-export", "version": 1}', 'no "conversations" list'),
        (
            b'{"format": "assistant-export", "version": 1, "conversations": [{"title": "x",'
            b' "created_at": "t", "messages": [{"role": "system", "content": "s",'
            b' "created_at": "t"}]}]}',
            'Conversation 1 ("x"), message 1: role must be "user" or "assistant"',
        ),
        (
            b'{"format": "assistant-export", "version": 1, "conversations": [{"title": "x",'
            b' "created_at": "t", "messages": [{"role": "assistant", "content": "a",'
            b' "created_at": "t"}]}]}',
            "an answer with no question before it",
        ),
        (b'{"title": "a", "created_at": "t", "messages": []}\n{oops', "Line 2 of the JSON Lines"),
        (b'[{"title": "x", "mapping": {}}]', 'Conversation 1 ("x") has no "mapping"'),
        (b'[{"title": "x", "mapping": {"a": 5}}]', "message node 'a' is not an object"),
    ],
)
def test_bad_files_get_a_clear_message(content, message):
    with pytest.raises(ImportProblem) as caught:
        read_conversations(content)
    assert message in str(caught.value)


def test_an_import_that_fails_half_way_leaves_nothing_behind(store):
    good = ImportedConversation(
        "uid-good", "good", "t", "t", (ImportedMessage("1", "user", "hello", "t"),)
    )
    bad = ImportedConversation(
        "uid-bad", "bad", "t", "t", (ImportedMessage("1", "robot", "breaks the CHECK", "t"),)
    )
    with pytest.raises(Exception):  # noqa: B017 - the database refuses the second one
        store.import_conversations([good, bad])
    assert store.list_conversations(limit=None) == []
    assert store.search("hello") == []


# -- import: ChatGPT --------------------------------------------------------------------------


def test_chatgpt_export_keeps_its_tree_with_titles_times_and_reasoning(store):
    data = (FIXTURES / "chatgpt_conversations.json").read_bytes()
    result = store.import_conversations(read_conversations(data))
    assert (len(result.imported), result.skipped) == (2, 0)
    first, second = (store.get_conversation(i) for i in result.imported)
    assert first.title == "Sourdough starter help"
    assert first.created_at == "2024-03-01T10:00:00.000Z"
    assert first.updated_at == "2024-03-01T10:05:00.000Z"
    shown = transcript.active_exchanges(store, first.id)
    assert [(e.question.content, e.answer.content) for e in shown] == [
        ("How do I feed a sourdough starter?", "Feed it equal weights of flour and water daily."),
        (
            "Can I use rye flour?",
            "Yes, rye makes it more active.\n\nI also checked: rye has more enzymes.",
        ),
    ]  # current_node's branch; the system prompt and the tool call are left out
    assert len(shown[0].versions) == 2  # the regenerated first answer is kept as a version
    old = store.get_message(shown[0].versions[0])
    assert old.content == "Old answer that was regenerated."
    answer = shown[0].answer
    assert answer.model == "gpt-4o"
    assert answer.provider == importing.CHATGPT_PROVIDER
    assert answer.reply_to == answer.parent_id == shown[0].question.id
    assert shown[0].question.created_at == "2024-03-01T10:00:10.000Z"
    kinds = [p.kind for p in shown[1].answer.parts]
    assert kinds == ["reasoning", "tool_call", "tool_result", "text"]  # the browser call
    assert shown[1].answer.parts[2].text == "rye: high enzyme activity"
    reasoning = shown[1].answer.reasoning
    assert reasoning is not None and reasoning.data == {"seconds": 4.0}
    assert reasoning.text == "Comparing flours\nRye ferments faster than wheat."
    assert "Rye ferments" not in shown[1].answer.content  # reasoning is not the answer's text
    # No title in the file: one is made from the first question.
    assert second.title == "What is 2+2?"
    assert [m.content for m in store.messages(second.id)][1].startswith("4")
    assert [h.conversation_id for h in store.search("rye") if h.role == "user"] == [first.id]
    again = store.import_conversations(read_conversations(data))
    assert (again.imported, again.skipped) == ([], 2)


def test_chatgpt_tree_with_a_loop_is_refused(store):
    looped = [
        {
            "title": "loop",
            "current_node": "a",
            "mapping": {"a": {"id": "a", "parent": "b"}, "b": {"id": "b", "parent": "a"}},
        }
    ]
    with pytest.raises(ImportProblem, match="has a loop"):
        read_conversations(json.dumps(looped))


def _mutations(value, path=()):
    """Every place in a JSON document, each replaced by values of the wrong type."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _mutations(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _mutations(child, (*path, index))
    for wrong in (None, "text", 7, [], {}, True):
        if path and wrong != value:
            yield path, wrong


def _replaced(document, path, wrong):
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = wrong
    return copy


@pytest.mark.parametrize("source", ["chatgpt", "own"])
def test_no_malformed_variant_of_a_real_file_gives_anything_but_a_clear_message(source, seeded):
    if source == "chatgpt":
        document = json.loads((FIXTURES / "chatgpt_conversations.json").read_text())
    else:
        document = json.loads(export.json_text(seeded))
    tried = 0
    for path, wrong in _mutations(document):
        tried += 1
        try:
            read_conversations(json.dumps(_replaced(document, path, wrong)))
        except ImportProblem as exc:
            assert str(exc).strip()
    assert tried > 300  # every field of every message was tried


ODD_VALUES = (
    2**70,
    -1,
    1e308,
    "\ud800",
    "x" * 200_001,
    "yesterday",
    "\x00\u202e",
    [[[[[]]]]],
)


@pytest.mark.parametrize("source", ["chatgpt", "own"])
def test_odd_values_anywhere_are_imported_whole_or_refused_in_a_sentence(source, seeded, tmp_path):
    """Every field of a real file set to values that broke imports before (huge or negative
    numbers, lone surrogates, over-long text, dates that are not dates): each variant is either
    imported into a real database and readable, or refused with ImportProblem."""
    if source == "chatgpt":
        document = json.loads((FIXTURES / "chatgpt_conversations.json").read_text())
    else:
        document = json.loads(export.json_text(seeded))
    target = Store(Database(tmp_path / "odd.db"))
    paths = [path for path, _ in _mutations(document) if _ == "text"]
    outcomes = {"imported": 0, "refused": 0, "left out": 0}
    for path in paths:
        for odd in ODD_VALUES:
            text = json.dumps(_replaced(document, path, odd))
            try:
                reading = importing.read_file(text)
            except ImportProblem as exc:
                assert str(exc).strip()
                outcomes["refused"] += 1
                continue
            result = target.import_conversations(reading.conversations)
            for conversation_id in result.imported:
                target.messages(conversation_id)  # readable back
            for sentence in reading.left_out:  # the bad entry is named, the others come in
                assert sentence.strip() and "\n" not in sentence, sentence
                assert sentence.startswith("Conversation "), sentence
            outcomes["left out" if reading.left_out else "imported"] += 1
    refused = outcomes["refused"] + outcomes["left out"]
    assert outcomes["imported"] > 50 and refused > 50, outcomes
    frame = browse.summaries_frame(target.summaries())  # the table parses every stored time
    assert len(frame) == len(target.list_conversations(limit=None))


def test_a_file_nested_100000_deep_is_refused_in_a_sentence():
    with pytest.raises(ImportProblem, match="nests lists or objects too deeply"):
        read_conversations("[" * 100_000 + "]" * 100_000)


def test_imported_text_has_a_documented_limit_and_nothing_is_cut():
    record = {
        "title": "long",
        "created_at": "2026-01-01T00:00:00Z",
        "messages": [{"role": "user", "content": "x" * 200_001, "created_at": "2026-01-01"}],
    }
    with pytest.raises(ImportProblem, match="limited to 200,000"):
        read_conversations(json.dumps(record))
    record["messages"][0]["content"] = "x" * 200_000
    (conversation,) = read_conversations(json.dumps(record))
    assert len(conversation.messages[0].content) == 200_000
    assert conversation.messages[0].created_at == "2026-01-01T00:00:00.000Z"  # normalized
