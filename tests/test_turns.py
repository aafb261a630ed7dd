"""The two-phase turn lifecycle against a real SQLite file and a fake provider."""

from __future__ import annotations

import threading
import time

import pytest
import seed
from conftest import wait_until
from fakes import provider_error

from assistant.errors import (
    AlreadyClaimed,
    ConversationBusy,
    EmptyMessage,
    MessageTooLong,
    NotFound,
)
from assistant.store import Snapshot
from assistant.turns import LOCAL, QUEUED, REMOTE, WAITING, WRITING, Progress, TurnManager


def run_to_end(manager: TurnManager, answer_id: int) -> str:
    return "".join(manager.follow(answer_id, idle_tick=0.05))


def test_create_writes_user_message_and_pending_answer_with_snapshot(manager, store, snapshot):
    ids = manager.create(None, "  What is SQLite?  ", snapshot)
    conversation = store.get_conversation(ids.conversation_id)
    assert conversation.title == "What is SQLite?"
    user, answer = store.messages(ids.conversation_id)
    assert (user.role, user.content, user.status) == ("user", "What is SQLite?", "complete")
    assert (answer.role, answer.status, answer.content) == ("assistant", "pending", "")
    assert answer.reply_to == user.id
    assert answer.snapshot == snapshot
    assert user.seq < answer.seq


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_message_is_refused_and_nothing_is_written(manager, store, snapshot, text):
    with pytest.raises(EmptyMessage):
        manager.create(None, text, snapshot)
    assert store.list_conversations() == []


def test_oversized_message_gets_a_clear_message_and_nothing_is_written(manager, store, snapshot):
    with pytest.raises(MessageTooLong, match="1,001 characters; the limit is 1,000"):
        manager.create(None, "x" * 1001, snapshot)
    assert store.list_conversations() == []


def test_create_in_a_missing_conversation_writes_nothing(manager, store, snapshot):
    with pytest.raises(NotFound):
        manager.create(12345, "hello", snapshot)
    assert store.list_conversations() == []


def test_stream_follows_deltas_and_finishes_with_usage_and_timings(
    manager, store, snapshot, fake_provider
):
    fake_provider.enqueue(["Hel", "lo", " there"])
    ids = manager.create(None, "hi", snapshot)
    manager.start(ids.assistant_message_id)
    assert run_to_end(manager, ids.assistant_message_id) == "Hello there"
    answer = store.get_message(ids.assistant_message_id)
    assert answer.status == "complete"
    assert answer.content == "Hello there"
    assert answer.finish_reason == "stop"
    assert (answer.prompt_tokens, answer.completion_tokens) == (5, 3)
    assert answer.first_token_s is not None and answer.total_s >= answer.first_token_s


def test_request_carries_snapshot_system_prompt_model_and_params(manager, snapshot, fake_provider):
    ids = manager.create(None, "hi", snapshot)
    manager.start(ids.assistant_message_id)
    run_to_end(manager, ids.assistant_message_id)
    request = fake_provider.calls[0]
    assert request.model == "fake-model"
    assert request.params == {"temperature": 0.5}
    assert request.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


def test_two_callers_claiming_at_once_start_the_turn_exactly_once(
    manager, store, snapshot, fake_provider
):
    ids = manager.create(None, "hi", snapshot)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def claim() -> None:
        barrier.wait()
        try:
            manager.start(ids.assistant_message_id)
            outcomes.append("started")
        except AlreadyClaimed:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["started"]
    run_to_end(manager, ids.assistant_message_id)
    assert len(fake_provider.calls) == 1


def test_partial_text_is_checkpointed_while_streaming(manager, store, snapshot, fake_provider):
    script = fake_provider.enqueue(["one ", "two ", "three"], hold_after=2)
    ids = manager.create(None, "count", snapshot)
    manager.start(ids.assistant_message_id)
    assert script.held.wait(5)
    stored = wait_until(
        lambda: (
            store.get_message(ids.assistant_message_id).content == "one two "
            and store.get_message(ids.assistant_message_id)
        )
    )
    assert stored.status == "streaming"
    script.release.set()
    assert run_to_end(manager, ids.assistant_message_id) == "one two three"


def test_stop_keeps_the_partial_answer(manager, store, snapshot, fake_provider):
    script = fake_provider.enqueue(["Once ", "upon ", "a time"], hold_after=2)
    ids = manager.create(None, "tell a story", snapshot)
    manager.start(ids.assistant_message_id)
    assert script.held.wait(5)
    assert manager.stop(ids.assistant_message_id) is True
    answer = store.get_message(ids.assistant_message_id)
    assert answer.status == "stopped"
    assert answer.content == "Once upon "
    assert not manager.is_live(ids.assistant_message_id)


def test_stop_while_the_provider_is_silent_still_ends_the_turn(
    manager, store, snapshot, fake_provider
):
    script = fake_provider.enqueue(["Half ", "said ", "late words"], hold_after=2, deaf=True)
    ids = manager.create(None, "q", snapshot)
    manager.start(ids.assistant_message_id)
    assert script.held.wait(5)
    manager.stop(ids.assistant_message_id, wait=0.1)
    wait_until(lambda: not manager.is_live(ids.assistant_message_id))
    answer = store.get_message(ids.assistant_message_id)
    assert (answer.status, answer.content) == ("stopped", "Half said ")
    script.release.set()  # the provider finally speaks: its words must not be added
    manager.shutdown(wait=2)  # joins the workers
    assert store.get_message(ids.assistant_message_id).content == "Half said "


def test_stop_before_start_ends_a_pending_turn(manager, store, snapshot, fake_provider):
    ids = manager.create(None, "never mind", snapshot)
    assert manager.stop(ids.assistant_message_id) is True
    assert store.get_message(ids.assistant_message_id).status == "stopped"
    with pytest.raises(AlreadyClaimed):
        manager.start(ids.assistant_message_id)
    assert fake_provider.calls == []


def test_provider_error_mid_stream_keeps_partial_text_and_a_plain_message(
    manager, store, snapshot, fake_provider
):
    fake_provider.enqueue(
        ["The answer ", "is "],
        fail=provider_error("stream_cut", "The connection broke off."),
        fail_after=2,
    )
    ids = manager.create(None, "q", snapshot)
    manager.start(ids.assistant_message_id)
    assert run_to_end(manager, ids.assistant_message_id) == "The answer is "
    answer = store.get_message(ids.assistant_message_id)
    assert answer.status == "error"
    assert answer.content == "The answer is "
    assert answer.error == "The connection broke off."


def test_unexpected_exception_ends_the_turn_as_error_not_streaming(
    manager, store, snapshot, fake_provider
):
    fake_provider.enqueue(["partial"], fail=KeyError("boom"), fail_after=1)
    ids = manager.create(None, "q", snapshot)
    manager.start(ids.assistant_message_id)
    run_to_end(manager, ids.assistant_message_id)
    answer = store.get_message(ids.assistant_message_id)
    assert answer.status == "error"
    assert answer.content == "partial"
    assert "Unexpected error (KeyError)" in answer.error


def test_turn_left_streaming_by_a_dead_process_becomes_interrupted(store, snapshot, fake_provider):
    ids_dead = seed.turn(store, None, "old question", snapshot)
    seed.claim(store, ids_dead.assistant_message_id, time.time() - 120)
    seed.checkpoint(store, ids_dead.assistant_message_id, "half an ans", time.time() - 120)
    # A live generation in another process (fresh heartbeat) must not be touched.
    ids_alive = seed.turn(store, None, "other question", snapshot)
    seed.claim(store, ids_alive.assistant_message_id, time.time())

    turns = TurnManager(store, lambda _p: fake_provider, stale_after=30)
    try:
        dead = store.get_message(ids_dead.assistant_message_id)
        assert dead.status == "interrupted"
        assert dead.content == "half an ans"
        assert "stopped while this answer was being written" in dead.error
        assert store.get_message(ids_alive.assistant_message_id).status == "streaming"
    finally:
        turns.shutdown()


def test_regenerate_adds_a_version_and_keeps_the_earlier_answer(
    manager, store, snapshot, fake_provider
):
    fake_provider.enqueue(["first version"])
    fake_provider.enqueue(["second version"])
    ids = manager.create(None, "q", snapshot)
    manager.start(ids.assistant_message_id)
    run_to_end(manager, ids.assistant_message_id)
    new_id = manager.regenerate(ids.assistant_message_id, snapshot)
    run_to_end(manager, new_id)
    answers = [m for m in store.messages(ids.conversation_id) if m.role == "assistant"]
    assert [a.content for a in answers] == ["first version", "second version"]
    assert {a.reply_to for a in answers} == {ids.user_message_id}
    # The new version's context is the question only, not the earlier answer to it.
    assert fake_provider.calls[1].messages[-1] == {"role": "user", "content": "q"}
    assert all(m["content"] != "first version" for m in fake_provider.calls[1].messages)


def test_context_never_includes_failed_pending_or_empty_answers(
    manager, store, snapshot, fake_provider
):
    fake_provider.enqueue(["good answer"])
    fake_provider.enqueue(["broken"], fail=provider_error(), fail_after=1)
    fake_provider.enqueue([], hold_after=None)  # an empty completion
    fake_provider.enqueue(["fine"])

    first = manager.create(None, "one", snapshot)
    manager.start(first.assistant_message_id)
    run_to_end(manager, first.assistant_message_id)
    cid = first.conversation_id

    second = manager.create(cid, "two", snapshot)
    manager.start(second.assistant_message_id)
    run_to_end(manager, second.assistant_message_id)  # error, partial "broken"

    third = manager.create(cid, "three", snapshot)
    manager.start(third.assistant_message_id)
    run_to_end(manager, third.assistant_message_id)  # complete but empty

    fourth = manager.create(cid, "four (stopped before it started)", snapshot)
    manager.stop(fourth.assistant_message_id)
    fifth = manager.create(cid, "five", snapshot)
    manager.start(fifth.assistant_message_id)
    run_to_end(manager, fifth.assistant_message_id)

    sent = fake_provider.calls[-1].messages
    assert sent == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "good answer"},
        {"role": "user", "content": "two"},
        {"role": "user", "content": "three"},
        {"role": "user", "content": "four (stopped before it started)"},
        {"role": "user", "content": "five"},
    ]


def test_stopped_partial_answer_stays_in_context(manager, store, snapshot, fake_provider):
    script = fake_provider.enqueue(["partial ", "rest"], hold_after=1)
    first = manager.create(None, "one", snapshot)
    manager.start(first.assistant_message_id)
    assert script.held.wait(5)
    manager.stop(first.assistant_message_id)
    nxt = manager.create(first.conversation_id, "two", snapshot)
    manager.start(nxt.assistant_message_id)
    run_to_end(manager, nxt.assistant_message_id)
    assert {"role": "assistant", "content": "partial "} in fake_provider.calls[-1].messages


def test_follow_of_a_finished_answer_yields_the_stored_text(manager, snapshot, fake_provider):
    fake_provider.enqueue(["stored ", "text"])
    ids = manager.create(None, "q", snapshot)
    manager.start(ids.assistant_message_id)
    run_to_end(manager, ids.assistant_message_id)
    assert not manager.is_live(ids.assistant_message_id)
    assert run_to_end(manager, ids.assistant_message_id) == "stored text"


def test_follow_coalesces_fast_deltas(store, snapshot, fake_provider):
    script = fake_provider.enqueue(["a"] * 200, hold_after=199)
    turns = TurnManager(store, lambda _p: fake_provider, coalesce_interval=0.05)
    try:
        ids = turns.create(None, "q", snapshot)
        turns.start(ids.assistant_message_id)
        assert script.held.wait(5)
        follower = turns.follow(ids.assistant_message_id, idle_tick=0.05)
        first = next(follower)
        script.release.set()
        rest = [chunk for chunk in follower if chunk]
        assert first + "".join(rest) == "a" * 200
        assert len(first) == 199  # everything so far arrives as one update
    finally:
        turns.shutdown()


def test_start_pending_resumes_a_turn_whose_page_went_away(manager, store, snapshot, fake_provider):
    fake_provider.enqueue(["resumed"])
    ids = manager.create(None, "q", snapshot)
    assert manager.start_pending(ids.conversation_id) == [ids.assistant_message_id]
    assert run_to_end(manager, ids.assistant_message_id) == "resumed"
    assert manager.start_pending(ids.conversation_id) == []


def test_concurrent_sends_to_one_conversation_create_exactly_one_live_answer(
    manager, store, snapshot, fake_provider
):
    fake_provider.enqueue(["seeded"])
    first = manager.send(None, "seed", snapshot)
    run_to_end(manager, first.assistant_message_id)
    conversation = first.conversation_id
    script = fake_provider.enqueue(["slow ", "answer"], hold_after=1)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        barrier.wait()
        try:
            manager.send(conversation, f"tab {n}", snapshot)
            outcomes.append("sent")
        except ConversationBusy as exc:
            assert "still being written" in str(exc)
            outcomes.append("busy")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["busy"] * 5 + ["sent"]
    messages = store.messages(conversation)
    assert len(messages) == 4  # nothing half-written by the refused sends
    assert [m.seq for m in messages] == [1, 2, 3, 4]
    script.release.set()
    run_to_end(manager, messages[-1].id)
    # Once the answer is done, the next message goes, with that answer in its context.
    later = manager.send(conversation, "after", snapshot)
    run_to_end(manager, later.assistant_message_id)
    assert {"role": "assistant", "content": "slow answer"} in fake_provider.calls[-1].messages


def test_snapshot_is_frozen_at_create_time(manager, store, fake_provider):
    ids = manager.create(None, "q", Snapshot("fake", "model-a", {"temperature": 0.1}, "Old."))
    manager.start(ids.assistant_message_id)
    run_to_end(manager, ids.assistant_message_id)
    new_id = manager.regenerate(
        ids.assistant_message_id, Snapshot("fake", "model-b", {"temperature": 0.9}, "New.")
    )
    run_to_end(manager, new_id)
    old, new = (store.get_message(ids.assistant_message_id), store.get_message(new_id))
    assert (old.model, old.system_prompt) == ("model-a", "Old.")
    assert (new.model, new.system_prompt) == ("model-b", "New.")
    assert fake_provider.calls[1].messages[0] == {"role": "system", "content": "New."}


def test_following_a_foreign_answer_ends_when_its_process_goes_silent(manager, store, snapshot):
    ids = seed.turn(store, None, "q", snapshot)
    seed.claim(store, ids.assistant_message_id, time.time())
    seed.checkpoint(store, ids.assistant_message_id, "from another process", time.time())
    follower = manager.follow(ids.assistant_message_id, idle_tick=0.01)
    assert next(follower) == "from another process"
    assert store.get_message(ids.assistant_message_id).status == "streaming"  # fresh: untouched
    seed.life(store).heartbeat(seed.ELSEWHERE, [ids.assistant_message_id], time.time() - 600)
    assert "".join(follower) == ""
    assert store.get_message(ids.assistant_message_id).status == "interrupted"


def test_an_answer_waiting_for_a_worker_says_queued_with_its_place_then_its_own_timers(
    store, snapshot, fake_provider
):
    turns = TurnManager(store, lambda _s: fake_provider, workers=1, coalesce_interval=0.0)
    try:
        busy = fake_provider.enqueue(["first ", "answer"], hold_after=1)
        first = turns.send(None, "one", snapshot)
        assert busy.held.wait(5)
        second = turns.send(None, "two", snapshot)
        third = turns.send(None, "three", snapshot)
        assert turns.progress(first.assistant_message_id).phase == WRITING
        queued = turns.progress(second.assistant_message_id)
        assert (queued.phase, queued.ahead) == (QUEUED, 0)
        assert turns.progress(third.assistant_message_id).ahead == 1
        slow = fake_provider.enqueue(["late"], hold_after=0)
        busy.release.set()
        assert slow.held.wait(5)
        waiting = turns.progress(second.assistant_message_id)
        assert waiting.phase == WAITING
        # Counted from when a worker took it, not from the send: the queue time is not in it.
        assert waiting.seconds < turns.progress(third.assistant_message_id).seconds
        assert turns.progress(third.assistant_message_id).ahead == 0
        slow.release.set()
        for ids in (second, third):
            assert run_to_end(turns, ids.assistant_message_id)
    finally:
        turns.shutdown()


def test_progress_sentences_name_the_state_in_words():
    from assistant.ui import progress_sentence

    assert progress_sentence(Progress(QUEUED, 3.2, 0), False) == "Queued: next in line… 3 s"
    assert progress_sentence(Progress(QUEUED, 1, 2), False) == "Queued: 2 answers ahead of it… 1 s"
    assert progress_sentence(Progress(WAITING, 4.0), False) == "Waiting for the first word… 4 s"
    assert progress_sentence(Progress(WAITING, 4.0), True) is None  # text speaks for itself
    assert progress_sentence(Progress(WRITING, 9.0), True) is None


def test_a_retired_manager_finishes_its_answers_then_stops_its_threads(
    store, snapshot, fake_provider
):
    turns = TurnManager(
        store, lambda _s: fake_provider, heartbeat_interval=0.05, coalesce_interval=0.0
    )
    script = fake_provider.enqueue(["still ", "written"], hold_after=1)
    ids = turns.send(None, "q", snapshot)
    assert script.held.wait(5)
    turns.retire()  # its settings changed: a new manager takes new answers
    assert turns.is_live(ids.assistant_message_id)  # not interrupted
    script.release.set()
    assert run_to_end(turns, ids.assistant_message_id) == "still written"
    wait_until(lambda: not turns._heartbeat.is_alive())
    assert store.get_message(ids.assistant_message_id).status == "complete"


def test_fifty_answers_at_once_from_a_real_server_all_complete(store, snapshot, fake_server):
    """No timing here (bench/faults.py measures it): 50 conversations stream at the same time
    through the real SDK, and every answer ends complete with all its words."""
    from fake_openai import Scenario

    from assistant.providers import OpenAICompatProvider

    provider = OpenAICompatProvider("k", fake_server.base_url, max_retries=0)
    turns = TurnManager(store, lambda _s: provider, workers=64, coalesce_interval=0.0)
    try:
        for _ in range(50):
            fake_server.enqueue(Scenario(chunks=["one ", "two ", "three"], chunk_delay=0.01))
        sent = [
            turns.send(None, f"chat {n}", Snapshot("openai", "gpt-3.5-turbo")) for n in range(50)
        ]
        for ids in sent:
            run_to_end(turns, ids.assistant_message_id)
        answers = [store.get_message(ids.assistant_message_id) for ids in sent]
        assert {(a.status, a.content) for a in answers} == {("complete", "one two three")}
    finally:
        turns.shutdown()


def test_the_embedded_model_has_a_lane_of_one_and_remote_answers_do_not_wait_for_it(
    store, fake_provider
):
    lanes = {"local": LOCAL, "fake": REMOTE}
    turns = TurnManager(store, lambda _s: fake_provider, lane=lambda s: lanes[s.provider])
    try:
        slow = fake_provider.enqueue(["local ", "words"], hold_after=1)
        first = turns.send(None, "a", Snapshot("local", "smol"))
        assert slow.held.wait(5)
        second = turns.send(None, "b", Snapshot("local", "smol"))
        assert turns.progress(second.assistant_message_id).phase == QUEUED
        remote = turns.send(None, "c", Snapshot("fake", "m"))
        assert run_to_end(turns, remote.assistant_message_id) == "ok"  # not behind the local two
        slow.release.set()
        for ids in (first, second):
            assert run_to_end(turns, ids.assistant_message_id)
    finally:
        turns.shutdown()


def test_a_fast_long_stream_is_followed_whole_and_in_order(store, snapshot, fake_provider):
    manager = TurnManager(store, lambda _s: fake_provider)  # the app's own intervals
    chunks = [f"{index:05d}-word " for index in range(20_000)]  # 220 KB as fast as it comes
    fake_provider.enqueue(chunks)
    try:
        ids = manager.send(None, "a long one", snapshot)
        assert run_to_end(manager, ids.assistant_message_id) == "".join(chunks)
        wait_until(lambda: not manager.is_live(ids.assistant_message_id))
        assert store.get_message(ids.assistant_message_id).content == "".join(chunks)
    finally:
        manager.shutdown()


def test_a_long_text_is_redrawn_less_often(store, fake_provider):
    manager = TurnManager(store, lambda _s: fake_provider, coalesce_interval=0.05)
    try:
        assert manager.redraw_interval(0) == 0.05
        assert manager.redraw_interval(5_000) == 0.05  # a usual answer: every 50 ms
        assert manager.redraw_interval(50_000) == pytest.approx(0.5)  # 50 KB: twice a second
    finally:
        manager.shutdown()


def test_continue_goes_on_from_an_answer_cut_at_its_length_limit(store, fake_server):
    """Continue: a new version that starts with the cut text, sends it as the assistant's
    last message with a request to go on, and reads as one answer; the cut one stays."""
    from fake_openai import Scenario

    from assistant.errors import InvalidInput
    from assistant.providers import OpenAICompatProvider
    from assistant.turns import BEGUN_CHARS, CONTINUE_INSTRUCTION, CONTINUED_FROM, continuable

    provider = OpenAICompatProvider("k", fake_server.base_url, max_retries=0)
    turns = TurnManager(store, lambda _s: provider, coalesce_interval=0.0)
    snapshot = Snapshot("openai", "gpt-3.5-turbo", {"max_tokens": 4})
    try:
        fake_server.enqueue(
            Scenario(chunks=["The three ", "colours are red"], finish_reason="length")
        )
        ids = turns.send(None, "Name three colours.", snapshot)
        run_to_end(turns, ids.assistant_message_id)
        wait_until(lambda: not turns.is_live(ids.assistant_message_id))
        cut = store.get_message(ids.assistant_message_id)
        assert (cut.status, cut.finish_reason) == ("complete", "length")
        assert continuable(cut)

        held = Scenario(chunks=[", green", " and blue."], hold_after=1, prompt_tokens=30)
        fake_server.enqueue(held)
        new_id = turns.continue_answer(cut.id, snapshot)
        assert fake_server.held.wait(10)
        # Mid-stream the answer is the cut text and what came after it, as one.
        wait_until(lambda: store.get_message(new_id).content == "The three colours are red, green")
        held.release.set()
        assert run_to_end(turns, new_id) == "The three colours are red, green and blue."
        wait_until(lambda: not turns.is_live(new_id))

        sent = fake_server.completions()[-1].body["messages"]
        assert sent[-3]["content"] == "Name three colours."
        assert sent[-2] == {"role": "assistant", "content": "The three colours are red"}
        assert sent[-1] == {"role": "user", "content": CONTINUE_INSTRUCTION}

        whole = store.get_message(new_id)
        assert (whole.status, whole.content) == (
            "complete",
            "The three colours are red, green and blue.",
        )
        assert whole.reply_to == cut.reply_to  # a version of the same answer, shown now
        assert whole.prompt_tokens == 30  # this request's tokens only; the cut keeps its own
        assert whole.parts[0].data == {CONTINUED_FROM: cut.id, BEGUN_CHARS: len(cut.content)}
        assert store.get_message(cut.id).content == "The three colours are red"  # kept
        assert not continuable(whole)

        with pytest.raises(InvalidInput):  # only a cut answer continues
            turns.continue_answer(whole.id, snapshot)
    finally:
        turns.shutdown()


def test_a_continuation_left_pending_starts_as_one(manager, store, snapshot, fake_provider):
    """A page closed between Continue and its start: the pending answer still continues."""
    from assistant.parts import TEXT, Part
    from assistant.store import FinalResult
    from assistant.turns import BEGUN_CHARS, CONTINUED_FROM

    ids = manager.create(None, "Count to four.", snapshot)
    manager.lifecycle.claim(ids.assistant_message_id, manager.owner, time.time())
    manager.lifecycle.finish(
        ids.assistant_message_id,
        manager.owner,
        FinalResult("complete", "one two", finish_reason="length"),
    )
    begun = Part(TEXT, "one two", {CONTINUED_FROM: ids.assistant_message_id, BEGUN_CHARS: 7})
    pending = manager.lifecycle.add_answer(ids.user_message_id, snapshot, begun)
    fake_provider.enqueue([" three four"])
    assert manager.start_pending(ids.conversation_id) == [pending]
    assert run_to_end(manager, pending) == "one two three four"


def test_the_conversation_mark_changes_with_what_the_chat_shows(manager, store, snapshot):
    ids = manager.create(None, "hello", snapshot)
    pending = store.conversation_mark(ids.conversation_id)
    run_to_end(manager, manager.start(ids.assistant_message_id).answer_id)
    wait_until(lambda: not manager.is_live(ids.assistant_message_id))
    ended = store.conversation_mark(ids.conversation_id)
    assert ended != pending  # the answer ended
    assert store.conversation_mark(ids.conversation_id) == ended  # nothing new: the same
    store.rename(ids.conversation_id, "Renamed")
    renamed = store.conversation_mark(ids.conversation_id)
    assert renamed != ended
    manager.create(ids.conversation_id, "again", snapshot)
    assert store.conversation_mark(ids.conversation_id) != renamed
    assert store.conversation_mark(987654) is None
