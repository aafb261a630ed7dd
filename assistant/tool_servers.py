"""MCP servers as settings: what to start or where to connect, never a secret.

Two transports:
- `stdio`: a command and its arguments, started as a child process. A child gets a minimal
  environment, so a server keeps plain values it needs (`env`: a time zone, a path) and the
  *names* of variables to pass through from the app's environment or secrets.toml (`env_pass`:
  an API key the server needs is read when the server starts, never stored).
- `http` (Streamable HTTP, or SSE where the server only speaks that: mcp_hub.py): a URL and
  at most one header, whose value comes from an environment variable or a secrets.toml key,
  as endpoint keys do.

`read_mcp_servers_json` reads the config files of Claude Desktop, Cursor, Cline and VS Code
(`mcpServers` or `servers`, JSON with comments). A value that is a secret (an Authorization or
key header, a variable named like a key, token or password) is not kept: the server passes
that variable through instead, and the import says which names to set.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.app_settings import read_setting, write_setting
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.i18n import _
from assistant.profiles import KEY_ENV, KEY_NONE, KEY_SECRETS, clean_key, secret_value
from assistant.store import now_iso

STDIO, HTTP = "stdio", "http"
DEFAULT_TOOLS_KEY = "default_tools"  # the tools new chats start with (toolbox.py)
NAME_LIMIT_CHARS = 40
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"(key|token|secret|passw|pwd|auth|credential|bearer|cookie)", re.I)
_SECRET_HEADERS = re.compile(r"^(authorization|proxy-authorization|cookie|x-api-key)$", re.I)
_VARIABLE_REFERENCE = re.compile(r"^\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class ServerDraft:
    """A server's settings as typed or imported (before it has an id)."""

    name: str
    transport: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    env_pass: tuple[str, ...] = ()
    url: str | None = None
    header_name: str | None = None
    header_source: str = KEY_NONE
    header_key: str | None = None
    enabled: bool = True

    @property
    def where(self) -> str:
        """The command line or the URL, for people to read."""
        if self.transport == STDIO:
            return shlex.join([self.command or "", *self.args])
        return self.url or ""


@dataclass(frozen=True)
class ToolServer(ServerDraft):
    """A saved server."""

    id: int = 0
    created_at: str = ""
    updated_at: str = ""


def _server(row: sqlite3.Row) -> ToolServer:
    data = dict(row)
    data["args"] = tuple(json.loads(data["args"]))
    data["env"] = json.loads(data["env"])
    data["env_pass"] = tuple(json.loads(data["env_pass"]))
    data["enabled"] = bool(data["enabled"])
    return ToolServer(**data)


def clean(draft: ServerDraft) -> ServerDraft:
    """The draft with tidy values, or InvalidInput saying what to change."""
    name = " ".join(draft.name.split())
    if not name:
        raise InvalidInput(_("Give the server a name."))
    if len(name) > NAME_LIMIT_CHARS or not _NAME.match(name) or "/" in name:
        raise InvalidInput(
            _(
                "A server name has at most {NAME_LIMIT_CHARS} letters, digits, spaces, "
                "'.', '_' or '-' (it names its tools, e.g. time/get_current_time)."
            ).format(NAME_LIMIT_CHARS=NAME_LIMIT_CHARS)
        )
    for variable in (*draft.env, *draft.env_pass):
        if not _ENV_NAME.match(variable):
            raise InvalidInput(
                _("{variable!r} is not an environment variable name.").format(variable=variable)
            )
    if draft.transport == STDIO:
        command = (draft.command or "").strip()
        if not command:
            raise InvalidInput(_("Enter the command that starts the server, e.g. uvx."))
        return ServerDraft(
            name,
            STDIO,
            command=command,
            args=tuple(str(a) for a in draft.args),
            env={str(k): str(v) for k, v in draft.env.items()},
            env_pass=tuple(dict.fromkeys(draft.env_pass)),
            enabled=draft.enabled,
        )
    if draft.transport != HTTP:
        raise InvalidInput(
            _("Unknown transport {transport!r}: use stdio or http.").format(
                transport=draft.transport
            )
        )
    url = (draft.url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[x": a bracket that is not an IPv6 address
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(_("Enter the server's URL, e.g. http://127.0.0.1:8000/mcp."))
    header_name = (draft.header_name or "").strip() or None
    source, key = (KEY_NONE, None)
    if header_name:
        if not re.match(r"^[A-Za-z0-9-]+$", header_name):
            raise InvalidInput(
                _("{header_name!r} is not an HTTP header name.").format(header_name=header_name)
            )
        source, key = clean_key(draft.header_source, draft.header_key)
        if source == KEY_NONE:
            raise InvalidInput(_("Say where the header's value comes from: a variable or a key."))
    return ServerDraft(
        name,
        HTTP,
        url=url,
        header_name=header_name,
        header_source=source,
        header_key=key,
        enabled=draft.enabled,
    )


def parse_args(text: str) -> tuple[str, ...]:
    """Arguments typed on one line, split as a shell would (quotes keep spaces)."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise InvalidInput(_("The arguments cannot be read: {exc}.").format(exc=exc)) from None


# -- the connection's secrets, read when a server starts ---------------------------------------


def child_environment(
    server: ToolServer, environ: Mapping[str, str], secrets: Mapping[str, Any]
) -> dict[str, str]:
    """The variables a stdio server gets on top of the SDK's minimal environment."""
    values = dict(server.env)
    for name in server.env_pass:
        value = environ.get(name) or secret_value(secrets, name)
        if value:
            values[name] = value
    return values


def missing_variables(
    server: ToolServer, environ: Mapping[str, str], secrets: Mapping[str, Any]
) -> list[str]:
    return [n for n in server.env_pass if not (environ.get(n) or secret_value(secrets, n))]


def header_value(
    server: ToolServer, environ: Mapping[str, str], secrets: Mapping[str, Any]
) -> str | None:
    """The header's value, read now; an Authorization value without a scheme is a bearer token."""
    if not server.header_name or not server.header_key:
        return None
    if server.header_source == KEY_ENV:
        value = (environ.get(server.header_key) or "").strip() or secret_value(
            secrets, server.header_key
        )
    elif server.header_source == KEY_SECRETS:
        value = secret_value(secrets, server.header_key)
    else:
        value = None
    if value and server.header_name.lower() == "authorization" and " " not in value:
        value = f"Bearer {value}"
    return value


# -- the mcpServers JSON of Claude Desktop, Cursor and VS Code --------------------------------


@dataclass(frozen=True)
class ServersFile:
    servers: list[ServerDraft]
    to_set: list[str]  # variable names the user must set (their values were secrets)
    notes: list[str]  # one sentence per thing left out


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _variable_for(server: str, what: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", f"{server}_{what}".upper()).strip("_")


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_HTTP_TYPES = ("http", "streamable-http", "streamablehttp", "sse")


def read_mcp_servers_json(data: bytes | str, base: Path | None = None) -> ServersFile:
    """`{"mcpServers": {name: {command, args, env, envFile} | {url, headers}}}` -> drafts to
    save, or InvalidInput with one sentence.

    Read as the editors write it: comments and trailing commas (JSON with comments, as VS Code's
    `mcp.json`), VS Code's `servers` key, `"type"` (`stdio`, `http`, `sse`: an SSE URL is
    tried as Streamable HTTP first, then as SSE, by the hub), Cline's `"disabled": true`
    (imported, switched off), and `envFile` (read now, relative to `base`, the file's folder).
    Editor placeholders other than `${VAR}` / `${env:VAR}` as a whole value
    (`${workspaceFolder}`, `${input:…}`) cannot be resolved here: each server that has one says
    so in a note."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(_("The file is not UTF-8 text.")) from None
    try:
        document = json.loads(without_comments(data.removeprefix("\ufeff")))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(_("This is not valid JSON ({exc}).").format(exc=exc)) from None
    entries = None
    if isinstance(document, dict):
        entries = document.get("mcpServers", document.get("servers"))
    if not isinstance(entries, dict) or not entries:
        raise InvalidInput(
            _(
                'The file has no "mcpServers" object. It looks like {"mcpServers": '
                '{"time": {"command": "uvx", "args": ["mcp-server-time"]}}}.'
            )
        )
    drafts: list[ServerDraft] = []
    to_set: list[str] = []
    notes: list[str] = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise InvalidInput(_("The server {name!r} is not an object.").format(name=name))
        kind = entry.get("type")
        kind = kind.lower() if isinstance(kind, str) else None
        if kind is not None and kind != STDIO and kind not in _HTTP_TYPES:
            raise InvalidInput(
                _(
                    'The server {name!r} has the type {kind!r}: use "stdio", "http" or "sse".'
                ).format(name=name, kind=entry.get("type"))
            )
        if isinstance(entry.get("command"), str) and kind in (None, STDIO):
            draft = _stdio_draft(str(name), entry, to_set, notes, base)
        elif isinstance(entry.get("url"), str) and kind != STDIO:
            draft = _http_draft(str(name), entry, to_set, notes)
        else:
            raise InvalidInput(
                _('The server {name!r} has neither a "command" nor a "url".').format(name=name)
            )
        if entry.get("disabled") is True:
            draft = replace(draft, enabled=False)
            notes.append(
                _("{name} is switched off in the file; it was imported switched off.").format(
                    name=name
                )
            )
        unresolved = _unresolved(entry)
        if unresolved:
            notes.append(
                _(
                    "{name}: {placeholders} cannot be resolved here (only ${{VAR}} as a whole "
                    "value); edit the server in Settings › Tools."
                ).format(name=name, placeholders=", ".join(unresolved))
            )
        drafts.append(clean(draft))
    return ServersFile(drafts, list(dict.fromkeys(to_set)), notes)


def without_comments(text: str) -> str:
    """JSON with comments (`//`, `/* */`) and trailing commas, as plain JSON: what VS Code and
    Cursor accept in their settings files. Strings are kept as they are."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise InvalidInput(_("A /* comment is not closed."))
            out.append(" ")
            i = j + 2
        else:
            out.append(c)
            i += 1
    plain_json = "".join(out)
    # A comma before a closing bracket (outside strings: they were copied whole above, and a
    # string cannot hold a raw newline, so the pattern below never starts inside one).
    return _trailing_commas(plain_json)


def _string_end(text: str, start: int) -> int:
    """Where the JSON string opened at `start` ends (just past its closing quote, or the end
    of an unclosed one); escapes are skipped, so an escaped quote does not close it."""
    j, n = start + 1, len(text)
    while j < n and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, n)


def _trailing_commas(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = _string_end(text, i)
            out.append(text[i:j])
            i = j
            continue
        if c == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "}]":
                i += 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _unresolved(entry: dict[str, Any]) -> list[str]:
    """The editor placeholders in a server's settings that this app cannot resolve."""
    found: list[str] = []

    def look(value: Any, whole_ok: bool) -> None:
        if not isinstance(value, str):
            return
        if whole_ok and _VARIABLE_REFERENCE.match(value.removeprefix("Bearer ").strip()):
            return
        found.extend(match.group(0) for match in _PLACEHOLDER.finditer(value))

    for key in ("command", "url", "envFile", "cwd"):
        look(entry.get(key), False)
    for key, whole_ok in (("args", False), ("env", True), ("headers", True)):
        values = entry.get(key)
        if isinstance(values, dict):
            values = list(values.values())
        if isinstance(values, list):
            for value in values:
                look(value, whole_ok)
    return list(dict.fromkeys(found))


def _env_file(name: str, entry: dict[str, Any], base: Path | None, notes: list[str]) -> dict:
    """The variables of a server's `envFile` (NAME=value lines, `#` comments, `export`,
    quotes), or none with a note saying why."""
    path = entry.get("envFile")
    if path is None:
        return {}
    if not isinstance(path, str) or _PLACEHOLDER.search(path):
        return {}  # a placeholder is named in the note about placeholders
    file = Path(path).expanduser()
    if not file.is_absolute():
        if base is None:
            notes.append(
                _(
                    "{name}: the envFile {path} is relative to a folder unknown here; it was "
                    "not read."
                ).format(name=name, path=path)
            )
            return {}
        file = base / file
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        notes.append(
            _("{name}: the envFile {path} cannot be read ({reason}).").format(
                name=name, path=path, reason=reason
            )
        )
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        variable, sep, value = line.removeprefix("export ").partition("=")
        variable, value = variable.strip(), value.strip()
        if not sep or not _ENV_NAME.match(variable):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[variable] = value
    return values


def _stdio_draft(
    name: str, entry: dict[str, Any], to_set: list[str], notes: list[str], base: Path | None
) -> ServerDraft:
    args = entry.get("args") or []
    if not isinstance(args, list) or not all(
        isinstance(a, str | int | float) and not isinstance(a, bool) for a in args
    ):
        raise InvalidInput(
            _('The server {name!r}: "args" is not a list of words.').format(name=name)
        )
    env = entry.get("env") or {}
    if not isinstance(env, dict):
        raise InvalidInput(_('The server {name!r}: "env" is not an object.').format(name=name))
    env = {**_env_file(name, entry, base, notes), **env}  # `env` wins, as in VS Code
    kept: dict[str, str] = {}
    passed: list[str] = []
    for variable, value in env.items():
        reference = _VARIABLE_REFERENCE.match(value) if isinstance(value, str) else None
        from_input = isinstance(value, str) and value.strip().startswith("${input:")
        if not _ENV_NAME.match(str(variable)):
            notes.append(
                _("{name}: {variable} is not a plain value and was left out.").format(
                    name=name, variable=variable
                )
            )
        elif reference or from_input or is_secret_name(str(variable)):
            passed.append(str(variable))
            to_set.append(reference.group(1) if reference else str(variable))
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            kept[str(variable)] = str(value)
        else:
            notes.append(
                _("{name}: {variable} is not a plain value and was left out.").format(
                    name=name, variable=variable
                )
            )
    return ServerDraft(
        name,
        STDIO,
        command=entry["command"],
        args=tuple(map(str, args)),
        env=kept,
        env_pass=tuple(passed),
    )


def _http_draft(name: str, entry: dict[str, Any], to_set: list[str], notes: list[str]):
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidInput(_('The server {name!r}: "headers" is not an object.').format(name=name))
    header_name = header_key = None
    source = KEY_NONE
    for header, value in headers.items():
        header = str(header)
        secret = bool(_SECRET_HEADERS.match(header)) or is_secret_name(header)
        if header_name is not None or not secret or not re.match(r"^[A-Za-z0-9-]+$", header):
            notes.append(
                _(
                    "{name}: the header {header} was left out (one header per server, whose "
                    "value comes from a variable)."
                ).format(name=name, header=header)
            )
            continue
        reference = _VARIABLE_REFERENCE.match(str(value).removeprefix("Bearer ").strip())
        header_name, source = header, KEY_ENV
        header_key = reference.group(1) if reference else _variable_for(name, "token")
        to_set.append(header_key)
    return ServerDraft(
        name,
        HTTP,
        url=entry["url"],
        header_name=header_name,
        header_source=source,
        header_key=header_key,
    )


def tools_on_hint() -> str:
    """What an import or an added server says about its tools (CLI and Settings)."""
    return _(
        "Their tools are on for new chats, each call asking first; switch them off in "
        "Settings › Tools."
    )


def _join_default_tools(conn: sqlite3.Connection, name: str) -> None:
    """A new server's tools are on for new chats, asking before each call (as other MCP
    clients do). A default set never chosen already means every server's tools; one that
    was chosen keeps every choice and gains `name/*`."""
    chosen = read_setting(conn, DEFAULT_TOOLS_KEY)
    if isinstance(chosen, dict):
        write_setting(conn, DEFAULT_TOOLS_KEY, {**chosen, f"{name}/*": "ask"})


def _rename_in_default_tools(conn: sqlite3.Connection, old: str, new: str) -> None:
    """A renamed server keeps its place in the default set (its tools are named after it)."""
    chosen = read_setting(conn, DEFAULT_TOOLS_KEY)
    if isinstance(chosen, dict):
        renamed = {
            (f"{new}/{key.split('/', 1)[1]}" if key.split("/", 1)[0] == old else key): policy
            for key, policy in chosen.items()
        }
        write_setting(conn, DEFAULT_TOOLS_KEY, renamed)


# -- storage ----------------------------------------------------------------------------------

_COLUMNS = (
    "id, name, transport, command, args, env, env_pass, url, header_name, header_source,"
    " header_key, enabled, created_at, updated_at"
)


class ToolServerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> list[ToolServer]:
        with self.db.connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM mcp_servers ORDER BY name").fetchall()
        return [_server(r) for r in rows]

    def enabled(self) -> list[ToolServer]:
        return [s for s in self.list() if s.enabled]

    def get(self, server_id: int) -> ToolServer:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM mcp_servers WHERE id = ?", (server_id,)
            ).fetchone()
        if row is None:
            raise NotFound(_("Tool server {server_id} does not exist.").format(server_id=server_id))
        return _server(row)

    def by_name(self, name: str) -> ToolServer:
        with self.db.connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM mcp_servers WHERE name = ?", (name.strip(),)
            ).fetchone()
        if row is None:
            raise NotFound(_("There is no tool server named {name!r}.").format(name=name.strip()))
        return _server(row)

    def save(self, draft: ServerDraft, server_id: int | None = None) -> ToolServer:
        """Create (no id) or replace a server's settings; a name already used is refused."""
        tidy = clean(draft)
        now = now_iso()
        values = (
            tidy.name,
            tidy.transport,
            tidy.command,
            json.dumps(list(tidy.args)),
            json.dumps(tidy.env, sort_keys=True),
            json.dumps(list(tidy.env_pass)),
            tidy.url,
            tidy.header_name,
            tidy.header_source,
            tidy.header_key,
            int(tidy.enabled),
        )
        try:
            with self.db.transaction() as conn:
                if server_id is None:
                    server_id = conn.execute(
                        "INSERT INTO mcp_servers (name, transport, command, args, env, env_pass,"
                        " url, header_name, header_source, header_key, enabled, created_at,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                        (*values, now, now),
                    ).fetchone()[0]
                    _join_default_tools(conn, tidy.name)
                else:
                    old = conn.execute(
                        "SELECT name FROM mcp_servers WHERE id = ?", (server_id,)
                    ).fetchone()
                    if old is not None and old[0] != tidy.name:
                        _rename_in_default_tools(conn, old[0], tidy.name)
                    changed = conn.execute(
                        "UPDATE mcp_servers SET name = ?, transport = ?, command = ?, args = ?,"
                        " env = ?, env_pass = ?, url = ?, header_name = ?, header_source = ?,"
                        " header_key = ?, enabled = ?, updated_at = ? WHERE id = ?",
                        (*values, now, server_id),
                    ).rowcount
                    if not changed:
                        raise NotFound(
                            _("Tool server {server_id} does not exist.").format(server_id=server_id)
                        )
        except sqlite3.IntegrityError:
            raise InvalidInput(
                _("A tool server named {name!r} exists already.").format(name=tidy.name)
            ) from None
        return self.get(server_id)

    def import_file(self, servers: ServersFile) -> tuple[list[ToolServer], list[str]]:
        """Save the servers of an mcpServers file; a name already here is skipped (said)."""
        saved, skipped = [], []
        existing = {s.name.lower() for s in self.list()}
        for draft in servers.servers:
            if draft.name.lower() in existing:
                skipped.append(draft.name)
                continue
            saved.append(self.save(draft))
        return saved, skipped

    def set_enabled(self, server_id: int, enabled: bool) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE mcp_servers SET enabled = ?, updated_at = ? WHERE id = ?",
                (int(enabled), now_iso(), server_id),
            )

    def delete(self, server_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM mcp_servers WHERE id = ?", (server_id,))
