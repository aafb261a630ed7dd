"""The chat page reads only the exchanges it shows: the window over a long conversation."""

from __future__ import annotations

import seed

from assistant import transcript
from assistant.store import FinalResult, Snapshot, Store

SNAP = Snapshot("fake", "m")


def _conversation(store: Store, exchanges: int) -> tuple[int, list[int], list[int]]:
    """(conversation id, question ids, answer ids) of a finished conversation."""
    questions, answers = [], []
    conversation_id = None
    for number in range(exchanges):
        ids = seed.finished_turn(
            store,
            conversation_id,
            f"question {number}",
            FinalResult("complete", f"answer {number}"),
            SNAP,
        )
        conversation_id = ids.conversation_id
        questions.append(ids.user_message_id)
        answers.append(ids.assistant_message_id)
    assert conversation_id is not None
    return conversation_id, questions, answers


def test_the_window_holds_the_last_exchanges_and_counts_the_earlier_ones(store):
    conversation_id, questions, _ = _conversation(store, 120)
    view = transcript.window(store, conversation_id, shown=50)
    assert view.earlier == 70
    assert view.total == 120
    assert [e.question.id for e in view.exchanges] == questions[70:]
    assert all(e.answer is not None and len(e.versions) == 1 for e in view.exchanges)


def test_a_short_conversation_is_shown_whole(store):
    conversation_id, questions, _ = _conversation(store, 3)
    view = transcript.window(store, conversation_id, shown=50)
    assert view.earlier == 0
    assert [e.question.id for e in view.exchanges] == questions


def test_the_window_reaches_back_to_a_message_to_jump_to(store):
    conversation_id, questions, answers = _conversation(store, 80)
    by_answer = transcript.window(store, conversation_id, shown=50, must_show=answers[5])
    assert by_answer.earlier == 5
    assert by_answer.exchanges[0].question.id == questions[5]
    by_question = transcript.window(store, conversation_id, shown=50, must_show=questions[12])
    assert by_question.earlier == 12


def test_a_message_of_another_conversation_or_none_at_all_moves_nothing(store):
    conversation_id, _, _ = _conversation(store, 60)
    other, _, other_answers = _conversation(store, 2)
    assert other != conversation_id
    for stranger in (other_answers[0], 999_999):
        assert transcript.window(store, conversation_id, 50, must_show=stranger).earlier == 10


def test_a_retry_of_an_early_answer_starts_a_branch_beside_the_rest(store):
    conversation_id, questions, answers = _conversation(store, 60)
    retried = seed.answer(store, questions[2], SNAP)  # written after everything else
    seed.finish(store, retried, FinalResult("complete", "second version"))
    tail = transcript.window(store, conversation_id, shown=50)
    assert tail.total == 3 and tail.exchanges[-1].answer.id == retried
    assert tail.exchanges[-1].versions == (answers[2], retried)
    store.show_branch(answers[2])  # ‹ : the first version, and the 57 exchanges after it
    back = transcript.window(store, conversation_id, shown=50)
    assert (back.total, back.exchanges[-1].answer.id) == (60, answers[-1])
    early = transcript.window(store, conversation_id, shown=50, must_show=answers[2])
    assert early.earlier == 2 and early.exchanges[0].version_index == 0


def test_a_message_off_the_branch_moves_nothing(store):
    conversation_id, questions, answers = _conversation(store, 60)
    retried = seed.answer(store, questions[2], SNAP)
    seed.finish(store, retried, FinalResult("complete", "second version"))
    store.show_branch(answers[2])  # the first version: 60 exchanges, the retry off screen
    assert transcript.window(store, conversation_id, 50, must_show=retried).earlier == 10


def test_an_empty_conversation_has_an_empty_window(store):
    with store.db.transaction() as conn:  # as an import of an empty chat leaves it
        conversation_id = conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at) VALUES ('empty', 'x', 'x')"
        ).lastrowid
    assert transcript.window(store, conversation_id, shown=50) == transcript.Window([], 0)
