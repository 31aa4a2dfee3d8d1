"""Language consistency (DeepSeek-R1, section 2.3.2): the share of the chain of thought's words that are in
the target language, in [0, 1].

Words are told apart by Unicode script with the `regex` module (`\\p{Han}`, `\\p{Latin}`, ...), not by a
language detector: detectors (langdetect, fastText lid, lingua) judge sentences, and are unreliable on the
single words that this share counts; langdetect is also unmaintained and random unless seeded, and fastText
needs a model file that cannot be fetched at run time. Scripts are exact and fast, and separate what R1's
reward was for (Chinese drifting into English CoT and back). Their limit: languages that share a script
(English vs French) are not told apart.

Counting: each Han, Hiragana/Katakana or Hangul character is one word (these scripts do not separate words
with spaces); each run of letters of an alphabetic script is one word. Neutral, left out of the count:
numbers, punctuation, LaTeX commands (`\\frac`), `$...$` math, and single Latin letters (variables such as x).
A chain of thought with no countable word scores 1.0 (nothing in another language).
"""

import functools

import regex

from zero_rl.rewards.format import parse_r1

# language code -> the Unicode scripts its words are written in
LANGUAGE_SCRIPTS = {
    "en": ("Latin",),
    "zh": ("Han",),
    "ja": ("Han", "Hiragana", "Katakana"),
    "ko": ("Hangul",),
    "ru": ("Cyrillic",),
    "ar": ("Arabic",),
}
_MATH = regex.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[A-Za-z]+", regex.DOTALL)
_WORD = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]|[\p{L}\p{M}]+(?:['’][\p{L}]+)*")
_SCRIPTS = ("Latin", "Han", "Hiragana", "Katakana", "Hangul", "Cyrillic", "Arabic", "Greek", "Devanagari",
            "Hebrew", "Thai")


@functools.lru_cache(maxsize=None)
def _script_pattern(script: str):
    return regex.compile(rf"\p{{{script}}}")


def script_of(word: str) -> str:
    """The Unicode script of a word's first letter ("Latin", "Han", ...), or "Other"."""
    for script in _SCRIPTS:
        if _script_pattern(script).match(word):
            return script
    return "Other"


def language_share(text: str, language: str) -> float:
    """Share of the countable words of `text` written in `language`'s scripts (1.0 if none is countable)."""
    if language not in LANGUAGE_SCRIPTS:
        raise ValueError(f"unknown language {language!r}; known: {', '.join(sorted(LANGUAGE_SCRIPTS))}")
    targets = LANGUAGE_SCRIPTS[language]
    words = [w for w in _WORD.findall(_MATH.sub(" ", text)) if not (len(w) == 1 and w.isascii())]
    if not words:
        return 1.0
    return sum(script_of(w) in targets for w in words) / len(words)


def think_body(completion: str, think_prefilled: bool = False) -> str:
    """The chain of thought: the `<think>` body of a well-formed completion, else the text before
    `</think>` / `<answer>` (a malformed completion still has a language)."""
    parsed = parse_r1(completion, think_prefilled)
    if parsed is not None:
        return parsed[0]
    text = completion.split("</think>")[0].split("<answer>")[0]
    return text.replace("<think>", " ")


def language_consistency(completion: str, example: dict, language: str | None = None) -> float:
    """Share of the chain of thought's words in the target language: `language`, else example["language"],
    else English. Bind a language with functools.partial(language_consistency, language="zh")."""
    target = language or example.get("language") or "en"
    return language_share(think_body(completion, bool(example.get("think_prefilled"))), target)
