"""The tools a chat offers the model, their approval policies, and running one call.

A chat's tools are `{"server/tool": "ask" | "allow" | "off"}` in `conversations.tools`, where
`server/*` stands for every tool of that server (a tool's own entry wins over it); a chat that
never chose follows the default set (app setting `default_tools`). Until the default set is
chosen it is every tool of every server, asking before each call, as Claude Desktop and
Cursor start; once chosen, a server added later joins it with `server/*: ask` (see
`tool_servers.ToolServerStore.save`), so an imported server's tools are on for new chats
while every choice made stays. Only tools of enabled servers that list them are offered, and
never one that needs MCP tasks. The model sees each as an OpenAI function named
`server__tool` (letters, digits, `_` and `-`, at most 64), mapped back when it calls one.

`run` never raises for what a model or a tool can get wrong: an unknown tool, arguments that
are not a JSON object, a tool error, a server that cannot be reached or dies mid-call, a call
past its timeout. Each is a result the model reads and a line the user reads.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from assistant.app_settings import read_setting, write_setting
from assistant.db import Database
from assistant.errors import InvalidInput
from assistant.i18n import _
from assistant.mcp_hub import RESULT_LIMIT_CHARS, McpHub, ToolInfo, ToolOutcome, ToolServerError
from assistant.tool_servers import DEFAULT_TOOLS_KEY, ToolServer, ToolServerStore

ASK, ALLOW, OFF = "ask", "allow", "off"
POLICIES = (ASK, ALLOW)
ALL_TOOLS = "*"  # `server/*`: every tool of the server
STEP_LIMIT_KEY = "tool_step_limit"
DEFAULT_STEP_LIMIT = 8
TOOLS_CACHE_S = 60.0  # a server's tool list is asked for again (in the background) after this


@dataclass(frozen=True)
class ChatTool:
    server: ToolServer
    info: ToolInfo
    policy: str

    @property
    def function(self) -> str:
        return function_name(self.info.server, self.info.name)

    def spec(self) -> dict[str, Any]:
        schema = self.info.input_schema or {"type": "object", "properties": {}}
        return {
            "type": "function",
            "function": {
                "name": self.function,
                "description": self.info.description[:1024],
                "parameters": schema,
            },
        }


def function_name(server: str, tool: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")[:64]


@dataclass(frozen=True)
class ToolCall:
    """A call as the model made it (arguments still text)."""

    id: str
    function: str
    arguments: str


class Toolbox:
    def __init__(self, db: Database, servers: ToolServerStore, hub: McpHub) -> None:
        self.db = db
        self.servers = servers
        self.hub = hub
        self._listed: dict[str, tuple[float, ToolServer, list[ToolInfo] | str]] = {}
        self._refreshing: set[str] = set()  # servers being listed again in the background
        self._lock = threading.Lock()

    # -- choices ---------------------------------------------------------------------------

    def default(self) -> dict[str, str]:
        """The tools new chats start with: as chosen in Settings, or, never chosen, every
        tool of every server, asking first."""
        with self.db.connect() as conn:
            value = read_setting(conn, DEFAULT_TOOLS_KEY)
        if value is None:
            return {f"{server.name}/{ALL_TOOLS}": ASK for server in self.servers.list()}
        return _policies(value)

    def set_default(self, chosen: dict[str, str]) -> None:
        with self.db.transaction() as conn:
            write_setting(conn, DEFAULT_TOOLS_KEY, _checked(chosen))

    def chosen(self, conversation_id: int | None) -> dict[str, str]:
        """The chat's tools and policies (a new chat, or one that never chose: the default)."""
        if conversation_id is None:
            return self.default()
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT tools FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        if row is None or row[0] is None:
            return self.default()
        return _policies(json.loads(row[0]))

    def set_chosen(self, conversation_id: int, chosen: dict[str, str]) -> None:
        with self.db.transaction() as conn:
            write_chat_tools(conn, conversation_id, chosen)

    def allow_always(self, conversation_id: int, key: str) -> None:
        chosen = self.chosen(conversation_id)
        chosen[key] = ALLOW
        self.set_chosen(conversation_id, chosen)

    def step_limit(self) -> int:
        with self.db.connect() as conn:
            value = read_setting(conn, STEP_LIMIT_KEY)
        return value if isinstance(value, int) and 1 <= value <= 50 else DEFAULT_STEP_LIMIT

    def set_step_limit(self, limit: int) -> None:
        if not 1 <= limit <= 50:
            raise InvalidInput(_("The step limit is from 1 to 50 tool steps per answer."))
        with self.db.transaction() as conn:
            write_setting(conn, STEP_LIMIT_KEY, limit)

    # -- what servers offer ------------------------------------------------------------------

    def listing(self, server: ToolServer, wait: bool = True) -> list[ToolInfo] | str | None:
        """A server's tools, the sentence saying why it cannot be used, or None: not listed
        yet and `wait` is False (it is being listed in the background).

        Read once, then kept: past `TOOLS_CACHE_S` the kept list is still given at once and
        asked for again in the background, so an answer waits for a server only the first
        time (a server that hangs cannot stall it every minute). A page never waits
        (`wait=False`): a server may take its whole connect timeout to start, or never start.
        """
        key = server.name.lower()
        with self._lock:
            cached = self._listed.get(key)
        if cached is not None and cached[1] == server:
            if time.monotonic() - cached[0] >= TOOLS_CACHE_S:
                self._refresh_later(server)
            return cached[2]
        if not wait:
            self._refresh_later(server)
            return None
        return self._list_now(server)

    def peek(self, server: ToolServer) -> list[ToolInfo] | str | None:
        """What the server last listed (or why it could not), None if nothing yet; starts
        nothing (a page draws with it first and starts the servers after)."""
        with self._lock:
            cached = self._listed.get(server.name.lower())
        return cached[2] if cached is not None and cached[1] == server else None

    def check(self, server: ToolServer) -> None:
        """Forget what the server listed and list it again in the background (the Check
        button): `listing(server, wait=False)` is None until the new answer is in."""
        with self._lock:
            self._listed.pop(server.name.lower(), None)
        self._refresh_later(server)

    def _list_now(self, server: ToolServer) -> list[ToolInfo] | str:
        """List the server's tools now. A refresh that fails keeps the tools listed before (a
        server restarting at that moment would otherwise take its tools out of every chat
        until the next refresh); a call then says plainly why it failed."""
        try:
            result: list[ToolInfo] | str = self.hub.tools(server)
        except ToolServerError as exc:
            result = str(exc)
        with self._lock:
            kept = self._listed.get(server.name.lower())
            if isinstance(result, str) and kept and kept[1] == server and isinstance(kept[2], list):
                result = kept[2]
            self._listed[server.name.lower()] = (time.monotonic(), server, result)
            self._refreshing.discard(server.name.lower())
        return result

    def _refresh_later(self, server: ToolServer) -> None:
        with self._lock:
            if server.name.lower() in self._refreshing:
                return
            self._refreshing.add(server.name.lower())
        threading.Thread(
            target=self._list_now, args=(server,), name="tool-list", daemon=True
        ).start()

    def available(self, wait: bool = True) -> list[tuple[ToolServer, list[ToolInfo] | str | None]]:
        """Each enabled server with its `listing` (None: still starting, when not `wait`)."""
        return [(server, self.listing(server, wait)) for server in self.servers.enabled()]

    def for_chat(self, conversation_id: int | None) -> list[ChatTool]:
        """The chat's tools, for an answer: it waits for the servers they come from to start
        (only those: a stuck server the chat does not use holds nothing up)."""
        chosen = self.chosen(conversation_id)
        used = {key.split("/", 1)[0] for key, policy in chosen.items() if policy in POLICIES}
        tools = []
        for server in self.servers.enabled():
            listed = self.listing(server) if server.name in used else None
            if not isinstance(listed, list):
                continue
            for info in listed:
                policy = policy_for(chosen, info)
                if policy is not None:
                    tools.append(ChatTool(server, info, policy))
        return tools

    # -- one call ----------------------------------------------------------------------------

    def find(self, tools: list[ChatTool], call: ToolCall) -> ChatTool | None:
        return next((t for t in tools if t.function == call.function), None)

    def run(self, tool: ChatTool | None, call: ToolCall, arguments: Any) -> ToolOutcome:
        if tool is None:
            return ToolOutcome(
                _("There is no tool named {function!r} in this chat.").format(
                    function=call.function
                ),
                True,
            )
        if not isinstance(arguments, dict):
            return ToolOutcome(bad_arguments(call), True)
        try:
            outcome = self.hub.call(tool.server, tool.info.name, arguments)
        except ToolServerError as exc:
            return ToolOutcome(str(exc), True)
        if len(outcome.text) > RESULT_LIMIT_CHARS:
            cut = outcome.text[:RESULT_LIMIT_CHARS]
            more = len(outcome.text) - RESULT_LIMIT_CHARS
            text = _("{cut}\n[… {more:,} more characters were cut]").format(cut=cut, more=more)
            outcome = replace(outcome, text=text, structured=None)
        return outcome


def write_chat_tools(conn: Any, conversation_id: int, chosen: dict[str, str]) -> None:
    """A chat's tools, inside the caller's transaction (a new chat's first one)."""
    conn.execute(
        "UPDATE conversations SET tools = ? WHERE id = ?",
        (json.dumps(_checked(chosen), sort_keys=True), conversation_id),
    )


def parse_arguments(call: ToolCall) -> Any:
    """The call's arguments as JSON (an empty text is no arguments); None when unreadable."""
    if not call.arguments.strip():
        return {}
    try:
        return json.loads(call.arguments)
    except (json.JSONDecodeError, RecursionError):
        return None


def bad_arguments(call: ToolCall) -> str:
    shown = call.arguments if len(call.arguments) <= 200 else call.arguments[:200] + "…"
    return _("The arguments were not a JSON object: {shown}").format(shown=shown)


def policy_for(chosen: dict[str, str], info: ToolInfo) -> str | None:
    """The tool's policy in a chat's choices (its own entry, else its server's `server/*`),
    or None: not offered (off, not chosen, or a tool that needs MCP tasks)."""
    if info.needs_tasks:
        return None
    policy = chosen.get(info.key, chosen.get(f"{info.server}/{ALL_TOOLS}"))
    return policy if policy in POLICIES else None


def with_choice(chosen: dict[str, str], info: ToolInfo, policy: str | None) -> dict[str, str]:
    """The choices with one tool set to `policy` (None: off). An entry of its own is kept only
    where it differs from what its server's `server/*` gives, so the choices stay short and a
    tool switched off stays off when the server's other tools are on."""
    result = dict(chosen)
    inherited = chosen.get(f"{info.server}/{ALL_TOOLS}")
    inherited = inherited if inherited in POLICIES else None
    if policy == inherited:
        result.pop(info.key, None)
    else:
        result[info.key] = policy or OFF
    return result


@dataclass(frozen=True)
class ToolCount:
    """How many of the listed tools a chat has on, and how many servers are still starting."""

    on: int
    total: int
    starting: int


def count_on(
    chosen: dict[str, str], available: list[tuple[ToolServer, list[ToolInfo] | str | None]]
) -> ToolCount:
    on = total = starting = 0
    for _server, listed in available:
        if listed is None:
            starting += 1
        elif isinstance(listed, list):
            usable = [info for info in listed if not info.needs_tasks]
            total += len(usable)
            on += sum(policy_for(chosen, info) is not None for info in usable)
    return ToolCount(on, total, starting)


def _policies(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if v in (*POLICIES, OFF)}


def _checked(chosen: dict[str, str]) -> dict[str, str]:
    for key, policy in chosen.items():
        if "/" not in key or policy not in (*POLICIES, OFF):
            raise InvalidInput(
                _("Not a tool choice: {key!r} -> {policy!r}.").format(key=key, policy=policy)
            )
    return dict(chosen)
