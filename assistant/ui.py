"""The one module in `assistant/` that imports Streamlit: cached services and page helpers.

Pages stay thin: they call these helpers and the library; nothing here holds product logic.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import streamlit as st

from assistant import transcript
from assistant.config import SETTING_NAMES, ConfigError, load_settings
from assistant.db import StorageError
from assistant.providers import ProviderError
from assistant.services import Services, configure_logging
from assistant.store import Message
from assistant.turns import TurnManager

log = logging.getLogger(__name__)

QUERY_CONVERSATION = "c"
LOCAL_MODEL_NOTE = (
    "Embedded SmolLM2-135M: a small offline demo model. It answers fast and needs no key or "
    "network, but it knows little. Set OPENAI_API_KEY or OPENAI_BASE_URL for a capable model."
)


def read_secrets() -> tuple[dict[str, Any], str | None]:
    """`st.secrets` as a dict; a missing file is normal, a broken one is reported, not raised."""
    try:
        return st.secrets.to_dict(), None
    except FileNotFoundError:
        return {}, None
    except Exception as exc:  # a malformed secrets.toml: keep going on the environment
        return {}, f"`.streamlit/secrets.toml` could not be read and was ignored: {exc}"


def _settings_inputs(secrets: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The raw values settings are made from: the cache key, so a change builds anew."""
    merged = {name: str(secrets[name]) for name in SETTING_NAMES if name in secrets}
    merged.update({name: os.environ[name] for name in SETTING_NAMES if os.environ.get(name)})
    return tuple(sorted(merged.items()))


@st.cache_resource(show_spinner=False, max_entries=4)
def _services(inputs: tuple[tuple[str, str], ...]) -> Services:
    settings = load_settings(environ=dict(inputs), secrets={})
    configure_logging(settings.log_level)
    services = Services.build(settings)
    log.info("app started: provider=%s model=%s", settings.provider, settings.model)
    return services


def services() -> Services:
    """The process-wide services, or a clear message on the page and a stop."""
    secrets, secrets_problem = read_secrets()
    if secrets_problem:
        st.warning(secrets_problem, icon=":material/warning:")
    try:
        return _services(_settings_inputs(secrets))
    except (ConfigError, StorageError) as exc:
        st.error(str(exc), icon=":material/error:")
        st.caption("Fix the setting and reload the page; nothing was written.")
        st.stop()
        raise  # st.stop() raises; this line is for type checkers


def ensure_model_loaded(svc: Services) -> str | None:
    """Load the embedded model once per process, with a visible spinner; returns a problem."""
    if not svc.uses_local_model:
        return None
    model = svc.providers.local_model()
    if model.loaded:
        return None
    try:
        with st.spinner("Loading the embedded model (once per start)…"):
            model.load()
    except ProviderError as exc:
        return exc.user_message
    return None


# -- the open conversation in the URL -------------------------------------------------------


def conversation_from_url(svc: Services) -> int | None:
    raw = st.query_params.get(QUERY_CONVERSATION)
    if raw is None:
        return None
    try:
        conversation_id = int(raw)
        svc.store.get_conversation(conversation_id)
        return conversation_id
    except (ValueError, LookupError):
        st.toast("That conversation does not exist; starting a new chat.")
        del st.query_params[QUERY_CONVERSATION]
        return None


def open_conversation(conversation_id: int | None) -> None:
    """Callback: switch the open conversation (None = a new chat)."""
    if conversation_id is None:
        st.query_params.pop(QUERY_CONVERSATION, None)
    else:
        st.query_params[QUERY_CONVERSATION] = str(conversation_id)


# -- answers --------------------------------------------------------------------------------


def render_answer_caption(message: Message) -> None:
    st.caption(transcript.caption(message))


def _page_stream(turns: TurnManager, answer_id: int, waiting: Any) -> Iterator[str]:
    """Feed `st.write_stream`; shows a timer while the model has not answered yet."""
    started = time.monotonic()
    waiting_shown = False
    for chunk in turns.follow(answer_id):
        if chunk:
            if waiting_shown:
                waiting.empty()
                waiting_shown = False
            yield chunk
        else:
            # Updating an element is also where Streamlit notices a click or a Stop.
            waiting.caption(f"Waiting for the model… {time.monotonic() - started:.0f} s")
            waiting_shown = True
    waiting.empty()


def follow_answer(turns: TurnManager, answer_id: int) -> None:
    """Stream a live answer into the current container.

    Any interruption of the script (a click, another conversation, a closed tab, the app
    menu's Stop) only stops *following*: the answer keeps being written and is there when the
    user comes back. Cancelling is the Stop button's job (`TurnManager.stop`), because
    Streamlit 1.67 does not reliably tell a user's stop from a rerun.
    """
    waiting = st.empty()
    st.write_stream(_page_stream(turns, answer_id, waiting))
