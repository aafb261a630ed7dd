"""The tool loop's own cost per step, against the tool's time.

The real stack in one process: TurnManager, the `openai` SDK to the fake OpenAI-compatible
server (instant, on 127.0.0.1), the MCP hub to `mcp-server-time` over stdio (allowed, so no
approval wait). Interleaved rounds of two answers:

- plain: one request, no tools (its time is R);
- one step: a request that calls `time/get_current_time`, the call, and a second request.

The loop's own overhead per step = one-step answer − 2 × R − the call's time (as the hub
measured it: the MCP round trip and the server's work). Also printed: the first answer of a
fresh process, which starts the server and lists its tools. Numbers, not pass/fail.

    python bench/tools.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fake_openai import FakeOpenAIServer, Scenario  # noqa: E402
from tool_helpers import TIME_SERVER  # noqa: E402

from assistant.db import Database  # noqa: E402
from assistant.mcp_hub import McpHub  # noqa: E402
from assistant.providers import OpenAICompatProvider  # noqa: E402
from assistant.store import Snapshot, Store  # noqa: E402
from assistant.tool_servers import ToolServerStore  # noqa: E402
from assistant.toolbox import ALLOW, Toolbox  # noqa: E402
from assistant.turns import TurnManager  # noqa: E402

SNAP = Snapshot("bench", "fake-model")
CALL = {"id": "t", "name": "time__get_current_time", "arguments": json.dumps({"timezone": "UTC"})}


def answer(turns: TurnManager, conversation: int | None, text: str) -> tuple[int, float]:
    started = time.perf_counter()
    ids = turns.send(conversation, text, SNAP)
    for _ in turns.follow(ids.assistant_message_id, idle_tick=0.05):
        pass
    return ids.conversation_id, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    server = FakeOpenAIServer().start()
    folder = Path(tempfile.mkdtemp(prefix="bench-tools-"))
    store = Store(Database(folder / "app.db"))
    servers = ToolServerStore(store.db)
    servers.save(TIME_SERVER)
    hub = McpHub(lambda: os.environ, lambda: {})
    toolbox = Toolbox(store.db, servers, hub)
    provider = OpenAICompatProvider("sk-bench", server.base_url, max_retries=0)
    turns = TurnManager(store, lambda _snapshot: provider, toolbox=toolbox)
    try:
        server.enqueue(Scenario(chunks=["Plain."]))
        conversation, _ = answer(turns, None, "warm up the SDK")
        toolbox.set_chosen(conversation, {"time/get_current_time": ALLOW})
        server.enqueue(Scenario(chunks=[], tool_calls=[CALL]), Scenario(chunks=["Noted."]))
        _, first_ms = answer(turns, conversation, "first use: start the server")
        plain, stepped, calls = [], [], []
        for number in range(args.rounds):
            order = ("plain", "step") if number % 2 == 0 else ("step", "plain")
            for kind in order:
                if kind == "plain":
                    toolbox.set_chosen(conversation, {})
                    server.enqueue(Scenario(chunks=["Plain."]))
                    plain.append(answer(turns, conversation, "no tools")[1])
                else:
                    toolbox.set_chosen(conversation, {"time/get_current_time": ALLOW})
                    server.enqueue(
                        Scenario(chunks=[], tool_calls=[CALL]), Scenario(chunks=["Noted."])
                    )
                    conversation, ms = answer(turns, conversation, "one step")
                    stepped.append(ms)
                    last = store.get_message(store.active_path(conversation)[-1].id)
                    result = next(p for p in last.parts if p.kind == "tool_result")
                    calls.append(float(result.data["seconds"]) * 1000)
    finally:
        turns.shutdown(wait=2)
        hub.close()
        server.stop()
    r, one, call = (statistics.median(x) for x in (plain, stepped, calls))
    overhead = one - 2 * r - call
    print(f"{args.rounds} rounds, medians")
    print(f"  answer without tools (one request, R)        {r:8.1f} ms")
    print(f"  answer with one tool step                    {one:8.1f} ms")
    print(f"  the tool call itself (MCP round trip + work) {call:8.1f} ms")
    print(f"  the loop's own overhead per step             {overhead:8.1f} ms")
    print(f"  first answer of a process (server start + list) {first_ms:5.0f} ms")


if __name__ == "__main__":
    main()
