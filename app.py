"""Chat page and the app's navigation. Run with: streamlit run app.py"""

from __future__ import annotations

import contextlib

import streamlit as st

from assistant import transcript, ui
from assistant.store import NotFound
from assistant.turns import AlreadyClaimed, TurnError

VERSION_STATE = "answer_version"
PROMPT_KEY = "prompt"
NOTICE_KEY = "notice"


def _regenerate(answer_id: int) -> None:
    svc = ui.services()
    try:
        svc.turns.regenerate(answer_id, svc.default_snapshot())
    except (TurnError, NotFound) as exc:
        st.toast(str(exc))
    st.session_state.get(VERSION_STATE, {}).clear()  # show the newest version


def _stop(answer_id: int) -> None:
    ui.services().turns.stop(answer_id)


def _show_version(question_id: int, index: int) -> None:
    st.session_state.setdefault(VERSION_STATE, {})[question_id] = index


def _sidebar(svc, conversation_id: int | None, model_problem: str | None) -> None:
    with st.sidebar:
        st.button(
            "New chat",
            icon=":material/edit_square:",
            use_container_width=True,
            on_click=ui.open_conversation,
            args=(None,),
            type="primary" if conversation_id is None else "secondary",
        )
        settings = svc.settings
        st.caption(f"**Model:** {settings.model}  \n**Provider:** {settings.endpoint_label}")
        if model_problem:
            st.error(model_problem, icon=":material/error:")
        st.subheader("Recent", divider="gray")
        conversations = svc.store.list_conversations(limit=50)
        if not conversations:
            st.caption("Your conversations will appear here.")
        for conversation in conversations:
            is_open = conversation.id == conversation_id
            st.button(
                conversation.title,
                key=f"conversation-{conversation.id}",
                use_container_width=True,
                type="primary" if is_open else "tertiary",
                on_click=ui.open_conversation,
                args=(conversation.id,),
                help="Open" if not is_open else "Open now",
            )


def _answer(svc, exchange: transcript.Exchange, is_last: bool) -> None:
    versions = exchange.answers
    chosen = st.session_state.get(VERSION_STATE, {}).get(exchange.question.id, len(versions) - 1)
    chosen = min(max(chosen, 0), len(versions) - 1)
    answer = versions[chosen]
    with st.chat_message("assistant"):
        if answer.is_live:
            st.button(
                "Stop",
                key=f"stop-{answer.id}",
                icon=":material/stop_circle:",
                type="tertiary",
                on_click=_stop,
                args=(answer.id,),
            )
            ui.follow_answer(svc.turns, answer.id)
            st.rerun()  # the answer ended: show it with its caption and actions
        if answer.content:
            st.markdown(answer.content)
        if answer.status == "error":
            st.error(answer.error or "The answer failed.", icon=":material/error:")
        elif answer.status == "interrupted":
            st.warning(answer.error or "This answer was interrupted.", icon=":material/warning:")
        elif answer.status == "stopped" and not answer.content:
            st.caption("Stopped before the first word.")
        if answer.status in ("complete", "stopped"):
            ui.render_answer_caption(answer)
        actions = st.container(horizontal=True, vertical_alignment="center", gap="small")
        if len(versions) > 1:
            actions.button(
                "",
                key=f"prev-{answer.id}",
                icon=":material/chevron_left:",
                type="tertiary",
                disabled=chosen == 0,
                on_click=_show_version,
                args=(exchange.question.id, chosen - 1),
                help="Earlier version",
            )
            actions.caption(f"{chosen + 1} / {len(versions)}", width="content")
            actions.button(
                "",
                key=f"next-{answer.id}",
                icon=":material/chevron_right:",
                type="tertiary",
                disabled=chosen == len(versions) - 1,
                on_click=_show_version,
                args=(exchange.question.id, chosen + 1),
                help="Later version",
            )
        if answer.status in ("error", "interrupted"):
            actions.button(
                "Retry",
                key=f"retry-{answer.id}",
                icon=":material/refresh:",
                on_click=_regenerate,
                args=(answer.id,),
            )
        elif is_last:
            actions.button(
                "Regenerate",
                key=f"regenerate-{answer.id}",
                icon=":material/autorenew:",
                type="tertiary",
                on_click=_regenerate,
                args=(answer.id,),
            )


def _submit() -> None:
    """Chat input callback: create and start the turn, or say why not and keep the text."""
    svc = ui.services()
    text = st.session_state.get(PROMPT_KEY) or ""
    conversation_id = ui.conversation_from_url(svc)
    try:
        try:
            ids = svc.turns.create(conversation_id, text, svc.default_snapshot())
        except NotFound:
            st.session_state[NOTICE_KEY] = "That conversation was deleted; this is a new chat."
            ids = svc.turns.create(None, text, svc.default_snapshot())
    except TurnError as exc:
        st.session_state[NOTICE_KEY] = str(exc)
        if text.strip():
            st.session_state[PROMPT_KEY] = text  # back into the box: nothing typed is lost
        return
    ui.open_conversation(ids.conversation_id)
    with contextlib.suppress(AlreadyClaimed):  # another tab started it first
        svc.turns.start(ids.assistant_message_id)


def chat_page() -> None:
    svc = ui.services()
    model_problem = ui.ensure_model_loaded(svc)
    # "disable": no second message while an answer streams; Stop is the button in the bubble.
    st.chat_input("Message the assistant", key=PROMPT_KEY, on_submit=_submit, submit_mode="disable")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.toast(notice, icon=":material/info:")
    conversation_id = ui.conversation_from_url(svc)
    _sidebar(svc, conversation_id, model_problem)

    if conversation_id is None:
        st.title("What can I help with?")
        if svc.uses_local_model:
            st.info(ui.LOCAL_MODEL_NOTE, icon=":material/memory:")
        else:
            st.caption(f"Answers come from {svc.settings.model} at {svc.settings.endpoint_label}.")
        return

    svc.turns.start_pending(conversation_id)
    exchanges = transcript.exchanges(svc.store.messages(conversation_id))
    for index, exchange in enumerate(exchanges):
        with st.chat_message("user"):
            st.markdown(exchange.question.content)
        if exchange.answers:
            _answer(svc, exchange, is_last=index == len(exchanges) - 1)


st.set_page_config(page_title="Assistant", page_icon=":material/forum:", layout="centered")
navigation = st.navigation(
    [st.Page(chat_page, title="Chat", icon=":material/chat:", url_path="chat", default=True)]
)
navigation.run()
