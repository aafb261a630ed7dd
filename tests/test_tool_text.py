"""Repairs for what a tool server sends (assistant/clean_text.py): text, and raw protocol
lines checked against the SDK's own parser (the one that refused them)."""

from __future__ import annotations

import mcp_types
import pytest

from assistant.clean_text import JsonLineRepair, repaired, repaired_json

LINE = b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"%s"}]}}'


def parsed(line: bytes) -> str:
    """The text the SDK reads from a tools/call answer (raises where the SDK refuses)."""
    message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    return message.result["content"][0]["text"]


def test_repaired_text_replaces_lone_surrogates_joins_pairs_and_drops_controls():
    assert repaired("a\ud83d\ude00b\ud83dc\udc00") == "a\U0001f600b\ufffdc\ufffd"
    assert repaired("bell\x07 nul\x00 esc\x1b c1\x85\x9f") == "bell nul esc c1"
    assert repaired("lines\nand\ttabs\r\n") == "lines\nand\ttabs\r\n"
    text = "plain text, 中文, é, \U0001f600"
    assert repaired(text) is text  # nothing to do: the same object, no copy


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        (rb"\ud83d", "\ufffd"),  # a lone high surrogate
        (rb"x\udc00y", "x\ufffdy"),  # a lone low one
        (rb"\ud83d\ud83d\ude00", "\ufffd\U0001f600"),  # one lone, then a pair
        (rb"\uD83D\uDE00\uDE00", "\U0001f600\ufffd"),  # a pair, then a lone one (upper case)
        (b"a\xffb\xed\xa0\xbd", "a\ufffdb\ufffd\ufffd\ufffd"),  # not UTF-8
        (b"raw\x07bell", "rawbell"),  # a raw control inside a string is dropped
        (b"raw\ttab\rcr", "raw\ttab\rcr"),  # raw tab and CR become escapes
        (rb"quote\"\ud83d", 'quote"\ufffd'),
    ],
)
def test_a_line_the_sdk_refused_is_repaired_so_it_parses(sent, read):
    with pytest.raises(ValueError):
        parsed(LINE % sent)
    assert parsed(repaired_json(LINE % sent)) == read


@pytest.mark.parametrize(
    "sent",
    [
        rb"\ud83d\ude00",  # a pair
        rb"\\ud83d",  # an escaped backslash, then the letters ud83d: not an escape
        rb"\\\\",
        rb"\u0007\u0085",  # escaped controls are valid JSON (the text is repaired later)
        "中文 é".encode(),
        rb"line\nbreak",
    ],
)
def test_a_valid_line_comes_back_unchanged_byte_for_byte(sent):
    line = LINE % sent + b"\r\n"
    assert repaired_json(line) == line


def test_a_stream_cut_anywhere_gives_the_same_lines():
    stream = LINE % rb"\ud83d" + b"\r\n" + LINE % b"a\xffb" + b"\n" + LINE % b"ok"
    whole = repaired_json(LINE % rb"\ud83d") + b"\r\n" + repaired_json(LINE % b"a\xffb") + b"\n"
    whole += LINE % b"ok"
    for size in (1, 2, 5, 64, len(stream)):
        repair = JsonLineRepair(b"\r\n")
        pieces = [repair.feed(stream[i : i + size]) for i in range(0, len(stream), size)]
        assert b"".join(pieces) + repair.flush() == whole
    repair = JsonLineRepair()
    assert repair.feed(b'{"a":') == b""  # a partial line waits for its end
    assert repair.feed(b"1}\n{") == b'{"a":1}\n'
    assert repair.flush() == b"{"
