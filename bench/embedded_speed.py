"""Embedded model speed: raw llama-cpp-python vs. the app's turn path, same prompt, one run.

Prints time to first token and tokens/s (after the first token) for each, interleaved over a
few rounds, and their ratio. Not part of the test suite: numbers, not pass/fail.

    python bench/embedded_speed.py [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import find_bundled_model
from assistant.db import Database
from assistant.providers import LocalModel
from assistant.store import Snapshot, Store
from assistant.turns import TurnManager

PROMPT = "Write a short paragraph about why the sky is blue."


def raw_run(llm, max_tokens: int) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = None
    tokens = 0
    for chunk in llm.create_chat_completion(
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        max_tokens=max_tokens,
        temperature=0.0,
    ):
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            if first is None:
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    return first or total, (tokens - 1) / (total - (first or 0)), tokens


def app_run(turns: TurnManager, store: Store, max_tokens: int) -> tuple[float, float, int]:
    snapshot = Snapshot("local", "smollm2", {"max_tokens": max_tokens, "temperature": 0.0}, "")
    ids = turns.create(None, PROMPT, snapshot)
    turns.start(ids.assistant_message_id)
    for _ in turns.follow(ids.assistant_message_id):  # what the page consumes
        pass
    answer = store.get_message(ids.assistant_message_id)
    generating = answer.total_s - answer.first_token_s
    tokens = answer.completion_tokens
    return answer.first_token_s, (tokens - 1) / generating, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    model = LocalModel(find_bundled_model(), n_ctx=2048)
    started = time.perf_counter()
    llm = model.load()
    load_s = time.perf_counter() - started
    print(f"model: {model.label}; load {load_s:.2f} s; {model.threads} threads")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Database(Path(folder) / "bench.db"))
        turns = TurnManager(store, lambda _p: model)
        raw_results, app_results = [], []
        raw_run(llm, 8)  # warm-up
        for _ in range(args.rounds):
            raw_results.append(raw_run(llm, args.max_tokens))
            app_results.append(app_run(turns, store, args.max_tokens))
        turns.shutdown()

    def summary(results):
        ttft = statistics.median(r[0] for r in results)
        speed = statistics.median(r[1] for r in results)
        tokens = statistics.median(r[2] for r in results)
        return ttft, speed, tokens

    raw, app = summary(raw_results), summary(app_results)
    print(f"{'path':<28}{'first token':>14}{'tokens/s':>12}{'tokens':>9}")
    for name, (ttft, speed, tokens) in (
        ("raw llama-cpp-python", raw),
        ("app (TurnManager + follow)", app),
    ):
        print(f"{name:<28}{ttft * 1000:>11.0f} ms{speed:>12.1f}{tokens:>9.0f}")
    ratio = app[1] / raw[1]
    print(f"app / raw tokens/s: {ratio:.2f}   (medians of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
