"""Group a conversation's messages into exchanges: a user message and its answer versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from assistant.i18n import _, ngettext, number, retranslate
from assistant.parts import ATTACHMENT, REASONING, TOOL_CALL, TOOL_RESULT, Part, continues
from assistant.profiles import shown_name
from assistant.store import Message, Store


@dataclass
class Exchange:
    """A user message and the answer that follows it on the shown branch (or an answer alone,
    where an imported conversation starts with one: a fragment, or a hidden system prompt
    before it).

    `edits` holds the ids of the user message and its siblings (its edits), `versions` those
    of the answer and its siblings (regenerated versions), oldest first: what ‹ n / m › moves
    between.
    """

    question: Message | None  # None: a conversation that starts with an answer (an import)
    answer: Message | None = None
    edits: tuple[int, ...] = ()
    versions: tuple[int, ...] = ()

    @property
    def edit_index(self) -> int:
        if self.question is None or self.question.id not in self.edits:
            return 0
        return self.edits.index(self.question.id)

    @property
    def version_index(self) -> int:
        if self.answer is None or self.answer.id not in self.versions:
            return 0
        return self.versions.index(self.answer.id)


def exchanges(path: list[Message], siblings: dict[int, list[int]] | None = None) -> list[Exchange]:
    """The messages of one path, root first -> exchanges (an answer joins the user message
    before it; an answer at the root of the conversation is an exchange of its own)."""
    siblings = siblings or {}
    grouped: list[Exchange] = []
    for message in path:
        if message.role == "user":
            grouped.append(Exchange(message, edits=tuple(siblings.get(message.id, [message.id]))))
        elif grouped and grouped[-1].answer is None:
            grouped[-1].answer = message
            grouped[-1].versions = tuple(siblings.get(message.id, [message.id]))
        elif not grouped and message.parent_id is None:
            versions = tuple(siblings.get(message.id, [message.id]))
            grouped.append(Exchange(None, message, versions=versions))
    return grouped


def locate(exchanges_: list[Exchange], message_id: int) -> int | None:
    """The index of the exchange that shows this message."""
    for index, exchange in enumerate(exchanges_):
        if (exchange.question is not None and exchange.question.id == message_id) or (
            exchange.answer is not None and exchange.answer.id == message_id
        ):
            return index
    return None


# A conversation opens at its last 10 exchanges; "Show earlier messages" adds 50 at a time.
# Streamlit draws every element it is sent: 50 exchanges made a long chat open 1.34x slower
# than a short one in Chromium, 10 keep it within 1.1x.
EXCHANGES_SHOWN = 10
EARLIER_STEP = 50


def window_start(total: int, shown: int, must_include: int | None = None) -> int:
    """First exchange to render when the last `shown` are on screen (and `must_include` too)."""
    start = max(0, total - shown)
    if must_include is not None:
        start = min(start, max(0, must_include))
    return start


@dataclass
class Window:
    """The end of the shown branch as a page shows it: only these messages are read."""

    exchanges: list[Exchange]
    earlier: int  # exchanges before the first one here

    @property
    def total(self) -> int:
        return self.earlier + len(self.exchanges)


def window(store: Store, conversation_id: int, shown: int, must_show: int | None = None) -> Window:
    """The last `shown` exchanges of the active branch (reaching back to message `must_show`
    when it is on that branch).

    A page shows 10 exchanges of a branch that may have thousands: it walks the branch's ids
    (no text), then reads the shown messages and their siblings' ids.
    """
    path = store.active_path(conversation_id)
    # Where each exchange starts: at a question, or at an answer the conversation starts with.
    questions = [i for i, step in enumerate(path) if step.role == "user" or i == 0]
    if not questions:
        return Window([], 0)
    target = None
    if must_show is not None:
        where = next((i for i, step in enumerate(path) if step.id == must_show), None)
        if where is not None:
            target = sum(1 for q in questions if q <= where) - 1
    start = window_start(len(questions), shown, target)
    steps = path[questions[start] :]
    found = store.messages_by_id(step.id for step in steps)
    messages = [found[step.id] for step in steps if step.id in found]
    return Window(exchanges(messages, store.siblings(conversation_id, messages)), start)


@dataclass
class Branch:
    """A part of the tree for exports that show every branch: the messages after `after`."""

    exchanges: list[Exchange]
    after: Message | None  # where it branches off (None: the active branch, or an edit of the
    # first message, which shares nothing with the branches before it)


def active_exchanges(store: Store, conversation_id: int) -> list[Exchange]:
    """The whole active branch, with sibling counts (for exports and the CLI)."""
    steps = store.active_path(conversation_id)
    found = store.messages_by_id(step.id for step in steps)
    messages = [found[step.id] for step in steps if step.id in found]
    return exchanges(messages, store.siblings(conversation_id, messages))


def all_branches(store: Store, conversation_id: int) -> list[Branch]:
    """The active branch, then each other branch from where it leaves the ones before it
    (oldest first). An answer version or an edit repeats its question for context.

    The conversation's messages are read once; paths are followed in memory.
    """
    messages = store.messages(conversation_id)
    by_id = {m.id: m for m in messages}
    parents = {m.parent_id for m in messages}
    leaves = [m.id for m in messages if m.id not in parents]
    active = store.active_path(conversation_id)
    order = [active[-1].id] if active else []
    order += [leaf for leaf in leaves if leaf not in order]
    siblings: dict[tuple[int | None, str], list[int]] = {}
    for message in messages:  # in seq order: oldest sibling first
        siblings.setdefault((message.parent_id, message.role), []).append(message.id)
    seen: set[int] = set()
    result: list[Branch] = []
    for leaf in order:
        path = _path_in(by_id, leaf)
        fresh = [m for m in path if m.id not in seen]
        if not fresh:
            continue
        after = next((m for m in reversed(path) if m.id in seen), None)
        if fresh[0].role == "assistant" and after is not None and after.role == "user":
            fresh = [after, *fresh]  # another version of an answer: show its question again
        seen.update(m.id for m in path)
        found = {m.id: siblings[(m.parent_id, m.role)] for m in fresh}
        result.append(Branch(exchanges(fresh, found), after))
    return result


def _path_in(by_id: dict[int, Message], leaf: int) -> list[Message]:
    path: list[Message] = []
    current = by_id.get(leaf)
    while current is not None:
        path.append(current)
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return list(reversed(path))


def branches_to_export(store: Store, conversation_id: int, every_branch: bool) -> list[Branch]:
    """What an export shows: the active branch, or every branch."""
    if every_branch:
        return all_branches(store, conversation_id)
    return [Branch(active_exchanges(store, conversation_id), None)]


def branch_heading(branch: Branch, number: int, count: int, every_branch: bool) -> str | None:
    """A heading above a branch in an export, or a note that others were left out."""
    if not every_branch:
        others = sum(
            max(len(e.edits) - 1, 0) + max(len(e.versions) - 1, 0) for e in branch.exchanges
        )
        if not others:
            return None
        return _(
            "The branch last on screen; other versions and edits exist (export with all "
            "branches to include them)."
        )
    if number == 1:  # the active branch comes first
        if count < 2:
            return None
        return _("Branch 1 of {count} (the one last on screen)").format(count=count)
    if branch.after is None:  # an edit of the first message: it shares nothing before it
        return _("Branch {index} of {count}, from the first message").format(
            index=number, count=count
        )
    where = make_snippet_title(branch.after.content)
    return _("Branch {index} of {count}, after “{where}”").format(
        index=number, count=count, where=where
    )


def make_snippet_title(text: str, limit: int = 60) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def part_heading(part: Part) -> str:
    """How a part that is not the answer's text is introduced."""
    if part.kind == REASONING:
        seconds = part.data.get("seconds")
        if isinstance(seconds, int | float):
            return _("Thought for {seconds} s").format(seconds=f"{seconds:.0f}")
        return _("Thoughts")
    if part.kind == ATTACHMENT:
        return _("Attachment: {name}").format(name=part.data.get("name") or _("file"))
    if part.kind in (TOOL_CALL, TOOL_RESULT):
        server = part.data.get("server")
        name = f"{server}/{part.data.get('name')}" if server else part.data.get("name") or "tool"
        if part.kind == TOOL_CALL:
            return _("Tool call: {name}").format(name=name)
        seconds = part.data.get("seconds")
        timing = f", {seconds:.2f} s" if isinstance(seconds, int | float) else ""
        failed = _(" (failed)") if part.data.get("is_error") else ""
        return _("Tool result: {name}{timing}{failed}").format(
            name=name, timing=timing, failed=failed
        )
    return part.kind


def tokens_per_second(message: Message) -> float | None:
    """Generation speed after the first token, when the numbers allow it."""
    return generation_speed(
        message.completion_tokens,
        message.total_s,
        message.first_token_s,
        message.parts,
        message.generation_s,
    )


def generation_speed(
    completion_tokens: int | None,
    total_s: float | None,
    first_token_s: float | None,
    parts: list[Part],
    generation_s: float | None = None,
) -> float | None:
    """Tokens per second while the model wrote: over `generation_s` (first delta to last of
    each request) when the answer has it. Older answers have only their total: the first
    token, tool calls and the wait for the user's approval are taken off that."""
    if not completion_tokens or completion_tokens < 2:
        return None
    if generation_s is not None:
        return (completion_tokens - 1) / generation_s if generation_s > 0 else None
    if total_s is None:
        return None
    elsewhere = sum(
        float(part.data.get(name) or 0.0)
        for part in parts
        if part.kind == TOOL_RESULT
        for name in ("seconds", "waited_s")
        if isinstance(part.data.get(name), int | float)
    )
    generating = total_s - (first_token_s or 0.0) - elsewhere
    if generating <= 0:
        return None
    return (completion_tokens - 1) / generating


LEGACY_PROVIDERS = ("openai", "local")  # snapshots from before endpoint profiles


def prompt_label(preset: str | None, system_prompt: str | None) -> str:
    """How a system prompt is named: its preset, or what kind it is."""
    if preset:
        return preset
    return _("one-off prompt") if system_prompt else _("no system prompt")


def caption(message: Message) -> str:
    """model · endpoint · prompt · temperature · tokens · first token · tokens/s (what is known)."""
    parts = [message.model or _("unknown model")]
    # Answers made with endpoint profiles, and imported ones that name their endpoint/preset
    # (older answers' `provider` is only an id: "openai" or "local").
    if message.provider and (message.profile_id is not None or message.preset is not None):
        parts.append(shown_name(message.provider))
        parts.append(prompt_label(message.preset, message.system_prompt))
    temperature = message.params.get("temperature")
    if isinstance(temperature, int | float):
        parts.append(_("temperature {value}").format(value=f"{temperature:g}"))
    if message.completion_tokens is not None:
        count = message.completion_tokens
        parts.append(ngettext("{count} token", "{count} tokens", count).format(count=number(count)))
    elif message.tokens_unreported:
        parts.append(_("tokens not reported"))
    if message.first_token_s is not None:
        parts.append(_("first token {seconds} s").format(seconds=f"{message.first_token_s:.2f}"))
    speed = tokens_per_second(message)
    if speed is not None:
        parts.append(_("{speed} tokens/s").format(speed=f"{speed:.1f}"))
    elif message.total_s is not None:
        parts.append(_("{seconds} s").format(seconds=f"{message.total_s:.2f}"))
    calls = sum(1 for part in message.parts if part.kind == TOOL_CALL)
    if calls:
        parts.append(ngettext("{count} tool call", "{count} tool calls", calls).format(count=calls))
    if continues(message.parts) is not None:
        parts.append(_("continued"))
    if message.status == "stopped":
        parts.append(_("stopped"))
    elif message.finish_reason == "length":
        parts.append(_("cut at the token limit"))
    elif message.finish_reason == "tool_steps":
        parts.append(_("ended at the tool step limit"))
    elif message.finish_reason == "no_tools":
        parts.append(_("answered without tools (the endpoint does not take them)"))
    return " · ".join(parts)


def provenance(message: Message) -> list[tuple[str, str]]:
    """What an answer was generated with, as (label, value) rows, from its snapshot."""
    provider = message.provider or _("unknown")
    if message.profile_id is None and provider in LEGACY_PROVIDERS:
        provider = _("embedded model") if provider == "local" else "OpenAI / OPENAI_BASE_URL"
    rows = [(_("Endpoint"), shown_name(provider)), (_("Model"), message.model or _("unknown"))]
    for name, label in (
        ("temperature", _("Temperature")),
        ("top_p", _("Top p")),
        ("max_tokens", _("Max tokens")),
    ):
        value = message.params.get(name)
        if isinstance(value, int | float):
            rows.append((label, f"{value:g}"))
    rows.append((_("System prompt"), prompt_label(message.preset, message.system_prompt)))
    return rows


def readable_time(iso: str) -> str:
    """'2026-11-24T10:03:00.000Z' -> '2026-11-24 10:03 UTC' (unknown formats pass through)."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


def answer_label(index: int, count: int) -> str:
    if count == 1:
        return _("Assistant")
    return _("Assistant (version {index} of {count})").format(index=index + 1, count=count)


def question_label(index: int, count: int) -> str:
    if count == 1:
        return _("You")
    return _("You (edit {index} of {count})").format(index=index + 1, count=count)


def answer_note(answer: Message) -> str | None:
    """A line saying how an answer ended when it did not simply complete."""
    if answer.status == "error":
        problem = retranslate(answer.error) if answer.error else _("unknown error")
        return _("The answer failed: {problem}").format(problem=problem)
    if answer.status == "interrupted":
        return retranslate(answer.error) if answer.error else _("The answer was interrupted.")
    if answer.status == "stopped":
        return _("Stopped by the user.")
    if answer.status in ("pending", "streaming"):
        return _("Still being written when exported.")
    return None
