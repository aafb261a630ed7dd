"""Real MCP servers from npm (`tests/npm/package.json`), installed by `.ci/run` with `npm ci`.

Tests ask for a server's command line here; where npm or the install is missing the test skips
and says how to install them, so a machine without Node still runs the rest of the suite.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NPM_DIR = Path(__file__).resolve().parent / "npm"
INSTALL_HINT = "npm ci --prefix tests/npm"


def npm_server(name: str) -> list[str]:
    """The command that starts the npm MCP server `name` (e.g. "mcp-server-everything")."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed, so the npm MCP servers cannot run")
    script = NPM_DIR / "node_modules" / ".bin" / name
    if not script.exists():
        pytest.skip(f"{name} is not installed; run `{INSTALL_HINT}` (.ci/run does)")
    return [node, str(script.resolve())]
