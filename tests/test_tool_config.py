"""Reading the MCP config files people already have (Claude Desktop, Cursor, VS Code, Cline):
what is accepted, what is said, and that a damaged file is one sentence, never a traceback
(mutation tests: thousands of broken variants of real-looking files)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from assistant.errors import InvalidInput
from assistant.tool_servers import HTTP, STDIO, read_mcp_servers_json, without_comments

VS_CODE = """{
  // VS Code's .vscode/mcp.json: "servers", comments, trailing commas, inputs
  "inputs": [
    {"type": "promptString", "id": "api-key", "description": "API key", "password": true},
  ],
  "servers": {
    "everything": {"type": "sse", "url": "http://127.0.0.1:3001/sse", /* older transport */},
    "files": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "${workspaceFolder}"],
      "env": {"SEARCH_API_KEY": "${input:api-key}", "LOG_URL": "http://x//y"},
      "envFile": ".env",
    },
  },
}
"""

CLINE = {
    "mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"], "disabled": False},
        "github": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-github"],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_secret"},
            "disabled": True,
            "autoApprove": [],
        },
        "remote": {
            "url": "https://example.com/mcp",
            "headers": {"Authorization": "Bearer ${env:REMOTE_TOKEN}"},
        },
    }
}


def test_vs_code_mcp_json_with_comments_trailing_commas_sse_envfile_and_placeholders(tmp_path):
    (tmp_path / ".env").write_text("# keys\nexport DEBUG_LEVEL='2'\nOTHER_TOKEN=\"tok\"\n")
    read = read_mcp_servers_json(VS_CODE, tmp_path)
    everything, files = read.servers
    assert (everything.name, everything.transport, everything.url) == (
        "everything",
        HTTP,
        "http://127.0.0.1:3001/sse",
    )
    assert files.transport == STDIO and files.command == "npx"
    # The envFile's plain values are kept, its secrets passed through and named (never stored);
    # a value from an ${input:…} is passed through too.
    assert files.env == {"DEBUG_LEVEL": "2", "LOG_URL": "http://x//y"}
    assert set(files.env_pass) == {"OTHER_TOKEN", "SEARCH_API_KEY"}
    assert set(read.to_set) == {"OTHER_TOKEN", "SEARCH_API_KEY"}
    assert read.notes == [
        "files: ${workspaceFolder}, ${input:api-key} cannot be resolved here (only ${VAR} as a "
        "whole value); edit the server in Settings › Tools."
    ]


def test_cline_disabled_servers_are_imported_switched_off_and_said(tmp_path):
    read = read_mcp_servers_json(json.dumps(CLINE), tmp_path)
    by_name = {s.name: s for s in read.servers}
    assert by_name["time"].enabled is True and by_name["github"].enabled is False
    assert "github is switched off in the file; it was imported switched off." in read.notes
    assert "ghp_secret" not in repr(read)
    assert by_name["remote"].header_key == "REMOTE_TOKEN"
    assert set(read.to_set) == {"GITHUB_PERSONAL_ACCESS_TOKEN", "REMOTE_TOKEN"}


def test_an_env_file_that_cannot_be_read_is_said_and_the_rest_imported(tmp_path):
    config = {"mcpServers": {"a": {"command": "x", "envFile": "missing.env"}}}
    read = read_mcp_servers_json(json.dumps(config), tmp_path)
    assert [s.name for s in read.servers] == ["a"]
    assert read.notes == ["a: the envFile missing.env cannot be read (No such file or directory)."]
    pasted = read_mcp_servers_json(json.dumps(config))  # pasted: no folder to read it from
    assert pasted.notes == [
        "a: the envFile missing.env is relative to a folder unknown here; it was not read."
    ]


def test_comments_and_commas_inside_strings_are_kept():
    text = '{"a": "http://x/*y*/,]", // c\n "b": [1, 2,], /* z */ "c": "\\"//\\"",}'
    assert json.loads(without_comments(text)) == {"a": "http://x/*y*/,]", "b": [1, 2], "c": '"//"'}


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("", "This is not valid JSON"),
        ("{", "This is not valid JSON"),
        ('{"mcpServers": {"a": {"command": "x"}} /* open', "A /* comment is not closed."),
        ("[]", 'The file has no "mcpServers" object.'),
        ('{"mcpServers": []}', 'The file has no "mcpServers" object.'),
        ('{"mcpServers": {"a": 3}}', "The server 'a' is not an object."),
        ('{"mcpServers": {"a": {}}}', 'The server \'a\' has neither a "command" nor a "url".'),
        ('{"servers": {"a": {"type": "ws", "url": "ws://x"}}}', "has the type 'ws'"),
        ('{"mcpServers": {"a": {"type": "stdio", "url": "http://x"}}}', "neither a"),
        ('{"mcpServers": {"a": {"command": "x", "args": "y"}}}', '"args" is not a list'),
        ('{"mcpServers": {"a": {"command": "x", "args": [true]}}}', '"args" is not a list'),
        ('{"mcpServers": {"a": {"command": "x", "env": [1]}}}', '"env" is not an object'),
        ('{"mcpServers": {"a": {"url": "x"}}}', "Enter the server's URL"),
        ('{"mcpServers": {"a/b": {"command": "x"}}}', "A server name has at most"),
        ('{"mcpServers": {"a": {"url": "http://x", "headers": 1}}}', '"headers" is not'),
        ('{"mcpServers": {"a": {"command": "x"}}}'.encode("utf-16"), "not UTF-8 text"),
    ],
)
def test_a_bad_config_is_one_sentence(text, sentence):
    with pytest.raises(InvalidInput) as caught:
        read_mcp_servers_json(text)
    assert sentence in str(caught.value)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


MUTATION_ALPHABET = [*'{}[]",:/*\\\n ', "//", "/*", "*/", "${", "true", "null", "1e9"]


def _mutants(source: str, count: int, seed: int):
    """Random damage: a character dropped, a token inserted, a span doubled or cut."""
    rng = random.Random(seed)
    for _ in range(count):
        text = source
        for _step in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            kind = rng.randrange(4)
            if kind == 0 and text:
                text = text[:at] + text[at + 1 :]
            elif kind == 1:
                text = text[:at] + rng.choice(MUTATION_ALPHABET) + text[at:]
            elif kind == 2:
                end = min(len(text), at + rng.randint(1, 30))
                text = text[:end] + text[at:end] + text[end:]
            else:
                text = text[:at] + text[at + rng.randint(1, 30) :]
        yield text


@pytest.mark.parametrize("source", [VS_CODE, json.dumps(CLINE, indent=2)], ids=["vs-code", "cline"])
def test_mutated_configs_parse_or_say_one_sentence(source, tmp_path):
    """Every damaged variant either reads (and every server it gives is clean) or raises
    InvalidInput with one line: nothing else escapes (no KeyError, TypeError, traceback)."""
    read_ok = refused = 0
    for text in _mutants(source, 1500, seed=20):
        try:
            read = read_mcp_servers_json(text, tmp_path)
        except InvalidInput as exc:
            refused += 1
            assert str(exc) and "\n" not in str(exc), repr(text)
            continue
        read_ok += 1
        for server in read.servers:
            assert server.transport in (STDIO, HTTP) and server.name
            assert server.command if server.transport == STDIO else server.url, repr(text)
    # The mutations exercise both outcomes (else this test would prove nothing).
    assert read_ok > 50 and refused > 50, (read_ok, refused)


def test_a_bad_config_through_the_cli_is_one_sentence_and_exit_1(tmp_path: Path):
    from test_cli import run_cli

    (tmp_path / "mcp.json").write_text('{"servers": {"a": {"type": "ws", "url": "ws://x"},}}')
    done = run_cli("tools", "import", "mcp.json", env={"SQLITE_DB_PATH": str(tmp_path / "d.db")},
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "has the type 'ws'" in done.stderr
