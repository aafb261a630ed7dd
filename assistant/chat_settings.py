"""What the next answer in a conversation is generated with, and where each value comes from.

A conversation row holds its own choices (migration 4): a preset or a one-off system prompt,
an endpoint profile, a model and the parameters. A new conversation starts with a copy of the
defaults (so changing a default later does not change it); conversations older than migration 4
have NULLs, which follow the defaults. A change applies to the next turn only: every answer
keeps its snapshot (profile name and id, model, parameters, preset name, prompt text).

`resolve` never fails on a saved value: a deleted preset or profile, a parameter out of range
or damaged JSON falls back to the default, and the reason is returned in `problems` so the page
can say so.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from assistant.app_settings import write_setting
from assistant.config import Settings
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.i18n import N_, _
from assistant.presets import Preset, PresetStore, clean_text
from assistant.profiles import (
    KIND_COMPATIBLE,
    Profile,
    ProfileStore,
    clean_base_url,
    clean_model,
    effective,
)
from assistant.store import Snapshot
from assistant.transcript import prompt_label

DEFAULT_PARAMS_KEY = "default_params"
DEFAULT_TOP_P = 1.0


@dataclass(frozen=True)
class ParamSpec:
    name: str
    label: str
    kind: type
    low: float
    high: float


PARAM_SPECS = (
    ParamSpec("temperature", N_("Temperature"), float, 0.0, 2.0),
    ParamSpec("max_tokens", N_("Max tokens"), int, 1, 131_072),
    ParamSpec("top_p", N_("Top p"), float, 0.0, 1.0),
)


@dataclass(frozen=True)
class Params:
    temperature: float
    max_tokens: int
    top_p: float

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "top_p": self.top_p}


def clean_param(spec: ParamSpec, value: Any) -> Any:
    """The value as the parameter's type, or InvalidInput naming the allowed range."""
    if isinstance(value, bool):
        value = None  # JSON true is not a number
    try:
        number = spec.kind(value)
        if spec.kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(
            _("{label} must be a number; got {value!r}.").format(label=_(spec.label), value=value)
        ) from None
    if not spec.low <= number <= spec.high:
        raise InvalidInput(
            _("{label} must be between {low:g} and {high:g}; got {number:g}.").format(
                label=_(spec.label), low=spec.low, high=spec.high, number=number
            )
        )
    return number


def clean_params(values: Mapping[str, Any]) -> Params:
    return Params(**{spec.name: clean_param(spec, values.get(spec.name)) for spec in PARAM_SPECS})


def params_with_fallback(saved: Any, fallback: Params, whose: str) -> tuple[Params, list[str]]:
    """Saved parameters where valid, the fallback's elsewhere, and a sentence per fallback."""
    if saved is None:
        return fallback, []
    if not isinstance(saved, Mapping):
        return fallback, [
            _("The saved parameters of {whose} could not be read; using the defaults.").format(
                whose=whose
            )
        ]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for spec in PARAM_SPECS:
        default = getattr(fallback, spec.name)
        if spec.name not in saved:
            values[spec.name] = default
            continue
        try:
            values[spec.name] = clean_param(spec, saved[spec.name])
        except InvalidInput as exc:
            values[spec.name] = default
            problems.append(
                _("{exc} (saved for {whose}); using {default:g}.").format(
                    exc=exc, whose=whose, default=default
                )
            )
    return Params(**values), problems


@dataclass(frozen=True)
class ChatSettings:
    """A conversation's own choices; None follows the app's default."""

    preset_id: int | None = None
    system_prompt: str | None = None  # a one-off prompt used instead of a preset; "" is none
    profile_id: int | None = None
    model: str | None = None  # None: the profile's default model
    params: Any = None  # a dict as saved (checked when resolved)


@dataclass(frozen=True)
class Resolved:
    """Everything the next answer uses, after fallbacks."""

    preset: Preset | None
    system_prompt: str
    profile: Profile  # with the environment's values filled in (`profiles.effective`)
    model: str
    params: Params
    problems: tuple[str, ...] = ()

    @property
    def prompt_label(self) -> str:
        return prompt_label(self.preset.name if self.preset else None, self.system_prompt)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            provider=self.profile.name,
            model=self.model,
            params=self.params.as_dict(),
            system_prompt=self.system_prompt,
            profile_id=self.profile.id,
            preset=self.preset.name if self.preset else None,
        )


PROMPT_ONE_OFF = "one-off"
PROMPT_NONE = "none"
PromptChoice = int | str  # a preset id, PROMPT_ONE_OFF or PROMPT_NONE


def prompt_choice(chat: ChatSettings, resolved: Resolved) -> PromptChoice:
    """What the conversation's prompt picker shows."""
    if chat.system_prompt is not None:
        return PROMPT_ONE_OFF if chat.system_prompt else PROMPT_NONE
    return resolved.preset.id if resolved.preset else PROMPT_NONE


def with_prompt_choice(chat: ChatSettings, choice: PromptChoice, one_off: str) -> ChatSettings:
    if choice == PROMPT_NONE:
        return replace(chat, preset_id=None, system_prompt="")
    if choice == PROMPT_ONE_OFF:
        return replace(chat, preset_id=None, system_prompt=one_off)
    return replace(chat, preset_id=int(choice), system_prompt=None)


def with_param(chat: ChatSettings, resolved: Resolved, name: str, value: Any) -> ChatSettings:
    """The conversation's parameters (as resolved now) with one of them changed."""
    params = resolved.params.as_dict()
    params[name] = value
    return replace(chat, params=params)


class ChatSettingsStore:
    def __init__(
        self, db: Database, settings: Settings, presets: PresetStore, profiles: ProfileStore
    ) -> None:
        self.db = db
        self.settings = settings
        self.presets = presets
        self.profiles = profiles

    # -- defaults -------------------------------------------------------------------------

    def environment_params(self) -> Params:
        return Params(self.settings.temperature, self.settings.max_tokens, DEFAULT_TOP_P)

    def default_params(self) -> tuple[Params, list[str]]:
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT value FROM app_settings WHERE key = ?", (DEFAULT_PARAMS_KEY,)
            ).fetchone()
        saved: Any = None
        if row is not None:
            try:
                saved = json.loads(row[0])
            except ValueError:
                saved = "damaged"  # present but undecodable: say so rather than silently reset
        return params_with_fallback(saved, self.environment_params(), _("new conversations"))

    def save_default_params(self, values: Mapping[str, Any]) -> Params:
        params = clean_params(values)
        with self.db.transaction() as conn:
            write_setting(conn, DEFAULT_PARAMS_KEY, params.as_dict())
        return params

    def for_new_conversation(self) -> ChatSettings:
        """The defaults, as a new conversation's own copy."""
        preset = self.presets.default()
        return ChatSettings(
            preset_id=preset.id if preset else None,
            system_prompt=None if preset else "",
            profile_id=self.profiles.default(self.settings).id,
            model=None,
            params=self.default_params()[0].as_dict(),
        )

    def completed(self, draft: ChatSettings | None) -> ChatSettings:
        """A new conversation's settings: the draft's choices, the defaults for the rest."""
        defaults = self.for_new_conversation()
        if draft is None:
            return defaults
        prompt_chosen = draft.preset_id is not None or draft.system_prompt is not None
        return ChatSettings(
            preset_id=draft.preset_id if prompt_chosen else defaults.preset_id,
            system_prompt=draft.system_prompt if prompt_chosen else defaults.system_prompt,
            profile_id=draft.profile_id if draft.profile_id is not None else defaults.profile_id,
            model=draft.model,
            params=draft.params if draft.params is not None else defaults.params,
        )

    # -- a conversation -------------------------------------------------------------------

    def conversation(self, conversation_id: int) -> ChatSettings:
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT preset_id, system_prompt, profile_id, model, params FROM conversations"
                " WHERE id = ?",
                (conversation_id,),
            ).fetchone()
        if row is None:
            raise NotFound(
                _("Conversation {conversation_id} does not exist.").format(
                    conversation_id=conversation_id
                )
            )
        return _chat_settings(row)

    def save(self, conversation_id: int, chat: ChatSettings) -> ChatSettings:
        """Validate and store a conversation's choices (they apply from its next turn)."""
        clean = self.validate(chat)
        with self.db.transaction() as conn:
            write_conversation_settings(conn, conversation_id, clean)
        return clean

    def validate(self, chat: ChatSettings) -> ChatSettings:
        if chat.preset_id is not None:
            self.presets.get(chat.preset_id)
        if chat.profile_id is not None:
            self.profiles.get(chat.profile_id)
        return replace(
            chat,
            system_prompt=None if chat.system_prompt is None else clean_text(chat.system_prompt),
            model=clean_model(chat.model),
            params=None if chat.params is None else clean_params(chat.params).as_dict(),
        )

    # -- resolution -----------------------------------------------------------------------

    def resolve(self, chat: ChatSettings) -> Resolved:
        problems: list[str] = []
        preset, prompt = self._prompt(chat, problems)
        profile = self._profile(chat, problems)
        model = chat.model or profile.model or ""
        if not model:
            problems.append(
                _(
                    "No model is chosen for “{name}”. Pick one in this conversation's "
                    "settings or in Settings → Endpoints."
                ).format(name=profile.name)
            )
        defaults, default_problems = self.default_params()
        problems.extend(default_problems)
        params, param_problems = params_with_fallback(chat.params, defaults, _("this conversation"))
        problems.extend(param_problems)
        return Resolved(preset, prompt, profile, model, params, tuple(problems))

    def _prompt(self, chat: ChatSettings, problems: list[str]) -> tuple[Preset | None, str]:
        if chat.system_prompt is not None:
            return None, chat.system_prompt
        if chat.preset_id is not None:
            try:
                preset = self.presets.get(chat.preset_id)
                return preset, preset.text
            except NotFound:
                problems.append(_("The preset chosen here was deleted; using the default preset."))
        default = self.presets.default()
        return default, default.text if default else ""

    def _profile(self, chat: ChatSettings, problems: list[str]) -> Profile:
        profile: Profile | None = None
        if chat.profile_id is not None:
            try:
                profile = self.profiles.get(chat.profile_id)
            except NotFound:
                problems.append(_("The endpoint chosen here was deleted; using the default one."))
        if profile is None:
            profile = self.profiles.default(self.settings)
        if profile.kind == KIND_COMPATIBLE:
            try:
                clean_base_url(profile.base_url, required=True)
            except InvalidInput as exc:
                problems.append(
                    _("Endpoint “{name}”: {exc} Using the embedded model.").format(
                        name=profile.name, exc=exc
                    )
                )
                profile = self.profiles.automatic(self.settings)
        return effective(profile, self.settings)


def _chat_settings(row: sqlite3.Row) -> ChatSettings:
    params: Any = None
    if row["params"] is not None:
        try:
            params = json.loads(row["params"])
        except ValueError:
            params = "damaged"  # resolve() reports it and uses the defaults
    return ChatSettings(
        preset_id=row["preset_id"],
        system_prompt=row["system_prompt"],
        profile_id=row["profile_id"],
        model=row["model"],
        params=params,
    )


def write_conversation_settings(
    conn: sqlite3.Connection, conversation_id: int, chat: ChatSettings
) -> None:
    """Write a conversation's choices inside the caller's transaction (validated already)."""
    changed = conn.execute(
        "UPDATE conversations SET preset_id = ?, system_prompt = ?, profile_id = ?, model = ?,"
        " params = ? WHERE id = ?",
        (
            chat.preset_id,
            chat.system_prompt,
            chat.profile_id,
            chat.model,
            None if chat.params is None else json.dumps(chat.params, sort_keys=True),
            conversation_id,
        ),
    ).rowcount
    if not changed:
        raise NotFound(
            _("Conversation {conversation_id} does not exist.").format(
                conversation_id=conversation_id
            )
        )
