"""Conversations page: search, a filterable table, a transcript, trash, export and import."""

from __future__ import annotations

import functools
import time

import pandas as pd
import streamlit as st

from assistant import browse, export, i18n, importing, transcript, ui
from assistant.errors import AppError, InvalidInput, NotFound
from assistant.i18n import _, ngettext, number
from assistant.safe_markdown import plain
from assistant.store import TITLE_LIMIT_CHARS, Store

SEARCH_KEY = "history_search"
TABLE_KEY = "history_table"
TRASH_TABLE_KEY = "trash_table"
UNDO_KEY = "history_undo"  # (id, title) of the conversation just moved to the trash
SELECTED_KEY = "history_selected"  # the conversation id the panel below the table shows
OPEN_KEY = "history_open"  # (conversation id, message id) to open on the chat page
IMPORT_KEY = "history_import"  # the uploader's key, with the generation after it
IMPORT_GENERATION_KEY = "history_import_generation"
IMPORT_RESULT_KEY = "history_import_result"  # (outcome, sentence) of the last import
CONFIRM_KEY = "history_confirm"  # ("trash", id) or ("empty",) while a confirmation is shown
SEARCH_LIMIT = 50


def _when_column(label: str) -> dict:
    return st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm")


# -- callbacks (they run before the page; the page reads what they leave) ---------------------


def _open(conversation_id: int, message_id: int | None = None) -> None:
    st.session_state[OPEN_KEY] = (conversation_id, message_id)


@ui.action
def _rename(conversation_id: int, key: str, old_title: str) -> None:
    try:
        title = ui.services().store.rename(conversation_id, st.session_state[key])
    except InvalidInput:
        st.session_state[key] = old_title  # the stored title stays; the notice says why
        raise
    ui.notify(_("Renamed “{old}” to “{new}”.").format(old=old_title, new=title), "success")


@ui.action
def _pin(conversation_id: int, pinned: bool, title: str) -> None:
    ui.services().store.set_pinned(conversation_id, pinned)
    sentence = _("Pinned “{title}”.") if pinned else _("Unpinned “{title}”.")
    ui.notify(sentence.format(title=title), "success")


@ui.action
def _restore(conversation_ids: list[int]) -> None:
    """Restore the chosen conversations; one that cannot be (deleted for good or restored in
    another tab meanwhile) is named in a warning, and the others are still restored."""
    store = ui.services().store
    titles: list[str] = []
    problems: list[str] = []
    for conversation_id in conversation_ids:
        try:
            store.restore(conversation_id)
            titles.append(store.get_conversation(conversation_id).title)
        except AppError as exc:
            problems.append(str(exc))
    st.session_state.pop(UNDO_KEY, None)
    if not titles:
        ui.notify(" ".join(problems), "error")
        return
    restored = (
        _("Restored “{title}”.").format(title=titles[0])
        if len(titles) == 1
        else ngettext(
            "Restored {count} conversation.", "Restored {count} conversations.", len(titles)
        ).format(count=len(titles))
    )
    if problems:
        ui.notify(
            _("{restored} Not restored: {problems}").format(
                restored=restored, problems=" ".join(problems)
            ),
            "warning",
        )
    else:
        ui.notify(restored, "success")


def _export_bytes(
    store: Store,
    fmt: str,
    conversation_id: int | None,
    all_branches: bool = False,
    language: str = i18n.ENGLISH,
) -> bytes:
    """Built when the download button is clicked (in another thread, which has no session:
    the page's language comes along), not on every run."""
    with i18n.using(language):
        return export.render(store, fmt, conversation_id, all_branches).encode("utf-8")


# -- confirmations (inline, so one mis-click never deletes anything) -------------------------


def _ask(what: tuple) -> None:
    st.session_state[CONFIRM_KEY] = what


def _cancel() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


@ui.action
def _trash(conversation_id: int, title: str) -> None:
    _cancel()
    ui.services().store.trash(conversation_id)
    st.session_state[UNDO_KEY] = (conversation_id, title)
    st.session_state.pop(SELECTED_KEY, None)


@ui.action
def _empty_trash() -> None:
    _cancel()
    removed = ui.services().store.empty_trash()
    st.session_state.pop(UNDO_KEY, None)
    ui.notify(
        ngettext(
            "Deleted {count} conversation for good.",
            "Deleted {count} conversations for good.",
            removed,
        ).format(count=number(removed)),
        "success",
    )


def _confirmation(question: str, confirm_label: str, on_confirm, args: tuple) -> None:
    with st.container(border=True):
        st.markdown(question)
        row = st.container(horizontal=True)
        row.button(
            confirm_label, type="primary", icon=":material/delete:", on_click=on_confirm, args=args
        )
        row.button(_("Cancel"), on_click=_cancel)


# -- sections ---------------------------------------------------------------------------------


def _notices() -> None:
    ui.show_notices()
    undo = st.session_state.get(UNDO_KEY)
    if undo:
        conversation_id, title = undo
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption(_("Moved “{title}” to the trash.").format(title=plain(title)))
        row.button(
            _("Undo"),
            icon=":material/undo:",
            key="undo-trash",
            on_click=_restore,
            args=([conversation_id],),
        )


def _search(svc) -> None:
    if SEARCH_KEY not in st.session_state:  # arriving from the sidebar's "All results"
        st.session_state[SEARCH_KEY] = st.query_params.get(ui.QUERY_SEARCH, "")
    query = st.text_input(
        _("Search titles and messages"),
        key=SEARCH_KEY,
        placeholder=_('Words, "an exact phrase", or 中文'),
        icon=":material/search:",
    )
    if not query.strip():
        return
    started = time.perf_counter()
    hits = svc.store.search(query, limit=SEARCH_LIMIT)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if not hits:
        st.info(  # the query can come from a link (?q=…): it is text
            plain(_("No matches for “{query}”.").format(query=query.strip())),
            icon=":material/search_off:",
        )
        return
    st.caption(
        f"{browse.search_summary(hits, *svc.store.count_matches(query))} · {elapsed_ms:.0f} ms"
    )
    with st.container(height=420 if len(hits) > 6 else "content"):
        for hit in hits:
            ui.render_search_hit(hit, "hit", on_open=_open)


def _filters(frame: pd.DataFrame) -> browse.Filters:
    row = st.container(horizontal=True, vertical_alignment="bottom")
    days = row.date_input(_("Last activity between"), value=(), format="YYYY-MM-DD", width=230)
    models = row.multiselect(_("Model"), browse.model_choices(frame), placeholder=_("Any model"))
    toggles = row.container(width="content")
    attention = toggles.toggle(
        _("Needs attention"),
        help=_("The shown answer of some question failed or was interrupted."),
    )
    pinned = toggles.toggle(_("Pinned only"))
    since = days[0] if len(days) >= 1 else None
    until = days[1] if len(days) == 2 else since
    return browse.Filters(since, until, tuple(models), attention, pinned)


def _table_columns() -> dict:
    width = browse.COLUMN_WIDTHS
    return {
        "Title": st.column_config.TextColumn(_("Title"), width=width["Title"]),
        # The day is enough here: the panel below and "Last activity" give the time.
        "Created": st.column_config.DatetimeColumn(
            _("Created"), format="YYYY-MM-DD", width=width["Created"]
        ),
        "Last activity": st.column_config.DatetimeColumn(
            _("Last activity"), format="YYYY-MM-DD HH:mm", width=width["Last activity"]
        ),
        "Models": st.column_config.TextColumn(_("Models"), width=width["Models"]),
        "Messages": st.column_config.NumberColumn(
            _("Messages"),
            width=width["Messages"],
            help=_("Messages on the branch last on screen."),
        ),
        "Branches": st.column_config.NumberColumn(
            _("Branches"),
            width=width["Branches"],
            help=_("Edits and regenerated answers make branches; 1 is none."),
        ),
        "Tokens": st.column_config.NumberColumn(_("Tokens"), format="%d", width=width["Tokens"]),
        "Pinned": st.column_config.CheckboxColumn(_("Pinned"), width=width["Pinned"]),
        "Needs attention": st.column_config.CheckboxColumn(
            _("Attention"),
            width=width["Needs attention"],
            help=_("The shown answer of some question failed."),
        ),
    }


def _table(svc) -> None:
    frame = ui.conversations_table(svc)
    if frame.empty:
        st.info(
            _(
                "No conversations yet. Start one in **Chat**, or import a file in the "
                "**Import & export** tab."
            ),
            icon=":material/forum:",
        )
        return
    shown = browse.apply_filters(frame, _filters(frame))
    st.caption(
        ngettext(
            "{shown} of {count} conversation · select a row to read it",
            "{shown} of {count} conversations · select a row to read it",
            len(frame),
        ).format(shown=number(len(shown)), count=number(len(frame)))
    )
    ids = [int(i) for i in shown.index]
    selected = st.session_state.get(SELECTED_KEY)
    # The selection is kept as a conversation id, not a row. When the rows move (a pin, a
    # rename, a filter, new activity) the table gets a new key and starts with that
    # conversation ticked where it is now.
    event = st.dataframe(
        shown,
        key=browse.table_key(ids),
        on_select="rerun",
        selection_default={"selection": {"rows": [ids.index(selected)]}}
        if selected in ids
        else None,
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_config=_table_columns(),
    )
    rows = [row for row in event.selection.rows if row < len(ids)]
    selected = st.session_state[SELECTED_KEY] = ids[rows[0]] if rows else None
    if selected is not None:
        _details(svc, selected)


def _details(svc, conversation_id: int) -> None:
    try:
        conversation = svc.store.get_conversation(conversation_id)
    except NotFound:
        return
    with st.container(border=True):
        key = f"title-{conversation.id}"
        st.text_input(
            _("Title"),
            value=conversation.title,
            key=key,
            max_chars=TITLE_LIMIT_CHARS,
            on_change=_rename,
            args=(conversation.id, key, conversation.title),
            help=_("Type a new title and press Enter."),
        )
        actions = st.container(horizontal=True, gap="small")
        if actions.button(_("Open in chat"), type="primary", icon=":material/chat:"):
            _go_to_chat(conversation.id)
        actions.button(
            _("Unpin") if conversation.pinned else _("Pin"),
            icon=":material/push_pin:",
            on_click=_pin,
            args=(conversation.id, not conversation.pinned, conversation.title),
        )
        every_branch = False
        if svc.store.leaves(conversation.id)[1:]:
            every_branch = st.checkbox(
                _("Markdown and HTML with every branch"),
                key=f"all-branches-{conversation.id}",
                help=_("Otherwise they show the branch last on screen; JSON always has all."),
            )
        for fmt, label in (("md", "Markdown"), ("json", "JSON"), ("html", "HTML")):
            actions.download_button(
                label,
                data=functools.partial(
                    _export_bytes, svc.store, fmt, conversation.id, every_branch, i18n.current()
                ),
                file_name=export.export_filename([conversation], fmt),
                mime=export.MIME_TYPES[fmt],
                icon=":material/download:",
                on_click="ignore",
                key=f"download-{fmt}-{conversation.id}",
            )
        actions.button(
            _("Delete"), icon=":material/delete:", on_click=_ask, args=(("trash", conversation.id),)
        )
        if st.session_state.get(CONFIRM_KEY) == ("trash", conversation.id):
            _confirmation(
                _(
                    "Move **{title}** to the trash? It leaves the sidebar and the search "
                    "results; you can restore it from the **Trash** tab."
                ).format(title=plain(conversation.title)),
                _("Move to trash"),
                _trash,
                (conversation.id, conversation.title),
            )
        _transcript(svc, conversation.id)


def _transcript(svc, conversation_id: int) -> None:
    svc.turns.recover(conversation_id=conversation_id)  # an answer whose process died: at once
    view = transcript.window(svc.store, conversation_id, transcript.EXCHANGES_SHOWN)
    if view.earlier:
        st.caption(
            _("The last {shown} of {count} exchanges.").format(
                shown=len(view.exchanges), count=number(view.total)
            )
        )
    for exchange in view.exchanges:
        if exchange.question is not None:  # None: an imported chat that starts with an answer
            with st.chat_message("user"):
                if len(exchange.edits) > 1:
                    st.caption(transcript.question_label(exchange.edit_index, len(exchange.edits)))
                ui.render_parts(exchange.question)
        answer = exchange.answer
        if answer is None:
            continue
        with st.chat_message("assistant"):
            if len(exchange.versions) > 1:
                st.caption(transcript.answer_label(exchange.version_index, len(exchange.versions)))
            if answer.is_live:
                st.caption(_("Being written now; open it in the chat to follow it."))
            ui.render_answer_body(answer)


def _trash_tab(svc) -> None:
    trash = svc.store.list_trash()
    if not trash:
        st.caption(_("The trash is empty."))
        return
    frame = pd.DataFrame(
        {
            "id": [c.id for c in trash],
            "Title": [c.title for c in trash],
            "Deleted": [c.deleted_at for c in trash],
            "Last activity": [c.updated_at for c in trash],
        }
    ).set_index("id")
    frame["Deleted"] = browse.local_times(frame["Deleted"])
    frame["Last activity"] = browse.local_times(frame["Last activity"])
    # A new key whenever the rows change: a restored row's selection would otherwise stay on
    # its position and tick the conversation that moved up into it.
    event = st.dataframe(
        frame,
        key=browse.table_key([int(i) for i in frame.index], TRASH_TABLE_KEY),
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        width="stretch",
        column_config={
            "Title": st.column_config.TextColumn(_("Title")),
            "Deleted": _when_column(_("Deleted")),
            "Last activity": _when_column(_("Last activity")),
        },
    )
    chosen = [int(frame.index[row]) for row in event.selection.rows if row < len(frame)]
    row = st.container(horizontal=True)
    row.button(
        _("Restore selected ({count})").format(count=len(chosen))
        if chosen
        else _("Restore selected"),
        icon=":material/restore_from_trash:",
        disabled=not chosen,
        on_click=_restore,
        args=(chosen,),
    )
    row.button(
        _("Empty trash"), icon=":material/delete_forever:", on_click=_ask, args=(("empty",),)
    )
    if st.session_state.get(CONFIRM_KEY) == ("empty",):
        _confirmation(
            ngettext(
                "Delete {count} conversation **for good**? This cannot be undone.",
                "Delete {count} conversations **for good**? This cannot be undone.",
                len(trash),
            ).format(count=number(len(trash))),
            _("Delete forever"),
            _empty_trash,
            (),
        )


def _import_export(svc) -> None:
    st.subheader(_("Export everything"), divider="gray")
    has_conversations = not ui.conversations_table(svc).empty
    row = st.container(horizontal=True)
    for fmt, label in (("jsonl", _("All as JSON Lines")), ("json", _("All as JSON"))):
        row.download_button(
            label,
            data=functools.partial(_export_bytes, svc.store, fmt, None, False, i18n.current()),
            file_name=export.all_conversations_filename(fmt),
            mime=export.MIME_TYPES[fmt],
            icon=":material/download:",
            on_click="ignore",
            disabled=not has_conversations,
        )
    st.caption(_("Conversations in the trash are not included. Nothing secret is ever stored."))

    st.subheader(_("Import"), divider="gray")
    st.caption(
        _(
            "This app's JSON or JSON Lines export; `conversations.json` from a ChatGPT or "
            "Claude.ai data export (or one conversation of it); an Open WebUI chat export; a "
            "LibreChat conversation export; a ChatbotUI export. Branches come along. "
            "Conversations already here are skipped, so importing twice is safe; an entry "
            "that cannot be read is left out and named."
        )
    )
    # A new key after each import: Streamlit lets go of the file the widget held.
    generation = st.session_state.get(IMPORT_GENERATION_KEY, 0)
    upload = st.file_uploader(
        _("File to import"),
        type=["json", "jsonl"],
        key=f"{IMPORT_KEY}-{generation}",
        max_upload_size=importing.IMPORT_LIMIT_MB,
        help=_(
            "Up to {limit} MB here; a larger file imports with the command "
            "python -m assistant import FILE."
        ).format(limit=importing.IMPORT_LIMIT_MB),
    )
    said = st.session_state.pop(IMPORT_RESULT_KEY, None)
    if said is not None:
        outcome, sentence = said
        if outcome == "refused":
            st.error(plain(sentence), icon=":material/error:")
        elif outcome == "partly":  # some entries of the file were left out, each named
            st.warning(plain(sentence), icon=":material/warning:")
        else:
            st.success(sentence, icon=":material/check_circle:")
    if upload is not None and st.button(_("Import"), type="primary", icon=":material/upload:"):
        _import(svc, upload)
        st.session_state[IMPORT_GENERATION_KEY] = generation + 1
        st.rerun()  # draws the new, empty uploader and what the import did


def _import(svc, upload) -> None:
    """Import the uploaded file, holding it once, and let it go afterwards."""
    name = upload.name
    try:
        importing.refuse_if_too_large(upload.size)
        result = importing.import_file(svc.store, ui.take_upload(upload))
    except AppError as exc:  # a file it cannot read, or a database it cannot write
        sentence = _("{file}: {problem} Nothing was imported.").format(file=name, problem=exc)
        st.session_state[IMPORT_RESULT_KEY] = ("refused", sentence)
    else:
        outcome = "partly" if result.left_out else "imported"
        st.session_state[IMPORT_RESULT_KEY] = (outcome, importing.describe(result))
    finally:
        ui.forget_upload(upload)
        ui.give_memory_back()


def _go_to_chat(conversation_id: int, message_id: int | None = None) -> None:
    params = {ui.QUERY_CONVERSATION: str(conversation_id)}
    if message_id is not None:
        params[ui.QUERY_MESSAGE] = str(message_id)
    st.switch_page(ui.CHAT_PAGE, query_params=params)


def conversations_page() -> None:
    # First, and on every run: a layout set later in a run (or only by another page) makes the
    # page jump between widths.
    st.set_page_config(layout="wide")
    svc = ui.services()
    target = st.session_state.pop(OPEN_KEY, None)  # a search result was clicked
    if target is not None:
        _go_to_chat(*target)
    st.title(_("Conversations"))
    _notices()
    _search(svc)
    browse_tab, trash_tab, files_tab = st.tabs([_("All"), _("Trash"), _("Import & export")])
    with browse_tab:
        _table(svc)
    with trash_tab:
        _trash_tab(svc)
    with files_tab:
        _import_export(svc)


conversations_page()
