"""Two languages: the catalogs are complete, every page reads in Chinese without English left
over, the language follows the browser until one is picked, and the worker, the CLI and a new
database speak the page's language."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import wait_until
from fake_openai import Scenario
from seed import finish, turn
from streamlit.testing.v1 import AppTest

from assistant import i18n
from assistant.app_settings import Preferences
from assistant.db import Database
from assistant.presets import PresetStore
from assistant.store import FinalResult, Snapshot, Store

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
PAGES = {
    "chat": "app_pages/chat.py",
    "conversations": "app_pages/conversations.py",
    "usage": "app_pages/usage.py",
    "settings": "app_pages/settings.py",
}
# ASCII words a Chinese page may show: names of products, models, formats, settings and
# variables, placeholders' examples, and what the user or the tests wrote.
ALLOWED = {
    "API", "BASE", "CSV", "Claude", "ChatGPT", "Cursor", "Desktop", "GGUF", "GITHUB", "HTML",
    "HTTP", "Instruct", "JSON", "KEY", "LibreChat", "Lines", "Markdown", "MCP", "NAME", "OLLAMA",
    "ChatbotUI",
    "OPENAI", "Ollama", "Open", "OpenAI", "SmolLM", "Streamable", "Studio", "TOKEN", "ACCESS",
    "PERSONAL", "URL", "WebUI", "SQLITE", "PATH", "SYSTEM", "PROMPT", "ASSISTANT", "LOCAL", "MODEL",
    "Top", "Code", "VS", "Settings", "Europe", "Paris", "Authorization", "mcpServers", "uvx",
    "stdio", "vLLM", "llama", "cpp", "server", "time", "local", "timezone", "toml", "secrets",
    "streamlit", "localhost", "http", "https", "api", "openai", "com", "ollama", "key", "mcp",
    "gpt", "mini", "turbo", "value", "conversations", "json", "jsonl", "python", "assistant",
    "tools", "import", "FILE", "args", "env", "command", "url", "get_current_time", "Team",
    "fake", "other", "English", "gguf",
}  # fmt: skip


def catalog_messages(language: str) -> dict[str, tuple[str, ...]]:
    with i18n.catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found[key] = (message.id, strings)
    return found


def source_messages() -> dict[str, object]:
    found = {}
    for folder in ("assistant", "app_pages"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS
        ):
            found[message if isinstance(message, str) else message[0]] = message
    app = ROOT / "app.py"
    from babel.messages.extract import extract_from_file

    for _line, message, _comments, _context in extract_from_file(
        "python", str(app), keywords=KEYWORDS
    ):
        found[message if isinstance(message, str) else message[0]] = message
    return found


def fields(text: str) -> Counter:
    """The {placeholders} of a message, with their format specs."""
    return Counter(re.findall(r"\{[^{}]*\}", text))


def test_every_message_of_the_code_is_in_the_chinese_catalog_with_the_same_placeholders():
    code = source_messages()
    catalog = catalog_messages(i18n.CHINESE)
    assert len(code) > 600
    missing = sorted(set(code) - set(catalog))
    assert not missing, f"not in the catalog (run `make messages`): {missing[:5]}"
    stale = sorted(set(catalog) - set(code))
    assert not stale, f"in the catalog but no longer in the code: {stale[:5]}"
    for key, (message_id, strings) in catalog.items():
        ids = (message_id,) if isinstance(message_id, str) else message_id
        assert all(strings), f"untranslated: {key!r}"
        for translated in strings:
            for original in ids:
                assert fields(translated) == fields(original), (key, translated)


def test_the_catalog_uses_chinese_plural_rules():
    with i18n.catalog_path(i18n.CHINESE).open("rb") as handle:
        catalog = read_po(handle, locale=i18n.CHINESE)
    assert catalog.num_plurals == 1
    with i18n.using(i18n.CHINESE):
        for count in (0, 1, 2, 11):
            assert (
                i18n.ngettext("{count} token", "{count} tokens", count).format(count=count)
                == f"{count} 个词元"
            )
    with i18n.using(i18n.ENGLISH):
        assert i18n.ngettext("{count} token", "{count} tokens", 1).format(count=1) == "1 token"


def test_numbers_and_dates_follow_the_language():
    day = dt.date(2026, 11, 30)
    with i18n.using(i18n.ENGLISH):
        assert i18n.number(1234567) == "1,234,567"
        assert i18n.date(day) == "Nov 30, 2026"
    with i18n.using(i18n.CHINESE):
        assert i18n.number(1234567) == "1,234,567"
        assert i18n.date(day) == "2026年11月30日"


@pytest.mark.parametrize(
    ("tag", "language"),
    [("zh-CN", "zh_CN"), ("zh-Hans-CN", "zh_CN"), ("zh_TW", "zh_CN"), ("en-GB", "en"),
     ("de-DE", None), ("", None), (None, None)],
)  # fmt: skip
def test_browser_and_terminal_tags_map_to_our_languages(tag, language):
    assert i18n.normalize(tag) == language


def test_the_terminal_language_comes_from_the_environment_in_gettext_order():
    assert i18n.system_language({"LANG": "zh_CN.UTF-8"}) == i18n.CHINESE
    assert i18n.system_language({"LANGUAGE": "en_US:zh_CN", "LANG": "zh_CN.UTF-8"}) == "en"
    assert i18n.system_language({"LANG": "C.UTF-8"}) == i18n.ENGLISH


# -- pages -------------------------------------------------------------------------------------


def app(locale: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if locale:
        at.context["locale"] = locale
    return at


def shown_strings(at: AppTest) -> list[str]:
    """Every text a page shows: values, labels, placeholders, help, options."""
    found: list[str] = []

    def walk(node) -> None:
        has_options = isinstance(getattr(node, "options", None), list | tuple)
        for attr in ("label", "value", "placeholder", "help", "options", "body"):
            if attr == "value" and has_options:
                continue  # a choice's value is a code; its option label is what shows
            try:
                value = getattr(node, attr)
            except Exception:  # an element without it
                continue
            if isinstance(value, str):
                found.append(visible(value) if value.lstrip().startswith("<") else value)
            elif isinstance(value, list | tuple):
                found.extend(v for v in value if isinstance(v, str))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return found


def visible(body: str) -> str:
    """What an st.html body shows: its text and titles, not its style, script or icons."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r'<span[^>]*aria-hidden="true"[^>]*>.*?</span>', " ", body, flags=re.S)
    titles = " ".join(re.findall(r'title="([^"]*)"', body))
    return re.sub(r"<[^>]+>", " ", body) + " " + titles


def english_left(strings: list[str], allowed: set[str]) -> set[str]:
    words = set()
    for text in strings:
        text = re.sub(r"`[^`]*`", "", text)  # commands and file names in code spans
        text = re.sub(r"\S*[/\\]\S*", "", text)  # paths and URLs
        text = re.sub(r"[\w.]+-[\w.-]+", "", text)  # model names (fake-model, gpt-4o-mini)
        for word in re.findall(r"[A-Za-z][A-Za-z_']{2,}", text):
            if "_" in word or word.isupper():
                continue  # a variable's name (OPENAI_API_KEY) or an abbreviation
            if word not in allowed and word.lower() not in allowed:
                words.add(word)
    return words


@pytest.fixture
def history(db_path, monkeypatch, remote):
    """A Chinese database with a finished, a failed and a trashed chat (data in Chinese)."""
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = app("zh-CN").run()  # the first page creates the database in Chinese
    assert not at.exception
    store = Store(Database(db_path))
    snapshot = Snapshot("openai", "gpt-4o-mini", {"temperature": 0.7}, "你是助手。")
    ids = turn(store, None, "长城有多长？", snapshot)
    finish(store, ids.assistant_message_id, FinalResult("complete", "两万多公里。", "stop"))
    ids = turn(store, None, "讲个笑话", snapshot)
    finish(store, ids.assistant_message_id, FinalResult("error", "", None, "连接断开了。"))
    ids = turn(store, None, "旧的对话", snapshot)
    store.trash(ids.conversation_id)
    return store


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_in_chinese_has_no_english_left(history, page):
    at = app("zh-CN")
    if page != "chat":
        at.switch_page(PAGES[page])
    at.run()
    assert not at.exception
    strings = shown_strings(at)
    assert any(re.search(r"[\u4e00-\u9fff]", s) for s in strings)
    # With the embedded model the starter prompts stay English (its Chinese is not Chinese);
    # they are the starters' tooltips.
    from assistant.starters import STARTERS

    prompts = {starter.prompt for starter in STARTERS}
    left = english_left([s for s in strings if s not in prompts], ALLOWED)
    where = [s for s in strings if any(re.search(rf"\b{w}\b", s) for w in left)]
    assert not left, f"English on the Chinese {page} page: {sorted(left)} in {where[:3]}"


def test_the_open_chat_in_chinese_has_no_english_left(history):
    conversation_id = history.list_conversations()[0].id
    at = app("zh-CN")
    at.query_params["c"] = str(conversation_id)
    at.run()
    assert not at.exception
    strings = shown_strings(at)
    assert "两万多公里。" in strings or "连接断开了。" in " ".join(strings)
    assert not english_left(strings, ALLOWED | {"gpt", "mini"})


def test_the_language_follows_the_browser_until_one_is_picked(db_path, monkeypatch, remote):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = app("zh-CN").run()
    assert at.title[0].value == "有什么可以帮你？"
    assert app("en-US").run().title[0].value == "What can I help with?"
    # Picked in Settings: stored, and followed whatever the browser says.
    at = app("zh-CN")
    at.switch_page(PAGES["settings"])
    at.run()
    at.selectbox(key="settings-language").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Settings"  # this run already reads in English
    assert Preferences(Database(db_path)).language() == "en"
    assert app("zh-CN").run().title[0].value == "What can I help with?"
    # Back to the browser's language.
    Preferences(Database(db_path)).set_language("auto")
    assert app("zh-CN").run().title[0].value == "有什么可以帮你？"


def test_the_theme_and_title_settings_are_stored(db_path, monkeypatch, remote):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = app("en-US")
    at.switch_page(PAGES["settings"])
    at.run()
    # Never picked: no page run sets a theme (the picker only switches at a click).
    assert not [h for h in at.get("html") if "assistant-theme-version" in h.proto.body]
    at.segmented_control(key="settings-theme").set_value("dark").run()
    preferences = Preferences(Database(db_path))
    assert preferences.theme() == {"name": "dark", "version": 1}
    # Every page run now tells the browser (once per change; the script checks the version).
    scripts = [h.proto.body for h in app("en-US").run().get("html")]
    assert any('"Dark"' in s and "stActiveTheme-" in s and '"1"' in s for s in scripts)
    at.toggle(key="settings-auto-titles").set_value(False).run()
    assert preferences.auto_titles() is False


def test_shipped_presets_are_chinese_in_a_chinese_database(db_path, monkeypatch, remote):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    assert not app("zh-CN").run().exception
    names = [p.name for p in PresetStore(Database(db_path)).list()]
    assert "贴心助手" in names and "中英互译" in names
    default = PresetStore(Database(db_path)).default()
    assert default is not None and default.name == "贴心助手"
    assert default.text.startswith("你是一个乐于助人")


def test_a_failed_answer_says_why_in_the_language_of_the_page_that_sent_it(
    db_path, monkeypatch, remote
):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    Preferences(Database(db_path)).set_auto_titles(False)
    remote.enqueue(Scenario(status=404))
    at = app("zh-CN").run()
    at.chat_input[0].set_value("你好").run()
    store = Store(Database(db_path))
    answer = store.get_message(2)
    wait_until(lambda: store.get_message(2).status == "error", timeout=10)
    answer = store.get_message(2)
    assert "找不到" in answer.error and "404" in answer.error


def test_the_cli_speaks_the_terminals_language(tmp_path):
    env = {"LANG": "zh_CN.UTF-8", "SQLITE_DB_PATH": str(tmp_path / "cli.db"), "PATH": ""}
    listed = subprocess.run(
        [sys.executable, "-m", "assistant", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0
    assert "还没有对话。" in listed.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "assistant", "show", "999"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode != 0
    assert "对话 999 不存在。" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_exports_have_their_headings_in_the_language_of_the_page(history):
    from assistant import export

    conversation = next(c for c in history.list_conversations() if c.title == "长城有多长？")
    with i18n.using(i18n.CHINESE):
        markdown = export.render(history, "md", conversation.id)
        page = export.render(history, "html", conversation.id)
    assert "开始于" in markdown and "**你**" in markdown and "**助手**" in markdown
    assert '<html lang="zh-CN">' in page and "开始于" in page
    with i18n.using(i18n.ENGLISH):
        assert "**You**" in export.render(history, "md", conversation.id)


def test_prices_in_chinese_show_always_and_a_dash_not_a_sentinel_or_none(history, db_path):
    """The table's headers were English, a price for earlier answers too read "from
    0001-01-01" (the stored sentinel) in the picker and "always" in the table, and a price
    with no cached rate read "None"."""
    from assistant.usage import Usage

    prices = Usage(Database(db_path)).prices
    prices.add("gpt-4o*", 2.5, 10.0, None, earlier_too=True)
    prices.add("claude-3*", 3.0, 15.0, 0.3)
    at = app("zh-CN")
    at.switch_page(PAGES["settings"])
    at.run()
    assert not at.exception
    [table] = [d.value for d in at.dataframe if "有效起始" in d.value.columns]
    assert list(table.columns) == [
        "模型匹配", "输入 $/百万", "输出 $/百万", "缓存输入 $/百万", "有效起始"
    ]  # fmt: skip
    rows = {row["模型匹配"]: row for row in table.to_dict("records")}
    assert rows["gpt-4o*"]["缓存输入 $/百万"] == "—" and rows["gpt-4o*"]["有效起始"] == "始终"
    assert rows["claude-3*"]["缓存输入 $/百万"] == "0.3"
    assert rows["claude-3*"]["有效起始"] == dt.date.today().isoformat()
    choices = at.selectbox(key="price-delete-choice").options
    assert "gpt-4o*（始终）" in choices
    assert not any("0001" in choice or "None" in choice for choice in choices)


def test_the_embedded_endpoint_is_stored_in_english_and_shown_in_the_pages_language(
    db_path, monkeypatch, remote
):
    """A database made by an English page (or the CLI) named it "Embedded model", and
    Chinese pages showed that; a Chinese page stored "内置模型" instead. The stored name now
    stays English (snapshots and usage keep it) and each page shows its own words."""
    from assistant.profiles import EMBEDDED_NAME, ProfileStore

    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    assert not app("en-US").run().exception
    assert EMBEDDED_NAME in [p.name for p in ProfileStore(Database(db_path)).list()]
    at = app("zh-CN")
    at.switch_page(PAGES["settings"])
    at.run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert any(label.startswith("内置模型") for label in labels), labels
    assert not any("Embedded" in label for label in labels)
    embedded = next(p for p in ProfileStore(Database(db_path)).list() if p.kind == "local")
    assert at.text_input(key=f"profile-{embedded.id}-name").value == "内置模型"
    english = app("en-US")
    english.switch_page(PAGES["settings"])
    assert any(e.label.startswith("Embedded model") for e in english.run().expander)


def test_an_answers_stored_reason_reads_in_the_language_of_the_page_showing_it(history):
    """Reasons are stored in the language of the page that sent the answer (or English, by
    recovery after a crash): a Chinese Usage page listed English ones. The provider's own
    words inside a reason are data and stay."""
    from assistant.lifecycle import INTERRUPTED_TEXT

    snapshot = Snapshot("openai", "gpt-4o-mini")
    english = "Could not connect to http://127.0.0.1:9/v1. Is the server running and the URL right?"
    with i18n.using(i18n.CHINESE):
        chinese = i18n._(
            "Could not connect to {where}. Is the server running and the URL right?"
        ).format(where="http://127.0.0.1:9/v1")
    for reason in (english, chinese, "api.example.com sent an error: Upstream overloaded"):
        ids = turn(history, None, "你好", snapshot)
        finish(history, ids.assistant_message_id, FinalResult("error", "", None, reason))
    ids = turn(history, None, "写首诗", snapshot)
    finish(history, ids.assistant_message_id, FinalResult("interrupted", "半句", None,
                                                          INTERRUPTED_TEXT))  # fmt: skip
    with i18n.using(i18n.CHINESE):
        assert i18n.retranslate(english) == chinese
        assert i18n.retranslate("Some words of a provider.") == "Some words of a provider."
    with i18n.using(i18n.ENGLISH):
        assert i18n.retranslate(chinese) == english
    at = app("zh-CN")
    at.switch_page(PAGES["usage"])
    at.run()
    assert not at.exception
    [reasons] = [d.value for d in at.dataframe if "Reason" in d.value.columns]
    counted = dict(zip(reasons["Reason"], reasons["Answers"], strict=True))
    assert counted[chinese] == 2  # one reason, whichever language stored it
    assert counted["api.example.com 发送了错误：Upstream overloaded"] == 1
    assert not english_left(list(counted), ALLOWED | {"Upstream", "overloaded", "example"})
    with i18n.using(i18n.CHINESE):
        assert i18n.retranslate(INTERRUPTED_TEXT) in counted


def test_a_cached_model_list_failure_reads_in_each_pages_language(
    db_path, monkeypatch, closed_port
):
    """The model list (and why it failed) is cached for every browser session: an English
    session's reason was then shown to a Chinese one."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{closed_port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_MAX_RETRIES", "0")
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))

    def problem(locale: str) -> str:
        at = app(locale).run()
        assert not at.exception
        shown = [c.value.replace("\\", "") for c in at.caption]  # Markdown's escapes
        found = [text for text in shown if "list models" in text or "列出模型" in text]
        assert found, shown
        return found[0]

    assert problem("en-US").startswith("Could not list models: Could not connect")
    chinese = problem("zh-CN")
    assert chinese.startswith("无法列出模型") and "Could not" not in chinese, chinese
