"""An MCP server written with the official SDK, for the tool tests.

    python tests/mcp_test_server.py PORT [--json]   Streamable HTTP on 127.0.0.1:PORT/mcp
                                                    (--json: JSON bodies, not event streams)
    python tests/mcp_test_server.py --stdio         over stdin/stdout

Other arguments are ignored: markers a test finds the process by.

Tools that succeed (`add`, `big`), fail (`fail`: is_error), take too long (`slow`), end the
process mid-call (`die`), and answer with characters a JSON parser refuses (`garbled`: what
the SDK would never write is put into its output on the way out, see `garble`).
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("test-tools")

# `garbled` returns these markers; the output stage turns them into the bytes of a message a
# broken server would send: a lone surrogate escape, a real pair, bytes that are not UTF-8, a
# BEL and a C1 control as escapes (valid JSON), a raw BEL and a raw tab inside a string (not).
GARBLING = {
    b"@LONE@": b"\\ud83d",
    b"@PAIR@": b"\\ud83d\\ude00",
    b"@BYTES@": b"\xff",
    b"@BEL@": b"\\u0007",
    b"@C1@": b"\\u0085",
    b"@RAWBEL@": b"\x07",
    b"@TAB@": b"\t",
}
GARBLED = "lone:@LONE@ pair:@PAIR@ bytes:@BYTES@ controls:@BEL@@C1@@RAWBEL@ tab:@TAB@ end"
GARBLED_REPAIRED = "lone:\ufffd pair:\U0001f600 bytes:\ufffd controls: tab:\t end"


def garble(data: bytes) -> bytes:
    for marker, raw in GARBLING.items():
        data = data.replace(marker, raw)
    return data


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


@server.tool(description="Text with a lone surrogate, bad bytes and control characters.")
def garbled() -> str:
    return GARBLED


class GarblingStdout:
    """The stdio server's stdout (text in, `garble`d bytes out to fd 1)."""

    def write(self, text: str) -> int:
        data = garble(text.encode("utf-8"))
        while data:
            data = data[os.write(1, data) :]
        return len(text)

    def flush(self) -> None:
        pass


def run_stdio() -> None:
    import anyio
    import mcp.server.mcpserver.server as sdk

    plain = sdk.stdio_server
    sdk.stdio_server = lambda: plain(stdout=anyio.wrap_file(GarblingStdout()))
    server.run()


def garbling(app):
    """ASGI middleware: every response body `garble`d (its length is no longer known)."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-length"]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                message = {**message, "body": garble(message.get("body", b""))}
            await send(message)

        await app(scope, receive, sending)

    return wrapped


def run_http(port: int, json_response: bool) -> None:
    import uvicorn

    app = server.streamable_http_app(json_response=json_response)
    uvicorn.run(garbling(app), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if "--stdio" in sys.argv[1:]:
        run_stdio()
    else:
        run_http(int(sys.argv[1]), "--json" in sys.argv[2:])
