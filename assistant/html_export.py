"""A conversation as one self-contained HTML file: rendered Markdown, highlighted code.

Message text is untrusted. It is rendered by markdown-it-py with raw HTML switched off (a
`<script>` in a message is shown as text), markdown-it's link check drops `javascript:` and
similar URLs, images become plain links (no request leaves the file), and a Content Security
Policy that allows no script and no external resource guards whatever might slip through.
Code blocks are coloured by Pygments with its CSS inlined, so the file needs nothing else.
"""

from __future__ import annotations

import html
from functools import lru_cache

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from assistant import i18n, transcript
from assistant.i18n import _
from assistant.parts import TEXT
from assistant.store import Conversation, Message, Store

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

PAGE_STYLE = """
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       background: #fff; margin: 0; }
main { max-width: 48rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
.meta, .caption { color: #656d76; font-size: .85rem; }
section.conversation + section.conversation { border-top: 2px solid #d0d7de; margin-top: 3rem; }
article { margin: 1.25rem 0; padding: .75rem 1rem; border-radius: .6rem; }
article.user { background: #f0f4fa; }
article.assistant { border: 1px solid #d0d7de; }
article h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em;
             color: #656d76; margin: 0 0 .4rem; }
.note { border-left: 3px solid #d4a72c; padding-left: .6rem; color: #6e5400; }
pre { background: #f6f8fa; padding: .75rem; border-radius: .4rem; overflow-x: auto; }
code { font: .9em/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table { border-collapse: collapse; } th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; }
blockquote { margin-left: 0; padding-left: 1rem; border-left: 3px solid #d0d7de; color: #57606a; }
"""


def _highlight_code(code: str, language: str, _attrs: str) -> str:
    """Pygments spans for a fenced block; "" lets markdown-it escape unknown languages."""
    if not language:
        return ""
    try:
        lexer = get_lexer_by_name(language.strip().split()[0])
    except ClassNotFound:
        return ""
    return highlight(code, lexer, HtmlFormatter(nowrap=True))


def _image_as_link(self, tokens, index, options, env) -> str:  # type: ignore[no-untyped-def]
    token = tokens[index]
    source = html.escape(token.attrGet("src") or "", quote=True)
    alt = html.escape(token.content or "image", quote=False)
    return f'<a href="{source}">[image: {alt}]</a>'


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    renderer = MarkdownIt("commonmark", {"html": False, "highlight": _highlight_code})
    renderer.enable(["table", "strikethrough"])
    renderer.add_render_rule("image", _image_as_link)
    return renderer


def render_markdown(text: str) -> str:
    """Untrusted Markdown -> safe HTML."""
    return _markdown().render(text)


def _article(role: str, heading: str, body: str, caption: str = "", note: str = "") -> str:
    parts = [f'<article class="{role}">', f"<h2>{html.escape(heading)}</h2>", body]
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    if caption:
        parts.append(f'<p class="caption">{html.escape(caption)}</p>')
    parts.append("</article>")
    return "\n".join(parts)


def conversation_section(
    store: Store, conversation: Conversation, all_branches: bool = False
) -> str:
    started = transcript.readable_time(conversation.created_at)
    last = transcript.readable_time(conversation.updated_at)
    parts = [
        '<section class="conversation">',
        f"<h1>{html.escape(conversation.title)}</h1>",
        '<p class="meta">'
        + html.escape(
            _("Started {started} · last activity {last}").format(started=started, last=last)
        )
        + "</p>",
    ]
    branches = transcript.branches_to_export(store, conversation.id, all_branches)
    for number, branch in enumerate(branches, start=1):
        heading = transcript.branch_heading(branch, number, len(branches), all_branches)
        if heading:
            parts.append(f'<h2 class="branch">{html.escape(heading)}</h2>')
        for exchange in branch.exchanges:
            parts += _exchange_articles(exchange)
    parts.append("</section>")
    return "\n".join(parts)


def _exchange_articles(exchange: transcript.Exchange) -> list[str]:
    question = exchange.question
    articles = []
    if question is not None:  # None: the conversation starts with this answer
        label = transcript.question_label(exchange.edit_index, len(exchange.edits))
        articles.append(
            _article(
                "user",
                f"{label} · {transcript.readable_time(question.created_at)}",
                _parts_html(question),
            )
        )
    answer = exchange.answer
    if answer is not None:
        articles.append(
            _article(
                "assistant",
                transcript.answer_label(exchange.version_index, len(exchange.versions)),
                _parts_html(answer),
                caption=transcript.caption(answer),
                note=transcript.answer_note(answer) or "",
            )
        )
    return articles


def _parts_html(message: Message) -> str:
    """The text as safe HTML; reasoning and attachments in closed <details> before it."""
    pieces = []
    for part in message.parts:
        if part.kind == TEXT:
            pieces.append(render_markdown(part.text))
        else:
            heading = html.escape(transcript.part_heading(part))
            pieces.append(
                f"<details><summary>{heading}</summary>{render_markdown(part.text)}</details>"
            )
    return "\n".join(pieces)


def html_document(
    store: Store, conversations: list[Conversation], all_branches: bool = False
) -> str:
    """The conversations as one complete HTML page."""
    title = conversations[0].title if len(conversations) == 1 else _("Conversations")
    code_style = HtmlFormatter().get_style_defs("pre code")
    sections = "\n".join(conversation_section(store, c, all_branches) for c in conversations)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{i18n.current().replace("_", "-")}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{PAGE_STYLE}\n{code_style}</style>\n"
        f"</head>\n<body>\n<main>\n{sections}\n</main>\n</body>\n</html>\n"
    )
