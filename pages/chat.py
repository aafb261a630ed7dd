"""Chat page: the open conversation (`?c=ID`, optionally `&m=MESSAGE` to jump to a message)."""

from __future__ import annotations

import contextlib

import streamlit as st

from assistant import transcript, ui
from assistant.store import NotFound
from assistant.turns import AlreadyClaimed, TurnError

VERSION_STATE = "answer_version"
WINDOW_STATE = "exchanges_shown"
JUMPED_STATE = "jumped_to_message"
PROMPT_KEY = "prompt"
NOTICE_KEY = "notice"
SIDEBAR_SEARCH_KEY = "sidebar_search"
SIDEBAR_HITS = 8


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


def _show_more(conversation_id: int, count: int) -> None:
    st.session_state.setdefault(WINDOW_STATE, {})[conversation_id] = count


def _sidebar_search(svc) -> None:
    query = st.text_input(
        "Search conversations",
        key=SIDEBAR_SEARCH_KEY,
        placeholder="Search conversations",
        label_visibility="collapsed",
        icon=":material/search:",
    )
    if not query.strip():
        return
    hits = svc.store.search(query, limit=SIDEBAR_HITS, title_limit=3)
    if not hits:
        st.caption(f"No matches for “{query.strip()}”.")
    for hit in hits:
        ui.render_search_hit(hit, "sidebar-hit", on_open=ui.open_conversation)
    st.page_link(
        ui.CONVERSATIONS_PAGE,
        label="All results",
        icon=":material/manage_search:",
        query_params={ui.QUERY_SEARCH: query},
    )


def _sidebar(svc, conversation_id: int | None, model_problem: str | None) -> None:
    with st.sidebar:
        st.button(
            "New chat",
            icon=":material/edit_square:",
            width="stretch",
            on_click=ui.open_conversation,
            args=(None,),
            type="primary" if conversation_id is None else "secondary",
        )
        _sidebar_search(svc)
        settings = svc.settings
        st.caption(f"**Model:** {settings.model}  \n**Provider:** {settings.endpoint_label}")
        if model_problem:
            st.error(model_problem, icon=":material/error:")
        st.subheader("Recent", divider="gray")
        conversations = svc.store.list_conversations(limit=ui.SIDEBAR_CONVERSATIONS)
        if not conversations:
            st.caption("Your conversations will appear here.")
        for conversation in conversations:  # pinned ones come first
            is_open = conversation.id == conversation_id
            st.button(
                conversation.title,
                key=f"conversation-{conversation.id}",
                icon=":material/push_pin:" if conversation.pinned else None,
                width="stretch",
                type="primary" if is_open else "tertiary",
                on_click=ui.open_conversation,
                args=(conversation.id,),
                help="Pinned" if conversation.pinned else None,
            )
        st.page_link(ui.CONVERSATIONS_PAGE, label="All conversations", icon=":material/history:")


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
        ui.render_answer_body(answer)
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


def _jump_target(exchanges: list[transcript.Exchange]) -> tuple[int | None, int | None]:
    """(exchange index, message id) for `?m=`, showing that answer version the first time."""
    message_id = ui.message_from_url()
    if message_id is None:
        return None, None
    found = transcript.locate(exchanges, message_id)
    if found is None:
        return None, None
    index, version = found
    if st.session_state.get(JUMPED_STATE) != message_id:
        st.session_state[JUMPED_STATE] = message_id
        if version is not None:
            _show_version(exchanges[index].question.id, version)
    return index, message_id


def _conversation(svc, conversation_id: int) -> None:
    svc.turns.start_pending(conversation_id)
    exchanges = transcript.exchanges(svc.store.messages(conversation_id))
    target_index, target_message = _jump_target(exchanges)
    shown = st.session_state.get(WINDOW_STATE, {}).get(conversation_id, ui.EXCHANGES_SHOWN)
    start = transcript.window_start(len(exchanges), shown, target_index)
    if start > 0:
        st.button(
            f"Show earlier messages ({start} more)",
            icon=":material/expand_less:",
            type="tertiary",
            on_click=_show_more,
            args=(conversation_id, len(exchanges) - start + ui.EXCHANGES_SHOWN),
        )
    for index in range(start, len(exchanges)):
        exchange = exchanges[index]
        is_target = index == target_index
        box = st.container(border=True, key=ui.jump_key(target_message)) if is_target else None
        with box or contextlib.nullcontext():
            with st.chat_message("user"):
                st.markdown(exchange.question.content)
            if exchange.answers:
                _answer(svc, exchange, is_last=index == len(exchanges) - 1)
        if is_target:
            ui.scroll_into_view(ui.jump_key(target_message))


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
    _conversation(svc, conversation_id)


chat_page()
