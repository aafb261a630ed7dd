"""The OpenAI adapter, using the real `openai` SDK over HTTP against the fake server."""

from __future__ import annotations

import re

import pytest
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario

from assistant.errors import ProviderError
from assistant.providers import GenerationRequest, OpenAICompatProvider
from assistant.providers.base import Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from assistant.store import Snapshot
from assistant.turns import TurnManager

KEY = "sk-test-secret-key-1234567890"


def request(model: str = "gpt-3.5-turbo") -> GenerationRequest:
    return GenerationRequest(model, [{"role": "user", "content": "hi"}], {"temperature": 0.3})


def provider_for(server: FakeOpenAIServer, **kwargs) -> OpenAICompatProvider:
    options = {"timeout": 5.0, "max_retries": 0, **kwargs}
    return OpenAICompatProvider(KEY, server.base_url, **options)


def collect(provider: OpenAICompatProvider, req: GenerationRequest | None = None):
    events = []
    try:
        for event in provider.stream(req or request()):
            events.append(event)
    except ProviderError as exc:
        return events, exc
    return events, None


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_streams_real_chunks_with_usage_and_finish(fake_server):
    fake_server.enqueue(Scenario(chunks=["Hel", "lo", "!"], prompt_tokens=9))
    events, error = collect(provider_for(fake_server))
    assert error is None
    assert text_of(events) == "Hello!"
    assert Usage(9, 3) in events
    assert events[-1] == Finish("stop")
    body = fake_server.completions()[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.3
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert fake_server.completions()[0].headers["authorization"] == f"Bearer {KEY}"


def test_servers_that_reject_stream_options_still_stream(fake_server):
    fake_server.enqueue(
        Scenario(reject_stream_options=True),  # answers the first try with a 400
        Scenario(reject_stream_options=True, chunks=["ok"]),
        Scenario(reject_stream_options=True, chunks=["again"]),
    )
    provider = provider_for(fake_server)
    events, error = collect(provider)
    assert error is None and text_of(events) == "ok"
    events, error = collect(provider)
    assert error is None and text_of(events) == "again"
    bodies = [r.body for r in fake_server.completions()]
    assert "stream_options" in bodies[0]
    assert all("stream_options" not in b for b in bodies[1:])
    assert len(bodies) == 3  # one fallback, then remembered


def test_wrong_key_is_explained_and_the_key_never_shown():
    server = FakeOpenAIServer(api_key="the-right-key").start()
    try:
        _, error = collect(provider_for(server))
    finally:
        server.stop()
    assert error.kind == "auth"
    assert "API key was rejected" in error.user_message
    assert "401" in error.user_message
    assert KEY not in error.user_message


def test_unknown_model_is_explained(fake_server):
    _, error = collect(provider_for(fake_server), request("no-such-model"))
    assert error.kind == "not_found"
    assert "no-such-model" in error.user_message and "404" in error.user_message


def test_rate_limit_is_explained(fake_server):
    fake_server.enqueue(Scenario(status=429, error_message="Rate limit reached"))
    _, error = collect(provider_for(fake_server))
    assert error.kind == "rate_limit"
    assert "429" in error.user_message and "Wait a moment" in error.user_message


def test_rate_limit_is_retried_by_the_sdk_when_retries_are_on(fake_server):
    fake_server.enqueue(Scenario(status=429), Scenario(chunks=["after retry"]))
    events, error = collect(provider_for(fake_server, max_retries=2))
    assert error is None
    assert text_of(events) == "after retry"
    assert len(fake_server.completions()) == 2


def test_server_error_is_explained(fake_server):
    fake_server.enqueue(Scenario(status=500, error_message="kaboom"))
    _, error = collect(provider_for(fake_server))
    assert error.kind == "server"
    assert "internal error (500)" in error.user_message


def test_bad_request_shows_the_servers_reason(fake_server):
    fake_server.enqueue(Scenario(status=400, error_message="max_tokens is too large"))
    _, error = collect(provider_for(fake_server))
    assert error.kind == "bad_request"
    assert "max_tokens is too large" in error.user_message


def test_unreachable_endpoint_is_explained(closed_port):
    provider = OpenAICompatProvider(KEY, f"http://127.0.0.1:{closed_port}/v1", max_retries=0)
    _, error = collect(provider)
    assert error.kind == "connection"
    assert f"127.0.0.1:{closed_port}" in error.user_message
    assert "Is the server running" in error.user_message


def test_timeout_is_explained(fake_server):
    fake_server.enqueue(Scenario(headers_delay=2.0))
    _, error = collect(provider_for(fake_server, timeout=0.5, max_retries=0))
    assert error.kind == "timeout"
    assert re.search(r"did not answer for 0\.[5-9] s\. Retry", error.user_message)


def test_a_timeout_after_retries_states_the_whole_wait(fake_server):
    for _ in range(3):
        fake_server.enqueue(Scenario(headers_delay=2.0))
    _, error = collect(provider_for(fake_server, timeout=0.5, max_retries=2))
    pattern = r"did not answer for ([\d.]+) s \(3 attempts of 0\.5 s each\)"
    found = re.search(pattern, error.user_message)
    assert error.kind == "timeout" and found, error.user_message
    assert float(found.group(1)) >= 1.5  # three waits of 0.5 s, and the backoff between them


def test_stream_cut_half_way_keeps_what_arrived(fake_server):
    fake_server.enqueue(Scenario(chunks=["one ", "two ", "three ", "four"], cut_after=2))
    events, error = collect(provider_for(fake_server))
    assert text_of(events) == "one two "
    assert error.kind == "stream_cut"
    assert "broke off in the middle" in error.user_message


def test_close_from_another_thread_ends_the_stream_quietly(fake_server):
    scenario = Scenario(chunks=["a", "b", "c"], hold_after=1)
    fake_server.enqueue(scenario)
    stream = provider_for(fake_server).stream(request())
    iterator = iter(stream)
    assert next(iterator) == TextDelta("a")
    stream.close()
    scenario.release.set()
    assert list(iterator) == []


def test_models_are_listed(fake_server):
    assert provider_for(fake_server).list_models() == ["fake-model", "gpt-3.5-turbo"]


def test_turn_cut_half_way_through_the_sdk_keeps_partial_text(fake_server, store):
    fake_server.enqueue(Scenario(chunks=["kept ", "text ", "lost"], cut_after=2))
    provider = provider_for(fake_server)
    turns = TurnManager(store, lambda _p: provider, checkpoint_interval=0.0)
    try:
        ids = turns.create(None, "hi", Snapshot("openai", "gpt-3.5-turbo", {}, ""))
        turns.start(ids.assistant_message_id)
        assert "".join(turns.follow(ids.assistant_message_id)) == "kept text "
        answer = store.get_message(ids.assistant_message_id)
        assert (answer.status, answer.content) == ("error", "kept text ")
        assert "broke off" in answer.error
    finally:
        turns.shutdown()


@pytest.mark.parametrize("status", [401, 404, 429, 500])
def test_failed_turns_store_a_message_without_the_key(fake_server, store, status):
    fake_server.enqueue(Scenario(status=status, error_message=f"bad key {KEY}"))
    provider = provider_for(fake_server)
    turns = TurnManager(store, lambda _p: provider)
    try:
        ids = turns.create(None, "hi", Snapshot("openai", "gpt-3.5-turbo", {}, ""))
        turns.start(ids.assistant_message_id)
        "".join(turns.follow(ids.assistant_message_id))
        answer = store.get_message(ids.assistant_message_id)
    finally:
        turns.shutdown()
    assert answer.status == "error" and answer.error
    assert KEY not in store.db.path.read_bytes().decode("latin-1")


# -- what an endpoint sends that is not clean text ----------------------------------------------


def test_an_emoji_split_into_its_utf16_halves_over_two_events_arrives_whole(fake_server):
    """JSON allows a lone surrogate escape; Python never joins two of them by itself."""
    fake_server.enqueue(Scenario(chunks=["Smile ", "\ud83d", "\ude00", "!", "\ud83d"]))
    events, error = collect(provider_for(fake_server))
    assert error is None
    assert text_of(events) == "Smile \U0001f600!\ufffd"  # joined; the last half alone: U+FFFD
    assert events[-1] == Finish("stop")


def test_invalid_utf8_bytes_become_replacement_characters_and_the_answer_goes_on(fake_server):
    # Before: the SDK decoded the event stream strictly and raised UnicodeDecodeError.
    fake_server.enqueue(Scenario(chunks=["Caf", b'"\xe9 au lait, "', b'"\xf0\x9f"', " ok"]))
    events, error = collect(provider_for(fake_server))
    assert error is None
    assert text_of(events) == "Caf\ufffd au lait, \ufffd ok"
    assert events[-1] == Finish("stop")


def test_control_characters_are_removed_whether_escaped_or_raw(fake_server):
    # Escaped (\\u0007) by json.dumps, or raw bytes that json.loads refused before.
    chunks = ["a\x07b\x00", b'"c\x1b[31md\x7f"', "e\x85f\tg\r\n"]
    fake_server.enqueue(Scenario(chunks=chunks))
    events, error = collect(provider_for(fake_server))
    assert error is None
    assert text_of(events) == "abc[31mdef\tg\r\n"


def test_reasoning_and_tool_call_arguments_are_repaired_too(fake_server):
    arguments = '{"m": "\ud83d\ude00\x07"}'  # sent in three pieces, the pair split between two
    fake_server.enqueue(
        Scenario(
            reasoning=["Think \ud83d", "\ude00"],
            chunks=["ok"],
            tool_calls=[{"id": "call_1", "name": "feel", "arguments": arguments}],
        )
    )
    events, error = collect(provider_for(fake_server))
    assert error is None
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert thought == "Think \U0001f600"
    sent = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert sent == '{"m": "\U0001f600"}'


def test_a_character_split_over_two_network_reads_is_decoded_whole():
    from assistant.providers.openai_compat import _clean_bytes

    reads = [b'data: {"c": "\xf0\x9f', b'\x98\x80\xff"}\n\n']  # an emoji cut in two; a bad byte
    assert b"".join(_clean_bytes(iter(reads))).decode() == 'data: {"c": "\U0001f600\ufffd"}\n\n'


def test_the_repairer_joins_halves_over_any_number_of_pieces_and_flushes_a_lone_one():
    from assistant.clean_text import Repairer, repaired

    repairer = Repairer()
    pieces = ["a\ud83d", "\ude00", "\ud83d", "", "\ude01b\x00", "\ud83d"]
    assert "".join(repairer.feed(piece) for piece in pieces) + repairer.flush() == (
        "a\U0001f600\U0001f601b\ufffd"
    )
    assert repaired("\ude00 low first \ud83d") == "\ufffd low first \ufffd"
    text = "plain text, unchanged"
    assert repaired(text) is text


def test_an_answer_with_bad_characters_completes_and_the_chat_takes_the_next_message(
    fake_server, store
):
    """Before: the split emoji killed the worker thread (SQLite cannot encode a lone
    surrogate) and left the answer `streaming` for good; the chat refused every message."""
    fake_server.enqueue(
        Scenario(chunks=["Smile ", "\ud83d", "\ude00", " caf", b'"\xe9\x1b"', "!"]),
        Scenario(chunks=["Fine again."]),
    )
    provider = provider_for(fake_server)
    turns = TurnManager(store, lambda _p: provider)
    snapshot = Snapshot("openai", "gpt-3.5-turbo", {}, "")
    try:
        ids = turns.send(None, "hi", snapshot)
        wait_until(lambda: not turns.is_live(ids.assistant_message_id), timeout=30)
        assert "".join(turns.follow(ids.assistant_message_id)) == "Smile \U0001f600 caf\ufffd!"
        answer = store.get_message(ids.assistant_message_id)
        assert (answer.status, answer.content) == ("complete", "Smile \U0001f600 caf\ufffd!")
        again = turns.send(ids.conversation_id, "and now?", snapshot)
        assert "".join(turns.follow(again.assistant_message_id)) == "Fine again."
        assert store.get_message(again.assistant_message_id).status == "complete"
    finally:
        turns.shutdown()
