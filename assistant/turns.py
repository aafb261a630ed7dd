"""The two-phase turn lifecycle in a running process: create, then stream (queue, claim,
generate, checkpoint, finish). The SQL and the ownership rules live in `lifecycle.py`.

    create ──► pending ──start──► streaming ──► complete | stopped | error
                  │                   │
                  └── stop ──► stopped └── process gone ──► interrupted (recovery, text kept)

`create` validates the text and writes the user message and a pending answer (with the snapshot
of endpoint, model, parameters and system prompt) in one transaction; nothing is sent yet, and
a conversation that already has a live answer refuses a second one. `start` claims the pending
answer with a conditional UPDATE (so two tabs never run one turn twice) and queues it for a
worker thread owned by the process. While it waits, the answer is *queued* with its place in
line; then *waiting* for the first token; then *writing*. The worker streams provider events
into an in-memory `LiveTurn` and writes the final state in one transaction; the manager's own
thread (the checkpointer, which also beats the heartbeat) stores the partial text every
`checkpoint_interval` seconds. The worker never waits on the disk while it streams: with the
write lock held by another program, each checkpoint waits the busy timeout, and a worker that
waited there stopped reading the stream (the words on screen froze for as long). A write that
fails (a lock held too long, a full or read-only disk) is retried while the text stays in
memory and on screen; `LiveTurn.problem` says why meanwhile. No exception ends a worker or
the checkpointer with an answer left `streaming`: text that SQLite cannot encode is stored
repaired (`clean_text`), anything else is logged and the answer ends as an error.

Pages only `follow` a turn; a rerun or a closed tab stops following, never the generation. Only
`stop` cancels it: in this process directly, in another one by asking (the owner sees the
request at its next checkpoint or heartbeat). Workers are daemon threads, so Ctrl+C does not
wait for an answer: `shutdown` (also run at exit) writes each live answer as `interrupted`
with its text. Exit has one order: answers are interrupted first (once closing, no worker
sends a new request or starts a tool call), then the tool servers close (`_at_exit`).
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from assistant import i18n, mcp_hub
from assistant.approvals import APPROVE, Approvals
from assistant.clean_text import repaired
from assistant.errors import (
    AlreadyClaimed,
    EmptyMessage,
    InvalidInput,
    MessageTooLong,
    NotFound,
    ProviderError,
    StorageError,
)
from assistant.i18n import _
from assistant.lifecycle import INTERRUPTED_TEXT, STALE_AFTER_S, Lifecycle, Owner
from assistant.mcp_hub import ToolOutcome
from assistant.parts import (
    BEGUN_CHARS,
    CONTINUED_FROM,
    TEXT,
    TOOL_CALL,
    TOOL_RESULT,
    Part,
    ThinkSplitter,
)
from assistant.parts import reasoning_part as make_reasoning_part
from assistant.providers.base import (
    EventStream,
    Finish,
    GenerationRequest,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolsRefused,
    Usage,
)
from assistant.store import ConversationSetup, FinalResult, Message, Snapshot, Store, TurnIds
from assistant.toolbox import ASK, ChatTool, Toolbox, ToolCall, bad_arguments, parse_arguments

if TYPE_CHECKING:
    from assistant.titles import Titler

log = logging.getLogger(__name__)

QUEUED, WAITING, WRITING = "queued", "waiting", "writing"
# Lanes: remote answers mostly wait on sockets and get many workers; the embedded model writes
# one answer at a time (more threads would only wait on its lock and hide the queue).
REMOTE, LOCAL = "remote", "local"
LaneOf = Callable[["Snapshot"], str]
RETRY_FIRST_S, RETRY_MAX_S = 0.05, 2.0  # backoff of a failed checkpoint or final write
SLOW_SAVE_S = 1.0  # a checkpoint waiting this long (a lock held elsewhere) is said on the page


WAITING_APPROVAL, RUNNING, DONE = "waiting", "running", "done"
APPROVAL_POLL_S = 1.0  # how often a waiting worker looks for a decision made elsewhere
TOOL_POLL_S = 0.05  # how soon a worker waiting for a tool notices Stop
TOOL_LIMIT_REASON = "tool_steps"  # finish_reason when the step limit ended the answer
NO_TOOLS_REASON = "no_tools"  # finish_reason when the endpoint refused tools


# A continued answer (Continue under an answer cut at its length limit) is a new version of
# it that starts with the cut answer's whole text and goes on from there, so the answer on
# screen, in exports and in the next request reads as one. Its first text part says where
# that text came from ({CONTINUED_FROM: the cut answer, BEGUN_CHARS: how much of it}); the cut
# answer stays as the earlier version, and each request's tokens stay with its own answer.
CONTINUE_INSTRUCTION = (  # sent to the model, so in English
    "Your previous message was cut off at the length limit. Continue it exactly where it "
    "stopped, mid-sentence if need be, without repeating anything and without a preamble."
)


def continuable(answer: Message) -> bool:
    """An answer that ended at its length limit, which Continue can carry on."""
    return (
        answer.role == "assistant"
        and answer.status == "complete"
        and answer.finish_reason == "length"
        and bool(answer.content.strip())
    )


def begun_part(message: Message) -> Part | None:
    """The text a (pending) continued answer starts with, as stored; None for any other."""
    for part in message.parts:
        if part.kind == TEXT and CONTINUED_FROM in part.data:
            chars = int(part.data.get(BEGUN_CHARS) or 0)
            return Part(TEXT, part.text[:chars], dict(part.data))
    return None


@dataclass
class ToolStep:
    """One tool call of a live answer, from the model's request to its result."""

    call_id: str
    server: str
    tool: str
    arguments: str
    text_at: int  # characters of the answer's text written before this call
    state: str = RUNNING
    result: str | None = None
    is_error: bool = False
    seconds: float | None = None
    waited_s: float = 0.0  # for the user's approval: not the answer's own time
    running_since: float | None = None  # monotonic start of the call itself
    media: tuple[dict[str, Any], ...] = ()  # images or sound the tool gave back (see mcp_hub)
    cut: bool = False  # Stop or exit ended it before its result

    def parts(self) -> list[Part]:
        names = {"id": self.call_id, "name": self.tool, "server": self.server}
        parts = [Part(TOOL_CALL, self.arguments, names)]
        if self.result is not None:
            extra = {"is_error": self.is_error, "seconds": round(self.seconds or 0.0, 3)}
            if self.waited_s:
                extra["waited_s"] = round(self.waited_s, 3)
            if self.media:
                extra["media"] = [dict(item) for item in self.media]
            if self.cut:
                extra["cut"] = True
            parts.append(Part(TOOL_RESULT, self.result, {**names, **extra}))
        return parts


class ToolCalls:
    """Streamed tool-call deltas gathered into whole calls, by index and id: a delta with a
    new id starts a call even at an index already used (Ollama sends every parallel call at
    index 0); a delta without an id continues the last call at its index."""

    def __init__(self) -> None:
        self._calls: list[dict[str, str]] = []
        self._last_at: dict[int, dict[str, str]] = {}

    def add(self, delta: ToolCallDelta) -> None:
        current = self._last_at.get(delta.index)
        if current is None or (delta.id and current["id"] and delta.id != current["id"]):
            current = {"id": delta.id or "", "name": "", "arguments": ""}
            self._calls.append(current)
            self._last_at[delta.index] = current
        if delta.id and not current["id"]:
            current["id"] = delta.id
        if delta.name:
            current["name"] = delta.name
        current["arguments"] += delta.arguments

    def calls(self, round_number: int) -> list[ToolCall]:
        return [
            ToolCall(c["id"] or f"call_{round_number}_{n}", c["name"], c["arguments"])
            for n, c in enumerate(self._calls)
        ]


@dataclass
class LiveTurn:
    """The in-memory buffer of an answer being generated in this process."""

    answer_id: int
    lane: str = REMOTE
    parts: list[str] = field(default_factory=list)  # the answer's text, as it arrived
    thoughts: list[str] = field(default_factory=list)  # its reasoning, as it arrived
    thinking_since: float | None = None  # monotonic time of the first reasoning
    thought_s: float | None = None  # how long it reasoned, once the text began (or it ended)
    steps: list[ToolStep] = field(default_factory=list)
    decided: threading.Event = field(default_factory=threading.Event)  # a decision was made
    chars: int = 0  # characters of text so far
    done: bool = False
    ended: threading.Event = field(default_factory=threading.Event)  # `done`, for plain waits
    cancel: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    stream: EventStream | None = None
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None  # a worker took it (monotonic)
    # Timing of the model alone: the first request's wait for its first delta (text, reasoning
    # or a tool call), and the writing time (first delta to last) summed over the requests.
    # Waits for the user's approval, tool calls and later requests' waits are neither.
    first_token_s: float | None = None
    first_token_at: float | None = None  # monotonic time of the answer's first delta
    generating_s: float = 0.0
    problem: str | None = None  # why the text cannot be written to the database right now
    saved_chars: int = 0  # how much of the text the last checkpoint stored
    saved_at: float = 0.0  # monotonic time of the last checkpoint; 0: save at the next wake-up
    saving: threading.Lock = field(default_factory=threading.Lock)  # one checkpoint at a time
    saving_since: float | None = None  # monotonic start of the checkpoint being written
    concluded: bool = False  # the final state is being written (by the worker or by stop)
    language: str = field(default_factory=i18n.current)  # of the page that started it
    begun: Part | None = None  # a continued answer's text from its cut version (`begin`)

    def begin(self, part: Part) -> None:
        """Start from the text of the answer this one continues (before any worker runs)."""
        self.begun = part
        self.parts.append(part.text)
        self.chars += len(part.text)

    def append(self, text: str) -> None:
        with self.changed:
            if self.thinking_since is not None and self.thought_s is None:
                self.thought_s = time.monotonic() - self.thinking_since
            if self.steps and self.steps[-1].text_at == self.chars and self.chars:
                text = "\n\n" + text.lstrip("\n")  # the text after a tool step: a new paragraph
            self.parts.append(text)
            self.chars += len(text)
            self.changed.notify_all()

    def add_step(self, step: ToolStep) -> None:
        with self.changed:
            self.steps.append(step)
            self.thoughts.append("")  # wakes followers: something changed
            self.changed.notify_all()

    def step_changed(self) -> None:
        with self.changed:
            self.thoughts.append("")
            self.changed.notify_all()

    def cut_steps(self, stopped: bool) -> None:
        """Steps without a result get one saying they were cut: a call still running when
        the answer was stopped (or interrupted) would otherwise show "running…" for ever."""
        with self.changed:
            for step in self.steps:
                if step.result is not None:
                    continue
                if step.state == WAITING_APPROVAL:
                    step.result = _("Stopped before the call.")
                elif stopped:
                    step.result = _("Stopped while the tool was running; its result was not used.")
                else:
                    step.result = _("Interrupted while the tool was running.")
                if step.running_since is not None:
                    step.seconds = time.monotonic() - step.running_since
                step.state, step.is_error, step.cut = DONE, True, True
            self.changed.notify_all()

    def waiting_step(self) -> ToolStep | None:
        with self.changed:
            return next((s for s in self.steps if s.state == WAITING_APPROVAL), None)

    def append_reasoning(self, text: str) -> None:
        with self.changed:
            if self.thinking_since is None:
                self.thinking_since = time.monotonic()
            self.thoughts.append(text)
            self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return "".join(self.parts)

    def reasoning(self) -> tuple[str, float | None]:
        """The reasoning so far and, once the answer's text began, how long it took."""
        with self.changed:
            return "".join(self.thoughts), self.thought_s

    def received(self) -> int:
        """Pieces received so far (text and reasoning): followers wait for this to grow."""
        return len(self.parts) + len(self.thoughts)

    def answer_parts(self) -> list[Part]:
        """The typed parts to store, in order; [] while the answer is its text alone."""
        reasoning, seconds = self.reasoning()
        with self.changed:
            steps = list(self.steps)
        if not reasoning and not steps:
            return [Part(TEXT, self.text(), dict(self.begun.data))] if self.begun else []
        if seconds is None and self.thinking_since is not None:
            seconds = time.monotonic() - self.thinking_since
        parts = [make_reasoning_part(reasoning, seconds)] if reasoning else []
        text, at = self.text(), 0
        for step in steps:
            if step.text_at > at:
                parts.append(Part(TEXT, text[at : step.text_at]))
                at = step.text_at
            parts += step.parts()
        if at < len(text):
            parts.append(Part(TEXT, text[at:]))
        first = next((i for i, part in enumerate(parts) if part.kind == TEXT), None)
        if self.begun is not None and first is not None:  # where the first text came from
            parts[first] = Part(TEXT, parts[first].text, dict(self.begun.data))
        return parts

    def end(self) -> None:
        with self.changed:
            self.done = True
            self.changed.notify_all()
        self.ended.set()

    def claim_conclusion(self) -> bool:
        """True for the one caller (worker or stop) that writes the final state."""
        with self.changed:
            if self.concluded:
                return False
            self.concluded = True
            return True

    @property
    def phase(self) -> str:
        if self.started_at is None:
            return QUEUED
        return WAITING if self.first_token_s is None else WRITING


@dataclass(frozen=True)
class Progress:
    """What a page says about a live answer, each time counted from its own start."""

    phase: str  # QUEUED, WAITING or WRITING; "elsewhere" for another process's answer
    seconds: float  # in this phase
    ahead: int = 0  # answers before this one in the queue
    problem: str | None = None  # the database cannot be written; the text is safe in memory


ELSEWHERE = "elsewhere"
ProviderLookup = Callable[[Snapshot], Provider]  # the provider an answer's snapshot names


class WorkerPool:
    """Daemon worker threads over one queue whose order a page can read (its place in line).

    Daemon threads: the interpreter does not wait for a generation at exit; the turn manager's
    exit hook writes live answers as interrupted instead.
    """

    def __init__(self, workers: int, run: Callable[[LiveTurn], None]) -> None:
        self._run = run
        self._size = max(1, workers)
        self._queue: deque[LiveTurn] = deque()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, live: LiveTurn) -> None:
        with self._ready:
            if self._closed:
                raise RuntimeError(_("the worker pool is closed"))
            self._queue.append(live)
            if self._idle == 0 and len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"turn-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._ready.notify()

    def ahead_of(self, live: LiveTurn) -> int | None:
        """How many queued answers come before this one; None once a worker has it."""
        with self._ready:
            for index, queued in enumerate(self._queue):
                if queued is live:
                    return index
        return None

    def drain(self) -> list[LiveTurn]:
        """Close the pool; returns the answers still waiting in the queue."""
        with self._ready:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
            self._ready.notify_all()
        return left

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        while True:
            with self._ready:
                self._idle += 1
                while not self._queue and not self._closed:
                    self._ready.wait()
                self._idle -= 1
                if not self._queue:
                    return
                live = self._queue.popleft()
            with i18n.using(live.language):  # its error sentences in the user's language
                try:
                    self._run(live)
                except Exception:  # `_run` ends its answer itself; the thread must live on
                    log.exception("turn %d: a worker failed after its answer", live.answer_id)


def _added(total: Usage | None, more: Usage | None) -> Usage | None:
    """Usage over the requests of one answer (a tool loop makes several)."""
    if total is None or more is None:
        return more or total
    return Usage(
        (total.prompt_tokens or 0) + (more.prompt_tokens or 0),
        (total.completion_tokens or 0) + (more.completion_tokens or 0),
    )


_managers: weakref.WeakSet[TurnManager] = weakref.WeakSet()


@atexit.register
def _at_exit() -> None:
    """SIGTERM, Ctrl+C or a normal exit, in one order: every live answer is written as
    interrupted (text and finished steps kept; nothing new is started), then the tool servers
    close. The other way round, a tool call cut by its closing server ended with a result, the
    worker sent the endpoint a new request and the answer was saved `complete`."""
    for manager in list(_managers):
        manager.shutdown(wait=1.0)
    mcp_hub.close_all()


class TurnManager:
    def __init__(
        self,
        store: Store,
        providers: ProviderLookup,
        *,
        lifecycle: Lifecycle | None = None,
        lane: LaneOf | None = None,
        max_input_chars: int = 32_000,
        workers: int = 4,
        checkpoint_interval: float = 0.5,
        coalesce_interval: float = 0.05,
        redraw_chars_per_s: int = 100_000,
        heartbeat_interval: float = 5.0,
        stale_after: float = STALE_AFTER_S,
        toolbox: Toolbox | None = None,
        takes_tools: Callable[[Snapshot], bool] | None = None,
        titler: Titler | None = None,
    ) -> None:
        self.store = store
        self.titler = titler  # names a chat after its first answer
        self.lifecycle = lifecycle or Lifecycle(store.db, store)
        self._providers = providers
        self.max_input_chars = max_input_chars
        self.checkpoint_interval = checkpoint_interval
        self.coalesce_interval = coalesce_interval
        self.redraw_chars_per_s = redraw_chars_per_s
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.owner = Owner.of_this_process()
        self.toolbox = toolbox
        self.approvals = Approvals(store.db)
        self._takes_tools = takes_tools or (lambda _snapshot: True)
        self._lane = lane or (lambda _snapshot: REMOTE)
        self._pools = {REMOTE: WorkerPool(workers, self._run), LOCAL: WorkerPool(1, self._run)}
        self._live: dict[int, LiveTurn] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._wake = threading.Event()  # the checkpointer has an answer to save now
        self.recover()
        self._heartbeat = threading.Thread(target=self._beat, name="turn-heartbeat", daemon=True)
        self._heartbeat.start()
        _managers.add(self)

    # -- phase 1 --------------------------------------------------------------------------

    def validate(self, text: str) -> str:
        """The text to store (trimmed), or a TurnError saying what to change."""
        cleaned = (text or "").strip()
        if not cleaned:
            raise EmptyMessage(_("Type a message first."))
        if len(cleaned) > self.max_input_chars:
            raise MessageTooLong(
                _(
                    "Your message has {count:,} characters; the limit is "
                    "{max_input_chars:,}. Shorten it or split it into parts. Nothing was "
                    "sent."
                ).format(count=len(cleaned), max_input_chars=self.max_input_chars)
            )
        return cleaned

    def create(
        self,
        conversation_id: int | None,
        text: str,
        snapshot: Snapshot,
        setup: ConversationSetup | None = None,
    ) -> TurnIds:
        """Persist the user message and a pending answer; raises TurnError or NotFound.

        `setup` writes a new conversation's settings in the same transaction. A conversation
        with a live answer refuses (ConversationBusy) after recovering one whose owner died.
        """
        cleaned = self.validate(text)
        if conversation_id is not None:
            self.recover(conversation_id=conversation_id)
        ids = self.lifecycle.create_turn(conversation_id, cleaned, snapshot, setup)
        log.info(
            "turn %d created in conversation %d (provider=%s model=%s)",
            ids.assistant_message_id,
            ids.conversation_id,
            snapshot.provider,
            snapshot.model,
        )
        return ids

    def send(
        self,
        conversation_id: int | None,
        text: str,
        snapshot: Snapshot,
        setup: ConversationSetup | None = None,
    ) -> TurnIds:
        """Create a turn and start its answer: the one path a message takes."""
        ids = self.create(conversation_id, text, snapshot, setup)
        self.start(ids.assistant_message_id, snapshot)
        return ids

    def answer(self, question_id: int, snapshot: Snapshot) -> int:
        """An answer (started) to a user message that has none on screen (a fork's end)."""
        answer_id = self.lifecycle.add_answer(question_id, snapshot)
        self.start(answer_id, snapshot)
        return answer_id

    def regenerate(self, answer_id: int, snapshot: Snapshot) -> int:
        """A new version of an answer (also Retry after an error), started; the old one stays."""
        old = self.store.get_message(answer_id)
        if old.role != "assistant" or old.reply_to is None:
            raise NotFound(_("Message {answer_id} is not an answer.").format(answer_id=answer_id))
        self.recover(conversation_id=old.conversation_id)
        new_id = self.lifecycle.add_answer(old.reply_to, snapshot)
        log.info("turn %d created as a new version of turn %d", new_id, answer_id)
        self.start(new_id, snapshot)
        return new_id

    def continue_answer(self, answer_id: int, snapshot: Snapshot) -> int:
        """Continue an answer cut at its length limit: a new version that starts with its text
        and asks the model to go on (see `CONTINUED_FROM`), started; the cut one stays."""
        old = self.store.get_message(answer_id)
        if not continuable(old) or old.reply_to is None:
            raise InvalidInput(_("Only an answer cut at its length limit can be continued."))
        self.recover(conversation_id=old.conversation_id)
        begun = Part(TEXT, old.content, {CONTINUED_FROM: old.id, BEGUN_CHARS: len(old.content)})
        new_id = self.lifecycle.add_answer(old.reply_to, snapshot, begun)
        log.info("turn %d created to continue turn %d", new_id, answer_id)
        self.start(new_id, snapshot, begun)
        return new_id

    def edit(self, user_message_id: int, text: str, snapshot: Snapshot) -> TurnIds:
        """Save an edited user message as a new branch beside the original, and start its
        answer; the original branch stays as it was (and keeps streaming if it does)."""
        cleaned = self.validate(text)
        ids = self.lifecycle.edit_turn(user_message_id, cleaned, snapshot)
        log.info(
            "turn %d created as an edit of message %d", ids.assistant_message_id, user_message_id
        )
        self.start(ids.assistant_message_id, snapshot)
        return ids

    # -- phase 2 --------------------------------------------------------------------------

    def start(
        self, answer_id: int, snapshot: Snapshot | None = None, begun: Part | None = None
    ) -> LiveTurn:
        """Claim a pending answer and queue it for a worker of its lane (`snapshot`, and the
        text a continued answer starts with: the answer's, when the caller has them;
        otherwise they are read)."""
        if snapshot is None:
            pending = self.store.get_message(answer_id)
            snapshot, begun = pending.snapshot, begun_part(pending)
        if not self.lifecycle.claim(answer_id, self.owner, time.time()):
            raise AlreadyClaimed(_("This answer is already being written (maybe in another tab)."))
        live = LiveTurn(answer_id, self._lane(snapshot))
        if begun is not None:
            live.begin(begun)
        with self._lock:
            self._live[answer_id] = live
        log.info("turn %d claimed by %s", answer_id, self.owner)
        try:
            self._pools[live.lane].submit(live)
        except RuntimeError:  # shutting down: no worker will take it; it ends as interrupted
            self._conclude(live, self._interrupted(live))
        return live

    def start_pending(self, conversation_id: int) -> list[int]:
        """Start answers left pending (a page closed between create and start)."""
        started = []
        for answer_id in self.lifecycle.pending_answers(conversation_id):
            try:
                self.start(answer_id)
                started.append(answer_id)
            except AlreadyClaimed:
                continue
        return started

    def stop(self, answer_id: int, wait: float = 1.0) -> bool:
        """Stop an answer, never writing text this process does not have.

        Live here: cancel the generation, keep the partial text. Pending: end it (nothing was
        written). Streaming elsewhere: ask its owner, or, if the owner's process is gone,
        recover it as interrupted with its text. True if the answer was live.
        """
        with self._lock:
            live = self._live.get(answer_id)
        if live is None:
            return self._stop_elsewhere(answer_id)
        live.cancel.set()
        stream = live.stream
        if stream is not None:
            stream.close()
        with live.changed:
            ended = live.changed.wait_for(lambda: live.done, timeout=wait)
        if not ended and live.claim_conclusion():
            # The worker is blocked in a read (a silent server); a closed socket does not always
            # wake it. Write the stopped state now, from a thread of its own (the write may be
            # retried); the worker's late result is discarded.
            result = self._result(live, "stopped", "stopped")
            threading.Thread(
                target=self._write_final, args=(live, result), name="turn-stop", daemon=True
            ).start()
            log.info("turn %d stopped while its provider was silent", answer_id)
        return True

    def _stop_elsewhere(self, answer_id: int) -> bool:
        stopped = FinalResult("stopped", "", "stopped")
        if self.lifecycle.end_pending(answer_id, stopped):
            log.info("turn %d stopped before it started", answer_id)
            return True
        if self.recover(answer_id=answer_id):
            return True
        if self.lifecycle.request_stop(answer_id):
            log.info("turn %d: asked its owner to stop it", answer_id)
            return True
        return False

    def is_live(self, answer_id: int) -> bool:
        with self._lock:
            return answer_id in self._live

    def live_turns(self) -> list[int]:
        with self._lock:
            return list(self._live)

    def progress(self, answer_id: int) -> Progress:
        """Where a live answer is: queued (with its place), waiting for a token, or writing."""
        with self._lock:
            live = self._live.get(answer_id)
        now = time.monotonic()
        if live is None:
            return Progress(ELSEWHERE, 0.0)
        phase = live.phase
        if phase == QUEUED:
            ahead = self._pools[live.lane].ahead_of(live)
            return Progress(QUEUED, now - live.queued_at, ahead or 0, self._problem(live, now))
        assert live.started_at is not None
        since = live.first_token_at or live.started_at
        return Progress(phase, now - since, 0, self._problem(live, now))

    @staticmethod
    def _problem(live: LiveTurn, now: float) -> str | None:
        """Why the text is not saved: the last failure, or a checkpoint waiting for a lock
        (said before the busy timeout ends it, which is 5 s by default)."""
        if live.problem is not None:
            return live.problem
        since = live.saving_since
        if since is not None and now - since >= SLOW_SAVE_S:
            return _("The database is busy (another program may be writing to it).")
        return None

    def follow(self, answer_id: int, idle_tick: float = 0.5) -> Iterator[str]:
        """The answer's text so far, then live deltas, coalesced; "" while nothing arrives.

        Empty strings let a page notice a click during a long wait and show `progress`;
        `st.write_stream` ignores them.
        """
        with self._lock:
            live = self._live.get(answer_id)
        if live is None:
            yield from self._follow_stored(answer_id, idle_tick)
            return
        sent = received = shown_chars = 0
        last_yield = 0.0
        while True:
            with live.changed:
                arrived = live.changed.wait_for(
                    lambda n=received: live.received() > n or live.done, idle_tick
                )
            # Coalesce: what arrives within the interval joins this update. A page redraws the
            # whole text at each update, so a long text is redrawn less often (8,000 chunks at
            # full speed: 70 redraws of up to 48 KB before). The wait is for the end only: a
            # fast stream does not wake this thread at every delta. An idle tick (nothing new)
            # is yielded at once, so that the page notices a click in time.
            remaining = self.redraw_interval(shown_chars) - (time.monotonic() - last_yield)
            if arrived and remaining > 0:
                live.ended.wait(remaining)
            with live.changed:
                chunk = "".join(live.parts[sent:])
                sent = len(live.parts)
                received = live.received()
                done = live.done
            if chunk:
                last_yield = time.monotonic()
                shown_chars += len(chunk)
            yield chunk
            if done:
                return

    def decide(self, answer_id: int, call_id: str, decision: str, always: bool = False) -> bool:
        """The user's decision on a tool call waiting for it (from any tab); the worker goes
        on at once when it runs here, within a second when it runs in another process."""
        decided = self.approvals.decide(answer_id, call_id, decision, always)
        with self._lock:
            live = self._live.get(answer_id)
        if live is not None:
            live.decided.set()
        return decided

    def steps(self, answer_id: int) -> list[ToolStep]:
        """A live answer's tool steps so far (empty when none, or not written here)."""
        with self._lock:
            live = self._live.get(answer_id)
        if live is None:
            return []
        with live.changed:
            return [
                ToolStep(**{**vars(step)}) for step in live.steps
            ]  # copies: the worker changes its own

    def reasoning(self, answer_id: int) -> tuple[str, float | None]:
        """A live answer's reasoning so far (empty for none, or when not written here)."""
        with self._lock:
            live = self._live.get(answer_id)
        return live.reasoning() if live is not None else ("", None)

    def redraw_interval(self, shown_chars: int) -> float:
        """Seconds between two updates of a followed answer that already shows this much."""
        return max(self.coalesce_interval, shown_chars / self.redraw_chars_per_s)

    def _follow_stored(self, answer_id: int, idle_tick: float) -> Iterator[str]:
        """Follow an answer this process is not generating (finished, or another process)."""
        sent = 0
        wake = threading.Event()
        while True:
            message = self.store.get_message(answer_id)
            chunk = message.content[sent:]
            sent = len(message.content)
            yield chunk
            if not message.is_live:
                return
            if message.status == "streaming" and self.recover(answer_id=answer_id):
                return
            wake.wait(max(idle_tick, self.checkpoint_interval))

    def recover(
        self, conversation_id: int | None = None, answer_id: int | None = None
    ) -> list[int]:
        """Answers whose owner is gone become interrupted (text kept): all, or one chat's."""
        ids = self.lifecycle.recover(
            time.time() - self.stale_after, conversation_id=conversation_id, answer_id=answer_id
        )
        for recovered in ids:
            log.info("turn %d interrupted: its process is gone; partial text kept", recovered)
        return ids

    def retire(self, then: Callable[[], None] | None = None) -> None:
        """Replaced by a newer manager: live and queued answers finish here, then the heartbeat
        and the workers stop, then `then` runs (closing what the answers use, such as their
        tool servers). Returns at once."""
        threading.Thread(target=self._retire, args=(then,), name="turn-retire", daemon=True).start()

    def _retire(self, then: Callable[[], None] | None) -> None:
        while self.live_turns() and not self._closing.wait(self.heartbeat_interval / 5):
            pass
        self._closing.set()
        self._wake.set()
        for pool in self._pools.values():
            pool.drain()
        # `shutdown` may have cut the wait short: its answers end (as interrupted) first.
        with self._lock:
            running = list(self._live.values())
        for live in running:
            live.ended.wait()
        if then is not None:
            try:
                then()
            except Exception:  # retiring: nothing left to tell anyone
                log.exception("closing a retired manager's resources failed")

    def shutdown(self, wait: float = 2.0) -> None:
        """Interrupt every live generation, writing its text as `interrupted`; stop the workers.

        Used at exit (Ctrl+C) and when the app's services are replaced. Returns within about
        `wait` seconds plus one database write per answer.
        """
        if self._closing.is_set() and not self.live_turns():
            return
        self._closing.set()
        self._wake.set()
        for pool in self._pools.values():
            for live in pool.drain():  # queued: never started, nothing to keep
                self._conclude(live, self._interrupted(live))
        with self._lock:
            running = list(self._live.values())
        for live in running:
            live.cancel.set()
            if live.stream is not None:
                live.stream.close()
        deadline = time.monotonic() + wait
        for live in running:
            with live.changed:
                live.changed.wait_for(
                    lambda live=live: live.done, max(0.0, deadline - time.monotonic())
                )
            if not live.done:
                self._conclude(live, self._interrupted(live))
        for pool in self._pools.values():
            pool.join(max(0.0, deadline - time.monotonic()))

    # -- the worker -----------------------------------------------------------------------

    def _beat(self) -> None:
        """The checkpointer: every live answer's text stored every `checkpoint_interval` (so
        that `kill -9` loses at most about that much), the heartbeat of this owner's answers,
        and stop requests from elsewhere. On this thread, not the workers': a write that waits
        for the disk never keeps a worker from reading its stream. It survives anything."""
        tick = max(0.05, min(self.checkpoint_interval, self.heartbeat_interval))
        last_beat = time.monotonic()
        while not self._closing.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            try:
                self._save_due()
                if time.monotonic() - last_beat >= self.heartbeat_interval:
                    last_beat = time.monotonic()
                    self._heartbeat_once()
            except Exception:  # a bug here must not end the checkpoints of every answer
                log.exception("the checkpointer failed; it goes on")
                self._closing.wait(tick)

    def _save_due(self) -> None:
        with self._lock:
            running = [live for live in self._live.values() if live.started_at is not None]
        for live in running:
            if time.monotonic() - live.saved_at >= self.checkpoint_interval:
                self._checkpoint(live)

    def _heartbeat_once(self) -> None:
        try:
            asked = self.lifecycle.heartbeat(self.owner, self.live_turns(), time.time())
        except StorageError:
            log.warning("heartbeat could not be written", exc_info=True)
            return
        for answer_id in asked:
            log.info("turn %d: another process asked to stop it", answer_id)
            self.stop(answer_id)

    def _save_soon(self, live: LiveTurn) -> None:
        """Ask the checkpointer to store this answer now (its first words, a finished step)."""
        live.saved_at = 0.0
        self._wake.set()

    def _halted(self, live: LiveTurn) -> bool:
        """Stopped, or the process is closing: nothing new (request, tool call) may start."""
        return live.cancel.is_set() or self._closing.is_set()

    def _run(self, live: LiveTurn) -> None:
        answer_id = live.answer_id
        live.started_at = time.monotonic()
        usage: Usage | None = None
        finish_reason: str | None = None
        status, error = "complete", None
        cut_short = False  # ended because of Stop or exit, before the answer was finished
        try:
            if self._halted(live):
                cut_short = True
                return
            answer = self.store.get_message(answer_id)
            snapshot = answer.snapshot
            tools = self._tools(answer)
            _tools, history = self.lifecycle.context_for(answer_id, with_tools=bool(tools))
            messages: list[dict[str, Any]] = (
                [{"role": "system", "content": snapshot.system_prompt}]
                if snapshot.system_prompt
                else []
            ) + history
            if live.begun is not None:  # the cut text as said, then a request to go on
                messages += [
                    {"role": "assistant", "content": live.begun.text},
                    {"role": "user", "content": CONTINUE_INSTRUCTION},
                ]
            provider = self._providers(snapshot)
            offered = [tool.spec() for tool in tools] or None
            limit = self.toolbox.step_limit() if self.toolbox and tools else 0
            rounds = 0
            while True:
                if self._halted(live):  # after a tool step: no new request once stopping
                    cut_short = True
                    break
                request = GenerationRequest(snapshot.model, messages, snapshot.params, offered)
                round_start = live.chars
                calls, usage_now, finish_reason, refused = self._stream_round(
                    live, provider, request
                )
                usage = _added(usage, usage_now)
                if refused:
                    offered, tools = None, []
                    finish_reason = NO_TOOLS_REASON
                if live.cancel.is_set() or not calls or not offered:
                    break
                if rounds >= limit:
                    finish_reason = TOOL_LIMIT_REASON
                    break
                rounds += 1
                said = live.text()[round_start:]
                messages.append(
                    {
                        "role": "assistant",
                        "content": said or None,
                        "tool_calls": [
                            {
                                "id": call.id,
                                "type": "function",
                                "function": {"name": call.function, "arguments": call.arguments},
                            }
                            for call in calls
                        ],
                    }
                )
                for call in calls:
                    if self._halted(live):  # no new tool call once stopping
                        break
                    result = self._run_tool(live, answer, tools, call)
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
                self._save_soon(live)
        except ProviderError as exc:
            if not live.cancel.is_set():
                status, error = "error", exc.user_message
                log.warning("turn %d failed: %s", answer_id, exc.kind)
        except StorageError as exc:  # reading the context failed; the answer has no text yet
            status, error = "error", str(exc)
            log.error("turn %d: storage failed: %s", answer_id, exc)
        except Exception as exc:  # a bug must not leave the turn hanging in `streaming`
            status, error = "error", _unexpected(exc)
            log.exception("turn %d crashed", answer_id)
        finally:
            self._end(live, status, finish_reason, error, usage, cut_short)

    def _end(
        self,
        live: LiveTurn,
        status: str,
        finish_reason: str | None,
        error: str | None,
        usage: Usage | None,
        cut_short: bool,
    ) -> None:
        """The worker's last act: the final state, whatever happened before."""
        try:
            if live.cancel.is_set() or cut_short:
                result = (
                    self._interrupted(live)
                    if self._closing.is_set()
                    else self._result(live, "stopped", "stopped")
                )
            else:
                result = self._result(live, status, finish_reason, error, usage)
        except Exception as exc:  # a bug in building the result: end it with the bare text
            log.exception("turn %d: its result could not be built", live.answer_id)
            result = FinalResult("error", live.text(), error=_unexpected(exc))
        self._conclude(live, result)

    def _tools(self, answer: Message) -> list[ChatTool]:
        """The chat's tools, when the endpoint takes them."""
        if self.toolbox is None or not self._takes_tools(answer.snapshot):
            return []
        return self.toolbox.for_chat(answer.conversation_id)

    def _stream_round(
        self, live: LiveTurn, provider: Provider, request: GenerationRequest
    ) -> tuple[list[ToolCall], Usage | None, str | None, bool]:
        """One request: text and reasoning into the live turn; the tool calls it asked for."""
        asked_at = time.monotonic()
        first_at: float | None = None
        stream = provider.stream(request)
        live.stream = stream
        if live.cancel.is_set():
            stream.close()
        calls = ToolCalls()
        usage: Usage | None = None
        finish_reason: str | None = None
        refused = False
        splitter = ThinkSplitter()  # inline <think>…</think> (Ollama, llama.cpp)
        try:
            for event in stream:
                if live.cancel.is_set():
                    break  # nothing that arrives after Stop is kept
                if first_at is None and isinstance(
                    event, TextDelta | ReasoningDelta | ToolCallDelta
                ):
                    first_at = time.monotonic()
                    self._first_delta(live, first_at - asked_at, first_at)
                if isinstance(event, TextDelta | ReasoningDelta):
                    thought, text = (
                        (event.text, "")
                        if isinstance(event, ReasoningDelta)
                        else splitter.feed(event.text)
                    )
                    if thought:
                        live.append_reasoning(thought)
                    if text:
                        live.append(text)
                elif isinstance(event, ToolCallDelta):
                    calls.add(event)
                elif isinstance(event, ToolsRefused):
                    refused = True
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Finish):
                    finish_reason = event.reason
        finally:
            if first_at is not None:  # this request's writing time, also when it was cut
                live.generating_s += time.monotonic() - first_at
        thought, text = splitter.flush()
        if thought:
            live.append_reasoning(thought)
        if text:
            live.append(text)
        return calls.calls(len(live.steps)), usage, finish_reason, refused

    def _first_delta(self, live: LiveTurn, waited_s: float, at: float) -> None:
        """A request's first delta: the answer's first token when it is the first request's."""
        if live.first_token_s is not None:
            return
        live.first_token_s, live.first_token_at = waited_s, at
        log.info("turn %d first token after %.2f s", live.answer_id, waited_s)
        self._save_soon(live)  # the first words are stored at once

    def _run_tool(
        self, live: LiveTurn, answer: Message, tools: list[ChatTool], call: ToolCall
    ) -> str:
        """Ask (when the policy says so), run, and record one call; returns the result text."""
        assert self.toolbox is not None
        tool = self.toolbox.find(tools, call)
        step = ToolStep(
            call.id,
            tool.server.name if tool else "",
            tool.info.name if tool else call.function,
            call.arguments,
            live.chars,
        )
        live.add_step(step)
        arguments = parse_arguments(call)
        if tool is not None and isinstance(arguments, dict) and tool.policy == ASK:
            decision = self._ask(live, answer, tool, step, arguments)
            if decision is None:  # stopped while waiting: the call is not made
                step.state, step.result, step.is_error = DONE, _("Stopped before the call."), True
                live.step_changed()
                return step.result
            if decision != APPROVE:
                step.state, step.result, step.is_error = (
                    DONE,
                    _("The user declined this call."),
                    True,
                )
                live.step_changed()
                return step.result
        step.state, step.running_since = RUNNING, time.monotonic()
        live.step_changed()
        outcome = (
            self._call_until_stopped(live, lambda: self.toolbox.run(tool, call, arguments))
            if arguments is not None
            else ToolOutcome(bad_arguments(call), True)
        )
        if outcome is None:  # stopped while it ran: the step says so when the answer ends
            log.info("turn %d: stopped during tool %s/%s", live.answer_id, step.server, step.tool)
            return ""
        with live.changed:
            if step.state == DONE:  # Stop ended the answer meanwhile: its record stays
                log.info("turn %d: tool %s/%s ended after Stop; result dropped",
                         live.answer_id, step.server, step.tool)  # fmt: skip
                return step.result or ""
            step.result, step.is_error = outcome.text, outcome.is_error
            step.seconds, step.media = outcome.seconds, outcome.media
            step.state = DONE
        live.step_changed()
        log.info(
            "turn %d: tool %s/%s %s in %.3f s",
            live.answer_id,
            step.server,
            step.tool,
            "failed" if step.is_error else "done",
            step.seconds or 0.0,
        )
        return outcome.text

    def _call_until_stopped(
        self, live: LiveTurn, run: Callable[[], ToolOutcome]
    ) -> ToolOutcome | None:
        """The call's outcome, or None as soon as the answer is stopped (Stop, exit) while the
        tool runs. The call goes on in a thread of its own until the tool answers or times out
        (its result is dropped): the worker ends the answer at once instead of waiting up to
        the call's timeout (60 s) with the answer shown as still running."""
        box: list[ToolOutcome] = []
        finished = threading.Event()

        def call() -> None:
            try:
                box.append(run())
            except Exception as exc:  # a bug in the call: a result saying so, never a hang
                log.exception("turn %d: a tool call failed", live.answer_id)
                box.append(ToolOutcome(_unexpected(exc), True))
            finally:
                finished.set()
                if not box or live.cancel.is_set():
                    log.info("turn %d: a tool call ended after Stop; result dropped",
                             live.answer_id)  # fmt: skip

        context = contextvars.copy_context()  # the page's language for its sentences
        threading.Thread(
            target=context.run, args=(call,), name=f"tool-{live.answer_id}", daemon=True
        ).start()
        while not finished.wait(TOOL_POLL_S):
            if live.cancel.is_set():
                return None
        return box[0]

    def _ask(
        self,
        live: LiveTurn,
        answer: Message,
        tool: ChatTool,
        step: ToolStep,
        arguments: dict[str, Any],
    ) -> str | None:
        """Store the call as waiting and wait for the decision (None: stopped meanwhile)."""
        assert self.toolbox is not None
        step.state = WAITING_APPROVAL
        asked_at = time.monotonic()
        # Here the worker writes itself (no words are streaming): the call is stored before
        # the question, so that a page that sees the question also finds the call.
        self._checkpoint(live)
        self.approvals.request(live.answer_id, step.call_id, step.server, step.tool, arguments)
        live.step_changed()
        while not live.cancel.is_set() and not self._closing.is_set():
            live.decided.wait(APPROVAL_POLL_S)
            live.decided.clear()
            try:
                approval = self.approvals.get(live.answer_id, step.call_id)
            except StorageError:
                continue  # the text is in memory; look again
            if approval is not None and approval.decision is not None:
                step.waited_s = time.monotonic() - asked_at
                if approval.always:
                    self.toolbox.allow_always(answer.conversation_id, tool.info.key)
                return approval.decision
        return None

    def _checkpoint(self, live: LiveTurn) -> None:
        """Store the text so far if it grew; a failure is remembered, never raised (the text
        is in memory). The checkpointer calls this, and a worker before it waits for an approval;
        the lock keeps them in order."""
        with live.saving:
            text = live.text()
            parts = live.answer_parts()
            size = len(text) + sum(len(part.text) for part in parts)
            live.saved_at = time.monotonic()
            if size == live.saved_chars or live.concluded:
                return
            live.saving_since = live.saved_at
            try:
                asked = self._store_checkpoint(live, text, parts)
            except StorageError as exc:
                if live.problem is None:
                    log.warning("turn %d: checkpoint failed (text kept): %s", live.answer_id, exc)
                live.problem = str(exc)
                return
            except Exception as exc:  # a bug: remembered like a storage failure, text kept
                if live.problem is None:
                    log.exception("turn %d: checkpoint failed (text kept)", live.answer_id)
                live.problem = _unexpected(exc)
                return
            finally:
                live.saving_since = None
            live.saved_chars = size
            live.problem = None
        if asked:
            log.info("turn %d: another process asked to stop it", live.answer_id)
            live.cancel.set()
            if live.stream is not None:
                live.stream.close()

    def _store_checkpoint(self, live: LiveTurn, text: str, parts: list[Part]) -> bool:
        try:
            return self.lifecycle.checkpoint(live.answer_id, self.owner, text, time.time(), parts)
        except UnicodeEncodeError:  # a lone surrogate from a source nobody repaired
            log.warning("turn %d: text SQLite cannot encode; storing it repaired", live.answer_id)
            return self.lifecycle.checkpoint(
                live.answer_id, self.owner, repaired(text), time.time(), _repaired_parts(parts)
            )

    def _result(
        self,
        live: LiveTurn,
        status: str,
        finish_reason: str | None,
        error: str | None = None,
        usage: Usage | None = None,
    ) -> FinalResult:
        started = live.started_at or live.queued_at
        if status in ("stopped", "interrupted"):
            live.cut_steps(stopped=status == "stopped")
        return FinalResult(
            status=status,
            content=live.text(),
            parts=live.answer_parts() or None,
            finish_reason=finish_reason,
            error=error,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            first_token_s=live.first_token_s,
            total_s=time.monotonic() - started,
            generation_s=live.generating_s if live.first_token_s is not None else None,
        )

    def _interrupted(self, live: LiveTurn) -> FinalResult:
        return self._result(live, "interrupted", None, _(INTERRUPTED_TEXT))

    def _conclude(self, live: LiveTurn, result: FinalResult) -> None:
        """Write the final state once (retrying), release the turn and wake its followers."""
        if live.claim_conclusion():
            self._write_final(live, result)

    def _write_final(self, live: LiveTurn, result: FinalResult) -> None:
        """Write the final state, retrying until it is written (at exit: for a moment); then
        release the answer and wake its followers. Never raises."""
        try:
            self._write_final_state(live, result)
        except Exception:  # a bug after the write; the followers must still wake
            log.exception("turn %d: ending it failed", live.answer_id)
        finally:
            with self._lock:
                self._live.pop(live.answer_id, None)
            live.end()

    def _write_final_state(self, live: LiveTurn, result: FinalResult) -> None:
        delay = RETRY_FIRST_S
        give_up_at = None
        repairing = False
        while True:
            try:
                if not self.lifecycle.finish(live.answer_id, self.owner, result):
                    log.warning("turn %d was ended by another process first", live.answer_id)
                live.problem = None
                break
            except StorageError as exc:
                if live.problem is None:
                    log.warning("turn %d: final write failed, retrying: %s", live.answer_id, exc)
                live.problem = str(exc)
            except UnicodeEncodeError as exc:  # a lone surrogate nobody repaired
                if not repairing:
                    log.warning("turn %d: text SQLite cannot encode; repaired", live.answer_id)
                    result, repairing = _repaired_result(result), True
                    continue
                if live.problem is None:
                    log.exception("turn %d: final write failed, retrying", live.answer_id)
                live.problem = _unexpected(exc)
            except Exception as exc:  # a bug: retried like a storage failure, text kept
                if live.problem is None:
                    log.exception("turn %d: final write failed, retrying", live.answer_id)
                live.problem = _unexpected(exc)
            if self._closing.is_set():
                # At exit, try for a moment; an answer left `streaming` by a process that is
                # gone is recovered (text as of the last checkpoint) at the next start.
                give_up_at = give_up_at or time.monotonic() + 1.0
                if time.monotonic() > give_up_at:
                    log.error("turn %d: final write failed at exit", live.answer_id)
                    break
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        if result.status == "complete" and self.titler is not None and live.problem is None:
            # Before the followers wake: a page that draws the end sees the title pending.
            self.titler.after_answer(live.answer_id)
        log.info(
            "turn %d %s: %s tokens, %.2f s",
            live.answer_id,
            result.status,
            result.completion_tokens if result.completion_tokens is not None else "?",
            result.total_s or 0.0,
        )


def _unexpected(exc: BaseException) -> str:
    return _("Unexpected error ({name}). See the server log.").format(name=type(exc).__name__)


def _repaired_parts(parts: list[Part] | None) -> list[Part] | None:
    """The parts with every text in them repaired (`clean_text.repaired`)."""
    if parts is None:
        return None
    return [Part(part.kind, repaired(part.text), _repaired_value(part.data)) for part in parts]


def _repaired_value(value: Any) -> Any:
    if isinstance(value, str):
        return repaired(value)
    if isinstance(value, dict):
        return {_repaired_value(k): _repaired_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_repaired_value(item) for item in value]
    return value


def _repaired_result(result: FinalResult) -> FinalResult:
    """A final result SQLite can store: its texts repaired."""
    return replace(
        result,
        content=repaired(result.content),
        parts=_repaired_parts(result.parts),
        error=repaired(result.error) if result.error else result.error,
        finish_reason=repaired(result.finish_reason) if result.finish_reason else None,
    )
