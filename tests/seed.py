"""Write answers straight through the lifecycle, as a finished (or foreign) process left them."""

from __future__ import annotations

from assistant.chat_settings import ChatSettings, write_conversation_settings
from assistant.context_gauge import ContextWindows
from assistant.lifecycle import Lifecycle, Owner
from assistant.presets import PresetStore
from assistant.profiles import ProfileStore
from assistant.store import FinalResult, Snapshot, Store, TurnIds
from assistant.tool_servers import STDIO, ServerDraft, ToolServerStore
from assistant.usage import Usage

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


# Names that Markdown would act on: an image from another site (the browser would fetch it),
# emphasis, HTML, LaTeX and Streamlit's colour directive.
HOSTILE = ("![n](http://evil.example/n2.png)", "**bold**", "<img src=x>", "$x$", ":red[x]")
SERVER_NAME = "a__under__ 1. x"  # letters, digits, . _ - and spaces only; still Markdown


def hostile(kind: str) -> list[str]:
    """The hostile names of one kind of thing (each kind with its own word, to tell apart)."""
    return [f"{name} {kind}" if kind else name for name in HOSTILE]


def hostile_names(store: Store, base_url: str) -> dict[str, int]:
    """Presets (hostile("")), endpoints at `base_url` ("endpoint"), models ("model") and
    conversations ("chat") with a finished answer each, using them; the last preset and
    endpoint are the defaults; a context window and a price per model; a tool server whose
    arguments are hostile too. Returns the conversation ids by title."""
    db = store.db
    presets, profiles = PresetStore(db), ProfileStore(db)
    presets.ensure_seeded("")
    profiles.ensure_seeded()
    ids: dict[str, int] = {}
    preset_id = profile_id = None
    rows = zip(hostile(""), hostile("endpoint"), hostile("model"), hostile("chat"), strict=True)
    for index, (preset, endpoint, model, title) in enumerate(rows):
        preset_id = presets.create(preset, "Answer briefly.").id
        profile_id = profiles.create(endpoint, base_url, model=model).id
        snapshot = Snapshot("openai", model, {}, "Answer briefly.", profile_id, preset)
        result = FinalResult("complete", "An answer.", "stop", None, 10, 5, 0.1, 0.5)
        ids_ = finished_turn(store, None, f"Question {index}", result, snapshot)
        store.rename(ids_.conversation_id, title)
        with db.transaction() as conn:
            chat = ChatSettings(preset_id, None, profile_id, model)
            write_conversation_settings(conn, ids_.conversation_id, chat)
        ContextWindows(db).set(model, 8192)
        Usage(db).prices.add(f"{model}*", 1.0, 2.0, earlier_too=True)
        ids[title] = ids_.conversation_id
    presets.set_default(preset_id)  # " · default" beside a hostile name
    profiles.set_default(profile_id)
    args = (*HOSTILE, "--", *hostile("arg"))
    ToolServerStore(db).save(ServerDraft(SERVER_NAME, STDIO, command="no-such-server", args=args))
    return ids


def branched(store: Store) -> int:
    """A real tree: two exchanges, a regenerated first answer, then an edit of the first
    question (on screen). Three leaves: the edit (2 messages), the first line (4), the other
    answer. Returns the conversation id."""
    snap = Snapshot("openai", "m")
    first = finished_turn(store, None, "Plan a trip", FinalResult("complete", "Go north."), snap)
    finished_turn(store, first.conversation_id, "And then?", FinalResult("complete", "Rest."), snap)
    again = answer(store, first.user_message_id, snap)
    finish(store, again, FinalResult("complete", "Go south."))
    edit = life(store).edit_turn(first.user_message_id, "Plan a holiday", snap)
    finish(store, edit.assistant_message_id, FinalResult("complete", "Go east."))
    return first.conversation_id
