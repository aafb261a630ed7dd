"""Tool servers the tests and benchmarks share."""

from __future__ import annotations

import sys

from assistant.tool_servers import STDIO, ServerDraft

# `mcp-server-time` from PyPI, started as a module: its console script may not be on PATH.
TIME_SERVER = ServerDraft(
    "time", STDIO, command=sys.executable, args=("-m", "mcp_server_time", "--local-timezone", "UTC")
)
