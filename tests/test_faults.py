"""The answer's life under the faults a user meets, through real processes on one database.

A second app process (`owner_process.py`) generating from the fake OpenAI server over HTTP,
`kill -9` of it, a program holding the write lock (`lock_holder.py`), racing first starts.
After each: every word kept, no answer left `streaming` without a live worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import seed
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario
from lock_holder import HeldLock

from assistant import migrations
from assistant.db import Database
from assistant.lifecycle import Lifecycle, Owner
from assistant.presets import PresetStore
from assistant.profiles import ProfileStore
from assistant.store import FinalResult, Store
from assistant.turns import TurnManager

HERE = Path(__file__).resolve().parent


class OwnerProcess:
    """`owner_process.py` running against the fake server; reads its JSON lines."""

    def __init__(self, db_path: Path, server: FakeOpenAIServer) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "owner_process.py"), str(db_path), server.base_url],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.answer_id = json.loads(self.proc.stdout.readline())["answer_id"]

    def outcome(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.proc.wait(timeout=10)
        return json.loads(line)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def owner_processes() -> Iterator[list[OwnerProcess]]:
    started: list[OwnerProcess] = []
    yield started
    for owner in started:
        if owner.proc.poll() is None:
            owner.proc.kill()
            owner.proc.wait()


def stored(store: Store, answer_id: int):
    return store.get_message(answer_id)


def test_stop_of_an_answer_another_live_process_writes_asks_it_and_erases_nothing(
    db_path, store, manager, fake_server, owner_processes
):
    held = Scenario(chunks=["One ", "two ", "three ", "four."], hold_after=3)
    fake_server.enqueue(held)
    owner = OwnerProcess(db_path, fake_server)
    owner_processes.append(owner)
    wait_until(lambda: stored(store, owner.answer_id).content == "One two three ")

    assert manager.stop(owner.answer_id) is True  # this process does not own it: it asks
    assert stored(store, owner.answer_id).content == "One two three "  # nothing erased
    outcome = owner.outcome()  # the owner saw the request at its heartbeat and stopped
    held.release.set()
    assert outcome == {"status": "stopped", "content": "One two three "}
    answer = stored(store, owner.answer_id)
    assert (answer.status, answer.content) == ("stopped", "One two three ")


def test_an_answer_finished_by_its_owner_is_never_replaced_by_another_process(store, snapshot):
    life = Lifecycle(store.db, store)
    ids = seed.turn(store, None, "q", snapshot)
    winner, loser = Owner.of_this_process(), seed.ELSEWHERE
    assert life.claim(ids.assistant_message_id, winner, time.time())
    assert not life.claim(ids.assistant_message_id, loser, time.time())
    assert not life.end_pending(ids.assistant_message_id, FinalResult("stopped", ""))
    life.checkpoint(ids.assistant_message_id, loser, "not mine", time.time())
    assert not life.finish(ids.assistant_message_id, loser, FinalResult("stopped", ""))
    assert life.finish(ids.assistant_message_id, winner, FinalResult("complete", "300 tokens"))
    assert not life.finish(ids.assistant_message_id, loser, FinalResult("stopped", "late"))
    answer = stored(store, ids.assistant_message_id)
    assert (answer.status, answer.content) == ("complete", "300 tokens")


def test_kill_9_mid_answer_is_recovered_at_once_by_the_next_start_with_its_text(
    db_path, store, fake_provider, fake_server, owner_processes
):
    held = Scenario(chunks=["Kept ", "words ", "lost?"], hold_after=2)
    fake_server.enqueue(held)
    owner = OwnerProcess(db_path, fake_server)
    owner_processes.append(owner)
    wait_until(lambda: stored(store, owner.answer_id).content == "Kept words ")
    owner.kill()
    held.release.set()
    assert stored(store, owner.answer_id).status == "streaming"  # as the crash left it

    restarted = TurnManager(store, lambda _s: fake_provider)  # the default 30 s staleness
    try:
        answer = stored(store, owner.answer_id)
        assert (answer.status, answer.content) == ("interrupted", "Kept words ")
        assert "text so far was kept" in answer.error
    finally:
        restarted.shutdown()


def test_stop_after_a_crash_keeps_the_text_and_a_running_app_repairs_the_chat_at_once(
    db_path, store, manager, fake_server, owner_processes, snapshot, fake_provider
):
    held = Scenario(chunks=["Half ", "an ", "answer"], hold_after=2)
    fake_server.enqueue(held)
    owner = OwnerProcess(db_path, fake_server)
    owner_processes.append(owner)
    wait_until(lambda: stored(store, owner.answer_id).content == "Half an ")
    owner.kill()  # this manager was already running: no start-up recovery helps here
    held.release.set()

    assert manager.stop(owner.answer_id) is True
    answer = stored(store, owner.answer_id)
    assert (answer.status, answer.content) == ("interrupted", "Half an ")
    # The conversation takes the next message at once, not after the heartbeat goes stale.
    fake_provider.enqueue(["fine"])
    ids = manager.send(answer.conversation_id, "and now?", snapshot)
    assert "".join(manager.follow(ids.assistant_message_id, idle_tick=0.05)) == "fine"


def test_a_write_lock_held_mid_answer_delays_the_writes_but_loses_no_word(
    db_path, fake_provider, snapshot
):
    store = Store(Database(db_path, busy_timeout=0.1))
    turns = TurnManager(
        store, lambda _s: fake_provider, checkpoint_interval=0.0, coalesce_interval=0.0
    )
    script = fake_provider.enqueue(["Every ", "word ", "is ", "kept."], hold_after=2)
    try:
        ids = turns.send(None, "q", snapshot)
        assert script.held.wait(5)
        with HeldLock(db_path) as lock:
            script.release.set()
            problem = wait_until(lambda: turns.progress(ids.assistant_message_id).problem)
            assert "busy" in problem or "locked" in problem
            assert turns.is_live(ids.assistant_message_id)  # still ours, text in memory
            lock.release()  # the other program lets go
        wait_until(lambda: not turns.is_live(ids.assistant_message_id))
        answer = store.get_message(ids.assistant_message_id)
        assert (answer.status, answer.content) == ("complete", "Every word is kept.")
    finally:
        turns.shutdown()


RACER = """
import sys
import time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from assistant.db import Database
from assistant.presets import PresetStore
from assistant.profiles import ProfileStore
start = Path(sys.argv[3])
print("ready", flush=True)
while not start.exists():
    time.sleep(0.001)
db = Database(sys.argv[1])
PresetStore(db).ensure_seeded("")
ProfileStore(db).ensure_seeded()
"""


def test_twenty_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    db_path = tmp_path / "new.db"
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(db_path), str(HERE.parent), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    time.sleep(0.5)  # let the interpreters start, so that they really race  # noqa: not sync
    go.touch()
    failures = [
        err for proc in racers if (err := proc.communicate(timeout=60)[1]) or proc.returncode
    ]
    assert failures == []
    db = Database(db_path)
    with db.connect() as conn:
        assert migrations.current_version(conn) == migrations.LATEST_VERSION
        applied = conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
    assert applied == migrations.LATEST_VERSION
    assert len(PresetStore(db).list()) == 4
    assert len(ProfileStore(db).list()) == 2


def _answer_under(
    fault_on, fault_off, expected: str, folder: Path, fake_provider, snapshot
) -> None:
    """An answer streams; the fault starts mid-answer; the text waits in memory; the fault
    ends; the answer is stored whole."""
    store = Store(Database(folder / "app.db", busy_timeout=0.1))
    turns = TurnManager(
        store, lambda _s: fake_provider, checkpoint_interval=0.0, coalesce_interval=0.0
    )
    tail = "the rest " * 40_000  # 360 KB: more than a full disk has room for
    script = fake_provider.enqueue(["Kept ", "words, ", tail], hold_after=2)
    try:
        ids = turns.send(None, "q", snapshot)
        assert script.held.wait(5)
        wait_until(lambda: store.get_message(ids.assistant_message_id).content == "Kept words, ")
        # Idle pooled connections hold the file open for writing, and `mount -o remount,ro`
        # refuses a file system with such files (a disk that fails turns read-only anyway).
        store.db.close()
        fault_on()
        script.release.set()
        problem = wait_until(lambda: turns.progress(ids.assistant_message_id).problem)
        assert expected in problem
        assert turns.is_live(ids.assistant_message_id)
        fault_off()
        wait_until(lambda: not turns.is_live(ids.assistant_message_id), timeout=20)
        answer = store.get_message(ids.assistant_message_id)
        assert (answer.status, answer.content) == ("complete", "Kept words, " + tail)
    finally:
        fault_off()
        turns.shutdown()


def test_a_full_disk_mid_answer_keeps_the_text_until_there_is_room(
    small_disk, fake_provider, snapshot
):
    filler = small_disk / "filler"

    def fill() -> None:
        with filler.open("wb") as out:
            try:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:  # No space left on device: the disk is full
                pass

    _answer_under(
        fill,
        lambda: filler.unlink(missing_ok=True),
        "is full or failing",
        small_disk,
        fake_provider,
        snapshot,
    )


def test_a_read_only_disk_mid_answer_keeps_the_text_until_it_is_writable(
    small_disk, fake_provider, snapshot
):
    def remount(mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(small_disk)], check=True)

    _answer_under(
        lambda: remount("ro"),
        lambda: remount("rw"),
        "cannot be opened for writing",
        small_disk,
        fake_provider,
        snapshot,
    )


def test_text_sqlite_cannot_encode_is_stored_repaired_and_no_thread_dies(
    db_path, fake_provider, snapshot
):
    """A lone surrogate that reached the answer unrepaired (here from a provider that does not
    repair): before, the checkpoint and the final write raised UnicodeEncodeError, the worker
    died and the answer stayed `streaming` for good. Now a repaired copy is stored."""
    store = Store(Database(db_path))
    turns = TurnManager(
        store,
        lambda _s: fake_provider,
        checkpoint_interval=0.0,
        coalesce_interval=0.0,
        heartbeat_interval=0.05,
    )
    script = fake_provider.enqueue(["Smile ", "\ud83d", " and the rest"], hold_after=2)
    try:
        ids = turns.send(None, "q", snapshot)
        answer_id = ids.assistant_message_id
        assert script.held.wait(5)
        wait_until(lambda: stored(store, answer_id).content == "Smile \ufffd")  # a checkpoint
        script.release.set()
        wait_until(lambda: not turns.is_live(answer_id), timeout=20)
        answer = stored(store, answer_id)
        assert (answer.status, answer.content) == ("complete", "Smile \ufffd and the rest")
        assert turns._heartbeat.is_alive()  # the checkpointer went through it too
        fake_provider.enqueue(["fine"])
        again = turns.send(ids.conversation_id, "and now?", snapshot)
        assert "".join(turns.follow(again.assistant_message_id, idle_tick=0.05)) == "fine"
    finally:
        turns.shutdown()


def test_words_keep_arriving_from_memory_while_another_program_holds_the_write_lock(
    db_path, fake_server
):
    """Before: the worker wrote its checkpoints itself and waited the busy timeout at each,
    so with the lock held it read one word per timeout (the screen froze ~14 s of 15). Now
    the checkpointer waits for the disk and the worker reads on; the page hears of the lock."""
    from assistant.providers import OpenAICompatProvider
    from assistant.store import Snapshot

    words = [f"w{n} " for n in range(300)]
    scenario = Scenario(chunks=words, chunk_delay=0.02, hold_after=5)
    fake_server.enqueue(scenario)
    store = Store(Database(db_path, busy_timeout=2.0))
    provider = OpenAICompatProvider("sk-test", fake_server.base_url, max_retries=0)
    turns = TurnManager(store, lambda _s: provider)  # the app's intervals: checkpoints at 0.5 s
    try:
        answer_id = turns.send(
            None, "Count", Snapshot("openai", "gpt-3.5-turbo")
        ).assistant_message_id
        wait_until(lambda: stored(store, answer_id).content == "".join(words[:5]))
        text, problem, longest, at_release = "", None, 0.0, None
        with HeldLock(db_path) as lock:
            scenario.release.set()
            locked_at = last = time.monotonic()
            for chunk in turns.follow(answer_id, idle_tick=0.1):
                now = time.monotonic()
                text += chunk
                if at_release is not None:
                    continue
                if chunk:
                    longest, last = max(longest, now - last), now
                problem = problem or turns.progress(answer_id).problem
                if (text.count(" ") >= 105 and problem) or now - locked_at > 60:
                    lock.release()  # 100 words came while the lock was held (or time is up)
                    at_release = text.count(" ")
        assert at_release is not None and at_release >= 105, (
            f"{at_release} words by the release; longest wait for a word {longest:.1f} s"
        )
        assert problem is not None and "busy" in problem
        answer = stored(store, answer_id)
        assert (answer.status, answer.content) == ("complete", "".join(words))
    finally:
        turns.shutdown()
