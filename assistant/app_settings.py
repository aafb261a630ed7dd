"""App-wide choices kept in the `app_settings` table: one JSON value per key.

A value that cannot be decoded reads as unset, so a damaged row makes the app fall back to its
defaults (and say so) instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any


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
