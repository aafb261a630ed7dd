"""The one module in `assistant/` that imports Streamlit: cached services and page helpers.

Pages stay thin: they call these helpers and the library; nothing here holds product logic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import streamlit as st
from streamlit.runtime import get_instance as get_runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from assistant import transcript
from assistant.config import ConfigError, load_settings
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


@st.cache_resource(show_spinner=False)
def _services() -> Services:
    secrets, _ = read_secrets()
    settings = load_settings(secrets=secrets)
    configure_logging(settings.log_level)
    services = Services.build(settings)
    log.info("app started: provider=%s model=%s", settings.provider, settings.model)
    return services


def services() -> Services:
    """The process-wide services, or a clear message on the page and a stop."""
    _, secrets_problem = read_secrets()
    if secrets_problem:
        st.warning(secrets_problem, icon=":material/warning:")
    try:
        return _services()
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


def _session_is_connected() -> bool:
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return False
    try:
        return get_runtime().is_active_session(ctx.session_id)
    except RuntimeError:
        return False


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

    A rerun (any click, another conversation) only stops following. The user's Stop (the
    chat input's stop button) cancels the generation, unless the stop comes from the tab
    having closed: then the answer finishes on its own and is there when they come back.
    """
    waiting = st.empty()
    try:
        st.write_stream(_page_stream(turns, answer_id, waiting))
    except StopException:
        if _session_is_connected():
            turns.stop(answer_id, wait=0)
        raise
