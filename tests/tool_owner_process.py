"""A second app process that answers with a tool: sends one message whose answer calls
`web/slow` on the MCP test server, printing JSON lines (the answer's id, then how it ended).

    python tests/tool_owner_process.py DB_PATH OPENAI_BASE_URL MCP_URL

The fault test `kill -9`s it while the tool runs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.db import Database
from assistant.mcp_hub import McpHub
from assistant.providers import OpenAICompatProvider
from assistant.store import Snapshot, Store
from assistant.tool_servers import HTTP, ServerDraft, ToolServerStore
from assistant.toolbox import ALLOW, Toolbox
from assistant.turns import TurnManager


def main(db_path: str, base_url: str, mcp_url: str) -> None:
    store = Store(Database(db_path))
    servers = ToolServerStore(store.db)
    servers.save(ServerDraft("web", HTTP, url=mcp_url))
    toolbox = Toolbox(store.db, servers, McpHub(lambda: os.environ, lambda: {}, call_timeout=60))
    toolbox.set_default({"web/add": ALLOW, "web/slow": ALLOW})
    provider = OpenAICompatProvider("test-key", base_url, max_retries=0)
    turns = TurnManager(
        store,
        lambda _snapshot: provider,
        checkpoint_interval=0.1,
        heartbeat_interval=0.1,
        toolbox=toolbox,
    )
    ids = turns.send(None, "Add, then wait", Snapshot("openai", "gpt-3.5-turbo"))
    print(json.dumps({"answer_id": ids.assistant_message_id}), flush=True)
    for _ in turns.follow(ids.assistant_message_id, idle_tick=0.05):
        pass
    print(json.dumps({"status": store.get_message(ids.assistant_message_id).status}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
