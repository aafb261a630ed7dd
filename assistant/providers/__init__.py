"""Provider adapters and the registry that picks one for a turn's snapshot."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from assistant.config import PROVIDER_LOCAL, PROVIDER_OPENAI, Settings
from assistant.errors import ProviderError
from assistant.i18n import _
from assistant.providers.base import (
    EventStream,
    Finish,
    GenerationRequest,
    Provider,
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

SecretsLoader = Callable[[], Mapping[str, Any]]
PROBE_TIMEOUT_S = 10.0  # the connection check and the model list wait at most this


class ProviderRegistry:
    """Provider instances per endpoint, built lazily and rebuilt when a profile or key changes.

    The embedded model is loaded once per GGUF file; a different file replaces it (a second
    model in memory would double the RAM for no gain). Keys are read when a provider is built
    and only a hash of them is kept as part of the cache key.
    """

    def __init__(
        self,
        settings: Settings,
        local_model: LocalModel | None = None,
        environ: Mapping[str, str] | None = None,
        secrets: SecretsLoader | None = None,
    ) -> None:
        self.settings = settings
        self._local = local_model
        self._environ = os.environ if environ is None else environ
        self._secrets = secrets or (lambda: {})
        self._remote: dict[tuple[Any, ...], OpenAICompatProvider] = {}
        self._lock = threading.Lock()

    def local_model(self, path: Path | None = None) -> LocalModel:
        path = path or self.settings.local_model_path
        with self._lock:
            if self._local is None or self._local.path != path:
                self._local = LocalModel(path, n_ctx=self.settings.local_context)
            return self._local

    def remote(
        self,
        base_url: str | None,
        api_key: str | None,
        key_hint: str = "OPENAI_API_KEY",
        probe: bool = False,
    ) -> OpenAICompatProvider:
        """A client for an endpoint; `probe` (the connection check) waits less and never retries."""
        digest = hashlib.sha256((api_key or "").encode()).hexdigest()
        cache_key = (base_url, digest, key_hint, probe)
        with self._lock:
            provider = self._remote.get(cache_key)
            if provider is None:
                s = self.settings
                provider = OpenAICompatProvider(
                    api_key=api_key,
                    base_url=base_url,
                    timeout=min(s.openai_timeout, PROBE_TIMEOUT_S) if probe else s.openai_timeout,
                    max_retries=0 if probe else s.openai_max_retries,
                    key_hint=key_hint,
                )
                self._remote[cache_key] = provider
            return provider

    def openai(self) -> OpenAICompatProvider:
        """The endpoint the environment configures (OPENAI_API_KEY / OPENAI_BASE_URL)."""
        return self.remote(self.settings.openai_base_url, self.settings.openai_api_key)

    def secrets(self) -> Mapping[str, Any]:
        return self._secrets()

    @property
    def environ(self) -> Mapping[str, str]:
        return self._environ

    def get(self, provider_id: str) -> Provider:
        """A provider by its legacy id (answers created before endpoint profiles)."""
        if provider_id == PROVIDER_LOCAL:
            return self.local_model()
        if provider_id == PROVIDER_OPENAI:
            return self.openai()
        raise ProviderError(
            "bad_request", _("Unknown provider {provider_id!r}.").format(provider_id=provider_id)
        )
