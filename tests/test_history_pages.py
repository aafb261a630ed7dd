"""The conversations page and the chat sidebar's search, through Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
import seed
from streamlit.testing.v1 import AppTest

from assistant import browse, export, importing
from assistant.db import Database
from assistant.safe_markdown import plain
from assistant.store import FinalResult, Snapshot, Store

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGE = "app_pages/conversations.py"


@pytest.fixture
def history(monkeypatch, db_path) -> Store:
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    store = Store(Database(db_path))
    turns = [
        ("How does WAL work in SQLite?", "Readers do not block the writer.", "complete", "gpt-a"),
        ("我们今天学习中文", "好的，我们开始吧。", "complete", "qwen"),
        ("Plan a trip to Kyoto", "", "error", "gpt-a"),
    ]
    for question, answer, status, model in turns:
        ids = seed.turn(store, None, question, Snapshot("openai", model))
        seed.claim(store, ids.assistant_message_id, 0)
        seed.finish(
            store, ids.assistant_message_id, FinalResult(status, answer, error="Rate limited.")
        )
    return store


def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page(PAGE)
    return at


def select_row(at: AppTest, rows: list[int]) -> AppTest:
    """Tick rows of the table as it is shown now (the page has run), then run again."""
    ids = [int(i) for i in at.dataframe[0].value.index]
    selection = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.session_state[browse.table_key(ids)] = selection
    return at.run()


def param(at: AppTest, name: str) -> str | None:
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def titles_in_table(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Title"])


def test_the_table_lists_conversations_and_filters_them(history):
    history.set_pinned(1, True)
    at = page().run()
    assert not at.exception
    assert titles_in_table(at) == [
        "How does WAL work in SQLite?",  # pinned first
        "Plan a trip to Kyoto",
        "我们今天学习中文",
    ]
    table = at.dataframe[0].value
    assert list(table["Messages"]) == [2, 2, 2]
    assert list(table["Pinned"]) == [True, False, False]
    assert list(table["Needs attention"]) == [False, True, False]
    attention = next(t for t in at.toggle if t.label == "Needs attention")
    attention.set_value(True).run()
    assert titles_in_table(at) == ["Plan a trip to Kyoto"]
    attention.set_value(False).run()
    at.multiselect[0].set_value(["qwen"]).run()
    assert titles_in_table(at) == ["我们今天学习中文"]


def test_search_shows_ranked_hits_and_opens_the_conversation_at_the_message(history):
    at = page().run()
    at.text_input(key="history_search").set_value("中文").run()
    assert not at.exception
    assert "1 title and 1 message, best first" in at.caption[0].value
    hit = next(b for b in at.button if b.label == "我们今天学习中文" and "-3" in b.key)
    hit.click().run()
    assert not at.exception
    assert param(at, "c") == "2" and param(at, "m") == "3"
    assert "我们今天学习中文" in [m.value for m in at.markdown]  # the chat page shows it


def test_no_matches_says_so(history):
    at = page().run()
    at.text_input(key="history_search").set_value("zebra").run()
    assert at.info[0].value == plain("No matches for “zebra”.")


def test_selecting_a_row_shows_the_transcript_and_rename_pin_delete_undo(history):
    at = select_row(page().run(), [0])
    assert not at.exception
    assert "Plan a trip to Kyoto" in [m.value for m in at.markdown]  # the newest is first
    assert plain("Rate limited.") in [e.value for e in at.error]  # the failed answer

    at.text_input(key="title-3").set_value("   ").run()  # empty: refused, nothing changes
    assert plain("A title cannot be empty.") in [t.value for t in at.toast]
    assert history.get_conversation(3).title == "Plan a trip to Kyoto"
    at.text_input(key="title-3").set_value("Kyoto, spring 2027").run()
    assert history.get_conversation(3).title == "Kyoto, spring 2027"

    next(b for b in at.button if b.label == "Pin").click().run()
    assert history.get_conversation(3).pinned
    assert plain("Pinned “Kyoto, spring 2027”.") in [t.value for t in at.toast]
    # Pinned, it moved to the top; the panel still shows it, the tick moved with it.
    assert titles_in_table(at)[0] == "Kyoto, spring 2027"
    assert at.text_input(key="title-3").value == "Kyoto, spring 2027"

    next(b for b in at.button if b.label == "Delete").click().run()
    next(b for b in at.button if b.label == "Move to trash").click().run()
    assert history.get_conversation(3).in_trash
    assert any("Moved “Kyoto, spring 2027” to the trash." in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Undo").click().run()
    assert not history.get_conversation(3).in_trash


def test_cancel_in_the_delete_dialog_keeps_the_conversation(history):
    at = select_row(page().run(), [0])
    next(b for b in at.button if b.label == "Delete").click().run()
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert not history.get_conversation(3).in_trash


def test_open_in_chat_lands_on_the_chat_page(history):
    at = select_row(page().run(), [1])
    next(b for b in at.button if b.label == "Open in chat").click().run()
    assert not at.exception
    assert param(at, "c") == "2"
    assert "好的，我们开始吧。" in [m.value for m in at.markdown]


def trash_table(at: AppTest):
    return next(d.value for d in at.dataframe if "Deleted" in d.value.columns)


def trash_ids(store: Store) -> list[int]:
    return [c.id for c in store.list_trash()]


def test_trash_tab_restores_and_empties(history):
    history.trash(1)
    history.trash(2)
    at = page()
    selection = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.session_state[browse.table_key(trash_ids(history), "trash_table")] = selection
    at.run()
    trash_titles = list(at.dataframe[1].value["Title"])
    assert sorted(trash_titles) == ["How does WAL work in SQLite?", "我们今天学习中文"]
    next(b for b in at.button if b.label.startswith("Restore selected")).click().run()
    restored = trash_titles[0]
    assert restored in [c.title for c in history.list_conversations()]
    next(b for b in at.button if b.label == "Empty trash").click().run()
    next(b for b in at.button if b.label == "Delete forever").click().run()
    assert history.list_trash() == []
    assert len(history.list_conversations()) == 2


def test_restoring_from_the_trash_leaves_nothing_else_selected(history):
    """The selection was kept by position: restoring the first row ticked the conversation
    that moved up into its place (and the button offered to restore it too)."""
    for conversation_id in (1, 2, 3):
        history.trash(conversation_id)
    at = page()
    selection = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.session_state[browse.table_key(trash_ids(history), "trash_table")] = selection
    at.run()
    first = next(iter(trash_table(at)["Title"]))
    next(b for b in at.button if b.label == "Restore selected (1)").click().run()
    assert not at.exception
    assert [c.title for c in history.list_conversations()] == [first]
    assert len(history.list_trash()) == 2
    assert first not in list(trash_table(at)["Title"])
    labels = [b.label for b in at.button if b.label.startswith("Restore selected")]
    assert labels == ["Restore selected"]  # nothing ticked
    restore = next(b for b in at.button if b.label == "Restore selected")
    assert restore.disabled
    # and a click of the disabled button's stale state restores nothing more
    at.run()
    assert len(history.list_trash()) == 2


def test_restoring_several_names_the_one_that_failed_and_says_no_success(history):
    history.trash(1)
    history.trash(2)
    at = page()
    selection = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.session_state[browse.table_key(trash_ids(history), "trash_table")] = selection
    at.run()
    button = next(b for b in at.button if b.label.startswith("Restore selected"))
    history.delete_forever(2)  # meanwhile, in another tab
    at = button.click().run()
    assert not at.exception
    assert [c.id for c in history.list_conversations() if c.id == 1] == [1]
    warned = " ".join(w.value for w in at.warning)
    assert plain("Restored “How does WAL work in SQLite?”.") in warned
    assert plain("Not restored: Conversation 2 does not exist.") in warned
    assert not at.toast  # no success toast beside it
    # Shown once: the next run does not show it again.
    assert plain("Not restored") not in " ".join(w.value for w in at.run().warning)


def test_import_from_the_page_reports_success_and_clear_errors(history, tmp_path):
    exported = export.json_text(history).encode("utf-8")
    at = page().run()
    at.file_uploader(key="history_import-0").set_value(
        ("broken.json", b'{"format": "assistant-export"', "application/json")
    ).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    assert at.error[0].value.startswith(plain("broken.json: The file is not valid JSON"))
    assert at.error[0].value.endswith(plain("Nothing was imported."))
    at.file_uploader(key="history_import-1").set_value(
        ("all.json", exported, "application/json")
    ).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert at.success[0].value == "Nothing new: 3 conversations already here."
    # Each import gives a new, empty uploader: Streamlit no longer holds the file.
    assert [u.key for u in at.file_uploader] == ["history_import-2"]
    assert at.file_uploader[0].value is None


def test_a_file_over_the_pages_limit_is_refused_in_a_sentence_before_it_is_read(history):
    at = page().run()
    too_large = b"[" + b" " * (importing.IMPORT_LIMIT_MB * 1024 * 1024) + b"]"
    at.file_uploader(key="history_import-0").set_value(
        ("huge.json", too_large, "application/json")
    ).run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception
    assert at.error[0].value == plain(
        f"huge.json: The file has 100.0 MB; the page imports files up to "
        f"{importing.IMPORT_LIMIT_MB} MB. Import it with the command python -m assistant "
        "import FILE. Nothing was imported."
    )


def test_chat_sidebar_search_opens_the_hit_and_pinned_come_first(history):
    history.set_pinned(2, True)
    at = AppTest.from_file(APP, default_timeout=30).run()
    sidebar = [b for b in at.sidebar.button if (b.key or "").startswith("conversation-")]
    sidebar_titles = [b.label for b in sidebar]
    assert sidebar_titles[0] == "我们今天学习中文"
    at.sidebar.text_input(key="sidebar_search").set_value("writer").run()
    [hit] = [b for b in at.sidebar.button if (b.key or "").startswith("sidebar-hit-")]
    assert hit.label == "How does WAL work in SQLite?"
    hit.click().run()
    assert param(at, "c") == "1" and param(at, "m") == "2"
    assert "Readers do not block the writer." in [m.value for m in at.markdown]


def test_a_conversation_in_the_trash_is_not_opened_from_the_url(history):
    history.trash(1)
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["c"] = "1"
    at.run()
    assert not at.exception
    assert at.title[0].value == "What can I help with?"
    assert "in the trash" in at.toast[0].value


def test_undo_after_the_conversation_was_deleted_for_good_elsewhere_says_so(history):
    at = select_row(page().run(), [0])
    next(b for b in at.button if b.label == "Delete").click().run()
    next(b for b in at.button if b.label == "Move to trash").click().run()
    history.empty_trash()  # e.g. from the command line, meanwhile
    next(b for b in at.button if b.label == "Undo").click().run()
    assert not at.exception
    assert plain("Conversation 3 does not exist.") in [e.value for e in at.error]
