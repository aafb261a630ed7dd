"""Text that is safe to store, show and send on: repairs for what a server may send.

Two levels:
- `repaired(text)`: a decoded string. A lone surrogate (half of a UTF-16 pair) cannot be
  encoded as UTF-8, so SQLite, JSON and the browser refuse it: it becomes U+FFFD (a pair that
  arrived as two halves is joined). C0 and C1 control characters other than newline, tab and
  carriage return draw nothing and can confuse a terminal or a model: they are removed.
- `repaired_json(line)`: one raw protocol line (bytes as a server wrote them). The MCP SDK's
  JSON parser refuses a whole line for one bad character and the request it answers never
  resolves, so the line is repaired before it reaches the parser: bytes that are not UTF-8
  become U+FFFD, a `\\uD83D` escape without its pair becomes `\\uFFFD`, and a raw control
  character inside a string (invalid JSON) is escaped or dropped. A line that was valid JSON
  comes back unchanged, byte for byte.

`Repairer` applies `repaired` to a text that arrives in pieces (an endpoint's deltas: an emoji
streamed as its two UTF-16 halves in two events); `JsonLineRepair` applies `repaired_json` to
a byte stream cut anywhere (a pipe, HTTP chunks).
Standard library only: the tool guard imports this module before it starts a server.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# Unicode's "Cc" category (C0, DEL and C1), less the three that text uses.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HIGH_SURROGATES = ("\ud800", "\udbff")
# Left to right: an escaped backslash (kept, so `\\\\uD83D` is not an escape), a high and a
# low surrogate escape in a row (a real pair, kept), or a lone surrogate escape (replaced).
_ESCAPES = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_RAW_CONTROL = re.compile(rb"[\x00-\x1f]")
_RAW_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}


def repaired(text: str) -> str:
    """`text` with lone surrogates as U+FFFD (pairs joined) and C0/C1 controls other than
    \\n, \\t and \\r removed; the same object when there is nothing to repair (the common
    case costs two regex scans)."""
    if _SURROGATE.search(text):
        # UTF-16 joins a high and a low half into their character; a lone half is replaced.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text


class Repairer:
    """`repaired` for a text that arrives in pieces (a stream's deltas): feed each piece, and
    flush at the end (a high surrogate still waiting for its low half becomes U+FFFD)."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        piece, self._held = self._held + piece, ""
        if piece and _HIGH_SURROGATES[0] <= piece[-1] <= _HIGH_SURROGATES[1]:
            piece, self._held = piece[:-1], piece[-1]
        return repaired(piece)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return repaired(held)


def repaired_json(line: bytes) -> bytes:
    """One protocol line, repaired so a strict JSON parser takes it (see the module's
    docstring); the same bytes when it needs nothing."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        line = line.decode("utf-8", "replace").encode("utf-8")
    if _SURROGATE_ESCAPE.search(line):
        line = _ESCAPES.sub(_lone_to_replacement, line)
    if _RAW_CONTROL.search(line.rstrip(b"\r\n")):
        line = _without_raw_controls(line)
    return line


def _lone_to_replacement(match: re.Match[bytes]) -> bytes:
    return b"\\ufffd" if match.group(1) else match.group(0)


def _without_raw_controls(line: bytes) -> bytes:
    r"""Raw control characters are JSON whitespace between tokens (\t \n \r) and invalid
    inside strings: there, \t \r \n become their escapes and the others are dropped (they
    would be removed from the text anyway). A slow path: servers almost never send them."""
    body = line.rstrip(b"\r\n")
    ending = line[len(body) :]
    text = body.decode("utf-8")
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            elif char < " ":
                out.append(_RAW_ESCAPES.get(char, ""))
                continue
        elif char == '"':
            in_string = True
        elif char < " " and char not in _RAW_ESCAPES:
            continue
        out.append(char)
    return "".join(out).encode("utf-8") + ending


class JsonLineRepair:
    """`repaired_json` over a byte stream: complete lines go out at once, a partial one waits
    for its end (a JSON message never contains a raw line break, so cutting at one never splits
    a character or an escape). `breaks`: the bytes that end a line."""

    def __init__(self, breaks: bytes = b"\n") -> None:
        self._pending: list[bytes] = []  # a line in pieces (a long one is not copied per piece)
        self._breaks = [breaks[i : i + 1] for i in range(len(breaks))]
        self._line = re.compile(b"[^" + re.escape(breaks) + b"]*[" + re.escape(breaks) + b"]")

    def feed(self, data: bytes) -> bytes:
        end = max(data.rfind(b) for b in self._breaks) + 1
        if not end:
            self._pending.append(data)
            return b""
        lines = b"".join([*self._pending, data[:end]])
        self._pending = [data[end:]] if end < len(data) else []
        return b"".join(repaired_json(line) for line in self._line.findall(lines))

    def flush(self) -> bytes:
        """The last line, which had no line break (the end of a JSON body)."""
        rest, self._pending = b"".join(self._pending), []
        return repaired_json(rest) if rest else b""
