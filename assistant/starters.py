"""Starter prompts an empty chat offers: short, and within what the embedded model does well
(a greeting, a fact, a list, a little poem), so a first click in a demo goes well."""

from __future__ import annotations

STARTERS = (
    ("Say hello", "Say hello and tell me what you can help with, in two sentences."),
    ("A quick fact", "What is the capital of France? Answer in one sentence."),
    ("Three tips", "Give me three short tips for a good night's sleep."),
    ("A short poem", "Write a four-line poem about the sea."),
)
