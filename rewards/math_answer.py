"""Math answer accuracy with math-verify: extract the final answer, compare it with the gold, gold first.

Extraction (`extract_math_answer`): the body of the last `<answer>...</answer>` block; inside it the last
`\\boxed{...}` if there is one, else the whole body. Optional fall-backs, tried in order when there is no
answer block: "boxed" (the last `\\boxed{}` anywhere) and "last_number" (the last number anywhere).

Comparison (`answers_equivalent`): both sides are stripped of `$...$`, `\\(...\\)`, `\\[...\\]` and wrapped in
`\\boxed{}` before `math_verify.parse`, so bare LaTeX (`\\frac12`), `$...$` and `\\boxed{}` answers all parse the
same way; then `math_verify.verify(gold, pred)` (asymmetric: gold first).

Never a silent 0: math-verify swallows errors by default (`raise_on_error=False`), which is how a whole
training run can score 0 without anyone noticing. Here a gold that does not parse raises (a data problem:
counted as an error per reward by the scorer), and a math-verify timeout raises `TimeoutError` (counted as a
timeout). A prediction that does not parse is simply wrong (0), since models write unparsable answers often.

math-verify's timeouts use `signal.alarm`, so these functions must run on a process's main thread (the
scorer's pool workers do); elsewhere math-verify raises a ValueError that the scorer counts as an error.
"""

import functools
import re

from rewards.format import answer_body

PARSE_TIMEOUT_S = 5
VERIFY_TIMEOUT_S = 5
FALLBACKS = ("boxed", "last_number")

_MATH_DELIMITERS = [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (brace-matched) or `\\fbox{...}`; `\\boxed 5` without braces too."""
    boxed, fbox = text.rfind("\\boxed"), text.rfind("\\fbox")
    if boxed < 0 and fbox < 0:
        return None
    index = boxed + len("\\boxed") if boxed > fbox else fbox + len("\\fbox")
    while index < len(text) and text[index] == " ":
        index += 1
    if index < len(text) and text[index] != "{":
        match = re.match(r"[^\s$]+", text[index:])  # `\boxed 5`
        return match.group(0) if match else None
    depth = 0
    for position in range(index, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return text[index + 1: position]
    return None  # unbalanced: a truncated completion


def extract_math_answer(completion: str, fallbacks: tuple = ()) -> str | None:
    """The final answer text of a completion (see the module docstring), or None when there is none."""
    unknown = set(fallbacks) - set(FALLBACKS)
    if unknown:
        raise ValueError(f"unknown answer fall-backs {sorted(unknown)}; valid: {', '.join(FALLBACKS)}")
    body = answer_body(completion)
    if body is not None:
        boxed = last_boxed(body)
        answer = boxed if boxed is not None else body
        return answer.strip() or None
    for fallback in fallbacks:
        if fallback == "boxed":
            boxed = last_boxed(completion)
            if boxed is not None and boxed.strip():
                return boxed.strip()
        elif fallback == "last_number":
            numbers = _NUMBER.findall(completion)
            if numbers:
                return numbers[-1]
    return None


def _unwrap(answer: str) -> str:
    text = answer.strip()
    for left, right in _MATH_DELIMITERS:
        inner = text[len(left): -len(right)]
        if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right) \
                and left not in inner:
            return inner.strip()
    return text


def _parse(answer: str, strict: bool = False) -> list:
    """math-verify's reading of an answer; [] when it cannot read it (a wrong answer), or with `strict` a
    ValueError. `raise_on_error=True` so that its timeouts surface instead of becoming a logged False."""
    from math_verify import parse
    from math_verify.errors import TimeoutException

    text = _unwrap(answer)
    try:
        parsed = parse("\\boxed{" + text + "}", parsing_timeout=PARSE_TIMEOUT_S, raise_on_error=True)
        if not parsed:  # plain-text expressions math-verify only reads outside a box, e.g. "x^2+1"
            parsed = parse(text, parsing_timeout=PARSE_TIMEOUT_S, raise_on_error=True)
    except TimeoutException as error:  # a BaseException: convert so the scorer counts it as a timeout
        raise TimeoutError(f"math-verify parse timed out after {PARSE_TIMEOUT_S} s on {answer[:100]!r}") from error
    except Exception as error:
        if strict:
            raise ValueError(f"math-verify cannot parse {answer[:200]!r}: {type(error).__name__}: {error}") from error
        return []
    return parsed


@functools.lru_cache(maxsize=4096)
def parse_gold(gold: str) -> list:
    """The parsed gold answer; raises ValueError if math-verify cannot read it (never a silent 0 for all)."""
    parsed = _parse(gold, strict=True)
    if not parsed:
        raise ValueError(f"math-verify cannot parse the gold answer {gold!r}")
    return parsed


def _verify(gold_parsed: list, pred_parsed: list) -> bool:
    """verify(gold, pred); a timeout raises TimeoutError and a comparison failure ValueError (both counted by
    the scorer), where math-verify by default would log them and return False."""
    from math_verify import verify
    from math_verify.errors import TimeoutException

    try:
        return verify(gold_parsed, pred_parsed, timeout_seconds=VERIFY_TIMEOUT_S, raise_on_error=True)
    except TimeoutException as error:
        raise TimeoutError(f"math-verify verify timed out after {VERIFY_TIMEOUT_S} s") from error
    except Exception as error:
        raise ValueError(f"math-verify could not compare: {type(error).__name__}: {error}") from error


def answers_equivalent(a: str, b: str) -> bool:
    """Whether two extracted answers are mathematically equal (for maj@k voting); `a` is read as the gold."""
    if a.strip() == b.strip():
        return True
    parsed_a, parsed_b = _parse(a), _parse(b)
    if not parsed_a or not parsed_b:
        return False
    return _verify(parsed_a, parsed_b)


def math_accuracy(completion: str, example: dict, fallbacks: tuple = ()) -> float:
    """1.0 when the completion's final answer equals example["answer"] by math-verify, else 0.0.

    Use `functools.partial(math_accuracy, fallbacks=("boxed",))` to also accept a `\\boxed{}` outside tags.
    """
    gold = parse_gold(str(example["answer"]))
    predicted = extract_math_answer(completion, fallbacks)
    if predicted is None:
        return 0.0
    parsed = _parse(predicted)
    if not parsed:
        return 0.0
    return 1.0 if _verify(gold, parsed) else 0.0
