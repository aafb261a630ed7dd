"""The embedded model: the real SmolLM2-135M GGUF through llama-cpp-python."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import find_bundled_model
from assistant.errors import ProviderError
from assistant.providers import GenerationRequest, LocalModel
from assistant.providers.base import Finish, TextDelta, Usage
from assistant.store import Snapshot
from assistant.turns import TurnManager

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model() -> LocalModel:
    local = LocalModel(find_bundled_model(), n_ctx=1024)
    local.load()
    return local


def test_streams_a_few_real_tokens(model):
    request = GenerationRequest(
        "smollm2",
        [{"role": "user", "content": "Say hello."}],
        {"max_tokens": 8, "temperature": 0.0},
    )
    events = list(model.stream(request))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    usage = next(e for e in events if isinstance(e, Usage))
    assert text.strip()
    assert 1 <= usage.completion_tokens <= 8
    assert usage.prompt_tokens > 0
    assert isinstance(events[-1], Finish) and events[-1].reason in ("stop", "length")


def test_close_stops_generation_early(model):
    request = GenerationRequest(
        "smollm2", [{"role": "user", "content": "Count to one hundred."}], {"max_tokens": 200}
    )
    stream = model.stream(request)
    received = []
    for event in stream:
        if isinstance(event, TextDelta):
            received.append(event.text)
            if len(received) == 3:
                stream.close()
    assert len(received) == 3


def test_a_turn_with_the_embedded_model_completes(model, store):
    turns = TurnManager(store, lambda _p: model)
    try:
        ids = turns.create(None, "Hello", Snapshot("local", "smollm2", {"max_tokens": 16}, ""))
        turns.start(ids.assistant_message_id)
        text = "".join(turns.follow(ids.assistant_message_id))
        answer = store.get_message(ids.assistant_message_id)
    finally:
        turns.shutdown()
    assert answer.status == "complete"
    assert answer.content == text and text.strip()
    assert answer.completion_tokens and answer.first_token_s is not None


def test_long_history_is_trimmed_to_fit_the_context(model):
    history = []
    for i in range(40):
        history.append({"role": "user", "content": f"question {i} " + "word " * 40})
        history.append({"role": "assistant", "content": f"answer {i} " + "word " * 40})
    messages = [{"role": "system", "content": "Be brief."}, *history]
    messages.append({"role": "user", "content": "last question"})
    kept, budget = model.fit_context(messages, max_tokens=256)
    assert kept[0]["content"] == "Be brief."
    assert kept[-1]["content"] == "last question"
    assert len(kept) < len(messages)
    assert kept[-2]["content"].startswith("answer 39")  # newest history kept first
    assert budget == 256


def test_a_message_longer_than_the_context_is_refused_clearly(model):
    messages = [{"role": "user", "content": "word " * 2000}]
    with pytest.raises(ProviderError, match="too long for the embedded model"):
        model.fit_context(messages, max_tokens=64)


def test_missing_model_file_is_explained(tmp_path: Path):
    with pytest.raises(ProviderError, match="does not exist") as info:
        LocalModel(tmp_path / "nope.gguf").load()
    assert info.value.kind == "model_load"


def test_a_file_that_is_not_gguf_is_explained(tmp_path: Path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model" * 100)
    with pytest.raises(ProviderError, match="could not be loaded"):
        LocalModel(bogus).load()
