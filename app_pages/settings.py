"""Settings page: system-prompt presets, endpoint profiles (with a connection check) and the
defaults new chats start from."""

from __future__ import annotations

import functools
import json
import shlex

import pandas as pd
import streamlit as st

from assistant import connection, ui
from assistant.app_settings import AUTO_TITLES_KEY, AUTOMATIC, LANGUAGE_KEY, THEME_KEY
from assistant.chat_settings import PARAM_SPECS
from assistant.errors import AppError, InvalidInput, ProviderError
from assistant.i18n import LANGUAGES, N_, _, ngettext, number, retranslate
from assistant.profiles import (
    KEY_ENV,
    KEY_NONE,
    KEY_SECRETS,
    KEY_SOURCES,
    KIND_COMPATIBLE,
    KIND_LABELS,
    KIND_LOCAL,
    KIND_OPENAI,
    clean_base_url,
    endpoint_label,
    resolve_key,
    sends_key_to_a_new_url,
    shown_name,
)
from assistant.safe_markdown import plain
from assistant.tool_servers import (
    HTTP,
    STDIO,
    ServerDraft,
    ToolServer,
    parse_args,
    read_mcp_servers_json,
    tools_on_hint,
)
from assistant.usage import EARLIEST

NOTICE_KEY = "settings_notice"
CONFIRM_KEY = "settings_confirm"  # ("preset" | "profile", id) awaiting a delete confirmation
REPORTS_KEY = "connection_reports"
KEY_SOURCE_LABELS = {
    KEY_NONE: N_("No key"),
    KEY_ENV: N_("Environment variable"),
    KEY_SECRETS: N_("secrets.toml key"),
}
USAGE_SHOWN = 5


def translated(labels: dict) -> dict:
    """Option labels in this run's language (fixed for the widget, as its options are)."""
    return {value: _(label) for value, label in labels.items()}


def _notify(message: str, problem: bool = False, partial: bool = False) -> None:
    """The page's one notice: a problem or a partial success (it names what did not happen)
    stays in a box at the top; a success is a toast with a check. Shown once each."""
    st.session_state[NOTICE_KEY] = (message, "error" if problem else "warning" if partial else "")


def _attempt(action, success: str | None = None) -> bool:
    """Run a change; a validation problem becomes the page's notice instead of a traceback."""
    try:
        action()
    except AppError as exc:  # invalid input, gone meanwhile, or the database is busy
        _notify(str(exc), problem=True)
        return False
    if success:
        _notify(success)
    return True


def _ask(kind: str, item_id: int) -> None:
    st.session_state[CONFIRM_KEY] = (kind, item_id)


def _cancel() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


def _confirming(
    kind: str, item_id: int, question: str, label: str, on_confirm, icon: str = ":material/delete:"
) -> bool:
    """The inline confirmation, when this item asked for one; True if shown."""
    if st.session_state.get(CONFIRM_KEY) != (kind, item_id):
        return False
    st.warning(question, icon=icon)
    row = st.container(horizontal=True)
    row.button(
        label,
        key=f"{kind}-confirm-{item_id}",
        type="primary",
        on_click=on_confirm,
        args=(item_id,),
    )
    row.button(_("Cancel"), key=f"{kind}-cancel-{item_id}", on_click=_cancel)
    return True


def _usage_links(conversations) -> None:
    for conversation in conversations[:USAGE_SHOWN]:
        st.page_link(
            ui.CHAT_PAGE,
            label=plain(conversation.title),
            icon=":material/chat:",
            query_params={ui.QUERY_CONVERSATION: str(conversation.id)},
        )
    if len(conversations) > USAGE_SHOWN:
        st.caption(_("and {count} more").format(count=len(conversations) - USAGE_SHOWN))


# -- presets ----------------------------------------------------------------------------------


def _create_preset() -> None:
    svc = ui.services()
    name = st.session_state.get("new-preset-name", "")
    text = st.session_state.get("new-preset-text", "")
    if _attempt(
        lambda: svc.presets.create(name, text),
        _("Preset “{name}” created.").format(name=name.strip()),
    ):
        st.session_state["new-preset-name"] = ""
        st.session_state["new-preset-text"] = ""


def _save_preset(preset_id: int) -> None:
    svc = ui.services()
    name = st.session_state.get(f"preset-name-{preset_id}", "")
    text = st.session_state.get(f"preset-text-{preset_id}", "")
    _attempt(lambda: svc.presets.update(preset_id, name, text), _("Preset saved."))


def _duplicate_preset(preset_id: int) -> None:
    svc = ui.services()
    _attempt(
        lambda: _notify(_("Created “{name}”.").format(name=svc.presets.duplicate(preset_id).name))
    )


def _default_preset(preset_id: int | None) -> None:
    svc = ui.services()
    _attempt(lambda: svc.presets.set_default(preset_id), _("Default preset changed."))


def _delete_preset(preset_id: int) -> None:
    svc = ui.services()
    _cancel()
    _attempt(lambda: svc.presets.delete(preset_id), _("Preset deleted."))


def _presets_tab(svc) -> None:
    st.caption(
        _(
            "A preset is a named system prompt. Each chat uses a preset (or a "
            "one-off prompt), chosen in the chat's sidebar. Editing a preset changes "
            "the next answers of the chats that use it; answers already written keep "
            "the exact prompt they were made with."
        )
    )
    problem = svc.presets.default_problem()
    if problem:
        st.warning(plain(problem), icon=":material/warning:")
    with st.expander(_("New preset"), icon=":material/add:"), st.form("new-preset", border=False):
        st.text_input(_("Name"), key="new-preset-name", max_chars=60)
        st.text_area(_("System prompt"), key="new-preset-text", height=120)
        st.form_submit_button(_("Create preset"), on_click=_create_preset, type="primary")
    default = svc.presets.default()
    usage = svc.store.usage("preset_id")
    for preset in svc.presets.list():
        is_default = default is not None and default.id == preset.id
        used = usage.get(preset.id, [])
        label = plain(preset.name) + (_(" · default") if is_default else "")
        with st.expander(label, icon=":material/star:" if is_default else ":material/notes:"):
            where = (
                ngettext(
                    "Used by {count} chat, and by every new chat.",
                    "Used by {count} chats, and by every new chat.",
                    len(used),
                )
                if is_default
                else ngettext("Used by {count} chat.", "Used by {count} chats.", len(used))
            )
            st.caption(where.format(count=len(used)))
            _usage_links(used)
            with st.form(f"preset-{preset.id}", border=False):
                st.text_input(_("Name"), value=preset.name, key=f"preset-name-{preset.id}")
                st.text_area(
                    _("System prompt"),
                    value=preset.text,
                    key=f"preset-text-{preset.id}",
                    height=150,
                )
                st.form_submit_button(_("Save"), on_click=_save_preset, args=(preset.id,))
            _preset_actions(preset, is_default)


def _preset_actions(preset, is_default: bool) -> None:
    if _confirming(
        "preset",
        preset.id,
        _(
            "Delete “{name}”? Chats set to it will use the default preset; answers "
            "already written keep their prompt."
        ).format(name=plain(preset.name)),
        _("Delete preset"),
        _delete_preset,
    ):
        return
    row = st.container(horizontal=True)
    row.button(
        _("Make default"),
        key=f"preset-default-{preset.id}",
        icon=":material/star:",
        disabled=is_default,
        on_click=_default_preset,
        args=(preset.id,),
    )
    row.button(
        _("Duplicate"),
        key=f"preset-duplicate-{preset.id}",
        icon=":material/content_copy:",
        on_click=_duplicate_preset,
        args=(preset.id,),
    )
    row.button(
        _("Delete"),
        key=f"preset-delete-{preset.id}",
        icon=":material/delete:",
        on_click=_ask,
        args=("preset", preset.id),
        disabled=is_default,  # refused anyway: say so before asking, not after
        help=_("The default preset cannot be deleted: make another one the default first.")
        if is_default
        else None,
    )


# -- endpoint profiles -----------------------------------------------------------------------


def _key_fields(prefix: str, source: str, key_name: str | None) -> None:
    st.radio(
        _("Where the key comes from"),
        KEY_SOURCES,
        index=KEY_SOURCES.index(source),
        format_func=translated(KEY_SOURCE_LABELS).__getitem__,
        key=f"{prefix}-key-source",
        horizontal=True,
        help=_("The key itself is never stored: the app reads it when it sends a request."),
    )
    st.text_input(
        _("Variable or key name (not the key itself)"),
        value=key_name or "",
        key=f"{prefix}-key-name",
        placeholder=_("e.g. OLLAMA_API_KEY or ollama.api_key"),
    )


@ui.owner_only
def _create_profile() -> None:
    svc = ui.services()
    state = st.session_state
    name = state.get("new-profile-name", "")

    def create() -> None:
        profile = svc.profiles.create(
            name,
            state.get("new-profile-url", ""),
            state.get("new-profile-key-source", KEY_NONE),
            state.get("new-profile-key-name"),
            state.get("new-profile-model"),
        )
        if profile.model:
            return
        try:  # no model typed: take the first one the endpoint lists, when it answers
            models = svc.endpoints.list_models(profile)
        except ProviderError as exc:
            _notify(
                _("Endpoint “{name}” added, but it did not list its models: {exc}").format(
                    name=profile.name, exc=exc
                ),
                partial=True,
            )
            return
        if models:
            svc.profiles.set_model(profile.id, models[0])

    if _attempt(create):
        added = _("Endpoint “{name}” added.").format(name=name.strip())
        st.session_state.setdefault(NOTICE_KEY, (added, ""))
        for field in ("name", "url", "model", "key-name"):
            state[f"new-profile-{field}"] = ""
        ui.refresh_models()


def _typed_name(profile, typed: str) -> str:
    """The name to store: the stored one when the field still shows the built-in name in
    this page's language (saving a Chinese page must not rename it)."""
    return profile.name if typed == shown_name(profile.name) else typed


@ui.owner_only
def _save_profile(profile_id: int, confirmed: bool = False) -> None:
    svc = ui.services()
    state = st.session_state
    prefix = f"profile-{profile_id}"
    key_source = state.get(f"{prefix}-key-source", KEY_NONE)
    base_url = state.get(f"{prefix}-url")
    try:
        current = svc.profiles.get(profile_id)
    except AppError as exc:
        _notify(str(exc), problem=True)
        return
    if not confirmed and sends_key_to_a_new_url(current, base_url, key_source):
        state[CONFIRM_KEY] = ("url", profile_id)  # the key would go to a server not yet trusted
        return
    _cancel()
    _attempt(
        lambda: svc.profiles.update(
            profile_id,
            name=_typed_name(current, state.get(f"{prefix}-name", "")),
            base_url=base_url,
            key_source=key_source,
            key_name=state.get(f"{prefix}-key-name"),
            model=state.get(f"{prefix}-model"),
            model_path=state.get(f"{prefix}-path"),
        ),
        _("Endpoint saved."),
    )
    st.session_state.get(REPORTS_KEY, {}).pop(profile_id, None)
    ui.refresh_models()


@ui.owner_only
def _pick_model(profile_id: int) -> None:
    svc = ui.services()
    model = st.session_state.get(f"profile-{profile_id}-model")
    _attempt(lambda: svc.profiles.set_model(profile_id, model), _("Default model saved."))


@ui.owner_only
def _check(profile_id: int) -> None:
    svc = ui.services()
    try:
        report = svc.endpoints.check_connection(svc.profiles.get(profile_id))
    except AppError as exc:
        _notify(str(exc), problem=True)
        return
    st.session_state.setdefault(REPORTS_KEY, {})[profile_id] = report


@ui.owner_only
def _default_profile(profile_id: int | None) -> None:
    svc = ui.services()
    _attempt(lambda: svc.profiles.set_default(profile_id), _("Default endpoint changed."))


@ui.owner_only
def _delete_profile(profile_id: int) -> None:
    svc = ui.services()
    _cancel()
    _attempt(lambda: svc.profiles.delete(profile_id), _("Endpoint deleted."))


def _report(report: connection.CheckReport) -> None:
    icons = {True: ":material/check_circle:", False: ":material/cancel:", None: ":material/help:"}
    lines = [f"{icons[step.ok]} **{step.name}:** {plain(step.detail)}" for step in report.steps]
    box = st.success if report.ok else st.error
    title = _("Connection works.") if report.ok else _("The connection check found a problem.")
    box(title + "  \n" + "  \n".join(lines))


def _profile_body(svc, profile, usage, default_id: int | None) -> None:
    effective = svc.endpoints.effective(profile)
    facts = [_(KIND_LABELS[profile.kind]), endpoint_label(effective)]
    if profile.kind != KIND_LOCAL:
        key = resolve_key(profile, svc.endpoints.registry.environ, svc.endpoints.registry.secrets())
        found = _("found") if key else _("not set")
        facts.append(
            _("key: {key}").format(key=profile.key_label)
            + ("" if profile.key_source == KEY_NONE else f" ({found})")
        )
    used = usage.get(profile.id, [])
    facts.append(
        ngettext("used by {count} chat", "used by {count} chats", len(used)).format(count=len(used))
    )
    st.caption(plain(" · ".join(facts)))  # the base URL and the key's name are the user's
    _usage_links(used)
    if profile.kind == KIND_COMPATIBLE:
        try:
            clean_base_url(profile.base_url, required=True)
        except InvalidInput as exc:
            st.warning(
                _(
                    "The saved base URL cannot be used: {problem} Chats set to it use the "
                    "embedded model until you fix it."
                ).format(problem=plain(str(exc))),
                icon=":material/warning:",
            )
    if profile.kind == KIND_LOCAL:
        st.caption(_("Model: {model}").format(model=plain(effective.model or _("no file found"))))
    else:
        ui.model_picker(
            svc,
            profile,
            effective.model,
            label=_("Default model"),
            key=f"profile-{profile.id}-model",
            on_change=_pick_model,
            args=(profile.id,),
            help=_("What new chats on this endpoint use; the list is what the endpoint reports."),
        )
    _profile_form(profile, effective)
    _profile_actions(profile, default_id)


def _profile_form(profile, effective) -> None:
    prefix = f"profile-{profile.id}"
    with st.form(prefix, border=False):
        st.text_input(_("Name"), value=shown_name(profile.name), key=f"{prefix}-name")
        if profile.kind == KIND_LOCAL:
            st.text_input(
                _("GGUF file (blank: the bundled SmolLM2-135M)"),
                value=profile.model_path or "",
                key=f"{prefix}-path",
                placeholder=str(effective.model_path or ""),
            )
        else:
            st.text_input(
                _("Base URL"),
                value=profile.base_url or "",
                key=f"{prefix}-url",
                placeholder=_("blank: api.openai.com, or OPENAI_BASE_URL when set")
                if profile.kind == KIND_OPENAI
                else "http://localhost:11434/v1",
            )
            _key_fields(prefix, profile.key_source, profile.key_name)
        st.form_submit_button(_("Save"), on_click=_save_profile, args=(profile.id,))


def _profile_actions(profile, default_id: int | None) -> None:
    prefix = f"profile-{profile.id}"
    row = st.container(horizontal=True)
    row.button(
        _("Check connection"),
        key=f"{prefix}-check",
        icon=":material/network_check:",
        on_click=_check,
        args=(profile.id,),
    )
    row.button(
        _("Make default"),
        key=f"{prefix}-default",
        icon=":material/star:",
        disabled=default_id == profile.id,
        on_click=_default_profile,
        args=(profile.id,),
    )
    if not profile.builtin:
        row.button(
            _("Delete"),
            key=f"{prefix}-delete",
            icon=":material/delete:",
            on_click=_ask,
            args=("profile", profile.id),
        )
    new_url = st.session_state.get(f"{prefix}-url") or "api.openai.com"
    _confirming(
        "url",
        profile.id,
        _(
            "Send the key in {variable} to {new_url}? Whoever runs that server receives "
            "it with every request. Save only if you trust it."
        ).format(
            variable=plain(st.session_state.get(f"{prefix}-key-name") or ""), new_url=plain(new_url)
        ),
        _("Save and send the key there"),
        functools.partial(_save_profile, confirmed=True),
        icon=":material/key:",
    )
    _confirming(
        "profile",
        profile.id,
        _("Delete “{name}”? Chats set to it will use the default endpoint.").format(
            name=plain(profile.name)
        ),
        _("Delete endpoint"),
        _delete_profile,
    )
    report = st.session_state.get(REPORTS_KEY, {}).get(profile.id)
    if report is not None:
        _report(report)


def _endpoints_read_only(svc) -> None:
    """What a visitor sees of the endpoints: which exist, nothing to change or probe."""
    ui.owner_only_notice()
    default_id = svc.profiles.chosen_default_id()
    for profile in svc.profiles.list():
        effective = svc.endpoints.effective(profile)
        facts = [_(KIND_LABELS[profile.kind]), endpoint_label(effective)]
        if profile.kind != KIND_LOCAL and effective.model:
            facts.append(effective.model)
        name = plain(shown_name(profile.name)) + (
            _(" · default") if default_id == profile.id else ""
        )
        st.markdown(f"**{name}**")
        st.caption(plain(" · ".join(facts)))


def _endpoints_tab(svc) -> None:
    if not ui.is_host_owner():
        _endpoints_read_only(svc)
        return
    st.caption(
        _(
            "Where answers come from. Keys are never stored: an endpoint names the "
            "environment variable or the `.streamlit/secrets.toml` key that holds "
            "its key."
        )
    )
    with st.expander(_("Add an OpenAI-compatible endpoint"), icon=":material/add:"):
        st.caption(
            _("Ollama, vLLM, llama.cpp server, LM Studio or any server with /v1/chat/completions.")
        )
        with st.form("new-profile", border=False):
            st.text_input(
                _("Name"), key="new-profile-name", placeholder=_("e.g. Ollama on this PC")
            )
            st.text_input(
                _("Base URL"), key="new-profile-url", placeholder="http://localhost:11434/v1"
            )
            _key_fields("new-profile", KEY_NONE, None)
            st.text_input(
                _("Model (blank: the first one the endpoint lists)"), key="new-profile-model"
            )
            st.form_submit_button(_("Add endpoint"), on_click=_create_profile, type="primary")
    default_id = svc.profiles.chosen_default_id()
    usage = svc.store.usage("profile_id")
    for profile in svc.profiles.list():
        is_default = default_id == profile.id
        label = plain(shown_name(profile.name)) + (_(" · default") if is_default else "")
        icon = ":material/memory:" if profile.kind == KIND_LOCAL else ":material/cloud:"
        with st.expander(label, icon=icon):
            _profile_body(svc, profile, usage, default_id)


# -- defaults for new chats ------------------------------------------------------------------


def _save_defaults() -> None:
    svc = ui.services()
    values = {spec.name: st.session_state.get(f"default-{spec.name}") for spec in PARAM_SPECS}
    _attempt(lambda: svc.chat.save_default_params(values), _("Defaults saved."))


def _change_default_preset() -> None:
    _default_preset(st.session_state.get("default-preset"))


def _change_default_profile() -> None:
    _default_profile(st.session_state.get("default-profile"))


def _defaults_tab(svc) -> None:
    st.caption(
        _(
            "New chats start with a copy of these; each chat can then change its own "
            "in the chat sidebar. Changing a default does not change existing chats."
        )
    )
    presets = {p.id: p.name for p in svc.presets.list()}
    options = [*presets, None]
    default = svc.presets.default()
    st.selectbox(
        _("System prompt preset"),
        options,
        index=options.index(default.id if default else None),
        format_func={**presets, None: _("No system prompt")}.__getitem__,
        key="default-preset",
        on_change=_change_default_preset,
    )
    automatic = svc.profiles.automatic(svc.settings)
    profiles = {p.id: shown_name(p.name) for p in svc.profiles.list()}
    choices = [None, *profiles]
    st.selectbox(
        _("Endpoint"),
        choices,
        index=choices.index(svc.profiles.chosen_default_id()),
        format_func={
            **profiles,
            None: _("Automatic (now {name}: {provider_reason})").format(
                # Both were put in words when the app started, in its first page's language.
                name=shown_name(automatic.name),
                provider_reason=retranslate(svc.settings.provider_reason),
            ),
        }.__getitem__,
        key="default-profile",
        on_change=_change_default_profile,
        help=_(
            "Automatic: OpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set, "
            "otherwise the embedded model. The model is the endpoint's default model "
            "(Endpoints tab)."
        ),
    )
    params, problems = svc.chat.default_params()
    for problem in problems:
        st.warning(plain(problem), icon=":material/warning:")
    with st.form("defaults", border=False):
        ui.param_inputs(params.as_dict(), lambda name: f"default-{name}")
        st.form_submit_button(_("Save defaults"), on_click=_save_defaults, type="primary")


# -- tools (MCP servers) ---------------------------------------------------------------------

TOOL_CHECKS_KEY = "tool_server_checks"  # ids of the servers whose Check button was pressed
TRANSPORT_LABELS = {STDIO: N_("Command (stdio)"), HTTP: N_("URL (Streamable HTTP or SSE)")}


def _server_fields(prefix: str, server: ToolServer | None) -> None:
    """The fields of a server's settings (new or existing); values are read on save."""
    transport = st.radio(
        _("Transport"),
        list(TRANSPORT_LABELS),
        index=list(TRANSPORT_LABELS).index(server.transport if server else STDIO),
        format_func=translated(TRANSPORT_LABELS).__getitem__,
        key=f"{prefix}-transport",
        horizontal=True,
    )
    st.text_input(_("Name"), value=server.name if server else "", key=f"{prefix}-name",
                  placeholder=_("e.g. time"))  # fmt: skip
    if transport == STDIO:
        st.text_input(_("Command"), value=(server.command or "") if server else "",
                      key=f"{prefix}-command", placeholder=_("e.g. uvx"))  # fmt: skip
        st.text_input(
            _("Arguments"),
            value=shlex.join(server.args) if server else "",
            key=f"{prefix}-args",
            placeholder=_("e.g. mcp-server-time --local-timezone Europe/Paris"),
            help=_("On one line, as in a terminal; quote an argument that has spaces."),
        )
        st.text_area(
            _("Environment values (NAME=value, one per line)"),
            value="\n".join(f"{k}={v}" for k, v in server.env.items()) if server else "",
            key=f"{prefix}-env",
            help=_("Plain values only (a time zone, a path). Never a key: name it below instead."),
        )
        st.text_input(
            _("Variables passed through from the app's environment or secrets.toml"),
            value=" ".join(server.env_pass) if server else "",
            key=f"{prefix}-pass",
            placeholder=_("e.g. GITHUB_PERSONAL_ACCESS_TOKEN"),
            help=_(
                "The server starts with a minimal environment; these names are read when "
                "it starts and are never stored."
            ),
        )
    else:
        st.text_input("URL", value=(server.url or "") if server else "", key=f"{prefix}-url",
                      placeholder="http://127.0.0.1:8000/mcp")  # fmt: skip
        st.text_input(_("Header (optional)"), value=(server.header_name or "") if server else "",
                      key=f"{prefix}-header", placeholder=_("e.g. Authorization"))  # fmt: skip
        _key_fields(prefix, server.header_source if server else KEY_NONE,
                    server.header_key if server else None)  # fmt: skip


def _server_draft(prefix: str, enabled: bool = True) -> ServerDraft:
    state = st.session_state
    env: dict[str, str] = {}
    for line in (state.get(f"{prefix}-env") or "").splitlines():
        if line.strip():
            name, sep, value = line.partition("=")
            if not sep:
                raise InvalidInput(_("{line!r} is not NAME=value.").format(line=line.strip()))
            env[name.strip()] = value.strip()
    return ServerDraft(
        name=state.get(f"{prefix}-name") or "",
        transport=state.get(f"{prefix}-transport") or STDIO,
        command=state.get(f"{prefix}-command"),
        args=parse_args(state.get(f"{prefix}-args") or ""),
        env=env,
        env_pass=tuple((state.get(f"{prefix}-pass") or "").replace(",", " ").split()),
        url=state.get(f"{prefix}-url"),
        header_name=state.get(f"{prefix}-header"),
        header_source=state.get(f"{prefix}-key-source") or KEY_NONE,
        header_key=state.get(f"{prefix}-key-name"),
        enabled=enabled,
    )


@ui.owner_only
def _add_server() -> None:
    svc = ui.services()
    if _attempt(
        lambda: svc.tool_servers.save(_server_draft("new-server")), _("Tool server added.")
    ):
        for field in ("name", "command", "args", "env", "pass", "url", "header", "key-name"):
            st.session_state[f"new-server-{field}"] = ""


@ui.owner_only
def _save_server(server_id: int, enabled: bool) -> None:
    svc = ui.services()
    prefix = f"server-{server_id}"

    def save() -> None:
        old = svc.tool_servers.get(server_id)
        svc.tool_servers.save(_server_draft(prefix, enabled), server_id)
        svc.hub.forget(old.name)

    _attempt(save, _("Saved; the server starts again with these settings."))


@ui.owner_only
def _toggle_server(server_id: int) -> None:
    svc = ui.services()
    enabled = bool(st.session_state.get(f"server-{server_id}-enabled"))
    _attempt(lambda: svc.tool_servers.set_enabled(server_id, enabled))


@ui.owner_only
def _check_server(server_id: int) -> None:
    svc = ui.services()
    server = svc.tool_servers.get(server_id)
    svc.turns.toolbox.check(server)  # in the background: the page shows "Checking…" meanwhile
    st.session_state.setdefault(TOOL_CHECKS_KEY, set()).add(server_id)


@ui.owner_only
def _delete_server(server_id: int) -> None:
    svc = ui.services()
    server = svc.tool_servers.get(server_id)
    svc.hub.forget(server.name)
    if _attempt(
        lambda: svc.tool_servers.delete(server_id), _("“{name}” deleted.").format(name=server.name)
    ):
        st.session_state.pop(CONFIRM_KEY, None)


@ui.owner_only
def _import_servers() -> None:
    svc = ui.services()
    upload = st.session_state.get("servers-file")
    text = upload.getvalue() if upload is not None else st.session_state.get("servers-json", "")
    try:
        parsed = read_mcp_servers_json(text or "")
        saved, skipped = svc.tool_servers.import_file(parsed)
    except AppError as exc:
        _notify(_("Nothing was imported: {exc}").format(exc=exc), problem=True)
        return
    sentences = [
        ngettext(
            "Imported {count} tool server.", "Imported {count} tool servers.", len(saved)
        ).format(count=len(saved))
    ]
    if skipped:
        sentences.append(_("Already here, skipped: {names}.").format(names=", ".join(skipped)))
    if parsed.to_set:
        sentences.append(
            _(
    "Secrets were not stored; set these in the environment or "
    ".streamlit/secrets.toml: "
)
            + ", ".join(parsed.to_set) + "."
        )  # fmt: skip
    sentences += parsed.notes
    if any(server.enabled for server in saved):
        sentences.append(tools_on_hint())
    # Something left out or still to set: a warning that says what, never a check.
    _notify(" ".join(sentences), partial=bool(parsed.to_set or parsed.notes))
    st.session_state["servers-json"] = ""


@ui.owner_only
def _change_default_tools(keys: list) -> None:
    toolbox = ui.services().turns.toolbox
    chosen = ui.read_tool_choices("default-tools", keys, toolbox.default())
    _attempt(lambda: toolbox.set_default(chosen))


@ui.owner_only
def _change_step_limit() -> None:
    toolbox = ui.services().turns.toolbox
    _attempt(lambda: toolbox.set_step_limit(int(st.session_state["tool-step-limit"])))


def _tools_read_only(svc) -> None:
    """What a visitor sees of the tool servers: their names and whether they are on."""
    ui.owner_only_notice()
    servers = svc.tool_servers.list()
    if not servers:
        st.caption(_("No tool servers yet."))
    for server in servers:
        state = _("on") if server.enabled else _("off")
        st.markdown(f"**{plain(server.name)}** · {state}")
    st.caption(_("Choose the tools of a chat in its sidebar, under Tools for this chat."))


def _check_result(svc, server) -> None:
    """What the Check button found: the tools, why the server cannot be used, or (while it
    starts, which may take its whole connect timeout) that it is being checked."""
    listed = svc.turns.toolbox.listing(server, wait=False)
    if listed is None:
        st.caption(_("Checking…"))
        ui.watch_tool_servers([server])
    elif isinstance(listed, str):
        st.error(plain(listed), icon=":material/error:")
    else:
        counted = ngettext("{count} tool.", "{count} tools.", len(listed))
        st.success(counted.format(count=len(listed)), icon=":material/check:")
        for info in listed:
            st.markdown(f"**{plain(info.name)}**: {plain(info.description)}")
            st.code(json.dumps(info.input_schema, indent=2), language="json")


def _server_status(svc, server) -> str | None:
    """A few words on what the server lists ("13 tools", "cannot be used", "off"), or None
    while it starts: its tools are listed in the background, never waited for here."""
    if not server.enabled:
        return _("off")
    listed = svc.turns.toolbox.peek(server)  # started below, once the page is drawn
    if listed is None:
        return None
    if isinstance(listed, str):
        return _("cannot be used")
    return ngettext("{count} tool", "{count} tools", len(listed)).format(count=len(listed))


def _tools_tab(svc) -> None:
    if not ui.is_host_owner():
        _tools_read_only(svc)
        return
    st.caption(
        _(
            "Model Context Protocol (MCP) servers give the model tools: a clock, "
            "files, a search. Each tool call is shown in the answer, and asks for "
            "your approval unless you allow that tool. Keys are never stored here: "
            "name the variable that holds them."
        )
    )
    checks = st.session_state.get(TOOL_CHECKS_KEY, set())
    starting = []
    for server in svc.tool_servers.list():
        prefix = f"server-{server.id}"
        status = _server_status(svc, server)
        if status is None:
            starting.append(server)
            status = _("starting…")
        title = plain(f"{server.name} · {server.where} · {status}")
        icon = ":material/dns:" if server.enabled else ":material/block:"
        # Keyed: the title changes once the server answers; an open box stays open.
        with st.expander(title, icon=icon, key=f"{prefix}-box"):
            st.toggle(_("Enabled"), value=server.enabled, key=f"{prefix}-enabled",
                      on_change=_toggle_server, args=(server.id,))  # fmt: skip
            row = st.container(horizontal=True, gap="small")
            row.button(_("Check"), icon=":material/network_check:", key=f"{prefix}-check",
                       on_click=_check_server, args=(server.id,))  # fmt: skip
            row.button(_("Delete"), icon=":material/delete:", key=f"{prefix}-delete",
                       on_click=_ask, args=("server", server.id))  # fmt: skip
            question = _("Delete **{name}**? Chats keep the steps it ran.").format(
                name=plain(server.name)
            )
            if _confirming("server", server.id, question, _("Delete"), _delete_server):
                continue
            if server.id in checks:
                _check_result(svc, server)
            _server_fields(prefix, server)
            st.button(_("Save"), key=f"{prefix}-save", on_click=_save_server,
                      args=(server.id, server.enabled))  # fmt: skip
    with st.expander(_("Add a tool server"), icon=":material/add:"):
        _server_fields("new-server", None)
        st.button(_("Add"), type="primary", on_click=_add_server, key="new-server-add")
    with st.expander(_("Import an mcpServers file (Claude Desktop, Cursor, VS Code)"),
                     icon=":material/upload:"):  # fmt: skip
        st.text_area(_("Paste the JSON"), key="servers-json", height=150,
                     placeholder='{"mcpServers": {"time": {"command": "uvx", "args": '
                     '["mcp-server-time"]}}}')  # fmt: skip
        st.file_uploader(_("…or upload the file"), type=["json"], key="servers-file")
        st.button(_("Import"), on_click=_import_servers, key="servers-import")
    if svc.tool_servers.enabled():
        st.subheader(_("Tools new chats start with"), divider="gray")
        keys: list = []
        keys += ui.tool_choices(svc, svc.turns.toolbox.default(), "default-tools",
                                on_change=lambda: _change_default_tools(keys))  # fmt: skip
    st.number_input(
        _("Tool steps per answer, at most"),
        min_value=1,
        max_value=50,
        value=svc.turns.toolbox.step_limit(),
        key="tool-step-limit",
        on_change=_change_step_limit,
        help=_("An answer that keeps calling tools ends here and says so."),
    )
    if starting:  # listed in the background from here; each title says what it lists then
        ui.watch_tool_servers(starting)


# -- prices ---------------------------------------------------------------------------------


def _add_price() -> None:
    state = st.session_state
    prices = ui.services().usage.prices

    def add() -> None:
        cached = state.get("price-cached")
        prices.add(
            state.get("price-pattern") or "",
            float(state.get("price-input") or 0),
            float(state.get("price-output") or 0),
            float(cached) if cached else None,
            earlier_too=bool(state.get("price-earlier")),
        )

    if _attempt(add, _("Price saved.")):
        state["price-pattern"] = ""


def _delete_price(price_id: int) -> None:
    _attempt(lambda: ui.services().usage.prices.delete(price_id), _("Price deleted."))


def _set_window(model: str, window: int | None) -> None:
    _attempt(lambda: ui.services().context_windows.set(model, window))


def _set_window_from_form() -> None:
    state = st.session_state
    _set_window(state.get("window-model") or "", int(state.get("window-size") or 0))


def _price_cell(value: float | None) -> str:
    """A price as the table shows it: a dash where none is set (not "None")."""
    return "—" if value is None else f"{value:g}"


def _valid_from(day: str) -> str:
    """A price's first day; one that counts for earlier answers too is "always" (its stored
    day is a sentinel, never a date to show)."""
    return _("always") if day == EARLIEST else day


def _price_choice(price) -> str:
    if price.valid_from == EARLIEST:
        return _("{pattern} (always)").format(pattern=price.pattern)
    return _("{pattern} (from {valid_from})").format(
        pattern=price.pattern, valid_from=price.valid_from
    )


def _prices_tab(svc) -> None:
    st.caption(
        _(
            "What answers cost, per million tokens, by model name (a pattern: "
            "gpt-4o* covers gpt-4o-mini too; the most specific wins). Nothing ships "
            "as a current price. The embedded model and endpoints on this machine "
            "cost nothing; other answers without a price show their tokens and “no "
            "price set”. A new price counts from today, so earlier answers keep the "
            "cost they had, unless you tick the box."
        )
    )
    prices = svc.usage.prices.list()
    if prices:
        st.dataframe(
            pd.DataFrame(
                {
                    _("Model pattern"): [p.pattern for p in prices],
                    _("Input $/M"): [_price_cell(p.input_per_m) for p in prices],
                    _("Output $/M"): [_price_cell(p.output_per_m) for p in prices],
                    _("Cached input $/M"): [_price_cell(p.cached_input_per_m) for p in prices],
                    _("Valid from"): [_valid_from(p.valid_from) for p in prices],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
        chosen = row.selectbox(
            _("Price to delete"),
            [p.id for p in prices],
            format_func=lambda i: next(_price_choice(p) for p in prices if p.id == i),
            key="price-delete-choice",
        )
        row.button(_("Delete"), key="price-delete", on_click=_delete_price, args=(chosen,))
    with st.form("price-form", border=True):
        st.text_input(_("Model or pattern"), key="price-pattern", placeholder=_("e.g. gpt-4o*"))
        row = st.columns(3)
        row[0].number_input(_("Input, $ per million"), min_value=0.0, step=0.05, key="price-input")
        row[1].number_input(
            _("Output, $ per million"), min_value=0.0, step=0.05, key="price-output"
        )
        row[2].number_input(_("Cached input (optional)"), min_value=0.0, step=0.05, value=None,
                            key="price-cached")  # fmt: skip
        st.checkbox(_("Apply to earlier answers too (recompute history)"), key="price-earlier")
        st.form_submit_button(_("Save price"), on_click=_add_price)
    st.subheader(_("Context windows"), divider="gray")
    st.caption(
        _(
            "How many tokens a model takes in one request, for the chat's context "
            "gauge and to refuse a message that would not fit. The embedded model's "
            "is known ({count})."
        ).format(count=number(svc.settings.local_context))
    )
    windows = svc.context_windows.all()
    for model, window in sorted(windows.items()):
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        row.markdown(
            _("**{model}**: {window} tokens").format(model=plain(model), window=number(window))
        )
        row.button("", icon=":material/delete:", key=f"window-delete-{model}",
                   on_click=_set_window, args=(model, None),
                   help=_("Forget this window"))  # fmt: skip
    with st.form("window-form", border=True):
        row = st.columns(2)
        row[0].text_input(_("Model"), key="window-model", placeholder=_("e.g. gpt-4o"))
        row[1].number_input(_("Context window (tokens)"), min_value=256, value=128_000, step=1024,
                            key="window-size")  # fmt: skip
        st.form_submit_button(_("Save window"), on_click=_set_window_from_form)


# -- language, theme, titles ----------------------------------------------------------------

LANGUAGE_CHOICE_KEY = "settings-language"
THEME_CHOICE_KEY = "settings-theme"
TITLES_KEY = "settings-auto-titles"
TAB_QUERY, LOOK_TAB = "tab", "look"  # ?tab=look opens Settings at Language & look
THEME_LABELS = {"system": N_("Like the system"), "light": N_("Light"), "dark": N_("Dark")}


def _language_label(choice: str) -> str:
    if choice == AUTOMATIC:
        return _("Like the browser ({language})").format(language=LANGUAGES[ui.browser_language()])
    return LANGUAGES[choice]  # each language in its own words


def _change_language() -> None:
    choice = st.session_state.get(LANGUAGE_CHOICE_KEY) or AUTOMATIC
    if _attempt(lambda: ui.services().preferences.set_language(choice)):
        # This run already reads in the new language (the notice too).
        ui.set_session_language(ui.browser_language() if choice == AUTOMATIC else choice)
        _notify(_("Language changed."))
        st.query_params[TAB_QUERY] = LOOK_TAB  # the new tab labels would open the first tab


def _change_theme() -> None:
    choice = st.session_state.get(THEME_CHOICE_KEY) or "system"
    st.query_params[TAB_QUERY] = LOOK_TAB  # the page reloads: come back to this tab
    _attempt(lambda: ui.services().preferences.set_theme(choice), _("Theme changed."))


def _change_titles() -> None:
    enabled = bool(st.session_state.get(TITLES_KEY))
    _attempt(lambda: ui.services().preferences.set_auto_titles(enabled), _("Saved."))


def _general_tab(svc) -> None:
    preferences = svc.preferences.read()
    choices = [AUTOMATIC, *LANGUAGES]
    st.selectbox(
        _("Language"),
        choices,
        index=choices.index(preferences[LANGUAGE_KEY]),
        format_func=_language_label,
        key=LANGUAGE_CHOICE_KEY,
        on_change=_change_language,
        help=_("The app's words, dates and numbers; your chats stay as they were written."),
    )
    themes = list(THEME_LABELS)
    st.segmented_control(
        _("Theme"),
        themes,
        default=preferences[THEME_KEY]["name"],
        format_func=translated(THEME_LABELS).__getitem__,
        key=THEME_CHOICE_KEY,
        on_change=_change_theme,
        required=True,
    )
    ui.instant_theme_picker(THEME_CHOICE_KEY, themes)
    st.caption(_("The app menu's Settings can still change it for this browser."))
    st.toggle(
        _("Automatic titles"),
        value=preferences[AUTO_TITLES_KEY],
        key=TITLES_KEY,
        on_change=_change_titles,
        help=_(
            "After a chat's first answer, the chat's model writes a short title in the "
            "chat's language. A title you set is never replaced; when the model's title is "
            "poor, the first words of your message stay."
        ),
    )


def settings_page() -> None:
    # First, and on every run: a layout set later in a run (or only by another page) makes the
    # page jump between widths.
    st.set_page_config(layout="centered")
    svc = ui.services()
    st.title(_("Settings"))
    # Always present, so an error shown here does not move the tabs and expanders below it
    # (Streamlit would re-create them: the open tab and the open form would close).
    slot = st.empty()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        message, kind = notice
        message = plain(message)  # names in it (a preset, a server, a variable) are text
        # Once each: a problem or a partial success stays at the top until the next action.
        if kind == "error":
            slot.error(message, icon=":material/error:")
        elif kind == "warning":
            slot.warning(message, icon=":material/warning:")
        else:
            st.toast(message, icon=":material/check:")
    look = _("Language & look")
    presets_tab, endpoints_tab, defaults_tab, tools_tab, prices_tab, general_tab = st.tabs(
        [_("Presets"), _("Endpoints"), _("New chats"), _("Tools"), _("Prices & context"), look],
        default=look if st.query_params.get(TAB_QUERY) == LOOK_TAB else None,
    )
    with general_tab:
        _general_tab(svc)
    with presets_tab:
        _presets_tab(svc)
    with endpoints_tab:
        _endpoints_tab(svc)
    with defaults_tab:
        _defaults_tab(svc)
    with tools_tab:
        _tools_tab(svc)
    with prices_tab:
        _prices_tab(svc)


settings_page()
