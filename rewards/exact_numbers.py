"""Exact numbers: read an answer that is a number, or plain arithmetic on numbers, as a Fraction; never a float.

`evaluate("\\frac{1}{2^{98}}")` -> Fraction(1, 2**98); `evaluate("1,000.5")` -> Fraction(2001, 2);
`evaluate("3x")`, `evaluate("\\sqrt{2}")`, `evaluate("12:00")` -> None (not plain arithmetic: the symbolic layer
decides those). Grammar: numbers (thousands separators `1,000` `1 000` `1{,}000` `1\\!000`, a decimal comma
`1000,99` when it cannot be a thousands group, `.5`, `1e2`, `0.\\overline{3}`, mixed numbers `1\\frac{4}{5}`),
`+ - * / ^`, `\\cdot \\times \\div`, parentheses and braces, `\\frac{a}{b}` (also `\\frac12`), `\\sqrt` of a rational
square, `n!`, and English integers in words (`twenty-five`). Sizes are bounded (exponents, factorials, digits)
so a hostile answer (`9^{9^{9}}`) is refused in microseconds instead of hanging a reward worker.

`numbers_agree(gold, pred)` is the comparison layer: None when either side is not plain arithmetic, else
True/False, decided exactly. A different exact value is never accepted, with two exceptions for rounding, each
at the decimal's own places: a decimal gold of 3+ significant digits may be the rounding of an exact answer
(`33.3` for `\\frac{100}{3}`; and of a machine float of 6+ digits, `0.29` for `0.290243531202435`), and a decimal
answer of MIN_APPROXIMATION_DIGITS+ significant digits may be the rounding of an exact or finer gold
(`0.0833333333333333` for `\\frac{1}{12}`; not `0.33` for `\\frac{1}{3}`, not `0.0000002` for `0.0000001`).
"""

import re
from fractions import Fraction

MAX_EXPONENT = 4096
MAX_FACTORIAL = 3000
MAX_DIGITS = 20000
MIN_APPROXIMATION_DIGITS = 4  # a decimal answer must carry this many significant digits to stand for an exact gold

_GROUPED = re.compile(r"(?<![\d.])[1-9]\d{0,2}(?:(?:,|\{,\}|\\!|\\,|,\\!| (?=\d{3}))\d{3})+(?![\d])")
_TOKEN = re.compile(r"\s*(\d*\.\d*\\overline\{\d+\}|\d+(?:\.\d*)?[eE][-+]?\d+|\d+\.\d*|\.\d+|\d+|\\frac|\\dfrac|\\tfrac|\\sqrt|\\cdot|\\times|\\div|[-+*/^(){}!])")


class _Refused(Exception):
    """The text is not plain bounded arithmetic."""


class _TooLarge(_Refused):
    """Plain arithmetic whose value is beyond the size bounds (`9^{9^{9}}`, `10^{10^{10}}`, `99999999!`)."""


def _plain_groups(text: str) -> str:
    """Thousands separators removed (`1,000,000` `11,\\\\!111` `14{,}916` `1 000`); a lone `1000,99` or `0,111`
    (a comma that cannot be a thousands group) read as a decimal comma."""
    text = _GROUPED.sub(lambda m: re.sub(r"[^\d]", "", m.group(0)), text)
    return re.sub(r"^(-?\d+),(\d{1,2}|\d{4,})$|^(-?0),(\d+)$",
                  lambda m: f"{m.group(1) or m.group(3)}.{m.group(2) or m.group(4)}", text.strip())


def _tokens(text: str) -> list[str]:
    tokens, index = [], 0
    text = text.strip()
    while index < len(text):
        match = _TOKEN.match(text, index)
        if not match:
            raise _Refused(text[index:index + 20])
        tokens.append(match.group(1))
        index = match.end()
    return tokens


class _Parser:
    """Recursive descent: sum := product (('+'|'-') product)*; product := power (('*'|'/') power)*;
    power := unary ('^' unary)?; unary := '-' unary | postfix; postfix := atom '!'*."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.index = tokens, 0

    def peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected=None):
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Refused(f"expected {expected!r}, got {token!r}")
        self.index += 1
        return token

    def parse(self) -> Fraction:
        value = self.sum()
        if self.peek() is not None:
            raise _Refused(f"unexpected {self.peek()!r}")
        return value

    def sum(self) -> Fraction:
        value = self.product()
        while self.peek() in ("+", "-"):
            value = value + self.product() if self.take() == "+" else value - self.product()
        return value

    def product(self) -> Fraction:
        value = self.power()
        while self.peek() in ("*", "/", "\\cdot", "\\times", "\\div"):
            operator = self.take()
            right = self.power()
            if operator in ("/", "\\div"):
                if right == 0:
                    raise _Refused("division by zero")
                value = value / right
            else:
                value = value * right
        return value

    def power(self) -> Fraction:
        base = self.unary()
        if self.peek() == "^":
            self.take()
            exponent = self.unary()
            if exponent.denominator != 1:
                raise _Refused("exponent not an integer")
            if abs(exponent) > MAX_EXPONENT and abs(base) not in (0, 1):
                raise _TooLarge("exponent too large")
            if base == 0 and exponent < 0:
                raise _Refused("zero to a negative power")
            size = max(abs(base.numerator), abs(base.denominator)).bit_length()
            if size * abs(exponent) > MAX_DIGITS * 4:
                raise _TooLarge("too large")
            return base ** int(exponent)
        return base

    def unary(self) -> Fraction:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        value = self.atom()
        while self.peek() == "!":
            self.take()
            if value.denominator != 1 or value < 0:
                raise _Refused("factorial of a non-integer")
            if value > MAX_FACTORIAL:
                raise _TooLarge("factorial too large")
            result = 1
            for k in range(2, int(value) + 1):
                result *= k
            value = Fraction(result)
        return value

    def atom(self) -> Fraction:
        token = self.take()
        if token in ("(", "{"):
            value = self.sum()
            self.take(")" if token == "(" else "}")
            return value
        if token == "\\sqrt":  # exact only: the root of a rational square (`\\sqrt{16}`), else not plain arithmetic
            radicand = self.argument()
            if radicand < 0:
                raise _Refused("root of a negative number")
            root = Fraction(_exact_root(radicand.numerator), _exact_root(radicand.denominator))
            if root * root != radicand:
                raise _Refused("irrational root")
            return root
        if token in ("\\frac", "\\dfrac", "\\tfrac"):
            numerator, denominator = self.argument(), self.argument()
            if denominator == 0:
                raise _Refused("division by zero")
            return numerator / denominator
        if token.isdigit() and self.peek() in ("\\frac", "\\dfrac", "\\tfrac"):  # `1\\frac{4}{5}`: a mixed number
            self.take()
            numerator, denominator = self.argument(), self.argument()
            if denominator == 0 or numerator.denominator != 1 or denominator.denominator != 1:
                raise _Refused("bad mixed number")
            return Fraction(int(token)) + numerator / denominator
        if token[0].isdigit() or token[0] == ".":
            if len(token) > MAX_DIGITS:
                raise _TooLarge("too many digits")
            if "\\overline" in token:  # `0.\\overline{3}` = 1/3, `0.1\\overline{6}` = 1/6
                head, repeat = token.split("\\overline")
                whole, _, fixed = head.partition(".")
                repeat = repeat.strip("{}")
                value = Fraction(int(whole or "0")) + (Fraction(int(fixed), 10 ** len(fixed)) if fixed else 0)
                return value + Fraction(int(repeat), (10 ** len(repeat) - 1) * 10 ** len(fixed))
            if "e" in token.lower():
                mantissa, exponent = re.split("[eE]", token)
                if abs(int(exponent)) > MAX_EXPONENT:
                    raise _TooLarge("exponent too large")
                return Fraction(mantissa) * Fraction(10) ** int(exponent)
            return Fraction(token)
        raise _Refused(f"unexpected {token!r}")

    def argument(self) -> Fraction:
        """A `\\frac` argument: `{...}` or a single digit (`\\frac12`)."""
        token = self.peek()
        if token == "{":
            return self.atom()
        if token is not None and token.isdigit():
            self.take()
            if len(token) > 1:  # `\frac12` tokenised as "12": the first digit is this argument, the rest the next
                self.tokens.insert(self.index, token[1:])
            return Fraction(int(token[0]))
        raise _Refused("bad \\frac argument")


def _exact_root(value: int) -> int:
    from math import isqrt

    return isqrt(value)


def beyond_bounds(text: str) -> bool:
    """Whether `text` is plain arithmetic whose exact value is too large to compute (a number, but not a size
    any sensible gold has: it equals nothing but itself)."""
    if not text or len(text) > 2000:
        return False
    try:
        _Parser(_tokens(_plain_groups(text))).parse()
    except _TooLarge:
        return True
    except (_Refused, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return False
    return False


def evaluate(text: str) -> Fraction | None:
    """The exact value of `text` if it is plain bounded arithmetic on numbers (or an English number in words,
    `twenty-five`), else None."""
    if not text or len(text) > 2000:
        return None
    try:
        return _Parser(_tokens(_plain_groups(text))).parse()
    except (_Refused, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return number_in_words(text)


_UNITS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {word: 10 * value for value, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_SCALES = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9}


def number_in_words(text: str) -> Fraction | None:
    """`eighteen` -> 18, `twenty-five` -> 25, `one hundred and five` -> 105, `minus three` -> -3; None unless
    the whole text is an English integer in words."""
    words = re.sub(r"[-,]", " ", text.strip().lower()).split()
    sign = 1
    if words and words[0] in ("minus", "negative"):
        sign, words = -1, words[1:]
    words = [word for word in words if word != "and"]
    if not words or len(words) > 12:
        return None
    total, current = 0, 0
    for word in words:
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred" and current:
            current *= 100
        elif word in _SCALES and current:
            total, current = total + current * _SCALES[word], 0
        else:
            return None
    return Fraction(sign * (total + current))


_DECIMAL = re.compile(r"[-+]?(\d*)\.(\d+)")


def decimal_places(text: str) -> int | None:
    """Places of a decimal literal (`16386.20` -> 2, `-.5` -> 1), None when text is not one decimal literal."""
    match = _DECIMAL.fullmatch(_plain_groups(text).strip())
    return len(match.group(2)) if match else None


def significant_digits(text: str) -> int:
    digits = re.sub(r"\D", "", _plain_groups(text))
    return len(digits.lstrip("0"))


def round_to(value: Fraction, places: int) -> set:
    """`value` rounded to `places` decimals, half up and half even (either rounding of a tie is accepted)."""
    scaled = value * 10 ** places
    floor = scaled.numerator // scaled.denominator
    remainder = scaled - floor
    candidates = set()
    if remainder > Fraction(1, 2):
        candidates.add(floor + 1)
    elif remainder < Fraction(1, 2):
        candidates.add(floor)
    else:
        candidates.update({floor, floor + 1})
    return {Fraction(c, 10 ** places) for c in candidates}


def approximates(exact: Fraction, decimal_text: str) -> bool:
    """Whether the decimal literal `decimal_text` is `exact` correctly rounded at its own places."""
    places = decimal_places(decimal_text)
    value = evaluate(decimal_text)
    if places is None or value is None:
        return False
    return value in round_to(exact, places)


def numbers_agree(gold: str, pred: str) -> bool | None:
    """None if either side is not plain arithmetic; else whether they are the same number (module docstring)."""
    gold_value, pred_value = evaluate(gold), evaluate(pred)
    if gold_value is None or pred_value is None:
        return None
    if gold_value == pred_value:
        return True
    gold_places, pred_places = decimal_places(gold), decimal_places(pred)
    if gold_places is not None and ((pred_places is None and significant_digits(gold) >= 3)
                                    or (pred_places is not None and pred_places > gold_places
                                        and significant_digits(pred) >= 6)):
        return approximates(pred_value, gold)  # the gold is a rounding of the answer
    if pred_places is not None and (gold_places is None or gold_places > pred_places) \
            and significant_digits(pred) >= MIN_APPROXIMATION_DIGITS:
        return approximates(gold_value, pred)  # the answer is a rounding of an exact (or finer) gold
    return False
