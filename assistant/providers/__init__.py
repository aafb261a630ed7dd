"""Provider adapters and the registry that picks one for a turn's snapshot."""

from __future__ import annotations

import threading

from assistant.config import PROVIDER_LOCAL, PROVIDER_OPENAI, Settings
from assistant.providers.base import (
    EventStream,
    Finish,
    GenerationRequest,
    Provider,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
)
from assistant.providers.local import LocalModel
from assistant.providers.openai_compat import OpenAICompatProvider

__all__ = [
    "EventStream",
    "Finish",
    "GenerationRequest",
    "LocalModel",
    "OpenAICompatProvider",
    "Provider",
    "ProviderError",
    "ProviderRegistry",
    "StreamEvent",
    "TextDelta",
    "Usage",
]


class ProviderRegistry:
    """One provider instance per kind per process, built lazily from settings."""

    def __init__(self, settings: Settings, local_model: LocalModel | None = None) -> None:
        self.settings = settings
        self._local = local_model
        self._openai: OpenAICompatProvider | None = None
        self._lock = threading.Lock()

    def local_model(self) -> LocalModel:
        with self._lock:
            if self._local is None:
                self._local = LocalModel(
                    self.settings.local_model_path, n_ctx=self.settings.local_context
                )
            return self._local

    def openai(self) -> OpenAICompatProvider:
        with self._lock:
            if self._openai is None:
                s = self.settings
                self._openai = OpenAICompatProvider(
                    api_key=s.openai_api_key,
                    base_url=s.openai_base_url,
                    timeout=s.openai_timeout,
                    max_retries=s.openai_max_retries,
                )
            return self._openai

    def get(self, provider_id: str) -> Provider:
        if provider_id == PROVIDER_LOCAL:
            return self.local_model()
        if provider_id == PROVIDER_OPENAI:
            return self.openai()
        raise ProviderError("bad_request", f"Unknown provider {provider_id!r}.")
