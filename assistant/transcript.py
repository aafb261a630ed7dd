"""Group a conversation's messages into exchanges: a user message and its answer versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from assistant.errors import NotFound
from assistant.store import Message, Store


@dataclass
class Exchange:
    question: Message
    answers: list[Message] = field(default_factory=list)  # oldest version first

    @property
    def latest(self) -> Message | None:
        return self.answers[-1] if self.answers else None


def exchanges(messages: list[Message]) -> list[Exchange]:
    """Messages in seq order -> exchanges in order; answers attach to the question they reply to."""
    by_question: dict[int, Exchange] = {}
    ordered: list[Exchange] = []
    for message in messages:
        if message.role == "user":
            exchange = Exchange(message)
            by_question[message.id] = exchange
            ordered.append(exchange)
        elif message.reply_to in by_question:
            by_question[message.reply_to].answers.append(message)
    return ordered


def locate(exchanges_: list[Exchange], message_id: int) -> tuple[int, int | None] | None:
    """(exchange index, answer version index or None for the question) of a message."""
    for index, exchange in enumerate(exchanges_):
        if exchange.question.id == message_id:
            return index, None
        for version, answer in enumerate(exchange.answers):
            if answer.id == message_id:
                return index, version
    return None


# A conversation opens at its last 10 exchanges; "Show earlier messages" adds 50 at a time.
# Streamlit draws every element it is sent: 50 exchanges made a long chat open 1.34x slower
# than a short one in Chromium, 10 keep it within 1.1x.
EXCHANGES_SHOWN = 10
EARLIER_STEP = 50


def window_start(total: int, shown: int, must_include: int | None = None) -> int:
    """First exchange to render when the last `shown` are on screen (and `must_include` too)."""
    start = max(0, total - shown)
    if must_include is not None:
        start = min(start, max(0, must_include))
    return start


@dataclass
class Window:
    """The end of a conversation as a page shows it: only these messages are read."""

    exchanges: list[Exchange]
    earlier: int  # exchanges before the first one here

    @property
    def total(self) -> int:
        return self.earlier + len(self.exchanges)


def window(store: Store, conversation_id: int, shown: int, must_show: int | None = None) -> Window:
    """The last `shown` exchanges (reaching back to the exchange of message `must_show`).

    A page shows 50 exchanges of a conversation that may have thousands: it reads the ids of
    the questions, then the messages from the first shown question on. An answer written
    later to an earlier question (Retry) has a later seq but is dropped with its question.
    """
    questions = store.questions(conversation_id)
    if not questions:
        return Window([], 0)
    target = _question_index(store, conversation_id, questions, must_show)
    start = window_start(len(questions), shown, target)
    messages = store.messages(conversation_id, from_seq=questions[start][1])
    return Window(exchanges(messages), start)


def _question_index(
    store: Store, conversation_id: int, questions: list[tuple[int, int]], message_id: int | None
) -> int | None:
    if message_id is None:
        return None
    try:
        message = store.get_message(message_id)
    except NotFound:
        return None
    if message.conversation_id != conversation_id:
        return None
    question_id = message.id if message.role == "user" else message.reply_to
    return next((i for i, (qid, _) in enumerate(questions) if qid == question_id), None)


def tokens_per_second(message: Message) -> float | None:
    """Generation speed after the first token, when the numbers allow it."""
    if not message.completion_tokens or message.total_s is None:
        return None
    generating = message.total_s - (message.first_token_s or 0.0)
    if generating <= 0 or message.completion_tokens < 2:
        return None
    return (message.completion_tokens - 1) / generating


LEGACY_PROVIDERS = ("openai", "local")  # snapshots from before endpoint profiles


def prompt_label(preset: str | None, system_prompt: str | None) -> str:
    """How a system prompt is named: its preset, or what kind it is."""
    if preset:
        return preset
    return "one-off prompt" if system_prompt else "no system prompt"


def caption(message: Message) -> str:
    """model · endpoint · prompt · temperature · tokens · first token · tokens/s (what is known)."""
    parts = [message.model or "unknown model"]
    # Answers made with endpoint profiles, and imported ones that name their endpoint/preset
    # (older answers' `provider` is only an id: "openai" or "local").
    if message.provider and (message.profile_id is not None or message.preset is not None):
        parts.append(message.provider)
        parts.append(prompt_label(message.preset, message.system_prompt))
    temperature = message.params.get("temperature")
    if isinstance(temperature, int | float):
        parts.append(f"temperature {temperature:g}")
    if message.completion_tokens is not None:
        count = message.completion_tokens
        parts.append(f"{count} token" if count == 1 else f"{count} tokens")
    if message.first_token_s is not None:
        parts.append(f"first token {message.first_token_s:.2f} s")
    speed = tokens_per_second(message)
    if speed is not None:
        parts.append(f"{speed:.1f} tokens/s")
    elif message.total_s is not None:
        parts.append(f"{message.total_s:.2f} s")
    if message.status == "stopped":
        parts.append("stopped")
    elif message.finish_reason == "length":
        parts.append("cut at the token limit")
    return " · ".join(parts)


def provenance(message: Message) -> list[tuple[str, str]]:
    """What an answer was generated with, as (label, value) rows, from its snapshot."""
    provider = message.provider or "unknown"
    if message.profile_id is None and provider in LEGACY_PROVIDERS:
        provider = "embedded model" if provider == "local" else "OpenAI / OPENAI_BASE_URL"
    rows = [("Endpoint", provider), ("Model", message.model or "unknown")]
    for name, label in (
        ("temperature", "Temperature"),
        ("top_p", "Top p"),
        ("max_tokens", "Max tokens"),
    ):
        value = message.params.get(name)
        if isinstance(value, int | float):
            rows.append((label, f"{value:g}"))
    rows.append(("System prompt", prompt_label(message.preset, message.system_prompt)))
    return rows


def readable_time(iso: str) -> str:
    """'2026-11-24T10:03:00.000Z' -> '2026-11-24 10:03 UTC' (unknown formats pass through)."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


def answer_label(index: int, count: int) -> str:
    return "Assistant" if count == 1 else f"Assistant (version {index + 1} of {count})"


def answer_note(answer: Message) -> str | None:
    """A line saying how an answer ended when it did not simply complete."""
    if answer.status == "error":
        return f"The answer failed: {answer.error or 'unknown error'}"
    if answer.status == "interrupted":
        return answer.error or "The answer was interrupted."
    if answer.status == "stopped":
        return "Stopped by the user."
    if answer.status in ("pending", "streaming"):
        return "Still being written when exported."
    return None
