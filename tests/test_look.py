"""Light and dark themes: both configured, neither forced, and every text color readable on
its background (WCAG: 4.5:1 for text, 3:1 for the accent of controls)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml"
CAPTION_OPACITY = 0.6  # Streamlit draws captions and help text in the text color at 60 %


def rgb(color: str) -> tuple[float, float, float]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def blend(top: str, bottom: str, opacity: float) -> tuple[float, float, float]:
    a, b = rgb(top), rgb(bottom)
    return tuple(x * opacity + y * (1 - opacity) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def luminance(color: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one, other) -> float:
    one = rgb(one) if isinstance(one, str) else one
    other = rgb(other) if isinstance(other, str) else other
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def themes() -> dict[str, dict[str, str]]:
    return tomllib.loads(CONFIG.read_text())["theme"]


def test_both_themes_are_configured_and_the_system_setting_chooses():
    theme = themes()
    assert {"light", "dark"} <= set(theme)
    assert "base" not in theme  # a base would pin one theme; without it the browser follows


@pytest.mark.parametrize("name", ["light", "dark"])
def test_every_text_is_readable_on_its_background(name):
    t = themes()[name]
    ratios = {
        "body text": contrast(t["textColor"], t["backgroundColor"]),
        "text in the sidebar and inputs": contrast(t["textColor"], t["secondaryBackgroundColor"]),
        "captions": contrast(
            blend(t["textColor"], t["backgroundColor"], CAPTION_OPACITY), t["backgroundColor"]
        ),
        "captions in the sidebar": contrast(
            blend(t["textColor"], t["secondaryBackgroundColor"], CAPTION_OPACITY),
            t["secondaryBackgroundColor"],
        ),
        "links": contrast(t["linkColor"], t["backgroundColor"]),
        "inline code": contrast(t["codeTextColor"], t["codeBackgroundColor"]),
        "code blocks": contrast(t["textColor"], t["codeBackgroundColor"]),
        # a search hit's <mark>: the browser's black on yellow in both themes
        "search highlights": contrast("#000000", "#ffff00"),
    }
    low = {what: round(r, 2) for what, r in ratios.items() if r < 4.5}
    assert not low, f"{name}: below 4.5:1: {low}"
    # The accent marks controls (3:1 on both backgrounds) and is the ground of primary
    # buttons' white labels (the open chat in Recent, Save & send): 4.5:1.
    assert contrast(t["primaryColor"], t["backgroundColor"]) >= 3.0
    assert contrast(t["primaryColor"], t["secondaryBackgroundColor"]) >= 3.0
    assert contrast("#ffffff", t["primaryColor"]) >= 4.5


if __name__ == "__main__":  # the ratios for the README and notes
    for theme_name in ("light", "dark"):
        t = themes()[theme_name]
        text, back, side = t["textColor"], t["backgroundColor"], t["secondaryBackgroundColor"]
        print(
            theme_name,
            f"body {contrast(text, back):.2f}",
            f"caption {contrast(blend(text, back, CAPTION_OPACITY), back):.2f}",
            f"sidebar caption {contrast(blend(text, side, CAPTION_OPACITY), side):.2f}",
            f"link {contrast(t['linkColor'], back):.2f}",
            f"code {contrast(t['codeTextColor'], t['codeBackgroundColor']):.2f}",
            f"code block {contrast(text, t['codeBackgroundColor']):.2f}",
            f"accent {contrast(t['primaryColor'], back):.2f}",
            f"button label {contrast('#ffffff', t['primaryColor']):.2f}",
        )
