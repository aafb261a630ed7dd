"""App-wide choices kept in the `app_settings` table: one JSON value per key.

A value that cannot be decoded reads as unset, so a damaged row makes the app fall back to its
defaults (and say so) instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from assistant.errors import InvalidInput
from assistant.i18n import LANGUAGES, _

if TYPE_CHECKING:
    from assistant.db import Database


def read_setting(conn: sqlite3.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM app_settings WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    try:
        return json.loads(row[0])
    except ValueError:
        return None


def write_setting(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO app_settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )


LANGUAGE_KEY = "language"
THEME_KEY = "theme"
AUTO_TITLES_KEY = "auto_titles"
AUTOMATIC = "auto"  # the language follows the browser
THEMES = ("system", "light", "dark")


class Preferences:
    """The person's choices that are not about models: language, theme, automatic titles.

    One read per page run (`read`); each setter writes one key.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def read(self) -> dict[str, Any]:
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT key, value FROM app_settings WHERE key IN (?, ?, ?)",
                (LANGUAGE_KEY, THEME_KEY, AUTO_TITLES_KEY),
            ).fetchall()
        values: dict[str, Any] = {}
        for key, raw in rows:
            try:
                values[key] = json.loads(raw)
            except ValueError:
                continue  # damaged: the default below
        theme = values.get(THEME_KEY)
        if not isinstance(theme, dict) or theme.get("name") not in THEMES:
            theme = {"name": "system", "version": 0}
        language = values.get(LANGUAGE_KEY)
        return {
            LANGUAGE_KEY: language if language in (AUTOMATIC, *LANGUAGES) else AUTOMATIC,
            THEME_KEY: theme,
            AUTO_TITLES_KEY: values.get(AUTO_TITLES_KEY) is not False,
        }

    def language(self) -> str:
        """ "auto", or a language code the person picked."""
        return self.read()[LANGUAGE_KEY]

    def set_language(self, language: str) -> None:
        if language not in (AUTOMATIC, *LANGUAGES):
            raise InvalidInput(_("Unknown language {language!r}.").format(language=language))
        with self.db.transaction() as conn:
            write_setting(conn, LANGUAGE_KEY, language)

    def theme(self) -> dict[str, Any]:
        """{"name": system | light | dark, "version": n}; the version counts the changes, so
        a browser applies a choice once and the theme menu of Streamlit can still override."""
        return self.read()[THEME_KEY]

    def set_theme(self, name: str) -> None:
        if name not in THEMES:
            raise InvalidInput(_("Unknown theme {name!r}.").format(name=name))
        with self.db.transaction() as conn:
            old = read_setting(conn, THEME_KEY)
            version = old.get("version", 0) if isinstance(old, dict) else 0
            write_setting(conn, THEME_KEY, {"name": name, "version": int(version) + 1})

    def auto_titles(self) -> bool:
        return self.read()[AUTO_TITLES_KEY]

    def set_auto_titles(self, enabled: bool) -> None:
        with self.db.transaction() as conn:
            write_setting(conn, AUTO_TITLES_KEY, bool(enabled))
