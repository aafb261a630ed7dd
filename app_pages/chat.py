"""Chat page: the open conversation (`?c=ID`, optionally `&m=MESSAGE` to jump to a message)."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import streamlit as st

from assistant import transcript, ui
from assistant.approvals import APPROVE, DENY, Approval
from assistant.chat_settings import (
    PROMPT_NONE,
    PROMPT_ONE_OFF,
    ChatSettings,
    Resolved,
    prompt_choice,
    with_param,
    with_prompt_choice,
)
from assistant.errors import AppError, InvalidInput, NotFound
from assistant.i18n import _, ngettext, number
from assistant.profiles import KIND_LOCAL, endpoint_label, endpoint_title, shown_name
from assistant.safe_markdown import plain
from assistant.starters import STARTERS
from assistant.store import TITLE_LIMIT_CHARS, Conversation, Message
from assistant.turns import continuable
from assistant.usage import AnswerCost, money

EDITING_STATE = "editing_message"  # the user message whose text is open for editing
WINDOW_STATE = "exchanges_shown"
JUMPED_STATE = "jumped_to_message"
PROMPT_KEY = "prompt"
HANDED_BACK_KEY = "prompt_handed_back"  # the text last put back into the chat input
SIDEBAR_SEARCH_KEY = "sidebar_search"
SIDEBAR_HITS = 8
DRAFT_KEY = "new_chat_settings"  # a new chat's settings until its first message creates it
DRAFT_TOOLS_KEY = "new_chat_tools"  # a new chat's tools until its first message creates it
MISSING = object()
PANEL_KEYS = "chat_settings_keys"  # widget keys per conversation, dropped on "Use defaults"
STAGE_STATE = "chat_stage"  # the main area last run: (chat id, exchanges, second slot?)
LIVE_POLL_S = 1.0  # how often an open chat looks for changes made elsewhere
RECHECK_S = 30.0  # ... and reads its mark even when the database file's stamp did not change
WATCH_STATE = "chat_watch"  # (database stamp, when) of the poll's last read of the mark
MENU_KEY = "sidebar_menu"  # the sidebar conversation whose Rename / Delete menu is open
TRASHED_KEY = "sidebar_trashed"  # (id, title, was open) just moved to the trash from the sidebar


@ui.action
def _regenerate(answer_id: int) -> None:
    ui.services().regenerate(answer_id)


@ui.action
def _continue(answer_id: int) -> None:
    ui.services().continue_answer(answer_id)


@ui.action
def _answer_question(question_id: int) -> None:
    """A question without an answer (the end of a fork, an import): answer it now."""
    ui.services().answer(question_id)


@ui.action
def _show_branch(message_id: int) -> None:
    """‹ › : the branch through this sibling, down to its latest message."""
    ui.services().store.show_branch(message_id)


def _start_edit(message_id: int) -> None:
    st.session_state[EDITING_STATE] = message_id


def _cancel_edit(message_id: int) -> None:
    st.session_state.pop(EDITING_STATE, None)
    st.session_state.pop(_edit_key(message_id), None)


def _edit_key(message_id: int) -> str:
    return f"edit-text-{message_id}"


@ui.action
def _save_edit(message_id: int) -> None:
    """Save & send: the edited text becomes a new branch; on a refusal the box stays open
    with the text in it."""
    text = st.session_state.get(_edit_key(message_id)) or ""
    ui.services().edit(message_id, text)
    _cancel_edit(message_id)


@ui.action
def _fork(message_id: int) -> None:
    conversation_id = ui.services().fork(message_id)
    ui.notify(_("A new chat from that message; the original is unchanged."))
    ui.open_conversation(conversation_id)


@ui.action
def _stop(answer_id: int) -> None:
    turns = ui.services().turns
    written_here = turns.is_live(answer_id)
    asked = turns.stop(answer_id) and not written_here
    if asked and turns.store.get_message(answer_id).status == "streaming":
        ui.notify(_("Asked the server that writes this answer to stop it; it stops in a moment."))


def _show_more(conversation_id: int, count: int) -> None:
    st.session_state.setdefault(WINDOW_STATE, {})[conversation_id] = count


def _sidebar_search(svc) -> None:
    query = st.text_input(
        _("Search conversations"),
        key=SIDEBAR_SEARCH_KEY,
        placeholder=_("Search conversations"),
        label_visibility="collapsed",
        icon=":material/search:",
    )
    if not query.strip():
        return
    hits = svc.store.search(query, limit=SIDEBAR_HITS, title_limit=3)
    if not hits:
        st.caption(plain(_("No matches for “{query}”.").format(query=query.strip())))
    for hit in hits:
        ui.render_search_hit(hit, "sidebar-hit", on_open=ui.open_conversation)
    st.page_link(
        ui.CONVERSATIONS_PAGE,
        label=_("All results"),
        icon=":material/manage_search:",
        query_params={ui.QUERY_SEARCH: query},
    )


# -- this conversation's model and prompt --------------------------------------------------


def _draft() -> ChatSettings | None:
    return st.session_state.get(DRAFT_KEY)


def _panel_key(conversation_id: int | None, name: str) -> str:
    generation = st.session_state.get(PANEL_KEYS, {}).get(conversation_id, 0)
    return f"chat-{conversation_id or 'new'}-{name}-{generation}"


def _save(conversation_id: int | None, chat: ChatSettings) -> None:
    svc = ui.services()
    if conversation_id is None:
        st.session_state[DRAFT_KEY] = svc.chat.validate(chat)
    else:
        svc.chat.save(conversation_id, chat)


def _current(conversation_id: int | None) -> tuple[ChatSettings, Resolved]:
    svc = ui.services()
    chat = svc.chat_settings(conversation_id, _draft())
    return chat, svc.chat.resolve(chat)


def _widget(conversation_id: int | None, name: str) -> Any:
    """A panel widget's value; MISSING when its state is already gone (a page switch)."""
    return st.session_state.get(_panel_key(conversation_id, name), MISSING)


@ui.action
def _change_prompt(conversation_id: int | None) -> None:
    chat, resolved = _current(conversation_id)
    choice = _widget(conversation_id, "prompt")
    if choice is MISSING:
        return
    one_off = st.session_state.get(_panel_key(conversation_id, "one-off"))
    if choice == PROMPT_ONE_OFF and one_off is None:
        one_off = resolved.system_prompt  # start the one-off from the prompt in use
    _save(conversation_id, with_prompt_choice(chat, choice, one_off or ""))


def _first_model(svc, profile_id: int) -> str | None:
    """The model a chat takes when it moves to this endpoint: None follows the endpoint's own
    default; an endpoint without one gets the first model it lists (cached), if any."""
    profile = svc.profiles.get(profile_id)
    if svc.endpoints.effective(profile).model:
        return None
    models, _problem = ui.model_choices(svc, profile)
    return models[0] if models else None


@ui.action
def _change_profile(conversation_id: int | None, key: str, shown: int) -> None:
    """Either endpoint select (top of the chat or the sidebar's panel) moved: the chat's
    settings are the one source of truth, and both selects are drawn from them again.

    `shown` is the endpoint the select was drawn with. A select drawn for an earlier choice
    is one the browser still showed while the page was being redrawn; a message sent then
    makes the browser send that select's old value, and it would undo the choice just made
    (the message then went to the previous endpoint's model). Only a change made on what the
    chat uses now counts."""
    chat, resolved = _current(conversation_id)
    profile_id = st.session_state.get(key, MISSING)
    if profile_id is MISSING or profile_id is None or resolved.profile.id != shown:
        return
    # Another endpoint has other models: its default (or first listed) until one is picked.
    model = _first_model(ui.services(), profile_id)
    _save(conversation_id, replace(chat, profile_id=profile_id, model=model))


@ui.action
def _change_model(conversation_id: int | None, key: str, shown: tuple[int, str]) -> None:
    """A model picked at the top or in the panel, if drawn for the chat's current endpoint
    and model (`shown`; see `_change_profile`)."""
    chat, resolved = _current(conversation_id)
    model = st.session_state.get(key, MISSING)
    if model is MISSING or (resolved.profile.id, resolved.model) != shown:
        return
    _save(conversation_id, replace(chat, model=model or None))


@ui.action
def _change_param(conversation_id: int | None, name: str) -> None:
    chat, resolved = _current(conversation_id)
    value = _widget(conversation_id, name)
    if value is MISSING or value is None:
        return
    _save(conversation_id, with_param(chat, resolved, name, value))


@ui.action
def _use_defaults(conversation_id: int | None) -> None:
    svc = ui.services()
    _save(conversation_id, svc.chat.for_new_conversation())
    generations = st.session_state.setdefault(PANEL_KEYS, {})
    generations[conversation_id] = generations.get(conversation_id, 0) + 1  # fresh widgets


def _settings_panel(
    svc, conversation_id: int | None, chat: ChatSettings, resolved: Resolved
) -> None:
    """Preset or one-off prompt, endpoint, model and parameters for this conversation."""
    st.caption(
        _("**Model:** {model}  \n**Endpoint:** {endpoint}  \n**Prompt:** {prompt}").format(
            model=plain(resolved.model or _("none chosen")),
            endpoint=plain(endpoint_title(resolved.profile)),
            prompt=plain(resolved.prompt_label),
        )
    )
    for problem in resolved.problems:  # they name presets and endpoints
        st.warning(plain(problem), icon=":material/warning:")
    key = functools.partial(_panel_key, conversation_id)
    with st.expander(_("Model and prompt for this chat"), icon=":material/tune:"):
        presets = {p.id: p.name for p in svc.presets.list()}
        labels = {
            **presets,
            PROMPT_ONE_OFF: _("One-off prompt…"),
            PROMPT_NONE: _("No system prompt"),
        }
        options = list(labels)
        chosen = prompt_choice(chat, resolved)
        st.selectbox(
            _("System prompt"),
            options,
            index=options.index(chosen) if chosen in options else options.index(PROMPT_NONE),
            format_func=labels.__getitem__,
            key=key("prompt"),
            on_change=_change_prompt,
            args=(conversation_id,),
        )
        if st.session_state.get(key("prompt")) == PROMPT_ONE_OFF:
            st.text_area(
                _("One-off system prompt (this chat only)"),
                value=resolved.system_prompt,
                key=key("one-off"),
                on_change=_change_prompt,
                args=(conversation_id,),
            )
        _endpoint_select(svc, conversation_id, resolved, "panel")
        if resolved.profile.kind == KIND_LOCAL:
            st.caption(
                _("Model: {model} (another GGUF file can be set in Settings › Endpoints).").format(
                    model=plain(resolved.model)
                )
            )
        else:
            _model_select(svc, conversation_id, resolved, "panel")
        ui.param_inputs(
            resolved.params.as_dict(),
            key,
            on_change=_change_param,
            args=lambda name: (conversation_id, name),
        )
        st.caption(_("Changes apply from the next answer; earlier answers keep theirs."))
        st.button(
            _("Use the defaults"),
            icon=":material/restart_alt:",
            key=key("defaults"),
            on_click=_use_defaults,
            args=(conversation_id,),
        )
        st.page_link(ui.SETTINGS_PAGE, label=_("Presets and endpoints"), icon=":material/settings:")


def _choice_key(conversation_id: int | None, place: str, name: str, resolved: Resolved) -> str:
    """An endpoint or model select's key, named after the value it shows. The chat's settings
    are the one source of truth for the select at the top and the one in the sidebar: a change
    from either gives both new keys, so each is drawn afresh from the settings (a keyed widget
    would otherwise keep showing the value it last had)."""
    chosen = (
        f"{resolved.profile.id}" if name == "profile" else f"{resolved.profile.id}-{resolved.model}"
    )
    return _panel_key(conversation_id, f"{place}-{name}-{chosen}")


def _endpoint_select(
    svc, conversation_id: int | None, resolved: Resolved, place: str, **widget: Any
) -> None:
    profiles = {p.id: shown_name(p.name) for p in svc.profiles.list()}
    profile_ids = list(profiles)
    key = _choice_key(conversation_id, place, "profile", resolved)
    st.selectbox(
        _("Endpoint"),
        profile_ids,
        index=profile_ids.index(resolved.profile.id) if resolved.profile.id in profiles else None,
        format_func=profiles.__getitem__,
        key=key,
        on_change=_change_profile,
        args=(conversation_id, key, resolved.profile.id),
        **widget,
    )


def _model_select(
    svc, conversation_id: int | None, resolved: Resolved, place: str, **widget: Any
) -> None:
    key = _choice_key(conversation_id, place, "model", resolved)
    ui.model_picker(
        svc,
        resolved.profile,
        resolved.model or None,
        label=_("Model"),
        key=key,
        on_change=_change_model,
        args=(conversation_id, key, (resolved.profile.id, resolved.model)),
        help=_("The models the endpoint lists; type any other name too."),
        **widget,
    )


def _model_row(place: Any, svc, conversation_id: int | None, resolved: Resolved) -> None:
    """Endpoint and model at the top of the chat, where a newcomer looks for them (the same
    settings as the sidebar's panel). The embedded model lists only its own file: no network.

    Drawn into `place` (at the top) with the sidebar, after the conversation: asking a slow
    endpoint for its models (once, then cached) does not hold up the messages."""
    row = place.container(
        horizontal=True, vertical_alignment="center", gap="small", key="chat-model-row"
    )
    with row:
        _endpoint_select(
            svc, conversation_id, resolved, "top", label_visibility="collapsed", width=200
        )
        if resolved.profile.kind == KIND_LOCAL:
            st.selectbox(
                _("Model"),
                [resolved.model],
                key=_choice_key(conversation_id, "top", "model", resolved),
                disabled=True,
                label_visibility="collapsed",
                width=240,
                help=_("Another GGUF file can be set in Settings › Endpoints."),
            )
        else:
            _model_select(
                svc, conversation_id, resolved, "top", label_visibility="collapsed", width=240
            )


def _chat_tools(svc, conversation_id: int | None) -> dict[str, str]:
    if conversation_id is None and DRAFT_TOOLS_KEY in st.session_state:
        return st.session_state[DRAFT_TOOLS_KEY]
    return svc.turns.toolbox.chosen(conversation_id)


@ui.action
def _change_tools(conversation_id: int | None, keys: list) -> None:
    svc = ui.services()
    prefix = _panel_key(conversation_id, "tools")
    chosen = ui.read_tool_choices(prefix, keys, _chat_tools(svc, conversation_id))
    if conversation_id is None:
        st.session_state[DRAFT_TOOLS_KEY] = chosen
    else:
        svc.turns.toolbox.set_chosen(conversation_id, chosen)


def _tools_panel(svc, conversation_id: int | None, resolved: Resolved) -> None:
    """The chat's tools: a toggle and an approval policy each."""
    if not svc.tool_servers.enabled():
        return
    chosen = _chat_tools(svc, conversation_id)
    label = _("Tools for this chat · {summary}").format(summary=ui.tools_summary(svc, chosen))
    # Keyed: its title changes as servers answer, and it must stay open when it does.
    box = f"chat-{conversation_id or 'new'}-tools-box"
    with st.expander(label, icon=":material/build:", key=box):
        if resolved.profile.kind == KIND_LOCAL:
            st.caption(
                _(
                    "The embedded model cannot call tools; its answers come without them. "
                    "Pick another endpoint above to use tools."
                )
            )
            return
        keys: list = []
        keys = ui.tool_choices(
            svc,
            chosen,
            _panel_key(conversation_id, "tools"),
            on_change=lambda: _change_tools(conversation_id, keys),
        )


def _context_gauge(svc, conversation_id: int | None, resolved: Resolved) -> None:
    """How much of the model's context window the next request will use."""
    meter = svc.context(conversation_id, resolved)
    if conversation_id is None and not meter.used:
        return
    used = (
        number(meter.used)
        if meter.measured
        else _("about {count}").format(count=number(meter.used))
    )
    if not resolved.model:
        st.caption(
            _(
                "Context: {used} tokens. No model is chosen for this chat: pick one at the top."
            ).format(used=used)
        )
        return
    if meter.window is None:
        st.caption(
            plain(
                _(
                    "Context: {used} tokens. Set {model}'s window in Settings › Prices & "
                    "context to see how full it is."
                ).format(used=used, model=resolved.model)
            )
        )
        return
    share = meter.fraction or 0.0
    st.progress(
        share,
        text=plain(
            _("Context: {used} of {window} tokens ({share})").format(
                used=used, window=number(meter.window), share=f"{share:.0%}"
            )
        ),
    )
    if meter.warning:
        local = resolved.profile.kind == KIND_LOCAL
        st.caption(
            _("Nearly full: the embedded model leaves out the oldest messages to fit.")
            if local
            else _(
                "Nearly full: a long message may not fit. Start a new chat from a message "
                "(⑂) to carry on with less."
            )
        )


def _conversation_total(svc, conversation_id: int) -> None:
    """What this chat used so far, and what it cost when prices are set."""
    cost, tokens_in, tokens_out, answers, unreported = svc.usage.conversation_cost(conversation_id)
    if not answers:
        return
    spent = f" · {money(cost)}" if cost else ""
    if unreported == answers:  # unknown, never "0 tokens" (an imported chat, llama.cpp's server)
        counted = ngettext(
            "This chat: {count} answer, tokens not reported",
            "This chat: {count} answers, tokens not reported",
            answers,
        ).format(count=number(answers))
    elif unreported:
        counted = ngettext(
            "This chat: at least {tokens} tokens in {count} answer",
            "This chat: at least {tokens} tokens in {count} answers",
            answers,
        ).format(tokens=number(tokens_in + tokens_out), count=number(answers))
    else:
        counted = ngettext(
            "This chat: {tokens} tokens in {count} answer",
            "This chat: {tokens} tokens in {count} answers",
            answers,
        ).format(tokens=number(tokens_in + tokens_out), count=number(answers))
    st.caption(plain(counted + spent))


class _UsageBox:
    """The sidebar's "This chat" totals and context gauge, in one slot of their own.

    The sidebar of a run that follows an answer is drawn while the answer streams (see
    `ui.Deferred`), so its numbers are those from before the answer; `refresh` draws them
    again once the answer has ended, in the same run.
    """

    def __init__(self, svc, conversation_id: int | None, resolved: Resolved) -> None:
        self._svc, self._conversation_id, self._resolved = svc, conversation_id, resolved
        self._slot = None

    def draw(self) -> None:
        self._slot = st.empty()
        self._fill()

    def refresh(self) -> None:
        """Draw the numbers again (nothing when the sidebar is not drawn yet: it will be)."""
        if self._slot is not None:
            self._fill()

    def _fill(self) -> None:
        with self._slot.container():
            if self._conversation_id is not None:
                _conversation_total(self._svc, self._conversation_id)
            _context_gauge(self._svc, self._conversation_id, self._resolved)


# -- the sidebar's conversation menu: rename, delete -------------------------------------------


def _menu_title_key(conversation_id: int) -> str:
    return f"sidebar-title-{conversation_id}"


def _toggle_menu(conversation_id: int) -> None:
    """⋮ opens a conversation's menu (closing any other); again, or Close, closes it. The title
    box starts from the stored title each time it opens."""
    opened = st.session_state.get(MENU_KEY)
    st.session_state.pop(MENU_KEY, None)
    if opened is not None:
        st.session_state.pop(_menu_title_key(opened), None)
    if opened != conversation_id:
        st.session_state[MENU_KEY] = conversation_id
        st.session_state.pop(TRASHED_KEY, None)


@ui.action
def _rename_from_sidebar(conversation_id: int, old_title: str) -> None:
    """Enter in the menu's title box: the new title, or (empty) a notice and the old one back."""
    key = _menu_title_key(conversation_id)
    try:
        title = ui.services().store.rename(conversation_id, st.session_state.get(key) or "")
    except InvalidInput:
        st.session_state[key] = old_title  # the stored title stays; the notice says why
        raise
    _toggle_menu(conversation_id)
    ui.notify(_("Renamed “{old}” to “{new}”.").format(old=old_title, new=title), "success")


@ui.action
def _trash_from_sidebar(conversation_id: int, title: str, was_open: bool) -> None:
    """To the Trash (as on the Conversations page), with Undo; the open chat gives way to a
    new one."""
    ui.services().store.trash(conversation_id)
    _toggle_menu(conversation_id)
    st.session_state[TRASHED_KEY] = (conversation_id, title, was_open)
    if was_open:
        ui.open_conversation(None)


@ui.action
def _undo_trash(conversation_id: int, was_open: bool) -> None:
    st.session_state.pop(TRASHED_KEY, None)
    ui.services().store.restore(conversation_id)
    if was_open:
        ui.open_conversation(conversation_id)


def _trashed_notice() -> None:
    trashed = st.session_state.get(TRASHED_KEY)
    if not trashed:
        return
    conversation_id, title, was_open = trashed
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.caption(_("Moved “{title}” to the trash.").format(title=plain(title)))
    row.button(
        _("Undo"),
        icon=":material/undo:",
        key="sidebar-undo-trash",
        type="tertiary",
        on_click=_undo_trash,
        args=(conversation_id, was_open),
    )


def _conversation_menu(conversation: Conversation, is_open: bool) -> None:
    """Rename (Enter saves) and Delete, under the conversation's row."""
    with st.container(border=True, key=f"sidebar-menu-{conversation.id}"):
        st.text_input(
            _("Title"),
            value=conversation.title,
            key=_menu_title_key(conversation.id),
            max_chars=TITLE_LIMIT_CHARS,
            on_change=_rename_from_sidebar,
            args=(conversation.id, conversation.title),
            help=_("Type a new title and press Enter."),
        )
        row = st.container(horizontal=True, gap="small")
        row.button(
            _("Delete"),
            icon=":material/delete:",
            key=f"sidebar-delete-{conversation.id}",
            on_click=_trash_from_sidebar,
            args=(conversation.id, conversation.title, is_open),
            help=_("Moves it to the Trash; Undo brings it back."),
        )
        row.button(
            _("Close"),
            key=f"sidebar-close-{conversation.id}",
            type="tertiary",
            on_click=_toggle_menu,
            args=(conversation.id,),
        )


def _conversation_row(conversation: Conversation, is_open: bool) -> None:
    """A conversation in the Recent list: its title opens it, ⋮ opens its menu."""
    row = st.container(horizontal=True, vertical_alignment="center", gap=None)
    row.button(
        plain(conversation.title),
        key=f"conversation-{conversation.id}",
        icon=":material/push_pin:" if conversation.pinned else None,
        width="stretch",
        type="primary" if is_open else "tertiary",
        on_click=ui.open_conversation,
        args=(conversation.id,),
        help=_("Pinned") if conversation.pinned else None,
    )
    ui.icon_button(
        row,
        # Not the title in the name: a search for the chat's own button by its title (a
        # person's find-in-page, a test's role query) would find two.
        _("Rename or delete"),
        ":material/more_vert:",
        key=f"menu-{conversation.id}",
        type="tertiary",
        # No tooltip: 50 of them made a page with a full Recent list load about 1.5 s slower
        # (Chromium on a busy machine); ⋮ is the usual sign for a menu, and the name is there.
        help=None,
        on_click=_toggle_menu,
        args=(conversation.id,),
    )
    if st.session_state.get(MENU_KEY) == conversation.id:
        _conversation_menu(conversation, is_open)


def _sidebar(
    svc,
    conversation_id: int | None,
    chat: ChatSettings,
    resolved: Resolved,
    model_problem: str | None,
    usage: _UsageBox,
) -> None:
    with st.sidebar:
        st.button(
            _("New chat"),
            icon=":material/edit_square:",
            width="stretch",
            on_click=ui.open_conversation,
            args=(None,),
            type="primary" if conversation_id is None else "secondary",
        )
        _sidebar_search(svc)
        _settings_panel(svc, conversation_id, chat, resolved)
        _tools_panel(svc, conversation_id, resolved)
        usage.draw()
        if model_problem:
            st.error(plain(model_problem), icon=":material/error:")  # it names the file
        st.subheader(_("Recent"), divider="gray")
        _trashed_notice()
        conversations = svc.store.list_conversations(limit=ui.SIDEBAR_CONVERSATIONS)
        if not conversations:
            st.caption(_("Your conversations will appear here."))
        for conversation in conversations:  # pinned ones come first
            _conversation_row(conversation, conversation.id == conversation_id)
        st.page_link(ui.CONVERSATIONS_PAGE, label=_("All conversations"), icon=":material/history:")


def _switcher(actions, ids: tuple[int, ...], current: int, earlier: str, later: str) -> None:
    """‹ n / m › between the siblings of a message (its versions or its edits)."""
    if len(ids) < 2:
        return
    index = ids.index(current) if current in ids else len(ids) - 1
    ui.icon_button(
        actions,
        earlier,
        ":material/chevron_left:",
        key=f"prev-{current}",
        type="tertiary",
        disabled=index == 0,
        on_click=_show_branch,
        args=(ids[max(index - 1, 0)],),
    )
    actions.caption(f"{index + 1} / {len(ids)}", width="content")
    ui.icon_button(
        actions,
        later,
        ":material/chevron_right:",
        key=f"next-{current}",
        type="tertiary",
        disabled=index == len(ids) - 1,
        on_click=_show_branch,
        args=(ids[min(index + 1, len(ids) - 1)],),
    )


def _fork_button(actions, message_id: int) -> None:
    ui.icon_button(
        actions,
        # Not "New chat …": a search for the New chat button by its name would find this too.
        _("Start a separate chat from here"),
        ":material/call_split:",
        key=f"fork-{message_id}",
        type="tertiary",
        on_click=_fork,
        args=(message_id,),
    )


def _question(svc, exchange: transcript.Exchange, is_last: bool, draw_later: ui.Deferred) -> None:
    question = exchange.question
    with st.chat_message("user"):
        if st.session_state.get(EDITING_STATE) == question.id:
            # One container: the message drawn again after Save & send replaces it whole,
            # instead of leaving the box's caption greyed under the new answer.
            with st.container():
                _edit_box(question)
            return
        ui.render_parts(question)
        actions = st.container(horizontal=True, vertical_alignment="center", gap="small")
        _switcher(actions, exchange.edits, question.id, _("Earlier edit"), _("Later edit"))
        slot = actions.empty()

        def copy() -> None:
            with slot:
                ui.copy_button(question.content, key=f"copy-{question.id}")

        if exchange.answer is not None and exchange.answer.is_live:
            draw_later.add(copy)  # not in the same pass as the first words: see ui.Deferred
        else:
            copy()
        ui.icon_button(
            actions,
            _("Edit and resend"),
            ":material/edit:",
            key=f"edit-{question.id}",
            type="tertiary",
            on_click=_start_edit,
            args=(question.id,),
        )
        _fork_button(actions, question.id)
        if exchange.answer is None and is_last:
            actions.button(
                _("Answer"),
                key=f"answer-{question.id}",
                icon=":material/send:",
                on_click=_answer_question,
                args=(question.id,),
            )


def _edit_box(question: Message) -> None:
    """The message's text in place; Save & send branches (with the input box's checks)."""
    key = _edit_key(question.id)
    # No max_chars: the browser would cut a long paste without a word. Save & send refuses
    # it with the input box's sentence, and the text stays here.
    st.text_area(
        _("Edit your message"), value=question.content, key=key, label_visibility="collapsed"
    )
    row = st.container(horizontal=True, gap="small")
    row.button(
        _("Save & send"),
        key=f"save-{question.id}",
        type="primary",
        icon=":material/send:",
        on_click=_save_edit,
        args=(question.id,),
    )
    row.button(_("Cancel"), key=f"cancel-{question.id}", on_click=_cancel_edit, args=(question.id,))
    st.caption(_("The original and its answers stay; ‹ › switches between them."))


def _answer(
    svc,
    exchange: transcript.Exchange,
    is_last: bool,
    draw_later: ui.Deferred,
    price: Callable[[Message], AnswerCost],
) -> bool:
    """One answer bubble: its body in one container, its buttons in another. Returns True
    when it was live (followed in this run).

    A live answer draws empty elements where those two go (see `_stage`): the bubble of a
    new version takes the place of the old version's, and Streamlit would otherwise keep the
    old text and buttons on screen, greyed, under the new one until the run (the whole
    answer) ended.
    """
    answer = exchange.answer
    assert answer is not None
    followed = answer.is_live
    with st.chat_message("assistant"):
        if followed:
            # Two empty slots where a finished answer has its body and buttons (they drop
            # those of the version drawn here before), then the live answer after them.
            body_slot, actions_slot, live = st.empty(), st.empty(), st.empty()
            with live.container():
                st.button(
                    _("Stop"),
                    key=f"stop-{answer.id}",
                    icon=":material/stop_circle:",
                    type="tertiary",
                    on_click=_stop,
                    args=(answer.id,),
                )
                waiting = svc.turns.approvals.waiting(answer.id)
                if waiting is None and ui.follow_answer(svc.turns, answer.id, later=draw_later):
                    st.rerun()  # it now waits for an approval: draw the question
                if waiting is not None:
                    ui.render_parts(svc.store.get_message(answer.id), waiting.call_id)
                    _approval(svc, waiting)
                    return True
            answer = svc.store.get_message(answer.id)
            if answer.is_live:  # followed to its end elsewhere but not yet written: look again
                st.rerun()
            # The answer ended: it is drawn finished in this same run. A rerun here would drop
            # the updates Streamlit has not sent yet, and the last words would wait for it.
            live.empty()
            body = body_slot.container()
            actions = actions_slot.container(
                horizontal=True, vertical_alignment="center", gap="small"
            )
        else:
            body = st.container()
            actions = st.container(horizontal=True, vertical_alignment="center", gap="small")
        with body:
            ui.render_answer_body(answer, price(answer))
        _answer_actions(answer, exchange, is_last, actions)
    return followed


def _answer_actions(answer: Message, exchange: transcript.Exchange, is_last: bool, actions) -> None:
    _switcher(actions, exchange.versions, answer.id, _("Earlier version"), _("Later version"))
    if answer.content:
        with actions:
            ui.copy_button(answer.content, key=f"copy-{answer.id}")
    if exchange.question is None:
        pass  # an answer without a question (an imported fragment) cannot be asked again
    elif answer.status in ("error", "interrupted"):
        actions.button(
            _("Retry"),
            key=f"retry-{answer.id}",
            icon=":material/refresh:",
            on_click=_regenerate,
            args=(answer.id,),
        )
    elif is_last:
        if continuable(answer):
            actions.button(
                _("Continue"),
                key=f"continue-{answer.id}",
                icon=":material/double_arrow:",
                on_click=_continue,
                args=(answer.id,),
                help=_("The answer was cut at its length limit: ask the model to go on."),
            )
        actions.button(
            _("Regenerate"),
            key=f"regenerate-{answer.id}",
            icon=":material/autorenew:",
            type="tertiary",
            on_click=_regenerate,
            args=(answer.id,),
        )
    _fork_button(actions, answer.id)


@ui.action
def _decide(answer_id: int, call_id: str, decision: str, always: bool = False) -> None:
    if not ui.services().turns.decide(answer_id, call_id, decision, always):
        ui.notify(_("That call was already decided (maybe in another tab)."))


def _approval(svc, waiting: Approval) -> None:
    """The call the answer waits on, with Approve / Deny; it follows a decision made in
    another tab within a second."""
    with st.container(border=True, key=f"approval-{waiting.answer_id}"):
        st.markdown(
            _("The assistant wants to run **{tool}** with:").format(
                tool=f"{plain(waiting.server)}/{plain(waiting.tool)}"
            )
        )
        st.code(json.dumps(waiting.arguments, ensure_ascii=False, indent=2), language="json")
        row = st.container(horizontal=True, gap="small")
        args = (waiting.answer_id, waiting.call_id)
        row.button(_("Approve"), type="primary", icon=":material/check:", key="approve",
                   on_click=_decide, args=(*args, APPROVE))  # fmt: skip
        row.button(_("Deny"), icon=":material/block:", key="deny",
                   on_click=_decide, args=(*args, DENY))  # fmt: skip
        row.button(_("Always allow this tool in this chat"), type="tertiary", key="always",
                   on_click=_decide, args=(*args, APPROVE, True))  # fmt: skip
        _watch_approval(waiting.answer_id, waiting.call_id)


@st.fragment(run_every=1.0)
def _watch_approval(answer_id: int, call_id: str) -> None:
    """Decided elsewhere (another tab), or the answer ended: redraw the page."""
    svc = ui.services()
    approval = svc.turns.approvals.get(answer_id, call_id)
    if approval is None or approval.decision is not None:
        st.rerun(scope="app")
    if not svc.store.get_message(answer_id).is_live:  # stopped meanwhile
        st.rerun(scope="app")


def _submit() -> None:
    """Chat input callback: create and start the turn, or say why not and keep the text."""
    _send(st.session_state.get(PROMPT_KEY) or "")


def _send(text: str) -> None:
    """The one path a message takes, typed or a starter prompt clicked."""
    svc = ui.services()
    draft = _draft()
    try:
        conversation_id = ui.conversation_from_url(svc)
        _refuse_overflow(svc, conversation_id, text)
        try:
            tools = st.session_state.get(DRAFT_TOOLS_KEY)
            ids = svc.send(conversation_id, text, draft, tools)
        except NotFound:
            ui.notify(_("That conversation was deleted; this is a new chat."))
            conversation_id = None
            ids = svc.send(None, text, draft, st.session_state.get(DRAFT_TOOLS_KEY))
    except _TooLong as exc:  # a box that stays, not a toast: the text waits in the input
        ui.notify(str(exc), "warning")
        _hand_back(text)
        return
    except AppError as exc:
        ui.notify_problem(exc)
        if text.strip():
            _hand_back(text)
        return
    if conversation_id is None:
        st.session_state.pop(DRAFT_TOOLS_KEY, None)
        st.session_state.pop(DRAFT_KEY, None)  # the next new chat starts from the defaults again
    ui.open_conversation(ids.conversation_id)


class _TooLong(InvalidInput):
    """A message over the model's window: it says how to go on, so it stays on screen."""


def _refuse_overflow(svc, conversation_id: int | None, text: str) -> None:
    """A message that would overflow the model's window is refused before it is stored: a
    remote model's against the gauge; the embedded model leaves out old messages by itself, so
    only a message that cannot fit even alone (with the system prompt) is refused."""
    _chat, resolved = _current(conversation_id)
    if resolved.profile.kind == KIND_LOCAL:
        window = svc.embedded_overflow(resolved, text)
        if window is not None:
            raise _TooLong(
                _(
                    "This message is too long for the embedded model's {window}-token context "
                    "window even on its own; shorten it or pick another endpoint at the top "
                    "(your message is still in the box)."
                ).format(window=number(window))
            )
        return
    meter = svc.context(conversation_id, resolved)
    if meter.overflows_with(text):
        raise _TooLong(
            _(
                "This message would make the request about {used} tokens plus the message, "
                "over {model}'s {window}-token context window. Start a new chat from a "
                "message (⑂) or shorten it. Your message is still in the box."
            ).format(used=number(meter.used), model=resolved.model, window=number(meter.window))
        )


def _hand_back(text: str) -> None:
    """Put refused text back into the chat input: nothing typed is lost.

    The browser shows a value pushed into the chat input only when it differs from the one
    pushed before (it clears its box on Enter either way), so the same refused text sent twice
    would vanish. Every other hand-back adds or removes one trailing space, which sending
    trims away.
    """
    if st.session_state.get(HANDED_BACK_KEY) == text:
        text = text[:-1] if text.endswith(" ") else text + " "
    st.session_state[HANDED_BACK_KEY] = text
    st.session_state[PROMPT_KEY] = text


def _open_jump_branch(svc, message_id: int | None) -> None:
    """`?m=` on another branch (a search hit): put that branch on screen, once per jump."""
    if message_id is None or st.session_state.get(JUMPED_STATE) == message_id:
        return
    st.session_state[JUMPED_STATE] = message_id
    try:
        if not svc.store.on_active_path(message_id):
            svc.store.show_branch(message_id)
    except NotFound:
        return


def _fork_note(svc, conversation_id: int) -> None:
    """A forked chat says where it came from, with a way back."""
    source_message = svc.store.get_conversation(conversation_id).forked_from
    if source_message is None:
        return
    try:
        source = svc.store.get_message(source_message)
        title = svc.store.get_conversation(source.conversation_id).title
    except NotFound:
        return
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.caption(_("Started from"), width="content")
    row.button(
        plain(title),
        key="forked-from",
        icon=":material/call_split:",
        type="tertiary",
        on_click=ui.open_conversation,
        args=(source.conversation_id, source.id),
        help=_("Open the chat this one was copied from"),
    )


def _stage(view: tuple[int | None, int]):
    """The main area's one container (`view`: the open chat and how many exchanges it shows).

    Streamlit keeps a container's old children on screen, greyed, until a run has drawn past
    them, and a run that follows an answer lasts as long as the answer. A run that draws less
    than the last one (the first answer of a new chat under the starters, the exchanges after
    an edited message) therefore draws into a fresh container; otherwise the container is
    reused, so what did not change is not drawn anew.

    Fresh means in the other of two slots: the browser reuses a container that takes the
    place of one of its kind, children and all (and an `st.empty()` drawn over it first is
    dropped before it is sent, for the container that replaces it), but an empty element
    that takes a container's place drops it.
    """
    last = st.session_state.get(STAGE_STATE)
    flip = last is None or last[0] != view[0] or last[1] > view[1]
    second = (last is not None and last[2]) != flip  # which slot: the same one, or the other
    st.session_state[STAGE_STATE] = (*view, second)
    first_slot, second_slot = st.empty(), st.empty()
    return second_slot.container() if second else first_slot.container()


def _conversation(svc, conversation_id: int, draw_later: ui.Deferred) -> bool:
    """Draw the open chat; True when an answer was followed live in this run."""
    svc.turns.recover(conversation_id=conversation_id)  # an answer whose process died: at once
    svc.turns.start_pending(conversation_id)
    # Read before the messages: a change made elsewhere while this run draws is seen by the
    # watcher (at worst one more run).
    mark = svc.store.conversation_mark(conversation_id)
    target_message = ui.message_from_url()
    _open_jump_branch(svc, target_message)
    shown = st.session_state.get(WINDOW_STATE, {}).get(conversation_id, transcript.EXCHANGES_SHOWN)
    view = transcript.window(svc.store, conversation_id, shown, must_show=target_message)
    exchanges = view.exchanges
    target_index = transcript.locate(exchanges, target_message) if target_message else None
    price = svc.usage.coster()
    followed = False
    with _stage((conversation_id, len(exchanges))):
        _fork_note(svc, conversation_id)
        if view.earlier > 0:
            st.button(
                _("Show earlier messages ({count} more)").format(count=number(view.earlier)),
                icon=":material/expand_less:",
                type="tertiary",
                on_click=_show_more,
                args=(conversation_id, len(exchanges) + transcript.EARLIER_STEP),
            )
        for index, exchange in enumerate(exchanges):
            is_target = index == target_index
            is_last = index == len(exchanges) - 1
            box = st.container(border=True, key=ui.jump_key(target_message)) if is_target else None
            with box or contextlib.nullcontext():
                if exchange.question is not None:  # None: an imported chat starts with an answer
                    _question(svc, exchange, is_last, draw_later)
                if exchange.answer is not None:
                    followed = _answer(svc, exchange, is_last, draw_later, price) or followed
            if is_target:
                ui.scroll_into_view(ui.jump_key(target_message))
    _watch_conversation(conversation_id, mark)
    return followed


@st.fragment(run_every=LIVE_POLL_S)
def _watch_conversation(conversation_id: int, seen: tuple[Any, ...] | None) -> None:
    """A message or answer added elsewhere (another tab, the CLI, another server), an answer
    that ended there, another branch shown: draw the page again. Nothing drawn, nothing sent
    to the browser while nothing changed.

    A poll looks at the database file's stamp first and reads the conversation's mark only
    when something was written since it last did (and every `RECHECK_S`, for a file system
    whose times are coarse): an idle app keeps no connection open (the file can be copied
    whole or unmounted)."""
    if not ui.fragment_rerun():
        return  # drawn with the page, which has just read everything: the first tick looks
    store = ui.services().store
    stamp = store.db.change_stamp()  # before the mark: a write after it is seen next time
    last = st.session_state.get(WATCH_STATE)
    now = time.monotonic()
    if last is None or last[0] != stamp or now - last[1] > RECHECK_S:
        st.session_state[WATCH_STATE] = (stamp, now)
        if store.conversation_mark(conversation_id) != seen:
            st.rerun(scope="app")
    ui.light_run()


def _new_chat(resolved: Resolved) -> None:
    """A new chat's first screen: what answers and four prompts to start from."""
    st.title(_("What can I help with?"))
    if resolved.profile.kind == KIND_LOCAL:
        st.info(plain(ui.local_model_note(resolved.model)), icon=":material/memory:")
    elif not resolved.model:
        st.caption(_("Pick a model at the top to start."))
    else:
        st.caption(
            plain(
                _("Answers come from {model} at {endpoint}.").format(
                    model=resolved.model, endpoint=endpoint_label(resolved.profile)
                )
            )
        )
    _starters(embedded=resolved.profile.kind == KIND_LOCAL)


def _starters(embedded: bool) -> None:
    """Four prompts that send on click, for a first message in a demo."""
    grid = st.container(horizontal=True, gap="small")
    for index, starter in enumerate(STARTERS):
        prompt = starter.text(embedded)
        grid.button(
            _(starter.label),
            key=f"starter-{index}",
            help=prompt,
            icon=":material/lightbulb:",
            on_click=_send,
            args=(prompt,),
        )


def chat_page() -> None:
    # First, and on every run: a layout set later in a run (or only by another page) makes the
    # page jump between widths.
    st.set_page_config(layout="centered")
    # The input comes before anything that reads the database, so that it (and the text in
    # it) stays when the rest of the page cannot be drawn. "disable": no second message while
    # an answer streams; Stop is the button in the bubble.
    st.chat_input(
        _("Message the assistant"), key=PROMPT_KEY, on_submit=_submit, submit_mode="disable"
    )
    ui.show_notices()
    ui.copy_support()
    svc = ui.services()
    conversation_id = ui.conversation_from_url(svc)
    chat, resolved = _current(conversation_id)
    model_problem = ui.ensure_model_loaded(svc, resolved.profile)
    # Drawn after the first words of a live answer: see ui.Deferred.
    usage = _UsageBox(svc, conversation_id, resolved)
    # The endpoint and model row first, then the sidebar: what the sidebar shows was drawn
    # with it, and the row above it.
    top = st.container()
    sidebar = ui.Deferred(functools.partial(_model_row, top, svc, conversation_id, resolved))
    sidebar.add(
        functools.partial(_sidebar, svc, conversation_id, chat, resolved, model_problem, usage)
    )
    if conversation_id is None:
        with _stage((None, 0)):
            _new_chat(resolved)
    elif _conversation(svc, conversation_id, draw_later=sidebar):
        usage.refresh()  # an answer ended in this run: its tokens count now
    sidebar()  # when no live answer drew it already
    titler = svc.turns.titler
    if conversation_id is not None and titler is not None and titler.pending(conversation_id):
        _watch_title(conversation_id)


@st.fragment(run_every=0.5)
def _watch_title(conversation_id: int) -> None:
    """The chat's automatic title is being written: show it in the sidebar once it is."""
    titler = ui.services().turns.titler
    if titler is None or not titler.pending(conversation_id):
        st.rerun(scope="app")


chat_page()
