"""Connections to MCP servers, owned by the app process (not by a page run).

The official `mcp` SDK is asynchronous; the app's workers are threads. The hub runs one asyncio
loop in a daemon thread and keeps one connection per server there: started on first use, kept
open, started again when it died (a stdio child that exited, an HTTP server that went away),
closed at exit: after the answers (`close_all`, which `turns` calls once it has interrupted
them; the hook here covers a process without answers). A worker asks with plain calls
(`tools`, `call`) that wait on the loop with a deadline, so no call can hang an answer: past
its timeout it is a result saying so.

An HTTP server is spoken to over Streamable HTTP, or over SSE where the URL refuses
Streamable HTTP's first POST (an older server; the MCP specification's fallback). A server that
restarted between two calls no longer knows the session (404/400), refuses the old socket, or
ended the SSE stream: the request never reached it, so the hub connects again once and sends
it again. A server gets CONNECT_TIMEOUT_S (60 s: a first `npx -y` downloads the package) to
start; pages never wait for that (toolbox.py lists in the background).

Every failure is one sentence (`ToolServerError`): the command was not found, the process
exited (with the line of its stderr that names an error, not a banner or a stack frame), the
connection was refused, the credentials were refused (401/403), or no answer came in time.

A stdio server runs under `tool_guard` (POSIX): it dies with the app, even after `kill -9`,
and its children with it. What a server sends is repaired before the SDK parses it (a lone
surrogate, bytes that are not UTF-8, a raw control character would make the SDK drop the whole
message and the call would wait for its timeout): by the guard on stdio, in the HTTP client's
response hook on Streamable HTTP; the result's text is then `repaired`.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import functools
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.clean_text import JsonLineRepair, repaired
from assistant.errors import AppError
from assistant.i18n import _, ngettext
from assistant.tool_servers import (
    STDIO,
    ToolServer,
    child_environment,
    header_value,
    missing_variables,
)

log = logging.getLogger(__name__)

# A first start may download the server (`npx -y`, `uvx`): a minute, as other MCP clients wait.
# Read when a hub is made, so a test can lower it.
CONNECT_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 5.0  # at exit: how long running servers get to end on their own
RESULT_LIMIT_CHARS = 20_000  # a tool result longer than this is cut (and says so) for the model
MEDIA_LIMIT_BYTES = 2_000_000  # an image or sound larger than this is not kept (the note says so)
GUARD = Path(__file__).with_name("tool_guard.py")


class ToolServerError(AppError):
    """An MCP server cannot be reached or used; the text is one sentence for the user."""


@dataclass(frozen=True)
class ToolInfo:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    # MCP tasks: a tool whose `execution.taskSupport` is "required" answers a plain call with
    # an error; the app does not run tasks, so such a tool is listed but never offered.
    needs_tasks: bool = False

    @property
    def key(self) -> str:
        return f"{self.server}/{self.name}"


@dataclass(frozen=True)
class ToolOutcome:
    """What a call gave back: text for the model and the page, and how it went."""

    text: str
    is_error: bool = False
    structured: Any = None
    seconds: float = 0.0
    notes: tuple[str, ...] = ()  # images or files in the result, not fetched
    # Images and sound for the person (never for the model): {"type", "mime_type", "bytes",
    # "data": base64} each; "data" is left out of one over MEDIA_LIMIT_BYTES.
    media: tuple[dict[str, Any], ...] = ()


@dataclass
class _Connection:
    server: ToolServer
    client: Any = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    problem: str | None = None
    stderr: Any = None
    http: Any = None  # the HTTP client of a Streamable HTTP server (closed with the connection)
    http_status: int | None = None  # the last error status it answered (the SDK drops it)
    scope: Any = None  # the anyio cancel scope around the connection: cancelled to stop a start
    lost: bool = False  # its transport failed (an SSE stream that ended): the next use reconnects
    refused: bool = False  # it ended because the server refused a connection (it is down)

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done() and self.client is not None


class McpHub:
    def __init__(
        self,
        environ: Callable[[], Mapping[str, str]],
        secrets: Callable[[], Mapping[str, Any]],
        connect_timeout: float | None = None,
        call_timeout: float | None = None,
    ) -> None:
        self._environ = environ
        self._secrets = secrets
        self.connect_timeout = CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout
        self.call_timeout = CALL_TIMEOUT_S if call_timeout is None else call_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp", daemon=True)
        self._thread.start()
        self._connections: dict[str, _Connection] = {}
        self._waiting: set[Future] = set()  # the calls in flight, let go of at close
        self._sse_urls: set[str] = set()  # URLs that answered over SSE, not Streamable HTTP
        self._closed = False
        _hubs.add(self)

    # -- what workers and pages call -------------------------------------------------------

    def tools(self, server: ToolServer) -> list[ToolInfo]:
        """The server's tools (name, description, input schema), or ToolServerError."""
        listed = self._run(self._list(server), self.connect_timeout + self.call_timeout, server)
        return [
            ToolInfo(
                server.name, t.name, t.description or "", _schema(t.input_schema), _needs_tasks(t)
            )
            for t in listed
        ]

    def call(
        self, server: ToolServer, tool: str, arguments: dict[str, Any], timeout: float | None = None
    ) -> ToolOutcome:
        """Run one tool call. Failures of the tool come back as an outcome with `is_error`
        (the model should see them); a server that cannot be used raises ToolServerError."""
        limit = self.call_timeout if timeout is None else timeout
        started = time.monotonic()
        outcome = self._run(self._call(server, tool, arguments, limit), limit + 5, server)
        return _with_seconds(outcome, time.monotonic() - started)

    def forget(self, server_name: str) -> None:
        """Close a server's connection (its settings changed); the next use starts it again."""
        connection = self._connections.pop(server_name.lower(), None)
        if connection is not None and not self._closed:
            self._loop.call_soon_threadsafe(_stop, connection)

    def close(self) -> None:
        """Stop every server (at exit, or when the services are replaced).

        Running servers get their stdin closed and up to CLOSE_TIMEOUT_S to end (the SDK kills
        them after 2 s); a server still starting has nothing to finish and is stopped at once.
        Then the loop's thread ends, and with it (on Linux) every guard's parent thread: a
        server the SDK could not stop in time gets SIGTERM from its guard all the same.
        """
        if self._closed:
            return
        self._closed = True
        _hubs.discard(self)
        connections = list(self._connections.values())
        running = [c.task for c in connections if c.task is not None and c.client is not None]
        for connection in connections:
            self._loop.call_soon_threadsafe(_stop, connection)
        if running:
            waiting = asyncio.run_coroutine_threadsafe(
                _wait_all(running, CLOSE_TIMEOUT_S), self._loop
            )
            try:
                waiting.result(CLOSE_TIMEOUT_S + 1)
            except Exception:  # closing: nothing left to tell anyone
                log.warning("MCP servers did not all stop in time")
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(2)
        for future in list(self._waiting):  # nothing will answer them now
            future.cancel()

    # -- inside the loop -------------------------------------------------------------------

    def _run(self, coroutine: Any, timeout: float, server: ToolServer) -> Any:
        if self._closed:
            coroutine.close()
            raise ToolServerError(_("The app is shutting down; tools are not available."))
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        self._waiting.add(future)
        try:
            return future.result(timeout)
        except (FutureTimeout, TimeoutError):
            future.cancel()
            raise ToolServerError(
                _("The tool server {name} did not answer within {timeout:.0f} s.").format(
                    name=server.name, timeout=timeout
                )
            ) from None
        except FutureCancelled:  # closed meanwhile
            raise ToolServerError(_("The app is shutting down; tools are not available.")) from None
        finally:
            self._waiting.discard(future)

    async def _connection(self, server: ToolServer) -> _Connection:
        if self._closed:  # asked just before the close: nothing new starts now
            raise ToolServerError(_("The app is shutting down; tools are not available."))
        key = server.name.lower()
        connection = self._connections.get(key)
        if connection is not None and connection.server != server:
            _stop(connection)  # its settings changed
            connection = None
        if connection is not None and connection.lost and connection.client is not None:
            _stop(connection)  # an SSE stream that ended: nothing more can come through it
            connection = None
        if connection is None or connection.closing.is_set() or _ended(connection):
            connection = _Connection(server)
            self._connections[key] = connection
            connection.task = asyncio.ensure_future(self._hold(connection))
        try:
            await asyncio.wait_for(connection.ready.wait(), self.connect_timeout)
        except TimeoutError:
            _stop(connection)  # a server stuck starting is stopped; the next use starts anew
            raise ToolServerError(
                _("The tool server {name} did not start within {connect_timeout:.0f} s.").format(
                    name=server.name, connect_timeout=self.connect_timeout
                )
            ) from None
        if connection.client is None:
            raise ToolServerError(
                connection.problem or _("The tool server {name} failed.").format(name=server.name)
            )
        return connection

    async def _hold(self, connection: _Connection) -> None:
        """Open the connection, keep it until asked to close, then close it in this task.

        A URL that refuses Streamable HTTP's first POST (404, 405: an older server) is tried
        again with the SSE transport at the same URL, as the MCP specification advises
        clients to do; the hub then remembers that URL speaks SSE."""
        import anyio

        server = connection.server
        try:
            with anyio.CancelScope() as connection.scope:
                sse = server.transport != STDIO and server.url in self._sse_urls
                try:
                    await self._open(connection, sse)
                except Exception:
                    if sse or not _refused_first_post(connection):
                        raise
                    log.info("tool server %s: no Streamable HTTP here; trying SSE", server.name)
                    connection.http_status = None
                    if connection.http is not None:  # the Streamable HTTP try's client
                        await connection.http.aclose()
                        connection.http = None
                    await self._open(connection, True)
        except BaseException as exc:  # every failure becomes one sentence
            if isinstance(exc, asyncio.CancelledError) and connection.closing.is_set():
                return
            connection.refused = any(_is_refusal(leaf) for leaf in _leaves(exc))
            connection.problem = self._explain(connection, exc)
            log.warning("tool server %s: %s", server.name, connection.problem)
        finally:
            connection.client = None
            connection.ready.set()
            if connection.stderr is not None:
                connection.stderr.close()
            if connection.http is not None:
                await connection.http.aclose()

    async def _open(self, connection: _Connection, sse: bool) -> None:
        from mcp import Client  # imported on first use: the chat page does not need it

        async def on_message(message: Any) -> None:
            # Over SSE a transport error is the event stream ending, and the session with it.
            # (Elsewhere it may be one bad line a server printed: nothing to reconnect for.)
            if sse and isinstance(message, Exception):
                connection.lost = True

        target = self._target(connection, sse)
        async with Client(
            target, read_timeout_seconds=self.call_timeout, message_handler=on_message
        ) as client:
            if sse:
                self._sse_urls.add(connection.server.url or "")
            connection.client = client
            connection.ready.set()
            log.info("tool server %s connected", connection.server.name)
            await connection.closing.wait()

    def _target(self, connection: _Connection, sse: bool = False) -> Any:
        from mcp.client.sse import sse_client
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client

        server = connection.server
        environ, secrets = self._environ(), self._secrets()
        if server.transport == STDIO:
            missing = missing_variables(server, environ, secrets)
            if missing:
                raise ToolServerError(
                    ngettext(
                        "The tool server {name} needs {variables}: set it in the environment "
                        "or in .streamlit/secrets.toml.",
                        "The tool server {name} needs {variables}: set them in the environment "
                        "or in .streamlit/secrets.toml.",
                        len(missing),
                    ).format(name=server.name, variables=", ".join(missing))
                )
            params = _guarded(server, child_environment(server, environ, secrets))
            # Closed when the connection ends (in `_hold`); its last line explains an exit.
            connection.stderr = tempfile.TemporaryFile(  # noqa: SIM115
                "w+", encoding="utf-8", errors="replace"
            )
            return stdio_client(params, errlog=connection.stderr)
        value = header_value(server, environ, secrets)
        if server.header_name and value is None:
            raise ToolServerError(
                _(
                    "The tool server {name} sends {header_name} from {header_key}, which is "
                    "not set."
                ).format(
                    name=server.name, header_name=server.header_name, header_key=server.header_key
                )
            )
        headers = {server.header_name: value} if server.header_name and value else {}
        if sse:  # the SSE client opens and closes its HTTP client itself
            return sse_client(
                server.url or "",
                headers=headers,
                httpx_client_factory=lambda headers=None, timeout=None, auth=None: (
                    self._http_client(connection, headers or {})
                ),
            )
        connection.http = self._http_client(connection, headers)
        return streamable_http_client(server.url or "", http_client=connection.http)

    def _http_client(self, connection: _Connection, headers: dict[str, str]) -> Any:
        import httpx2

        async def on_response(response: Any) -> None:
            # Requests only: the SDK's background event stream (GET) and session end (DELETE)
            # may be refused without anything being wrong with a call.
            if response.status_code >= 400 and response.request.method == "POST":
                connection.http_status = response.status_code
            _repair_body(response, httpx2)

        return httpx2.AsyncClient(
            # Uncompressed, so that what arrives can be repaired as it streams.
            headers={**headers, "Accept-Encoding": "identity"},
            # The SDK's own defaults: a server may hold an event stream open for minutes.
            timeout=httpx2.Timeout(30.0, read=300.0),
            event_hooks={"response": [on_response]},
        )

    def _explain(self, connection: _Connection, exc: BaseException) -> str:
        server = connection.server
        leaves = list(_leaves(exc))
        for leaf in leaves:
            if isinstance(leaf, ToolServerError):
                return str(leaf)
            if isinstance(leaf, FileNotFoundError) and server.transport == STDIO:
                return _not_found(server)
            status = getattr(getattr(leaf, "response", None), "status_code", None)
            status = status or connection.http_status
            if status in (401, 403):
                return _(
                    "The tool server {name} refused the credentials ({status}); check {source}."
                ).format(
                    name=server.name, status=status, source=server.header_key or _("its header")
                )
            if status is not None:
                return _("The tool server {name} answered HTTP {status} at {url}.").format(
                    name=server.name, status=status, url=server.url
                )
            if _is_refusal(leaf):
                return _("Nothing answers at {url} (the tool server {name}).").format(
                    url=server.url, name=server.name
                )
            if isinstance(leaf, TimeoutError) or "Timeout" in type(leaf).__name__:
                return _("The tool server {name} did not answer in time.").format(name=server.name)
        if server.transport == STDIO and connection.stderr is not None:
            last = _last_line(connection.stderr) if not connection.stderr.closed else ""
            detail = f": {last}" if last else ""
            return _("The tool server {name} exited{detail}.").format(
                name=server.name, detail=detail
            )
        first = leaves[0] if leaves else exc
        return _("The tool server {name} failed ({error_type}: {error}).").format(
            name=server.name, error_type=type(first).__name__, error=first
        )

    async def _list(self, server: ToolServer) -> list[Any]:
        for attempt in (1, 2):
            connection = await self._connection(server)
            connection.http_status = None
            try:
                result = await connection.client.list_tools()
                tools = list(result.tools)
                while getattr(result, "next_cursor", None):
                    result = await connection.client.list_tools(cursor=result.next_cursor)
                    tools += list(result.tools)
            except Exception as exc:  # the server went away while listing: one sentence
                if attempt == 1 and await _session_lost(connection, exc):
                    self._drop(connection)
                    continue
                raise ToolServerError(await self._broken(connection, exc)) from exc
            return tools
        raise AssertionError("unreachable")

    async def _call(
        self, server: ToolServer, tool: str, arguments: dict[str, Any], timeout: float
    ) -> ToolOutcome:
        """One call; an HTTP server that restarted since the last one (it no longer knows the
        session, or the old connection is refused) is connected to again once, and the call
        sent again: it never reached the old server, so it does not run twice."""
        from mcp import MCPError

        for attempt in (1, 2):
            connection = await self._connection(server)
            connection.http_status = None
            try:
                result = await asyncio.wait_for(
                    connection.client.call_tool(tool, arguments, read_timeout_seconds=timeout),
                    timeout,
                )
            except TimeoutError:
                return ToolOutcome(
                    _("The tool {tool} did not finish within {timeout:.0f} s.").format(
                        tool=tool, timeout=timeout
                    ),
                    True,
                )
            except Exception as exc:
                if attempt == 1 and await _session_lost(connection, exc):
                    self._drop(connection)
                    continue
                if (
                    isinstance(exc, MCPError)
                    and "connection closed" not in str(exc).lower()
                    and connection.http_status is None
                ):
                    # The server refused the call (an unknown tool, arguments it cannot take).
                    return ToolOutcome(
                        _("The tool server refused the call: {exc}").format(exc=exc), True
                    )
                reason = await self._broken(connection, exc)  # the connection broke mid-call
                return ToolOutcome(
                    _("{reason} The call did not complete.").format(reason=reason), True
                )
            return _outcome(result)
        raise AssertionError("unreachable")

    def _drop(self, connection: _Connection) -> None:
        """In the loop: forget a connection whose server no longer knows it; the next use
        connects again."""
        log.info("tool server %s lost the session; connecting again", connection.server.name)
        if self._connections.get(connection.server.name.lower()) is connection:
            del self._connections[connection.server.name.lower()]
        _stop(connection)

    async def _broken(self, connection: _Connection, exc: BaseException) -> str:
        """The server went away mid-request: why, in a sentence; the next use starts it
        again."""
        if self._connections.get(connection.server.name.lower()) is connection:
            del self._connections[connection.server.name.lower()]
        if connection.stderr is not None:
            await asyncio.sleep(0.1)  # let its last words reach the file
        reason = self._explain(connection, exc)
        _stop(connection)
        return reason


# Open hubs, held until closed (a hub whose servers run must not be collected unclosed).
_hubs: set[McpHub] = set()


@atexit.register
def close_all() -> None:
    """Stop every hub's servers. At exit this must run after the answers are interrupted: a
    tool call cut by its closing server returns, and a worker not yet stopped would go on
    (a new request, the answer saved `complete`). atexit runs hooks last-in first-out and this
    one is registered when the module is imported, so before `turns` registers its own (it
    imports this module); `turns` also calls it itself, after interrupting its answers."""
    for hub in list(_hubs):
        hub.close()


async def _wait_all(tasks: list[asyncio.Task], timeout: float) -> None:
    await asyncio.wait(tasks, timeout=timeout)


def _ended(connection: _Connection) -> bool:
    return connection.task is not None and connection.task.done()


def _stop(connection: _Connection) -> None:
    """In the loop: end a connection; one still starting is cancelled (the SDK then stops its
    process), since it may never answer and would never see `closing`."""
    connection.closing.set()
    if connection.client is None and connection.scope is not None:
        connection.scope.cancel()
        # Whoever waits for it hears now, not after the SDK's 2 s for the process to end.
        connection.problem = connection.problem or _(
            "The tool server {name} was stopped before it started."
        ).format(name=connection.server.name)
        connection.ready.set()


def _refused_first_post(connection: _Connection) -> bool:
    """Streamable HTTP's first POST was refused as an older SSE server refuses it."""
    return not connection.ready.is_set() and connection.http_status in (404, 405)


async def _session_lost(connection: _Connection, exc: BaseException) -> bool:
    """The request never reached a server that knows this connection: an HTTP server that
    restarted answers 404 (or 400) to the old session, or the connection ended because the
    server refused the socket (the SDK then says only "Connection closed")."""
    if connection.server.transport == STDIO:
        return False
    if connection.http_status in (400, 404):
        return True
    if any(_is_refusal(leaf) for leaf in _leaves(exc)):
        return True
    if connection.task is not None and not connection.task.done():
        await asyncio.wait({connection.task}, timeout=0.5)  # it ends with its reason, if at all
    return connection.refused


def _is_refusal(leaf: BaseException) -> bool:
    return type(leaf).__name__ in ("ConnectError", "ConnectionRefusedError")


def _needs_tasks(tool: Any) -> bool:
    execution = getattr(tool, "execution", None)
    return getattr(execution, "task_support", None) == "required"


def _not_found(server: ToolServer) -> str:
    return _(
        "The command {command!r} of the tool server {name} was not found. "
        "Install it, or give its full path."
    ).format(command=server.command, name=server.name)


def _guarded(server: ToolServer, extra_env: dict[str, str]) -> Any:
    """The SDK's parameters to start `server` under the guard (see tool_guard.py).

    The command is looked up on the PATH the server will get, here: the guard always exists,
    so a missing command would otherwise be an exit instead of "not found"."""
    from mcp import StdioServerParameters
    from mcp.client.stdio import get_default_environment

    env = get_default_environment() | extra_env
    command = shutil.which(server.command or "", path=env.get("PATH", os.defpath))
    if command is None:
        raise ToolServerError(_not_found(server))
    if os.name != "posix":  # no process groups or parent-death signal to lean on
        return StdioServerParameters(
            command=command, args=list(server.args), env=extra_env, encoding_error_handler="replace"
        )
    return StdioServerParameters(
        command=sys.executable,
        args=["-I", "-S", str(GUARD), str(os.getpid()), command, *server.args],
        env=extra_env,
        encoding_error_handler="replace",
    )


def _repair_body(response: Any, httpx2: Any) -> None:
    """Before anything reads it, the response's body is set to stream through `repaired_json`
    (JSON bodies, and event streams whose `data:` lines are JSON). In the client's response
    hook, so it holds for every transport, proxies included."""
    if response.headers.get("content-encoding", "identity").lower() == "identity":
        response.stream = _repaired_stream_type(httpx2)(response.stream)


@functools.cache
def _repaired_stream_type(httpx2: Any) -> type:
    class RepairedStream(httpx2.AsyncByteStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        @property
        def elapsed(self) -> Any:  # what httpx reads for `response.elapsed`
            return getattr(self._inner, "elapsed", None)

        async def __aiter__(self):
            repair = JsonLineRepair(b"\r\n")
            async for chunk in self._inner:
                if out := repair.feed(chunk):
                    yield out
            if rest := repair.flush():
                yield rest

        async def aclose(self) -> None:
            await self._inner.aclose()

    return RepairedStream


def _leaves(exc: BaseException):
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc
        if exc.__cause__ is not None and exc.__cause__ is not exc:
            yield from _leaves(exc.__cause__)


# What a server writes to stderr before it dies: start-up banners, stack frames and runtime
# footers say nothing about why; a line that names an error does.
_ERRORISH = re.compile(
    r"error|exception|fatal|fail|cannot|can't|could not|not found|denied|refused|invalid|"
    r"missing|no such|unable|E[A-Z]{3,}\b",
    re.I,
)
_NOISE = re.compile(
    r"^(at\s|File \"|\^+$|~+$|Node\.js v\d|Traceback \(most recent|"
    r"(starting|started|running|listening|server (is )?running|secure mcp|\S+ server running)\b"
    r"|.*\b(running|listening) on\b)",
    re.I,
)


def _last_line(stream: Any) -> str:
    try:
        stream.flush()
        stream.seek(0)
        text = stream.read()
    except (OSError, ValueError):
        return ""
    return meaningful_line(text)


def meaningful_line(text: str) -> str:
    """The line of a server's stderr that best says why it ended: the last one that names an
    error, else the last that is not a banner, a stack frame or blank ("" if none is)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not _NOISE.match(line)]
    errors = [line for line in lines if _ERRORISH.search(line)]
    chosen = errors[-1] if errors else (lines[-1] if lines else "")
    return repaired(chosen[:300])


def _schema(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)
    return dump(by_alias=True, exclude_none=True) if dump else {"type": "object"}


def _outcome(result: Any) -> ToolOutcome:
    """A CallToolResult as text for the model: text blocks as they are, structured content as
    JSON, images and sound as a short note (their bytes kept apart in `media`, for the page),
    links and other files as a note (never fetched). Base64 never reaches the model: a server
    that repeats its content blocks in `structuredContent` (server-filesystem's
    `read_media_file`) would otherwise send it as 20,000 characters of text."""
    texts: list[str] = []
    notes: list[str] = []
    media: list[dict[str, Any]] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
        elif kind in ("image", "audio"):
            item, note = _media(kind, getattr(block, "mime_type", None), block.data)
            media.append(item)
            notes.append(note)
        elif kind == "resource_link":
            notes.append(f"[a link to {getattr(block, 'uri', 'a resource')}, not fetched]")
        elif kind == "resource":
            text = getattr(getattr(block, "resource", None), "text", None)
            texts.append(text) if isinstance(text, str) else notes.append("[a file, not shown]")
    structured = getattr(result, "structured_content", None)
    text = repaired("\n".join(texts))
    if not text and structured is not None and not media:  # it may repeat the media in base64
        text = repaired(json.dumps(structured, ensure_ascii=False, indent=2))
    if notes:
        text = "\n".join(filter(None, [text, *notes]))
    return ToolOutcome(text, bool(result.is_error), structured, 0.0, tuple(notes), tuple(media))


def _media(kind: str, mime_type: str | None, data: Any) -> tuple[dict[str, Any], str]:
    """An image or sound block: what the page keeps of it, and the note the model reads
    (English, like everything sent to a model)."""
    mime = str(mime_type or ("image/png" if kind == "image" else "audio/mpeg"))
    encoded = data if isinstance(data, str) else ""
    try:
        size = len(base64.b64decode(encoded, validate=True))
    except (ValueError, binascii.Error):
        return {"type": kind, "mime_type": mime, "bytes": 0}, f"[{mime} that could not be read]"
    item: dict[str, Any] = {"type": kind, "mime_type": mime, "bytes": size}
    if size > MEDIA_LIMIT_BYTES:
        return item, f"[{mime}, {_size(size)}, too large to keep; not shown]"
    item["data"] = encoded
    return item, f"[{mime}, {_size(size)}, shown to the user]"


def _size(count: int) -> str:
    if count < 1_000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1_000:.0f} KB"
    return f"{count / 1_000_000:.1f} MB"


def _with_seconds(outcome: ToolOutcome, seconds: float) -> ToolOutcome:
    return replace(outcome, seconds=seconds)
