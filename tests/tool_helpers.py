"""Tool servers the tests and benchmarks share, and how a test finds their processes."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from assistant.tool_servers import STDIO, ServerDraft

TESTS = Path(__file__).resolve().parent

# `mcp-server-time` from PyPI, started as a module: its console script may not be on PATH.
TIME_SERVER = ServerDraft(
    "time", STDIO, command=sys.executable, args=("-m", "mcp_server_time", "--local-timezone", "UTC")
)


def new_marker() -> str:
    """A word to put in a server's arguments, so that a test finds its processes."""
    return f"mcp-marker-{uuid.uuid4().hex[:12]}"


def live_server(marker: str, name: str = "live") -> ServerDraft:
    """The SDK-written test server over stdio (`add`, `garbled`, ...)."""
    args = (str(TESTS / "mcp_test_server.py"), "--stdio", marker)
    return ServerDraft(name, STDIO, command=sys.executable, args=args)


def stuck_server(marker: str, name: str = "stuck") -> ServerDraft:
    """A server that never answers `initialize`, with a child process of its own."""
    args = (str(TESTS / "mcp_stuck_server.py"), marker)
    return ServerDraft(name, STDIO, command=sys.executable, args=args)


def marked_processes(marker: str) -> list[int]:
    """The live processes (not zombies) whose command line holds `marker`: the servers, their
    children and their guards."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # ended meanwhile
            continue
        if marker.encode() in command and state != "Z":
            found.append(int(entry.name))
    return found
