"""The chat page through Streamlit's AppTest, with a real database and the fake server."""

from __future__ import annotations

from pathlib import Path

import seed
from conftest import REMOTE_KEY, without_auto_titles
from fake_openai import Scenario
from streamlit.testing.v1 import AppTest

from assistant.db import Database
from assistant.safe_markdown import plain
from assistant.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
KEY = REMOTE_KEY


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30)


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_first_visit_offers_the_embedded_model(monkeypatch, db_path):
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "What can I help with?"
    assert "small offline demo model" in at.info[0].value
    sidebar = " ".join(c.value for c in at.sidebar.caption).replace("\\", "")
    assert "**Model:** SmolLM2-135M-Instruct" in sidebar
    assert "**Endpoint:** Embedded model" in sidebar
    assert "**Prompt:** Helpful assistant" in sidebar


def test_sending_a_message_streams_the_answer_and_keeps_it(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["Hi ", "there", "!"]))
    at = app().run()
    at.chat_input[0].set_value("Hello").run()
    assert not at.exception
    assert "Hello" in texts(at)
    assert "Hi there!" in texts(at)
    assert any(
        plain("gpt-3.5-turbo · OpenAI · Helpful assistant · temperature 0.7 · 3 tokens") in c.value
        for c in at.caption
    )
    conversation_id = at.query_params["c"][0]
    # A fresh page with the conversation in the URL shows it again (a reload).
    again = app()
    again.query_params["c"] = conversation_id
    again.run()
    assert "Hi there!" in texts(again)
    assert again.button(key=f"conversation-{conversation_id}").label == "Hello"


def test_empty_message_is_ignored(remote, db_path):
    at = app().run()
    at.chat_input[0].set_value("   ").run()
    assert not at.exception
    assert plain("Type a message first.") in [t.value for t in at.toast]
    assert Store(Database(db_path)).list_conversations() == []
    assert remote.completions() == []


def test_oversized_message_is_refused_and_nothing_is_sent(remote, monkeypatch, db_path):
    monkeypatch.setenv("ASSISTANT_MAX_INPUT_CHARS", "20")
    at = app().run()
    at.chat_input[0].set_value("x" * 21).run()
    assert not at.exception
    assert any("limit is 20" in t.value for t in at.toast)
    assert at.chat_input[0].value == "x" * 21  # handed back for editing, not lost
    assert Store(Database(db_path)).list_conversations() == []
    assert remote.completions() == []


def test_provider_error_shows_in_the_bubble_and_retry_adds_a_version(remote):
    remote.enqueue(Scenario(status=500), Scenario(chunks=["Recovered."]))
    at = app().run()
    at.chat_input[0].set_value("Hello").run()
    assert plain("internal error (500)") in at.error[0].value
    retry = next(b for b in at.button if b.label == "Retry")
    retry.click().run()
    assert not at.exception
    assert "Recovered." in texts(at)
    assert "2 / 2" in [c.value for c in at.caption]
    # The failed first version is still there.
    next(b for b in at.button if b.key.startswith("prev-")).click().run()
    assert plain("internal error (500)") in at.error[0].value


def test_wrong_key_is_explained_without_showing_it(monkeypatch, db_path):
    from fake_openai import FakeOpenAIServer

    server = FakeOpenAIServer(api_key="the-right-key").start()
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
        at = app().run()
        at.chat_input[0].set_value("Hello").run()
    finally:
        server.stop()
    assert "API key was rejected" in at.error[0].value
    page_text = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.error])
    assert KEY not in page_text


def test_regenerate_keeps_the_earlier_answer(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["First."]), Scenario(chunks=["Second."]))
    at = app().run()
    at.chat_input[0].set_value("Hello").run()
    next(b for b in at.button if b.label == "Regenerate").click().run()
    assert "Second." in texts(at)
    assert "First." not in texts(at)
    next(b for b in at.button if b.key.startswith("prev-")).click().run()
    assert "First." in texts(at)


def test_corrupt_database_shows_a_clear_message(monkeypatch, db_path):
    db_path.write_bytes(b"not sqlite" * 300)
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    at = app().run()
    assert not at.exception
    assert "damaged or is not an SQLite database" in at.error[0].value


def test_unknown_conversation_in_the_url_starts_a_new_chat(remote):
    at = app()
    at.query_params["c"] = "9999"
    at.run()
    assert not at.exception
    assert at.title[0].value == "What can I help with?"
    assert "c" not in at.query_params


def test_new_chat_button_leaves_the_conversation(remote):
    at = app().run()
    at.chat_input[0].set_value("Hello").run()
    assert "c" in at.query_params
    at.sidebar.button[0].click().run()
    assert "c" not in at.query_params
    assert at.title[0].value == "What can I help with?"


def test_answer_left_by_a_dead_process_shows_as_interrupted_with_retry(remote, db_path):
    import time

    from assistant.store import Snapshot

    store = Store(Database(db_path))
    ids = seed.turn(store, None, "Tell me more", Snapshot("openai", "gpt-3.5-turbo", {}, ""))
    seed.claim(store, ids.assistant_message_id, time.time() - 600)
    seed.checkpoint(store, ids.assistant_message_id, "The first half", time.time() - 600)
    remote.enqueue(Scenario(chunks=["A fresh answer."]))

    at = app()
    at.query_params["c"] = str(ids.conversation_id)
    at.run()
    assert not at.exception
    assert "The first half" in texts(at)
    assert "stopped while this answer was being written" in at.warning[0].value
    next(b for b in at.button if b.label == "Retry").click().run()
    assert "A fresh answer." in texts(at)


def test_titles_and_messages_with_markdown_images_never_render_an_image(remote, db_path):
    without_auto_titles(db_path)
    hostile = "Hi ![x](http://collector.invalid/p.png?d=1) **bold**"
    remote.enqueue(Scenario(chunks=["Answer ", "![y](http://collector.invalid/a.png)"]))
    at = app().run()
    at.chat_input[0].set_value(hostile).run()
    assert not at.exception
    at = app()
    at.query_params["c"] = "1"
    at.run()
    # The sidebar label is the title as typed: escaped, so no image, link or bold.
    label = next(b.label for b in at.sidebar.button if "collector" in b.label)
    assert label == plain(Store(Database(db_path)).get_conversation(1).title)
    rendered = " ".join(texts(at))
    assert "![" not in rendered.replace("\\![", "")  # every image became a link
    assert "image: y (http://collector.invalid/a.png)" in rendered.replace("\\", "")


def test_an_imported_answer_shows_its_endpoint_and_preset_in_the_caption(remote, db_path):
    from assistant.store import ImportedConversation, ImportedMessage

    store = Store(Database(db_path))
    store.import_conversations(
        [
            ImportedConversation(
                uid="u-import",
                title="Imported",
                created_at="2026-01-01T00:00:00Z",
                updated_at="2026-01-01T00:00:00Z",
                messages=(
                    ImportedMessage("q", "user", "question", "2026-01-01T00:00:00Z"),
                    ImportedMessage(
                        "a",
                        "assistant",
                        "answer",
                        "2026-01-01T00:00:01Z",
                        reply_to="q",
                        provider="Team server",
                        model="qwen",
                        preset="Code reviewer",
                    ),
                ),
            )
        ]
    )
    at = app()
    at.query_params["c"] = "1"
    at.run()
    captions = [c.value.replace("\\", "") for c in at.caption]
    assert any(c.startswith("qwen · Team server · Code reviewer") for c in captions)


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def test_edit_save_and_send_branches_and_cancel_changes_nothing(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["One."]), Scenario(chunks=["Two."]))
    at = app().run()
    at.chat_input[0].set_value("First").run()
    at.chat_input[0].set_value("Second").run()
    store = Store(Database(db_path))
    first = store.messages(1)[0].id
    _button(at, f"edit-{first}").click().run()
    at.text_area(key=f"edit-text-{first}").set_value("First, changed").run()
    _button(at, f"cancel-{first}").click().run()
    assert len(store.messages(1)) == 4 and "Two." in texts(at)  # Cancel: nothing happened
    _button(at, f"edit-{first}").click().run()
    assert at.text_area(key=f"edit-text-{first}").value == "First"
    at.text_area(key=f"edit-text-{first}").set_value("   ").run()
    _button(at, f"save-{first}").click().run()
    assert plain("Type a message first.") in [t.value for t in at.toast]  # the box stays open
    assert at.text_area(key=f"edit-text-{first}").value == "   "
    remote.enqueue(Scenario(chunks=["Changed."]))
    at.text_area(key=f"edit-text-{first}").set_value("First, changed").run()
    _button(at, f"save-{first}").click().run()
    assert not at.exception
    assert "Changed." in texts(at) and "Two." not in texts(at)
    assert "2 / 2" in [c.value for c in at.caption]
    _button(at, f"prev-{store.messages(1)[-2].id}").click().run()
    assert "Two." in texts(at) and "Changed." not in texts(at)
    assert len(store.messages(1)) == 6


def test_a_search_hit_on_another_branch_opens_that_branch(remote, db_path):
    remote.enqueue(Scenario(chunks=["Original answer."]), Scenario(chunks=["Newer answer."]))
    at = app().run()
    at.chat_input[0].set_value("Question").run()
    next(b for b in at.button if b.label == "Regenerate").click().run()
    store = Store(Database(db_path))
    (hit,) = [h for h in store.search("original") if h.message_id]
    fresh = app()
    fresh.query_params["c"] = str(hit.conversation_id)
    fresh.query_params["m"] = str(hit.message_id)
    fresh.run()
    assert "Original answer." in texts(fresh) and "Newer answer." not in texts(fresh)
    assert "1 / 2" in [c.value for c in fresh.caption]


def test_fork_opens_a_new_chat_with_a_link_back(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["A."]), Scenario(chunks=["B."]))
    at = app().run()
    at.chat_input[0].set_value("Q1").run()
    at.chat_input[0].set_value("Q2").run()
    store = Store(Database(db_path))
    first_answer = store.messages(1)[1].id
    _button(at, f"fork-{first_answer}").click().run()
    assert not at.exception
    assert at.query_params["c"] in ("2", ["2"])
    assert "A." in texts(at) and "B." not in texts(at)
    assert "Started from" in [c.value for c in at.caption]
    _button(at, "forked-from").click().run()
    assert at.query_params["c"] in ("1", ["1"]) and "B." in texts(at)


def test_reasoning_shows_collapsed_above_the_answer(remote, db_path):
    remote.enqueue(Scenario(chunks=["Four."], reasoning=["Two and two…"]))
    at = app().run()
    at.chat_input[0].set_value("2+2?").run()
    assert not at.exception
    (expander,) = [e for e in at.expander if e.label.startswith("Thought for")]
    assert [m.value for m in expander.markdown] == ["Two and two…"]
    assert "Four." in texts(at)


def test_a_fork_takes_the_chat_settings_along(remote, db_path):
    remote.enqueue(Scenario(chunks=["A."]))
    at = app().run()
    at.chat_input[0].set_value("Q1").run()
    store = Store(Database(db_path))
    with store.db.transaction() as conn:
        conn.execute("UPDATE conversations SET model = 'fake-model', params = '{\"top_p\": 0.5}'")
    _button(at, f"fork-{store.messages(1)[1].id}").click().run()
    with store.db.connect() as conn:
        rows = conn.execute(
            "SELECT preset_id, system_prompt, profile_id, model, params FROM conversations"
            " ORDER BY id"
        ).fetchall()
    assert tuple(rows[0]) == tuple(rows[1])
    assert rows[1]["model"] == "fake-model"


def test_a_fork_from_a_question_offers_to_answer_it(remote, db_path):
    without_auto_titles(db_path)
    remote.enqueue(Scenario(chunks=["A."]), Scenario(chunks=["Fresh answer."]))
    at = app().run()
    at.chat_input[0].set_value("Only question").run()
    question = Store(Database(db_path)).messages(1)[0].id
    _button(at, f"fork-{question}").click().run()
    assert "A." not in texts(at) and "Only question" in texts(at)
    next(b for b in at.button if b.label == "Answer").click().run()
    assert not at.exception
    assert "Fresh answer." in texts(at)


def test_an_answer_shows_its_cost_and_the_chat_its_total(remote, db_path):
    from assistant.usage import Usage

    Usage(Database(db_path)).prices.add("gpt-3.5*", 1000, 2000, earlier_too=True)
    remote.enqueue(Scenario(chunks=["One ", "two."], prompt_tokens=10))
    at = app().run()
    at.chat_input[0].set_value("Count").run()
    cost = (10 * 1000 + 2 * 2000) / 1_000_000  # 10 tokens in, 2 out
    assert any(c.value.endswith(plain(f"· ${cost:.4f}")) for c in at.caption)
    expected = plain(f"This chat: 12 tokens in 1 answer · ${cost:.4f}")
    assert expected in [c.value for c in at.sidebar.caption]


def test_a_message_that_would_overflow_the_window_is_refused_and_kept(remote, db_path):
    from assistant.context_gauge import ContextWindows

    ContextWindows(Database(db_path)).set("gpt-3.5-turbo", 300)
    remote.enqueue(Scenario(chunks=["Short."], prompt_tokens=100))
    at = app().run()
    at.chat_input[0].set_value("Hello").run()
    gauge = [p.text for p in at.sidebar.get("progress")]
    assert gauge == [plain("Context: 101 of 300 tokens (34%)")]  # 100 in + 1 out, measured
    long_text = "word " * 200  # about 250 tokens: over what is left
    at.chat_input[0].set_value(long_text).run()
    assert any("context window" in w.value for w in at.warning)  # stays, unlike a toast
    assert at.chat_input[0].value == long_text  # handed back
    assert len(Store(Database(db_path)).messages(1)) == 2  # nothing sent


def test_the_gauge_uses_the_window_the_endpoint_reports(remote, db_path):
    remote.windows["gpt-3.5-turbo"] = 4096  # as vLLM's /models says max_model_len
    remote.enqueue(Scenario(chunks=["Ok."], prompt_tokens=400))
    at = app().run()
    at.chat_input[0].set_value("Hello").run()
    assert [p.text for p in at.sidebar.get("progress")] == [
        plain("Context: 401 of 4,096 tokens (10%)")
    ]


def test_a_starter_prompt_sends_on_click(remote, db_path):
    without_auto_titles(db_path)
    from assistant.starters import STARTERS

    remote.enqueue(Scenario(chunks=["Paris."]))
    at = app().run()
    assert [b.label for b in at.button if (b.key or "").startswith("starter-")] == [
        s.label for s in STARTERS
    ]
    next(b for b in at.button if b.key == "starter-1").click().run()
    assert not at.exception
    assert STARTERS[1].prompt in texts(at) and "Paris." in texts(at)
    assert remote.completions()[-1].body["messages"][-1]["content"] == STARTERS[1].prompt


def test_a_tool_image_is_drawn_from_its_bytes_and_a_cut_call_says_stopped(remote, db_path):
    import base64
    import io
    import struct

    from PIL import Image

    from assistant.parts import TEXT, TOOL_CALL, TOOL_RESULT, Part
    from assistant.store import FinalResult, Snapshot

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    png = base64.b64encode(buffer.getvalue()).decode()
    # An optional chunk with a wrong checksum after the header, as in server-everything's
    # tiny image: Pillow refuses the file (and `st.image` raised, breaking the page).
    raw = buffer.getvalue()
    bad_chunk = struct.pack(">I", 4) + b"tEXt" + b"a\x00bc" + b"\x00\x00\x00\x00"
    odd = base64.b64encode(raw[:33] + bad_chunk + raw[33:]).decode()
    garbage = base64.b64encode(b"not an image at all").decode()
    names = {"server": "fs", "name": "read_media_file"}
    image = {"type": "image", "mime_type": "image/png", "bytes": len(buffer.getvalue())}
    parts = [
        Part(TOOL_CALL, "{}", {"id": "a", **names}),
        Part(TOOL_RESULT, "[image/png, 1 KB, shown to the user]",
             {"id": "a", **names, "is_error": False, "seconds": 0.1,
              "media": [{**image, "data": png}, {**image, "data": odd},
                        {**image, "data": garbage}]}),
        Part(TOOL_CALL, "{}", {"id": "b", **names}),  # stored before Stop marked it
        Part(TOOL_CALL, "{}", {"id": "c", **names}),
        Part(TOOL_RESULT, "Stopped while the tool was running; its result was not used.",
             {"id": "c", **names, "is_error": True, "seconds": 1.5, "cut": True}),
        Part(TEXT, "Here."),
    ]  # fmt: skip
    store = Store(Database(db_path))
    ids = seed.finished_turn(
        store, None, "Show", FinalResult("stopped", "Here.", parts=parts), Snapshot("f", "m")
    )
    at = app()
    at.query_params["c"] = str(ids.conversation_id)
    at.run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert plain("fs/read_media_file · 0.10 s") in labels
    assert plain("fs/read_media_file · ended without a result") in labels
    assert plain("fs/read_media_file · 1.50 s · stopped") in labels
    assert not any("running" in label for label in labels)
    drawn = at.get("image")
    assert len(drawn) == 2  # the odd one without its bad chunk; the garbage is said
    assert any(c.value == plain("image/png that could not be read") for c in at.caption)
    shown = drawn[0].proto.imgs[0]
    assert shown.caption == "image/png"
    assert "/media/" in shown.url and "://" not in shown.url  # the app serves the bytes
