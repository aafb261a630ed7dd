"""Starter prompts an empty chat offers: short, and within what the embedded model does well
(a greeting, a fact, a list, a little poem), so a first click in a demo goes well. The texts
are catalog messages: each language has its own prompts, not a translation sent as is.

The embedded model reads English far better than anything else (bench/embedded_quality.py: its
Chinese answers are not Chinese sentences), so with it the prompts stay English in every
language; only the labels are translated."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.i18n import N_, _


@dataclass(frozen=True)
class Starter:
    label: str
    prompt: str

    def text(self, embedded: bool) -> str:
        """The prompt to send, in the page's language (English for the embedded model)."""
        return self.prompt if embedded else _(self.prompt)


STARTERS = (
    Starter(N_("Say hello"), N_("Say hello and tell me what you can help with, in two sentences.")),
    Starter(N_("A quick fact"), N_("What is the capital of France? Answer in one sentence.")),
    Starter(N_("Three tips"), N_("Give me three short tips for a good night's sleep.")),
    Starter(N_("A short poem"), N_("Write a four-line poem about the sea.")),
)
