"""Is an extracted answer equal to the gold? `normalise` both, then a chain of small layers, each a pure function
that decides (True/False) or passes (None) to the next:

1. `same_text`        the normalised spellings are equal (`\\dfrac12` = `\\frac{1}{2}`, `\\text{Even}` = `even`)
2. `choice_letters`   the gold is a multiple-choice letter (`C`, `(D) Alina`): the answer must pick that letter
                      (a lone or leading letter, or the first one prose does not negate; `A or B` is a hedge)
3. `numbers_agree`    both sides are plain arithmetic: exact rationals (zero_rl.rewards.exact_numbers); a different exact
                      value is never accepted, a rounded decimal only at its own precision; `10%` = `10` = `0.1`
   (`assigned_value`  when only one side is `name = value`, the value is compared: `(p,q) = (3,2)` vs `(3,2)`)
4. `regions_agree`    sets of reals: intervals, unions and relations (`x \\in [-2,7]` = `-2 \\le x \\le 7`)
5. `sequences_agree`  tuples, sets, lists and matrices: `(a, b)` ordered, `\\{a, b\\}` and bare `a, b` unordered,
                      `\\ldots` holds its place, `\\pm` expands, names are dropped; elements go through this chain
6. `equations_agree`  (zero_rl.rewards.answer_symbolic) one equation each: lhs - rhs are constant multiples
                      (`2x+4y-3=0` = `y = -x/2 + 3/4`)
7. `symbolic_agree`   (zero_rl.rewards.answer_symbolic) math-verify (gold first), plain-text math (`pi/2`, `exp(16)`, `2*x`) rewritten as LaTeX;
                      a numeric "equal" of two exact constants is re-checked at 50 digits (math-verify rounds to 6
                      places: `1/2004!` = `1/2006!` for it), and an identity sympy cannot prove for a symbol of
                      unknown sign is checked at probe points (`\\sqrt{1/n}` = `1/\\sqrt{n}`)

Answers beyond the size bounds (`9^{9^{9}}`) equal nothing but their own spelling and never reach sympy.
math-verify runs with `raise_on_error=True`: its timeouts raise TimeoutError and its failures ValueError, which
the scorer counts; they never become a silent 0. A failure inside layers 1-6 on odd input is logged and the
next layer decides. math-verify's alarms need a process's main thread (the scorer's pool workers), as before.
"""

import functools
import logging
import re
from fractions import Fraction

from zero_rl.rewards.answer_symbolic import equations_agree, symbolic_agree
from zero_rl.rewards.exact_numbers import beyond_bounds, evaluate
from zero_rl.rewards.exact_numbers import numbers_agree as _exact_numbers_agree

log = logging.getLogger("zero_rl.rewards.answers")

MAX_ANSWER_CHARS = 2000  # longer "answers" are prose or a loop; compared as text only

# ---- normalisation -------------------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"(?<=\d)\s?(?:,\s?\\!|\\!\s?,|\{,\s?\}|\\,|\\!|\\ )\s?(?=\d{3}(?!\d))")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad\b|\\displaystyle|\\[hv]space\*?\{[^}]*\}|~")
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])\s*\\?")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\circ\b|\\degree\b")
_TEXT_COMMAND = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_UNIT_WORD = (r"(?:square\s+|cubic\s+)?(?:units?|cm|mm|km|meters?|metres?|inches|inch|feet|foot|ft|yards?|miles?|"
              r"degrees?|deg|radians?|rad|seconds?|sec|minutes?|min|hours?|hrs?|days?|weeks?|years?|grams?|kg|"
              r"pounds?|lbs?|dollars?|cents?|euros?|yuan|liters?|litres?|ml|mph|people|students|ways|points|"
              r"percent|percentage|pct|apples|cookies|marbles|pages|books|times)")
# a one-letter unit (`5 m`, `3 s`) only after a space: `2m` glued is more often 2 times a variable m
_ONE_LETTER_UNIT = r"(?:m|s|h|g|L|in)"
_UNITS_AFTER_NUMBER = re.compile(r"(?:(?<=[\d}])\s*" + _UNIT_WORD + r"|(?<=\d)\s+" + _ONE_LETTER_UNIT + r")"
                                 r"(?:\s*\^\s*\{?\d\}?|²|³)?\s*$", re.IGNORECASE)
_PERCENT = re.compile(r"\\%|%|\s*\b(?:percent|percentage|pct)\b", re.IGNORECASE)
_CURRENCY = re.compile(r"\\\$|\$|€|£|\\euro\b|\\pounds\b")
_FRAC_VARIANTS = re.compile(r"\\[dtc]frac")
_SINGLE_LETTER = re.compile(r"^\(?([A-E])\)?$")
_CHOICE_GOLD = re.compile(r"^\(?([A-E])\)?(?:[\s.:]|$)")
_CHOICE_IN_TEXT = re.compile(r"(?<![A-Za-z0-9\\])\(([A-E])\)(?![A-Za-z0-9])|(?<![A-Za-z0-9\\(])([A-E])(?![A-Za-z0-9)])")
_ELLIPSIS = re.compile(r"^(?:\\[lc]?dots|\\ldots|\\cdots|\.\.\.|…)$")


@functools.lru_cache(maxsize=8192)
def normalise(answer: str) -> str:
    """A canonical spelling of an extracted answer: delimiters, sizing, spacing, unit words, `\\text{}` wrappers,
    `\\dfrac`, degrees and currency removed; percent kept as a trailing `%`."""
    text = answer.strip()
    text = re.sub(r"^\*+|\*+$", "", text).strip().rstrip(".").strip()  # markdown bold, a closing full stop
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
            text = text[len(left):-len(right)].strip()
    text = _unicode_to_latex(text)
    text = _THOUSANDS.sub(",", text)
    text = text.replace("\\dots", "\\ldots").replace("\\cdots", "\\ldots").replace("...", "\\ldots")
    text = _SPACING.sub(" ", text)
    text = _SIZING.sub("", text)
    text = _FRAC_VARIANTS.sub("\\\\frac", text)
    text = brace_arguments(text)
    text = _DEGREES.sub("", text)
    percent = bool(_PERCENT.search(text))
    text = _PERCENT.sub("", text)
    text = _CURRENCY.sub("", text)
    text = re.sub(r"\\text\s*\{\s*(and|or)\s*\}", r" \1 ", text)
    previous = None
    while previous != text:  # `\text{ cm}` after a number is a unit; elsewhere `\text{X}` is X
        previous = text
        text = re.sub(r"(?<=[\d}])\s*" + _TEXT_COMMAND.pattern + r"(?:\s*\^\s*\{?\d\}?)?\s*$",
                      lambda m: "" if re.fullmatch(r"\s*(?:" + _UNIT_WORD + "|" + _ONE_LETTER_UNIT + r")\s*", m.group(1),
                                                   re.IGNORECASE) else m.group(0),
                      text)
        text = _TEXT_COMMAND.sub(lambda m: m.group(1), text)
    text = _UNITS_AFTER_NUMBER.sub("", text)
    text = text.replace("\\neq", "\\ne").replace("!=", "\\ne").replace("\\ne", " \\ne ")
    text = re.sub(r"≈", "\\\\approx ", text)
    text = text.replace(">=", "\\ge").replace("<=", "\\le").replace("\\geq", "\\ge").replace("\\leq", "\\le")
    text = text.replace("\\gt", ">").replace("\\lt", "<").replace("\\geqslant", "\\ge").replace("\\leqslant", "\\le")
    text = re.sub(r"\s+", " ", text).strip().rstrip(".").strip()
    if text.startswith("{") and text.endswith("}") and _balanced(text[1:-1]):
        text = text[1:-1].strip()  # `{1,2,3}` without backslashes is a LaTeX group
    return text + ("%" if percent else "")


_BRACED_COMMANDS = re.compile(r"\\(frac|sqrt)(?![A-Za-z])")


def _argument(text: str, index: int, depth: int) -> tuple | None:
    """TeX's reading of one macro argument at text[index:] (spaces skipped): a braced group, a control sequence
    (`\\pi`) or one character; (its content, the index after it), or None at the end or at a closing brace."""
    while index < len(text) and text[index] == " ":
        index += 1
    if index >= len(text) or text[index] == "}":
        return None
    if text[index] == "{":
        open_braces = 0
        for end in range(index, len(text)):
            if text[end] == "{" and text[end - 1:end] != "\\":
                open_braces += 1
            elif text[end] == "}" and text[end - 1:end] != "\\":
                open_braces -= 1
                if open_braces == 0:
                    return brace_arguments(text[index + 1:end], depth + 1), end + 1
        return None
    if text[index] == "\\":
        word = re.match(r"\\(?:[A-Za-z]+|.)", text[index:])
        return word.group(0), index + len(word.group(0))
    return text[index], index + 1


def brace_arguments(text: str, depth: int = 0) -> str:
    """`\\frac` and `\\sqrt` with their arguments braced, read as TeX reads them: `\\frac\\pi 2` = `\\frac{\\pi}{2}`,
    `\\frac ab` = `\\frac{a}{b}`, `\\sqrt\\pi` = `\\sqrt{\\pi}`, `\\sqrt[3]2` = `\\sqrt[3]{2}`. math-verify reads the
    brace-less spellings wrongly or not at all (`2007 + \\frac\\pi 2` as 2); a spelling TeX would not accept
    either is left as it is, and so is anything nested deeper than 20 groups."""
    if depth > 20:
        return text
    out, index = [], 0
    for match in _BRACED_COMMANDS.finditer(text):
        if match.start() < index:
            continue
        position, arguments = match.end(), []
        if match.group(1) == "sqrt" and text[position:position + 1] == "[":
            close = text.find("]", position)
            if close < 0:
                continue
            arguments.append(text[position:close + 1])
            position = close + 1
        for _ in range(2 if match.group(1) == "frac" else 1):
            argument = _argument(text, position, depth)
            if argument is None:
                break
            arguments.append("{" + argument[0] + "}")
            position = argument[1]
        else:
            out.append(text[index:match.start()] + match.group(0) + "".join(arguments))
            index = position
    out.append(text[index:])
    return "".join(out)


_UNICODE = {"−": "-", "–": "-", "×": "\\times ", "·": "\\cdot ", "÷": "\\div ", "π": "\\pi ", "∞": "\\infty ",
            "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "∈": "\\in ", "∪": "\\cup ", "±": "\\pm ", "²": "^{2}", "³": "^{3}",
            "⁴": "^{4}", "½": "\\frac{1}{2}", "¼": "\\frac{1}{4}", "¾": "\\frac{3}{4}", "°": "^\\circ"}
_UNICODE_PATTERN = re.compile("|".join(map(re.escape, _UNICODE)))
_UNICODE_ROOT = re.compile(r"√\s*(\(([^()]*)\)|\{([^{}]*)\}|[\w.]+)")


def _unicode_to_latex(text: str) -> str:
    """`√2` -> `\\sqrt{2}`, `π` -> `\\pi`, `x²` -> `x^{2}`, `−3` -> `-3`, `≤` -> `\\le`: what models write in Unicode."""
    text = _UNICODE_ROOT.sub(lambda m: "\\sqrt{" + (m.group(2) or m.group(3) or m.group(1)) + "}", text)
    return _UNICODE_PATTERN.sub(lambda m: _UNICODE[m.group(0)], text)


def _balanced(text: str) -> bool:
    depth = 0
    for character in text:
        depth += character in "{([" and 1 or 0
        depth -= character in "})]" and 1 or 0
        if depth < 0:
            return False
    return depth == 0


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---- layer 1: text ---------------------------------------------------------------------------------------------

def same_text(gold: str, pred: str) -> bool | None:
    """True when the normalised spellings are equal (case-blind for words); None otherwise (undecided)."""
    g, p = _compact(gold), _compact(pred)
    if g == p:
        return True
    if re.fullmatch(r"[A-Za-z ]{2,}", gold) and re.search("[a-z]", gold):
        if gold.lower().split() == pred.lower().split():  # `Even` = `even`; `AB` (a segment) is not `ab`
            return True
        stated = re.search(r"\b(?:is|are|be|answer:?)\s+(?:an?\s+|the\s+)?" + r"\s+".join(map(re.escape, gold.split()))
                           + r"\W*$", pred, re.IGNORECASE)
        if stated and not re.search(r"\b(?:not|never|neither|nor)\b|n't\b", pred, re.IGNORECASE):
            return True  # a word answer closing a sentence: `The function is odd.`
    return None


# ---- layer 2: multiple choice ------------------------------------------------------------------------------------

def choice_letter_of_gold(gold: str) -> str | None:
    """`C`, `(C)`, `\\text{(C)}`, `(D) Alina`, `C Cecile` -> the letter; None when the gold is not a choice."""
    match = _CHOICE_GOLD.match(gold.strip())
    if not match:
        return None
    rest = gold.strip()[match.end():].strip()
    if gold.strip().startswith("(") and rest and not rest.startswith(("=", "+", "-", "*", "/", "^", ",")):
        return match.group(1)  # `(A) 5`: the choice and its value
    if rest and not re.fullmatch(r"[A-Za-z][A-Za-z .,'-]*", rest.split("\n")[0]):  # `C = 5` is not a choice
        return None
    return match.group(1)


def choice_letter_of_answer(pred: str) -> str | None:
    """The answer's choice: a lone letter (`D`, `(D)`, `D. Alina`); in prose, the first standalone A-E that is not
    negated (`not A`, `can't be A`); None for a hedge (`A or B`) and anything else (`D+1` is no choice)."""
    text = pred.strip()
    alone = _SINGLE_LETTER.match(text)
    if alone:
        return alone.group(1)
    leading = re.match(r"\(?([A-E])\)?(?=[\s.。,，:：、]|[^\x00-\x7f])", text)  # `D. it can't be A`, `B。不是 A`
    if leading:
        rest = text[leading.end():].lstrip(" .:")
        if re.match(r"(?:,|;|or\b|and\b|&)\s*(?:\\text\{)?\(?[A-E]\b|,?\s*\\text|,\s*\(", rest):
            return None  # `A, B`, `(C), (C)X`, `A or B`: several choices are no choice
        if not re.match(r"[-+*/^=<>_{}\\]", rest):
            return leading.group(1)
    if not re.search(r"[^\W\d_]{2,}\W+[^\W\d_]{2,}", text):  # not prose: `D+1` is no choice
        return None
    chosen, negated = [], False
    for match in _CHOICE_IN_TEXT.finditer(text):
        before = text[max(0, match.start() - 14):match.start()].lower()
        if re.search(r"\bor\s*$", before):  # `A or B`: an alternative, negated or not like the letter before it
            if not negated:
                return None  # hedging between two choices is no answer
            continue
        negated = bool(re.search(r"(?:\bnot|n't|n't be|isn't|\bnever)\s*$|不是\s*$", before))
        if not negated:
            chosen.append(match.group(1) or match.group(2))
    return chosen[0] if chosen else None


def choice_letters(gold: str, pred: str) -> bool | None:
    """When the gold is a choice letter, whether the answer picks the same letter; None when it is not a choice."""
    letter = choice_letter_of_gold(gold)
    if letter is None:
        return None
    return choice_letter_of_answer(pred) == letter


# ---- layer 3: exact numbers ------------------------------------------------------------------------------------

def numbers_agree(gold: str, pred: str) -> bool | None:
    """Exact comparison when both sides are plain arithmetic (see zero_rl.rewards.exact_numbers); a percent gold also
    accepts the bare number (the MATH convention) and its fraction (`10\\%` = `0.1`)."""
    gold_percent, pred_percent = gold.endswith("%"), pred.endswith("%")
    g, p = gold.rstrip("%").strip(), pred.rstrip("%").strip()
    verdict = _exact_numbers_agree(g, p)
    if verdict is None or verdict or gold_percent == pred_percent:
        return verdict
    value = evaluate(p)
    scaled = value * 100 if gold_percent else value / 100
    return _exact_numbers_agree(g, str(scaled.numerator) + ("/" + str(scaled.denominator) if scaled.denominator != 1
                                                           else ""))


# ---- layer 4: intervals and relations ----------------------------------------------------------------------------

_INFINITY = {"\\infty", "+\\infty", "infty", "inf", "\\infinity", "oo", "+oo", "+inf"}
_MINUS_INFINITY = {"-\\infty", "-infty", "-inf", "-oo"}
_RELATIONS = {"<": ("<", False), "\\le": ("<", True), ">": (">", False), "\\ge": (">", True)}
_RELATION_SPLIT = re.compile(r"(\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|<|>)")
_IN = re.compile(r"\\in(?![a-zA-Z])")


def _interval(text: str):
    """`[a, b)` -> (a, True, b, False); None when not one interval."""
    text = text.strip()
    if len(text) < 5 or text[0] not in "([" or text[-1] not in ")]":
        return None
    parts = _top_level_split(text[1:-1], ",")
    if len(parts) != 2 or not all(parts):
        return None
    return (parts[0].strip(), text[0] == "[", parts[1].strip(), text[-1] == "]")


def region(text: str):
    """A set of reals as a sorted tuple of intervals (low, low_closed, high, high_closed) with endpoints as text,
    from `x \\in [a,b) \\cup (c, d]`, `[a,b]`, `a \\le x < b`, `x \\ge c`; None when text is not one of these."""
    text = text.strip()
    if _IN.search(text):
        variable, text = _IN.split(text, maxsplit=1)
        if not re.fullmatch(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*", variable):
            return None
    pieces = [piece.strip() for piece in re.split(r"\\cup|∪|\bor\b|\\text\{\s*or\s*\}", text)]
    if len(pieces) > 1:  # `[a, b) \cup (c, d]`, `x < -3 or x > 3`
        parts = [region(piece) for piece in pieces]
        if not all(parts):
            return None
        return _sorted_intervals([interval for part in parts for interval in part])
    interval = _interval(text)
    if interval:
        return (interval,)
    parts = _RELATION_SPLIT.split(text)
    if len(parts) == 3:  # x < b, b > x
        left, relation, right = (part.strip() for part in parts)
        direction, closed = _RELATIONS[relation]
        if _is_variable(left) and not _is_variable(right):
            low_side, bound, variable = direction == ">", right, left
        elif _is_variable(right) and not _is_variable(left):
            low_side, bound, variable = direction == "<", left, right
        else:
            return None
        if variable.strip().startswith("|"):  # |x| > b is (-inf, -b) U (b, inf); |x| < b is (-b, b)
            if low_side:
                return (("-\\infty", False, f"-({bound})", closed), (bound, closed, "\\infty", False))
            return ((f"-({bound})", closed, bound, closed),)
        return ((bound, closed, "\\infty", False),) if low_side else (("-\\infty", False, bound, closed),)
    if len(parts) == 5:  # a < x < b
        low, first, middle, second, high = (part.strip() for part in parts)
        if not _is_variable(middle) or _is_variable(low) or _is_variable(high):
            return None
        (first_direction, first_closed), (second_direction, second_closed) = _RELATIONS[first], _RELATIONS[second]
        if first_direction != second_direction:
            return None
        if first_direction == ">":
            low, high, first_closed, second_closed = high, low, second_closed, first_closed
        if middle.startswith("|"):  # a <= |x| <= b is [-b, -a] U [a, b]
            return ((f"-({high})", second_closed, f"-({low})", first_closed), (low, first_closed, high, second_closed))
        return ((low, first_closed, high, second_closed),)
    return None


def _sorted_intervals(intervals: list) -> tuple:
    """Intervals in increasing order of their low ends when those are numbers (a union's order is no part of it)."""
    def low(interval):
        if interval[0].replace(" ", "") in _MINUS_INFINITY:
            return -Fraction(10) ** 30
        return evaluate(interval[0])
    lows = [low(interval) for interval in intervals]
    if any(value is None for value in lows):
        return tuple(intervals)
    return tuple(interval for _, interval in sorted(zip(lows, intervals), key=lambda pair: pair[0]))


def _is_variable(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?|f\([a-z]\)|\|\s*[a-z]\s*\|", text.strip()))


def _endpoint_equal(gold: str, pred: str) -> bool:
    gold, pred = gold.replace(" ", ""), pred.replace(" ", "")
    if gold in _INFINITY or pred in _INFINITY:
        return gold in _INFINITY and pred in _INFINITY
    if gold in _MINUS_INFINITY or pred in _MINUS_INFINITY:
        return gold in _MINUS_INFINITY and pred in _MINUS_INFINITY
    return equivalent_single(gold, pred)


def regions_agree(gold: str, pred: str) -> bool | None:
    """When either side is a relation or an `x \\in` interval and the other reads as a set of reals, whether they
    are the same set; None otherwise (two plain intervals are left to the sequence layer)."""
    def relational(text):
        return bool(_RELATION_SPLIT.search(text) or _IN.search(text)) or "\\cup" in text
    if not (relational(gold) or relational(pred)):
        return None
    gold_region, pred_region = region(gold), region(pred)
    if gold_region is None or pred_region is None:
        return None
    if len(gold_region) != len(pred_region):
        return False
    return all(g[1] == p[1] and g[3] == p[3] and _endpoint_equal(g[0], p[0]) and _endpoint_equal(g[2], p[2])
               for g, p in zip(gold_region, pred_region))


# ---- layer 5: tuples, sets, lists ------------------------------------------------------------------------------

def _top_level_split(text: str, separators: str) -> list[str]:
    """Split at separators outside (), [], {} (and `\\{ \\}`)."""
    parts, depth, current = [], 0, []
    index = 0
    while index < len(text):
        character = text[index]
        if character == "\\" and index + 1 < len(text) and text[index + 1] in "{}":
            depth += 1 if text[index + 1] == "{" else -1
            current.append(text[index:index + 2])
            index += 2
            continue
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        if character in separators and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(character)
        index += 1
    parts.append("".join(current).strip())
    return parts


_CONNECTIVES = re.compile(r"\s*(?:\band\b|\bor\b|;)\s*")


def sequence(text: str):
    """(kind, elements): kind "ordered" for `(a, b)` / `[a, b]` / anything with `\\ldots`, "unordered" for
    `\\{a, b\\}` and bare `a, b` / `a and b` / `a; b` lists; None for a single element."""
    text = text.strip()
    kind = None
    if text.startswith("\\{") and text.endswith("\\}") and _balanced(text[2:-2].replace("\\{", "{").replace("\\}", "}")):
        text, kind = text[2:-2].strip(), "set"
    elif len(text) > 2 and text[0] in "([" and text[-1] in ")]" and _balanced(text[1:-1]) \
            and len(_top_level_split(text[1:-1], ",")) > 1:
        brackets = text[0] + text[-1]
        elements = _top_level_split(text[1:-1], ",")
        return ("ordered" + brackets, elements)
    matrix = _matrix(text)
    if matrix is not None:
        return matrix
    unified = _CONNECTIVES.sub(",", text) if re.search(r"[\d\\(]", text) else text
    elements = [element for element in _top_level_split(unified, ",;") if element]
    if len(elements) == 1 and kind is None:
        ratio = _top_level_split(text, ":")
        if len(ratio) > 1 and "=" not in text and all(ratio):
            return ("ordered:", ratio)
    elements = _expand_plus_minus(elements)
    if len(elements) < 2 and kind is None:
        return None
    if any(_ELLIPSIS.match(element) for element in elements):
        return ("ordered", elements)
    return ("unordered" if kind is None else "set", elements)


_MATRIX = re.compile(r"^\(?\s*\\begin\{([pbvB]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}\s*\)?$", re.DOTALL)


def _matrix(text: str):
    """`\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}` -> ("matrix2x2", [a, b, c, d]); None otherwise."""
    text = re.sub(r"^\[\s*(\\begin\{array\}.*\\end\{array\})\s*\]$", r"\1", text.strip(), flags=re.DOTALL)
    match = _MATRIX.match(text)
    if not match:
        return None
    rows = [row for row in re.split(r"\\\\", match.group(2)) if row.strip()]
    cells = [[cell.strip() for cell in row.split("&")] for row in rows]
    if not cells or len({len(row) for row in cells}) != 1:
        return None
    return (f"matrix{len(cells)}x{len(cells[0])}", [cell for row in cells for cell in row])


def _expand_plus_minus(elements: list[str]) -> list[str]:
    expanded = []
    for element in elements:
        if element.count("\\pm") == 1 and _balanced(element.split("\\pm")[0]):
            before, after = element.split("\\pm")
            before = before.strip()
            if before.endswith("="):
                expanded.append(element)
                continue
            expanded += [f"{before}+{after}" if before else after.strip(), f"{before}-{after}" if before else f"-{after}"]
        else:
            expanded.append(element)
    return expanded


_NAME = re.compile(r"^\s*([A-Za-z](?:_\{?\w+\}?)?|\([a-z,\s]+\)|[A-Z]{2,3}|\|[A-Za-z]+\||[a-zA-Z]\([a-z]\))\s*=\s*(?=\S)")


def _strip_name(element: str) -> str:
    """`x = 3` -> `3`, `(p,q) = (3,2)` -> `(3,2)`, `AB = 4` -> `4`; other elements unchanged."""
    return _NAME.sub("", element, count=1).strip()


_GROUP_SEPARATORS = re.compile(r"\s*(?:;|\band\b|\bor\b)\s*")


def _group_named(text: str) -> str:
    """`p=5,q=2;p=7,q=2` -> `(5,2), (7,2)`: named values grouped by `;` become tuples."""
    groups = _top_level_split(_GROUP_SEPARATORS.sub(";", text), ";")
    if len(groups) < 2 or not all(_NAME.match(part) for group in groups for part in _top_level_split(group, ",")):
        return text
    return ", ".join("(" + ",".join(_strip_name(part) for part in _top_level_split(group, ",")) + ")"
                     for group in groups)


def sequences_agree(gold: str, pred: str) -> bool | None:
    """Element-by-element comparison of tuples, sets and lists (see `sequence`); None when neither side is one."""
    gold, pred = _group_named(gold), _group_named(pred)
    gold_sequence, pred_sequence = sequence(gold), sequence(pred)
    if gold_sequence is None and pred_sequence is None:
        return None
    if gold_sequence is None or pred_sequence is None:
        one = gold_sequence or pred_sequence
        if one[0] == "set" and len(one[1]) == 1:
            other = pred if gold_sequence else gold
            return equivalent_single(one[1][0], other) if gold_sequence is None else equivalent_single(gold, one[1][0])
        if one[0].startswith("matrix"):
            return None  # a matrix against an expression (`A + B`): the symbolic layer evaluates it
        distinct = _distinct(one[1])
        if len(distinct) != 1:
            return False  # several values against one: a hedge or a different answer
        return _element_equal(distinct[0], pred) if gold_sequence else _element_equal(gold, distinct[0])
    gold_kind, gold_elements = gold_sequence
    pred_kind, pred_elements = pred_sequence
    gold_names = all(_NAME.match(e) for e in gold_elements)
    pred_names = all(_NAME.match(e) for e in pred_elements)
    if not (gold_names and pred_names):  # compare values when only one side names them
        gold_elements = [_strip_name(e) for e in gold_elements]
        pred_elements = [_strip_name(e) for e in pred_elements]
    if gold_kind.startswith("matrix") != pred_kind.startswith("matrix"):  # a column vector written as a tuple
        matrix_kind = gold_kind if gold_kind.startswith("matrix") else pred_kind
        other_kind = pred_kind if gold_kind.startswith("matrix") else gold_kind
        vector = re.fullmatch(r"matrix(\d+)x1|matrix1x(\d+)", matrix_kind)
        if not vector or other_kind != "ordered()" or len(gold_elements) != len(pred_elements):
            return False
        return all(_element_equal(g, p) for g, p in zip(gold_elements, pred_elements))
    if gold_kind.startswith("matrix") or pred_kind.startswith("matrix"):
        return gold_kind == pred_kind and all(_element_equal(g, p) for g, p in zip(gold_elements, pred_elements))
    if gold_kind.startswith("ordered") or pred_kind.startswith("ordered"):
        if gold_kind.startswith("ordered") and pred_kind.startswith("ordered") and gold_kind != pred_kind:
            if "[" in gold_kind + pred_kind or "]" in gold_kind + pred_kind:
                return False  # `[0, 1)` against `(0, 1)`: different intervals
        if len(gold_elements) != len(pred_elements):
            return False
        return all(_element_equal(g, p) for g, p in zip(gold_elements, pred_elements))
    gold_elements, pred_elements = _distinct(gold_elements), _distinct(pred_elements)
    if len(gold_elements) != len(pred_elements):
        return False
    unmatched = list(pred_elements)
    for g in gold_elements:
        match = next((index for index, p in enumerate(unmatched) if _element_equal(g, p)), None)
        if match is None:
            return False
        unmatched.pop(match)
    return True


def _distinct(elements: list[str]) -> list[str]:
    """Elements with repeats dropped: the same spelling, or the same exact number (`\\frac{1}{2} or 0.5`)."""
    seen, out = set(), []
    for element in elements:
        value = evaluate(element)
        key = ("number", value) if value is not None else ("text", _compact(element))
        if key not in seen:
            seen.add(key)
            out.append(element)
    return out


def _element_equal(gold: str, pred: str) -> bool:
    if _ELLIPSIS.match(gold) or _ELLIPSIS.match(pred):
        return bool(_ELLIPSIS.match(gold) and _ELLIPSIS.match(pred))
    return equivalent(gold, pred)


# ---- the chain -------------------------------------------------------------------------------------------------

def equivalent_single(gold: str, pred: str) -> bool:
    """The chain without the sequence layer (for elements and interval endpoints)."""
    for layer in (same_text, numbers_agree):
        verdict = layer(gold, pred)
        if verdict is not None:
            return verdict
    return symbolic_agree(gold, pred)


def _decide(layer, gold: str, pred: str) -> bool | None:
    """layer(gold, pred); a layer that fails on odd input passes (None) to the next, logged, instead of crashing
    the reward (math-verify's own errors and timeouts, in the last layer, still raise and are counted)."""
    try:
        return layer(gold, pred)
    except (TimeoutError, RecursionError) as error:
        if isinstance(error, TimeoutError):
            raise
        log.warning("answer layer %s gave up on %r vs %r: RecursionError", layer.__name__, gold[:80], pred[:80])
        return None
    except Exception as error:  # noqa: BLE001 - a layer's bug on odd input must not become a crash
        log.warning("answer layer %s failed on %r vs %r: %s: %s", layer.__name__, gold[:80], pred[:80],
                    type(error).__name__, error)
        return None


def equivalent(gold: str, pred: str) -> bool:
    """Whether the normalised answer `pred` equals the normalised `gold` (the module docstring's layers)."""
    if not pred:
        return False
    if len(gold) > MAX_ANSWER_CHARS or len(pred) > MAX_ANSWER_CHARS:
        return _compact(gold) == _compact(pred)
    for layer in (same_text, choice_letters, numbers_agree):
        verdict = _decide(layer, gold, pred)
        if verdict is not None:
            return verdict
    approximate = re.split(r"\\approx(?![a-zA-Z])", pred)
    if len(approximate) == 2 and "\\approx" not in gold:  # `A \\approx B`: the answer is A (or B when A names it)
        stated, rounded = (part.strip() for part in approximate)
        if assigned_value(stated + " = 0") is not None or not stated:
            return equivalent(gold, rounded)
        return equivalent(gold, stated)
    if beyond_bounds(pred) or beyond_bounds(gold):  # `9^{9^{9}}`: no sympy call (it would not return)
        return False
    if ("=" in gold) != ("=" in pred):  # `(p,q) = (3,2)` against `(3,2)`
        value = assigned_value(gold) or assigned_value(pred)
        if value is not None:
            return equivalent(value, pred) if "=" in gold else equivalent(gold, value)
    for layer in (regions_agree, sequences_agree, equations_agree):
        verdict = _decide(layer, gold, pred)
        if verdict is not None:
            return verdict
    if stray_words(gold, pred):
        return False  # math-verify would read `not 0` as n*o*t*0 = 0
    return symbolic_agree(gold, pred)


_MATH_WORDS = {"sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "log",
               "ln", "lg", "exp", "sqrt", "pi", "infty", "inf", "infinity", "max", "min", "gcd", "lcm", "det", "mod",
               "pmod", "bmod", "deg", "dim", "ker", "arg", "lim", "sum", "prod", "int", "and", "or", "oo", "cdot", "times"}
_PLAIN_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")


def stray_words(gold: str, pred: str) -> bool:
    """Whether the answer has a plain word (not a LaTeX command, a function name, or a word of the gold): prose
    such as `not 0` is no expression, whatever a LaTeX parser makes of its letters."""
    if re.search(r"\\text|\\mathrm|\\operatorname", gold + pred):
        return False  # text answers: their words are compared by math-verify's string layer
    gold_words = {word.lower() for word in _PLAIN_WORD.findall(gold)}
    return any(word.lower() not in _MATH_WORDS and word.lower() not in gold_words
               for word in _PLAIN_WORD.findall(pred))


_ASSIGNED = re.compile(r"^([^=<>]+?)=([^=<>]+)$")


def assigned_value(text: str) -> str | None:
    """`x = 3` -> `3`, `(p,q) = (3,2)` -> `(3,2)`, `S_{MBCN}:S = 7:32` -> `7:32`: the value when the left side
    only names it (letters, subscripts, `(p,q)`, `|AB|`, `f(x)`, `A:B`); None for `7 = 11a+c`, `2x + z = 1`."""
    match = _ASSIGNED.match(text.strip())
    if not match:
        return None
    if not _NAMING.fullmatch(match.group(1).strip()):
        return None
    return match.group(2).strip() or None


_SYMBOL = r"[A-Za-z](?:_\{[^{}]*\}|_\w)?"
# what may stand left of `=` to name a value: `x`, `a_{37}`, `(p,q)`, `|AB|`, `f(x)`, `AB`, `V_1:V_2`, `S_{MBCN}:S`
_NAMING = re.compile(r"(?:" + _SYMBOL + r"|\(\s*" + _SYMBOL + r"(?:\s*,\s*" + _SYMBOL + r")*\s*\)|\|[A-Za-z]{1,3}\||"
                     r"[A-Za-z]\([a-z]\)|[A-Z]{2,3}|" + _SYMBOL + r"\s*:\s*" + _SYMBOL + r")")


def answers_match(gold_answer: str, pred_answer: str) -> bool:
    """`equivalent` on the normalised forms of two extracted answers."""
    return equivalent(normalise(gold_answer), normalise(pred_answer))
