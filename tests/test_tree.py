"""Conversations as trees: the migration from the line, edit and resend, branches, fork, the
context the model receives per branch, and reasoning in both streaming styles."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator

import pytest
import seed
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario

from assistant import migrations, transcript
from assistant.db import Database
from assistant.errors import ConversationBusy, EmptyMessage, InvalidInput
from assistant.parts import ThinkSplitter
from assistant.providers import OpenAICompatProvider
from assistant.store import FinalResult, Snapshot, Store
from assistant.turns import TurnManager

SNAP = Snapshot("fake", "fake-model")


def run_to_end(manager: TurnManager, answer_id: int) -> str:
    return "".join(manager.follow(answer_id, idle_tick=0.05))


def shown(store: Store, conversation_id: int) -> list[tuple[str, str | None]]:
    return [
        (e.question.content, e.answer.content if e.answer else None)
        for e in transcript.active_exchanges(store, conversation_id)
    ]


# -- the migration -----------------------------------------------------------------------------


def _v6_database(path) -> dict[str, int]:
    """A version-6 history as people have it: a regenerated answer, a failure retried in the
    middle after the next question, an interrupted answer, an unanswered question."""
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrations.migrate(conn, target=6) == 6
    stamp = "2026-03-01T10:00:00.000Z"
    for cid, title in ((1, "Explain WAL"), (2, "第一个问题"), (3, "Empty")):
        conn.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at, uid)"
            " VALUES (?, ?, ?, ?, ?)",
            (cid, title, stamp, stamp, f"uid-{cid}"),
        )
    rows = [
        # key, conversation, seq, role, content, status, reply_to (key)
        ("q1", 1, 1, "user", "Explain WAL", "complete", None),
        ("a1", 1, 2, "assistant", "First try", "complete", "q1"),
        ("a1b", 1, 3, "assistant", "Write-ahead logging keeps…", "complete", "q1"),  # regenerated
        ("q2", 1, 4, "user", "And checkpoints?", "complete", None),
        ("a2", 1, 5, "assistant", "", "error", "q2"),
        ("q3", 1, 6, "user", "Still there?", "complete", None),
        ("a3", 1, 7, "assistant", "A checkpoint co", "interrupted", "q3"),
        ("a2b", 1, 8, "assistant", "Checkpoints copy the WAL", "complete", "q2"),  # late retry
        ("p1", 2, 1, "user", "第一个问题", "complete", None),
        ("p2", 2, 2, "user", "没有回答的问题", "complete", None),
        ("r2", 2, 3, "assistant", "回答", "complete", "p2"),
    ]
    ids: dict[str, int] = {}
    for key, cid, seq, role, content, status, reply in rows:
        ids[key] = conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, reply_to,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, seq, role, content, status, ids.get(reply) if reply else None, stamp, stamp),
        ).lastrowid
    conn.close()
    return ids


def test_migration_7_builds_the_tree_the_old_view_showed(db_path):
    ids = _v6_database(db_path)
    store = Store(Database(db_path))
    one = store.get_conversation(1)
    assert one.active_leaf == ids["a3"]  # the last question's newest answer
    by_key = {key: store.get_message(i) for key, i in ids.items()}
    assert by_key["q1"].parent_id is None
    assert by_key["a1b"].parent_id == ids["q1"]  # versions are siblings
    assert by_key["q2"].parent_id == ids["a1b"]  # the newest version when it was sent
    assert by_key["q3"].parent_id == ids["a2"]  # the retry came later: its own branch
    assert [by_key[k].depth for k in ("q1", "a1", "q2", "a2", "q3", "a3", "a2b")] == [
        0,
        1,
        2,
        3,
        4,
        5,
        3,
    ]
    assert shown(store, 1) == [
        ("Explain WAL", "Write-ahead logging keeps…"),
        ("And checkpoints?", ""),
        ("Still there?", "A checkpoint co"),
    ]
    exchanges = transcript.active_exchanges(store, 1)
    assert exchanges[0].versions == (ids["a1"], ids["a1b"])
    assert exchanges[1].versions == (ids["a2"], ids["a2b"])
    # An unanswered question is followed by the next one; nothing is lost.
    assert store.get_message(ids["p2"]).parent_id == ids["p1"]
    assert shown(store, 2) == [("第一个问题", None), ("没有回答的问题", "回答")]
    assert store.get_conversation(3).active_leaf is None and shown(store, 3) == []
    summaries = {s.id: s for s in store.summaries()}
    assert (summaries[1].messages, summaries[1].branches) == (8, 3)  # a1, a2b and a3 are leaves
    assert summaries[1].path_messages == 6  # the branch on screen
    assert summaries[2].branches == 1
    assert [h.message_id for h in store.search("checkpoint")] != []  # still searchable


# -- edit, switch, fork ------------------------------------------------------------------------


def _three_exchanges(manager: TurnManager, fake_provider, snapshot) -> list[int]:
    """q1 a1 q2 a2 q3 a3, finished; returns the six ids."""
    conversation = None
    ids: list[int] = []
    for n in (1, 2, 3):
        fake_provider.enqueue([f"answer {n}"])
        turn = manager.send(conversation, f"question {n}", snapshot)
        run_to_end(manager, turn.assistant_message_id)
        conversation = turn.conversation_id
        ids += [turn.user_message_id, turn.assistant_message_id]
    return ids


def test_edit_branches_beside_the_original_and_switching_finds_it_intact(
    manager, store, snapshot, fake_provider
):
    q1, a1, q2, a2, q3, a3 = _three_exchanges(manager, fake_provider, snapshot)  # noqa: RUF059
    conversation = store.get_message(q1).conversation_id
    before = {m.id: (m.content, m.status) for m in store.messages(conversation)}
    fake_provider.enqueue(["edited answer"])
    edit = manager.edit(q2, "  question 2, better  ", snapshot)
    assert run_to_end(manager, edit.assistant_message_id) == "edited answer"
    assert shown(store, conversation) == [
        ("question 1", "answer 1"),
        ("question 2, better", "edited answer"),
    ]
    exchanges = transcript.active_exchanges(store, conversation)
    assert exchanges[1].edits == (q2, edit.user_message_id)
    # Nothing was deleted or changed by editing.
    after = {m.id: (m.content, m.status) for m in store.messages(conversation)}
    assert {k: after[k] for k in before} == before
    # ‹ : the original edit, down to its latest leaf (a3).
    assert store.show_branch(q2) == a3
    assert shown(store, conversation)[-1] == ("question 3", "answer 3")
    assert store.show_branch(edit.user_message_id) == edit.assistant_message_id
    # A refused edit writes nothing.
    with pytest.raises(EmptyMessage):
        manager.edit(q1, "   ", snapshot)
    assert len(store.messages(conversation)) == 8


def test_an_edit_may_branch_while_another_branch_streams(manager, store, snapshot, fake_provider):
    q1, a1, q2, a2, q3, a3 = _three_exchanges(manager, fake_provider, snapshot)  # noqa: RUF059
    conversation = store.get_message(q1).conversation_id
    slow = fake_provider.enqueue(["slow ", "words"], hold_after=1)
    live = manager.send(conversation, "question 4", snapshot)
    slow.held.wait(5)
    with pytest.raises(ConversationBusy):  # a reply to the live answer would miss it
        manager.send(conversation, "question 5", snapshot)
    fake_provider.enqueue(["branch answer"])
    edit = manager.edit(q3, "question 3 again", snapshot)
    assert run_to_end(manager, edit.assistant_message_id) == "branch answer"
    assert store.get_message(live.assistant_message_id).status == "streaming"  # still going
    slow.release.set()
    assert run_to_end(manager, live.assistant_message_id) == "slow words"
    assert store.get_conversation(conversation).active_leaf == edit.assistant_message_id
    store.show_branch(live.user_message_id)
    assert shown(store, conversation)[-1] == ("question 4", "slow words")


def test_regenerate_in_the_middle_starts_a_branch_and_keeps_the_rest(
    manager, store, snapshot, fake_provider
):
    q1, a1, q2, a2, q3, a3 = _three_exchanges(manager, fake_provider, snapshot)  # noqa: RUF059
    conversation = store.get_message(q1).conversation_id
    fake_provider.enqueue(["answer 1, again"])
    again = manager.regenerate(a1, snapshot)
    run_to_end(manager, again)
    assert shown(store, conversation) == [("question 1", "answer 1, again")]
    assert store.show_branch(a1) == a3  # the old version still leads to the rest
    assert len(shown(store, conversation)) == 3


def test_fork_copies_the_path_and_the_settings_into_a_new_chat(
    manager, store, snapshot, fake_provider
):
    q1, a1, q2, a2, q3, a3 = _three_exchanges(manager, fake_provider, snapshot)  # noqa: RUF059
    source = store.get_message(q1).conversation_id
    fork = manager.lifecycle.fork(a2)
    assert fork != source
    forked = store.get_conversation(fork)
    assert forked.forked_from == a2 and forked.title == "question 1 (fork)"
    assert shown(store, fork) == [("question 1", "answer 1"), ("question 2", "answer 2")]
    copy = store.get_message(forked.active_leaf)
    assert (copy.model, copy.snapshot) == (store.get_message(a2).model, snapshot)
    assert len(shown(store, source)) == 3  # the source is unchanged
    # The fork continues on its own; its context is its own path.
    fake_provider.enqueue(["in the fork"])
    turn = manager.send(fork, "question 3 in the fork", snapshot)
    run_to_end(manager, turn.assistant_message_id)
    sent = fake_provider.calls[-1].messages
    assert [m["content"] for m in sent][1:] == [
        "question 1",
        "answer 1",
        "question 2",
        "answer 2",
        "question 3 in the fork",
    ]


def test_fork_of_an_answer_still_being_written_is_refused(manager, store, snapshot, fake_provider):
    slow = fake_provider.enqueue(["a"], hold_after=0)
    turn = manager.send(None, "q", snapshot)
    slow.held.wait(5)
    with pytest.raises(InvalidInput, match="still being written"):
        manager.lifecycle.fork(turn.assistant_message_id)
    slow.release.set()
    run_to_end(manager, turn.assistant_message_id)


# -- the context per branch, at the server ------------------------------------------------------


@pytest.fixture
def sdk_manager(store: Store, fake_server: FakeOpenAIServer) -> Iterator[TurnManager]:
    provider = OpenAICompatProvider("sk-test", fake_server.base_url, max_retries=0)
    turns = TurnManager(store, lambda _snapshot: provider, checkpoint_interval=0.0)
    yield turns
    turns.shutdown(wait=2)


def _sent(server: FakeOpenAIServer) -> list[tuple[str, str]]:
    body = server.completions()[-1].body or {}
    return [(m["role"], m["content"]) for m in body["messages"]]


@pytest.mark.parametrize("edited", [0, 1, 2])
def test_the_model_receives_the_active_branch_only(sdk_manager, store, fake_server, edited):
    snapshot = Snapshot("fake", "fake-model", {}, "Be brief.")
    conversation, questions = None, []
    for n in (1, 2, 3):
        fake_server.enqueue(Scenario(chunks=[f"answer {n}"]))
        turn = sdk_manager.send(conversation, f"question {n}", snapshot)
        run_to_end(sdk_manager, turn.assistant_message_id)
        conversation, questions = turn.conversation_id, [*questions, turn.user_message_id]
    # A failed version on the path's last answer must not be sent either.
    fake_server.enqueue(Scenario(status=500, error_message="boom"))
    failed = sdk_manager.regenerate(store.get_message(questions[2]).id + 1, snapshot)
    run_to_end(sdk_manager, failed)
    fake_server.enqueue(Scenario(chunks=["edited"]))
    edit = sdk_manager.edit(questions[edited], f"question {edited + 1}, edited", snapshot)
    run_to_end(sdk_manager, edit.assistant_message_id)
    expected = [("system", "Be brief.")]
    for n in range(1, edited + 1):
        expected += [("user", f"question {n}"), ("assistant", f"answer {n}")]
    expected.append(("user", f"question {edited + 1}, edited"))
    assert _sent(fake_server) == expected
    # The next message continues the edited branch.
    fake_server.enqueue(Scenario(chunks=["next"]))
    turn = sdk_manager.send(conversation, "after the edit", snapshot)
    run_to_end(sdk_manager, turn.assistant_message_id)
    assert _sent(fake_server) == [*expected, ("assistant", "edited"), ("user", "after the edit")]


# -- reasoning -------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["reasoning_content", "think"])
def test_reasoning_in_both_styles_becomes_a_part_kept_out_of_the_context(
    sdk_manager, store, fake_server, style
):
    fake_server.enqueue(
        Scenario(
            chunks=["The answer", " is 4."],
            reasoning=["Two plus two… ", "is four."],
            reasoning_style=style,
        )
    )
    turn = sdk_manager.send(None, "2+2?", SNAP)
    assert run_to_end(sdk_manager, turn.assistant_message_id) == "The answer is 4."
    answer = store.get_message(turn.assistant_message_id)
    assert answer.content == "The answer is 4."
    assert [p.kind for p in answer.parts] == ["reasoning", "text"]
    assert answer.reasoning.text == "Two plus two… is four."
    assert isinstance(answer.reasoning.data["seconds"], float)
    assert store.search("plus") == []  # search indexes the answer's text
    fake_server.enqueue(Scenario(chunks=["ok"]))
    follow_up = sdk_manager.send(turn.conversation_id, "thanks", SNAP)
    run_to_end(sdk_manager, follow_up.assistant_message_id)
    assert _sent(fake_server) == [
        ("user", "2+2?"),
        ("assistant", "The answer is 4."),
        ("user", "thanks"),
    ]


def test_reasoning_is_checkpointed_while_it_streams(sdk_manager, store, fake_server):
    scenario = Scenario(chunks=["done"], reasoning=["thinking ", "hard"], hold_after=0)
    fake_server.enqueue(scenario)
    turn = sdk_manager.send(None, "q", SNAP)
    wait_until(lambda: store.get_message(turn.assistant_message_id).reasoning is not None)
    partial = store.get_message(turn.assistant_message_id)
    assert partial.status == "streaming" and partial.reasoning.text == "thinking hard"
    scenario.release.set()
    run_to_end(sdk_manager, turn.assistant_message_id)


@pytest.mark.parametrize("seed_", range(20))
def test_think_tags_split_anywhere_are_found(seed_):
    text = " <think>\nweigh options</think>\n\nThe answer: <think> is a tag."
    rng = random.Random(seed_)
    cuts = sorted(rng.sample(range(1, len(text)), 6))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    splitter = ThinkSplitter()
    thought = said = ""
    for piece in pieces:
        t, s = splitter.feed(piece)
        thought, said = thought + t, said + s
    t, s = splitter.flush()
    assert (thought + t, said + s) == ("weigh options", "The answer: <think> is a tag.")


def test_text_without_think_passes_untouched_and_an_unclosed_thought_stays_reasoning():
    plain = ThinkSplitter()
    assert plain.feed("<b>bold</b>") == ("", "<b>bold</b>")
    cut = ThinkSplitter()
    assert cut.feed("<think>still thin") == ("still thin", "")
    assert cut.flush() == ("", "")
    short = ThinkSplitter()
    assert short.feed("<th") == ("", "")
    assert short.flush() == ("", "<th")


def test_seeded_helpers_still_write_a_line(store):
    ids = seed.finished_turn(store, None, "q", FinalResult("complete", "a"), SNAP)
    assert store.get_conversation(ids.conversation_id).active_leaf == ids.assistant_message_id
