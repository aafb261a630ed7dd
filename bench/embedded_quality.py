"""Embedded model quality: which sampling makes SmolLM2-135M a decent demo.

Runs a fixed set of 30 prompts (short facts, greetings, lists, translations EN<->ZH, a
three-paragraph story, presets that ask for a style) through the app's `LocalModel`, at fixed
seeds, once per setting tried, and prints per setting:

- loops: answers with a repeated n-gram run (`looped`: the same word 4 times in a row, the same
  2-12 word run 3 times in a row, or the same sentence 3 times);
- at cap: answers that stopped at the token cap rather than ending;
- facts: short-fact answers containing the expected word;
- style: preset answers that follow the preset (concise: under 40 words; translator: the
  other language; Chinese prompts answered in Chinese);
- tokens/s over the whole set.

Not part of the test suite: numbers, not pass/fail. About 2 minutes a setting on 2 cores.

    python bench/embedded_quality.py [--settings before,shipped] [--show N]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import find_bundled_model
from assistant.presets import SHIPPED_PRESETS
from assistant.providers import LocalModel
from assistant.providers.base import Finish, GenerationRequest, TextDelta
from assistant.providers.local import DEMO_SAMPLING, Sampling

HELPFUL, CONCISE, TRANSLATOR = (text for _name, text in SHIPPED_PRESETS[:3])


@dataclass(frozen=True)
class Prompt:
    kind: str  # fact, greeting, list, translate, story, style, explain
    text: str
    expect: tuple[str, ...] = ()  # for facts: any of these words counts
    system: str = HELPFUL  # the default preset, as a new chat gets it
    check: str = ""  # style check: concise, chinese, english


PROMPTS: tuple[Prompt, ...] = (
    Prompt("fact", "What is the capital of France?", ("paris",)),
    Prompt("fact", "How many days are in a week?", ("seven", "7")),
    Prompt("fact", "What color is the sky on a clear day?", ("blue",)),
    Prompt("fact", "What is 2 + 2?", ("4", "four")),
    Prompt("fact", "What planet do we live on?", ("earth",)),
    Prompt("fact", "Who wrote Romeo and Juliet?", ("shakespeare",)),
    Prompt("fact", "How many legs does a spider have?", ("eight", "8")),
    Prompt("fact", "What is the largest ocean on Earth?", ("pacific",)),
    Prompt("fact", "What do bees make?", ("honey",)),
    Prompt("fact", "中国的首都是哪里？", ("北京", "beijing"), check="chinese"),
    Prompt("greeting", "Hello! How are you today?"),
    Prompt("greeting", "你好！", check="chinese"),
    Prompt("list", "List three fruits."),
    Prompt("list", "Give me five tips for better sleep."),
    Prompt("list", "List the days of the week."),
    Prompt("translate", "Translate into Chinese: Good morning, how are you?", check="chinese"),
    Prompt("translate", "Translate into Chinese: I love my family.", check="chinese"),
    Prompt("translate", "Translate into English: 我喜欢喝茶。", check="english"),
    Prompt("translate", "Translate into English: 今天天气很好。", check="english"),
    Prompt("story", "Write a three-paragraph story about a grandmother and her garden."),
    Prompt("story", "Write a three-paragraph story about a cat who learns to fly."),
    Prompt("story", "Write a three-paragraph story about a robot in a library."),
    Prompt("style", "Why is the sea salty?", system=CONCISE, check="concise"),
    Prompt("style", "What is a computer?", system=CONCISE, check="concise"),
    Prompt("style", "The weather is nice today.", system=TRANSLATOR, check="chinese"),
    Prompt("style", "我们明天去公园吧。", system=TRANSLATOR, check="english"),
    Prompt("explain", "Explain photosynthesis in simple words."),
    Prompt("explain", "用三句话介绍一下长城。", check="chinese"),
    Prompt("explain", "Tell me a short joke."),
    Prompt("explain", "写一首关于月亮的短诗。", check="chinese"),
)

# What was shipped before issue 14, and the candidates measured against it.
SETTINGS: dict[str, Sampling] = {
    "before": Sampling(),  # llama-cpp-python's defaults, as shipped before issue 14
    "rp1.1": Sampling(temperature=0.7, repeat_penalty=1.1),
    "rp1.15": Sampling(temperature=0.7, repeat_penalty=1.15),
    "t0.5-rp1.1": Sampling(temperature=0.5, repeat_penalty=1.1),
    "t0.3-rp1.1": Sampling(temperature=0.3, repeat_penalty=1.1),
    "t0.3-rp1.2": Sampling(temperature=0.3, repeat_penalty=1.2),
    "rp1.1-minp0.1": Sampling(temperature=0.7, repeat_penalty=1.1, min_p=0.1),
    "rp1.1-user": Sampling(temperature=0.7, repeat_penalty=1.1, system="user"),
    "t0.3-rp1.1-user": Sampling(temperature=0.3, repeat_penalty=1.1, system="user"),
    "rp1.1-384": Sampling(temperature=0.7, repeat_penalty=1.1, max_tokens=384),
    "t0.2-rp1.15-384": Sampling(temperature=0.2, repeat_penalty=1.15, max_tokens=384),
    "shipped": DEMO_SAMPLING,
}

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[\u3400-\u9fff]|[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_SENTENCE = re.compile(r"[.!?。！？\n]+")


def looped(text: str) -> bool:
    """A repeated n-gram run: the signature of a small model stuck in a loop."""
    words = [w.lower() for w in _WORD.findall(text)]
    for n in range(1, 13):
        needed = 4 if n == 1 else 3
        run_span = n * needed
        for start in range(0, len(words) - run_span + 1):
            gram = words[start : start + n]
            if all(words[start + k * n : start + (k + 1) * n] == gram for k in range(1, needed)):
                if n == 1 and not any(c.isalpha() for c in gram[0]):
                    continue  # "1 1 1 1" in a list of numbers is not a loop
                return True
    sentences = [" ".join(_WORD.findall(s.lower())) for s in _SENTENCE.split(text)]
    counts: dict[str, int] = {}
    for sentence in sentences:
        if len(sentence.split()) >= 4:
            counts[sentence] = counts.get(sentence, 0) + 1
            if counts[sentence] >= 3:
                return True
    return False


def follows_style(prompt: Prompt, answer: str) -> bool:
    cjk = len(_CJK.findall(answer))
    letters = len(re.findall(r"[A-Za-z]", answer))
    if prompt.check == "concise":
        return len(_WORD.findall(answer)) < 40
    if prompt.check == "chinese":
        return cjk > letters / 3 and cjk > 0
    if prompt.check == "english":
        return letters > 0 and cjk < letters / 5
    return True


@dataclass
class Outcome:
    prompt: Prompt
    text: str
    finish: str
    tokens: int
    seconds: float


def run_setting(model: LocalModel, sampling: Sampling, seed: int) -> list[Outcome]:
    model.sampling = sampling
    outcomes = []
    for index, prompt in enumerate(PROMPTS):
        messages = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.text},
        ]
        params = {"seed": seed + index}  # the setting's own temperature, top p, max tokens
        request = GenerationRequest("smollm2", messages, params)
        started = time.perf_counter()
        text, finish, tokens = [], "stop", 0
        for event in model.stream(request):
            if isinstance(event, TextDelta):
                text.append(event.text)
                tokens += 1
            elif isinstance(event, Finish):
                finish = event.reason
        outcomes.append(
            Outcome(prompt, "".join(text), finish, tokens, time.perf_counter() - started)
        )
    return outcomes


def summarize(outcomes: list[Outcome]) -> dict[str, float]:
    facts = [o for o in outcomes if o.prompt.kind == "fact"]
    styled = [o for o in outcomes if o.prompt.check]
    return {
        "loops": sum(looped(o.text) for o in outcomes),
        "at cap": sum(o.finish == "length" for o in outcomes),
        "facts": sum(any(w in o.text.lower() for w in o.prompt.expect) for o in facts),
        "facts of": len(facts),
        "style": sum(follows_style(o.prompt, o.text) for o in styled),
        "style of": len(styled),
        "tokens": sum(o.tokens for o in outcomes),
        "tokens/s": sum(o.tokens for o in outcomes) / sum(o.seconds for o in outcomes),
    }


def describe(sampling: Sampling) -> str:
    return (
        f"T {sampling.temperature:g} · top p {sampling.top_p:g} · min p {sampling.min_p:g} · "
        f"repeat {sampling.repeat_penalty:g} · cap {sampling.max_tokens} · "
        f"system as {sampling.system}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--show", type=int, default=0, help="print N answers per setting")
    args = parser.parse_args()
    names = [n.strip() for n in args.settings.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {list(SETTINGS)}")

    model = LocalModel(find_bundled_model(), n_ctx=2048)
    model.load()
    print(f"model: {model.label}; {len(PROMPTS)} prompts; seeds from {args.seed}")
    rows = []
    for name in names:
        sampling = SETTINGS[name]
        outcomes = run_setting(model, replace(sampling), args.seed)
        rows.append((name, sampling, summarize(outcomes)))
        for outcome in outcomes[: args.show]:
            flag = " [LOOP]" if looped(outcome.text) else ""
            print(f"--- {name} · {outcome.prompt.text}{flag}\n{outcome.text.strip()[:400]}")
        print(f"{name}: done", file=sys.stderr)
    header = f"{'setting':<17}{'loops':>7}{'at cap':>8}{'facts':>8}{'style':>8}{'tok/s':>8}"
    print(header)
    for name, _sampling, row in rows:
        print(
            f"{name:<17}{row['loops']:>4}/{len(PROMPTS):<2}{row['at cap']:>5}/{len(PROMPTS):<2}"
            f"{row['facts']:>5}/{row['facts of']:<2}{row['style']:>5}/{row['style of']:<2}"
            f"{row['tokens/s']:>8.0f}"
        )
    for name, sampling, _row in rows:
        print(f"  {name}: {describe(sampling)}")


if __name__ == "__main__":
    main()
