"""How much of the model's context window the next request will use.

The measure. When the last answer on the branch reported its usage, the next request holds
what that one held (its prompt tokens), the answer itself (its completion tokens) and the new
message. Otherwise the branch is counted the way tokenizers roughly count: a CJK character is
about one token, other text about four characters per token, plus a few tokens per message
for the chat template. The result says whether it is measured or estimated.

The window. The embedded model's is its context size (`LOCAL_CONTEXT`); other models' come
from the per-model setting in Settings › Prices & context.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assistant.app_settings import read_setting, write_setting
from assistant.db import Database
from assistant.errors import InvalidInput
from assistant.i18n import _
from assistant.store import CONTEXT_STATUSES, Message

WINDOWS_KEY = "context_windows"
TOKENS_PER_MESSAGE = 4  # the chat template's own tokens around each message
WARN_AT = 0.9  # the gauge warns from 90 % of the window
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


@dataclass(frozen=True)
class Gauge:
    used: int  # tokens the next request will hold before the new message
    window: int | None
    measured: bool  # from the last answer's reported usage, not an estimate

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.used / self.window) if self.window else None

    @property
    def warning(self) -> bool:
        return self.window is not None and self.used >= WARN_AT * self.window

    def overflows_with(self, text: str) -> bool:
        added = estimate_tokens(text) + TOKENS_PER_MESSAGE
        return self.window is not None and self.used + added > self.window


def gauge(path: list[Message], system_prompt: str, window: int | None) -> Gauge:
    """The gauge for a branch (root first) whose next request uses `system_prompt`."""
    last = next((m for m in reversed(path) if m.role == "assistant"), None)
    if (
        last is not None
        and last.prompt_tokens is not None
        and last.completion_tokens is not None
        and last is path[-1]
    ):
        return Gauge(last.prompt_tokens + last.completion_tokens, window, True)
    used = estimate_tokens(system_prompt) + TOKENS_PER_MESSAGE if system_prompt else 0
    for message in path:
        if message.role == "user" or (
            message.status in CONTEXT_STATUSES and message.content.strip()
        ):
            used += estimate_tokens(message.content) + TOKENS_PER_MESSAGE
    return Gauge(used, window, False)


class ContextWindows:
    """Context windows the user set per model name (the embedded model's is known)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> dict[str, int]:
        with self.db.connect() as conn:
            value = read_setting(conn, WINDOWS_KEY)
        if not isinstance(value, dict):
            return {}
        return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and v > 0}

    def set(self, model: str, window: int | None) -> None:
        name = model.strip()
        if not name:
            raise InvalidInput(_("Enter the model's name."))
        if window is not None and not 256 <= window <= 10_000_000:
            raise InvalidInput(_("A context window is from 256 to 10,000,000 tokens."))
        windows = self.all()
        if window is None:
            windows.pop(name, None)
        else:
            windows[name] = window
        with self.db.transaction() as conn:
            write_setting(conn, WINDOWS_KEY, windows)

    def of(self, model: str | None, local_window: int | None) -> int | None:
        """The window for a model: the embedded model's own, else the one set for it."""
        if local_window is not None:
            return local_window
        return self.all().get(model or "")
