"""R1-Zero format: `<think> reasoning </think> <answer> answer </answer>`.

strict (parse_r1, format_reward): each tag exactly once, in order, only whitespace between `</think>` and
`<answer>` and after `</answer>`. lenient (format_reward_lenient): the same order and uniqueness, but any text
may stand between `</think>` and `<answer>` and the tags may be unbalanced in whitespace and case; it still
rejects tag spam (two answer blocks, nested tags) and text after `</answer>`, which is how models hack a
format reward. With `example["think_prefilled"]` the prompt already ended with "<think>", so the completion
must not open it again. An empty or blank `<answer></answer>` is not well formed (a format reward that pays
for empty answers teaches the policy to answer nothing). No newline is required anywhere (a strict newline regex is how a format reward
stays 0 forever).
"""

import re

TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_STRICT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_LENIENT = re.compile(r"\s*<think>(.*?)</think>.*?<answer>(.*?)</answer>\s*", re.DOTALL)
_TAG_ANY_CASE = re.compile(r"<\s*(/?)\s*(think|answer)\s*>", re.IGNORECASE)


def _parse(completion: str, think_prefilled: bool, pattern) -> tuple[str, str] | None:
    text = "<think>" + completion if think_prefilled else completion
    if any(text.count(tag) != 1 for tag in TAGS):
        return None
    match = pattern.fullmatch(text)
    if not match or not match.group(2).strip():  # an empty or blank answer is no answer
        return None
    return match.group(1), match.group(2)


def parse_r1(completion: str, think_prefilled: bool = False) -> tuple[str, str] | None:
    """(think body, answer body) if the completion is well formed (strict), else None."""
    return _parse(completion, think_prefilled, _STRICT)


def parse_r1_lenient(completion: str, think_prefilled: bool = False) -> tuple[str, str] | None:
    """(think body, answer body) under the lenient rules: tags in any case or with inner spaces
    (`< /Answer >`), any text between `</think>` and `<answer>`; still one of each tag, nothing after."""
    normalised = _TAG_ANY_CASE.sub(lambda m: f"<{m.group(1)}{m.group(2).lower()}>", completion)
    return _parse(normalised, think_prefilled, _LENIENT)


def answer_body(completion: str) -> str | None:
    """The body of the last <answer>...</answer> block, or None when there is none (or it is unclosed)."""
    start = completion.rfind("<answer>")
    if start < 0:
        return None
    end = completion.find("</answer>", start)
    return completion[start + len("<answer>"): end] if end >= 0 else None


def format_reward(completion: str, example: dict) -> float:
    """1.0 for a well-formed R1-Zero completion (strict, see parse_r1), else 0.0."""
    return 1.0 if parse_r1(completion, bool(example.get("think_prefilled"))) is not None else 0.0


def format_reward_lenient(completion: str, example: dict) -> float:
    """1.0 for a completion well formed under the lenient rules (see parse_r1_lenient), else 0.0."""
    return 1.0 if parse_r1_lenient(completion, bool(example.get("think_prefilled"))) is not None else 0.0


FORMATS = {"strict": format_reward, "lenient": format_reward_lenient}
