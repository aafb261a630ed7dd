"""User data is shown as text, never as Markdown, on every page (AppTest, a real database).

Presets, endpoints, a tool server, conversation titles, model names, a context window, a
price and search queries are given names that Markdown would act on: an image from another
site (which the browser would fetch), emphasis, HTML, LaTeX and Streamlit's colour directive.
Every string a page hands Streamlit to render as Markdown (labels, help tooltips, bodies of
captions, alerts and toasts, radio options) is collected from the page's elements: none may
hold a name in its raw form, none may parse to an image or HTML, and each name must be there
in its escaped form (so the check looked where the names are drawn).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import seed
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from assistant.db import Database
from assistant.safe_markdown import plain
from assistant.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
HOSTILE, SERVER_NAME, names = seed.HOSTILE, seed.SERVER_NAME, seed.hostile
# Proto fields Streamlit renders as Markdown, in the elements that render them so.
MARKDOWN_FIELDS = {"label", "help", "body", "text", "options", "content", "tooltip"}
PLAIN_ELEMENTS = {"text", "html", "code", "json", "arrow_data_frame", "arrow_table"}
PLAIN_FIELDS = {"placeholder", "default", "value", "raw_values", "data", "url", "key", "id"}
# A select's options are drawn as text (checked in the browser: tests/test_e2e_faults.py).
PLAIN_OPTIONS = {"selectbox", "multiselect", "select_slider"}


@pytest.fixture
def hostile(monkeypatch, fake_server, db_path) -> dict[str, int]:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_MAX_RETRIES", "0")
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    fake_server.models = [*names("model"), "fake-model"]
    return seed.hostile_names(Store(Database(db_path)), fake_server.base_url)


def markdown_strings(at: AppTest) -> list[str]:
    """Every string of the page that Streamlit renders as Markdown."""
    found: list[str] = []

    def collect(message, element: str) -> None:
        if element in PLAIN_ELEMENTS:
            return
        for field, value in message.ListFields():
            if field.name in PLAIN_FIELDS or (field.name == "options" and element in PLAIN_OPTIONS):
                continue
            repeated = not isinstance(value, str | bytes) and hasattr(value, "__len__")
            values = value if repeated and not hasattr(value, "ListFields") else [value]
            for item in values:
                if hasattr(item, "ListFields"):
                    collect(item, element)
                elif isinstance(item, str) and field.name in MARKDOWN_FIELDS:
                    found.append(item)

    def visit(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            collect(proto, str(getattr(node, "type", "")))
        children = getattr(node, "children", {})
        for child in children.values() if isinstance(children, dict) else children:
            visit(child)

    visit(at._tree)
    return found


def assert_shown_as_text(at: AppTest, expected: list[str]) -> None:
    assert not at.exception, [e.value for e in at.exception]
    strings = markdown_strings(at)
    parser = MarkdownIt("commonmark")
    for text in strings:
        for hostile in (*HOSTILE, SERVER_NAME):
            assert hostile not in text, text  # the raw form would be interpreted
        for token in parser.parse(text):
            assert token.type not in ("html_block", "html_inline"), text
            for child in token.children or ():
                assert child.type not in ("image", "html_inline"), text
                assert "evil.example" not in (child.attrGet("href") or ""), text
    everything = "\n".join(strings)
    for name in expected:
        assert plain(name) in everything, f"{name!r} is not on the page as text"


def test_settings_shows_every_name_as_text(hostile):
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("app_pages/settings.py")
    at.run()
    expanders = [e.label for e in at.expander]
    for name in names(""):  # the presets' expanders, the default one marked
        assert plain(name) in expanders or plain(name) + " · default" in expanders
    for name in names("endpoint"):
        assert plain(name) in expanders or plain(name) + " · default" in expanders
    assert_shown_as_text(at, [*names(""), *names("endpoint"), *names("model"), *names("chat"),
                              SERVER_NAME, *names("arg")])  # fmt: skip


def test_the_chat_shows_every_name_as_text(hostile):
    for title, conversation_id in hostile.items():
        at = AppTest.from_file(APP, default_timeout=30)
        at.query_params["c"] = str(conversation_id)
        at.run()
        assert_shown_as_text(at, [title, *names("chat")])
    at.sidebar.text_input(key="sidebar_search").set_value(f"{HOSTILE[0]} nowhere").run()
    assert_shown_as_text(at, [f"No matches for “{HOSTILE[0]} nowhere”."])
    at.sidebar.text_input(key="sidebar_search").set_value("chat").run()
    assert_shown_as_text(at, names("chat"))  # the search results


def test_conversations_and_usage_show_every_name_as_text(hostile):
    at = AppTest.from_file(APP, default_timeout=30)
    at.switch_page("app_pages/conversations.py")
    at.query_params["q"] = f"{HOSTILE[0]} nowhere"  # a link can carry the query
    at.run()
    assert_shown_as_text(at, [f"No matches for “{HOSTILE[0]} nowhere”."])
    at.text_input(key="history_search").set_value("chat").run()
    assert_shown_as_text(at, names("chat"))
    usage = AppTest.from_file(APP, default_timeout=30)
    usage.switch_page("app_pages/usage.py")
    usage.run()
    assert_shown_as_text(usage, names("chat"))  # the costliest conversations
