"""The provider protocol: chat messages in, a closable stream of events out.

A provider raises `ProviderError` (never an SDK exception) with a `kind` the app can act on and
a short `user_message` that is safe to show and store: it never contains the API key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Thinking the server streams apart from the answer (`reasoning_content`)."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call as it streams: `index` and `id` say which call (servers such as
    Ollama send every parallel call at index 0 with distinct ids), `name` comes once, and
    `arguments` arrives split across chunks."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class ToolsRefused:
    """The endpoint refused `tools`; the answer is being made without them."""

    reason: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class Finish:
    reason: str | None


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | ToolsRefused | Usage | Finish


@dataclass(frozen=True)
class GenerationRequest:
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] | None = None  # OpenAI function specs; None: no tools


class EventStream(Protocol):
    """An iterator of events that can be closed early (Stop), from any thread."""

    def __iter__(self) -> Iterator[StreamEvent]: ...

    def close(self) -> None: ...


class Provider(Protocol):
    name: str

    def stream(self, request: GenerationRequest) -> EventStream: ...


def redact(text: str, *secrets: str | None) -> str:
    """Remove secrets from a message that came back from a server."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "****")
    return text
