"""Tools over MCP: the tool loop against real MCP servers (`mcp-server-time` over stdio, and a
server written with the SDK over Streamable HTTP and stdio) and the real `openai` SDK talking to
the fake OpenAI server that streams tool calls."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import seed
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario
from mcp_test_server import GARBLED_REPAIRED
from npm_servers import npm_server
from tool_helpers import (
    TIME_SERVER,
    EverythingHttp,
    live_server,
    marked_processes,
    new_marker,
    slow_server,
    stuck_server,
)

from assistant.approvals import APPROVE, DENY
from assistant.db import Database
from assistant.export import conversation_markdown, json_text
from assistant.mcp_hub import McpHub, ToolServerError
from assistant.providers import OpenAICompatProvider
from assistant.store import Snapshot, Store
from assistant.tool_servers import HTTP, STDIO, ServerDraft, ToolServerStore, read_mcp_servers_json
from assistant.toolbox import ALLOW, ASK, Toolbox, ToolCall
from assistant.transcript import caption, tokens_per_second
from assistant.turns import NO_TOOLS_REASON, TOOL_LIMIT_REASON, TurnManager

TESTS = Path(__file__).resolve().parent
SNAP = Snapshot("fake", "fake-model")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http_server(*flags: str) -> Iterator[str]:
    """The SDK-written test server over Streamable HTTP; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "mcp_test_server.py"), str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_until(lambda: _listening(port), timeout=20, interval=0.1)
        yield url
    finally:
        process.kill()  # uvicorn's graceful stop would wait for the open event streams
        process.wait(10)


@pytest.fixture(scope="module")
def http_tools() -> Iterator[str]:
    """Answers in event streams (the SDK's default)."""
    yield from _http_server()


@pytest.fixture(scope="module")
def http_json_tools() -> Iterator[str]:
    """Answers in JSON bodies."""
    yield from _http_server("--json")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def kit(store: Store, fake_server: FakeOpenAIServer, http_tools: str):
    servers = ToolServerStore(store.db)
    servers.save(TIME_SERVER)
    servers.save(ServerDraft("web", HTTP, url=http_tools))
    servers.save(
        ServerDraft(
            "local",
            STDIO,
            command=sys.executable,
            args=(str(TESTS / "mcp_test_server.py"), "--stdio"),
        )
    )
    hub = McpHub(lambda: os.environ, lambda: {}, call_timeout=3)
    toolbox = Toolbox(store.db, servers, hub)
    provider = OpenAICompatProvider("sk-test", fake_server.base_url, max_retries=0)
    turns = TurnManager(store, lambda _snapshot: provider, checkpoint_interval=0.0, toolbox=toolbox)
    yield turns, toolbox, fake_server
    turns.shutdown(wait=2)
    hub.close()


def run_to_end(manager: TurnManager, answer_id: int) -> str:
    return "".join(manager.follow(answer_id, idle_tick=0.05))


def call(call_id: str, function: str, arguments: object) -> dict[str, str]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "name": function, "arguments": text}


def sent(server: FakeOpenAIServer, index: int = -1) -> list[dict]:
    return (server.completions()[index].body or {})["messages"]


def tool_messages(server: FakeOpenAIServer) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in sent(server) if m["role"] == "tool"}


def test_a_time_question_calls_mcp_server_time_over_stdio(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"time/get_current_time": ALLOW})
    server.enqueue(
        Scenario(
            chunks=["Let me check."],
            tool_calls=[call("c1", "time__get_current_time", {"timezone": "Asia/Tokyo"})],
        ),
        Scenario(chunks=["It is ", "morning in Tokyo."]),
    )
    ids = turns.send(None, "What time is it in Tokyo?", SNAP)
    run_to_end(turns, ids.assistant_message_id)
    answer = store.get_message(ids.assistant_message_id)
    assert answer.status == "complete"
    assert answer.content == "Let me check.\n\nIt is morning in Tokyo."
    kinds = [p.kind for p in answer.parts]
    assert kinds == ["text", "tool_call", "tool_result", "text"]
    result = answer.parts[2]
    assert result.data["server"] == "time" and result.data["is_error"] is False
    assert '"timezone": "Asia/Tokyo"' in result.text
    offered = server.completions()[0].body["tools"]
    assert [t["function"]["name"] for t in offered] == ["time__get_current_time"]
    follow_up = sent(server)
    assert follow_up[-2]["tool_calls"][0]["function"]["name"] == "time__get_current_time"
    assert follow_up[-2]["content"] == "Let me check."
    assert "Asia/Tokyo" in follow_up[-1]["content"] and follow_up[-1]["tool_call_id"] == "c1"


def test_parallel_calls_split_arguments_index_reuse_unknown_tool_and_bad_json(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ALLOW})
    server.enqueue(
        Scenario(
            chunks=[],
            same_index=True,
            tool_calls=[
                call("a", "web__add", {"a": 2, "b": 3}),
                call("b", "web__add", {"a": 40, "b": 2}),
                call("c", "web__nope", {}),
                call("d", "web__add", '{"a": 1,'),
            ],
        ),
        Scenario(chunks=["Done."]),
    )
    ids = turns.send(None, "Add things", SNAP)
    run_to_end(turns, ids.assistant_message_id)
    results = tool_messages(server)
    assert results["a"] == "5" and results["b"] == "42"
    assert "no tool named 'web__nope'" in results["c"]
    assert "not a JSON object" in results["d"]
    answer = store.get_message(ids.assistant_message_id)
    assert answer.status == "complete" and answer.content == "Done."
    assert sum(p.kind == "tool_result" for p in answer.parts) == 4


def test_tool_errors_timeouts_large_output_and_a_dying_server_never_hang(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default(
        {key: ALLOW for key in ("web/fail", "web/slow", "web/big", "local/die", "local/add")}
    )
    server.enqueue(
        Scenario(
            chunks=[],
            tool_calls=[
                call("f", "web__fail", {"reason": "disk on fire"}),
                call("s", "web__slow", {"seconds": 30}),
                call("g", "web__big", {"characters": 50_000}),
                call("x", "local__die", {}),
            ],
        ),
        Scenario(chunks=[], tool_calls=[call("y", "local__add", {"a": 1, "b": 2})]),
        Scenario(chunks=["All handled."]),
    )
    started = time.monotonic()
    ids = turns.send(None, "Try everything", SNAP)
    run_to_end(turns, ids.assistant_message_id)
    assert time.monotonic() - started < 20  # the 30 s tool was cut at its 3 s timeout
    first = {m["tool_call_id"]: m["content"] for m in sent(server, 1) if m["role"] == "tool"}
    assert "disk on fire" in first["f"]
    assert "did not finish within 3 s" in first["s"]
    assert first["g"].startswith("x" * 100) and "more characters were cut" in first["g"]
    assert "exiting on purpose" in first["x"] and "did not complete" in first["x"]
    assert tool_messages(server)["y"] == "3"  # the dead server was started again
    answer = store.get_message(ids.assistant_message_id)
    errors = [p.data["is_error"] for p in answer.parts if p.kind == "tool_result"]
    assert errors == [True, True, False, True, False]
    assert answer.status == "complete"


def _waiting(turns: TurnManager, answer_id: int):
    return wait_until(lambda: turns.approvals.waiting(answer_id), timeout=15)


@pytest.mark.parametrize("decision", [APPROVE, DENY])
def test_approval_waits_in_the_database_and_any_page_decides(kit, store, decision):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ASK})
    server.enqueue(
        Scenario(chunks=[], tool_calls=[call("q", "web__add", {"a": 1, "b": 1})]),
        Scenario(chunks=["Answered."]),
    )
    ids = turns.send(None, "Add, with my permission", SNAP)
    waiting = _waiting(turns, ids.assistant_message_id)
    assert (waiting.server, waiting.tool, waiting.arguments) == ("web", "add", {"a": 1, "b": 1})
    stored = store.get_message(ids.assistant_message_id)
    assert stored.status == "streaming" and [p.kind for p in stored.parts] == ["tool_call"]
    # A page opened later (a reload, another tab) reads the waiting call and decides.
    later = Store(Database(store.db.path))
    assert TurnManager.__name__ and later.get_message(ids.assistant_message_id).is_live
    assert turns.decide(ids.assistant_message_id, "q", decision)
    assert not turns.decide(ids.assistant_message_id, "q", APPROVE)  # decided once
    run_to_end(turns, ids.assistant_message_id)
    result = tool_messages(server)["q"]
    assert result == ("2" if decision == APPROVE else "The user declined this call.")
    assert store.get_message(ids.assistant_message_id).content == "Answered."


def test_always_allow_stops_asking_in_that_chat(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ASK})
    server.enqueue(
        Scenario(chunks=[], tool_calls=[call("q1", "web__add", {"a": 1, "b": 2})]),
        Scenario(chunks=["Three."]),
        Scenario(chunks=[], tool_calls=[call("q2", "web__add", {"a": 2, "b": 2})]),
        Scenario(chunks=["Four."]),
    )
    first = turns.send(None, "1+2", SNAP)
    _waiting(turns, first.assistant_message_id)
    turns.decide(first.assistant_message_id, "q1", APPROVE, always=True)
    run_to_end(turns, first.assistant_message_id)
    assert toolbox.chosen(first.conversation_id) == {"web/add": ALLOW}
    second = turns.send(first.conversation_id, "2+2", SNAP)
    assert run_to_end(turns, second.assistant_message_id) == "Four."
    assert turns.approvals.waiting(second.assistant_message_id) is None
    assert toolbox.default() == {"web/add": ASK}  # only this chat changed


def test_stop_while_waiting_for_approval_keeps_the_steps(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ASK})
    server.enqueue(
        Scenario(chunks=["Asking first. "], tool_calls=[call("w", "web__add", {"a": 1, "b": 1})])
    )
    ids = turns.send(None, "Add", SNAP)
    _waiting(turns, ids.assistant_message_id)
    assert turns.stop(ids.assistant_message_id)
    answer = wait_until(
        lambda: (m := store.get_message(ids.assistant_message_id)) and not m.is_live and m
    )
    assert answer.status == "stopped"
    assert [p.kind for p in answer.parts] == ["text", "tool_call", "tool_result"]
    assert answer.parts[2].text == "Stopped before the call."


class _Lines(logging.Handler):
    """Log lines of one logger, whatever the app's logging set-up did to propagation."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_stop_while_a_tool_runs_marks_the_step_stopped_and_keeps_the_text(kit, store):
    lines, logger = _Lines(), logging.getLogger("assistant.turns")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        _stop_while_a_tool_runs(kit, store, lines)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)


def _stop_while_a_tool_runs(kit, store, lines: _Lines) -> None:
    turns, toolbox, server = kit
    toolbox.set_default({"web/slow": ALLOW})
    server.enqueue(
        Scenario(chunks=["Looking it up. "], tool_calls=[call("s", "web__slow", {"seconds": 30})])
    )
    ids = turns.send(None, "Slow", SNAP)
    answer_id = ids.assistant_message_id
    wait_until(lambda: any(s.state == "running" for s in turns.steps(answer_id)))
    started = time.monotonic()
    turns.stop(answer_id, wait=0.5)
    answer = wait_until(lambda: (m := store.get_message(answer_id)) and not m.is_live and m)
    assert time.monotonic() - started < 2.0  # not the tool's 3 s timeout
    assert answer.status == "stopped"
    assert answer.content == "Looking it up. "
    assert [p.kind for p in answer.parts] == ["text", "tool_call", "tool_result"]
    result = answer.parts[2]
    assert result.text == "Stopped while the tool was running; its result was not used."
    assert result.data["is_error"] is True and result.data["seconds"] > 0
    assert result.data["cut"] is True  # the page labels it "stopped", not "failed"
    # The call times out in the worker later (3 s): the stored answer stays as Stop left it.
    wait_until(lambda: any("after Stop" in line for line in lines.lines), timeout=20)
    assert store.get_message(answer_id).parts == answer.parts
    assert len(server.completions()) == 1  # no request after Stop


def test_the_step_limit_ends_the_answer_and_says_so(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ALLOW})
    toolbox.set_step_limit(2)
    server.enqueue(
        *[
            Scenario(chunks=[], tool_calls=[call(f"l{n}", "web__add", {"a": n, "b": n})])
            for n in range(3)
        ]
    )
    ids = turns.send(None, "Loop", SNAP)
    run_to_end(turns, ids.assistant_message_id)
    answer = store.get_message(ids.assistant_message_id)
    assert answer.finish_reason == TOOL_LIMIT_REASON
    assert sum(p.kind == "tool_call" for p in answer.parts) == 2


def test_an_endpoint_that_refuses_tools_answers_without_them(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ALLOW})
    server.enqueue(Scenario(reject_tools=True), Scenario(chunks=["Plain answer."]))
    ids = turns.send(None, "Hi", SNAP)
    assert run_to_end(turns, ids.assistant_message_id) == "Plain answer."
    answer = store.get_message(ids.assistant_message_id)
    assert answer.finish_reason == NO_TOOLS_REASON
    assert "tools" not in (server.completions()[-1].body or {})


def test_earlier_steps_go_back_to_the_model_in_order(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ALLOW})
    server.enqueue(
        Scenario(chunks=["Adding."], tool_calls=[call("e1", "web__add", {"a": 3, "b": 4})]),
        Scenario(chunks=["Seven."]),
        Scenario(chunks=["Yes."]),
    )
    first = turns.send(None, "3+4?", SNAP)
    run_to_end(turns, first.assistant_message_id)
    second = turns.send(first.conversation_id, "Sure?", SNAP)
    run_to_end(turns, second.assistant_message_id)
    history = [(m["role"], m.get("content"), m.get("tool_call_id")) for m in sent(server)]
    assert history == [
        ("user", "3+4?", None),
        ("assistant", "Adding.", None),
        ("tool", "7", "e1"),
        ("assistant", "Seven.", None),
        ("user", "Sure?", None),
    ]


class _Locked(ThreadingHTTPServer):
    """An HTTP server that answers 401 to everything and notes the Authorization it saw."""

    def __init__(self) -> None:
        seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                seen.append(self.headers.get("Authorization", ""))
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.seen = seen
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_check_explains_servers_that_cannot_be_used(store):
    locked = _Locked()
    hub = McpHub(lambda: os.environ, lambda: {}, connect_timeout=10)
    servers = ToolServerStore(store.db)
    try:
        missing = servers.save(ServerDraft("gone", STDIO, command="no-such-mcp-server"))
        refused = servers.save(ServerDraft("down", HTTP, url=f"http://127.0.0.1:{free_port()}/mcp"))
        needs = servers.save(ServerDraft("gh", STDIO, command="npx", env_pass=("GITHUB_TOKEN",)))
        guarded = servers.save(
            ServerDraft(
                "guarded",
                HTTP,
                url=f"http://127.0.0.1:{locked.server_address[1]}/mcp",
                header_name="Authorization",
                header_source="env",
                header_key="GUARDED_TOKEN",
            )
        )
        os.environ["GUARDED_TOKEN"] = "wrong-token"
        for server, expected in (
            (missing, "was not found"),
            (refused, "Nothing answers at"),
            (needs, "needs GITHUB_TOKEN"),
            (guarded, r"refused the credentials \(401\); check GUARDED_TOKEN"),
        ):
            with pytest.raises(ToolServerError, match=expected):
                hub.tools(server)
        assert set(locked.seen) == {"Bearer wrong-token"}  # the header, read from the variable
    finally:
        os.environ.pop("GUARDED_TOKEN", None)
        hub.close()
        locked.shutdown()


def test_kill_9_during_a_tool_call_keeps_the_earlier_steps(store, fake_server, http_tools):
    fake_server.enqueue(
        Scenario(chunks=["First a sum. "], tool_calls=[call("k1", "web__add", {"a": 1, "b": 2})]),
        Scenario(chunks=["Now a wait. "], tool_calls=[call("k2", "web__slow", {"seconds": 60})]),
    )
    owner = subprocess.Popen(
        [sys.executable, str(TESTS / "tool_owner_process.py"), str(store.db.path),
         fake_server.base_url, http_tools],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        answer_id = json.loads(owner.stdout.readline())["answer_id"]
        # The second step's call is saved (the heartbeat checkpoints it) while the tool runs.
        wait_until(
            lambda: sum(p.kind == "tool_call" for p in store.get_message(answer_id).parts) == 2,
            timeout=20,
        )
        owner.kill()  # kill -9
        owner.wait(10)
    finally:
        if owner.poll() is None:
            owner.kill()
    # A new start of the app recovers what the dead process was writing.
    manager = TurnManager(store, lambda _snapshot: None)  # type: ignore[arg-type,return-value]
    manager.shutdown(wait=1)
    answer = store.get_message(answer_id)
    assert answer.status == "interrupted"
    assert [p.kind for p in answer.parts] == [
        "text",
        "tool_call",
        "tool_result",
        "text",
        "tool_call",
    ]
    assert answer.parts[2].text == "3"
    assert answer.content == "First a sum. \n\nNow a wait. "


def test_a_kept_tool_list_is_refreshed_in_the_background(kit, monkeypatch):
    import assistant.toolbox as toolbox_module

    _turns, toolbox, _server = kit
    web = toolbox.servers.by_name("web")
    first = toolbox.listing(web)
    assert [t.name for t in first][:2] == ["add", "fail"]
    monkeypatch.setattr(toolbox_module, "TOOLS_CACHE_S", 0.0)  # everything is old now
    asked = []
    real = toolbox.hub.tools
    monkeypatch.setattr(toolbox.hub, "tools", lambda s: asked.append(s.name) or real(s))
    assert toolbox.listing(web) is first  # given at once, not waited for
    wait_until(lambda: asked == ["web"])  # and asked again behind the scenes
    wait_until(lambda: toolbox.listing(web) is not first)


def test_bad_characters_in_a_result_are_repaired_at_once_over_stdio_and_http(
    kit, store, http_json_tools
):
    """A lone surrogate, bytes that are not UTF-8 and control characters in a result. Before,
    the SDK refused the whole message: over stdio the step stayed "running…" until the call
    timeout (60 s) and the server answered nothing more; over HTTP the call failed with a
    validation error."""
    turns, toolbox, server = kit
    toolbox.servers.save(ServerDraft("json", HTTP, url=http_json_tools))
    toolbox.set_default({"local/garbled": ALLOW, "web/garbled": ALLOW, "json/garbled": ALLOW})
    server.enqueue(
        Scenario(
            chunks=[],
            tool_calls=[
                call("s", "local__garbled", {}),
                call("h", "web__garbled", {}),
                call("j", "json__garbled", {}),
            ],
        ),
        Scenario(chunks=["Read them."]),
    )
    ids = turns.send(None, "Garbled", SNAP)
    run_to_end(turns, ids.assistant_message_id)
    answer = store.get_message(ids.assistant_message_id)
    assert answer.status == "complete" and answer.content == "Read them."
    results = [p for p in answer.parts if p.kind == "tool_result"]
    assert [(p.text, p.data["is_error"]) for p in results] == [(GARBLED_REPAIRED, False)] * 3
    assert all(p.data["seconds"] < 2.5 for p in results)  # not cut at the kit's 3 s timeout
    assert tool_messages(server) == {"s": GARBLED_REPAIRED, "h": GARBLED_REPAIRED,
                                     "j": GARBLED_REPAIRED}  # fmt: skip
    assert toolbox.hub.call(toolbox.servers.by_name("local"), "add", {"a": 2, "b": 2}).text == "4"


def test_a_server_outlives_the_thread_that_first_asked_for_it(store):
    """The guard's parent-death signal comes when the *thread* that started it ends: the hub
    starts servers from its own loop thread, not from the worker or page that asked."""
    marker = new_marker()
    hub = McpHub(lambda: os.environ, lambda: {}, connect_timeout=30)
    live = ToolServerStore(store.db).save(live_server(marker))
    try:
        asking = threading.Thread(target=hub.tools, args=(live,))
        asking.start()
        asking.join()
        processes = marked_processes(marker)
        assert len(processes) == 2  # the guard and the server
        ended = time.monotonic() + 1.0
        while time.monotonic() < ended:  # a second of calls after that thread ended
            assert hub.call(live, "add", {"a": 1, "b": 2}).text == "3"
        assert marked_processes(marker) == processes
    finally:
        hub.close()
    wait_until(lambda: not marked_processes(marker), timeout=10)


def test_close_stops_running_and_starting_servers_and_their_children_at_once(store):
    marker = new_marker()
    hub = McpHub(lambda: os.environ, lambda: {}, connect_timeout=60)
    servers = ToolServerStore(store.db)
    live, stuck = servers.save(live_server(marker)), servers.save(stuck_server(marker))
    assert "add" in [t.name for t in hub.tools(live)]
    waiting: list[str] = []

    def ask_the_stuck_one() -> None:
        try:
            hub.tools(stuck)
        except ToolServerError as exc:
            waiting.append(str(exc))

    threading.Thread(target=ask_the_stuck_one, daemon=True).start()
    # Two guards, two servers and the stuck one's child.
    wait_until(lambda: len(marked_processes(marker)) == 5, timeout=30)
    started = time.monotonic()
    hub.close()
    assert time.monotonic() - started < 3.0
    wait_until(lambda: not marked_processes(marker), timeout=5)
    # Who waited for the stuck server hears at once, not at its 60 s connect timeout.
    wait_until(lambda: waiting, timeout=5)
    assert waiting[0] in (
        "The tool server stuck was stopped before it started.",
        "The app is shutting down; tools are not available.",
    )


def test_the_guard_starts_nothing_when_the_app_is_gone_already(tmp_path):
    """The app died between starting the guard and the guard asking for the parent-death
    signal (the parent it was given is not its parent any more): the server never starts."""
    from assistant.mcp_hub import GUARD

    witness = tmp_path / "started"
    server = [sys.executable, "-c", f"open({str(witness)!r}, 'w')"]
    other = subprocess.run([sys.executable, "-I", "-S", str(GUARD), "1", *server], timeout=30)
    assert other.returncode == 1 and not witness.exists()
    ours = subprocess.run([sys.executable, "-I", "-S", str(GUARD), str(os.getpid()), *server],
                          timeout=30)  # fmt: skip
    assert ours.returncode == 0 and witness.exists()


def test_services_replaced_during_a_tool_call_keep_its_server_until_the_answer_ends(
    db_path, fake_server
):
    """Settings changed (Streamlit releases the old services): before, `retire` closed the
    tool servers at once, so the running call ended as an error and the answer went on
    without its result. Now the servers close after the answers that use them."""
    from conftest import without_auto_titles

    from assistant.config import load_settings
    from assistant.services import Services

    environ = {
        "OPENAI_BASE_URL": fake_server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_MAX_RETRIES": "0",
        "SQLITE_DB_PATH": str(db_path),
    }
    without_auto_titles(db_path)
    svc = Services.build(load_settings(environ=environ, secrets={}), environ=environ)
    local = ServerDraft(
        "local", STDIO, command=sys.executable, args=(str(TESTS / "mcp_test_server.py"), "--stdio")
    )
    server = svc.tool_servers.save(local)
    svc.turns.toolbox.set_default({"local/slow": ALLOW})
    fake_server.enqueue(
        Scenario(chunks=[], tool_calls=[call("s", "local__slow", {"seconds": 2})]),
        Scenario(chunks=["Done."]),
    )
    try:
        ids = svc.send(None, "Slow, please", None)
        answer_id = ids.assistant_message_id
        wait_until(lambda: any(s.state == "running" for s in svc.turns.steps(answer_id)))
        svc.retire()
        assert run_to_end(svc.turns, answer_id) == "Done."
        answer = svc.store.get_message(answer_id)
        result = next(p for p in answer.parts if p.kind == "tool_result")
        assert (answer.status, result.text, result.data["is_error"]) == (
            "complete",
            "finally",
            False,
        )

        def closed() -> bool:  # then the servers closed
            try:
                svc.hub.tools(server)
            except ToolServerError as exc:
                return "shutting down" in str(exc)
            return False

        wait_until(closed, timeout=15)
    finally:
        svc.turns.shutdown(wait=2)
        svc.hub.close()


def _png(path: Path, side: int = 64) -> bytes:
    """A real PNG of noise (it does not compress): about 12 KB at 64 × 64."""
    from PIL import Image

    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, "PNG")
    return path.read_bytes()


def test_images_from_real_npm_servers_are_kept_for_the_page_and_a_note_for_the_model(
    kit, store, tmp_path
):
    turns, toolbox, server = kit
    filesystem, everything = (
        npm_server("mcp-server-filesystem"),
        npm_server("mcp-server-everything"),
    )
    files = tmp_path / "files"
    files.mkdir()
    png = _png(files / "noise.png")
    servers = ToolServerStore(store.db)
    servers.save(
        ServerDraft("fs", STDIO, command=filesystem[0], args=(*filesystem[1:], str(files)))
    )
    servers.save(
        ServerDraft("every", STDIO, command=everything[0], args=(*everything[1:], "stdio"))
    )
    toolbox.set_default({"fs/read_media_file": ALLOW, "every/get-tiny-image": ALLOW})
    server.enqueue(
        Scenario(
            chunks=["Looking. "],
            tool_calls=[
                call("m1", "fs__read_media_file", {"path": str(files / "noise.png")}),
                call("m2", "every__get-tiny-image", {}),
            ],
        ),
        Scenario(chunks=["Two images."]),
    )
    ids = turns.send(None, "Show me", SNAP)
    run_to_end(turns, ids.assistant_message_id)
    answer = store.get_message(ids.assistant_message_id)
    results = {p.data["id"]: p for p in answer.parts if p.kind == "tool_result"}
    media = results["m1"].data["media"]
    assert [(m["type"], m["mime_type"], m["bytes"]) for m in media] == [
        ("image", "image/png", len(png))
    ]
    assert base64.b64decode(media[0]["data"]) == png  # the bytes, for the page to draw
    kb = f"{len(png) / 1000:.0f} KB"
    assert results["m1"].text == f"[image/png, {kb}, shown to the user]"
    tiny = results["m2"].data["media"]
    assert tiny[0]["mime_type"] == "image/png" and tiny[0]["data"]
    assert "shown to the user]" in results["m2"].text and len(results["m2"].text) < 300
    # The model reads the notes, never base64 (before: 20,000 characters of it).
    told = tool_messages(server)
    assert told["m1"] == results["m1"].text
    assert max(len(text) for text in told.values()) < 300
    # Markdown keeps the note; JSON carries the bytes.
    conversation = store.get_conversation(ids.conversation_id)
    markdown = conversation_markdown(store, conversation)
    assert f"[image/png, {kb}, shown to the user]" in markdown
    assert media[0]["data"][:40] not in markdown
    assert media[0]["data"] in json_text(store, ids.conversation_id)


def test_first_token_and_speed_leave_out_the_approval_wait_and_the_tool(kit, store):
    turns, toolbox, server = kit
    toolbox.set_default({"web/add": ASK})
    server.enqueue(
        Scenario(chunks=[], tool_calls=[call("t", "web__add", {"a": 1, "b": 2})]),
        Scenario(chunks=["The ", "sum ", "is ", "3."]),
    )
    ids = turns.send(None, "1+2", SNAP)
    answer_id = ids.assistant_message_id
    _waiting(turns, answer_id)
    held = 2.5
    threading.Event().wait(held)  # the person takes a while to decide (a duration, not a sync)
    assert turns.decide(answer_id, "t", APPROVE)
    run_to_end(turns, answer_id)
    answer = store.get_message(answer_id)
    result = next(p for p in answer.parts if p.kind == "tool_result")
    assert result.data["waited_s"] >= held
    # Before: the first token was the first text, after the approval (2.5 s and more).
    assert answer.first_token_s is not None and answer.first_token_s < held
    assert answer.generation_s is not None
    assert answer.generation_s < answer.total_s - held - result.data["seconds"]
    assert answer.completion_tokens == 4  # the fake server counts its chunks
    assert tokens_per_second(answer) == pytest.approx(3 / answer.generation_s)
    assert f"first token {answer.first_token_s:.2f} s" in caption(answer)


def test_media_over_the_limit_or_unreadable_is_a_note_and_structured_copies_stay_out():
    from mcp.types import AudioContent, CallToolResult, ImageContent, TextContent

    from assistant.mcp_hub import MEDIA_LIMIT_BYTES, _outcome

    big = base64.b64encode(b"\0" * (MEDIA_LIMIT_BYTES + 1)).decode()
    sound = base64.b64encode(b"RIFF....WAVE").decode()
    result = CallToolResult(
        content=[
            TextContent(type="text", text="Three things."),
            ImageContent(type="image", data=big, mimeType="image/png"),
            ImageContent(type="image", data="not base64!", mimeType="image/jpeg"),
            AudioContent(type="audio", data=sound, mimeType="audio/wav"),
        ],
        structuredContent={"content": [{"type": "image", "data": big}]},
    )
    outcome = _outcome(result)
    assert outcome.text == (
        "Three things.\n[image/png, 2.0 MB, too large to keep; not shown]\n"
        "[image/jpeg that could not be read]\n[audio/wav, 12 bytes, shown to the user]"
    )
    assert [("data" in m, m["bytes"]) for m in outcome.media] == [
        (False, MEDIA_LIMIT_BYTES + 1),
        (False, 0),
        (True, 12),
    ]
    # Only media and structured content that repeats it: the note, never the JSON's base64.
    alone = CallToolResult(
        content=[ImageContent(type="image", data=sound, mimeType="image/png")],
        structuredContent={"content": [{"type": "image", "data": sound}]},
    )
    assert _outcome(alone).text == "[image/png, 12 bytes, shown to the user]"


def test_an_answer_with_a_tool_image_goes_through_a_json_export_and_import(store, tmp_path):
    from seed import finished_turn

    from assistant.importing import import_file
    from assistant.parts import TEXT, TOOL_CALL, TOOL_RESULT, Part
    from assistant.store import FinalResult

    png = _png(tmp_path / "noise.png", side=16)
    media = {"type": "image", "mime_type": "image/png", "bytes": len(png),
             "data": base64.b64encode(png).decode()}  # fmt: skip
    names = {"id": "m", "server": "fs", "name": "read_media_file"}
    parts = [
        Part(TOOL_CALL, "{}", names),
        Part(TOOL_RESULT, "[image/png, 1 KB, shown to the user]",
             {**names, "is_error": False, "seconds": 0.1, "media": [media]}),
        Part(TEXT, "A picture."),
    ]  # fmt: skip
    ids = finished_turn(
        store, None, "Show", FinalResult("complete", "A picture.", parts=parts), SNAP
    )
    exported = json_text(store, ids.conversation_id)
    other = Store(Database(tmp_path / "other.db"))
    assert import_file(other, exported).imported
    answer = next(
        m for m in other.messages(other.list_conversations()[0].id) if m.role == "assistant"
    )
    result = next(p for p in answer.parts if p.kind == TOOL_RESULT)
    assert base64.b64decode(result.data["media"][0]["data"]) == png


# -- real servers from npm and PyPI, as people configure them ---------------------------------


def _toolbox(store: Store, **hub_options: float) -> Toolbox:
    hub = McpHub(lambda: os.environ, lambda: {}, **hub_options)
    return Toolbox(store.db, ToolServerStore(store.db), hub)


def test_real_servers_list_their_tools_and_a_task_only_tool_is_never_offered(store, tmp_path):
    everything = npm_server("mcp-server-everything")
    filesystem = npm_server("mcp-server-filesystem")
    (tmp_path / "notes.txt").write_text("remember the milk")
    toolbox = _toolbox(store)
    servers = toolbox.servers
    servers.save(ServerDraft("everything", STDIO, command=everything[0],
                             args=(*everything[1:], "stdio")))  # fmt: skip
    servers.save(ServerDraft("files", STDIO, command=filesystem[0],
                             args=(*filesystem[1:], str(tmp_path))))  # fmt: skip
    servers.save(TIME_SERVER)
    try:
        listed = {s.name: toolbox.listing(s) for s in servers.list()}
        names = {name: [t.name for t in tools] for name, tools in listed.items()}
        assert len(names["everything"]) == 13 and "echo" in names["everything"]
        assert "list_directory" in names["files"]
        assert names["time"] == ["get_current_time", "convert_time"]
        task_only = [t.name for t in listed["everything"] if t.needs_tasks]
        assert task_only == ["simulate-research-query"]
        # Never chosen: every tool of every server is on for a new chat, asking first, except
        # the one that runs only as an MCP task.
        offered = {t.function: t.policy for t in toolbox.for_chat(None)}
        assert len(offered) == 12 + len(names["files"]) + 2
        assert set(offered.values()) == {ASK}
        assert "everything__simulate-research-query" not in offered
        tools = {t.function: t for t in toolbox.for_chat(None)}
        listing = tools["files__list_directory"]
        outcome = toolbox.run(listing, ToolCall("c", listing.function, "{}"),
                              {"path": str(tmp_path)})  # fmt: skip
        assert not outcome.is_error and "notes.txt" in outcome.text
        echo = tools["everything__echo"]
        outcome = toolbox.run(echo, ToolCall("e", echo.function, "{}"), {"message": "hi"})
        assert outcome.text == "Echo: hi"
    finally:
        toolbox.hub.close()


def test_an_imported_server_has_its_tools_on_for_new_chats_asking_first(
    store, fake_server, tmp_path
):
    from test_cli import run_cli

    config = {"mcpServers": {"time": {"command": sys.executable, "args": list(TIME_SERVER.args)}}}
    (tmp_path / "claude_desktop_config.json").write_text(json.dumps(config))
    env = {"SQLITE_DB_PATH": str(store.db.path)}
    done = run_cli("tools", "import", "claude_desktop_config.json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Their tools are on for new chats, each call asking first" in done.stdout
    toolbox = _toolbox(store)
    provider = OpenAICompatProvider("sk-test", fake_server.base_url, max_retries=0)
    turns = TurnManager(store, lambda _s: provider, checkpoint_interval=0.0, toolbox=toolbox)
    try:
        fake_server.enqueue(
            Scenario(
                chunks=[], tool_calls=[call("t", "time__get_current_time", {"timezone": "UTC"})]
            ),
            Scenario(chunks=["It is now."]),
        )
        ids = turns.send(None, "What time is it?", SNAP)
        waiting = _waiting(turns, ids.assistant_message_id)  # it asks first
        offered = [t["function"]["name"] for t in fake_server.completions()[0].body["tools"]]
        assert offered == ["time__get_current_time", "time__convert_time"]
        assert (waiting.server, waiting.tool) == ("time", "get_current_time")
        turns.decide(ids.assistant_message_id, "t", APPROVE)
        assert run_to_end(turns, ids.assistant_message_id) == "It is now."
        assert '"timezone": "UTC"' in tool_messages(fake_server)["t"]
    finally:
        turns.shutdown(wait=2)
        toolbox.hub.close()


def test_explicit_choices_stay_when_a_server_is_added(store):
    toolbox = _toolbox(store)
    try:
        toolbox.servers.save(ServerDraft("web", HTTP, url="http://127.0.0.1:9/mcp"))
        assert toolbox.default() == {"web/*": ASK}  # never chosen: every server's tools
        toolbox.set_default({"web/add": ALLOW})
        chat = seed.turn(store, None, "No tools here", SNAP).conversation_id
        toolbox.set_chosen(chat, {})  # this chat chose no tools
        toolbox.servers.save(TIME_SERVER)
        assert toolbox.default() == {"web/add": ALLOW, "time/*": ASK}
        assert toolbox.chosen(chat) == {}
        web = toolbox.servers.by_name("web")
        toolbox.servers.save(ServerDraft("site", HTTP, url=web.url), web.id)  # renamed
        assert toolbox.default() == {"site/add": ALLOW, "time/*": ASK}
    finally:
        toolbox.hub.close()


def test_a_streamable_http_server_restarted_between_calls_is_reconnected_once(store, monkeypatch):
    import assistant.toolbox as toolbox_module

    server = EverythingHttp(npm_server("mcp-server-everything"), "streamableHttp").start()
    toolbox = _toolbox(store)
    try:
        toolbox.servers.save(ServerDraft("ev", HTTP, url=server.url))
        echo = next(t for t in toolbox.for_chat(None) if t.info.name == "echo")
        first = toolbox.run(echo, ToolCall("1", echo.function, "{}"), {"message": "one"})
        assert first.text == "Echo: one"
        server.stop()
        down = toolbox.run(echo, ToolCall("2", echo.function, "{}"), {"message": "two"})
        assert down.is_error
        assert down.text == f"Nothing answers at {server.url} (the tool server ev)."
        # A refresh of the tool list while it is down keeps the tools (before: they left every
        # chat until the next refresh, a minute or more later).
        monkeypatch.setattr(toolbox_module, "TOOLS_CACHE_S", 0.0)
        kept = toolbox.listing(echo.server)
        wait_until(lambda: "ev" not in toolbox._refreshing, timeout=30)
        assert toolbox.listing(echo.server, wait=False) is kept
        monkeypatch.setattr(toolbox_module, "TOOLS_CACHE_S", 60.0)
        server.start()  # the same port, a new process that knows no session
        again = toolbox.run(echo, ToolCall("3", echo.function, "{}"), {"message": "three"})
        assert (again.is_error, again.text) == (False, "Echo: three")
        server.stop()
        server.start()
        # A refresh of the tool list reconnects too; the tools stay in the chat meanwhile.
        toolbox.check(toolbox.servers.by_name("ev"))
        wait_until(lambda: isinstance(toolbox.listing(echo.server, wait=False), list), timeout=30)
        assert "ev__echo" in [t.function for t in toolbox.for_chat(None)]
        last = toolbox.run(echo, ToolCall("4", echo.function, "{}"), {"message": "four"})
        assert last.text == "Echo: four"
    finally:
        toolbox.hub.close()
        server.stop()


def test_an_sse_server_from_a_vs_code_config_is_called_through_the_sse_client(store):
    server = EverythingHttp(npm_server("mcp-server-everything"), "sse").start()
    toolbox = _toolbox(store)
    try:
        config = '{"servers": {"ev": {"type": "sse", "url": "%s"}, // older transport\n}}'
        saved, _skipped = toolbox.servers.import_file(read_mcp_servers_json(config % server.url))
        assert [s.name for s in saved] == ["ev"]
        tools = toolbox.listing(saved[0])
        assert isinstance(tools, list) and len(tools) == 13, tools
        echo = next(t for t in toolbox.for_chat(None) if t.info.name == "echo")
        outcome = toolbox.run(echo, ToolCall("s", echo.function, "{}"), {"message": "over sse"})
        assert (outcome.is_error, outcome.text) == (False, "Echo: over sse")
        server.stop()  # the event stream ends; a restarted server is connected to again
        server.start()
        outcome = toolbox.run(echo, ToolCall("t", echo.function, "{}"), {"message": "again"})
        assert (outcome.is_error, outcome.text) == (False, "Echo: again")
    finally:
        toolbox.hub.close()
        server.stop()


def test_a_first_start_longer_than_the_start_timeout_is_said_in_one_sentence(store, tmp_path):
    import assistant.mcp_hub as mcp_hub

    assert mcp_hub.CONNECT_TIMEOUT_S >= 60  # a first `npx -y` downloads the package
    toolbox = _toolbox(store, connect_timeout=1.5)
    try:
        slow = toolbox.servers.save(slow_server(tmp_path / "gate"))  # never released
        assert toolbox.listing(slow, wait=False) is None  # starting, in the background
        problem = wait_until(lambda: toolbox.listing(slow, wait=False), timeout=30)
        assert problem == "The tool server slow did not start within 2 s."
    finally:
        toolbox.hub.close()


def test_a_crash_is_explained_by_the_last_meaningful_line_of_stderr(store, tmp_path):
    filesystem = npm_server("mcp-server-filesystem")
    node = filesystem[0]
    script = "console.error('Starting default (STDIO) server...'); throw new Error('port taken')"
    toolbox = _toolbox(store)
    try:
        files = toolbox.servers.save(ServerDraft("files", STDIO, command=node, args=(
            *filesystem[1:], str(tmp_path / "missing"))))  # fmt: skip
        thrown = toolbox.servers.save(ServerDraft("thrown", STDIO, command=node,
                                                  args=("-e", script)))  # fmt: skip
        assert toolbox.listing(files) == (
            "The tool server files exited: Error: None of the specified directories are accessible."
        )
        # Not "Node.js v22…" (the last line), nor the banner, nor a stack frame.
        assert toolbox.listing(thrown) == "The tool server thrown exited: Error: port taken."
    finally:
        toolbox.hub.close()
