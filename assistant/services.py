"""The process-wide objects a page or the command line needs, built from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.config import PROVIDER_LOCAL, Settings
from assistant.db import Database
from assistant.providers import ProviderRegistry
from assistant.store import Snapshot, Store
from assistant.turns import TurnManager


@dataclass
class Services:
    settings: Settings
    db: Database
    store: Store
    providers: ProviderRegistry
    turns: TurnManager

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings.db_path)
        store = Store(db)
        providers = ProviderRegistry(settings)
        turns = TurnManager(
            store,
            providers.get,
            max_input_chars=settings.max_input_chars,
            workers=settings.workers,
        )
        return cls(settings, db, store, providers, turns)

    def default_snapshot(self) -> Snapshot:
        """What a new turn is generated with, from the current settings."""
        s = self.settings
        return Snapshot(
            provider=s.provider,
            model=s.model,
            params={"temperature": s.temperature, "max_tokens": s.max_tokens},
            system_prompt=s.system_prompt,
        )

    @property
    def uses_local_model(self) -> bool:
        return self.settings.provider == PROVIDER_LOCAL


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
