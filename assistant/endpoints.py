"""From an endpoint profile or an answer's snapshot to a provider that can stream.

An answer's snapshot freezes the endpoint's *id* and name, the model, the parameters and the
exact system prompt. The endpoint's base URL and key are read from its profile when generation
starts (a key is never stored, so it cannot be frozen): editing an endpoint's URL while an
answer waits in the queue sends that answer to the new URL.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from assistant import connection
from assistant.config import PROVIDER_LOCAL, Settings
from assistant.connection import CheckReport
from assistant.errors import NotFound, ProviderError
from assistant.i18n import _
from assistant.profiles import (
    KIND_LOCAL,
    KIND_OPENAI,
    Profile,
    ProfileStore,
    effective,
    missing_key_message,
    resolve_key,
)
from assistant.providers import LocalModel, OpenAICompatProvider, ProviderRegistry
from assistant.providers.base import Provider
from assistant.store import Snapshot
from assistant.turns import LOCAL, REMOTE

WINDOWS_CACHE_S = 600.0  # a model's reported context window is asked for again after this


class Endpoints:
    """Providers for profiles (the key read at each call) and for answers' snapshots."""

    def __init__(
        self, settings: Settings, profiles: ProfileStore, registry: ProviderRegistry
    ) -> None:
        self.settings = settings
        self.profiles = profiles
        self.registry = registry
        # (profile id, its last change, base URL) -> (when asked, model -> reported window)
        self._windows: dict[tuple[object, ...], tuple[float, dict[str, int | None]]] = {}

    def effective(self, profile: Profile) -> Profile:
        """The profile with the values the environment fills in (OPENAI_BASE_URL, ...)."""
        return effective(profile, self.settings)

    def provider_for(self, profile: Profile, probe: bool = False) -> Provider:
        """The provider for a profile, key read now."""
        profile = self.effective(profile)
        if profile.kind == KIND_LOCAL:
            return self.local_model(profile)
        return self.remote_provider(profile, probe)

    def local_model(self, profile: Profile) -> LocalModel:
        path = self.effective(profile).model_path
        return self.registry.local_model(Path(path) if path else None)

    def remote_provider(self, profile: Profile, probe: bool = False) -> OpenAICompatProvider:
        profile = self.effective(profile)
        key = resolve_key(profile, self.registry.environ, self.registry.secrets())
        if key is None and (profile.kind != KIND_OPENAI or profile.base_url is None):
            problem = missing_key_message(profile)
            if problem is not None:
                raise ProviderError(
                    "no_key",
                    _("No API key for “{name}”: {problem}").format(
                        name=profile.name, problem=problem
                    ),
                )
        return self.registry.remote(profile.base_url, key, key_hint=profile.key_label, probe=probe)

    def for_snapshot(self, snapshot: Snapshot) -> Provider:
        """The provider an answer's snapshot names (see the module docstring for what is read)."""
        if snapshot.profile_id is None:
            return self.registry.get(snapshot.provider)  # answers from before profiles
        try:
            profile = self.profiles.get(snapshot.profile_id)
        except NotFound:
            raise ProviderError(
                "not_found",
                _(
                    "The endpoint “{provider}” was deleted. Choose another endpoint for this "
                    "conversation, then retry."
                ).format(provider=snapshot.provider),
            ) from None
        return self.provider_for(profile)

    def lane(self, snapshot: Snapshot) -> str:
        """Which worker lane an answer waits in: the embedded model's own, or the remote one."""
        if snapshot.profile_id is None:
            return LOCAL if snapshot.provider == PROVIDER_LOCAL else REMOTE
        try:
            kind = self.profiles.get(snapshot.profile_id).kind
        except NotFound:
            return REMOTE  # it fails at once with "the endpoint was deleted"
        return LOCAL if kind == KIND_LOCAL else REMOTE

    def check_connection(self, profile: Profile, model: str | None = None) -> CheckReport:
        """The connection check of a profile with `model` (its default model when None)."""
        profile = self.effective(profile)
        return connection.check(
            profile,
            model or profile.model or "",
            partial(self.provider_for, probe=True),
            partial(self.list_models, probe=True),
        )

    def reported_window(self, profile: Profile, model: str | None) -> int | None:
        """The context window an endpoint reports for a model (None: it does not say, or it
        cannot be asked)."""
        profile = self.effective(profile)
        if profile.kind == KIND_LOCAL or not model:
            return None
        key = (profile.id, profile.updated_at, profile.base_url)
        cached = self._windows.get(key)
        if cached is None or time.monotonic() - cached[0] > WINDOWS_CACHE_S:
            try:
                windows = self.remote_provider(profile).model_windows()
            except ProviderError:  # asked again after the cache time, not at every page run
                windows = {}
            cached = (time.monotonic(), windows)
            self._windows[key] = cached
        return cached[1].get(model)

    def list_models(self, profile: Profile, probe: bool = False) -> list[str]:
        """The models an endpoint offers (`/models`); the embedded model offers its file."""
        profile = self.effective(profile)
        if profile.kind == KIND_LOCAL:
            return [profile.model] if profile.model else []
        return self.remote_provider(profile, probe).list_models()
