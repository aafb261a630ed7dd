"""Tool servers the tests and benchmarks share, and how a test finds their processes."""

from __future__ import annotations

import os
import socket
import subprocess
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


def slow_server(gate: Path, name: str = "slow") -> ServerDraft:
    """`mcp-server-time` behind `slow_start.py`: it starts once the test opens `gate` (a FIFO
    made here) for writing; `release(gate)` does."""
    os.mkfifo(gate)
    args = (str(TESTS / "slow_start.py"), str(gate), *([sys.executable, *TIME_SERVER.args]))
    return ServerDraft(name, STDIO, command=sys.executable, args=args)


def release(gate: Path) -> None:
    """Let a `slow_server` start (blocks until its wrapper is waiting on the FIFO)."""
    with open(gate, "wb"):
        pass


class EverythingHttp:
    """npm's server-everything over `streamableHttp` or `sse` on a free port, which a test can
    kill and start again on the same port."""

    def __init__(self, command: list[str], transport: str) -> None:
        self.command, self.transport = command, transport
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        path = "/sse" if transport == "sse" else "/mcp"
        self.url = f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> EverythingHttp:
        from conftest import wait_until

        self.process = subprocess.Popen(
            [*self.command, self.transport],
            env={**os.environ, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: listening(self.port), timeout=30, interval=0.1)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
