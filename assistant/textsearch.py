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
import re
import sqlite3

SEARCH_FUNCTION = "assistant_search_text"
ZERO_WIDTH_SPACE = "\u200b"
# Private-use characters mark highlights in snippets: they cannot clash with Markdown or HTML.
HIGHLIGHT_START = "\ue000"
HIGHLIGHT_END = "\ue001"
SNIPPET_TOKENS = 24

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
_WORD = re.compile(r"\w", re.UNICODE)
MIN_PREFIX_CHARS = 3


def search_text(text: str | None) -> str:
    """The text as the index sees it: every CJK character set apart as its own token."""
    if not text:
        return ""
    return _CJK.sub(ZERO_WIDTH_SPACE + r"\1" + ZERO_WIDTH_SPACE, text)


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function(SEARCH_FUNCTION, 1, search_text, deterministic=True)


def _phrase(term: str, prefix: bool) -> str:
    quoted = '"' + search_text(term).replace('"', '""') + '"'
    return quoted + " *" if prefix else quoted


def match_query(query: str) -> str | None:
    """A user's words -> an FTS5 MATCH expression (all terms must occur), or None if empty.

    Plain words match as prefixes ("stream" finds "streaming") once they have three characters;
    text in double quotes is an exact phrase; a CJK word matches where its characters are
    adjacent. FTS5 operators typed by the user are treated as words, never as syntax.
    """
    phrases: list[str] = []
    for quoted, bare in _QUERY_PART.findall(query):
        term = quoted if quoted else bare
        if not _WORD.search(term):
            continue
        is_cjk_only = not _CJK.sub("", term).strip()
        prefix = not quoted and not is_cjk_only and len(term) >= MIN_PREFIX_CHARS
        phrases.append(_phrase(term, prefix))
    return " AND ".join(phrases) if phrases else None


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
