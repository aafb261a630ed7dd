"""Settings › Tools with many tool servers: how long the first visit takes to draw, and how
long until every server's tools are listed.

A fresh database with N copies of `mcp-server-time` (stdio), the Settings page through
AppTest in this process (as the page tests run it). Printed: the first run (the page drawn),
then the time until every server's tools are on the page (re-running it as a browser would,
while the servers start in the background). Numbers, not pass/fail.

    python bench/tool_settings.py [--servers 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from tool_helpers import TIME_SERVER  # noqa: E402

from assistant.db import Database  # noqa: E402
from assistant.tool_servers import ServerDraft, ToolServerStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=12)
    args = parser.parse_args()
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        os.environ["SQLITE_DB_PATH"] = str(db_path)
        os.environ.setdefault("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        store = ToolServerStore(Database(db_path))
        for index in range(args.servers):
            store.save(ServerDraft(**{**TIME_SERVER.__dict__, "name": f"time{index:02d}"}))
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.switch_page("app_pages/settings.py")
        started = time.monotonic()
        at.run()
        drawn = time.monotonic() - started
        runs = 1
        wanted = 2 * args.servers  # mcp-server-time has two tools
        while sum(t.key.startswith("default-tools-use-") for t in at.toggle) < wanted:
            if time.monotonic() - started > 300:
                print("not every server listed within 300 s")
                break
            at.run()
            runs += 1
        listed = time.monotonic() - started
        print(f"{args.servers} servers: first draw {drawn:.2f} s; every tool listed after "
              f"{listed:.2f} s ({runs} runs); exception: {bool(at.exception)}")  # fmt: skip
        from assistant.ui import _services

        _services.clear()


if __name__ == "__main__":
    main()
