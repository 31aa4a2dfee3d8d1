"""The early "not equal" of answer_symbolic.differ_at_a_point: it may only ever say sooner what math-verify and the
probe-point check would say anyway, never change a verdict."""

import json
import random
import re

import pytest

from zero_rl.data import shared_data_dir
from zero_rl.rewards import answer_symbolic
from zero_rl.rewards.answer_symbolic import _mv_parse, differ_at_a_point
from zero_rl.rewards.math_answer import _altered, math_accuracy


def _read(text: str):
    parsed = _mv_parse(text)
    assert parsed, f"math-verify reads nothing in {text!r}"
    return parsed[0]


@pytest.mark.parametrize("gold,pred", [
    ("x^2+2x+1", "x^2+2x+2"), ("21a^5 - 7a^4 - 16a^2 + 32a", "31a^5 - 7a^4 - 16a^2 + 32a"),
    ("\\frac{t^2}{2}", "\\frac{t^3}{2}"), ("\\sin x", "\\cos x"), ("2x(15x^2-4x+10)", "3x(15x^2-4x+10)"),
    ("\\sqrt{x}+\\pi", "\\sqrt{x}+e"), ("(2x+3)(2x-1)(2x+1)", "(3x+3)(2x-1)(2x+1)"),
])
def test_different_functions_are_told_apart_at_the_first_point(gold, pred):
    assert differ_at_a_point(_read(gold), _read(pred)) is True


@pytest.mark.parametrize("gold,pred", [
    # identities: equal wherever both are defined, so never "different"
    ("(x+1)^2", "x^2+2x+1"), ("\\frac{x^2-1}{x-1}", "x+1"), ("2\\sin x\\cos x", "\\sin 2x"),
    ("e^{x+y}", "e^x e^y"), ("x^{1/2}", "\\sqrt{x}"), ("\\sqrt{x^2}", "|x|"),
    ("\\log(ab)", "\\log a + \\log b"),  # equal at the (positive) probe point: left to the later layers
    # shapes it does not evaluate: left to math-verify
    ("x+1", "y+1"), ("0.5x", "\\frac{x}{3}"), ("(x, 1)", "(x, 2)"), ("y = 2x", "y = 3x"), ("n!", "(n+1)!"),
    ("x^{2^{100}}", "x^{2^{100}}+1"), ("\\binom{n}{2}", "\\frac{n(n+1)}{2}"), ("\\lfloor x \\rfloor", "x+1"), ("3", "4"), ("50\\%x", "x"),
])
def test_identities_and_unprobed_shapes_get_no_verdict(gold, pred):
    assert differ_at_a_point(_read(gold), _read(pred)) is False


def _rewritten(gold: str) -> list:
    """Equal answers in other forms: sympy's expanded and factored LaTeX of math-verify's reading of the gold."""
    import sympy

    parsed = _mv_parse(gold)
    if not parsed or not isinstance(parsed[0], sympy.Expr):
        return []
    forms = []
    for transform in (sympy.expand, sympy.factor):
        try:
            forms.append(sympy.latex(transform(parsed[0])))
        except Exception:  # noqa: BLE001 - a form sympy cannot write: fewer pairs
            pass
    return forms


def test_verdicts_with_and_without_the_early_rejection_are_identical_on_math_answers(monkeypatch):
    """The judge: 80 MATH gold answers with a letter (MIT, Hendrycks et al. 2021; ../shared/data/math_prm800k),
    each against an altered copy (a different value of the same shape) and sympy's expanded and factored
    rewrites (equal values in other forms), scored end to end with and without differ_at_a_point."""
    rows = [json.loads(line) for line in (shared_data_dir() / "math_prm800k" / "train.jsonl").read_text().splitlines()]
    golds = sorted({r["answer"] for r in rows if re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", r["answer"]))})
    golds = random.Random(0).sample(golds, 80)
    pairs = [(gold, pred) for gold in golds for pred in [_altered(gold)] + _rewritten(gold)]
    assert len(pairs) >= 160

    calls = {"rejected": 0}

    def counted(gold, pred):
        verdict = differ_at_a_point(gold, pred)
        calls["rejected"] += verdict
        return verdict

    monkeypatch.setattr(answer_symbolic, "differ_at_a_point", counted)
    with_probe = [math_accuracy(f"<answer>\\boxed{{{p}}}</answer>", {"answer": g}) for g, p in pairs]
    monkeypatch.setattr(answer_symbolic, "differ_at_a_point", lambda gold, pred: False)
    without = [math_accuracy(f"<answer>\\boxed{{{p}}}</answer>", {"answer": g}) for g, p in pairs]
    changed = [(pairs[i], with_probe[i], without[i]) for i in range(len(pairs)) if with_probe[i] != without[i]]
    assert not changed
    assert calls["rejected"] >= 20  # it did decide pairs early (else this test shows nothing)
    assert sum(without) >= len(golds)  # the rewrites are mostly accepted: equal forms really were compared


@pytest.mark.parametrize("text,braced", [
    ("\\frac\\pi 2", "\\frac{\\pi}{2}"), ("\\frac12", "\\frac{1}{2}"), ("\\frac 1 2", "\\frac{1}{2}"),
    ("\\frac{\\pi}2", "\\frac{\\pi}{2}"), ("\\frac ab", "\\frac{a}{b}"), ("\\sqrt\\pi", "\\sqrt{\\pi}"),
    ("\\sqrt[3]2", "\\sqrt[3]{2}"), ("\\frac{\\frac12}{3}", "\\frac{\\frac{1}{2}}{3}"), ("a\\sqrt 2b", "a\\sqrt{2}b"),
    ("\\frac{1}{2}", "\\frac{1}{2}"), ("\\sqrt{x^2}", "\\sqrt{x^2}"), ("\\frac1", "\\frac1"), ("\\sqrt", "\\sqrt"),
    ("\\fracture", "\\fracture"), ("\\frac{a}{", "\\frac{a}{"),
])
def test_brace_less_arguments_are_read_as_tex_reads_them(text, braced):
    from zero_rl.rewards.answer_compare import brace_arguments

    assert brace_arguments(text) == braced


@pytest.mark.parametrize("gold,pred,reward", [
    # found by tests/test_answer_warm_up.py: math-verify read both as 2 (a fragment), so any leading number passed
    ("2007 + \\frac\\pi 2", "3007 + \\frac\\pi 2", 0.0), ("2007 + \\frac\\pi 2", "2007+\\frac{\\pi}{2}", 1.0),
    ("\\frac ab", "\\frac{a}{b}", 1.0), ("\\frac ab", "\\frac{b}{a}", 0.0), ("\\sqrt\\pi", "\\pi^{1/2}", 1.0),
    ("\\sqrt\\pi", "\\sqrt{2}", 0.0),
])
def test_brace_less_fractions_and_roots_score_by_their_value(gold, pred, reward):
    assert math_accuracy(f"<answer>\\boxed{{{pred}}}</answer>", {"answer": gold}) == reward


def test_a_latex_answer_is_read_once_when_the_plain_text_rewrite_changes_nothing(monkeypatch):
    from zero_rl.rewards.answer_compare import normalise
    from zero_rl.rewards.answer_symbolic import same_latex, symbolic_agree

    read = []
    original = answer_symbolic._mv_parse
    monkeypatch.setattr(answer_symbolic, "_mv_parse", lambda text: read.append(text) or original(text))
    assert symbolic_agree(normalise("2x^2 - 12x + 20"), normalise("3x^2 - 12x + 20")) is False
    assert [text for text in read if text.startswith("3x")] == ["3x^2 - 12x + 20"]  # not again as 3x^{2} - ...
    assert same_latex("3x^{2} - 12x", "3x^2 - 12x") and same_latex("x^{a}", "x^a")
    assert not same_latex("x^{23}", "x^23")  # LaTeX reads x^23 as x^2 3: the plain reading is another answer
    assert symbolic_agree(normalise("x^{23}"), normalise("x^23")) is True  # ... which is still tried


def test_two_stage_parsing_reads_math_answers_exactly_as_the_library_does():
    """ANTLR's SLL-then-LL (rewards/latex_sll.py) against the library's LL on 300 MATH answers with a letter, a
    backslash or a caret and an altered copy of each (MIT, Hendrycks et al. 2021; ../shared/data/math_prm800k)."""
    from latex2sympy2_extended import latex2sympy

    from zero_rl.rewards import latex_sll

    assert latex_sll.install()
    rows = [json.loads(line) for line in (shared_data_dir() / "math_prm800k" / "train.jsonl").read_text().splitlines()]
    golds = random.Random(1).sample(sorted({r["answer"] for r in rows if re.search(r"[a-zA-Z\\^]", r["answer"])}), 300)

    def reading(text):
        try:
            return sympy_text(latex2sympy(text))
        except Exception as error:  # noqa: BLE001 - a text the parser refuses must be refused by both
            return f"error {type(error).__name__}: {error}"

    texts = golds + [_altered(gold) for gold in golds]
    two_stage = [reading(text) for text in texts]
    with latex_sll.ll_only():
        library = [reading(text) for text in texts]
    assert [t for t, a, b in zip(texts, two_stage, library) if a != b] == []
    assert sum(not r.startswith("error") for r in library) >= 500  # mostly real readings, not shared failures


def sympy_text(expression) -> str:
    return f"{type(expression).__name__}: {expression}"


@pytest.mark.parametrize("gold,pred,reward", [
    # MATH train gold `0.56 = 56\%` (found by tests/test_answer_warm_up.py): math-verify compared right sides only
    ("0.56 = 56\\%", "1.56 = 56\\%", 0.0), ("0.56 = 56\\%", "0.56 = 56\\%", 1.0), ("0.56 = 56\\%", "0.56 = 57\\%", 0.0),
    ("0.333 = \\frac{1}{3}", "0.333 = \\frac{1}{3}", 1.0),  # a rounded decimal beside its fraction is not false
    ("10/9", "\\frac{1}{2} \\$ = \\frac{10}{9}", 1.0),  # a value gold: the value after the last `=` (Math-Verify's test)
])
def test_an_equation_between_unequal_constants_never_matches_such_a_gold(gold, pred, reward):
    assert math_accuracy(f"<answer>\\boxed{{{pred}}}</answer>", {"answer": gold}) == reward


@pytest.mark.parametrize("gold,pred,reward", [
    # MATH train/counting_and_probability/557.json asks for a probability as a percent; its gold is `0.56 = 56\%`
    # (the solution's last line boxes both spellings). Plain math-verify scores `56\%` and `0.56` 0 against it.
    ("0.56 = 56\\%", "56\\%", 1.0), ("0.56 = 56\\%", "0.56", 1.0), ("0.56 = 56\\%", "0.48", 0.0),
    ("0.56 = 56\\%", "57\\%", 0.0), ("0.56 = 56\\%", "0.08 + 0.48", 1.0),
    ("0.333 = \\frac{1}{3}", "\\frac{1}{3}", 1.0), ("0.333 = \\frac{1}{3}", "0.333", 1.0),
    ("0.333 = \\frac{1}{3}", "\\frac{1}{4}", 0.0), ("\\frac{1}{2} = 0.5", "0.6", 0.0),
    ("\\frac{1}{2} \\$ = \\frac{10}{9}", "\\frac{1}{2}", 0.0),  # a false equation is no such gold
])
def test_a_gold_giving_one_value_in_two_spellings_is_matched_by_either_alone(gold, pred, reward):
    assert math_accuracy(f"<answer>\\boxed{{{pred}}}</answer>", {"answer": gold}) == reward
