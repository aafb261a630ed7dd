"""The one module in `assistant/` that imports Streamlit: cached services and page helpers.

Pages stay thin: they call these helpers and the library; nothing here holds product logic.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import datetime as dt
import functools
import gc
import html
import io
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import PIL.Image
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from assistant import i18n, textsearch, transcript
from assistant.app_settings import AUTOMATIC, LANGUAGE_KEY, THEME_KEY
from assistant.chat_settings import PARAM_SPECS
from assistant.config import SETTING_NAMES, load_settings
from assistant.door import Door, Visit, owner_only_reason
from assistant.errors import AppError, ConfigError, InvalidInput, ProviderError, StorageError
from assistant.i18n import N_, _, ngettext, number
from assistant.mcp_hub import ToolInfo
from assistant.parts import ATTACHMENT, REASONING, TEXT, TOOL_CALL, TOOL_RESULT, Part
from assistant.profiles import KIND_LOCAL, Profile
from assistant.safe_markdown import plain, without_images
from assistant.services import Services, configure_logging
from assistant.store import FINAL_STATUSES, Message, SearchHit, Store
from assistant.toolbox import ASK, count_on, policy_for, with_choice
from assistant.turns import ELSEWHERE, QUEUED, WAITING, WAITING_APPROVAL, Progress, TurnManager
from assistant.usage import AnswerCost, money

if TYPE_CHECKING:  # pandas is imported by the pages that show tables, not by the chat
    import pandas as pd
    from streamlit.runtime.uploaded_file_manager import UploadedFile

log = logging.getLogger(__name__)

APP_ICON = str(Path(__file__).resolve().parent.parent / "static" / "icon.png")
CHAT_PAGE = "app_pages/chat.py"
CONVERSATIONS_PAGE = "app_pages/conversations.py"
USAGE_PAGE = "app_pages/usage.py"
SETTINGS_PAGE = "app_pages/settings.py"
QUERY_CONVERSATION = "c"
QUERY_MESSAGE = "m"  # jump to this message in the open conversation
QUERY_SEARCH = "q"  # the conversations page's search box
SIDEBAR_CONVERSATIONS = 50
MODELS_CACHE_SECONDS = 600  # an endpoint's model list is asked for again after this long
TOOLS_POLL_S = 1.0  # how often a page looks whether the tool servers it waits for are ready


def local_model_note(model: str | None) -> str:
    """The first screen's honest label for the embedded model."""
    return _(
        "Answers come from {model}, a small offline demo model on this computer: fast, "
        "often wrong, and at home in English only. Pick another endpoint in the sidebar, or "
        "set OPENAI_API_KEY or OPENAI_BASE_URL, for a capable model."
    ).format(model=model or "SmolLM2-135M")


def read_secrets() -> tuple[dict[str, Any], str | None]:
    """`st.secrets` as a dict; a missing file is normal, a broken one is reported (in Markdown
    in which the parser's words, which quote the file, are text), not raised."""
    try:
        return st.secrets.to_dict(), None
    except FileNotFoundError:
        return {}, None
    except Exception as exc:  # a malformed secrets.toml: keep going on the environment
        return {}, _(
            "`.streamlit/secrets.toml` could not be read and was ignored: {problem}"
        ).format(problem=plain(str(exc)))


def _settings_inputs(secrets: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The raw values settings are made from: the cache key, so a change builds anew."""
    merged = {name: str(secrets[name]) for name in SETTING_NAMES if name in secrets}
    merged.update({name: os.environ[name] for name in SETTING_NAMES if os.environ.get(name)})
    return tuple(sorted(merged.items()))


@st.cache_resource(show_spinner=False, max_entries=4, on_release=Services.retire)
def _services(inputs: tuple[tuple[str, str], ...]) -> Services:
    settings = load_settings(environ=dict(inputs), secrets={})
    configure_logging(settings.log_level)
    services = Services.build(settings)
    i18n.preload()  # before the freeze below
    # Streamlit runs gc.collect(2) after every page run. With the SDKs and the app loaded, that
    # walk over ~140,000 objects took 55-70 ms holding the GIL: the next run (the first word
    # after Enter) and every other tab's stream waited for it. What is alive now lives as long
    # as the process, so it leaves the collector's sight; a run's own garbage is still
    # collected, in about 5 ms.
    gc.freeze()
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
        st.error(plain(str(exc)), icon=":material/error:")  # it quotes the setting's value
        st.caption(_("Fix the setting and reload the page; nothing was written."))
        st.stop()
        raise  # st.stop() raises; this line is for type checkers


# -- the door ---------------------------------------------------------------------------------

OWNER_STATE = "door_owner"  # this browser session is the host's owner (door.Door.is_owner)


def _client_visit() -> Visit | None:
    """This session's websocket handshake; None when no browser is behind the run (AppTest, a
    bare script run), which is the owner's own code."""
    from streamlit import config, runtime

    ctx = get_script_run_ctx(suppress_warning=True)
    # AppTest stands a mock in for the server, and says so in this option (patched on
    # `config`, not on `st.get_option`).
    if ctx is None or not runtime.exists() or config.get_option("global.appTest"):
        return None
    client = runtime.get_instance().get_client(ctx.session_id)
    context = getattr(client, "client_context", None)
    if context is None:  # a session without a handshake: nothing to trust
        return Visit(host=None, origin=None, peer=None)
    return Visit.from_handshake(context.headers, context.remote_ip)


@st.cache_resource(show_spinner=False, max_entries=4)
def _door(inputs: tuple[tuple[str, str], ...], server_address: str | None) -> Door:
    try:
        allowed = load_settings(environ=dict(inputs), secrets={}).allowed_hosts
    except ConfigError:  # the page says what is wrong; meanwhile only this machine's names
        allowed = ()
    return Door(allowed, server_address)


def guard_door() -> None:
    """First in every page run, before anything is read or written: a browser that reached the
    app under a foreign name or from another site's page gets one sentence and nothing else;
    whether this session is the host's owner is noted for the pages (`is_host_owner`)."""
    visit = _client_visit()
    if visit is None:
        st.session_state.setdefault(OWNER_STATE, True)
        return
    secrets, _problem = read_secrets()
    door = _door(_settings_inputs(secrets), st.get_option("server.address"))
    if door.refusal(visit) is None:
        st.session_state[OWNER_STATE] = door.is_owner(visit)
        return
    log.warning("refused a browser session: host=%r origin=%r", visit.host, visit.origin)
    i18n.pin(browser_language())  # the sentence in the browser's language (no database read)
    refusal = door.refusal(visit) or ""
    st.set_page_config(page_title=_("Assistant"), page_icon=APP_ICON)
    st.error(plain(refusal), icon=":material/block:")
    st.stop()


def is_host_owner() -> bool:
    """This browser may change what runs programs or names secrets (endpoints, key sources,
    tool servers): a browser on this machine that came straight in."""
    return bool(st.session_state.get(OWNER_STATE, False))


def owner_only(callback: Callable[..., None]) -> Callable[..., None]:
    """A widget callback that changes the host's programs or secrets: refused (a notice) for
    anyone but the host's owner, even if a forged message reaches it."""

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> None:
        if not is_host_owner():
            log.warning("refused %s from a visitor", callback.__name__)
            notify(owner_only_reason(), "error")
            return
        callback(*args, **kwargs)

    return guarded


def owner_only_notice() -> None:
    """Where the host's controls would be, for a visitor: why they are read-only."""
    st.info(owner_only_reason(), icon=":material/lock:")


# -- language and theme -----------------------------------------------------------------------

LANGUAGE_STATE = "ui_language"  # this browser session's language, for every run and fragment


def _session_language() -> str | None:
    """The resolver `i18n` asks: the language of the session whose script runs this thread."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return None  # a worker thread: it carries its own (`i18n.using`)
    try:
        return st.session_state.get(LANGUAGE_STATE)
    except Exception:  # no session state outside a running script
        return None


def browser_language() -> str:
    return i18n.normalize(st.context.locale) or i18n.ENGLISH


def set_session_language(language: str) -> None:
    """This session's language from now on, this run included.

    Also pinned for the thread that runs this script: `_()` is called a few hundred times a
    run, and asking the session state each time cost about 2 ms a run. A fragment's run,
    which does not start at app.py, asks the session state (`_session_language`)."""
    st.session_state[LANGUAGE_STATE] = language
    i18n.pin(language)


def use_session_language() -> None:
    """First in every page run: this session's language (the one picked in Settings, else the
    browser's), and the theme picked in Settings. A database that cannot be read leaves the
    browser's language; the page then says what is wrong, in it."""
    i18n.set_resolver(_session_language)
    # Before the services are built: a new database seeds its presets in this language.
    set_session_language(st.session_state.get(LANGUAGE_STATE) or browser_language())
    try:
        secrets, _problem = read_secrets()
        preferences = _services(_settings_inputs(secrets)).preferences.read()
    except AppError:
        return
    choice = preferences[LANGUAGE_KEY]
    set_session_language(browser_language() if choice == AUTOMATIC else choice)
    apply_theme(preferences[THEME_KEY])


# Streamlit keeps a browser's theme (Light, Dark, System) in localStorage, one key per page
# path; its settings menu writes it. A choice made in Settings is written there once (per
# change: the version) and switched to in place, through the theme switcher Streamlit's own
# menu uses (found in the page's React tree): at the click already (`instant_theme_picker`),
# and again when the page is drawn with the new choice (for the other pages and tabs).
# Reloading the page instead left it blank until a new session had drawn it: 1.2 s quiet,
# 5.6 s on a busy machine. Where the switcher cannot be found (another Streamlit version),
# the page still reloads.
_THEME_SWITCH = r"""
window.assistantSwitchTheme = window.assistantSwitchTheme || function (choice) {
 const base = window.location.pathname.replace(/\/(conversations|usage|settings)?\/?$/, "");
 for (const page of ["", "/", "/conversations", "/usage", "/settings"]) {
  const path = (base + page) || "/";
  localStorage.setItem("stActiveTheme-" + path + "-v2", JSON.stringify(choice));
 }
 const names = {
  System: ["Custom Theme Auto", "Use system setting"],
  Light: ["Custom Theme Light", "Light"],
  Dark: ["Custom Theme Dark", "Dark"],
 }[choice] || [];
 try {
  const root = document.getElementById("root");
  const key = root && Object.keys(root).find((k) => k.startsWith("__reactContainer$"));
  const stack = key ? [root[key]] : [];
  for (let visited = 0; stack.length && visited < 5000; visited++) {
   const fiber = stack.pop();
   const value = fiber.memoizedProps && fiber.memoizedProps.value;
   if (value && typeof value.setTheme === "function" && Array.isArray(value.availableThemes)) {
    const themes = value.availableThemes;
    const theme = names.map((name) => themes.find((t) => t.name === name)).find(Boolean);
    if (!theme) break;
    if (value.activeTheme && value.activeTheme.name !== theme.name) value.setTheme(theme);
    return true;
   }
   if (fiber.sibling) stack.push(fiber.sibling);
   if (fiber.child) stack.push(fiber.child);
  }
 } catch (error) {}
 return false;
};
"""
_THEME_SCRIPT = (
    "<script>"
    + _THEME_SWITCH
    + r"""(function () {
 const choice = %(choice)s, version = %(version)s;
 const marker = "assistant-theme-version";
 if (localStorage.getItem(marker) === version) return;
 localStorage.setItem(marker, version);
 if (!window.assistantSwitchTheme(choice)) window.location.reload();
})();</script>"""
)
_THEME_PICKER_SCRIPT = (
    "<script>"
    + _THEME_SWITCH
    + r"""(function () {
 if (window.assistantThemePicker) return;
 window.assistantThemePicker = true;
 document.addEventListener("click", (event) => {
  const picked = event.target.closest && event.target.closest("[class*='st-key-%(key)s'] button");
  if (!picked) return;
  const buttons = [...picked.closest("[class*='st-key-%(key)s']").querySelectorAll("button")];
  const choice = %(choices)s[buttons.indexOf(picked)];
  if (choice) window.assistantSwitchTheme(choice);
 }, true);
})();</script>"""
)
THEME_NAMES = {"system": "System", "light": "Light", "dark": "Dark"}


def instant_theme_picker(key: str, choices: list[str]) -> None:
    """Switch the theme at the click on the picker with this widget key (its buttons are
    `choices`, in order): the page is drawn with the choice a moment later, and does not
    wait for that."""
    st.html(
        _THEME_PICKER_SCRIPT
        % {"key": key, "choices": json.dumps([THEME_NAMES[choice] for choice in choices])},
        unsafe_allow_javascript=True,
    )


def apply_theme(theme: dict[str, Any]) -> None:
    """Make this browser show the theme picked in Settings (nothing until one is picked)."""
    version = int(theme.get("version") or 0)
    if version == 0:
        return  # never picked: Streamlit follows the system setting
    st.html(
        _THEME_SCRIPT
        % {
            "choice": json.dumps(THEME_NAMES[theme["name"]]),
            "version": json.dumps(str(version)),
        },
        unsafe_allow_javascript=True,
    )


# -- polls --------------------------------------------------------------------------------------

_AFTER_RUN_GC = "runner.postScriptGC"


def fragment_rerun() -> bool:
    """This run is a fragment's own (a poll), not the page's. A poll drawn inline in the page's
    run must not rerun the page from there: what the run already showed once (a notice popped
    from the session) would be replaced before anyone saw it."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def light_run() -> None:
    """This run (a poll that found nothing new) skips Streamlit's forced full garbage
    collection at its end: it allocated next to nothing, and that collection was 20 of the
    25 ms of CPU that an open chat's poll cost each second. Automatic collection still runs;
    the next page run turns the forced one back on (`collect_after_runs`)."""
    from streamlit import config

    config.set_option(_AFTER_RUN_GC, False)


@functools.cache
def _collects_after_runs() -> bool:
    """The option as configured, read before any poll changed it."""
    from streamlit import config

    return bool(config.get_option(_AFTER_RUN_GC))


def collect_after_runs() -> None:
    """First in every page run: Streamlit's collection after the run, as configured."""
    from streamlit import config

    wanted = _collects_after_runs()
    if config.get_option(_AFTER_RUN_GC) != wanted:
        config.set_option(_AFTER_RUN_GC, wanted)


# -- notices and actions ----------------------------------------------------------------------

NOTICES_KEY = "notices"


NOTICE_ICONS = {
    "info": ":material/info:",
    "success": ":material/check:",
    "warning": ":material/warning:",
    "error": ":material/error:",
}


def notify(text: str, kind: str = "info") -> None:
    """A sentence for the next render of the page: "info" and "success" toast; "warning" (an
    action that partly failed, naming what) and "error" stay in a box. The same sentence
    queued twice (a double click) is shown once."""
    notices = st.session_state.setdefault(NOTICES_KEY, [])
    if (kind, text) not in notices:
        notices.append((kind, text))


def show_notices() -> None:
    """Show (once) what actions of the previous run had to say."""
    for kind, text in st.session_state.pop(NOTICES_KEY, []):
        icon = NOTICE_ICONS.get(kind, NOTICE_ICONS["info"])
        if kind == "error":
            st.error(plain(text), icon=icon)
        elif kind == "warning":
            st.warning(plain(text), icon=icon)
        else:
            st.toast(plain(text), icon=icon)


def notify_problem(exc: AppError) -> None:
    """A refusal the user fixes by typing (a toast), or a failure that needs their eye (a box)."""
    notify(str(exc), "info" if isinstance(exc, InvalidInput) else "error")


def action(callback: Callable[..., None]) -> Callable[..., None]:
    """A widget callback whose failure the user can understand becomes a notice, not a crash.

    Streamlit runs callbacks before the page script, outside any try of the page, so each one
    that touches storage, an endpoint or the user's input goes through this.
    """

    @functools.wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            callback(*args, **kwargs)
        except AppError as exc:
            log.info("%s refused: %s", callback.__name__, exc)
            notify_problem(exc)

    return guarded


def show_problem(exc: AppError) -> None:
    """A page run that met a storage (or other understood) failure: one sentence, no traceback."""
    log.warning("page run failed: %s", exc)
    st.error(plain(str(exc)), icon=":material/error:")
    st.caption(_("Nothing you typed was lost. Reload the page when the problem is fixed."))


# -- uploads and memory -------------------------------------------------------------------


def take_upload(upload: UploadedFile) -> bytes:
    """An uploaded file's bytes, let go everywhere else: the widget's copy is closed and
    Streamlit's store of uploads forgets it (it would otherwise keep it for the whole session).
    Pass the result on without keeping it (`importing.import_file(store, take_upload(f))`), so
    that it is freed as soon as it is read."""
    data = upload.getvalue()  # the very bytes Streamlit holds, not a copy
    forget_upload(upload)
    return data


def forget_upload(upload: UploadedFile) -> None:
    upload.close()  # a BytesIO lets go of its buffer when closed
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is not None and ctx.uploaded_file_mgr is not None:
        ctx.uploaded_file_mgr.remove_file(ctx.session_id, upload.file_id)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):  # musl, macOS, Windows: nothing to trim
        return None
    return libc


def give_memory_back() -> None:
    """After a large import: collect its garbage and return the freed heap to the system.

    glibc keeps memory that Python freed in its arenas (one per thread that ran a script),
    and malloc_trim(0) hands the free pages of every arena back. With the upload let go too,
    a 195 MB import leaves the server 47 MB larger instead of 346 MB."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@st.cache_data(show_spinner=False, max_entries=4)
def _conversations_table(_store: Store, db_path: str, version: int) -> pd.DataFrame:
    from assistant import browse

    # `_store` is not part of the cache key; the path and version are.
    return browse.summaries_frame(_store.summaries())


def conversations_table(svc: Services) -> pd.DataFrame:
    """The conversations table as a frame, rebuilt only after the history changed."""
    return _conversations_table(svc.store, str(svc.store.db.path), svc.store.history_version())


def ensure_model_loaded(svc: Services, profile: Profile) -> str | None:
    """Load the embedded model once per process, with a visible spinner; returns a problem."""
    if profile.kind != KIND_LOCAL:
        return None
    model = svc.endpoints.local_model(profile)
    if model.loaded:
        return None
    try:
        with st.spinner(_("Loading the embedded model (once per start)…")):
            model.load()
    except ProviderError as exc:
        return exc.user_message
    return None


@st.cache_data(ttl=MODELS_CACHE_SECONDS, show_spinner=False, max_entries=64)
def _models(
    _svc: Services, profile_id: int, updated_at: str, language: str
) -> tuple[list[str], str | None]:
    # A failure is cached too, so an endpoint that is down does not stall every rerun; the
    # ⟳ button beside the picker asks again. The cache is shared by every browser session
    # and the reason is a sentence: it is kept per language (an English session's reason
    # was shown on Chinese pages).
    try:
        return _svc.endpoints.list_models(_svc.profiles.get(profile_id), probe=True), None
    except ProviderError as exc:
        return [], exc.user_message
    except LookupError:
        return [], _("This endpoint no longer exists.")


def model_choices(svc: Services, profile: Profile) -> tuple[list[str], str | None]:
    """The models an endpoint lists (cached for a few minutes), or [] and why not."""
    models, problem = _models(svc, profile.id, profile.updated_at, i18n.current())
    return list(models), problem


def refresh_models() -> None:
    _models.clear()


def model_picker(
    svc: Services,
    profile: Profile,
    current: str | None,
    *,
    label: str,
    key: str,
    on_change: Callable[..., None],
    args: tuple[Any, ...],
    help: str,
    **widget: Any,
) -> None:
    """A select of the models an endpoint lists that also takes a typed name, and ⟳
    (`widget`: the select's look, such as `label_visibility` and `width`)."""
    models, problem = model_choices(svc, profile)
    if current and current not in models:
        models = [current, *models]
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    row.selectbox(
        label,
        models,
        index=models.index(current) if current in models else None,
        accept_new_options=True,
        placeholder=_("Pick or type a model name"),
        key=key,
        on_change=on_change,
        args=args,
        help=help,
        **widget,
    )
    icon_button(
        row,
        _("Ask the endpoint for its models again"),
        ":material/refresh:",
        key=f"refresh-{key}",
        on_click=refresh_models,
    )
    if problem:
        st.caption(plain(_("Could not list models: {problem}").format(problem=problem)))


def param_inputs(
    values: dict[str, Any],
    key: Callable[[str], str],
    on_change: Callable[..., None] | None = None,
    args: Callable[[str], tuple[Any, ...]] | None = None,
) -> None:
    """A slider or number box per generation parameter, bounded by its allowed range."""
    for spec in PARAM_SPECS:
        extra: dict[str, Any] = {"key": key(spec.name)}
        if on_change is not None:
            extra.update(on_change=on_change, args=args(spec.name) if args else ())
        if spec.kind is int:
            # No bounds in the widget: a browser-side bound refuses 999999 without a word;
            # the settings' own check answers with the allowed range.
            st.number_input(
                _(spec.label),
                value=int(values[spec.name]),
                step=64,
                help=_("From {low} to {high}.").format(
                    low=number(spec.low), high=number(spec.high)
                ),
                **extra,
            )
        else:
            st.slider(
                _(spec.label),
                min_value=float(spec.low),
                max_value=float(spec.high),
                value=float(values[spec.name]),
                step=0.05,
                **extra,
            )


# -- icon buttons ---------------------------------------------------------------------------

# Buttons that show only an icon. With an empty label Chromium named them after the icon
# ("edit icon", "call_split icon"), which is what a screen reader said. Each gets its words as
# its label, visually hidden by this style (a class from the key, the one handle Streamlit
# gives), and as its tooltip.
ICON_BUTTON_KEYS = ("prev-", "next-", "fork-", "edit-", "refresh-", "menu-")
_ICON_BUTTON_STYLE = (
    "<style>"
    + ", ".join(
        f"[class*='st-key-{prefix}'] button [data-testid='stMarkdownContainer']"
        for prefix in ICON_BUTTON_KEYS
    )
    + " { position: absolute !important; width: 1px; height: 1px; overflow: hidden;"
    " clip-path: inset(50%); white-space: nowrap; margin: 0; padding: 0; }</style>"
)


def page_style() -> None:
    """Once per page run, before anything is drawn: the style the icon buttons rely on."""
    st.html(_ICON_BUTTON_STYLE)


def icon_button(container: Any, label: str, icon: str, key: str, **kwargs: Any) -> bool:
    """A button drawn as its icon alone, named `label` for screen readers and, unless `help`
    says otherwise (None: no tooltip, which is cheaper), its tooltip. `key` starts with one of
    ICON_BUTTON_KEYS (the style finds the button by it)."""
    if not key.startswith(ICON_BUTTON_KEYS):
        raise ValueError(f"an icon button's key starts with one of {ICON_BUTTON_KEYS}: {key}")
    kwargs.setdefault("help", label)
    return container.button(label, icon=icon, key=key, **kwargs)


# -- the open conversation in the URL -------------------------------------------------------


def conversation_from_url(svc: Services) -> int | None:
    raw = st.query_params.get(QUERY_CONVERSATION)
    if raw is None:
        return None
    try:
        conversation_id = int(raw)
        in_trash = svc.store.get_conversation(conversation_id).in_trash
    except (ValueError, LookupError):
        st.toast(_("That conversation does not exist; starting a new chat."))
        open_conversation(None)
        return None
    if in_trash:
        st.toast(_("That conversation is in the trash; restore it from Conversations › Trash."))
        open_conversation(None)
        return None
    return conversation_id


def message_from_url() -> int | None:
    raw = st.query_params.get(QUERY_MESSAGE)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def open_conversation(conversation_id: int | None, message_id: int | None = None) -> None:
    """Callback: switch the open conversation (None = a new chat), maybe at one message."""
    st.query_params.pop(QUERY_MESSAGE, None)
    if conversation_id is None:
        st.query_params.pop(QUERY_CONVERSATION, None)
        return
    st.query_params[QUERY_CONVERSATION] = str(conversation_id)
    if message_id is not None:
        st.query_params[QUERY_MESSAGE] = str(message_id)


def jump_key(message_id: int | None) -> str:
    return f"jump-{message_id}"


def scroll_into_view(key: str) -> None:
    """Scroll the page to the container with this key (a fixed script; no user text in it).

    The chat page keeps itself scrolled to the bottom while it renders, so the script scrolls
    again a few times during the first 4.5 seconds (a long chat on a busy machine renders for
    a while), until the element has stayed in view.
    """
    selector = json.dumps(f".st-key-{key}")
    st.html(
        "<script>(function () {"
        f" const find = () => document.querySelector({selector});"
        " [0, 150, 400, 800, 1300, 2000, 3000, 4500].forEach((delay) => setTimeout(() => {"
        "  const el = find();"
        "  if (!el) return;"
        "  const box = el.getBoundingClientRect();"
        "  if (box.top < 0 || box.top > window.innerHeight * 0.6) {"
        "   el.scrollIntoView({block: 'center'});"
        "  }"
        " }, delay));"
        "})();</script>",
        unsafe_allow_javascript=True,
    )


# -- search results ---------------------------------------------------------------------------

SNIPPET_STYLE = (
    "font-size: 0.85rem; line-height: 1.4; opacity: 0.8; margin: -0.5rem 0 0.5rem 0.25rem;"
    " overflow-wrap: anywhere;"
)


# The whole result (title, snippet, where and when) is the button: its ::after covers the box.
HIT_STYLE = (
    "<style>"
    "[class*='st-key-hitbox-'] { position: relative; border-radius: 0.5rem; }"
    "[class*='st-key-hitbox-']:hover { background: rgba(128, 128, 128, 0.08); }"
    "[class*='st-key-hitbox-'] * { position: static !important; }"
    "[class*='st-key-hitbox-'] button::after"
    " { content: ''; position: absolute !important; inset: 0; z-index: 1; }"
    "</style>"
)


def _day(iso: str) -> str:
    """The day of an ISO time, the language's way; what cannot be read shows as it is."""
    try:
        return i18n.date(dt.date.fromisoformat(iso[:10]))
    except ValueError:
        return iso[:10]


def render_search_hit(hit: SearchHit, key_prefix: str, on_open: Any) -> None:
    """A result: the conversation's title, where and the snippet, all one button that calls
    `on_open(c, m)`."""
    where = (
        _("title")
        if hit.message_id is None
        else (_("you") if hit.role == "user" else _("assistant"))
    )
    key = f"{key_prefix}-{hit.conversation_id}-{hit.message_id}"
    with st.container(key=f"hitbox-{key}", gap=None):
        st.button(
            plain(hit.conversation_title),
            key=key,
            type="tertiary",
            icon=":material/title:" if hit.message_id is None else ":material/chat_bubble:",
            on_click=on_open,
            args=(hit.conversation_id, hit.message_id),
        )
        st.html(
            f'<div style="{SNIPPET_STYLE}">{textsearch.snippet_html(hit.snippet)} '
            f"<span style='opacity:.7'>· {where} · {html.escape(_day(hit.created_at))}</span>"
            f"</div>{HIT_STYLE}"
        )


# -- answers --------------------------------------------------------------------------------


def render_answer_caption(message: Message, cost: AnswerCost | None = None) -> None:
    """model · endpoint · … · tokens/s · cost, with what the answer was made with (and its
    tokens and cost) in its ⓘ tooltip.

    A tooltip, not a popover per answer: 50 popovers made a long chat open 0.4 s slower.
    """
    text = transcript.caption(message)
    if cost is not None and cost.amount is not None and not cost.free:
        text += f" · {money(cost.amount)}"
    st.caption(plain(text), help=provenance_help(message, cost))


def provenance_help(message: Message, cost: AnswerCost | None = None) -> str:
    """The settings an answer was generated with, its system prompt's text included, as
    Markdown in which everything that came from the user is plain text."""
    lines = [f"- **{label}:** {plain(value)}" for label, value in transcript.provenance(message)]
    if message.prompt_tokens is not None or message.completion_tokens is not None:
        lines.append(
            _("- **Tokens:** {tokens_in} in, {tokens_out} out").format(
                tokens_in=number(message.prompt_tokens or 0),
                tokens_out=number(message.completion_tokens or 0),
            )
        )
    if cost is not None:
        spent = _("free (local)") if cost.free else money(cost.amount)
        lines.append(_("- **Cost:** {cost}").format(cost=plain(spent)))
    if message.system_prompt:  # quoted as plain text, so that it wraps in the tooltip
        lines.append("")
        lines += [f"> {plain(line)}" for line in message.system_prompt.splitlines()]
    return "\n".join(lines)


PART_ICONS = {
    REASONING: ":material/psychology:",
    ATTACHMENT: ":material/attach_file:",
    TOOL_CALL: ":material/build:",
    TOOL_RESULT: ":material/output:",
}


def reasoning_label(seconds: float | None, thinking: bool = False) -> str:
    if thinking:
        return _("Thinking…")
    if seconds is None:
        return _("Thoughts")
    return _("Thought for {seconds} s").format(seconds=f"{seconds:.0f}")


def render_parts(message: Message, waiting_call: str | None = None) -> None:
    """A message's parts in order: text as Markdown (images as links), the rest collapsed,
    each under a plain-text label (a file name is user data, never Markdown)."""
    parts = message.parts
    results = {p.data.get("id"): p for p in parts if p.kind == TOOL_RESULT}
    for part in parts:
        if part.kind == TEXT:
            if part.text:
                st.markdown(without_images(part.text))
            continue
        if part.kind == TOOL_CALL:
            state = "waiting" if part.data.get("id") == waiting_call else None
            if state is None and not message.is_live:
                state = "cut"  # an answer stored before Stop marked its running call
            render_tool_step(part, results.get(part.data.get("id")), state)
            continue
        if part.kind == TOOL_RESULT and part.data.get("id") is not None:
            continue  # drawn with its call
        if part.kind == REASONING:
            seconds = part.data.get("seconds")
            label = reasoning_label(seconds if isinstance(seconds, int | float) else None)
        else:
            label = plain(transcript.part_heading(part))
        with st.expander(label, icon=PART_ICONS.get(part.kind)):
            if part.kind == REASONING:
                st.markdown(without_images(part.text))
            elif part.kind in (TOOL_CALL, TOOL_RESULT):
                st.code(part.text, language="json" if part.kind == TOOL_CALL else None)
            else:
                st.text(part.text or _("(the export did not include this file's text)"))


def render_answer_body(answer: Message, cost: AnswerCost | None = None) -> None:
    """A finished answer: its parts, how it ended when not complete, and its caption."""
    render_parts(answer)
    if answer.status == "error":
        st.error(
            plain(i18n.retranslate(answer.error) if answer.error else _("The answer failed.")),
            icon=":material/error:",
        )
    elif answer.status == "interrupted":
        st.warning(
            plain(i18n.retranslate(answer.error or _("This answer was interrupted."))),
            icon=":material/warning:",
        )
    elif answer.status == "stopped" and not answer.content:
        st.caption(_("Stopped before the first word."))
    if answer.status in FINAL_STATUSES:
        render_answer_caption(answer, cost)


KEPT_IN_MEMORY = N_(
    "The answer is kept in memory and saved as soon as the database can be written again."
)


def progress_sentence(progress: Progress, has_text: bool) -> str | None:
    """What the page says about a live answer, or None while its words speak for themselves."""
    if progress.phase == QUEUED:
        seconds = f"{progress.seconds:.0f}"
        if progress.ahead == 0:
            return _("Queued: next in line… {seconds} s").format(seconds=seconds)
        return ngettext(
            "Queued: {count} answer ahead of it… {seconds} s",
            "Queued: {count} answers ahead of it… {seconds} s",
            progress.ahead,
        ).format(count=progress.ahead, seconds=seconds)
    if has_text:
        return None
    if progress.phase == WAITING:
        return _("Waiting for the first word… {seconds} s").format(
            seconds=f"{progress.seconds:.0f}"
        )
    if progress.phase == ELSEWHERE:
        return _("Being written by another window or server of this app…")
    return None


class Deferred:
    """Part of a page drawn once, after the first words of a live answer had a head start.

    Streamlit's browser side draws what arrives together in one pass. Sent with the first
    words, the sidebar's changes (a new chat moves every conversation in the Recent list)
    made that pass slow: the first word of a new chat showed 135 ms after Enter instead of
    83 ms. The old sidebar stays on screen meanwhile, so nothing is seen missing.
    """

    HEAD_START_S = 0.1

    def __init__(self, draw: Callable[[], None]) -> None:
        self._draws: list[Callable[[], None]] | None = [draw]
        self._not_before: float | None = None

    def add(self, draw: Callable[[], None]) -> None:
        """Draw this too when the time comes (at once if it has come)."""
        if self._draws is None:
            draw()
        else:
            self._draws.append(draw)

    def first_words_drawn(self) -> None:
        if self._not_before is None:
            self._not_before = time.monotonic() + self.HEAD_START_S

    @property
    def due(self) -> bool:
        return self._not_before is not None and time.monotonic() >= self._not_before

    def __call__(self) -> None:
        """Draw it now (after what is left of the head start), unless it was drawn already."""
        draws, self._draws = self._draws, None
        if draws is None:
            return
        if self._not_before is not None:
            time.sleep(max(0.0, self._not_before - time.monotonic()))
        for draw in draws:
            draw()


def follow_answer(turns: TurnManager, answer_id: int, later: Deferred | None = None) -> bool:
    """Stream a live answer into the current container, with its state in words above it.

    Any interruption of the script (a click, another conversation, a closed tab, the app
    menu's Stop) only stops *following*: the answer keeps being written and is there when the
    user comes back. Cancelling is the Stop button's job (`TurnManager.stop`), because
    Streamlit 1.67 does not reliably tell a user's stop from a rerun. The text is re-rendered
    whole at each (coalesced) update, as `st.write_stream` does, so that an image split over
    two chunks is still turned into a link.

    `later` (what the page can draw later) is drawn at the first update once the first words,
    or the first words about a wait, had their head start. Returns True when the answer stopped
    to wait for the user's approval of a tool call (the page then draws the question).
    """
    status = st.empty()
    thinking = st.empty()
    steps_box = st.empty()
    body = st.empty()
    text = ""
    shown: tuple[str, str] | None = None
    thought_shown: tuple[int, bool] = (0, False)
    steps_shown: tuple[tuple[str, str], ...] = ()
    for chunk in turns.follow(answer_id):
        steps = turns.steps(answer_id)
        if any(step.state == WAITING_APPROVAL for step in steps):
            status.empty()
            return True
        signature = tuple((step.call_id, step.state) for step in steps)
        if signature != steps_shown:
            steps_shown = signature
            with steps_box.container():
                for step in steps:
                    call, *result = step.parts()
                    render_tool_step(call, result[0] if result else None, step.state)
        reasoning, thought_s = turns.reasoning(answer_id)
        if (len(reasoning), thought_s is not None) != thought_shown:
            thought_shown = (len(reasoning), thought_s is not None)
            label = reasoning_label(thought_s, thinking=thought_s is None and not text)
            thinking.expander(label, icon=PART_ICONS[REASONING]).markdown(without_images(reasoning))
        if chunk:
            text += chunk
            body.markdown(without_images(text))
        progress = turns.progress(answer_id)
        sentence = progress_sentence(progress, bool(text))
        wanted = (
            ("problem", f"{progress.problem} {_(KEPT_IN_MEMORY)}")
            if progress.problem
            else ("caption", sentence)
            if sentence
            else None
        )
        # An idle tick updates the element too: that is where Streamlit notices a click.
        if wanted != shown or not chunk:
            if wanted is None:
                status.empty()
            elif wanted[0] == "problem":
                status.warning(plain(wanted[1]), icon=":material/database:")
            else:
                status.caption(wanted[1])
            shown = wanted
        if later is not None:
            if later.due:
                later()
            elif text or shown is not None:
                later.first_words_drawn()
    status.empty()
    return False


# -- copy ---------------------------------------------------------------------------------------

# One small button per message that copies in the browser: no page run, nothing sent to the
# server. It is plain HTML (not a component: 20 components on a page cost ~4 ms a run as
# widgets) with the text in an attribute; one click handler on the page serves them all.
# Without the clipboard API (an http:// address on a LAN) it falls back to a selection copy.
# Streamlit's own icon font (served by the app, as its `:material/…:` icons are); raw SVG would
# be stripped from st.html.
_COPY_ICON = '<span class="assistant-copy-icon" aria-hidden="true">content_copy</span>'
_COPY_STYLE = (
    ".assistant-copy { display: inline-flex; align-items: center; gap: .3rem; border: none;"
    " background: transparent; color: inherit; opacity: .7; cursor: pointer;"
    " padding: .25rem .35rem; border-radius: .4rem; font: inherit; font-size: .8rem; }"
    " .assistant-copy:hover, .assistant-copy:focus-visible, .assistant-copy[data-state]"
    " { opacity: 1; }"
    " .assistant-copy-icon { font-family: 'Material Symbols Rounded'; font-size: 1.1rem;"
    " line-height: 1; font-weight: normal; font-style: normal; letter-spacing: normal;"
    " text-transform: none; white-space: nowrap; -webkit-font-feature-settings: 'liga';"
    " font-feature-settings: 'liga'; user-select: none; }"
)
_COPY_SCRIPT = """(function () {
 if (window.assistantCopy) return;
 window.assistantCopy = true;
 const fallback = (text) => {
  const area = document.createElement("textarea");
  area.value = text;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
 };
 document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("button.assistant-copy");
  if (!button) return;
  const text = button.dataset.text;
  const label = button.querySelector(".assistant-copy-label");
  const copying = navigator.clipboard && window.isSecureContext
   ? navigator.clipboard.writeText(text).catch(() => fallback(text))
   : fallback(text);
  copying.then(
   () => { label.textContent = button.dataset.done; button.dataset.state = "done"; },
   () => { label.textContent = button.dataset.failed; button.dataset.state = "failed"; },
  ).finally(() => setTimeout(() => {
   label.textContent = ""; delete button.dataset.state;
  }, 1500));
 });
})();"""


def copy_support() -> None:
    """The copy buttons' style and click handler, once per page run (before any button): a
    style in every button made the browser restyle the page once per message."""
    st.html(
        f"<style>{_COPY_STYLE}</style><script>{_COPY_SCRIPT}</script>",
        unsafe_allow_javascript=True,
    )


def copy_button(text: str, key: str) -> None:
    """Copy `text` (a message's whole Markdown) to the clipboard, in the browser (the page
    called `copy_support()` first)."""
    label, done, failed = (
        html.escape(t, quote=True) for t in (_("Copy"), _("Copied"), _("Not copied"))
    )
    st.html(  # the label span shows "Copied" for a moment (the script)
        f'<button type="button" class="assistant-copy" id="{html.escape(key, quote=True)}"'
        f' title="{label}" aria-label="{label}" data-text="{html.escape(text, quote=True)}"'
        f' data-done="{done}" data-failed="{failed}">'
        f'{_COPY_ICON}<span class="assistant-copy-label"></span></button>',
        width="content",
    )


# -- tools ----------------------------------------------------------------------------------

POLICY_LABELS = {"ask": N_("Ask every time"), "allow": N_("Always allow")}


def tool_choice_keys(prefix: str, key: str) -> tuple[str, str]:
    """The widget keys of one tool's toggle and policy."""
    safe = "".join(c if c.isalnum() else "-" for c in key)
    return f"{prefix}-use-{safe}", f"{prefix}-policy-{safe}"


def read_tool_choices(prefix: str, keys: list[ToolInfo], chosen: dict[str, str]) -> dict[str, str]:
    """The tools ticked in the widgets (`keys`: the ToolInfo drawn), each with its policy
    (what is not drawn stays)."""
    result = dict(chosen)
    for info in keys:
        use, policy = tool_choice_keys(prefix, info.key)
        if use not in st.session_state:
            continue
        wanted = None
        if st.session_state[use]:
            wanted = st.session_state.get(policy) or policy_for(chosen, info) or ASK
        result = with_choice(result, info, wanted)
    return result


def tools_summary(svc: Services, chosen: dict[str, str]) -> str:
    """E.g. "3 of 13 tools on", for the listed tools of the enabled servers (never waits; servers
    still starting are said so)."""
    count = count_on(chosen, svc.turns.toolbox.available(wait=False) if svc.turns.toolbox else [])
    text = ngettext("{on} of {total} tool on", "{on} of {total} tools on", count.total).format(
        on=count.on, total=count.total
    )
    if count.starting:
        starting = ngettext(
            "{count} server starting…", "{count} servers starting…", count.starting
        ).format(count=count.starting)
        text = starting if not count.total else f"{text} · {starting}"
    return text


def tool_choices(
    svc: Services, chosen: dict[str, str], prefix: str, on_change: Callable[..., None]
) -> list[ToolInfo]:
    """A toggle and an approval policy per tool of the enabled servers; returns the tools
    drawn. A server that cannot be used says why in one line."""
    keys: list[ToolInfo] = []
    # Never waits: a server still starting is said so, and the page is drawn again when it is.
    available = svc.turns.toolbox.available(wait=False) if svc.turns.toolbox else []
    if not available:
        st.caption(_("No tool servers yet: add one in Settings › Tools."))
        return keys
    starting = [server for server, listed in available if listed is None]
    for server, listed in available:
        st.markdown(f"**{plain(server.name)}**")
        if listed is None:
            st.caption(_("Starting… its tools appear here when it is ready."))
            continue
        if isinstance(listed, str):
            st.caption(plain(listed))
            continue
        for info in listed:
            use, policy = tool_choice_keys(prefix, info.key)
            if info.needs_tasks:
                st.toggle(plain(info.name), value=False, key=use, disabled=True,
                          help=_("This tool runs only as an MCP task, which this app does "
                                 "not support; it is not offered to the model."))  # fmt: skip
                continue
            keys.append(info)
            current = policy_for(chosen, info)
            row = st.container(horizontal=True, vertical_alignment="center", gap="small")
            row.toggle(
                plain(info.name),
                value=current is not None,
                key=use,
                help=plain(info.description[:300]) if info.description else None,
                on_change=on_change,
            )
            if current is not None:
                row.selectbox(
                    _("Approval"),
                    list(POLICY_LABELS),
                    index=list(POLICY_LABELS).index(current),
                    format_func={k: _(v) for k, v in POLICY_LABELS.items()}.__getitem__,
                    key=policy,
                    label_visibility="collapsed",
                    on_change=on_change,
                    width=170,
                )
    if starting:
        watch_tool_servers(starting)
    return keys


@st.fragment(run_every=TOOLS_POLL_S)
def watch_tool_servers(servers: list[Any]) -> None:
    """Servers were still starting when the page was drawn: draw it again as soon as one of
    them has answered (its tools, or why it cannot be used), so a quick server is not held up
    by a slow one. The fragment itself draws nothing."""
    if not fragment_rerun():
        return  # drawn with the page: its next tick looks
    toolbox = services().turns.toolbox
    if toolbox is None or any(toolbox.listing(s, wait=False) is not None for s in servers):
        st.rerun(scope="app")


def tool_step_label(call: Part, result: Part | None, state: str | None = None) -> str:
    """server/tool · time · how it ended, as plain text (names come from a server)."""
    name = f"{call.data.get('server') or '?'}/{call.data.get('name') or '?'}"
    if result is None:
        doing = {
            "waiting": _("waiting for your approval"),
            "cut": _("ended without a result"),  # the answer stopped or was interrupted
        }.get(state or "", _("running…"))
        return plain(f"{name} · {doing}")
    seconds = result.data.get("seconds")
    timing = f" · {seconds:.2f} s" if isinstance(seconds, int | float) else ""
    ending = ""
    if result.data.get("cut"):
        ending = " · " + _("stopped")
    elif result.data.get("is_error"):
        ending = " · " + _("failed")
    return plain(f"{name}{timing}{ending}")


def render_tool_step(call: Part, result: Part | None, state: str | None = None) -> None:
    """One call: a collapsed step with its arguments and result, both shown as text."""
    failed = bool(result and result.data.get("is_error"))
    icon = ":material/error:" if failed else ":material/build:"
    with st.expander(tool_step_label(call, result, state), icon=icon):
        st.caption(_("Arguments"))
        st.code(_pretty_json(call.text), language="json")
        if result is not None:
            st.caption(_("Result") if not failed else _("Result (the tool reported an error)"))
            st.code(result.text or _("(empty)"), language=None, wrap_lines=True)
            for item in result.data.get("media") or []:
                render_tool_media(item)


def render_tool_media(item: dict[str, Any]) -> None:
    """An image or sound a tool gave back, drawn from its stored bytes (the browser fetches
    nothing but the app); one too large to keep, or unreadable, is said in a sentence."""
    mime = str(item.get("mime_type") or "")
    size = number(int(item.get("bytes") or 0))
    data = item.get("data")
    if not isinstance(data, str):
        st.caption(
            _("{mime} of {size} bytes, too large to keep, not shown").format(
                mime=plain(mime), size=size
            )
        )
        return
    try:
        raw = base64.b64decode(data, validate=True)
    except (ValueError, binascii.Error):
        st.caption(_("{mime} that could not be read").format(mime=plain(mime)))
        return
    if item.get("type") == "audio":
        st.audio(raw, format=mime)
    elif mime == "image/svg+xml":  # scripts and outside references: not drawn
        st.caption(_("An SVG image ({size} bytes), not shown").format(size=size))
    elif (image := drawable(raw)) is not None:
        st.image(image, caption=plain(mime))
    else:
        st.caption(_("{mime} that could not be read").format(mime=plain(mime)))


def drawable(raw: bytes) -> bytes | None:
    """Image bytes Pillow (and so `st.image`) can read, or None. A PNG whose optional chunk
    has a bad checksum (server-everything's own tiny image has one in its colour profile) is
    drawn without that chunk, as browsers do; before, `st.image` raised and the page broke."""
    for candidate in (raw, _png_without_bad_chunks(raw)):
        if candidate is None:
            continue
        try:
            with PIL.Image.open(io.BytesIO(candidate)) as image:
                image.load()  # every pixel: `st.image` may decode it to resize it
            return candidate
        except Exception:  # any decoder error: try the next form, else not drawn
            continue
    return None


def _png_without_bad_chunks(raw: bytes) -> bytes | None:
    """The PNG without ancillary chunks whose CRC is wrong; None for anything else."""
    signature = b"\x89PNG\r\n\x1a\n"
    if not raw.startswith(signature):
        return None
    kept, at = [signature], len(signature)
    while at + 12 <= len(raw):
        (length,) = struct.unpack(">I", raw[at : at + 4])
        chunk = raw[at : at + 12 + length]
        kind, body, crc = chunk[4:8], chunk[8 : 8 + length], chunk[8 + length :]
        ancillary = bool(kind[:1]) and kind[0] & 0x20
        if not (ancillary and crc != struct.pack(">I", zlib.crc32(kind + body))):
            kept.append(chunk)
        at += 12 + length
    return b"".join(kept)


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except (ValueError, RecursionError):
        return text


# -- usage ----------------------------------------------------------------------------------


def _prices_signature(svc: Services) -> tuple[tuple[Any, ...], ...]:
    return tuple((p.id, p.valid_from) for p in svc.usage.prices.list())


@st.cache_data(show_spinner=False, max_entries=4)
def _usage_rollup(
    _svc: Services, db_path: str, version: int, prices: tuple[tuple[Any, ...], ...]
) -> list[dict[str, Any]]:
    return _svc.usage.daily()


def usage_rollup(svc: Services) -> list[dict[str, Any]]:
    """The daily rollup with costs, read again only after the history or the prices changed."""
    return _usage_rollup(svc, str(svc.db.path), svc.store.history_version(), _prices_signature(svc))


@st.cache_data(show_spinner=False, max_entries=16)
def _usage_answers(
    _svc: Services,
    db_path: str,
    version: int,
    prices: tuple[tuple[Any, ...], ...],
    query: tuple[Any, ...],
    limit: int | None,
) -> list[dict[str, Any]]:
    start, end, models, endpoints, presets = query
    return _svc.usage.answers(start, end, list(models), list(endpoints), list(presets), limit)


def usage_answers(svc: Services, query: tuple[Any, ...], limit: int | None) -> list[dict[str, Any]]:
    """The newest answers of a filter (start, end, models, endpoints, presets), cached."""
    return _usage_answers(
        svc, str(svc.db.path), svc.store.history_version(), _prices_signature(svc), query, limit
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _usage_conversations(
    _svc: Services,
    db_path: str,
    version: int,
    prices: tuple[tuple[Any, ...], ...],
    query: tuple[Any, ...],
) -> list[dict[str, Any]]:
    start, end, models, endpoints, presets = query
    return _svc.usage.conversation_costs(start, end, list(models), list(endpoints), list(presets))


def usage_conversations(svc: Services, query: tuple[Any, ...]) -> list[dict[str, Any]]:
    return _usage_conversations(
        svc, str(svc.db.path), svc.store.history_version(), _prices_signature(svc), query
    )
