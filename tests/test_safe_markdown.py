"""Markdown the browser renders without fetching anything, and user text shown as typed."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from assistant.safe_markdown import plain, plain_inline, without_images

PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def images(text: str) -> list[str]:
    found = []
    for token in PARSER.parse(text):
        for child in token.children or ():
            if child.type == "image":
                found.append(child.attrs["src"])
    return found


def links(text: str) -> list[str]:
    found = []
    for token in PARSER.parse(text):
        for child in token.children or ():
            if child.type == "link_open":
                found.append(child.attrs["href"])
    return found


@pytest.mark.parametrize(
    "text",
    [
        "![x](http://host/p.png?d=secret)",
        'Look ![a chart](http://host/c.png "title") here',
        "![x](<http://host/a b.png>)",
        "![nested [brackets]](http://host/n.png)",
        "![x](http://host/p.png?q=(1))",
        "![x][ref]\n\n[ref]: http://host/r.png",
        "![ref]\n\n[ref]: http://host/r.png",
        "[![badge](http://host/b.svg)](http://host/)",
        "- item ![x](http://host/i.png)\n- > quote ![y](http://host/q.png)",
        "| a | b |\n|---|---|\n| ![x](http://host/t.png) | 1 |",
        "\\\\![x](http://host/e.png)",  # an escaped backslash, then a real image
        "`code` ![x](http://host/after-code.png) `more`",
        "```\nfence\n```\n![x](http://host/after-fence.png)",
        "![x](http://host/split.png",  # unfinished (still streaming)
    ],
)
def test_no_image_survives(text):
    assert images(text) or "split" in text  # the input really has an image (or is half one)
    assert images(without_images(text)) == []


def test_an_image_becomes_a_link_that_shows_its_url():
    out = without_images("See ![the plot](http://host/p.png?d=1) now.")
    assert links(out) == ["http://host/p.png?d=1"]
    assert "image: the plot (http://host/p.png?d=1)" in out.replace("\\", "")
    assert out.startswith("See ") and out.endswith(" now.")


def test_text_without_images_is_returned_unchanged():
    text = "# Title\n\n**bold** [a link](http://x) and `![not an image](in code)`\n"
    assert without_images(text) == text


def test_code_keeps_its_exclamation_marks_and_brackets():
    text = "```python\nprint('![x](y)')\n```\nand `![a](b)` inline"
    assert without_images(text) == text


def test_plain_shows_user_text_as_typed():
    for text in ("**not bold**", "![x](http://h/p.png)", ":material/home:", "$x$", "<b>"):
        rendered = PARSER.render(plain(text))
        assert "<strong>" not in rendered and "<img" not in rendered and "<b>" not in rendered
    assert images(plain_inline("![x](http://h/p.png)")) == []
    assert "<em>" not in PARSER.render(plain_inline("*x* and _y_"))


def test_plain_keeps_entities_as_typed_and_replaces_a_lone_surrogate():
    # "&lt;b&gt;" typed as a name is shown as those characters, not as "<b>".
    assert PARSER.render(plain("&lt;b&gt; &amp;")) == "<p>&amp;lt;b&amp;gt; &amp;amp;</p>\n"
    # Streamlit cannot send a lone surrogate to the browser (its error screen instead).
    assert plain("bad \udc80 title") == "bad \ufffd title"
    plain("\ud83d").encode("utf-8")
