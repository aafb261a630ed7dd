"""Text from outside (an endpoint's stream, a model, a tool) made fit to store and show.

Why this exists: a Python string can hold what UTF-8 cannot. JSON allows a lone UTF-16
surrogate as an escape ("\\ud83d"), and an endpoint that streams an emoji as its two UTF-16
halves in two events hands us two strings that Python never joins; SQLite then refuses the
text (UnicodeEncodeError) and the answer cannot be saved. Control characters (a NUL, a
terminal's ESC, C1 codes) are no text a person reads, and some break what they reach.

`repaired` joins surrogate pairs, turns a lone surrogate into U+FFFD (the replacement
character) and removes C0 and C1 control characters except tab, line feed and carriage return.
`Repairer` does the same for a text that arrives in pieces: a high surrogate at the end of one
piece waits for its low half in the next.
"""

from __future__ import annotations

import re

# Unicode's "Cc" category: C0, DEL and C1, less the three that text uses.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SUSPECT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_HIGH_SURROGATES = ("\ud800", "\udbff")


def repaired(text: str) -> str:
    """The text with surrogate pairs joined, lone surrogates replaced by U+FFFD and control
    characters (other than tab, line feed, carriage return) removed; most text comes back as
    it is, unchanged and uncopied."""
    if not _SUSPECT.search(text):
        return text
    # UTF-16 with `surrogatepass` writes each surrogate as its two bytes; decoding joins the
    # pairs into one character and replaces what is left alone.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROLS.sub("", joined)


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
