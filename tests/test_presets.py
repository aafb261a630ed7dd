"""System-prompt presets: seeding, CRUD, validation, the default, and migration 3."""

from __future__ import annotations

import sqlite3

import pytest

from assistant import migrations
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.presets import FROM_ENVIRONMENT, SHIPPED_PRESETS, PresetStore


@pytest.fixture
def presets(db_path) -> PresetStore:
    store = PresetStore(Database(db_path))
    store.ensure_seeded()
    return store


def test_first_use_ships_presets_and_helpful_assistant_is_the_default(presets):
    names = {p.name for p in presets.list()}
    assert names == {name for name, _text in SHIPPED_PRESETS}
    assert all(p.shipped for p in presets.list())
    assert presets.default().name == "Helpful assistant"
    presets.ensure_seeded("ignored the second time")
    assert len(presets.list()) == len(SHIPPED_PRESETS)  # seeding happens once per database


def test_system_prompt_from_the_environment_is_the_initial_default(db_path):
    presets = PresetStore(Database(db_path))
    presets.ensure_seeded("  You are a pirate.  ")
    default = presets.default()
    assert (default.name, default.text, default.shipped) == (
        FROM_ENVIRONMENT,
        "You are a pirate.",
        False,
    )


def test_create_update_duplicate_delete(presets):
    mine = presets.create("  Poet ", "Answer in verse.")
    assert (mine.name, mine.text, mine.shipped) == ("Poet", "Answer in verse.", False)
    edited = presets.update(mine.id, "Poet", "Answer in rhyming verse.")
    assert edited.text == "Answer in rhyming verse."
    assert edited.created_at == mine.created_at
    copy = presets.duplicate(mine.id)
    again = presets.duplicate(mine.id)
    assert (copy.name, again.name) == ("Poet (copy)", "Poet (copy 2)")
    assert copy.text == "Answer in rhyming verse."
    presets.delete(copy.id)
    with pytest.raises(NotFound):
        presets.get(copy.id)
    with pytest.raises(NotFound):
        presets.delete(copy.id)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("   ", "x", "A preset needs a name."),
        ("n" * 61, "x", "at most 60 characters (61 given)"),
        ("helpful ASSISTANT", "x", "A preset named “helpful ASSISTANT” already exists"),
        ("Long", "x" * 20_001, "at most 20,000 characters (20,001 given)"),
    ],
)
def test_invalid_presets_are_refused_with_a_clear_message(presets, name, text, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        presets.create(name, text)
    assert len(presets.list()) == len(SHIPPED_PRESETS)


def test_renaming_to_another_presets_name_is_refused_but_keeping_ones_own_is_fine(presets):
    concise = next(p for p in presets.list() if p.name == "Concise answers")
    with pytest.raises(InvalidInput, match="already exists"):
        presets.update(concise.id, "Code reviewer", concise.text)
    assert presets.update(concise.id, "concise answers", "Short.").name == "concise answers"


def test_the_default_cannot_be_deleted_until_another_is_chosen(presets):
    default = presets.default()
    with pytest.raises(InvalidInput, match="Choose another default"):
        presets.delete(default.id)
    other = next(p for p in presets.list() if p.id != default.id)
    presets.set_default(other.id)
    presets.delete(default.id)
    assert presets.default().id == other.id
    presets.set_default(None)
    assert presets.default() is None
    with pytest.raises(NotFound):
        presets.set_default(9999)


def test_a_damaged_saved_default_reads_as_none(presets):
    with presets.db.connect() as conn:
        conn.execute("UPDATE app_settings SET value = '{not json' WHERE key = 'default_preset_id'")
    assert presets.default() is None


def test_migration_3_applies_on_a_version_2_database_with_history(db_path):
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        assert migrations.migrate(conn, target=2) == 2
        conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at, uid)"
            " VALUES ('kept', 't', 't', 'u1')"
        )
    db = Database(db_path)
    assert db.schema_version() == migrations.LATEST_VERSION
    with db.connect() as conn:
        assert conn.execute("SELECT title FROM conversations").fetchone()[0] == "kept"
    presets = PresetStore(db)
    presets.ensure_seeded()
    assert presets.default() is not None
