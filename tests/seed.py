"""Write answers straight through the lifecycle, as a finished (or foreign) process left them."""

from __future__ import annotations

from assistant.lifecycle import Lifecycle, Owner
from assistant.store import FinalResult, Snapshot, Store, TurnIds

# An owner on another host: only its heartbeat's age tells whether it is alive.
ELSEWHERE = Owner("another-host/0", 4242, 1, "seed")


def life(store: Store) -> Lifecycle:
    return Lifecycle(store.db, store)


def turn(store: Store, conversation_id: int | None, text: str, snapshot: Snapshot) -> TurnIds:
    """A user message and its pending answer."""
    return life(store).create_turn(conversation_id, text, snapshot)


def answer(store: Store, user_message_id: int, snapshot: Snapshot) -> int:
    """Another pending answer (a version) to a user message."""
    return life(store).add_answer(user_message_id, snapshot)


def claim(store: Store, answer_id: int, now: float = 0.0, owner: Owner = ELSEWHERE) -> bool:
    return life(store).claim(answer_id, owner, now)


def checkpoint(
    store: Store, answer_id: int, text: str, now: float, owner: Owner = ELSEWHERE
) -> None:
    life(store).checkpoint(answer_id, owner, text, now)


def finish(store: Store, answer_id: int, result: FinalResult, owner: Owner = ELSEWHERE) -> None:
    """End an answer as its owner would (claiming it first if it is still pending)."""
    lifecycle = life(store)
    lifecycle.claim(answer_id, owner, 0.0)
    assert lifecycle.finish(answer_id, owner, result)


def finished_turn(
    store: Store,
    conversation_id: int | None,
    question: str,
    result: FinalResult,
    snapshot: Snapshot,
) -> TurnIds:
    ids = turn(store, conversation_id, question, snapshot)
    finish(store, ids.assistant_message_id, result)
    return ids
