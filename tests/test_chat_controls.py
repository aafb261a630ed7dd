"""The chat page's controls a newcomer reaches for, through AppTest with a real database: the
endpoint and model at the top of the chat, no model chosen, a message too long for the
embedded model, and rename / delete from the sidebar."""

from __future__ import annotations

from pathlib import Path

from conftest import without_auto_titles
from fake_openai import Scenario
from streamlit.testing.v1 import AppTest

from assistant.db import Database
from assistant.profiles import ProfileStore
from assistant.safe_markdown import plain
from assistant.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def toasts(at: AppTest) -> list[str]:
    return [t.value for t in at.toast]


def top(at: AppTest, label: str):
    """The select at the top of the chat (the main area's first with this label)."""
    return next(s for s in at.main.selectbox if s.label == label)


def panel(at: AppTest, label: str):
    return next(s for s in at.sidebar.selectbox if s.label == label)


def add_endpoint(db_path: Path, name: str, base_url: str, model: str | None = None) -> int:
    profiles = ProfileStore(Database(db_path))
    profiles.ensure_seeded()
    return profiles.create(name, base_url, model=model).id


def conversation_model(db_path: Path, conversation_id: int) -> tuple[int | None, str | None]:
    with Database(db_path).connect() as conn:
        row = conn.execute(
            "SELECT profile_id, model FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
    return row["profile_id"], row["model"]


# -- endpoint and model at the top ---------------------------------------------------------


def test_the_top_row_sets_the_chats_endpoint_and_model_and_the_sidebar_follows(remote, db_path):
    without_auto_titles(db_path)
    team = add_endpoint(db_path, "Team server", remote.base_url)  # no default model: the first
    remote.enqueue(Scenario(chunks=["One."]), Scenario(chunks=["Two."]))
    at = app().run()
    assert top(at, "Endpoint").value == panel(at, "Endpoint").value != team
    at.chat_input[0].set_value("Hello").run()
    conversation_id = int(at.query_params["c"][0])

    top(at, "Endpoint").select(team).run()
    assert not at.exception
    # Its first listed model (the list is sorted), and both selects say so (one source of
    # truth: the chat's settings).
    assert conversation_model(db_path, conversation_id) == (team, "fake-model")
    assert panel(at, "Endpoint").value == team
    assert top(at, "Model").value == panel(at, "Model").value == "fake-model"

    top(at, "Model").select("gpt-3.5-turbo").run()
    assert conversation_model(db_path, conversation_id) == (team, "gpt-3.5-turbo")
    assert panel(at, "Model").value == "gpt-3.5-turbo"
    panel(at, "Model").select("fake-model").run()  # and back from the sidebar
    assert top(at, "Model").value == "fake-model"

    at.chat_input[0].set_value("Again").run()
    assert "Two." in texts(at)
    assert remote.completions()[-1].body["model"] == "fake-model"


def test_a_new_endpoint_with_a_default_model_follows_it(remote, db_path):
    own = add_endpoint(db_path, "Own", remote.base_url, model="fake-model")
    at = app().run()
    top(at, "Endpoint").select(own).run()
    assert not at.exception
    assert top(at, "Model").value == "fake-model"
    assert panel(at, "Endpoint").value == own


def test_the_embedded_model_is_shown_at_the_top_without_asking_any_network(monkeypatch, db_path):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = app().run()
    assert not at.exception
    model = top(at, "Model")
    assert model.value.startswith("SmolLM2-135M-Instruct") and model.disabled
    assert model.options == [model.value]  # its own file: nothing asked of any network


# -- no model chosen -------------------------------------------------------------------------


def test_with_no_model_the_gauge_says_so_and_sending_is_refused_and_kept(
    remote, db_path, closed_port
):
    without_auto_titles(db_path)
    # An endpoint with no default model that lists none (nothing listens there).
    nowhere = add_endpoint(db_path, "Nowhere", f"http://127.0.0.1:{closed_port}/v1")
    remote.enqueue(Scenario(chunks=["First."]))
    at = app().run()
    at.chat_input[0].set_value("Hello").run()
    conversation_id = int(at.query_params["c"][0])
    top(at, "Endpoint").select(nowhere).run()
    assert not at.exception
    assert conversation_model(db_path, conversation_id) == (nowhere, None)
    captions = [c.value for c in at.sidebar.caption]
    assert any("No model is chosen for this chat" in c for c in captions)
    assert not any("Set 's" in c or "Set {" in c for c in captions)

    at.chat_input[0].set_value("Second question").run()
    assert not at.exception
    assert any("No model is chosen for this chat" in t for t in toasts(at))
    assert at.chat_input[0].value == "Second question"  # handed back
    assert len(Store(Database(db_path)).messages(conversation_id)) == 2  # nothing stored
    assert len(remote.completions()) == 1  # nothing sent


# -- a message too long for the embedded model -------------------------------------------------


def test_a_message_too_long_for_the_embedded_model_is_refused_before_it_is_stored(
    monkeypatch, db_path
):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = app().run()
    # About 3,000 tokens with the model's own tokenizer: over its 2,048-token window even
    # alone; under the 32,000-character input limit.
    long_text = "The quick brown fox jumps over the lazy dog. " * 300
    at.chat_input[0].set_value(long_text).run()
    assert not at.exception
    refusal = plain("too long for the embedded model's 2,048-token context window")
    assert any(refusal in w.value for w in at.warning)  # a box that stays, not a toast
    assert at.chat_input[0].value == long_text
    assert Store(Database(db_path)).list_conversations() == []


def test_the_embedded_models_own_check_is_the_one_the_page_asks():
    """The page's refusal and the model's own (it would fail the answer) draw the same line."""
    from assistant.config import load_settings
    from assistant.errors import ProviderError
    from assistant.providers import LocalModel

    settings = load_settings(environ={}, secrets={})
    model = LocalModel(settings.local_model_path, n_ctx=settings.local_context)
    model.load()
    fits = "word " * 300
    too_long = "The quick brown fox jumps over the lazy dog. " * 300
    assert model.fits_alone("Be brief.", fits, 512)
    assert not model.fits_alone("Be brief.", too_long, 512)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": too_long}]
    try:
        model.fit_context(messages, 512)
    except ProviderError as exc:
        assert "too long for the embedded model" in str(exc)
    else:  # pragma: no cover - the assertion above
        raise AssertionError("fit_context took a message that fits_alone refused")


# -- rename and delete from the sidebar ------------------------------------------------------


def test_rename_from_the_sidebar_menu_saves_on_enter_and_refuses_empty(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["Fine."]))
    at = app().run()
    at.chat_input[0].set_value("Plan the trip").run()
    conversation_id = int(at.query_params["c"][0])
    at.button(key=f"menu-{conversation_id}").click().run()
    title_box = at.text_input(key=f"sidebar-title-{conversation_id}")
    assert title_box.value == "Plan the trip"

    title_box.set_value("   ").run()
    assert plain("A title cannot be empty.") in toasts(at)
    assert at.text_input(key=f"sidebar-title-{conversation_id}").value == "Plan the trip"
    assert Store(Database(db_path)).get_conversation(conversation_id).title == "Plan the trip"

    at.text_input(key=f"sidebar-title-{conversation_id}").set_value("Lisbon in May").run()
    assert not at.exception
    assert Store(Database(db_path)).get_conversation(conversation_id).title == "Lisbon in May"
    assert at.button(key=f"conversation-{conversation_id}").label == "Lisbon in May"
    assert not [t for t in at.text_input if t.key == f"sidebar-title-{conversation_id}"]


def test_delete_from_the_sidebar_moves_the_open_chat_to_the_trash_with_undo(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["A."]), Scenario(chunks=["B."]))
    at = app().run()
    at.chat_input[0].set_value("Keep me").run()
    kept = int(at.query_params["c"][0])
    at.sidebar.button[0].click().run()  # New chat
    at.chat_input[0].set_value("Delete me").run()
    doomed = int(at.query_params["c"][0])

    at.button(key=f"menu-{doomed}").click().run()
    at.button(key=f"sidebar-delete-{doomed}").click().run()
    assert not at.exception
    store = Store(Database(db_path))
    assert store.get_conversation(doomed).in_trash
    assert "c" not in at.query_params  # the open chat gave way to a new one
    assert at.title[0].value == "What can I help with?"
    assert [b.key for b in at.sidebar.button if (b.key or "").startswith("conversation-")] == [
        f"conversation-{kept}"
    ]
    assert "Moved “Delete me” to the trash." in [c.value for c in at.sidebar.caption]

    at.button(key="sidebar-undo-trash").click().run()
    assert not store.get_conversation(doomed).in_trash
    assert at.query_params["c"] in (str(doomed), [str(doomed)])  # back where it was
    assert "Delete me" in texts(at)


def test_deleting_another_chat_from_the_sidebar_leaves_the_open_one_open(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["A."]), Scenario(chunks=["B."]))
    at = app().run()
    at.chat_input[0].set_value("Other").run()
    other = int(at.query_params["c"][0])
    at.sidebar.button[0].click().run()
    at.chat_input[0].set_value("Open one").run()
    open_one = int(at.query_params["c"][0])
    at.button(key=f"menu-{other}").click().run()
    at.button(key=f"sidebar-delete-{other}").click().run()
    assert Store(Database(db_path)).get_conversation(other).in_trash
    assert at.query_params["c"] in (str(open_one), [str(open_one)])
    assert "Open one" in texts(at)
