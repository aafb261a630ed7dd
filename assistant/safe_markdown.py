"""Markdown the page may render without the browser fetching anything, and plain-text labels.

Local-first: a Markdown image (`![alt](http://host/p.png?d=…)`) in an answer, a message or a
title would make the browser request that URL on every render, which a prompt-injected answer
can use to send data out. `without_images` turns every image into a link that shows its URL
(the HTML export's policy); nothing else in the text changes, code included. `plain` escapes
Markdown so that user data (titles, names) is shown exactly as typed, never interpreted.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt

from assistant.clean_text import repaired
from assistant.i18n import _

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&])")  # Streamlit's Markdown too
_COMMONMARK_INLINE = re.compile(r"([\\`*_\[\]!|~<>])")  # enough mid-line in a plain file
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.M)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_IMAGE_START = "!["


def plain(text: str) -> str:
    """User text shown inside Markdown as typed (no emphasis, links, images, LaTeX, emoji).

    A lone surrogate (from a file or a server that split a pair) becomes U+FFFD: Streamlit
    cannot send it to the browser, and the page would show its error screen instead."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", repaired(text))


def plain_inline(text: str) -> str:
    """User text inside one line of a Markdown *file* (an export): no emphasis, links, images
    or HTML, with fewer backslashes than `plain` so that the file stays readable as text."""
    return _COMMONMARK_INLINE.sub(r"\\\1", text)


def without_images(text: str) -> str:
    """The same Markdown with every image turned into a link that shows its URL."""
    if _IMAGE_START not in text:
        return text  # the common case costs one substring search
    pieces = []
    for is_code, piece in _split_code(text):
        pieces.append(piece if is_code else _rewrite_images(piece))
    rewritten = "".join(pieces)
    if _has_image(rewritten):  # the code split misjudged something: neutralize every image
        return rewritten.replace(_IMAGE_START, "!\\[")
    return rewritten


def _split_code(text: str) -> list[tuple[bool, str]]:
    """(is_code, piece) in order: fenced blocks and inline code spans are left as they are."""
    out: list[tuple[bool, str]] = []
    position = 0
    while position < len(text):
        fence = _FENCE.search(text, position)
        prose_end = fence.start() if fence else len(text)
        out.extend(_split_spans(text[position:prose_end]))
        if fence is None:
            break
        marker = fence.group(1)
        close = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.M)
        line_end = text.find("\n", fence.end())
        body_start = len(text) if line_end < 0 else line_end + 1
        closing = close.search(text, body_start)
        end = len(text) if closing is None else closing.end()
        out.append((True, text[fence.start() : end]))
        position = end
    return out


def _split_spans(prose: str) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    position = 0
    for span in _CODE_SPAN.finditer(prose):
        out.append((False, prose[position : span.start()]))
        out.append((True, span.group(0)))
        position = span.end()
    out.append((False, prose[position:]))
    return out


def _rewrite_images(prose: str) -> str:
    out: list[str] = []
    position = 0
    while True:
        start = prose.find(_IMAGE_START, position)
        if start < 0:
            out.append(prose[position:])
            return "".join(out)
        if start > 0 and prose[start - 1] == "\\":  # `\![` is already text
            out.append(prose[position : start + 2])
            position = start + 2
            continue
        out.append(prose[position:start])
        alt_end = _closing(prose, start + 1, "[", "]")
        inline = (
            alt_end is not None
            and alt_end + 1 < len(prose)
            and prose[alt_end + 1] == "("
            and _closing(prose, alt_end + 1, "(", ")")
        )
        if alt_end is not None and inline:
            alt = prose[start + 2 : alt_end]
            destination = prose[alt_end + 2 : inline].strip()
            url = destination.split()[0].strip("<>") if destination else ""
            out.append(_as_link(alt, url))
            position = inline + 1
        else:  # a reference image or something odd: make it text that cannot be an image
            out.append("!\\[")
            position = start + 2


def _closing(text: str, opening: int, left: str, right: str) -> int | None:
    """The index of the bracket closing the one at `opening` (escapes and nesting counted)."""
    depth = 0
    index = opening
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == left:
            depth += 1
        elif char == right:
            depth -= 1
            if depth == 0:
                return index
        elif char == "\n" and index + 1 < len(text) and text[index + 1] == "\n":
            return None  # a blank line ends the paragraph
        index += 1
    return None


def _as_link(alt: str, url: str) -> str:
    label = plain(
        _("image: {alt} ({url})").format(alt=alt.strip() or "untitled", url=url) if url else "image"
    )
    if not url:
        return label
    return f"[{label}](<{url.replace('>', '%3E')}>)"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _has_image(text: str) -> bool:
    if _IMAGE_START not in text:
        return False
    for token in _parser().parse(text):
        for child in token.children or ():
            if child.type == "image":
                return True
    return False
