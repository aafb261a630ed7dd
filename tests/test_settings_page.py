"""The settings page and the chat sidebar's per-conversation settings, through AppTest, with a
real database and the fake OpenAI-compatible server."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from conftest import wait_until, without_auto_titles
from streamlit.testing.v1 import AppTest
from tool_helpers import (
    live_server,
    marked_processes,
    new_marker,
    release,
    slow_server,
    stuck_server,
)

from assistant.chat_settings import PROMPT_ONE_OFF
from assistant.db import Database
from assistant.errors import InvalidInput
from assistant.presets import PresetStore
from assistant.profiles import ProfileStore
from assistant.safe_markdown import plain
from assistant.store import Store
from assistant.tool_servers import ToolServerStore

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SETTINGS = "app_pages/settings.py"


@pytest.fixture
def remote(monkeypatch, fake_server, db_path):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_MAX_RETRIES", "0")
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    return fake_server


def settings_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page(SETTINGS)
    return at.run()


def chat_page() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30).run()


def expanders(at: AppTest) -> list[str]:
    return [e.label for e in at.expander]


def expander(at: AppTest, label: str):
    return next(e for e in at.expander if e.label == label)


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def preset_id(db_path: Path, name: str) -> int:
    return next(p.id for p in PresetStore(Database(db_path)).list() if p.name == name)


def test_presets_can_be_created_edited_duplicated_made_default_and_deleted(remote, db_path):
    at = settings_page()
    assert not at.exception
    assert [t.label for t in at.tabs] == [
        "Presets",
        "Endpoints",
        "New chats",
        "Tools",
        "Prices & context",
        "Language & look",
    ]
    for name in ("Helpful assistant · default", "Concise answers", "Code reviewer"):
        assert name in expanders(at)
    assert "Chinese ↔ English translator" in expanders(at)

    at.text_input(key="new-preset-name").input("Haiku")
    at.text_area(key="new-preset-text").input("Answer in a haiku.")
    at = click(at, "Create preset")
    assert "Haiku" in expanders(at)
    haiku = preset_id(db_path, "Haiku")

    at.text_area(key=f"preset-text-{haiku}").input("Answer in two haiku.")
    save = next(b for b in expander(at, "Haiku").button if b.label == "Save")
    at = save.click().run()
    assert PresetStore(Database(db_path)).get(haiku).text == "Answer in two haiku."

    at.button(key=f"preset-duplicate-{haiku}").click().run()
    assert plain("Haiku (copy)") in expanders(at)  # a name is text, never Markdown
    at.button(key=f"preset-default-{haiku}").click().run()
    assert "Haiku · default" in expanders(at)

    # The default cannot go, and says so before asking; another preset can, after a confirmation.
    default_delete = at.button(key=f"preset-delete-{haiku}")
    assert default_delete.disabled and "make another one the default" in default_delete.help
    copy = preset_id(db_path, "Haiku (copy)")
    at.button(key=f"preset-delete-{copy}").click().run()
    assert plain("Delete “Haiku (copy)”?") in at.warning[0].value
    at.button(key=f"preset-confirm-{copy}").click().run()
    assert plain("Haiku (copy)") not in expanders(at)
    assert not at.exception


def test_preset_validation_messages_and_nothing_lost(remote, db_path):
    at = settings_page()
    at.text_input(key="new-preset-name").input("   ")
    at.text_area(key="new-preset-text").input("A prompt worth keeping.")
    at = click(at, "Create preset")
    assert at.error[0].value == plain("A preset needs a name.")
    assert [e.value for e in at.error] == [plain("A preset needs a name.")]
    assert not at.toast  # once, in the box: not a toast as well
    assert at.text_area(key="new-preset-text").value == "A prompt worth keeping."
    at.text_input(key="new-preset-name").input("concise ANSWERS")
    at = click(at, "Create preset")
    assert "already exists" in at.error[0].value
    assert not at.exception


def test_a_preset_shows_where_it_is_used(remote, db_path):
    chat = chat_page()
    concise = preset_id(db_path, "Concise answers")
    chat.selectbox(key="chat-new-prompt-0").set_value(concise).run()
    chat.chat_input[0].set_value("Short please").run()
    at = settings_page()
    captions = [c.value for c in expander(at, "Concise answers").caption]
    assert "Used by 1 chat." in captions


def test_endpoints_add_validate_pick_model_and_check(remote, db_path):
    at = settings_page()
    assert "Embedded model" in expanders(at) and "OpenAI" in expanders(at)
    at.text_input(key="new-profile-name").input("Local server")
    at.text_input(key="new-profile-url").input("localhost:11434/v1")
    at = click(at, "Add endpoint")
    assert plain("must start with http:// or https://") in at.error[0].value
    at.text_input(key="new-profile-url").input(remote.base_url)
    at = click(at, "Add endpoint")
    assert not at.error
    profile = ProfileStore(Database(db_path)).by_name("Local server")
    assert profile.model == "fake-model"  # no model typed: the first one the endpoint lists
    assert at.selectbox(key=f"profile-{profile.id}-model").options == [
        "fake-model",
        "gpt-3.5-turbo",
    ]
    at.selectbox(key=f"profile-{profile.id}-model").set_value("gpt-3.5-turbo").run()
    assert ProfileStore(Database(db_path)).get(profile.id).model == "gpt-3.5-turbo"
    at.button(key=f"profile-{profile.id}-check").click().run()
    assert "Connection works." in at.success[0].value
    assert "First token" in at.success[0].value
    at.button(key=f"profile-{profile.id}-default").click().run()
    assert "Local server · default" in expanders(at)


def test_new_chat_defaults_are_saved_and_a_bad_saved_value_is_survived(remote, db_path):
    at = settings_page()
    at.slider(key="default-temperature").set_value(1.25)
    at = click(at, "Save defaults")
    with Database(db_path).connect() as conn:
        saved = conn.execute("SELECT value FROM app_settings WHERE key = 'default_params'")
        assert '"temperature": 1.25' in saved.fetchone()[0]
        conn.execute("UPDATE app_settings SET value = '[oops' WHERE key = 'default_params'")
        conn.execute("UPDATE app_settings SET value = '999' WHERE key = 'default_preset_id'")
    at = settings_page()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "could not be read; using the defaults" in warnings
    assert "default preset could not be found" in warnings
    assert at.slider(key="default-temperature").value == 0.7
    chat = chat_page()
    assert not chat.exception
    assert "could not be read" in " ".join(w.value for w in chat.sidebar.warning)


def test_chat_sidebar_switches_preset_one_off_model_and_temperature(remote, db_path):
    without_auto_titles(db_path)
    at = chat_page()
    at.chat_input[0].set_value("First").run()
    wait_until(lambda: len(remote.completions()) == 1)
    conversation = Store(Database(db_path)).list_conversations()[0].id
    assert remote.completions()[0].body["messages"][0]["content"].startswith("You are a helpful")

    at = chat_page()
    at.query_params["c"] = str(conversation)
    at.run()
    reviewer = preset_id(db_path, "Code reviewer")
    at.selectbox(key=f"chat-{conversation}-prompt-0").set_value(reviewer).run()
    model = next(s for s in at.sidebar.selectbox if s.label == "Model")  # its key names its value
    model.set_value("fake-model").run()
    at.slider(key=f"chat-{conversation}-temperature-0").set_value(0.3).run()
    assert "**Prompt:** Code reviewer" in at.sidebar.caption[0].value
    at.chat_input[0].set_value("Second").run()
    body = wait_until(lambda: len(remote.completions()) == 2 and remote.completions()[1].body)
    assert body["messages"][0]["content"].startswith("You are a careful senior code reviewer")
    assert (body["model"], body["temperature"]) == ("fake-model", 0.3)
    captions = [c.value.replace("\\", "") for c in at.caption]  # unescaped as shown
    assert any("fake-model · OpenAI · Code reviewer · temperature 0.3" in c for c in captions)
    assert any(
        "gpt-3.5-turbo · OpenAI · Helpful assistant · temperature 0.7" in c for c in captions
    )

    at.selectbox(key=f"chat-{conversation}-prompt-0").set_value(PROMPT_ONE_OFF).run()
    at.text_area(key=f"chat-{conversation}-one-off-0").input("Reply in French.").run()
    at.chat_input[0].set_value("Third").run()
    body = wait_until(lambda: len(remote.completions()) == 3 and remote.completions()[2].body)
    assert body["messages"][0] == {"role": "system", "content": "Reply in French."}
    assert not at.exception


def test_a_new_base_url_for_an_endpoint_with_a_named_key_asks_before_sending_the_key(
    remote, db_path
):
    store = ProfileStore(Database(db_path))
    at = settings_page()
    profile = store.create("Team server", remote.base_url, "env", "TEAM_API_KEY", "fake-model")
    at = settings_page()
    prefix = f"profile-{profile.id}"
    at.text_input(key=f"{prefix}-url").input("http://collector.example.invalid/v1")
    at = next(b for b in expander(at, "Team server").button if b.label == "Save").click().run()
    question = " ".join(w.value for w in at.warning)
    assert "Send the key in TEAM" in question and "collector" in question
    assert store.get(profile.id).base_url == remote.base_url  # nothing saved yet
    at = at.button(key=f"url-cancel-{profile.id}").click().run()
    assert store.get(profile.id).base_url == remote.base_url
    at = next(b for b in expander(at, "Team server").button if b.label == "Save").click().run()
    at = at.button(key=f"url-confirm-{profile.id}").click().run()
    assert store.get(profile.id).base_url == "http://collector.example.invalid/v1"
    assert not at.exception


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("env", "SQLITE_DB_PATH"),
        ("env", "DATABASE_URL"),
        ("env", "STREAMLIT_SERVER_COOKIE_SECRET"),
        ("secrets", "auth.cookie_secret"),
        ("secrets", "auth.google.client_secret"),
        ("secrets", "connections.postgresql.password"),
        ("secrets", "server.cookieSecret"),
    ],
)
def test_a_key_source_may_not_name_the_apps_own_settings_or_secrets(db_path, source, name):
    store = ProfileStore(Database(db_path))
    with pytest.raises(InvalidInput, match="not an API key"):
        store.create("Sneaky", "http://127.0.0.1:9/v1", source, name, "m")
    assert [p.name for p in store.list() if p.name == "Sneaky"] == []
    assert store.create("Fine", "http://127.0.0.1:9/v1", "env", "OPENAI_API_KEY", "m")


def test_a_base_url_has_a_length_limit(db_path):
    store = ProfileStore(Database(db_path))
    with pytest.raises(InvalidInput, match="at most 2,000 characters"):
        store.create("Long", "http://example.invalid/" + "a" * 5000, "none", None, "m")


def test_max_tokens_out_of_range_on_save_says_the_range(remote, db_path):
    at = settings_page()
    at.number_input(key="default-max_tokens").set_value(999_999)
    at = click(at, "Save defaults")
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "Max tokens must be between 1 and" in shown


def test_tool_servers_are_added_checked_imported_and_chosen(remote, db_path):
    at = settings_page()
    at.text_input(key="new-server-name").input("time")
    at.text_input(key="new-server-command").input(sys.executable)
    at.text_input(key="new-server-args").input("-m mcp_server_time --local-timezone UTC")
    at = click(at, "Add")
    assert not at.exception
    shown = f"time · {sys.executable} -m mcp_server_time --local-timezone UTC"
    # Its tools are listed in the background; the title says what it found once it has.
    assert any(label.startswith(plain(shown)) for label in expanders(at))
    wait_until(lambda: plain(f"{shown} · 2 tools") in expanders(at.run()), timeout=30)
    server_id = 1
    at = next(b for b in at.button if b.key == f"server-{server_id}-check").click().run()
    # The check runs in the background (test_a_first_start_that_takes_long_says_it_is_starting)
    wait_until(lambda: "2 tools." in [s.value for s in at.run().success], timeout=30)
    # A pasted mcpServers file: the token is not stored, the page says what to set.
    at.text_area(key="servers-json").input(
        '{"mcpServers": {"gh": {"command": "no-such-mcp-server", "env": {"GITHUB_TOKEN": '
        '"ghp_abc123", "TZ": "UTC"}}}}'
    )
    at = click(at, "Import")
    # Imported, but a secret is still to set: a warning that names it, never a check.
    warned = " ".join(w.value for w in at.warning)
    assert "Imported 1 tool server" in warned and plain("GITHUB_TOKEN") in warned
    assert "Their tools are on for new chats, each call asking first" in warned
    assert not at.toast
    with Database(db_path).connect() as conn:
        stored = conn.execute("SELECT env, env_pass FROM mcp_servers WHERE name = 'gh'").fetchone()
    assert "ghp_abc123" not in str(tuple(stored)) and '"TZ": "UTC"' in stored[0]
    at = next(b for b in at.button if b.key == "server-2-check").click().run()
    wait_until(lambda: any(plain("needs GITHUB_TOKEN") in e.value for e in at.run().error))
    # New chats start with every tool on, asking first; switching one off keeps the rest.
    assert at.toggle(key="default-tools-use-time-get-current-time").value is True
    at.toggle(key="default-tools-use-time-convert-time").set_value(False).run()
    with Database(db_path).connect() as conn:
        value = conn.execute(
            "SELECT value FROM app_settings WHERE key = 'default_tools'"
        ).fetchone()
    assert json.loads(value[0]) == {"time/*": "ask", "gh/*": "ask", "time/convert_time": "off"}
    at.toggle(key="default-tools-use-time-convert-time").set_value(True).run()
    with Database(db_path).connect() as conn:
        value = conn.execute(
            "SELECT value FROM app_settings WHERE key = 'default_tools'"
        ).fetchone()
    assert json.loads(value[0]) == {"time/*": "ask", "gh/*": "ask"}  # on again: no entry of its own
    at.toggle(key="default-tools-use-time-convert-time").set_value(False).run()
    # The chat offers the same choice per chat and says how many are on.
    chat = chat_page()
    labels = [e.label for e in chat.sidebar.expander]
    assert "Tools for this chat · 1 of 2 tools on" in labels


STARTING = "Starting… its tools appear here when it is ready."


def test_a_tool_server_that_never_starts_does_not_hold_up_the_chat_page(remote, db_path):
    marker = new_marker()
    servers = ToolServerStore(Database(db_path))
    servers.save(stuck_server(marker))
    servers.save(live_server(marker))
    try:
        started = time.monotonic()
        at = chat_page()
        seconds = time.monotonic() - started
        assert not at.exception
        # Before: the first run waited for the stuck server's 20 s connect timeout (22 s).
        assert seconds < 8, f"the chat page took {seconds:.1f} s"
        title = "Tools for this chat · 2 servers starting…"
        panel = next(e for e in at.sidebar.expander if e.label == title)
        assert [c.value for c in panel.caption] == [STARTING, STARTING]
        # The quick server's tools are picked up when it is ready, the stuck one still starts.
        wait_until(lambda: "add" in [t.label for t in at.run().sidebar.toggle], timeout=30)
        assert not at.exception
        # Two guards, two servers and the stuck one's child.
        wait_until(lambda: len(marked_processes(marker)) == 5)
    finally:
        from assistant.ui import _services

        _services.clear()  # the app's services retire: the hub stops every server
    wait_until(lambda: not marked_processes(marker), timeout=15)


def test_a_first_start_that_takes_long_says_it_is_starting_then_lists(remote, db_path, tmp_path):
    """A first `npx -y` may take most of a minute: Settings › Tools and the chat's tools panel
    are drawn at once and say the server is starting, then list its tools when it answers.
    The server waits on a FIFO the test opens (tool_helpers.slow_server), never on a clock."""
    gate = tmp_path / "gate"
    servers = ToolServerStore(Database(db_path))
    server = servers.save(slow_server(gate))
    where = plain(f"slow · {server.where}")
    try:
        at = settings_page()
        assert not at.exception
        assert f"{where} · starting…" in expanders(at)
        chat = chat_page()
        starting = "Tools for this chat · 1 server starting…"
        assert starting in [e.label for e in chat.sidebar.expander]
        release(gate)
        wait_until(lambda: f"{where} · 2 tools" in expanders(at.run()), timeout=30)
        labels = [e.label for e in chat.run().sidebar.expander]
        assert "Tools for this chat · 2 of 2 tools on" in labels
    finally:
        from assistant.ui import _services

        _services.clear()
