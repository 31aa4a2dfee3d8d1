"""R1-Zero format: `<think> reasoning </think> <answer> answer </answer>`, each tag exactly once, nothing after."""

import re

TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_STRICT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)


def parse_r1(completion: str, think_prefilled: bool = False) -> tuple[str, str] | None:
    """(think body, answer body) if the completion is well formed, else None.

    Well formed: each tag exactly once, in order, only whitespace between </think> and <answer> and after
    </answer>. With `think_prefilled` the prompt already ended with "<think>", so the completion must not
    open it again.
    """
    text = "<think>" + completion if think_prefilled else completion
    if any(text.count(tag) != 1 for tag in TAGS):
        return None
    match = _STRICT.fullmatch(text)
    return (match.group(1), match.group(2)) if match else None


def answer_body(completion: str) -> str | None:
    """The body of the last <answer>...</answer> block, or None when there is none."""
    start = completion.rfind("<answer>")
    if start < 0:
        return None
    end = completion.find("</answer>", start)
    return completion[start + len("<answer>"): end] if end >= 0 else None


def format_reward(completion: str, example: dict) -> float:
    """1.0 for a well-formed R1-Zero completion (see parse_r1), else 0.0."""
    return 1.0 if parse_r1(completion, bool(example.get("think_prefilled"))) is not None else 0.0
