"""The door through a real `streamlit run`: a web page under a foreign name that resolves to
127.0.0.1 (DNS rebinding, told to Chromium with --host-resolver-rules), a page of another local
port (its websocket carries its own Origin), and a browser on another host (in a network
namespace joined to this one by a veth pair) that may chat but not change what runs on the
host, while the owner's own browser still can."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import seed
from browser_support import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    TIMEOUT_MS,
    StreamlitServer,
    answers,
    remote_env,
    send,
)
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import InvalidStatus

from assistant.db import Database
from assistant.store import FinalResult, Snapshot, Store

pytestmark = pytest.mark.browser
SECRET_TITLE = "Secret plans for the merger"
SECRET_ANSWER = "The merger closes on Friday"
FOREIGN = "This app does not answer to the name"
OTHER_PAGE = "This app only answers its own pages"
OWNER_ONLY = "Only a browser on the computer that runs the app can change endpoints"


def seeded_history(db_path: Path) -> None:
    """A conversation no visitor may read."""
    store = Store(Database(db_path))
    snapshot = Snapshot("openai", "gpt-test", {}, "")
    ids = seed.finished_turn(
        store, None, "What about the merger?", FinalResult("complete", SECRET_ANSWER), snapshot
    )
    store.rename(ids.conversation_id, SECRET_TITLE)


def start_app(server, folder: Path, address: str = "127.0.0.1", **extra: str) -> StreamlitServer:
    db_path = folder / "app.db"
    seeded_history(db_path)
    env = {**remote_env(server, db_path), **extra}
    return StreamlitServer(env, folder / f"streamlit-{time.monotonic_ns()}.log", address=address)


def launch(playwright_browser_type, *args: str, executable: str = CHROMIUM) -> Browser:
    return playwright_browser_type.launch(executable_path=executable, args=[*CHROMIUM_FLAGS, *args])


@pytest.fixture(scope="module")
def playwright_chromium():
    if not Path(CHROMIUM).exists():  # pragma: no cover - .ci/run installs it
        pytest.skip("Debian chromium is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright.chromium


def shots(tmp_path: Path) -> Path:
    """Screenshots go to $E2E_SCREENSHOTS when it is set, never into the repository."""
    folder = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_page(browser: Browser, locale: str = "en-US") -> Page:
    page = browser.new_context(viewport={"width": 1200, "height": 900}, locale=locale).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def test_a_page_under_a_foreign_name_that_resolves_here_gets_one_sentence(
    fake_server, playwright_chromium, tmp_path
):
    app = start_app(fake_server, tmp_path)
    rebinding = launch(playwright_chromium, "--host-resolver-rules=MAP evil.example 127.0.0.1")
    try:
        page = new_page(rebinding)
        page.goto(f"http://evil.example:{app.port}/")
        expect(page.get_by_text(FOREIGN)).to_be_visible()
        page.screenshot(path=shots(tmp_path) / "door-foreign-name.png")
        expect(page.get_by_text("evil.example")).to_have_count(1)  # the name, in the sentence
        # Nothing else: no history, no navigation, no chat input, no settings.
        assert SECRET_TITLE not in page.content()
        expect(page.get_by_placeholder("Message the assistant")).to_have_count(0)
        expect(page.get_by_test_id("stSidebar")).to_have_count(0)
        page.goto(f"http://evil.example:{app.port}/settings")
        expect(page.get_by_text(FOREIGN)).to_be_visible()
        expect(page.get_by_text("Add an OpenAI-compatible endpoint")).to_have_count(0)
        # The same browser, the same server, its own name: served.
        page.goto(f"http://localhost:{app.port}/")
        expect(page.get_by_text(SECRET_TITLE)).to_be_visible()
    finally:
        rebinding.close()
        app.stop()


def _rerun_over_websocket(url: str, origin: str | None) -> bytes:
    """Open the app's websocket as a page of `origin` would and ask for a run; every byte the
    server sends back until the run finishes (protobuf keeps strings as UTF-8 bytes)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    ask = BackMsg()
    ask.rerun_script.query_string = ""
    ask.rerun_script.page_script_hash = ""
    received = b""
    with connect(
        url.replace("http://", "ws://") + "/_stcore/stream",
        origin=origin,  # type: ignore[arg-type]
        subprotocols=["streamlit"],  # type: ignore[list-item]
        open_timeout=30,
    ) as socket:
        socket.send(ask.SerializeToString())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            frame = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
            assert isinstance(frame, bytes)
            received += frame
            message = ForwardMsg()
            message.ParseFromString(frame)
            if message.WhichOneof("type") == "script_finished":
                return received
    raise AssertionError("the run did not finish within 60 s")


def test_a_page_of_another_local_port_is_refused_but_the_apps_own_page_is_served(
    fake_server, tmp_path
):
    app = start_app(fake_server, tmp_path)
    try:
        own = _rerun_over_websocket(app.url, origin=app.url)
        assert SECRET_TITLE.encode() in own  # the probe can see a leak when there is one
        for origin in (
            f"http://localhost:{app.port + 1}",
            "http://localhost:9999",
            f"http://127.0.0.1:{app.port + 1}",
        ):
            other = _rerun_over_websocket(app.url, origin=origin)
            assert OTHER_PAGE.encode() in other, origin
            assert SECRET_TITLE.encode() not in other
            assert b"Add an OpenAI-compatible endpoint" not in other
        # A sandboxed frame or a file: Streamlit itself refuses the handshake.
        with pytest.raises(InvalidStatus):
            _rerun_over_websocket(app.url, origin="null")
    finally:
        app.stop()


# -- a browser on another host ----------------------------------------------------------------


def _ip(*args: str, namespace: str | None = None) -> None:
    inside = ["ip", "netns", "exec", namespace] if namespace else []
    command = [*inside, "ip", *args]
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture
def visitor_host(tmp_path) -> Iterator[tuple[str, str]]:
    """A network namespace with its own address, joined to this one by a veth pair, and a
    Chromium launcher that runs inside it: (launcher path, this host's address as seen from
    there). Needs root and iproute2; skipped with the reason elsewhere."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a network namespace needs root and iproute2 (ip)")
    tag = uuid.uuid4().hex[:6]
    namespace, outside, inside = f"asst-{tag}", f"av{tag}o", f"av{tag}i"
    subnet = 16 + int(tag[:2], 16) % 200  # 10.231.N.0/30: an address of this test's own hosts
    host_ip, visitor_ip = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
    try:
        _ip("netns", "add", namespace)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create a network namespace here: {exc.stderr.decode().strip()}")
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("addr", "add", f"{host_ip}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("addr", "add", f"{visitor_ip}/30", "dev", inside, namespace=namespace)
        _ip("link", "set", inside, "up", namespace=namespace)
        _ip("link", "set", "lo", "up", namespace=namespace)
        launcher = tmp_path / "chromium-in-namespace"
        launcher.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} {CHROMIUM} "$@"\n')
        launcher.chmod(0o755)
        yield str(launcher), host_ip
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def test_a_visitor_on_the_network_can_chat_but_not_change_what_runs_on_the_host(
    fake_server, playwright_chromium, visitor_host, tmp_path
):
    launcher, host_ip = visitor_host
    app = start_app(fake_server, tmp_path, address="0.0.0.0", ASSISTANT_ALLOWED_HOSTS=host_ip)
    visitor = launch(
        playwright_chromium,
        f"--host-resolver-rules=MAP not-allowed.test {host_ip}",
        executable=launcher,
    )
    owner = launch(playwright_chromium)
    try:
        page = new_page(visitor)
        # A name the owner did not allow: one sentence, even from the right address.
        page.goto(f"http://not-allowed.test:{app.port}/")
        # The app's first session (a fresh process) and a browser in another namespace: on a
        # busy machine this first page took longer than the usual 20 s once.
        expect(page.get_by_text(FOREIGN)).to_be_visible(timeout=60_000)
        # The allowed address: the visitor chats.
        page.goto(f"http://{host_ip}:{app.port}/")
        send(page, "Hello from the visitor")
        expect(answers(page).nth(1)).to_contain_text("Hello from the fake.")
        assert (
            fake_server.completions()[-1].body["messages"][-1]["content"]
            == "Hello from the visitor"
        )
        # Settings: endpoints and tool servers are read-only, with the sentence why.
        page.goto(f"http://{host_ip}:{app.port}/settings")
        page.get_by_role("tab", name="Endpoints").click()
        expect(page.get_by_text(OWNER_ONLY).first).to_be_visible()
        expect(page.get_by_text("OpenAI", exact=True).first).to_be_visible()  # listed, read-only
        page.get_by_role("tab", name="Tools").click()
        expect(page.get_by_text(OWNER_ONLY).nth(1)).to_be_visible()
        page.screenshot(path=shots(tmp_path) / "door-visitor-tools.png")
        for control in (
            "Add an OpenAI-compatible endpoint",
            "Add a tool server",
            "Import an mcpServers file",
            "Check connection",
        ):
            expect(page.get_by_text(control)).to_have_count(0)
        for field in ("Base URL", "Variable or key name (not the key itself)", "Command"):
            expect(page.get_by_label(field, exact=True)).to_have_count(0)
        # The owner, on this machine, still can.
        mine = new_page(owner)
        mine.goto(f"http://127.0.0.1:{app.port}/settings")
        mine.get_by_role("tab", name="Endpoints").click()
        expect(mine.get_by_text("Add an OpenAI-compatible endpoint")).to_be_visible()
        expect(mine.get_by_text(OWNER_ONLY)).to_have_count(0)
        # A Chinese visitor reads the same in Chinese.
        chinese = new_page(visitor, locale="zh-CN")
        chinese.goto(f"http://{host_ip}:{app.port}/settings")
        chinese.get_by_role("tab", name="端点").click()
        expect(chinese.get_by_text("只有运行本应用的那台电脑上的浏览器").first).to_be_visible()
        expect(chinese.get_by_text("OpenAI", exact=True).first).to_be_visible()  # listed
        chinese.screenshot(path=shots(tmp_path) / "door-visitor-endpoints-zh.png")
        chinese.goto(f"http://not-allowed.test:{app.port}/")
        expect(chinese.get_by_text("本应用不响应名称")).to_be_visible()
        chinese.screenshot(path=shots(tmp_path) / "door-foreign-name-zh.png")
    finally:
        visitor.close()
        owner.close()
        app.stop()
