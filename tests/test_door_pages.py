"""What a visitor (a browser that is not the host's owner) sees of the host's controls, page by
page through AppTest, in both languages. The real visitor, on another host, is in
tests/test_e2e_door.py; AppTest has no browser, so a run is the owner's unless the session says
otherwise (as the door does for a real visitor)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assistant.db import Database
from assistant.tool_servers import ServerDraft, ToolServerStore
from assistant.ui import OWNER_STATE

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SETTINGS = "app_pages/settings.py"
OWNER_ONLY = {
    "en-US": "Only a browser on the computer that runs the app can change endpoints",
    "zh-CN": "只有运行本应用的那台电脑上的浏览器才能更改端点",
}


def settings(owner: bool, locale: str = "en-US") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.context = {"locale": locale}  # type: ignore[assignment]
    at.session_state[OWNER_STATE] = owner
    at.switch_page(SETTINGS)
    return at.run()


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    return "\n".join(parts + [i.value for i in at.info])


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_visitor_sees_endpoints_and_tool_servers_read_only_with_the_reason(
    remote, db_path, locale
):
    ToolServerStore(Database(db_path)).save(
        ServerDraft(name="clock", transport="stdio", command="uvx", args=("mcp-server-time",))
    )
    at = settings(owner=False, locale=locale)
    assert not at.exception
    shown = texts(at)
    assert shown.count(OWNER_ONLY[locale]) == 2  # the Endpoints tab and the Tools tab
    assert "clock" in shown and "OpenAI" in shown  # what exists is listed
    # Nothing that changes, checks or imports them is drawn, so no callback can be reached.
    labels = {w.label for w in [*at.text_input, *at.text_area, *at.button, *at.toggle]}
    for control in ("Base URL", "Add endpoint", "Check connection", "Add", "Import", "Check"):
        assert control not in labels
    assert not [e for e in at.expander if "mcpServers" in e.label]
    assert not at.get("file_uploader")
    assert "uvx" not in shown  # a server's command line stays the owner's


def test_the_owner_has_every_control(remote, db_path):
    at = settings(owner=True)
    assert OWNER_ONLY["en-US"] not in texts(at)
    labels = {w.label for w in at.button}
    assert {"Add endpoint", "Check connection", "Add", "Import"} <= labels
