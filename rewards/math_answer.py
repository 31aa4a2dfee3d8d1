"""Math answer accuracy: extract the final answer, normalise it, compare it with the gold through a chain of
layers (exact text, choice letters, exact numbers, intervals and relations, tuples/sets/lists, then math-verify).

Extraction (`extract_math_answer`, zero_rl.rewards.answer_extract): the body of the last `<answer>...</answer>` block;
inside it the last `\\boxed{}`s (boxes joined by a short connector count together), else an "answer is" phrase
or the last math span `$...$` / `\\(...\\)`, else the body. Optional fall-backs, tried in order when there is no
answer block: "boxed" (the last `\\boxed{}`s anywhere) and "last_number" (the last number anywhere). The gold
goes through the same extraction, so a gold written as a whole solution or wrapped in `$...$` works.

Comparison (`answers_equivalent`, zero_rl.rewards.answer_compare, zero_rl.rewards.answer_symbolic, zero_rl.rewards.exact_numbers):
asymmetric, gold first; see those modules for the layers and why a different exact value is never accepted
(math-verify alone rounds to 6 places).

Never a silent 0: a blank gold raises ValueError (a data problem, counted per reward by the scorer); a
math-verify timeout raises TimeoutError (counted as a timeout) and a math-verify failure ValueError. An answer
that nothing can read is simply wrong (0). math-verify's timeouts use `signal.alarm`, so these functions must
run on a process's main thread (the scorer's pool workers do); elsewhere the failure is counted as an error.
"""

import functools
import re
from pathlib import Path

from zero_rl.rewards.answer_compare import answers_match, equivalent, normalise
from zero_rl.rewards.answer_extract import boxed_answer, final_answer, last_boxed, strip_chat_debris
from zero_rl.rewards.answer_symbolic import PARSE_TIMEOUT_S, VERIFY_TIMEOUT_S
from zero_rl.rewards.format import answer_body

__all__ = ["FALLBACKS", "PARSE_TIMEOUT_S", "VERIFY_TIMEOUT_S", "answers_equivalent", "extract_math_answer",
           "last_boxed", "math_accuracy", "parse_gold"]

FALLBACKS = ("boxed", "last_number")

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def extract_math_answer(completion: str, fallbacks: tuple = ()) -> str | None:
    """The final answer text of a completion (see the module docstring), or None when there is none."""
    unknown = set(fallbacks) - set(FALLBACKS)
    if unknown:
        raise ValueError(f"unknown answer fall-backs {sorted(unknown)}; valid: {', '.join(FALLBACKS)}")
    body = answer_body(completion)
    if body is not None:
        return final_answer(body)
    for fallback in fallbacks:
        if fallback == "boxed":
            boxed = boxed_answer(strip_chat_debris(completion))
            if boxed is not None and boxed.strip():
                return boxed.strip()
        elif fallback == "last_number":
            numbers = _NUMBER.findall(strip_chat_debris(completion))
            if numbers:
                return numbers[-1].rstrip(",")
    return None


@functools.lru_cache(maxsize=4096)
def parse_gold(gold: str) -> str:
    """The normalised final answer of a gold; ValueError for a blank gold (never a silent 0 for every sample)."""
    text = str(gold)
    if not _balanced_braces(text):
        unclosed = text.rfind("\\boxed{")  # `\boxed{x = 1` cut short: its content is the answer
        if unclosed < 0 or not _balanced_braces(text[unclosed + len("\\boxed{"):]):
            raise ValueError(f"the gold answer {gold!r} has unbalanced braces; fix the data row")
        text = text[unclosed + len("\\boxed{"):]
    answer = final_answer(text, read_prose=False)
    normalised = normalise(answer) if answer is not None else ""
    if not normalised:
        raise ValueError(f"the gold answer {gold!r} is blank (nothing to compare with); fix the data row")
    return normalised


def _balanced_braces(text: str) -> bool:
    depth = 0
    for index, character in enumerate(text):
        if index and text[index - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(character, 0)
        if depth < 0:
            return False
    return depth == 0


def answers_equivalent(a: str, b: str) -> bool:
    """Whether two extracted answers are mathematically equal (for maj@k voting); `a` is read as the gold."""
    if a.strip() == b.strip():
        return True
    return answers_match(a, b)


def math_accuracy(completion: str, example: dict, fallbacks: tuple = ()) -> float:
    """1.0 when the completion's final answer equals example["answer"] (see the module docstring), else 0.0.

    Use `functools.partial(math_accuracy, fallbacks=("boxed",))` to also accept a `\\boxed{}` outside tags.
    """
    gold = parse_gold(str(example["answer"]))
    predicted = extract_math_answer(completion, fallbacks)
    if predicted is None:
        return 0.0
    return 1.0 if equivalent(gold, normalise(predicted)) else 0.0


# Answers of the common shapes (integers, decimals, fractions, radicals, polynomials, factored forms, equations,
# intervals, tuples, matrices, units, degrees, percents, bases, pi), each checked against an equal and a
# different form, so that every comparison layer and math-verify's parsers run once.
_WARM_UP_PAIRS = (
    ("12", "12.0"), ("-3", "4"), ("0.25", "\\frac{1}{4}"), ("\\dfrac{5}{6}", "\\frac{6}{5}"),
    ("3\\sqrt{2}", "\\sqrt{18}"), ("2\\sqrt3", "3\\sqrt2"), ("x^2+2x+1", "(x+1)^2"), ("4a^3 - a", "4a^3 + a"),
    ("(x-2)(x+5)", "(x+2)(x-5)"), ("y = \\frac{1}{2}x", "y = 2x"), ("[0, 1)", "(0, 1]"), ("(3, -1)", "(3, 1)"),
    ("\\{2, 5\\}", "\\{5, 2\\}"), ("\\begin{pmatrix} 1 \\\\ 0 \\end{pmatrix}", "\\begin{pmatrix} 0 \\\\ 1 \\end{pmatrix}"),
    ("7 \\text{ cm}", "8 \\text{ cm}"), ("45^\\circ", "\\frac{\\pi}{4}"), ("20\\%", "0.2"), ("101_{2}", "5"),
    ("\\frac{3\\pi}{2}", "\\frac{2\\pi}{3}"), ("\\text{(B)}", "B"), ("\\infty", "-\\infty"),
)


def _altered(answer: str) -> str:
    """A different answer of the same shape: the first digit raised by one (or `+1` appended)."""
    for index, character in enumerate(answer):
        if character.isdigit():
            return answer[:index] + ("8" if character == "9" else str(int(character) + 1)) + answer[index + 1:]
    return answer + "+1"


def warm_up_answers() -> list:
    """The shipped answer shapes (warm_up_answers.txt beside this module; see bench/make_warm_up_answers.py)."""
    path = Path(__file__).with_name("warm_up_answers.txt")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def warm_up() -> None:
    """Run every comparison layer once, then each shipped answer shape against an altered copy (the scorer's
    workers call this at start; about 1-2 s). sympy and math-verify build their parsers and caches on first use,
    and math-verify's LaTeX parser builds its prediction tables per shape of input, so a cold process pays
    10-100 ms for the first answer of each new shape: inside the first scored completions' time limits, and in
    every worker again. Results are discarded; a failure here only costs the time it saved."""
    for gold, other in _WARM_UP_PAIRS:
        for answer in (gold, other):
            math_accuracy(f"<answer>\\boxed{{{answer}}}</answer>", {"answer": gold})
            math_accuracy(f"<answer>${answer}$</answer>", {"answer": gold})
    for gold in warm_up_answers():
        try:
            math_accuracy(f"<answer>\\boxed{{{_altered(gold)}}}</answer>", {"answer": gold})
        except (TimeoutError, ValueError):  # a shape math-verify cannot read or compare: warmed all the same
            pass
