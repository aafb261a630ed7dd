"""The process-wide objects a page or the command line needs, built from settings."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from assistant.app_settings import Preferences
from assistant.chat_settings import (
    ChatSettings,
    ChatSettingsStore,
    Resolved,
    write_conversation_settings,
)
from assistant.config import Settings, read_secrets_files
from assistant.context_gauge import ContextWindows, Gauge, gauge
from assistant.db import Database
from assistant.endpoints import Endpoints
from assistant.errors import ConfigError, InvalidInput, ProviderError
from assistant.i18n import _
from assistant.lifecycle import Lifecycle
from assistant.mcp_hub import McpHub
from assistant.presets import PresetStore
from assistant.profiles import KIND_LOCAL, ProfileStore
from assistant.providers import ProviderRegistry
from assistant.store import Snapshot, Store, TurnIds
from assistant.titles import Titler
from assistant.tool_servers import ToolServerStore
from assistant.toolbox import Toolbox, write_chat_tools
from assistant.turns import LOCAL, TurnManager
from assistant.usage import Usage

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
    endpoints: Endpoints
    turns: TurnManager
    tool_servers: ToolServerStore
    hub: McpHub
    usage: Usage
    context_windows: ContextWindows
    preferences: Preferences

    @classmethod
    def build(
        cls,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        secrets: Callable[[], Mapping[str, Any]] | None = None,
    ) -> Services:
        db = Database(settings.db_path, settings.db_busy_timeout)
        store = Store(db)
        presets = PresetStore(db)
        presets.ensure_seeded(settings.system_prompt)
        profiles = ProfileStore(db)
        profiles.ensure_seeded()
        chat = ChatSettingsStore(db, settings, presets, profiles)
        environ = os.environ if environ is None else environ
        read_secrets = secrets or _secrets_from_files
        registry = ProviderRegistry(settings, environ=environ, secrets=read_secrets)
        endpoints = Endpoints(settings, profiles, registry)
        hub = McpHub(lambda: environ, read_secrets)
        tool_servers = ToolServerStore(db)
        preferences = Preferences(db)
        turns = TurnManager(
            store,
            endpoints.for_snapshot,
            lifecycle=Lifecycle(db, store),
            lane=endpoints.lane,
            max_input_chars=settings.max_input_chars,
            workers=settings.workers,
            toolbox=Toolbox(db, tool_servers, hub),
            takes_tools=lambda snapshot: endpoints.lane(snapshot) != LOCAL,
            titler=Titler(store, endpoints.for_snapshot, preferences.auto_titles),
        )
        return cls(
            settings,
            db,
            store,
            presets,
            profiles,
            chat,
            endpoints,
            turns,
            tool_servers,
            hub,
            Usage(db),
            ContextWindows(db),
            preferences,
        )

    def context(self, conversation_id: int | None, resolved: Resolved) -> Gauge:
        """How full the next request of this chat is, against its model's window."""
        local = self.settings.local_context if resolved.profile.kind == "local" else None
        window = self.context_windows.of(resolved.model, local)
        if window is None:  # what the endpoint says about the model, when it says it
            window = self.endpoints.reported_window(resolved.profile, resolved.model)
        prompt = resolved.system_prompt
        if conversation_id is None:
            return gauge([], prompt, window)
        steps = self.store.active_path(conversation_id)
        if not steps:
            return gauge([], prompt, window)
        leaf = self.store.get_message(steps[-1].id)
        measured = gauge([leaf], prompt, window)
        return measured if measured.measured else gauge(self.store.path_to(leaf.id), prompt, window)

    def embedded_overflow(self, resolved: Resolved, text: str) -> int | None:
        """The embedded model's window when this message with the system prompt cannot fit in
        it even with every earlier message left out, else None. The model would refuse it after
        it is stored (an answer that fails, and a Retry that can only fail again); asked first,
        it is refused while the text is still in the box. Counted with the model's own
        tokenizer, so the page asks only once the model is loaded."""
        if resolved.profile.kind != KIND_LOCAL:
            return None
        model = self.endpoints.local_model(resolved.profile)
        if not model.loaded:
            return None  # it could not be loaded: sending says why
        try:
            prompt, limit = resolved.system_prompt, resolved.params.max_tokens
            fits = model.fits_alone(prompt, text.strip(), limit)
        except ProviderError:
            return None
        return None if fits else model.n_ctx

    def retire(self) -> None:
        """Replaced (its settings changed): live answers finish, then its threads stop and its
        tool servers close (closed under a live answer, a tool call would end cut short); the
        idle database connections close now (a finishing answer opens its own)."""
        self.turns.retire(then=self.hub.close)
        self.db.close()

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

    def _snapshot(self, conversation_id: int) -> Snapshot:
        return ready_snapshot(self.resolve(conversation_id))

    def send(
        self,
        conversation_id: int | None,
        text: str,
        draft: ChatSettings | None,
        tools: dict[str, str] | None = None,
    ) -> TurnIds:
        """Create and start a turn with the conversation's settings; a new one keeps the draft's
        settings and tools (`tools` None: the default set)."""
        if conversation_id is not None:
            return self.turns.send(conversation_id, text, self._snapshot(conversation_id))
        chat = self.chat.validate(self.chat.completed(draft))
        snapshot = ready_snapshot(self.chat.resolve(chat))
        return self.turns.send(None, text, snapshot, partial(_setup_new, chat, tools))

    def edit(self, user_message_id: int, text: str) -> TurnIds:
        """Resend an edited user message as a new branch, on the conversation's settings."""
        message = self.store.get_message(user_message_id)
        return self.turns.edit(user_message_id, text, self._snapshot(message.conversation_id))

    def answer(self, question_id: int) -> int:
        """Answer a user message that has no answer yet, on its conversation's settings."""
        question = self.store.get_message(question_id)
        return self.turns.answer(question_id, self._snapshot(question.conversation_id))

    def fork(self, message_id: int) -> int:
        """A new conversation from the path up to this message, with the source's settings."""
        message = self.store.get_message(message_id)
        chat = self.chat.conversation(message.conversation_id)
        tools = self.turns.toolbox.chosen(message.conversation_id) if self.turns.toolbox else None
        return self.turns.lifecycle.fork(message_id, partial(_setup_new, chat, tools))

    def regenerate(self, answer_id: int) -> int:
        """A new version of an answer with its conversation's current settings, started."""
        answer = self.store.get_message(answer_id)
        return self.turns.regenerate(answer_id, self._snapshot(answer.conversation_id))

    def continue_answer(self, answer_id: int) -> int:
        """Continue an answer cut at its length limit, with its conversation's current
        settings (a raised token limit counts from now), started."""
        answer = self.store.get_message(answer_id)
        return self.turns.continue_answer(answer_id, self._snapshot(answer.conversation_id))


def ready_snapshot(resolved: Resolved) -> Snapshot:
    """What an answer is made with; refused (nothing stored) when no model is chosen: an empty
    name would reach the endpoint, which answers with its own default model or an error."""
    if not resolved.model:
        raise InvalidInput(
            _("No model is chosen for this chat. Pick one at the top of the chat, then send again.")
        )
    return resolved.snapshot()


def _setup_new(
    chat: ChatSettings, tools: dict[str, str] | None, conn: Any, conversation_id: int
) -> None:
    write_conversation_settings(conn, conversation_id, chat)
    if tools is not None:
        write_chat_tools(conn, conversation_id, tools)


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
