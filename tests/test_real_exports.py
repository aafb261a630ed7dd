"""Real export files (tests/fixtures/real/, see SOURCES.md) imported as `python -m assistant
import FILE` imports them: each file into a fresh database, through the CLI's own code path.

For every file EXPECTED says what a correct import gives: the branch each conversation opens on
(the roles along its active path), that dates come from the file and not from the moment of the
import, how many answers were left unfinished, and a few texts that must (or must not) arrive.
Files the importer refuses or mangles today are in KNOWN_FAILURES with one line saying why: the
test skips them with that line, and fails once such a file imports correctly, so the list only
ever names what is still to fix.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from assistant import cli
from assistant.db import Database
from assistant.store import Store

REAL = Path(__file__).resolve().parent / "fixtures" / "real"
FILES = sorted(p.relative_to(REAL).as_posix() for p in REAL.rglob("*.json"))


@dataclass(frozen=True)
class Expect:
    """What a correct import of one file gives.

    `shapes`: per conversation that holds messages, in the file's order, the roles along the
    branch it opens on ("u" question, "a" answer) as an fnmatch pattern; "|" separates shapes
    that are equally right. None: the file is not an export, and must be refused in one
    sentence. Conversations without messages may be imported or left out.
    """

    shapes: tuple[str, ...] | None
    dated: bool = True  # every conversation and message carries a date in the file
    unfinished: int = 0  # answers the file marks as cut off or still being written
    contains: tuple[str, ...] = ()  # texts some message (text or parts) must hold
    lacks: tuple[str, ...] = ()  # texts no message may hold


EXPECTED: dict[str, Expect] = {
    "chatbotui/librechat_chatbotui-export.json": Expect(("uaua", "ua"), dated=False),
    "chatgpt/ailog_chatgpt_conversations.json": Expect(("uaua", "ua")),
    "chatgpt/bot-knows_chatgpt_export.json": Expect(("uaua", "ua")),
    "chatgpt/chatgpt-export-parser_example-conversation.json": Expect(("uaua",)),
    # The answers are generated images; the assistant's own closing texts are hidden and empty.
    "chatgpt/chatgpt-exporter_image-generation.json": Expect(
        ("u*a",), contains=('"seconds": 47', '"type": "attachment"')
    ),
    "chatgpt/chatgpt-exporter_thinking-single-preamble.json": Expect(
        ("ua",), contains=("preamble 1", "answer 1", '"seconds": 16')
    ),
    "chatgpt/chatgpt-exporter_thinking-summaries.json": Expect(
        ("uaua",), contains=('"seconds": 29', '"seconds": 14')
    ),
    "chatgpt/chatlore_conversations.json": Expect(
        ("uaua", "ua"),
        contains=("idx_orders_customer", '"text": "CREATE INDEX"', '"type": "attachment"'),
    ),
    "chatgpt/claude-handoff_chatgpt_export.json": Expect(("ua",), contains=("app_net",)),
    "chatgpt/convovault_chatgpt_conversations.json": Expect(
        ("uaua", "ua"), contains=("squares = [n * n",)
    ),
    "chatgpt/echomine_001_simple_text.json": Expect(("ua",)),
    # The file's current node is the user's last message, which has no answer.
    "chatgpt/everychat_chatgpt_conversations.json": Expect(("uau",)),
    # A fragment: the question is not in the file, the chat starts with the answer.
    "chatgpt/librechat_chatgpt-citations.json": Expect(
        ("a",), contains=("Signal Sciences - Crunchbase Company Profile",)
    ),
    "chatgpt/librechat_chatgpt-modern-export.json": Expect(("uaua", "ua")),
    "chatgpt/librechat_chatgpt-tree.json": Expect(("uauaua",), unfinished=1),
    "chatgpt/personify_conversations.json": Expect(("ua",)),
    # Another project's own list of {title, messages: [{role: "human", …}]}, not Claude.ai's.
    "claude/ailog_claude_conversations.json": Expect(None),
    "claude/bot-knows_claude_export.json": Expect(("uaua",)),
    "claude/chatlore_conversations.json": Expect(("uau", "ua"), contains=("Finished dev profile",)),
    "claude/claude-handoff_claude_export_multi.json": Expect(("uaua", "uaua")),
    "claude/claude-handoff_claude_web_export.json": Expect(("uaua", "ua")),
    "claude/claude-to-sqlite_example.json": Expect(("ua",)),
    "claude/convovault_claude_conversations.json": Expect(
        ("uau", "ua"), contains=("tailor it for the weather forecast",)
    ),
    "claude/everychat_claude_conversations.json": Expect(("ua",)),
    "claude/personify_conversations.json": Expect(("ua",)),
    "librechat/librechat-export_messagesTree.json": Expect(("uauaua",)),
    "librechat/librechat-export_recursive.json": Expect(("uauaua",)),
    "librechat/librechat-opts-nonr-branches.json": Expect(("ua",), unfinished=1),
    # Which of the newest branches is on screen is open; it ends on an answer.
    "librechat/librechat-tree.json": Expect(("uaua|uauaua",)),
    "librechat/vestai-linear.json": Expect(("ua",)),
    "open_webui/librechat_openwebui-export.json": Expect(
        ("ua", "ua", "ua"), contains=('"seconds": 3', "Paris: 18C, rain"), lacks=('"input_text"',)
    ),
}

KNOWN_FAILURES: dict[str, str] = {}


def test_every_file_has_its_source_and_its_expectation() -> None:
    """A file added without SOURCES.md's row or an expectation, or a stale entry, fails here."""
    sources = (REAL / "SOURCES.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+\.json)` \|", sources, flags=re.M))
    assert listed == set(FILES)
    assert set(EXPECTED) == set(FILES)
    assert set(KNOWN_FAILURES) <= set(FILES)
    assert len(FILES) >= 30


@pytest.mark.parametrize("name", FILES)
def test_real_export_imports_as_its_app_shows_it(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    known = KNOWN_FAILURES.get(name)
    if known is None:
        _check_import(name, tmp_path, monkeypatch, capsys)
        return
    try:
        _check_import(name, tmp_path, monkeypatch, capsys)
    except AssertionError:
        pytest.skip(f"known failure: {known}")
    pytest.fail(f"{name} now imports as expected: remove it from KNOWN_FAILURES.")


def _check_import(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m assistant import FILE --json` in this process, then the database read back."""
    expect = EXPECTED[name]
    db_path = tmp_path / "app.db"
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    monkeypatch.chdir(tmp_path)  # no secrets file or settings of the checkout's own
    out = io.StringIO()
    started = datetime.now(UTC)
    code = cli.main(["import", str(REAL / name), "--json"], out)
    finished = datetime.now(UTC)
    err = capsys.readouterr().err
    assert "Traceback" not in err + out.getvalue()
    if expect.shapes is None:
        assert code == 1
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return
    assert code == 0, err.strip()
    conversation_ids = json.loads(out.getvalue())["imported"]
    store = Store(Database(db_path))
    shown = [_shape(store, cid) for cid in conversation_ids]
    shown = [shape for shape in shown if shape]  # empty conversations are optional
    assert len(shown) == len(expect.shapes), (shown, expect.shapes)
    for shape, pattern in zip(shown, expect.shapes, strict=True):
        assert any(fnmatchcase(shape, p) for p in pattern.split("|")), (shape, pattern)
    messages = [m for cid in conversation_ids for m in store.messages(cid)]
    answers = [m for m in messages if m.role == "assistant"]
    unfinished = [m.content[:40] for m in answers if m.status != "complete"]
    assert len(unfinished) == expect.unfinished, unfinished
    if expect.dated:
        # A date the importer made up is one from the import's own few seconds; the files'
        # own dates are months or years away from any moment this test runs.
        window = (started - timedelta(seconds=2), finished + timedelta(seconds=2))
        conversations = [store.get_conversation(cid) for cid in conversation_ids]
        for stamp in [c.created_at for c in conversations] + [m.created_at for m in messages]:
            assert not window[0] <= _moment(stamp) <= window[1], stamp
    stored = "\n".join(m.content + "\n" + (m.parts_json or "") for m in messages)
    for text in expect.contains:
        assert text in stored, text
    for text in expect.lacks:
        assert text not in stored, text


def _shape(store: Store, conversation_id: int) -> str:
    """The roles along the branch the conversation opens on: "uaua" and so on."""
    return "".join(step.role[0] for step in store.active_path(conversation_id))


def _moment(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
