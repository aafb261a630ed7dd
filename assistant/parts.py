"""An answer as an ordered list of typed parts, and the split of inline `<think>` reasoning.

Kinds: `text` (what the answer says), `reasoning` (the model's thinking, shown collapsed and
never sent back as context), and `tool_call`, `tool_result`, `attachment` for the features
that come next. `messages.parts` stores the list as JSON; an answer that is its text alone
stores NULL, and `messages.content` is always the plain text: the text parts joined, which is
what search indexes and exports show.

    [{"type": "reasoning", "text": "…", "seconds": 3.1}, {"type": "text", "text": "…"}]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TEXT = "text"
REASONING = "reasoning"
TOOL_CALL = "tool_call"
TOOL_RESULT = "tool_result"
ATTACHMENT = "attachment"
KINDS = (TEXT, REASONING, TOOL_CALL, TOOL_RESULT, ATTACHMENT)

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# A continued answer's first text part says where its beginning came from: the answer cut at
# its length limit that it continues, and how many characters of it (see turns.continuation).
CONTINUED_FROM, BEGUN_CHARS = "continued_from", "begun_chars"


@dataclass(frozen=True)
class Part:
    kind: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # seconds, a file name, a tool's call…

    def record(self) -> dict[str, Any]:
        return {"type": self.kind, "text": self.text, **self.data}


def from_record(record: dict[str, Any]) -> Part:
    """A part as stored or exported (unknown keys are kept in `data`)."""
    data = {k: v for k, v in record.items() if k not in ("type", "text")}
    return Part(str(record["type"]), str(record.get("text") or ""), data)


def dumps(parts: list[Part]) -> str | None:
    """The JSON to store, or None when the answer is its text alone (or nothing). A text
    part with data (where a continued answer's earlier text came from) is stored."""
    if all(part.kind == TEXT and not part.data for part in parts):
        return None
    return json.dumps([part.record() for part in parts], ensure_ascii=False, sort_keys=True)


def loads(stored: str | None, content: str) -> list[Part]:
    """The stored parts, or the content as one text part."""
    if stored:
        return [from_record(item) for item in json.loads(stored)]
    return [Part(TEXT, content)] if content else []


def continues(parts: list[Part]) -> int | None:
    """The answer whose text this one begins with (Continue), or None."""
    for part in parts:
        if part.kind == TEXT and CONTINUED_FROM in part.data:
            return int(part.data[CONTINUED_FROM])
    return None


def plain_text(parts: list[Part]) -> str:
    return "".join(part.text for part in parts if part.kind == TEXT)


def reasoning_part(text: str, seconds: float | None) -> Part:
    return Part(REASONING, text, {"seconds": round(seconds, 2)} if seconds is not None else {})


def streamed_parts(reasoning: str, reasoning_s: float | None, text: str) -> list[Part]:
    """The parts of a streamed answer: its reasoning (if any) before its text."""
    parts = [reasoning_part(reasoning, reasoning_s)] if reasoning else []
    if text:
        parts.append(Part(TEXT, text))
    return parts


class ThinkSplitter:
    """Split a text stream that may open with `<think>…</think>` into (reasoning, text).

    Ollama and llama.cpp stream the thinking of Qwen3 or DeepSeek-R1 inline. Only a `<think>`
    at the very start (after white space) opens reasoning, so an answer that talks about the
    tag keeps it. Tags may be split over chunks: undecided text is held back until it is
    known, and `flush` gives back whatever is left at the end (an unclosed thought stays
    reasoning: the model was cut while thinking).
    """

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> text, or start -> text
        self._held = ""
        self._thought = False  # some reasoning was given out

    def feed(self, chunk: str) -> tuple[str, str]:
        reasoning = text = ""
        self._held += chunk
        if self._state == "start":
            stripped = self._held.lstrip()
            if len(stripped) < len(THINK_OPEN) and THINK_OPEN.startswith(stripped):
                return "", ""  # maybe the tag, not yet whole
            if stripped.startswith(THINK_OPEN):
                self._state = "thinking"
                self._held = stripped[len(THINK_OPEN) :]
            else:
                self._state = "text"
        if self._state == "thinking":
            if not self._thought:  # the line break after the tag may come in its own chunk
                self._held = self._held.lstrip()
            end = self._held.find(THINK_CLOSE)
            if end < 0:
                keep = _partial_suffix(self._held, THINK_CLOSE)
                reasoning = self._held[: len(self._held) - keep]
                self._held = self._held[len(self._held) - keep :]
                self._thought = self._thought or bool(reasoning)
                return reasoning, ""
            reasoning = self._held[:end]
            self._held = self._held[end + len(THINK_CLOSE) :].lstrip()
            self._state = "after"
            if not self._held:
                return reasoning, ""
        if self._state == "after":  # white space after the tag is dropped until the text
            self._held = self._held.lstrip()
            if not self._held:
                return reasoning, ""
            self._state = "text"
        text, self._held = self._held, ""
        return reasoning, text

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self._state == "thinking":
            return held, ""
        return "", held if self._state != "after" else ""

    @property
    def thinking(self) -> bool:
        return self._state == "thinking"


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
