"""A rule-based process reward for the arithmetic task: each step of the worked chain in `<think>`, checked exactly.

The chain is the think body split at `=`: `<think> 3 + 4 * 2 = 3 + 8 = 11 </think>` has the steps `3 + 4 * 2`,
`3 + 8` and `11`. The problem's own evaluation chain (tasks/arithmetic.steps: innermost parentheses, then the
leftmost `*`, then the leftmost `+`/`-`) lists every correct intermediate expression. A step scores 1.0 when it
is (up to whitespace and a closing period) an expression of that chain later than the previous correct step,
so skipping reductions is allowed but a wrong value, a reordering, or a step after a wrong one is not; it then
scores 0.0, and so does every later step (an error carries forward). The first step must restate the problem.

Returns step scores [(end_char_offset, score), ...] with each step ending after its last non-space character.
A completion with no `<think>` chain (no think block, or no `=` in it) returns one step at its end scoring 0,
so that leaving the chain out is not rewarded over writing a wrong one.
"""

import re

_SEGMENT = re.compile(r"[^=]+")


def _canonical(text: str) -> str:
    return re.sub(r"\s+", "", text).rstrip(".")


def _chain(example: dict) -> list:
    from zero_rl.tasks.arithmetic import render, steps

    tokens = example.get("tokens")
    if tokens is None:
        raise ValueError(f"arithmetic step reward: example {example.get('id')!r} has no 'tokens' (the parsed "
                         "expression the arithmetic task stores)")
    return [_canonical(render(expression)) for expression in steps(list(tokens))]


def step_scores(completion: str, example: dict) -> list:
    """[(end_char_offset, 1.0 or 0.0), ...] over the `=`-separated steps of the think body (see module doc)."""
    chain = _chain(example)
    prefix = "<think>" if example.get("think_prefilled") else ""
    text = prefix + completion
    start = text.find("<think>")
    end = text.find("</think>", start + 1) if start >= 0 else -1
    if start < 0 or end < 0 or "=" not in text[start:end]:
        return [(len(completion), 0.0)]
    body_start = start + len("<think>")
    out, position, correct = [], -1, True
    for match in _SEGMENT.finditer(text, body_start, end):
        segment = match.group().rstrip()
        if not segment.strip():
            correct = False  # an empty step (`= =`) is wrong, and it ends the credit
            continue
        step = _canonical(segment)
        later = chain[position + 1:] if position >= 0 else chain[:1]
        if correct and step in later:
            position = chain.index(step, position + 1)
            score = 1.0
        else:
            correct = False
            score = 0.0
        end_offset = match.start() + len(segment) - len(prefix)
        out.append((max(0, min(end_offset, len(completion))), score))
    return out or [(len(completion), 0.0)]
