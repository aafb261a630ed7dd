"""An MCP server written with the official SDK, for the tool tests.

    python tests/mcp_test_server.py PORT            Streamable HTTP on 127.0.0.1:PORT/mcp
    python tests/mcp_test_server.py --stdio         over stdin/stdout

Tools that succeed (`add`, `big`), fail (`fail`: is_error), take too long (`slow`), and end the
process mid-call (`die`).
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("test-tools")


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> str:
    return str(a + b)


@server.tool(description="Always fails.")
def fail(reason: str = "it always does") -> str:
    raise ToolError(f"This tool failed: {reason}")  # the message reaches the model


@server.tool(description="Sleeps, then answers.")
def slow(seconds: float) -> str:
    time.sleep(seconds)
    return "finally"


@server.tool(description="A long text.")
def big(characters: int) -> str:
    return "x" * characters


@server.tool(description="Ends the server's process in the middle of the call.")
def die() -> str:
    sys.stderr.write("test server: exiting on purpose\n")
    sys.stderr.flush()
    os._exit(7)


if __name__ == "__main__":
    if sys.argv[1:] == ["--stdio"]:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
