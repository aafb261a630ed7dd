"""A second app process on the same database: sends one message to an OpenAI-compatible
endpoint and generates its answer, printing JSON lines (the ids, then how it ended).

    python tests/owner_process.py DB_PATH BASE_URL

Fault tests `kill -9` it mid-answer, stop its answer from the test process, or let it finish.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.db import Database
from assistant.providers import OpenAICompatProvider
from assistant.store import Snapshot, Store
from assistant.turns import TurnManager


def main(db_path: str, base_url: str) -> None:
    store = Store(Database(db_path))
    provider = OpenAICompatProvider("test-key", base_url, max_retries=0)
    turns = TurnManager(
        store, lambda _snapshot: provider, checkpoint_interval=0.0, heartbeat_interval=0.1
    )
    ids = turns.send(None, "Count slowly", Snapshot("openai", "gpt-3.5-turbo"))
    print(json.dumps({"answer_id": ids.assistant_message_id}), flush=True)
    for _ in turns.follow(ids.assistant_message_id, idle_tick=0.05):
        pass  # until the answer ends, however it ends
    answer = store.get_message(ids.assistant_message_id)
    print(json.dumps({"status": answer.status, "content": answer.content}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
