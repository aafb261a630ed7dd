"""OpenAI and any OpenAI-compatible endpoint, through the official `openai` SDK.

The SDK does the HTTP, the SSE parsing, retries with backoff and timeouts; this module turns its
chunks into our events and its exceptions into `ProviderError`s with plain-words messages.

What an endpoint sends is repaired on the way in (`assistant.clean_text`): the SDK decodes the
event stream as strict UTF-8 and stops the answer with a UnicodeDecodeError at the first
invalid byte, and `json.loads` refuses a raw control character; so the bytes are decoded with
U+FFFD for what is invalid and without control characters before the SDK parses them. The
text of each delta (answer, reasoning, tool-call arguments) then goes through a `Repairer`, so
that an emoji split into its two UTF-16 halves over two events arrives whole.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import openai
from openai._streaming import ServerSentEvent, SSEDecoder

from assistant.clean_text import Repairer, repaired
from assistant.errors import ProviderError
from assistant.i18n import _
from assistant.providers.base import (
    Finish,
    GenerationRequest,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolsRefused,
    Usage,
    redact,
)

log = logging.getLogger(__name__)

OPENAI_DEFAULT_ENDPOINT = "api.openai.com"
# Some OpenAI-compatible servers reject `stream_options`; the SDK reports a 400 naming it.
_STREAM_OPTIONS_HINTS = ("stream_options", "include_usage")
# A server (or model) without tool calling answers `tools` with a 400 that names them.
_TOOLS_HINTS = ("tool", "function")
# A key is required by the SDK even for local servers that ignore it.
PLACEHOLDER_KEY = "not-needed"


def _clean_bytes(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The event stream's bytes as valid UTF-8 without control characters (a character split
    over two network reads is decoded whole)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            yield repaired(text).encode()
    rest = decoder.decode(b"", final=True)
    if rest:
        yield repaired(rest).encode()


class _RepairingSSEDecoder:
    """The SDK's own SSE decoder, fed repaired bytes (its `SSEBytesDecoder` protocol)."""

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[ServerSentEvent]:
        return SSEDecoder().iter_bytes(_clean_bytes(iterator))

    async def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEvent]:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")

        async def cleaned() -> AsyncIterator[bytes]:
            async for chunk in iterator:
                yield repaired(decoder.decode(chunk)).encode()
            yield repaired(decoder.decode(b"", final=True)).encode()

        async for event in SSEDecoder().aiter_bytes(cleaned()):
            yield event


class _Client(openai.OpenAI):
    """The SDK's client with an SSE decoder that survives bad bytes (see the module doc)."""

    def _make_sse_decoder(self) -> _RepairingSSEDecoder:  # type: ignore[override]
        return _RepairingSSEDecoder()


class OpenAICompatProvider:
    name = "openai"

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        key_hint: str = "OPENAI_API_KEY",
    ) -> None:
        self._api_key = api_key
        self.key_hint = key_hint  # where the key comes from, named in a 401 message
        self.base_url = base_url
        self.endpoint = base_url or OPENAI_DEFAULT_ENDPOINT
        self.client = _Client(
            api_key=api_key or PLACEHOLDER_KEY,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._timeout = timeout
        self._max_retries = max_retries
        self._usage_supported = True

    # -- public -------------------------------------------------------------------------

    @property
    def max_retries(self) -> int:
        return self._max_retries

    @property
    def api_key_for_redaction(self) -> str | None:
        return self._api_key

    def stream(self, request: GenerationRequest) -> _OpenAIEventStream:
        return _OpenAIEventStream(self, request)

    def list_models(self) -> list[str]:
        return sorted(self.model_windows())

    def model_windows(self) -> dict[str, int | None]:
        """The endpoint's models, each with the context window it reports, if it does: vLLM
        (`max_model_len`), OpenRouter and others (`context_length`, `context_window`),
        llama.cpp's server (`meta.n_ctx_train`)."""
        try:
            models = list(self.client.models.list())
        except openai.APIError as exc:
            raise self.explain(exc, model=None) from exc
        return {model.id: _reported_window(model) for model in models}

    # -- helpers ------------------------------------------------------------------------

    def open(self, request: GenerationRequest) -> Any:
        """Start the HTTP stream; falls back once for servers that reject stream_options."""
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "stream": True,
        }
        for name in ("temperature", "max_tokens", "top_p"):
            if request.params.get(name) is not None:
                kwargs[name] = request.params[name]
        if request.tools:
            kwargs["tools"] = request.tools
        return self._create(kwargs)

    def _create(self, kwargs: dict[str, Any]) -> Any:
        if self._usage_supported:
            try:
                return self.client.chat.completions.create(
                    **kwargs, stream_options={"include_usage": True}
                )
            except openai.BadRequestError as exc:
                if not any(h in str(exc).lower() for h in _STREAM_OPTIONS_HINTS):
                    raise
                log.info(
                    "endpoint %s rejects stream_options; streaming without usage", self.endpoint
                )
                self._usage_supported = False
        return self.client.chat.completions.create(**kwargs)

    def explain(
        self, exc: BaseException, model: str | None, waited: float | None = None, tries: int = 1
    ) -> ProviderError:
        """Turn an SDK or transport exception into a ProviderError with plain words.

        `waited` is how long the request really waited, over `tries` attempts; a timeout states
        that, not the per-attempt limit.
        """
        where = self.endpoint
        detail = redact(_server_message(exc), self._api_key)
        if isinstance(exc, openai.AuthenticationError):
            return ProviderError(
                "auth",
                _("The API key was rejected by {where} (401). Check {key_hint}.").format(
                    where=where, key_hint=self.key_hint
                ),
            )
        if isinstance(exc, openai.PermissionDeniedError):
            return ProviderError(
                "auth", f"The API key is not allowed to do this at {where} (403). {detail}".strip()
            )
        if isinstance(exc, openai.NotFoundError):
            what = (
                _("The model “{model}”").format(model=model)
                if model
                else _("The requested resource")
            )
            return ProviderError(
                "not_found",
                _(
                    "{what} was not found at {where} (404). Check the model name or the base URL."
                ).format(what=what, where=where),
            )
        if isinstance(exc, openai.RateLimitError):
            if "quota" in detail.lower():
                return ProviderError(
                    "rate_limit", f"The account at {where} is out of quota (429). {detail}".strip()
                )
            return ProviderError(
                "rate_limit",
                _(
                    "Rate limited by {where} (429): too many requests. Wait a moment, then retry."
                ).format(where=where),
            )
        if isinstance(exc, openai.APITimeoutError):
            waited = self._timeout * tries if waited is None else waited
            attempts = (
                _(" ({tries} attempts of {timeout:g} s each)").format(
                    tries=tries, timeout=self._timeout
                )
                if tries > 1
                else ""
            )
            return ProviderError(
                "timeout",
                f"{where} did not answer for {waited:.{1 if waited < 10 else 0}f} s{attempts}. "
                "Retry, or raise OPENAI_TIMEOUT.",
            )
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(
                "connection",
                _("Could not connect to {where}. Is the server running and the URL right?").format(
                    where=where
                ),
            )
        if isinstance(exc, openai.BadRequestError):
            return ProviderError(
                "bad_request",
                _("{where} rejected the request (400): {detail}").format(
                    where=where, detail=detail
                ),
            )
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code >= 500:
                return ProviderError(
                    "server",
                    _("{where} had an internal error ({status_code}). Retry in a moment.").format(
                        where=where, status_code=exc.status_code
                    ),
                )
            return ProviderError(
                "unknown",
                _("{where} answered with an error ({status_code}): {detail}").format(
                    where=where, status_code=exc.status_code, detail=detail
                ),
            )
        if isinstance(exc, openai.APIError):
            return ProviderError(
                "server", _("{where} sent an error: {detail}").format(where=where, detail=detail)
            )
        return ProviderError(
            "unknown",
            _("Unexpected error talking to {where}: {detail}").format(where=where, detail=detail),
        )


def _server_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    message = getattr(exc, "message", None) or str(exc)
    return str(message)[:300]


class _OpenAIEventStream:
    """One streamed completion; `close()` from another thread ends it (Stop)."""

    def __init__(self, provider: OpenAICompatProvider, request: GenerationRequest) -> None:
        self._provider = provider
        self._request = request
        self._closed = threading.Event()
        self._response: Any = None

    def close(self) -> None:
        self._closed.set()
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # closing a half-read socket from another thread may complain
                log.debug("closing the response raised", exc_info=True)

    def __iter__(self) -> Iterator[StreamEvent]:
        provider, request = self._provider, self._request
        if self._closed.is_set():
            return  # stopped (or the app is closing) before it began: no request at all
        opened = time.monotonic()
        try:
            try:
                self._response = provider.open(request)
            except openai.BadRequestError as exc:
                if not request.tools or not any(h in str(exc).lower() for h in _TOOLS_HINTS):
                    raise
                # The endpoint (or its model) does not call tools: answer without them, once.
                log.info("endpoint %s rejects tools; answering without them", provider.endpoint)
                yield ToolsRefused(redact(_server_message(exc), provider.api_key_for_redaction))
                self._request = request = replace(request, tools=None)
                self._response = provider.open(request)
        except openai.APIError as exc:
            # The SDK retried a timeout or a connection failure `max_retries` times.
            raise provider.explain(
                exc, request.model, time.monotonic() - opened, 1 + provider.max_retries
            ) from exc
        if self._closed.is_set():
            self._response.close()
            return
        finish: str | None = None
        text, thoughts = Repairer(), Repairer()
        arguments: dict[int, Repairer] = {}
        try:
            for chunk in self._response:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    yield Usage(usage.prompt_tokens, usage.completion_tokens)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    thought = thoughts.feed(_reasoning(delta) or "") if delta is not None else ""
                    if thought:
                        yield ReasoningDelta(thought)
                    for call in (delta.tool_calls if delta is not None else None) or ():
                        yield _call_delta(call, arguments.setdefault(call.index or 0, Repairer()))
                    content = text.feed(delta.content or "") if delta is not None else ""
                    if content:
                        yield TextDelta(content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except openai.APIError as exc:
            if self._closed.is_set():
                return
            if isinstance(exc, openai.APIConnectionError) and not isinstance(
                exc, openai.APITimeoutError
            ):
                # Mid-answer, a transport error means the stream was cut, not "unreachable".
                raise ProviderError(
                    "stream_cut",
                    _("The connection to {endpoint} broke off in the middle of the answer.").format(
                        endpoint=provider.endpoint
                    ),
                ) from exc
            # Mid-stream, nothing is retried: the wait is one read timeout.
            raise provider.explain(exc, request.model) from exc
        finally:
            self._response.close()
        if self._closed.is_set():
            return
        if finish is None:
            raise ProviderError(
                "stream_cut",
                _("The connection to {endpoint} ended before the answer was finished.").format(
                    endpoint=provider.endpoint
                ),
            )
        # A high surrogate still waiting for its other half: U+FFFD, not silence.
        if thought := thoughts.flush():
            yield ReasoningDelta(thought)
        for index, repairer in arguments.items():
            if rest := repairer.flush():
                yield ToolCallDelta(index, None, None, rest)
        if rest := text.flush():
            yield TextDelta(rest)
        yield Finish(finish)


def _call_delta(call: Any, arguments: Repairer) -> ToolCallDelta:
    """A streamed piece of a tool call, its text repaired (`arguments`: that call's)."""
    function = call.function
    name = function.name if function is not None else None
    return ToolCallDelta(
        call.index or 0,
        repaired(call.id) if call.id else None,
        repaired(name) if name else None,
        arguments.feed((function.arguments if function is not None else None) or ""),
    )


def _reasoning(delta: object) -> str | None:
    """The thinking in a delta: `reasoning_content` (vLLM, DeepSeek, llama.cpp server) or
    `reasoning` (Ollama's and OpenRouter's name); the SDK keeps both as extra fields."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _reported_window(model: Any) -> int | None:
    extra = getattr(model, "model_extra", None) or {}
    meta = extra.get("meta") if isinstance(extra.get("meta"), dict) else {}
    for value in (
        extra.get("max_model_len"),
        extra.get("context_length"),
        extra.get("context_window"),
        meta.get("n_ctx_train"),
    ):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
