"""Endpoint profiles: where answers come from.

Three kinds:
- `local`: the embedded model, run in-process (an optional path to another GGUF file);
- `openai`: the OpenAI API; with no base URL it follows `OPENAI_BASE_URL` like the SDK does;
- `compatible`: any OpenAI-compatible server (Ollama, vLLM, llama.cpp server, LM Studio) at a
  base URL. The user adds as many as they like.

A profile never holds a key. It names where the key comes from: an environment variable
(falling back to a top-level `secrets.toml` key of the same name, like every setting) or a
`secrets.toml` key (`name` or `section.name`). The key is read when a request is made.

The two built-in profiles (the embedded model and OpenAI) are seeded once per database and
cannot be deleted. The default profile for new conversations is either one the user chose or
"automatic": OpenAI when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set, else the embedded model
(resolved at each start, so setting a key later switches new conversations to OpenAI).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.app_settings import read_setting, write_setting
from assistant.config import PROVIDER_LOCAL, SETTING_NAMES, Settings
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.i18n import N_, _
from assistant.presets import clean_name as clean_preset_name
from assistant.store import now_iso

KIND_LOCAL = "local"
KIND_OPENAI = "openai"
KIND_COMPATIBLE = "compatible"
KIND_LABELS = {
    KIND_LOCAL: N_("Embedded model"),
    KIND_OPENAI: "OpenAI",
    KIND_COMPATIBLE: N_("OpenAI-compatible"),
}
# The built-in endpoints' names as stored: English in every database (a name is data that
# snapshots and the usage rollup keep), shown in the page's language by `shown_name`.
EMBEDDED_NAME = "Embedded model"
BUILTIN_NAMES = {EMBEDDED_NAME: N_("Embedded model"), "内置模型": N_("Embedded model")}
KEY_NONE, KEY_ENV, KEY_SECRETS = "none", "env", "secrets"
KEY_SOURCES = (KEY_NONE, KEY_ENV, KEY_SECRETS)
NAME_LIMIT_CHARS = 60
MODEL_LIMIT_CHARS = 200
DEFAULT_KEY = "default_profile_id"
SEEDED_KEY = "profiles_seeded"
OPENAI_KEY_VARIABLE = "OPENAI_API_KEY"
URL_LIMIT_CHARS = 2_000
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What a key source may never name: the app's own settings (they are not keys, and one of them
# locates the database) and secrets that are not API keys (a shared app would send them to any
# base URL an endpoint names): the cookie secret, sign-in (`[auth]`) and database credentials.
_NOT_A_KEY = re.compile(
    r"^(?:streamlit_.*|.*cookie.*|database_url|auth(?:\..*)?|connections(?:\..*)?|server\..*)$",
    re.IGNORECASE,
)
_SECRETS_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    kind: str
    base_url: str | None
    key_source: str
    key_name: str | None
    model: str | None
    model_path: str | None
    created_at: str
    updated_at: str

    @property
    def builtin(self) -> bool:
        return self.kind in (KIND_LOCAL, KIND_OPENAI)

    @property
    def key_label(self) -> str:
        """Where the key comes from, in words (never the key)."""
        if self.kind == KIND_LOCAL:
            return _("no key needed")
        if self.key_source == KEY_ENV and self.key_name:
            return _("environment variable {key_name}").format(key_name=self.key_name)
        if self.key_source == KEY_SECRETS and self.key_name:
            return _("secrets.toml key {key_name}").format(key_name=self.key_name)
        return _("no key")


_COLUMNS = (
    "id, name, kind, base_url, key_source, key_name, model, model_path, created_at, updated_at"
)


def _profile(row: sqlite3.Row) -> Profile:
    return Profile(**dict(row))


# -- validation ---------------------------------------------------------------------------


def clean_name(name: str) -> str:
    return clean_preset_name(name, _("An endpoint"), NAME_LIMIT_CHARS)


def clean_base_url(url: str | None, required: bool) -> str | None:
    clean = (url or "").strip().rstrip("/")
    if not clean:
        if required:
            raise InvalidInput(_("Enter the endpoint's base URL, e.g. http://localhost:11434/v1."))
        return None
    if len(clean) > URL_LIMIT_CHARS:
        raise InvalidInput(
            _(
                "A base URL can have at most {URL_LIMIT_CHARS:,} characters (this one "
                "has {count:,})."
            ).format(URL_LIMIT_CHARS=URL_LIMIT_CHARS, count=len(clean))
        )
    parts = urlsplit(clean)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            _(
                "The base URL must start with http:// or https:// and name a host; got “{clean}”."
            ).format(clean=clean)
        )
    return clean


def clean_key(source: str, name: str | None) -> tuple[str, str | None]:
    if source not in KEY_SOURCES:
        raise InvalidInput(_("Unknown key source {source!r}.").format(source=source))
    clean = (name or "").strip()
    if source == KEY_NONE:
        return KEY_NONE, None
    if not clean:
        raise InvalidInput(
            _("Name the environment variable that holds the key.")
            if source == KEY_ENV
            else _("Name the secrets.toml key that holds the key.")
        )
    if source == KEY_ENV and not _ENV_NAME.match(clean):
        # The value is not repeated: it may be the key itself, pasted into the wrong field.
        raise InvalidInput(
            _(
                "That is not an environment variable name: use letters, digits and _, "
                "e.g. OLLAMA_API_KEY. Enter the variable's name, not the key itself."
            )
        )
    if source == KEY_SECRETS and not _SECRETS_PATH.match(clean):
        raise InvalidInput(
            _(
                "That is not a secrets.toml key: use a name like my_key or "
                "section.my_key. Enter the key's name, not the key itself."
            )
        )
    if not_an_api_key(clean):
        raise InvalidInput(
            _(
                "{clean} is one of the app's own settings or secrets, not an API key; it "
                "is never sent to an endpoint. Name the variable or secrets.toml key "
                "that holds the API key."
            ).format(clean=clean)
        )
    return source, clean


def not_an_api_key(name: str) -> bool:
    """A name a key source may not use (see `_NOT_A_KEY`); OPENAI_API_KEY is an API key."""
    own_setting = name.upper() in SETTING_NAMES and name.upper() != OPENAI_KEY_VARIABLE
    return own_setting or bool(_NOT_A_KEY.match(name))


def sends_key_to_a_new_url(current: Profile, base_url: str | None, key_source: str) -> bool:
    """Whether saving would send a named key to a base URL it was not sent to before."""
    if key_source == KEY_NONE or current.kind == KIND_LOCAL:
        return False
    new = (base_url or "").strip().rstrip("/") or None
    return new != current.base_url


def clean_model(model: str | None) -> str | None:
    clean = (model or "").strip()
    if len(clean) > MODEL_LIMIT_CHARS:
        raise InvalidInput(
            _("A model name can have at most {MODEL_LIMIT_CHARS} characters.").format(
                MODEL_LIMIT_CHARS=MODEL_LIMIT_CHARS
            )
        )
    return clean or None


def clean_model_path(path: str | None) -> str | None:
    clean = (path or "").strip()
    if not clean:
        return None
    resolved = Path(clean).expanduser()
    if not resolved.is_file():
        raise InvalidInput(
            _("There is no file at {resolved}. Enter the path of a .gguf file.").format(
                resolved=resolved
            )
        )
    return str(resolved)


# -- keys ---------------------------------------------------------------------------------


def secret_value(secrets: Mapping[str, Any], dotted: str) -> str | None:
    """`section.name` looks inside a TOML table; a plain name is a top-level key."""
    value: Any = secrets
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if value is None or isinstance(value, Mapping):
        return None
    return str(value).strip() or None


def resolve_key(
    profile: Profile, environ: Mapping[str, str], secrets: Mapping[str, Any]
) -> str | None:
    """The key a request to this profile sends, read now; None when there is none."""
    if profile.kind == KIND_LOCAL or not profile.key_name:
        return None
    if profile.key_source == KEY_ENV:
        value = (environ.get(profile.key_name) or "").strip()
        return value or secret_value(secrets, profile.key_name)
    if profile.key_source == KEY_SECRETS:
        return secret_value(secrets, profile.key_name)
    return None


def missing_key_message(profile: Profile) -> str | None:
    """Why no key was found, for a profile that names a key source."""
    if profile.key_source == KEY_ENV:
        return _("The environment variable {key_name} is not set.").format(
            key_name=profile.key_name
        )
    if profile.key_source == KEY_SECRETS:
        return _("The key {key_name} is not in .streamlit/secrets.toml.").format(
            key_name=profile.key_name
        )
    return None


# -- what a profile means with the environment's settings ----------------------------------


def effective(profile: Profile, settings: Settings) -> Profile:
    """The profile with the environment's values filled in for what it leaves open."""
    if profile.kind == KIND_LOCAL:
        path = profile.model_path or (
            str(settings.local_model_path) if settings.local_model_path else None
        )
        model = profile.model or (Path(path).stem if path else settings.model)
        return replace(profile, model_path=path, model=model)
    if profile.kind == KIND_OPENAI:
        return replace(
            profile,
            base_url=profile.base_url or settings.openai_base_url,
            model=profile.model or settings.openai_model,
        )
    return profile


def shown_name(name: str) -> str:
    """An endpoint's name as a page shows it: the built-in embedded model's in the page's
    language (databases made by a Chinese page before names were kept English hold its
    Chinese name), every other name as the person typed it."""
    return _(BUILTIN_NAMES[name]) if name in BUILTIN_NAMES else name


def endpoint_title(profile: Profile) -> str:
    """The name with where it points when that is not what the name says: the built-in
    "OpenAI" endpoint follows OPENAI_BASE_URL, which often names another server."""
    if profile.kind == KIND_OPENAI and profile.base_url:
        return f"{profile.name} ({profile.base_url})"
    return shown_name(profile.name)


def endpoint_label(profile: Profile) -> str:
    if profile.kind == KIND_LOCAL:
        return _("embedded model (offline)")
    return profile.base_url or "api.openai.com"


class ProfileStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_seeded(self) -> None:
        """Add the embedded-model and OpenAI profiles, once per database."""
        with self.db.transaction() as conn:
            if read_setting(conn, SEEDED_KEY):
                return
            now = now_iso()
            for name, kind, source, key_name in (
                (EMBEDDED_NAME, KIND_LOCAL, KEY_NONE, None),
                ("OpenAI", KIND_OPENAI, KEY_ENV, OPENAI_KEY_VARIABLE),
            ):
                if not _name_taken(conn, name):
                    conn.execute(
                        "INSERT INTO profiles (name, kind, key_source, key_name, created_at,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (name, kind, source, key_name, now, now),
                    )
            write_setting(conn, SEEDED_KEY, True)

    # -- reading --------------------------------------------------------------------------

    def list(self) -> list[Profile]:
        """Built-in profiles first (embedded, OpenAI), then the others by name."""
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM profiles ORDER BY"
                " CASE kind WHEN 'local' THEN 0 WHEN 'openai' THEN 1 ELSE 2 END, name"
            ).fetchall()
        return [_profile(r) for r in rows]

    def get(self, profile_id: int) -> Profile:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM profiles WHERE id = ?", (profile_id,)
            ).fetchone()
        if row is None:
            raise NotFound(
                _("Endpoint profile {profile_id} does not exist.").format(profile_id=profile_id)
            )
        return _profile(row)

    def by_name(self, name: str) -> Profile:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM profiles WHERE name = ?", (name.strip(),)
            ).fetchone()
        if row is None:
            known = ", ".join(p.name for p in self.list())
            raise NotFound(
                _("There is no endpoint profile named “{name}”. Known: {known}.").format(
                    name=name, known=known
                )
            )
        return _profile(row)

    def builtin(self, kind: str) -> Profile:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM profiles WHERE kind = ? ORDER BY id LIMIT 1", (kind,)
            ).fetchone()
        if row is None:
            raise NotFound(
                _("The built-in {kind} profile is missing.").format(kind=_(KIND_LABELS[kind]))
            )
        return _profile(row)

    def chosen_default_id(self) -> int | None:
        """The default the user chose, or None for automatic (also when it was deleted)."""
        with self.db.connect() as conn:
            value = read_setting(conn, DEFAULT_KEY)
            if not isinstance(value, int):
                return None
            exists = conn.execute("SELECT 1 FROM profiles WHERE id = ?", (value,)).fetchone()
        return value if exists else None

    def automatic(self, settings: Settings) -> Profile:
        """The profile the environment points at: the embedded model unless a key/URL is set."""
        return self.builtin(KIND_LOCAL if settings.provider == PROVIDER_LOCAL else KIND_OPENAI)

    def default(self, settings: Settings) -> Profile:
        chosen = self.chosen_default_id()
        return self.get(chosen) if chosen is not None else self.automatic(settings)

    # -- writing --------------------------------------------------------------------------

    def create(
        self,
        name: str,
        base_url: str,
        key_source: str = KEY_NONE,
        key_name: str | None = None,
        model: str | None = None,
    ) -> Profile:
        """A new OpenAI-compatible endpoint."""
        name = clean_name(name)
        url = clean_base_url(base_url, required=True)
        source, key = clean_key(key_source, key_name)
        model = clean_model(model)
        now = now_iso()
        with self.db.transaction() as conn:
            self._require_free_name(conn, name)
            profile_id = conn.execute(
                "INSERT INTO profiles (name, kind, base_url, key_source, key_name, model,"
                " created_at, updated_at) VALUES (?, 'compatible', ?, ?, ?, ?, ?, ?)",
                (name, url, source, key, model, now, now),
            ).lastrowid
        assert profile_id is not None
        return self.get(profile_id)

    def update(
        self,
        profile_id: int,
        *,
        name: str,
        base_url: str | None = None,
        key_source: str = KEY_NONE,
        key_name: str | None = None,
        model: str | None = None,
        model_path: str | None = None,
    ) -> Profile:
        """Save a profile's fields; what does not apply to its kind is ignored."""
        current = self.get(profile_id)
        name = clean_name(name)
        model = clean_model(model)
        url, source, key, path = None, KEY_NONE, None, None
        if current.kind == KIND_LOCAL:
            path = clean_model_path(model_path)
        else:
            url = clean_base_url(base_url, required=current.kind == KIND_COMPATIBLE)
            source, key = clean_key(key_source, key_name)
        with self.db.transaction() as conn:
            self._require_free_name(conn, name, except_id=profile_id)
            conn.execute(
                "UPDATE profiles SET name = ?, base_url = ?, key_source = ?, key_name = ?,"
                " model = ?, model_path = ?, updated_at = ? WHERE id = ?",
                (name, url, source, key, model, path, now_iso(), profile_id),
            )
        return self.get(profile_id)

    def set_model(self, profile_id: int, model: str | None) -> Profile:
        """Only the default model (the model picker writes this)."""
        clean = clean_model(model)
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE profiles SET model = ?, updated_at = ? WHERE id = ?",
                (clean, now_iso(), profile_id),
            ).rowcount
        if not changed:
            raise NotFound(
                _("Endpoint profile {profile_id} does not exist.").format(profile_id=profile_id)
            )
        return self.get(profile_id)

    def delete(self, profile_id: int) -> None:
        """Delete an added endpoint; conversations set to it go back to the default."""
        profile = self.get(profile_id)
        if profile.builtin:
            raise InvalidInput(
                _("“{name}” is built in and cannot be deleted.").format(name=profile.name)
            )
        with self.db.transaction() as conn:
            if read_setting(conn, DEFAULT_KEY) == profile_id:
                raise InvalidInput(
                    _("This endpoint is the default. Choose another default before deleting it.")
                )
            conn.execute("DELETE FROM profiles WHERE id = ?", (profile_id,))

    def set_default(self, profile_id: int | None) -> None:
        """The default for new conversations; None means automatic."""
        if profile_id is not None:
            self.get(profile_id)
        with self.db.transaction() as conn:
            write_setting(conn, DEFAULT_KEY, profile_id)

    @staticmethod
    def _require_free_name(
        conn: sqlite3.Connection, name: str, except_id: int | None = None
    ) -> None:
        if _name_taken(conn, name, except_id):
            raise InvalidInput(
                _("An endpoint named “{name}” already exists; choose another name.").format(
                    name=name
                )
            )


def _name_taken(conn: sqlite3.Connection, name: str, except_id: int | None = None) -> bool:
    row = conn.execute(
        "SELECT 1 FROM profiles WHERE name = ? AND id IS NOT ?", (name, except_id)
    ).fetchone()
    return row is not None
