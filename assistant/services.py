"""The process-wide objects a page or the command line needs, built from settings."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from assistant import connection
from assistant.chat_settings import (
    ChatSettings,
    ChatSettingsStore,
    Resolved,
    write_conversation_settings,
)
from assistant.config import ConfigError, Settings, read_secrets_files
from assistant.connection import CheckReport
from assistant.db import Database
from assistant.presets import PresetStore
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
from assistant.providers.base import Provider, ProviderError
from assistant.store import NotFound, Snapshot, Store, TurnIds
from assistant.turns import TurnManager

log = logging.getLogger(__name__)


def _secrets_from_files() -> Mapping[str, Any]:
    """secrets.toml as Streamlit reads it; a broken file counts as empty (the page says so)."""
    try:
        return read_secrets_files()
    except ConfigError:
        return {}


@dataclass
class Services:
    settings: Settings
    db: Database
    store: Store
    presets: PresetStore
    profiles: ProfileStore
    chat: ChatSettingsStore
    providers: ProviderRegistry
    turns: TurnManager

    @classmethod
    def build(
        cls,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        secrets: Callable[[], Mapping[str, Any]] | None = None,
    ) -> Services:
        db = Database(settings.db_path)
        store = Store(db)
        presets = PresetStore(db)
        presets.ensure_seeded(settings.system_prompt)
        profiles = ProfileStore(db)
        profiles.ensure_seeded()
        chat = ChatSettingsStore(db, settings, presets, profiles)
        providers = ProviderRegistry(
            settings,
            environ=os.environ if environ is None else environ,
            secrets=secrets or _secrets_from_files,
        )
        services: Services
        turns = TurnManager(
            store,
            lambda snapshot: services.provider_for_snapshot(snapshot),
            max_input_chars=settings.max_input_chars,
            workers=settings.workers,
        )
        services = cls(settings, db, store, presets, profiles, chat, providers, turns)
        return services

    # -- what the next answer uses --------------------------------------------------------

    def chat_settings(
        self, conversation_id: int | None, draft: ChatSettings | None
    ) -> ChatSettings:
        """A conversation's choices, or for a new chat the draft (or the defaults)."""
        if conversation_id is not None:
            return self.chat.conversation(conversation_id)
        return self.chat.completed(draft)

    def resolve(self, conversation_id: int | None, draft: ChatSettings | None = None) -> Resolved:
        return self.chat.resolve(self.chat_settings(conversation_id, draft))

    def send(self, conversation_id: int | None, text: str, draft: ChatSettings | None) -> TurnIds:
        """Create a turn with the conversation's settings; a new one keeps the draft's."""
        if conversation_id is not None:
            snapshot = self.resolve(conversation_id).snapshot()
            return self.turns.create(conversation_id, text, snapshot)
        chat = self.chat.validate(self.chat.completed(draft))
        snapshot = self.chat.resolve(chat).snapshot()
        return self.turns.create(None, text, snapshot, partial(_setup_new, chat))

    def regenerate(self, answer_id: int) -> int:
        """A new version of an answer with its conversation's current settings."""
        answer = self.store.get_message(answer_id)
        return self.turns.regenerate(answer_id, self.resolve(answer.conversation_id).snapshot())

    # -- providers for profiles -----------------------------------------------------------

    def effective(self, profile: Profile) -> Profile:
        return effective(profile, self.settings)

    def provider_for(self, profile: Profile, probe: bool = False) -> Provider:
        """The provider for a profile (its environment values filled in), key read now."""
        profile = self.effective(profile)
        if profile.kind == KIND_LOCAL:
            return self.local_model(profile)
        return self.remote_provider(profile, probe)

    def local_model(self, profile: Profile) -> LocalModel:
        path = self.effective(profile).model_path
        return self.providers.local_model(Path(path) if path else None)

    def remote_provider(self, profile: Profile, probe: bool = False) -> OpenAICompatProvider:
        profile = self.effective(profile)
        key = resolve_key(profile, self.providers.environ, self.providers.secrets())
        if key is None and (profile.kind != KIND_OPENAI or profile.base_url is None):
            problem = missing_key_message(profile)
            if problem is not None:
                raise ProviderError("no_key", f"No API key for “{profile.name}”: {problem}")
        return self.providers.remote(profile.base_url, key, key_hint=profile.key_label, probe=probe)

    def provider_for_snapshot(self, snapshot: Snapshot) -> Provider:
        if snapshot.profile_id is None:
            return self.providers.get(snapshot.provider)  # answers from before profiles
        try:
            profile = self.profiles.get(snapshot.profile_id)
        except NotFound:
            raise ProviderError(
                "not_found",
                f"The endpoint “{snapshot.provider}” was deleted. Choose another endpoint for "
                "this conversation, then retry.",
            ) from None
        return self.provider_for(profile)

    def check_connection(self, profile: Profile, model: str | None = None) -> CheckReport:
        """The connection check of a profile with `model` (its default model when None)."""
        profile = self.effective(profile)
        return connection.check(
            profile,
            model or profile.model or "",
            partial(self.provider_for, probe=True),
            partial(self.list_models, probe=True),
        )

    def list_models(self, profile: Profile, probe: bool = False) -> list[str]:
        """The models an endpoint offers (`/models`); the embedded model offers its file."""
        profile = self.effective(profile)
        if profile.kind == KIND_LOCAL:
            return [profile.model] if profile.model else []
        return self.remote_provider(profile, probe).list_models()


def _setup_new(chat: ChatSettings, conn: Any, conversation_id: int) -> None:
    write_conversation_settings(conn, conversation_id, chat)


def configure_logging(level: str) -> None:
    """One format for the app's own loggers; the SDKs stay at WARNING (they may log headers)."""
    root = logging.getLogger("assistant")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))
    root.propagate = False
    for noisy in ("openai", "httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
