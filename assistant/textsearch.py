"""Full-text search helpers: what goes into the FTS5 index, how a query is built, snippets.

The index uses FTS5's `unicode61` tokenizer, which splits text at spaces and punctuation. Chinese,
Japanese and Korean are written without spaces between words, so a whole sentence would become
one token and a two-character word inside it could never match. Before text is indexed,
`search_text` puts a zero-width space around every CJK character, which makes each one its own
token; a CJK word in a query becomes a phrase of its characters, and FTS5 phrases only match
adjacent tokens, so "中文" finds "我们学习中文" but not "中国文化". English keeps word tokens,
bm25 ranking and prefix matching. (The trigram tokenizer would also find CJK substrings, but not
words shorter than three characters, and its index is several times larger.)

The database calls `search_text` from its triggers, so every connection registers it
(`register_functions`); `db.Database` and `migrations.migrate` both do.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass

SEARCH_FUNCTION = "assistant_search_text"
ZERO_WIDTH_SPACE = "\u200b"
# Private-use characters mark highlights in snippets: they cannot clash with Markdown or HTML.
HIGHLIGHT_START = "\ue000"
HIGHLIGHT_END = "\ue001"
SNIPPET_TOKENS = 24
CONTEXT_TOKENS = 4  # words shown before the first match in a snippet

_CJK = re.compile(
    "(["
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf"  # CJK Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "\U00020000-\U0002fa1f"  # CJK Extensions B-F and the compatibility supplement
    "])"
)
_QUERY_PART = re.compile(r'"([^"]*)"?|(\S+)')
# What unicode61 calls a token, with every CJK character a token of its own (see above).
_TOKEN = re.compile(_CJK.pattern[1:-1] + r"|(?:(?!" + _CJK.pattern[1:-1] + r")[^\W_])+")
MIN_PREFIX_CHARS = 3


def search_text(text: str | None) -> str:
    """The text as the index sees it: every CJK character set apart as its own token."""
    if not text:
        return ""
    return _CJK.sub(ZERO_WIDTH_SPACE + r"\1" + ZERO_WIDTH_SPACE, text)


MESSAGE_TEXT_FUNCTION = "assistant_message_text"


def message_text(content: str | None, parts: str | None) -> str:
    """What search finds in a message: its text, and the names, arguments and results of its
    tool calls (reasoning is left out: it is not what the answer said)."""
    found = [content or ""]
    if parts:
        try:
            records = json.loads(parts)
        except ValueError:
            records = []
        for record in records if isinstance(records, list) else []:
            if isinstance(record, dict) and record.get("type") in ("tool_call", "tool_result"):
                found += [str(record.get("server") or ""), str(record.get("name") or "")]
                found.append(str(record.get("text") or ""))
    return "\n".join(piece for piece in found if piece)


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function(SEARCH_FUNCTION, 1, search_text, deterministic=True)
    conn.create_function(MESSAGE_TEXT_FUNCTION, 2, message_text, deterministic=True)


@dataclass(frozen=True)
class Term:
    """One part of a query: its tokens in order, and whether the last one is a prefix."""

    tokens: tuple[str, ...]  # as typed, for FTS5 (which normalises them itself)
    keys: tuple[str, ...]  # normalised like the index, for highlighting snippets
    prefix: bool


def parse_query(query: str) -> list[Term]:
    """Plain words match as prefixes once they have three characters; "quoted" text is an
    exact phrase; a CJK word is a phrase of its characters. Operators are just words."""
    terms: list[Term] = []
    for quoted, bare in _QUERY_PART.findall(query):
        term = quoted if quoted else bare
        tokens = tuple(t.group() for t in _TOKEN.finditer(term))
        if not tokens:
            continue
        is_cjk_only = not _CJK.sub("", term).strip()
        prefix = not quoted and not is_cjk_only and len(term) >= MIN_PREFIX_CHARS
        terms.append(Term(tokens, tuple(_normalise(t) for t in tokens), prefix))
    return terms


def _normalise(token: str) -> str:
    """What unicode61 with remove_diacritics compares: case-folded, accents dropped."""
    decomposed = unicodedata.normalize("NFKD", token)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped).casefold()  # NFC rebuilds Hangul syllables


def _phrase(term: str, prefix: bool) -> str:
    quoted = '"' + search_text(term).replace('"', '""') + '"'
    return quoted + " *" if prefix else quoted


def match_query(terms: list[Term]) -> str | None:
    """Parsed terms -> an FTS5 MATCH expression (all terms must occur), or None if empty.

    FTS5 operators typed by the user are treated as words, never as syntax: every term is
    passed as a quoted string.
    """
    phrases = [_phrase(" ".join(term.tokens), term.prefix) for term in terms]
    return " AND ".join(phrases) if phrases else None


def make_snippet(text: str, terms: list[Term], tokens: int = SNIPPET_TOKENS) -> str:
    """The part of `text` with the most matched terms, matches between highlight markers.

    Built in Python from the message text: asking FTS5 for a snippet costs a second MATCH
    per result, and for a common word each of those reads its whole posting list.
    """
    found = list(_TOKEN.finditer(text))
    if not found:
        return text[:200]
    words = [_normalise(m.group()) for m in found]
    spans: list[tuple[int, int]] = []  # token index ranges [first, last] that match a term
    matched_terms: list[set[int]] = [set() for _ in words]
    for number, term in enumerate(terms):
        size = len(term.tokens)
        for index in range(len(words) - size + 1):
            if _term_matches(term, words, index):
                spans.append((index, index + size - 1))
                matched_terms[index].add(number)
    start = _best_window(matched_terms, tokens) if spans else 0
    end = min(len(found), start + tokens) - 1
    pieces = ["…" if start > 0 else ""]
    cursor = found[start].start() if start > 0 else 0
    for first, last in sorted(spans):
        if first < start or last > end or found[first].start() < cursor:
            continue
        pieces.append(text[cursor : found[first].start()])
        pieces.append(HIGHLIGHT_START + text[found[first].start() : found[last].end()])
        pieces.append(HIGHLIGHT_END)
        cursor = found[last].end()
    tail_end = found[end].end() if end < len(found) - 1 else len(text)
    pieces.append(text[cursor:tail_end])
    if end < len(found) - 1:
        pieces.append("…")
    return clean_snippet("".join(pieces))


def _term_matches(term: Term, words: list[str], index: int) -> bool:
    *whole, last = term.keys
    for offset, token in enumerate(whole):
        if words[index + offset] != token:
            return False
    candidate = words[index + len(whole)]
    return candidate.startswith(last) if term.prefix else candidate == last


def _best_window(matched_terms: list[set[int]], size: int) -> int:
    """Start of the `size`-token window with the most distinct terms, then the most hits,
    then the one that shows a few words of context before the first hit."""
    first_hit = next(i for i, terms in enumerate(matched_terms) if terms)
    best, best_score = 0, (-1, -1, 0)
    for start in range(max(0, first_hit - size + 1), first_hit + 1):
        window = matched_terms[start : start + size]
        distinct = set().union(*window)
        context = -abs(start - max(0, first_hit - CONTEXT_TOKENS))
        score = (len(distinct), sum(1 for terms in window if terms), context)
        if score > best_score:
            best, best_score = start, score
    return best


def clean_snippet(raw: str) -> str:
    """An FTS5 snippet with our markers -> the original text, highlights merged."""
    text = raw.replace(ZERO_WIDTH_SPACE, "")
    text = text.replace(HIGHLIGHT_END + HIGHLIGHT_START, "")
    return re.sub(r"\s+", " ", text).strip()


def snippet_html(snippet: str) -> str:
    """Escaped HTML with the matched words in <mark>; safe to insert into a page."""
    escaped = html.escape(snippet)
    return escaped.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>")


def snippet_plain(snippet: str, start: str = "[", end: str = "]") -> str:
    """The snippet for a terminal or a tooltip, highlights shown with `start`/`end`."""
    return snippet.replace(HIGHLIGHT_START, start).replace(HIGHLIGHT_END, end)
