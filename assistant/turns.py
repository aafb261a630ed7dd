"""The two-phase turn lifecycle: create, then stream (claim, generate, checkpoint, finish).

    create ──► pending ──claim──► streaming ──► complete | stopped | error
                  │                   │
                  └── stop ──► stopped └── process died ──► interrupted (on recovery)

`create` validates the text and writes the user message and a pending answer (with the snapshot
of provider, model, parameters and system prompt) in one transaction; nothing is sent yet.
`start` claims the pending answer with a conditional UPDATE (so two tabs never run one turn
twice) and hands it to a bounded thread pool owned by the process. The worker builds the
context, streams provider events into an in-memory `LiveTurn`, checkpoints the partial text to
SQLite at most every `checkpoint_interval` seconds and writes the final state in one transaction.
Pages only `follow` a turn; a rerun or a closed tab stops following, never the generation. Only
`stop` cancels it. A heartbeat thread marks live answers so that another process can tell them
from ones whose process died (`recover`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from assistant.db import StorageError
from assistant.providers.base import (
    EventStream,
    Finish,
    GenerationRequest,
    Provider,
    ProviderError,
    TextDelta,
    Usage,
)
from assistant.store import (
    ConversationSetup,
    FinalResult,
    Message,
    NotFound,
    Snapshot,
    Store,
    TurnIds,
)

log = logging.getLogger(__name__)


class TurnError(ValueError):
    """A request the user can fix; the message says how. Nothing was sent or lost."""


class EmptyMessage(TurnError):
    pass


class MessageTooLong(TurnError):
    pass


class AlreadyClaimed(TurnError):
    """Another caller (another tab) already started this answer."""


@dataclass
class LiveTurn:
    """The in-memory buffer of an answer being generated in this process."""

    answer_id: int
    parts: list[str] = field(default_factory=list)
    done: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    stream: EventStream | None = None
    started: float = field(default_factory=time.perf_counter)
    first_token_s: float | None = None
    concluded: bool = False  # the final state was written (by the worker or by stop)

    def append(self, text: str) -> None:
        with self.changed:
            self.parts.append(text)
            self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return "".join(self.parts)

    def end(self) -> None:
        with self.changed:
            self.done = True
            self.changed.notify_all()

    def claim_conclusion(self) -> bool:
        """True for the one caller (worker or stop) that writes the final state."""
        with self.changed:
            if self.concluded:
                return False
            self.concluded = True
            return True


ProviderLookup = Callable[[Snapshot], Provider]  # the provider an answer's snapshot names


class TurnManager:
    def __init__(
        self,
        store: Store,
        providers: ProviderLookup,
        *,
        max_input_chars: int = 32_000,
        workers: int = 4,
        checkpoint_interval: float = 0.5,
        coalesce_interval: float = 0.05,
        heartbeat_interval: float = 5.0,
        stale_after: float = 30.0,
    ) -> None:
        self.store = store
        self._providers = providers
        self.max_input_chars = max_input_chars
        self.checkpoint_interval = checkpoint_interval
        self.coalesce_interval = coalesce_interval
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="turn")
        self._live: dict[int, LiveTurn] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.recover()
        self._heartbeat = threading.Thread(target=self._beat, name="turn-heartbeat", daemon=True)
        self._heartbeat.start()

    # -- phase 1 --------------------------------------------------------------------------

    def validate(self, text: str) -> str:
        """The text to store (trimmed), or a TurnError saying what to change."""
        cleaned = (text or "").strip()
        if not cleaned:
            raise EmptyMessage("Type a message first.")
        if len(cleaned) > self.max_input_chars:
            raise MessageTooLong(
                f"Your message has {len(cleaned):,} characters; the limit is "
                f"{self.max_input_chars:,}. Shorten it or split it into parts. Nothing was sent."
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

        `setup` writes a new conversation's settings in the same transaction.
        """
        ids = self.store.create_turn(conversation_id, self.validate(text), snapshot, setup)
        log.info(
            "turn %d created in conversation %d (provider=%s model=%s)",
            ids.assistant_message_id,
            ids.conversation_id,
            snapshot.provider,
            snapshot.model,
        )
        return ids

    def regenerate(self, answer_id: int, snapshot: Snapshot) -> int:
        """A new version of an answer (also Retry after an error); the old one stays."""
        old = self.store.get_message(answer_id)
        if old.role != "assistant" or old.reply_to is None:
            raise NotFound(f"Message {answer_id} is not an answer.")
        new_id = self.store.add_answer(old.reply_to, snapshot)
        log.info("turn %d created as a new version of turn %d", new_id, answer_id)
        self.start(new_id)
        return new_id

    # -- phase 2 --------------------------------------------------------------------------

    def start(self, answer_id: int) -> LiveTurn:
        """Claim a pending answer and generate it in the background."""
        if not self.store.claim(answer_id, self.owner, time.time()):
            raise AlreadyClaimed("This answer is already being written (maybe in another tab).")
        live = LiveTurn(answer_id)
        with self._lock:
            self._live[answer_id] = live
        log.info("turn %d claimed by %s", answer_id, self.owner)
        self._pool.submit(self._run, live)
        return live

    def start_pending(self, conversation_id: int) -> list[int]:
        """Start answers left pending (a page closed between create and start)."""
        started = []
        for answer_id in self.store.pending_answers(conversation_id):
            try:
                self.start(answer_id)
                started.append(answer_id)
            except AlreadyClaimed:
                continue
        return started

    def stop(self, answer_id: int, wait: float = 1.0) -> bool:
        """Cancel a generation, keeping the partial text; True if it was live."""
        with self._lock:
            live = self._live.get(answer_id)
        if live is None:
            # Pending and never started, or finished already: end it if still pending.
            stopped = self.store.finish(answer_id, FinalResult("stopped", "", "stopped"))
            if stopped:
                log.info("turn %d stopped before it started", answer_id)
            return stopped
        live.cancel.set()
        stream = live.stream
        if stream is not None:
            stream.close()
        with live.changed:
            ended = live.changed.wait_for(lambda: live.done, timeout=wait)
        if not ended:
            # The worker is blocked in a read (a silent server); a closed socket does not always
            # wake it. Write the stopped state now; the worker's late result is discarded.
            self._conclude(
                live,
                FinalResult(
                    "stopped",
                    live.text(),
                    "stopped",
                    first_token_s=live.first_token_s,
                    total_s=time.perf_counter() - live.started,
                ),
            )
            log.info("turn %d stopped while its provider was silent", answer_id)
        return True

    def is_live(self, answer_id: int) -> bool:
        with self._lock:
            return answer_id in self._live

    def live_turns(self) -> list[int]:
        with self._lock:
            return list(self._live)

    def follow(self, answer_id: int, idle_tick: float = 0.5) -> Iterator[str]:
        """The answer's text so far, then live deltas, coalesced; "" while nothing arrives.

        Empty strings let a page notice a click during a long wait for the first token;
        `st.write_stream` ignores them.
        """
        with self._lock:
            live = self._live.get(answer_id)
        if live is None:
            yield from self._follow_stored(answer_id, idle_tick)
            return
        sent = 0
        last_yield = 0.0
        while True:
            with live.changed:
                live.changed.wait_for(lambda n=sent: len(live.parts) > n or live.done, idle_tick)
                # Coalesce: gather what arrives within the interval into one update.
                remaining = self.coalesce_interval - (time.monotonic() - last_yield)
                if remaining > 0 and not live.done:
                    live.changed.wait_for(lambda: live.done, remaining)
                chunk = "".join(live.parts[sent:])
                sent = len(live.parts)
                done = live.done
            if chunk:
                last_yield = time.monotonic()
            yield chunk
            if done:
                return

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
            if message.status == "streaming" and self._is_stale(message):
                return
            wake.wait(max(idle_tick, self.checkpoint_interval))

    def _is_stale(self, message: Message) -> bool:
        """A foreign answer whose heartbeat stopped: mark it interrupted (one write, rarely)."""
        stale_before = time.time() - self.stale_after
        if message.heartbeat_at is not None and message.heartbeat_at >= stale_before:
            return False
        return message.id in self.store.recover_interrupted(self.owner, stale_before)

    def recover(self) -> list[int]:
        """Mark answers whose generating process is gone as interrupted (partial text kept)."""
        ids = self.store.recover_interrupted(self.owner, time.time() - self.stale_after)
        for answer_id in ids:
            log.info("turn %d interrupted: its process is gone; partial text kept", answer_id)
        return ids

    def shutdown(self, wait: float = 5.0, join_workers: bool = False) -> None:
        """Stop every live generation (keeping partial text) and the workers.

        `join_workers` also waits for worker threads still blocked in a provider read.
        """
        self._closing.set()
        for answer_id in self.live_turns():
            self.stop(answer_id, wait=wait)
        self._pool.shutdown(wait=join_workers, cancel_futures=True)

    # -- the worker -----------------------------------------------------------------------

    def _beat(self) -> None:
        while not self._closing.wait(self.heartbeat_interval):
            try:
                self.store.heartbeat(self.live_turns(), time.time())
            except StorageError:
                log.warning("heartbeat could not be written", exc_info=True)

    def _run(self, live: LiveTurn) -> None:
        answer_id = live.answer_id
        started = live.started
        first_token: float | None = None
        usage: Usage | None = None
        finish_reason: str | None = None
        status, error = "complete", None
        try:
            if live.cancel.is_set():
                status = "stopped"
                return
            answer, history = self.store.context_for(answer_id)
            snapshot = answer.snapshot
            messages = (
                [{"role": "system", "content": snapshot.system_prompt}]
                if snapshot.system_prompt
                else []
            ) + history
            provider = self._providers(snapshot)
            stream = provider.stream(GenerationRequest(snapshot.model, messages, snapshot.params))
            live.stream = stream
            if live.cancel.is_set():
                stream.close()
            last_checkpoint = time.monotonic()
            for event in stream:
                if live.cancel.is_set():
                    break  # nothing that arrives after Stop is kept
                if isinstance(event, TextDelta):
                    if first_token is None:
                        first_token = live.first_token_s = time.perf_counter() - started
                        log.info("turn %d first token after %.2f s", answer_id, first_token)
                    live.append(event.text)
                    if time.monotonic() - last_checkpoint >= self.checkpoint_interval:
                        self.store.checkpoint(answer_id, live.text(), time.time())
                        last_checkpoint = time.monotonic()
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Finish):
                    finish_reason = event.reason
            if live.cancel.is_set():
                status, finish_reason = "stopped", "stopped"
        except ProviderError as exc:
            if live.cancel.is_set():
                status, finish_reason = "stopped", "stopped"
            else:
                status, error = "error", exc.user_message
                log.warning("turn %d failed: %s", answer_id, exc.kind)
        except StorageError as exc:
            status, error = "error", str(exc)
            log.error("turn %d: storage failed: %s", answer_id, exc)
        except Exception as exc:  # a bug must not leave the turn hanging in `streaming`
            status, error = "error", f"Unexpected error ({type(exc).__name__}). See the server log."
            log.exception("turn %d crashed", answer_id)
        finally:
            self._conclude(
                live,
                FinalResult(
                    status=status,
                    content=live.text(),
                    finish_reason=finish_reason,
                    error=error,
                    prompt_tokens=usage.prompt_tokens if usage else None,
                    completion_tokens=usage.completion_tokens if usage else None,
                    first_token_s=first_token,
                    total_s=time.perf_counter() - started,
                ),
            )

    def _conclude(self, live: LiveTurn, result: FinalResult) -> None:
        """Write the final state once, release the turn and wake its followers."""
        if not live.claim_conclusion():
            return
        status = result.status
        try:
            self.store.finish(live.answer_id, result)
        except StorageError as exc:
            status = "error"
            log.error("turn %d: final write failed: %s", live.answer_id, exc)
        with self._lock:
            self._live.pop(live.answer_id, None)
        live.end()
        log.info(
            "turn %d %s: %s tokens, %.2f s",
            live.answer_id,
            status,
            result.completion_tokens if result.completion_tokens is not None else "?",
            result.total_s or 0.0,
        )
