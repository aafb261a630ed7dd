"""Group a conversation's messages into exchanges: a user message and its answer versions."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.store import Message


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


def tokens_per_second(message: Message) -> float | None:
    """Generation speed after the first token, when the numbers allow it."""
    if not message.completion_tokens or message.total_s is None:
        return None
    generating = message.total_s - (message.first_token_s or 0.0)
    if generating <= 0 or message.completion_tokens < 2:
        return None
    return (message.completion_tokens - 1) / generating


def caption(message: Message) -> str:
    """model · tokens · time to first token · tokens/s (what is known)."""
    parts = [message.model or "unknown model"]
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
