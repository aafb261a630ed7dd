"""System-prompt presets: named prompts the user creates, edits, duplicates and deletes, and
the default one that new conversations start from.

Editing a preset never rewrites history: every answer keeps the exact system prompt text it
was generated with (its snapshot in `messages.system_prompt`).

On first use the app seeds a few useful presets. When `SYSTEM_PROMPT` is set in the
environment at that moment, it becomes a preset of its own and the initial default;
otherwise "Helpful assistant" is. Later changes to `SYSTEM_PROMPT` do not touch saved presets.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from assistant.app_settings import read_setting, write_setting
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.i18n import N_, _
from assistant.store import now_iso

NAME_LIMIT_CHARS = 60
TEXT_LIMIT_CHARS = 20_000
DEFAULT_KEY = "default_preset_id"
SEEDED_KEY = "presets_seeded"
FROM_ENVIRONMENT = N_("From SYSTEM_PROMPT")

SHIPPED_PRESETS: tuple[tuple[str, str], ...] = (
    (
        N_("Helpful assistant"),
        N_(
            "You are a helpful, friendly assistant. Answer clearly and accurately, and say so "
            "when you are not sure."
        ),
    ),
    (
        N_("Concise answers"),
        N_(
            "Answer in as few words as possible: one or two sentences, or a short list. "
            "No preamble and no repetition of the question."
        ),
    ),
    (
        N_("Chinese ↔ English translator"),
        N_(
            "You translate between Chinese and English. When the user writes Chinese, reply "
            "with a natural English translation; when they write English or any other "
            "language, reply with a natural Simplified Chinese translation. Reply with the "
            "translation only."
        ),
    ),
    (
        N_("Code reviewer"),
        N_(
            "You are a careful senior code reviewer. For the code the user shares, point out "
            "bugs, security problems and unclear names first, then smaller style issues. Quote "
            "the lines you mean, suggest concrete fixes, and be direct and brief."
        ),
    ),
)


@dataclass(frozen=True)
class Preset:
    id: int
    name: str
    text: str
    shipped: bool
    created_at: str
    updated_at: str


def _preset(row: sqlite3.Row) -> Preset:
    data = dict(row)
    data["shipped"] = bool(data["shipped"])
    return Preset(**data)


_COLUMNS = "id, name, text, shipped, created_at, updated_at"


def clean_name(name: str, what: str = "A preset", limit: int = NAME_LIMIT_CHARS) -> str:
    """A name with its whitespace collapsed; empty or too long is refused, naming `what`."""
    clean = re.sub(r"\s+", " ", name or "").strip()
    if not clean:
        raise InvalidInput(_("{what} needs a name.").format(what=what))
    if len(clean) > limit:
        raise InvalidInput(
            _("{what} name can have at most {limit} characters ({count} given).").format(
                what=what, limit=limit, count=len(clean)
            )
        )
    return clean


def clean_text(text: str) -> str:
    clean = text.strip()
    if len(clean) > TEXT_LIMIT_CHARS:
        raise InvalidInput(
            _(
                "A system prompt can have at most {TEXT_LIMIT_CHARS:,} characters "
                "({count:,} given)."
            ).format(TEXT_LIMIT_CHARS=TEXT_LIMIT_CHARS, count=len(clean))
        )
    return clean


class PresetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- first use ------------------------------------------------------------------------

    def ensure_seeded(self, system_prompt: str = "") -> None:
        """Add the shipped presets and choose the default, once per database."""
        with self.db.transaction() as conn:
            if read_setting(conn, SEEDED_KEY):
                return
            now = now_iso()
            ids = {}
            for name, text in SHIPPED_PRESETS:  # in the language of the app's first page
                ids[name] = self._insert(conn, _(name), _(text), shipped=True, now=now)
            default = ids[SHIPPED_PRESETS[0][0]]
            if system_prompt.strip():
                default = self._insert(
                    conn, _(FROM_ENVIRONMENT), clean_text(system_prompt), shipped=False, now=now
                )
            write_setting(conn, DEFAULT_KEY, default)
            write_setting(conn, SEEDED_KEY, True)

    # -- reading --------------------------------------------------------------------------

    def list(self) -> list[Preset]:
        with self.db.connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM presets ORDER BY name").fetchall()
        return [_preset(r) for r in rows]

    def get(self, preset_id: int) -> Preset:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM presets WHERE id = ?", (preset_id,)
            ).fetchone()
        if row is None:
            raise NotFound(_("Preset {preset_id} does not exist.").format(preset_id=preset_id))
        return _preset(row)

    def default(self) -> Preset | None:
        """The default preset, or None when none is chosen (no system prompt)."""
        with self.db.connect() as conn:
            preset_id = read_setting(conn, DEFAULT_KEY)
        if not isinstance(preset_id, int):
            return None
        try:
            return self.get(preset_id)
        except NotFound:
            return None

    def default_problem(self) -> str | None:
        """A sentence when a default was saved but cannot be used (deleted or damaged)."""
        with self.db.connect() as conn:
            saved = conn.execute(
                "SELECT value FROM app_settings WHERE key = ?", (DEFAULT_KEY,)
            ).fetchone()
        if saved is None or saved[0] == "null" or self.default() is not None:
            return None
        return _(
            "The saved default preset could not be found, so new chats have no "
            "system prompt. Choose a default preset."
        )

    # -- writing --------------------------------------------------------------------------

    def create(self, name: str, text: str) -> Preset:
        name, text = clean_name(name), clean_text(text)
        with self.db.transaction() as conn:
            self._require_free_name(conn, name)
            preset_id = self._insert(conn, name, text, shipped=False, now=now_iso())
        return self.get(preset_id)

    def update(self, preset_id: int, name: str, text: str) -> Preset:
        name, text = clean_name(name), clean_text(text)
        with self.db.transaction() as conn:
            self._require_free_name(conn, name, except_id=preset_id)
            changed = conn.execute(
                "UPDATE presets SET name = ?, text = ?, updated_at = ? WHERE id = ?",
                (name, text, now_iso(), preset_id),
            ).rowcount
        if not changed:
            raise NotFound(_("Preset {preset_id} does not exist.").format(preset_id=preset_id))
        return self.get(preset_id)

    def duplicate(self, preset_id: int) -> Preset:
        """A copy named "<name> (copy)", "<name> (copy 2)", ... that the user can then edit."""
        original = self.get(preset_id)
        with self.db.transaction() as conn:
            number = 1
            while True:
                suffix = (
                    _(" (copy)") if number == 1 else _(" (copy {number})").format(number=number)
                )
                name = original.name[: NAME_LIMIT_CHARS - len(suffix)] + suffix
                if not _name_taken(conn, name):
                    break
                number += 1
            copy_id = self._insert(conn, name, original.text, shipped=False, now=now_iso())
        return self.get(copy_id)

    def delete(self, preset_id: int) -> None:
        """Delete a preset; the default cannot be deleted until another one is chosen."""
        with self.db.transaction() as conn:
            if read_setting(conn, DEFAULT_KEY) == preset_id:
                raise InvalidInput(
                    _("This preset is the default. Choose another default before deleting it.")
                )
            if not conn.execute("DELETE FROM presets WHERE id = ?", (preset_id,)).rowcount:
                raise NotFound(_("Preset {preset_id} does not exist.").format(preset_id=preset_id))

    def set_default(self, preset_id: int | None) -> None:
        """Make a preset the default for new conversations (None: no system prompt)."""
        if preset_id is not None:
            self.get(preset_id)
        with self.db.transaction() as conn:
            write_setting(conn, DEFAULT_KEY, preset_id)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _insert(conn: sqlite3.Connection, name: str, text: str, shipped: bool, now: str) -> int:
        cursor = conn.execute(
            "INSERT INTO presets (name, text, shipped, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, text, int(shipped), now, now),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    @staticmethod
    def _require_free_name(
        conn: sqlite3.Connection, name: str, except_id: int | None = None
    ) -> None:
        if _name_taken(conn, name, except_id):
            raise InvalidInput(
                _("A preset named “{name}” already exists; choose another name.").format(name=name)
            )


def _name_taken(conn: sqlite3.Connection, name: str, except_id: int | None = None) -> bool:
    row = conn.execute(
        "SELECT 1 FROM presets WHERE name = ? AND id IS NOT ?", (name, except_id)
    ).fetchone()
    return row is not None
