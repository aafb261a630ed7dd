"""The app's entry point: page setup and navigation. Run with: streamlit run app.py

Each page is a thin script in `app_pages/`; the logic lives in `assistant/`. The folder is not
called `pages/`: with that name Streamlit runs the first session after a start in its older
multipage mode when it opens on a sub-page (`/conversations`), which skips this file (no
navigation, no page setup, no error guard) until someone opens the root URL.
"""

from __future__ import annotations

import streamlit as st

from assistant import ui
from assistant.errors import AppError
from assistant.i18n import _

# The door first: a browser that reached the app under a foreign name (DNS rebinding) or from
# another site's page gets one sentence, before anything is read or written.
ui.guard_door()
ui.collect_after_runs()  # a poll may have turned it off for itself
# The icon is a local file: a `:material/...` or emoji icon (also a page's own, which Streamlit
# uses when none is set before `st.navigation`) makes the browser fetch it from a CDN.
ui.use_session_language()
st.set_page_config(page_title=_("Assistant"), page_icon=ui.APP_ICON)
ui.page_style()  # icon-only buttons keep a name for screen readers
navigation = st.navigation(
    [
        st.Page(ui.CHAT_PAGE, title=_("Chat"), icon=":material/chat:", default=True),
        st.Page(
            ui.CONVERSATIONS_PAGE,
            title=_("Conversations"),
            icon=":material/history:",
            url_path="conversations",
        ),
        st.Page(ui.USAGE_PAGE, title=_("Usage"), icon=":material/monitoring:", url_path="usage"),
        st.Page(
            ui.SETTINGS_PAGE, title=_("Settings"), icon=":material/settings:", url_path="settings"
        ),
    ]
)
try:
    navigation.run()
except AppError as exc:  # a locked, full or read-only database met while rendering
    ui.show_problem(exc)
