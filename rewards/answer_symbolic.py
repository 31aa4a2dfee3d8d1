"""The symbolic layers of the answer checker: math-verify (gold first) made safe, and the sympy checks around it.

- `plain_to_latex`: plain-text math as LaTeX (`sqrt(3)/3`, `exp(16)`, `pi/2`, `2*x**2`, `14.0 + -1.0i`).
- `symbolic_agree`: math-verify's verdict with `raise_on_error=True` and `allow_set_relation_comp=True`; a reading
  that drops a variable of the text (a fragment of a failed parse) is not trusted; a numeric "equal" of two exact
  constants is re-checked at 50 digits (math-verify rounds to 6 places); a decimal answer standing for an exact
  gold must be its correct rounding; an identity sympy cannot prove is checked at probe points.
- `equations_agree`: one equation each, lhs - rhs constant multiples of each other at probe points.

math-verify's timeouts raise TimeoutError and its comparison failures ValueError (both counted by the scorer).
Its alarms need a process's main thread (the scorer's pool workers).
"""

import functools
import re
from fractions import Fraction

from zero_rl.rewards import latex_sll
from zero_rl.rewards.exact_numbers import approximates, decimal_places, significant_digits

PARSE_TIMEOUT_S = 5
VERIFY_TIMEOUT_S = 5


_PLAIN_FUNCTIONS = re.compile(r"(?<![\\a-zA-Z])(sqrt|exp|log|ln|sin|cos|tan|sec|csc|cot|arcsin|arccos|arctan)\s*\(")
_PLAIN_CONSTANTS = re.compile(r"(?<![\\a-zA-Z])(pi|infinity|inf|oo)(?![a-zA-Z])")


def plain_to_latex(text: str) -> str:
    """Plain-text math as LaTeX: `sqrt(3)/3` -> `\\sqrt{3}/3`, `exp(16)` -> `e^{16}`, `pi` -> `\\pi`,
    `2*x**2` -> `2 \\cdot x^{2}`, `14.0 + -1.0i` -> `14.0 - 1.0i`."""
    text = text.replace("**", "^")
    out, index = [], 0
    for match in _PLAIN_FUNCTIONS.finditer(text):
        if match.start() < index:
            continue
        close = _matching_paren(text, match.end() - 1)
        if close is None:
            continue
        inner = plain_to_latex(text[match.end():close])
        name = match.group(1)
        out.append(text[index:match.start()])
        if name == "sqrt":
            out.append("\\sqrt{" + inner + "}")
        elif name == "exp":
            out.append("e^{" + inner + "}")
        else:
            out.append("\\" + ("log" if name == "ln" else name) + "(" + inner + ")")
        index = close + 1
    out.append(text[index:])
    text = "".join(out)
    text = _PLAIN_CONSTANTS.sub(lambda m: "\\pi" if m.group(1) == "pi" else "\\infty", text)
    text = re.sub(r"\^\s*(\d+|[a-z])", r"^{\1}", text)
    text = re.sub(r"(?<!\*)\*(?!\*)", " \\\\cdot ", text)
    text = re.sub(r"\+\s*-", "-", text)
    return re.sub(r"(\d)i(?![a-zA-Z])", r"\1 i", text)  # `1.0i`: math-verify reads `1.0 i` as complex


_ONE_CHARACTER_GROUP = re.compile(r"\^\{(\w)\}")


def same_latex(a: str, b: str) -> bool:
    """Whether two spellings read the same as LaTeX once a one-character exponent group is unbraced (`x^{2}` is
    `x^2`; `x^{23}` is not `x^23`, which LaTeX reads as x^2 3): plain_to_latex's rewrite of `3x^2` changes nothing,
    and reading it again would only cost a second parse."""
    return a == b or _ONE_CHARACTER_GROUP.sub(r"^\1", a) == _ONE_CHARACTER_GROUP.sub(r"^\1", b)


def _matching_paren(text: str, open_index: int) -> int | None:
    depth = 0
    for position in range(open_index, len(text)):
        if text[position] == "(":
            depth += 1
        elif text[position] == ")":
            depth -= 1
            if depth == 0:
                return position
    return None


def _mv_parse(text: str) -> list:
    """math-verify's reading of an answer ([] when it reads nothing); a timeout raises TimeoutError."""
    from math_verify import parse
    from math_verify.errors import TimeoutException

    latex_sll.install()  # ANTLR's two-stage parsing: the same readings, about 2x faster (rewards/latex_sll.py)

    try:
        parsed = parse("\\boxed{" + text + "}", parsing_timeout=PARSE_TIMEOUT_S, raise_on_error=True)
        if not parsed:
            parsed = parse("$" + text + "$", parsing_timeout=PARSE_TIMEOUT_S, raise_on_error=True)
    except TimeoutException as error:  # a BaseException: convert so the scorer counts it as a timeout
        raise TimeoutError(f"math-verify parse timed out after {PARSE_TIMEOUT_S} s on {text[:100]!r}") from error
    except Exception:
        return []  # an answer math-verify cannot read is not equal to anything it can
    if parsed and not _read_whole(text, parsed[0]):
        return []  # math-verify read a fragment (`2` out of `\\hbar \\omega(v+1/2) - ...`): not this answer
    return parsed


_LETTER = re.compile(r"(?<![\\A-Za-z])[A-Za-z](?![A-Za-z])")
_CONSTANT_LETTERS = {"e", "i"}


def _read_whole(text: str, expression) -> bool:
    """Whether math-verify's reading keeps every variable letter of the text: when its LaTeX parse fails it falls
    back to a fragment (a number inside the formula, the last equation), which must not stand for the answer."""
    import sympy

    without_text = re.sub(r"\\(?:text|mathrm|mbox|operatorname)\s*\{[^{}]*\}|_\{[^{}]*\}|_\w|\\[A-Za-z]+", " ", text)
    raw = set(_LETTER.findall(without_text)) - _CONSTANT_LETTERS
    letters = {letter.lower() for letter in raw}
    if len(letters) < len(raw):
        return False  # `N` and `n`: math-verify folds the case of symbols, so it would read them as one
    if not letters or not isinstance(expression, sympy.Basic):
        return True
    try:
        names = {str(symbol)[0].lower() for symbol in expression.free_symbols}
        names |= {type(function).__name__[0].lower() for function in expression.atoms(sympy.Function)}
    except Exception:  # noqa: BLE001 - an object without symbols: nothing to check against
        return True
    return letters <= names


@functools.lru_cache(maxsize=4096)
def parse_gold_symbolic(gold: str) -> tuple:
    """math-verify's reading of a normalised gold, cached (golds repeat across a group of completions)."""
    return tuple(_mv_parse(gold))


def _mv_verify(gold_parsed, pred_parsed) -> bool:
    from math_verify import verify
    from math_verify.errors import TimeoutException

    try:
        return verify(list(gold_parsed), list(pred_parsed), timeout_seconds=VERIFY_TIMEOUT_S, raise_on_error=True,
                      allow_set_relation_comp=True)
    except TimeoutException as error:
        raise TimeoutError(f"math-verify verify timed out after {VERIFY_TIMEOUT_S} s") from error
    except Exception as error:
        raise ValueError(f"math-verify could not compare: {type(error).__name__}: {error}") from error


def _constant(parsed) -> object | None:
    """The sympy number math-verify read, if it read a constant expression (no symbols, no sets)."""
    import sympy

    if not parsed:
        return None
    expression = parsed[0]
    if isinstance(expression, sympy.Expr) and not expression.free_symbols and expression.is_number:
        return expression
    return None


def _has_float(expression) -> bool:
    import sympy

    return any(isinstance(atom, sympy.Float) for atom in expression.atoms(sympy.Number))


def _exactly_equal(gold, pred) -> bool:
    """High-precision check of two constant sympy expressions (50 digits, relative)."""
    import sympy

    try:
        difference = sympy.N(gold - pred, 60)
        scale = max(abs(sympy.N(gold, 60)), abs(sympy.N(pred, 60)), sympy.Integer(1))
        return bool(abs(difference) <= scale * sympy.Float("1e-45"))
    except Exception:  # noqa: BLE001 - an expression sympy cannot evaluate: keep math-verify's verdict
        return True


def symbolic_agree(gold: str, pred: str) -> bool:
    """math-verify's verdict (gold first) on LaTeX, with plain text rewritten; a numeric "equal" of two exact
    constants is confirmed at 50 digits (math-verify rounds to 6 places), and a decimal answer that stands for
    an exact gold must be its correct rounding."""
    import sympy

    plain_gold = plain_to_latex(gold)
    gold_parsed = parse_gold_symbolic(plain_gold) if plain_gold != gold and "\\" not in gold else ()
    gold_parsed = gold_parsed or parse_gold_symbolic(gold) or parse_gold_symbolic(plain_gold)
    if not gold_parsed:
        return False
    pred_parsed = _mv_parse(pred)
    plain = plain_to_latex(pred)
    if not same_latex(plain, pred) and (not pred_parsed or differ_at_a_point(gold_parsed[0], pred_parsed[0])
                                        or not _mv_verify(gold_parsed, pred_parsed)):
        pred_parsed = _mv_parse(plain) or pred_parsed
    if not pred_parsed:
        return False
    gold_false = false_statement(gold_parsed[0])
    if false_statement(pred_parsed[0]) and gold_false is not None:
        return False  # `1.56 = 56\\%` for the gold `0.56 = 56\\%`: math-verify compared the right sides only
    if gold_false is False and not isinstance(pred_parsed[0], sympy.Equality):
        # a gold giving one value in two spellings (`0.56 = 56\\%`): either spelling alone is that value, which
        # math-verify does not see (it compares a lone value with a gold equation's right side only when the left
        # side is a symbol)
        return any(_agree_parsed([side, str(side)], pred_parsed, pred)
                   for side in (gold_parsed[0].lhs, gold_parsed[0].rhs))
    return _agree_parsed(gold_parsed, pred_parsed, pred)


def _agree_parsed(gold_parsed, pred_parsed, pred: str) -> bool:
    """symbolic_agree's verdict once both sides are read: math-verify's, confirmed as its docstring says."""
    if differ_at_a_point(gold_parsed[0], pred_parsed[0]):
        return False  # math-verify's simplify would take 10-100 ms to find no identity (see differ_at_a_point)
    if not _mv_verify(gold_parsed, pred_parsed):
        return _same_function(gold_parsed, pred_parsed)
    gold_value, pred_value = _constant(gold_parsed), _constant(pred_parsed)
    if gold_value is None or pred_value is None:
        return True
    if _has_float(gold_value):
        return True  # a decimal gold was rounded by its author; math-verify's rounding is the right test
    if _has_float(pred_value):
        places = decimal_places(pred)
        if places is None:
            return True
        if significant_digits(pred) < 4:
            return False
        exact = Fraction(str(sympy_decimal(gold_value, places + 20)))
        return approximates(exact, pred)
    return _exactly_equal(gold_value, pred_value)


def _equation_difference(text: str):
    """`lhs = rhs` read by math-verify as the sympy expression lhs - rhs; None when it is not one equation."""
    import sympy

    if text.count("=") != 1 or re.search(r"[<>,;]|\\[lg]e\b|\\ne\b", text):
        return None
    parsed = _mv_parse(plain_to_latex(text) if "\\" not in text else text)
    if not parsed or not isinstance(parsed[0], sympy.Eq):
        return None
    lhs, rhs = parsed[0].lhs, parsed[0].rhs
    if not (isinstance(lhs, sympy.Expr) and isinstance(rhs, sympy.Expr)):
        return None  # `D = (0, 1)`: a set or a tuple is named, not an equation solved
    return lhs - rhs


def equations_agree(gold: str, pred: str) -> bool | None:
    """Two equations in the same variables are the same relation when lhs - rhs of one is a constant non-zero
    multiple of the other's (`2x+4y-3=0` = `y = -x/2 + 3/4`, `x^2/4 + y^2/3 = 1` = `x^2/16 + y^2/12 = 1/4`),
    checked at three positive rational points; None when either side is not one equation."""
    import sympy

    gold_difference = _equation_difference(gold)
    pred_difference = _equation_difference(pred) if gold_difference is not None else None
    if gold_difference is None or pred_difference is None:
        return None
    symbols = gold_difference.free_symbols | pred_difference.free_symbols
    if not symbols or len(symbols) > 3 or gold_difference.free_symbols != pred_difference.free_symbols:
        return None if not symbols else False
    ordered = sorted(symbols, key=str)
    ratios = []
    try:
        for point in _PROBE_POINTS:
            values = {s: sympy.Rational(point.numerator + 3 * k, point.denominator + k) for k, s in enumerate(ordered)}
            g = sympy.N(gold_difference.subs(values), 50)
            p = sympy.N(pred_difference.subs(values), 50)
            if not (g.is_number and p.is_number) or g.has(sympy.zoo, sympy.nan) or p.has(sympy.zoo, sympy.nan):
                return None
            if abs(p) < sympy.Float("1e-40") or abs(g) < sympy.Float("1e-40"):
                if (abs(p) < sympy.Float("1e-40")) != (abs(g) < sympy.Float("1e-40")):
                    return False
                continue
            ratios.append(g / p)
    except Exception:  # noqa: BLE001 - what sympy cannot evaluate, math-verify decides
        return None
    if len(ratios) < 2:
        return None
    return all(abs(r - ratios[0]) <= sympy.Float("1e-30") * max(abs(ratios[0]), 1) for r in ratios)


_PROBE_POINTS = (Fraction(7, 3), Fraction(11, 5), Fraction(29, 7))

_REAL_SYMBOL = {"commutative": True, "complex": True, "extended_real": True, "finite": True, "hermitian": True,
                "imaginary": False, "infinite": False, "real": True}


@functools.lru_cache(maxsize=1)
def _elementary_types() -> tuple:
    import sympy

    return (sympy.Add, sympy.Mul, sympy.Pow, sympy.Symbol, sympy.Rational, sympy.core.numbers.Pi,
            sympy.core.numbers.Exp1, sympy.core.numbers.ImaginaryUnit, sympy.exp, sympy.log, sympy.sin, sympy.cos,
            sympy.tan, sympy.cot, sympy.sec, sympy.csc, sympy.asin, sympy.acos, sympy.atan, sympy.Abs)


def _probe_ready(expression) -> bool:
    """An exact elementary expression in real symbols: rationals, pi, e, i, + * ^ (no towers, integer exponents
    up to 1000 in size), exp, log, the trigonometric functions and |.|. Nothing else (floats, percents, sets,
    relations, integrals, factorials, symbols with other assumptions) is evaluated here."""
    import sympy

    allowed = _elementary_types()
    for node in sympy.preorder_traversal(expression):
        if not isinstance(node, allowed) or isinstance(node, sympy.Float):
            return False
        if isinstance(node, sympy.Symbol) and node.assumptions0 != _REAL_SYMBOL:
            return False
        if isinstance(node, sympy.Pow) and (node.exp.has(sympy.Pow) or node.exp.is_Integer and abs(node.exp) > 1000):
            return False  # towers and huge powers: nothing evaluated here may take long
        if isinstance(node, sympy.Rational) and max(abs(node.p), node.q) > 10 ** 100:
            return False
    return True


def false_statement(expression) -> bool | None:
    """For an equation between two constants, whether its sides differ (`1.56 = 56\\%`); None for anything else.

    A gold written as such an equation (`0.56 = 56\\%`: both spellings of the value) is matched by a true one
    only: math-verify compares the right sides alone. A gold value with an equation after it is another matter
    (`\\frac{1}{2} \\$ = \\frac{10}{9}` for 10/9: the value after the last `=` counts, Math-Verify's own test).
    Sides with a decimal are held to 1 % (a rounded `0.333 = \\frac{1}{3}` is not false), exact ones to 25 digits;
    anything large or that does not evaluate is not called false."""
    import sympy

    if not isinstance(expression, sympy.Equality) or expression.free_symbols:
        return None
    try:
        if sympy.count_ops(expression) > 60 or any(isinstance(node, sympy.Pow) and node.exp.has(sympy.Pow)
                                                    for node in sympy.preorder_traversal(expression)):
            return None
        lhs, rhs = (sympy.N(side.doit(), 30) for side in (expression.lhs, expression.rhs))
        if not (lhs.is_number and rhs.is_number) or any(v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)
                                                        for v in (lhs, rhs)):
            return None
        tolerance = 1e-2 if _has_float(expression) else 1e-25
        return bool(abs(lhs - rhs) > tolerance * max(abs(lhs), abs(rhs), sympy.Float("1e-30")))
    except Exception:  # noqa: BLE001 - what cannot be evaluated is left to math-verify
        return None


def differ_at_a_point(gold, pred) -> bool:
    """Whether two exact elementary expressions in the same real symbols take values that differ by more than
    1e-30 (relative) at the first probe point, evaluated to 50 digits: then they are not the same function,
    and neither math-verify (which accepts such a pair only when `simplify(gold - pred)` is zero, an identity)
    nor `_same_function` (the same point first) can call them equal. False (no verdict) for anything else.

    Only ever a reason to say "not equal" sooner: a wrong polynomial answer is rejected in about a millisecond
    instead of the 10-100 ms that sympy's simplify spends finding no identity."""
    import sympy

    if not (isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr)):
        return False
    symbols = gold.free_symbols
    if not symbols or symbols != pred.free_symbols or not (_probe_ready(gold) and _probe_ready(pred)):
        return False
    point = _PROBE_POINTS[0]
    values = {s: sympy.Rational(point.numerator + k, point.denominator) for k, s in enumerate(sorted(symbols, key=str))}
    try:
        g, p = gold.evalf(50, subs=values), pred.evalf(50, subs=values)
        if not (g.is_number and p.is_number) or g.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo) or \
                p.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            return False
        if not (g.is_real and p.is_real):  # complex values: left to math-verify
            return False
        return bool(abs(g - p) > sympy.Float("1e-30", 50) * max(abs(g), abs(p), 1))
    except Exception:  # noqa: BLE001 - what cannot be evaluated here, math-verify decides
        return False


def _same_function(gold_parsed, pred_parsed) -> bool:
    """Two expressions in the same one or two symbols that agree to 40 digits at three positive rational points
    (`\\sqrt{1/n}` = `\\frac{1}{\\sqrt{n}}`, which sympy does not prove for a symbol of unknown sign)."""
    import sympy

    gold, pred = gold_parsed[0], pred_parsed[0]
    if not (isinstance(gold, sympy.Expr) and isinstance(pred, sympy.Expr)):
        return False
    symbols = gold.free_symbols
    if not symbols or symbols != pred.free_symbols or len(symbols) > 2:
        return False
    ordered = sorted(symbols, key=str)
    try:
        for index, point in enumerate(_PROBE_POINTS):
            values = {symbol: sympy.Rational(point.numerator + k, point.denominator) for k, symbol in enumerate(ordered)}
            g, p = sympy.N(gold.subs(values), 50), sympy.N(pred.subs(values), 50)
            if not (g.is_number and p.is_number) or g.has(sympy.zoo, sympy.nan) or p.has(sympy.zoo, sympy.nan):
                return False
            if abs(g - p) > sympy.Float("1e-40") * max(abs(g), abs(p), 1):
                return False
        return True
    except Exception:  # noqa: BLE001 - an expression sympy cannot evaluate at a point is not shown equal
        return False


def sympy_decimal(value, digits: int) -> str:
    import sympy

    return str(sympy.N(value, digits + 10))
